"""VLANs: the Plan's VLAN device and its golden files.

The cases are vlan_cases.CASES (bond0.100 over the bond, vlan4094 over a NIC whose
dotted name would be too long, enp1s0f0.7 over a short one). Each format's own reader of
them: test_vlan_readers.py and, for NetworkManager, test_vlans_nm.py.
"""

from __future__ import annotations

import attrs
import factories as f
import golden
import pytest
import vlan_cases as v

from packetnetworking import plan as plan_module
from packetnetworking import planner
from packetnetworking.errors import InvalidMetadata
from packetnetworking.plan import Vlan, vlan_name
from packetnetworking.renderers import eni, ifcfg, netplan, networkd, networkmanager, wicked

# ---------------------------------------------------------------------------- the plan


def test_vlan_on_the_bond():
    plan = v.plan_of("vlan-bond")
    assert plan.vlan == Vlan(name="bond0.100", id=100, parent="bond0")
    assert (plan.link, plan.carrier) == ("bond0.100", "bond0")
    assert [b.name for b in plan.bonds] == ["bond0"]


def test_vlan_on_a_nic_with_a_long_name_is_named_by_its_id():
    plan = v.plan_of("vlan-nic")
    assert plan.vlan == Vlan(name="vlan4094", id=4094, parent="enp65s0f0np0")
    assert (plan.link, plan.carrier) == ("vlan4094", "enp65s0f0np0")


def test_vlan_on_a_nic_with_a_short_name_is_dotted():
    assert v.plan_of("vlan-nic-short").vlan == Vlan("enp1s0f0.7", 7, "enp1s0f0")


@pytest.mark.parametrize(
    "parent, vid, name",
    [
        ("bond0", 100, "bond0.100"),
        ("bond0", 4094, "bond0.4094"),
        ("enp1s0f0", 4094, "enp1s0f0.4094"),  # 13 bytes: its ":0" alias label fits 15
        ("enp65s0f0", 4094, "vlan4094"),  # 14 bytes: "enp65s0f0.4094:0" would be 16
        ("enp65s0f0np0", 1, "vlan1"),
    ],
)
def test_names_and_their_fallback(parent, vid, name):
    assert vlan_name(parent, vid) == name
    assert len(name + plan_module.ALIAS_SUFFIX) <= plan_module.IFNAME_MAX


def _build(doc: dict, vlans: tuple, nics=None) -> plan_module.Plan:
    resolvers = f.md.parse_resolvers(list(f.RESOLVERS), "--resolvers")
    hosts = nics or f.host_nics(len(vlans))
    return planner.build(v.tagged(doc, vlans), hosts, resolvers)


@pytest.mark.parametrize("vlans", [(100, 200), (100, None), (None, 7)])
def test_bond_members_must_agree(vlans):
    with pytest.raises(InvalidMetadata) as err:
        _build(f.metadata(), vlans)
    assert err.value.exit_code == 50
    assert "vlan" in err.value.field and "bond0" in err.value.field
    for name, vid in zip(("eth0", "eth1"), vlans):
        assert f"{name}: {vid}" in str(err.value.value)


def test_dhcp_over_a_vlan_is_refused_not_dropped():
    with pytest.raises(InvalidMetadata) as err:
        _build(f.metadata(dhcp=True), (100, None))
    assert err.value.exit_code == 50
    assert (err.value.field, err.value.value) == ("interfaces[eth0].vlan", 100)


def test_no_vlan_no_vlan_device():
    plan = _build(f.metadata(), (None, None))
    assert plan.vlan is None and plan.link == plan.carrier == "bond0"


def test_a_nic_the_plan_leaves_alone_keeps_its_tag_to_itself():
    """Individual mode configures the first NIC only; the second's tag carries nothing."""
    plan = _build(f.metadata(aggregation="individual"), (None, 300))
    assert plan.vlan is None and plan.link == "enp1s0f0"


def test_a_hook_that_drops_nics_keeps_the_vlan():
    plan = v.plan_of("vlan-bond")
    kept = planner.with_nics(plan, plan.nics[:1])
    assert kept.vlan == plan.vlan and kept.link == "bond0.100"
    assert kept.bonds[0].members == ("enp1s0f0",)


def test_a_value_that_is_not_a_vlan_id_is_refused():
    iface = f.equinix.from_dict(f.metadata()).interfaces[0]
    for bad in (0, 4095, "100", True):
        with pytest.raises(InvalidMetadata):
            attrs.evolve(iface, vlan=bad)


# ---------------------------------------------------------------------------- goldens


@pytest.mark.parametrize("case", v.GOLDEN_CASES)
@pytest.mark.parametrize("fmt", v.GOLDEN_FORMATS)
def test_golden(fmt, case):
    golden.check_all(f"{fmt}/{case}", v.network_files(fmt, case))


def test_no_file_names_a_device_that_is_too_long():
    for case in v.CASES:
        for fmt in v.GOLDEN_FORMATS:
            for text in v.network_files(fmt, case).values():
                assert "enp65s0f0np0.4094" not in text, (fmt, case)


def test_a_vlan_name_that_could_break_a_file_is_refused():
    """Renderers check every value, a hook's change included (renderers/values.py)."""
    plan = v.plan_of("vlan-bond")
    bad = attrs.evolve(plan, vlan=attrs.evolve(plan.vlan, name="bond0.100\nauto x"),
                       link="bond0.100\nauto x")  # fmt: skip
    renderers = (eni.interfaces, netplan.tasks, networkd.tasks, networkmanager.tasks,
                 ifcfg.interfaces, wicked.interfaces)  # fmt: skip
    for render in renderers:
        with pytest.raises(ValueError, match="unsafe value"):
            render(bad)
