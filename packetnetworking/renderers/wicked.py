"""wicked's sysconfig files (SUSE): etc/sysconfig/network/ifcfg-* and ifroute-*.

Keys as wicked documents them: ifcfg(5), ifcfg-bonding(5), ifroute(5) (routes(5)).
Values are single-quoted, as YaST writes them: bash sources these files and wicked
reads them with its own parser, and both keep a quoted value with spaces whole.
"""

from __future__ import annotations

from typing import Optional

import attrs

from ..plan import INDIVIDUAL, Bond, Plan
from ..render import render
from ..tasks import EnsureLine, Task, Write
from . import values
from .common import default_gateways

DIR = "etc/sysconfig/network"
# netconfig(8) writes resolv.conf from this file's NETCONFIG_DNS_STATIC_SERVERS.
NETCONFIG = f"{DIR}/config"

Variables = tuple[tuple[str, str], ...]


@attrs.frozen
class Ifcfg:
    name: str
    variables: Variables


def interfaces(plan: Plan) -> list[Task]:
    """An ifcfg file per interface we configure, and the routes of the addressed link."""
    configs: list[Ifcfg] = []
    for bond in plan.bonds:
        configs += [_port(member) for member in bond.members]
        configs.append(_bond(plan, bond))
    if plan.mode == INDIVIDUAL and plan.carrier and plan.vlan:
        configs.append(Ifcfg(plan.carrier, _UNADDRESSED))
    elif plan.mode == INDIVIDUAL and plan.link:
        configs.append(_addressed(plan, plan.link, ()))
    if plan.vlan:
        # ifcfg-vlan(5): the parent in ETHERDEVICE, the tag in VLAN_ID (else taken from
        # a dotted name); written for every name.
        vlan = (("ETHERDEVICE", plan.vlan.parent), ("VLAN_ID", str(plan.vlan.id)))
        configs.append(_addressed(plan, plan.vlan.name, vlan))
    own = [(nic.name, ip) for nic in plan.static_nics if (ip := nic.address)]
    configs += [Ifcfg(name, (*_UNADDRESSED, ("IPADDR", ip.cidr))) for name, ip in own]
    configs += [
        Ifcfg(nic.name, (("STARTMODE", "auto"), ("BOOTPROTO", "dhcp"))) for nic in plan.dhcp_nics
    ]
    tasks: list[Task] = [_write_ifcfg(config) for config in configs]
    route = ifroute(plan)
    tasks += [route] if route else []
    # A NIC's own default route, where the Plan kept its gateway (ifroute(5), as above).
    return tasks + [
        _ifroute(name, [("default", str(ip.gateway))]) for name, ip in own if ip.gateway
    ]


def resolvers(plan: Plan) -> list[Task]:
    """The resolvers for netconfig, as the last assignment in its config file.

    The file is SUSE's own, long and commented, with an empty assignment already in
    it: appending ours keeps it whole, and bash (netconfig sources the file) and wicked
    alike take the last assignment of a variable.
    """
    if not plan.resolvers:
        return []
    servers = " ".join(str(r) for r in plan.resolvers)
    return [
        EnsureLine(
            NETCONFIG,
            f'NETCONFIG_DNS_STATIC_SERVERS="{servers}"',
            replaces="NETCONFIG_DNS_STATIC_SERVERS=",
        )
    ]


def ifroute(plan: Plan) -> Optional[Task]:
    """Default routes and private subnets, all bound to the link that carries them."""
    if plan.link is None:
        return None
    rows = [("default", str(gateway)) for gateway in default_gateways(plan)]
    rows += [(str(route.destination), str(route.gateway)) for route in plan.routes]
    if not rows:
        return None
    return _ifroute(plan.link, rows)


def _ifroute(name: str, rows: list[tuple[str, str]]) -> Task:
    content = render("wicked-ifroute.j2", name=name, routes=rows)
    return Write(f"{DIR}/ifroute-{name}", content)


def _port(name: str) -> Ifcfg:
    # ifcfg-bonding(5): what wicked itself assumes for a port; hotplug because wicked
    # then waits for the bond's carrier rather than for every port.
    return Ifcfg(name, (("STARTMODE", "hotplug"), ("BOOTPROTO", "none")))


def _bond(plan: Plan, bond: Bond) -> Ifcfg:
    variables: list[tuple[str, str]] = [("BONDING_MASTER", "yes")]
    variables += [(f"BONDING_SLAVE_{i}", member) for i, member in enumerate(bond.members)]
    # ifcfg-bonding(5) takes the mode by number or by the kernel's name; names read better.
    options = bond.driver_options(mode_by_name=True)
    variables += [("BONDING_MODULE_OPTS", options), ("LLADDR", bond.mac)]
    if bond.name == plan.link:
        return _addressed(plan, bond.name, tuple(variables))
    return Ifcfg(bond.name, (*_UNADDRESSED, *variables))


# ifcfg(5): "static" with no address, not "none", for an interface without IP: a second
# bond, or the bond or NIC under the VLAN.
_UNADDRESSED = (("STARTMODE", "auto"), ("BOOTPROTO", "static"))


def _addressed(plan: Plan, name: str, extra: Variables) -> Ifcfg:
    """The link with the addresses: IPADDR, then IPADDR_1.. (ifcfg(5) "Multiple addresses")."""
    variables: list[tuple[str, str]] = [("STARTMODE", "auto"), ("BOOTPROTO", "static")]
    # ifcfg(5): a label is the device's name, a colon and the alias; IPv4 only.
    labelled = [(plan.primary4, None), (plan.public6, None), (plan.alias4, f"{name}:0")]
    addresses = [(ip, label) for ip, label in labelled if ip]
    for index, (ip, label) in enumerate(addresses):
        suffix = f"_{index}" if index else ""
        variables.append((f"IPADDR{suffix}", ip.cidr))
        if label:
            variables.append((f"LABEL{suffix}", label))
    return Ifcfg(name, (*variables, *extra))


def _write_ifcfg(config: Ifcfg) -> Task:
    for key, value in config.variables:
        # The template single-quotes each value: a quote would end it early.
        values.checked(value, f"ifcfg-{config.name} {key}", "'")
    content = render("wicked-ifcfg.j2", variables=config.variables)
    return Write(f"{DIR}/ifcfg-{config.name}", content)
