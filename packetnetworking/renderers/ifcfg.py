"""ifcfg: the ``KEY="value"`` files of RHEL's network scripts (sysconfig.txt in initscripts).

Three readers parse these files and each must see the same thing: bash (initscripts
sources every ifcfg, route and network file), initscripts' own greps (``DEVICE=``,
``MASTER=``, ``HWADDR=``, which allow a quote around the value) and NetworkManager's
ifcfg-rh plugin (a shell-like parser). So every value is double-quoted by ``quote``, keys
are plain names, and comments never hold an ``=``: the ``network`` service runs
``eval $(grep -F "DEVICE=" ifcfg-X)``, and a comment line it caught would swallow the rest.
"""

from __future__ import annotations

import re
import shlex
from typing import Optional

from ..plan import INDIVIDUAL, IP, Bond, Nic, Plan, Vlan
from ..render import render
from ..tasks import SCRIPT, Task, Write
from . import common, values

SCRIPTS = "etc/sysconfig/network-scripts"
Pairs = tuple[tuple[str, str], ...]

_KEY = re.compile(r"[A-Z][A-Z0-9_]*")
_SPECIAL = re.compile(r'([\\"$`])')


def quote(value: str) -> str:
    """``value`` as one double-quoted shell word that bash and ifcfg-rh read back unchanged.

    The Plan's values are validated tokens that need no escaping, but the files are
    sourced as shell, so quoting must not depend on that. Inside double quotes only
    backslash, double quote, dollar and backquote are special (POSIX 2.2.3); a control
    character (a newline above all) would break the one-line-per-key greps, so it is refused.
    """
    return '"' + _SPECIAL.sub(r"\\\1", values.checked(value, "an ifcfg value")) + '"'


def keyfile(path: str, pairs: Pairs) -> Write:
    """One shell-sourced file of ``KEY="value"`` lines."""
    for key, _ in pairs:
        values.checked_key(key, path, _KEY)
    lines = [(key, quote(value)) for key, value in pairs]
    return Write(path, render("ifcfg-keys.j2", lines=lines))


def interfaces(plan: Plan) -> list[Task]:
    """ifcfg-* for every configured device, the private alias and its routes."""
    result: list[Task] = []
    by_name = {nic.name: nic for nic in plan.nics}
    for bond in plan.bonds:
        result.append(keyfile(f"{SCRIPTS}/ifcfg-{bond.name}", _bond(plan, bond)))
        result += [
            keyfile(f"{SCRIPTS}/ifcfg-{member}", _member(by_name[member], bond))
            for member in bond.members
        ]
    if plan.mode == INDIVIDUAL and plan.carrier:
        nic = by_name[plan.carrier]
        addressing = _unaddressed() if plan.vlan else _static(plan)
        pairs = _device(nic.name) + _ethernet(nic) + addressing
        result.append(keyfile(f"{SCRIPTS}/ifcfg-{nic.name}", pairs))
    if plan.vlan:
        pairs = _device(plan.vlan.name) + _vlan(plan.vlan) + _static(plan)
        result.append(keyfile(f"{SCRIPTS}/ifcfg-{plan.vlan.name}", pairs))
    if plan.link and plan.alias4:
        result += _alias(plan, plan.link, plan.alias4)
    result += [
        keyfile(f"{SCRIPTS}/ifcfg-{nic.name}", _device(nic.name) + _ethernet(nic) + _own(ip))
        for nic in plan.static_nics
        if (ip := nic.address)
    ]
    result += [
        keyfile(
            f"{SCRIPTS}/ifcfg-{nic.name}",
            _device(nic.name) + _ethernet(nic) + (("BOOTPROTO", "dhcp"),),
        )
        for nic in plan.dhcp_nics
    ]
    result += [
        keyfile(f"{SCRIPTS}/ifcfg-{name}", _left_alone(name, mac))
        for name, mac in common.left_alone(plan)
    ]
    return result


def network(plan: Plan) -> Task:
    """etc/sysconfig/network: the default gateway and the device that reaches it.

    GATEWAYDEV matters beyond the default route: ifup-aliases gives an alias its parent's
    GATEWAY and would make it the default route unless GATEWAYDEV names another device.
    """
    pairs: list[tuple[str, str]] = [("NETWORKING", "yes"), ("HOSTNAME", plan.hostname)]
    ip = plan.primary4
    if ip and ip.gateway and plan.link:
        pairs += [("GATEWAY", str(ip.gateway)), ("GATEWAYDEV", plan.link)]
    # No 169.254.0.0/16 route on every device, as the old installer's images had it.
    pairs.append(("NOZEROCONF", "yes"))
    return keyfile("etc/sysconfig/network", tuple(pairs))


def bonding_aliases(plan: Plan) -> list[Task]:
    """modprobe's ``alias bondN bonding``: what ``modprobe bondN`` in initscripts loads.

    Bond settings stay in each BONDING_OPTS (applied through sysfs per bond), never in
    module options, which would give every bond the same ones.
    """
    if not plan.bonds:
        return []
    return [Write("etc/modprobe.d/bonding.conf", render("ifcfg-bonding.conf.j2", plan=plan))]


def pre_local(plan: Plan) -> Task:
    """sbin/ifup-pre-local: initscripts' ifup runs it before bringing any device up.

    ifup-eth refuses a NIC whose MAC differs from its HWADDR, and a bond leaves its own
    MAC on its members; so each NIC gets its own MAC back first, and each bond the MAC
    the switch knows, whatever the order its members join in.
    """
    macs = [(nic.name, nic.mac) for nic in plan.nics] + [(b.name, b.mac) for b in plan.bonds]
    table = [(shlex.quote(name), shlex.quote(mac)) for name, mac in macs]
    # The plan's member delay (a quirk): where the old tool slept, after the MAC fix-up.
    delayed = "|".join(shlex.quote(name) for name in plan.delayed_members)
    content = render("ifcfg-pre-local.j2", macs=table, delayed=delayed, delay=plan.member_delay)
    return Write("sbin/ifup-pre-local", content, mode=SCRIPT)


def _device(name: str) -> Pairs:
    # NAME becomes NetworkManager's connection id (else "System <name>").
    return (("DEVICE", name), ("NAME", name))


def _ethernet(nic: Nic) -> Pairs:
    return (("TYPE", "Ethernet"), ("HWADDR", nic.mac), ("ONBOOT", "yes"))


def _left_alone(name: str, mac: str) -> Pairs:
    """A NIC the plan leaves alone: down at boot (ONBOOT), and not NetworkManager's.

    ifcfg-rh makes a device whose file says NM_CONTROLLED=no unmanaged, matched by its
    HWADDR. Without this file NetworkManager gives the NIC its automatic DHCP profile,
    which never gets a lease on an unconfigured port, and NetworkManager-wait-online fails
    at every boot (found at boot: tests/test_vm_bonds.py, rhel9-ifcfg-individual).
    """
    return _device(name) + (
        ("TYPE", "Ethernet"),
        ("HWADDR", mac),
        ("ONBOOT", "no"),
        ("NM_CONTROLLED", "no"),
    )


def _bond(plan: Plan, bond: Bond) -> Pairs:
    pairs = _device(bond.name) + (
        ("TYPE", "Bond"),
        ("BONDING_MASTER", "yes"),
        ("BONDING_OPTS", bond.driver_options()),
        # ifup-eth sets this right after creating the bond, and NetworkManager reads it
        # as the bond's cloned MAC: the switch sees one MAC under both.
        ("MACADDR", bond.mac),
        ("ONBOOT", "yes"),
    )
    if bond.name == plan.link:
        return pairs + _static(plan)
    return pairs + _unaddressed()


def _unaddressed() -> Pairs:
    """A second bond, or the bond or NIC under the VLAN: up, with no address."""
    return (("BOOTPROTO", "none"), ("IPV6INIT", "no"))


def _vlan(vlan: Vlan) -> Pairs:
    """sysconfig.txt's VLAN keys: initscripts derives the parent and id from a dotted
    DEVICE, and takes PHYSDEV and VLAN_ID for any other name (vlan4094); ifcfg-rh reads
    them all. Both are written, so the name is never the only source."""
    return (
        ("VLAN", "yes"),
        ("PHYSDEV", vlan.parent),
        ("VLAN_ID", str(vlan.id)),
        ("ONBOOT", "yes"),
    )


def _member(nic: Nic, bond: Bond) -> Pairs:
    return (
        _device(nic.name)
        + _ethernet(nic)
        + (("BOOTPROTO", "none"), ("MASTER", bond.name), ("SLAVE", "yes"))
    )


def _static(plan: Plan) -> Pairs:
    """The addresses of the link: primary IPv4 with the default route, IPv6, resolvers."""
    pairs: list[tuple[str, str]] = [("BOOTPROTO", "none")]
    ip = plan.primary4
    if ip:
        pairs += [("IPADDR", str(ip.address)), ("PREFIX", str(ip.prefix))]
        if ip.gateway:
            pairs.append(("GATEWAY", str(ip.gateway)))
    pairs += _ipv6(plan.public6)
    pairs += [(f"DNS{i}", str(r)) for i, r in enumerate(plan.resolvers, start=1)]
    return tuple(pairs)


def _own(ip: IP) -> Pairs:
    """A NIC's own static address; GATEWAY only where the Plan kept it as the one default
    route of its family. The network file's GATEWAY stays the link's: its GATEWAYDEV
    names the link (a DEFROUTE=no here would only make ifcfg-rh warn that it ignores
    that GATEWAY)."""
    pairs: list[tuple[str, str]] = [("BOOTPROTO", "none")]
    if ip.version == 4:
        pairs += [("IPADDR", str(ip.address)), ("PREFIX", str(ip.prefix))]
        pairs += [("GATEWAY", str(ip.gateway))] if ip.gateway else []
        return (*pairs, *_ipv6(None))
    return (*pairs, *_ipv6(ip))


def _ipv6(ip6: Optional[IP]) -> Pairs:
    if ip6 is None:
        return (("IPV6INIT", "no"),)
    pairs = [
        ("IPV6INIT", "yes"),
        # Static, as Equinix assigns it: no SLAAC address or RA default route beside it.
        ("IPV6_AUTOCONF", "no"),
        ("IPV6ADDR", ip6.cidr),
    ]
    if ip6.gateway:
        pairs.append(("IPV6_DEFAULTGW", str(ip6.gateway)))
    return tuple(pairs)


def _alias(plan: Plan, link: str, ip: IP) -> list[Task]:
    """``link:0`` with the private IPv4, and ``route-link`` for the private subnets.

    PREFIX, not NETMASK: ifup-aliases starts each alias from its parent's PREFIX and only
    derives one from NETMASK when none is set, so a NETMASK alone would be ignored. No
    GATEWAY: the default route is the public one's.
    """
    alias = (
        ("DEVICE", f"{link}:0"),
        ("IPADDR", str(ip.address)),
        ("PREFIX", str(ip.prefix)),
        ("ONPARENT", "yes"),
    )
    result: list[Task] = [keyfile(f"{SCRIPTS}/ifcfg-{link}:0", alias)]
    if plan.routes:
        result.append(keyfile(f"{SCRIPTS}/route-{link}", _routes(plan)))
    return result


def _routes(plan: Plan) -> Pairs:
    """ADDRESSn/NETMASKn/GATEWAYn: sysconfig.txt's own form of route-<dev>.

    Chosen over the ``x.x.x.x/n via gw dev bond0`` lines (the "older syntax") because it
    is key=value like every other file here: sourced, quoted and checked the same way,
    and read by ifup-routes and ifcfg-rh alike. ifup-routes adds ``dev <device>`` itself.
    ifup-post brings aliases up before routes, so the private gateway is on-link by then.
    """
    pairs: list[tuple[str, str]] = []
    for i, route in enumerate(plan.routes):
        pairs += [
            (f"ADDRESS{i}", str(route.destination.network_address)),
            (f"NETMASK{i}", str(route.destination.netmask)),
            (f"GATEWAY{i}", str(route.gateway)),
        ]
    return tuple(pairs)
