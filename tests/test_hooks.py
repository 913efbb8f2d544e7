"""The plan quirks of the old installer, as hooks keyed by plan slug."""

from __future__ import annotations

import factories as f

from packetnetworking import registry
from packetnetworking.metadata import equinix
from packetnetworking.planner import build as build_plan
from packetnetworking.renderers import eni, ifcfg


def test_single_nic_plans_keep_only_the_first_nic():
    for slug in ("baremetal_1e", "x1.small.x86"):
        p = f.build_plan(f.metadata(nics=2, plan=slug, mode=5))
        assert [n.name for n in p.nics] == ["enp1s0f0"]
        assert p.bonds[0].members == ("enp1s0f0",) and p.bonds[0].mode == 5


def test_other_plans_keep_every_nic():
    assert len(f.build_plan(f.metadata(nics=2, plan="c3.medium.x86")).nics) == 2


def test_hua_uses_kernel_names():
    p = f.build_plan(f.metadata(nics=2, plan="baremetal_hua"))
    assert [n.name for n in p.nics] == ["eth0", "eth1"]
    assert p.bonds[0].members == ("eth0", "eth1")
    text = f.files("debian 12", f.metadata(plan="baremetal_hua"))["etc/network/interfaces"]
    assert "bond-slaves eth0 eth1" in text and "enp1s0f0" not in text


def test_hooks_register_by_plan():
    names = {h.func.__name__ for h in registry.hooks("plan", "baremetal_hua")}
    assert names == {"kernel_names", "bond_member_delay"}
    every_plan = {"bond_member_delay"}
    assert {h.func.__name__ for h in registry.hooks("plan", "c3.medium.x86")} == every_plan
    assert {h.func.__name__ for h in registry.hooks("plan", None)} == every_plan


def test_member_delay_is_every_member_but_the_first_nic():
    """As the old tool: every NIC but the first in metadata order, whatever its bond."""
    p = f.build_plan(f.CASES["two-bonds"])
    assert p.member_delay == 4
    first = p.nics[0].name
    assert first == "enp1s0f0"
    assert p.delayed_members == ("enp1s0f1", "enp1s0f2", "enp1s0f3")


def test_member_delay_needs_the_hook():
    """Without the hook (the quirk dropped), the plan holds no delay and nothing sleeps."""
    raw = build_plan(equinix.from_dict(f.metadata(nics=2)), f.host_nics(2), ())
    assert raw.member_delay == 0 and raw.delayed_members == ()
    text = eni.interfaces(raw).content
    assert "sleep" not in text
    assert "sleep" not in ifcfg.pre_local(raw).content


def test_no_delay_without_a_bond():
    for case in ("individual", "dhcp"):
        p = f.build_plan(f.CASES[case])
        assert p.member_delay == 4 and p.delayed_members == ()
    single = f.build_plan(f.metadata(nics=2, plan="baremetal_1e"))
    assert single.delayed_members == ()


def test_member_delay_kept_by_the_other_quirks():
    p = f.build_plan(f.metadata(nics=2, plan="baremetal_hua"))
    assert p.delayed_members == ("eth1",)
