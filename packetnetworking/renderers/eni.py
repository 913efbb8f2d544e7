"""ENI, ``/etc/network/interfaces``: ifupdown (Debian, Ubuntu) and ifupdown-ng (Alpine).

The stanzas are worked out here and printed by ``templates/interfaces.j2``. The dialects
share the stanzas; they differ in the bond keywords and values, in how an address is
written, and in whether a nameserver option means anything.
"""

from __future__ import annotations

from typing import Optional

from ..plan import INDIVIDUAL, IP, Bond, Plan, Vlan
from ..render import render
from ..tasks import Task, Write
from . import values


class Dialect:
    """Keywords for bond membership; a ``master`` of ``None`` leaves that option out.

    ``bond_format``: how the bond's own options are spelled (plan.BOND_FORMATS).
    ``cidr``: "address 10.0.0.1/31" instead of "address 10.0.0.1" plus "netmask ...".
    ``nameservers``: write dns-nameservers, which only means something where resolvconf
    reads it.
    """

    __slots__ = ("master", "members", "bond_format", "cidr", "nameservers")

    def __init__(
        self,
        *,
        master: Optional[str],
        members: str,
        bond_format: str,
        cidr: bool = False,
        nameservers: bool = True,
    ) -> None:
        self.master, self.members, self.bond_format = master, members, bond_format
        self.cidr, self.nameservers = cidr, nameservers


# Debian's ifenslave (/etc/network/if-pre-up.d/ifenslave).
IFUPDOWN = Dialect(
    master="bond-master",
    members="bond-slaves",
    bond_format="ifenslave",
)

# ifupdown-ng (Alpine 3.13+), interfaces-bond(5). Its bond executor turns every bond-*
# option into an argument of "ip link add NAME type bond", so values are ip-link's names.
# No bond-master on members: any "bond-" option makes ifupdown-ng run the bond executor
# for that interface, whose destroy phase would "ip link del" the physical NIC on ifdown.
# Members need no option: the executor enslaves them. Addresses go in CIDR form because
# the inet and inet6 stanzas of one interface merge into one, with one "netmask".
IFUPDOWN_NG = Dialect(
    master=None,
    members="bond-members",
    bond_format="ifupdown-ng",
    cidr=True,
    nameservers=False,
)


class Stanza:
    """``family``: inet or inet6; ``method``: static, manual, dhcp or loopback."""

    __slots__ = ("name", "family", "method", "options", "auto")

    def __init__(
        self,
        name: str,
        family: str,
        method: str,
        options: tuple[tuple[str, str], ...] = (),
        auto: bool = True,
    ) -> None:
        self.name, self.family, self.method, self.options, self.auto = (
            name,
            family,
            method,
            options,
            auto,
        )


def interfaces(plan: Plan, dialect: Dialect = IFUPDOWN) -> Task:
    checked = [_checked(stanza) for stanza in stanzas(plan, dialect)]
    return Write("etc/network/interfaces", render("interfaces.j2", stanzas=checked))


def _checked(stanza: Stanza) -> Stanza:
    """A line per option, words split on blanks: no value may start a line of its own,
    and a name or a key (one word each) may hold no blank either."""
    values.checked(stanza.name, "an ENI interface name", " ")
    for key, value in stanza.options:
        values.checked(key, f"ENI {stanza.name} option", " ")
        values.checked(value, f"ENI {stanza.name} {key}")
    return stanza


def stanzas(plan: Plan, dialect: Dialect) -> list[Stanza]:
    result = [Stanza("lo", "inet", "loopback")]
    for bond in plan.bonds:
        master = ((dialect.master, bond.name),) if dialect.master else ()
        result += [Stanza(m, "inet", "manual", _delay(plan, m) + master) for m in bond.members]
        result.append(_bond(plan, bond, dialect))
        if bond.name == plan.link:
            result += _extras(plan, bond.name, dialect)
    if plan.mode == INDIVIDUAL and plan.carrier and plan.vlan:
        result.append(Stanza(plan.carrier, "inet", "manual"))
    elif plan.mode == INDIVIDUAL and plan.link:
        result.append(_link(plan, plan.link, (), dialect))
        result += _extras(plan, plan.link, dialect)
    if plan.vlan:
        result.append(_link(plan, plan.vlan.name, _vlan(plan.vlan), dialect))
        result += _extras(plan, plan.vlan.name, dialect)
    result += [_own(nic.name, ip, dialect) for nic in plan.static_nics if (ip := nic.address)]
    result += [Stanza(nic.name, "inet", "dhcp") for nic in plan.dhcp_nics]
    return result


def _own(name: str, ip: IP, dialect: Dialect) -> Stanza:
    """A NIC's own static address (not the link's); its gateway only where the Plan
    kept it, as the one default route of its family."""
    family, netmask = ("inet", None) if ip.version == 4 else ("inet6", str(ip.prefix))
    return Stanza(name, family, "static", _static(ip, dialect, netmask))


def _vlan(vlan: Vlan) -> tuple[tuple[str, str], ...]:
    """The raw device and the id, written even where the name says them (bond0.100):
    ifupdown 0.8 creates a dotted name itself, but a ``vlanID`` name (too long a parent)
    needs Debian's ``vlan`` package, whose if-pre-up.d script reads vlan-raw-device (and
    the id from the name); ifupdown-ng's link executor and ifupdown2 read both."""
    return (("vlan-raw-device", vlan.parent), ("vlan-id", str(vlan.id)))


def _delay(plan: Plan, member: str) -> tuple[tuple[str, str], ...]:
    """The plan's member delay (a quirk) as the old tool wrote it. ifupdown runs a
    stanza's pre-up commands before its if-pre-up.d scripts, where ifenslave enslaves;
    ifupdown-ng brings a member up, pre-up first, before its bond enslaves it."""
    if member not in plan.delayed_members:
        return ()
    return (("pre-up", f"sleep {plan.member_delay}"),)


def _bond(plan: Plan, bond: Bond, dialect: Dialect) -> Stanza:
    options = [("hwaddress", bond.mac), *bond.options(dialect.bond_format)]
    options.append((dialect.members, " ".join(bond.members)))
    if bond.name != plan.link:
        return Stanza(bond.name, "inet", "manual", tuple(options))
    return _link(plan, bond.name, tuple(options), dialect)


def _link(plan: Plan, name: str, extra: tuple[tuple[str, str], ...], dialect: Dialect) -> Stanza:
    """The stanza of the link that carries the primary IPv4 (or none: manual)."""
    ip = plan.primary4
    if ip is None:
        return Stanza(name, "inet", "manual", extra)
    options = _static(ip, dialect)
    # hwaddress first among the extras reads best next to the address
    options += extra
    if plan.resolvers and dialect.nameservers:
        options += (("dns-nameservers", " ".join(str(r) for r in plan.resolvers)),)
    return Stanza(name, "inet", "static", options)


def _extras(plan: Plan, link: str, dialect: Dialect) -> list[Stanza]:
    """The IPv6 stanza and the private alias, on the link that carries the addresses."""
    result = []
    if plan.public6:
        options = _static(plan.public6, dialect, str(plan.public6.prefix))
        result.append(Stanza(link, "inet6", "static", options, False))
    if plan.alias4:
        # No gateway here: the default route is the public one's; the alias gets routes.
        options = _static(plan.alias4, dialect, gateway=False)
        for route in plan.routes:
            options += (
                ("post-up", f"ip route add {route.destination} via {route.gateway}"),
                ("post-down", f"ip route del {route.destination} via {route.gateway} || true"),
            )
        result.append(Stanza(f"{link}:0", "inet", "static", options))
    return result


def _static(
    ip: IP, dialect: Dialect, netmask: Optional[str] = None, gateway: bool = True
) -> tuple[tuple[str, str], ...]:
    if dialect.cidr:
        options = [("address", ip.cidr)]
    else:
        options = [("address", str(ip.address)), ("netmask", netmask or ip.netmask)]
    if gateway and ip.gateway:
        options.append(("gateway", str(ip.gateway)))
    return tuple(options)
