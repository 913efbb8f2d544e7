"""systemd-networkd: ``.link``, ``.netdev`` and ``.network`` files in etc/systemd/network.

As systemd.link(5), systemd.netdev(5) and systemd.network(5) describe them:

* a ``.link`` per NIC pins its OS name to its permanent MAC (udev applies it);
* a bond is a ``.netdev`` with ``[Bond]`` options, and a ``.network`` per member
  that joins it with ``Bond=``;
* the link's ``.network`` carries the addresses, the default gateways, a ``[Route]``
  per private subnet and the resolvers.

NICs are matched by ``PermanentMACAddress=`` (systemd 245+), not ``MACAddress=``: a
bond gives its members the bond's MAC, after which a match on the current MAC would
pick the wrong file. The ``10-packet-`` prefix sorts before the catch-all files that
images ship (``99-default.link``, Flatcar's ``zz-default.network``): for each device
networkd uses the first matching file by name.
"""

from __future__ import annotations

from ..plan import BONDED, INDIVIDUAL, Bond, Nic, Plan
from ..render import render
from ..tasks import Task, Write
from . import common

DIRECTORY = "etc/systemd/network"
PREFIX = "10-packet-"


def tasks(plan: Plan) -> list[Task]:
    result = [_file(f"{nic.name}.link", _link(nic)) for nic in plan.nics]
    if plan.mode == BONDED:
        by_name = {nic.name: nic for nic in plan.nics}
        for bond in plan.bonds:
            result.append(_file(f"{bond.name}.netdev", _netdev(bond)))
            result += [_file(f"{m}.network", _member(by_name[m], bond)) for m in bond.members]
            result.append(_file(f"{bond.name}.network", _bond_network(plan, bond)))
    elif plan.mode == INDIVIDUAL:
        nic = common.link_nic(plan)
        match = ("Match", (("PermanentMACAddress", nic.mac),))
        result.append(_file(f"{nic.name}.network", [match, *_addressing(plan)]))
    for nic in plan.dhcp_nics:
        sections = [
            ("Match", (("PermanentMACAddress", nic.mac),)),
            ("Network", (("DHCP", "ipv4"),)),
        ]
        result.append(_file(f"{nic.name}.network", sections))
    return result


def _file(name: str, sections: list[common.Section]) -> Task:
    content = render("networkd-unit.j2", sections=common.checked(sections))
    return Write(f"{DIRECTORY}/{PREFIX}{name}", content)


def _link(nic: Nic) -> list[common.Section]:
    return [("Match", (("PermanentMACAddress", nic.mac),)), ("Link", (("Name", nic.name),))]


def _netdev(bond: Bond) -> list[common.Section]:
    options = [("Mode", bond.mode_name)]
    if bond.lacp_rate:
        options.append(("LACPTransmitRate", bond.lacp_rate))
    options += [
        ("MIIMonitorSec", f"{bond.miimon}ms"),
        ("UpDelaySec", f"{bond.updelay}ms"),
        ("DownDelaySec", f"{bond.downdelay}ms"),
        ("TransmitHashPolicy", bond.xmit_hash_policy),
    ]
    netdev = (("Name", bond.name), ("Kind", "bond"), ("MACAddress", bond.mac))
    return [("NetDev", netdev), ("Bond", tuple(options))]


def _member(nic: Nic, bond: Bond) -> list[common.Section]:
    # A member has no addresses of its own, not even a link-local one.
    network = (("Bond", bond.name), ("LinkLocalAddressing", "no"))
    return [("Match", (("PermanentMACAddress", nic.mac),)), ("Network", network)]


def _bond_network(plan: Plan, bond: Bond) -> list[common.Section]:
    match = ("Match", (("Name", bond.name),))
    if bond.name != plan.link:  # a second bond: up, with no addresses (ENI's "manual")
        return [match, ("Network", (("LinkLocalAddressing", "ipv6"),))]
    return [match, *_addressing(plan)]


def _addressing(plan: Plan) -> list[common.Section]:
    network = [("Address", ip.cidr) for ip in plan.addresses]
    network += [("Gateway", str(gateway)) for gateway in common.default_gateways(plan)]
    network += [("DNS", str(resolver)) for resolver in plan.resolvers]
    routes = [
        ("Route", (("Destination", str(r.destination)), ("Gateway", str(r.gateway))))
        for r in plan.routes
    ]
    return [("Network", tuple(network)), *routes]
