"""One metadata document, four formats, one network.

For each case, every backend's output is read back by its own consumer (ifupdown's
ifquery and ifup --no-act for ENI, netplan generate for netplan, libnm for keyfiles,
the files themselves parsed as systemd does for networkd) and reduced to one model
(tests/extract.py): bonds with their members by MAC, mode, options and MAC; the link
with its addresses, default gateways, routes and resolvers; the DHCP NICs. All four
must agree with each other and with what the Plan asked for.
"""

from __future__ import annotations

import backend_cases as cases
import extract
import factories as f
import pytest
import readback
from backend_cases import CASES, backend_files

from packetnetworking.plan import BONDED, DHCP


def _eni(doc: dict) -> extract.Model:
    out = cases.files("debian 12", doc)
    options, dhcp = readback.eni_read(out["etc/network/interfaces"])
    return extract.from_eni(options, dhcp, out["etc/udev/rules.d/70-persistent-net.rules"])


def _netplan(doc: dict) -> extract.Model:
    yaml = backend_files(cases.files("debian 12", doc, backend="netplan"), "etc/netplan")
    return extract.from_networkd(readback.netplan_generate(yaml))


def _networkmanager(doc: dict) -> extract.Model:
    out = cases.files("fedora 40", doc)
    profiles = backend_files(out, "etc/NetworkManager/system-connections")
    return extract.from_nm(readback.nm_read(profiles))


def _networkd(doc: dict) -> extract.Model:
    out = backend_files(cases.files("flatcar stable", doc), "etc/systemd/network")
    return extract.from_networkd(out)


READERS = {
    "eni": _eni,
    "netplan": _netplan,
    "networkmanager": _networkmanager,
    "networkd": _networkd,
}


def expected(doc: dict) -> extract.Model:
    """What the Plan asks for, in the same model."""
    plan = f.build_plan(doc)
    macs = {nic.name: nic.mac for nic in plan.nics}
    model = extract.empty()
    for bond in plan.bonds:
        model["bonds"][bond.name] = extract.bond(
            str(bond.mode),
            bond.miimon,
            bond.updelay,
            bond.downdelay,
            bond.xmit_hash_policy,
            bond.lacp_rate,
            bond.mac,
        )
        model["bonds"][bond.name]["members"] = [macs[m] for m in bond.members]
    if plan.mode != DHCP:
        model["link"] = plan.link if plan.mode == BONDED or plan.vlan else macs[plan.link]
        if plan.vlan:
            parent = plan.vlan.parent
            model["vlan"] = extract.vlan(plan.vlan.id, macs.get(parent, parent))
        model["addresses"] = [ip.cidr for ip in plan.addresses]
        model["gateways"] = [str(ip.gateway) for ip in (plan.primary4, plan.public6) if ip]
        model["routes"] = [[str(r.destination), str(r.gateway)] for r in plan.routes]
        model["resolvers"] = [str(r) for r in plan.resolvers]
    model["dhcp"] = [nic.mac for nic in plan.dhcp_nics]
    return extract.finish(model)


@pytest.mark.parametrize("case", CASES)
def test_every_backend_configures_the_same_network(case):
    readback.require_ifupdown()
    readback.require_netplan()
    readback.require_libnm()
    doc = CASES[case]
    models = {name: read(doc) for name, read in READERS.items()}
    want = expected(doc)
    assert want["bonds"] or want["addresses"] or want["dhcp"]  # a case that says something
    for name, model in models.items():
        assert model == want, f"{name} differs from the Plan"


def test_the_comparison_sees_a_difference():
    """The extractors are not blind: a bond option changed in one format shows."""
    readback.require_netplan()
    doc = CASES["bonded"]
    yaml = backend_files(cases.files("debian 12", doc, backend="netplan"), "etc/netplan")
    changed = {k: v.replace('up-delay: "200"', 'up-delay: "300"') for k, v in yaml.items()}
    model = extract.from_networkd(readback.netplan_generate(changed))
    assert model != expected(doc)
    assert model["bonds"]["bond0"]["updelay"] == 300
