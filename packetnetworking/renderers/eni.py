"""ENI, ``/etc/network/interfaces``: ifupdown (Debian, Ubuntu) and ifupdown-ng (Alpine).

The stanzas are worked out here and printed by ``templates/interfaces.j2``. The two
dialects agree on everything but the bond keywords, which each documents its own way.
"""

from __future__ import annotations

from typing import Optional

import attrs

from ..plan import INDIVIDUAL, IP, Bond, Plan
from ..render import render
from ..tasks import Task, Write


@attrs.frozen
class Dialect:
    """Keywords for bond settings; ``None`` leaves the setting out."""

    master: str
    members: str
    mode: str
    miimon: str
    updelay: str
    downdelay: str
    xmit_hash_policy: str
    lacp_rate: str
    # ifenslave takes modes by number; some tools want the kernel's names.
    mode_names: bool = False


# Debian's ifenslave (/etc/network/if-pre-up.d/ifenslave).
IFUPDOWN = Dialect(
    master="bond-master",
    members="bond-slaves",
    mode="bond-mode",
    miimon="bond-miimon",
    updelay="bond-updelay",
    downdelay="bond-downdelay",
    xmit_hash_policy="bond-xmit_hash_policy",
    lacp_rate="bond-lacp-rate",
)

_MODE_NAMES = {
    0: "balance-rr",
    1: "active-backup",
    2: "balance-xor",
    3: "broadcast",
    4: "802.3ad",
    5: "balance-tlb",
    6: "balance-alb",
}


@attrs.frozen
class Stanza:
    name: str
    family: str  # inet, inet6
    method: str  # static, manual, dhcp, loopback
    options: tuple[tuple[str, str], ...] = ()
    auto: bool = True


def interfaces(plan: Plan, dialect: Dialect = IFUPDOWN) -> Task:
    return Write("etc/network/interfaces", render("interfaces.j2", stanzas=stanzas(plan, dialect)))


def stanzas(plan: Plan, dialect: Dialect) -> list[Stanza]:
    result = [Stanza("lo", "inet", "loopback")]
    for bond in plan.bonds:
        result += [
            Stanza(member, "inet", "manual", ((dialect.master, bond.name),))
            for member in bond.members
        ]
        result.append(_bond(plan, bond, dialect))
        if bond.name == plan.link:
            result += _extras(plan, bond.name)
    if plan.mode == INDIVIDUAL and plan.link:
        result.append(_link(plan, plan.link, ()))
        result += _extras(plan, plan.link)
    result += [Stanza(nic.name, "inet", "dhcp") for nic in plan.dhcp_nics]
    return result


def _bond(plan: Plan, bond: Bond, dialect: Dialect) -> Stanza:
    mode = _MODE_NAMES[bond.mode] if dialect.mode_names else str(bond.mode)
    options = [
        ("hwaddress", bond.mac),
        (dialect.mode, mode),
        (dialect.miimon, str(bond.miimon)),
        (dialect.updelay, str(bond.updelay)),
        (dialect.downdelay, str(bond.downdelay)),
        (dialect.xmit_hash_policy, bond.xmit_hash_policy),
    ]
    if bond.lacp_rate:
        options.append((dialect.lacp_rate, "1" if bond.lacp_rate == "fast" else "0"))
    options.append((dialect.members, " ".join(bond.members)))
    if bond.name != plan.link:
        return Stanza(bond.name, "inet", "manual", tuple(options))
    return _link(plan, bond.name, tuple(options))


def _link(plan: Plan, name: str, extra: tuple[tuple[str, str], ...]) -> Stanza:
    """The stanza of the link that carries the primary IPv4 (or none: manual)."""
    ip = plan.primary4
    if ip is None:
        return Stanza(name, "inet", "manual", extra)
    options = _static(ip)
    # hwaddress first among the extras reads best next to the address
    options += extra
    if plan.resolvers:
        options += (("dns-nameservers", " ".join(str(r) for r in plan.resolvers)),)
    return Stanza(name, "inet", "static", options)


def _extras(plan: Plan, link: str) -> list[Stanza]:
    """The IPv6 stanza and the private alias, on the link that carries the addresses."""
    result = []
    if plan.public6:
        result.append(
            Stanza(link, "inet6", "static", _static(plan.public6, str(plan.public6.prefix)), False)
        )
    if plan.alias4:
        # No gateway here: the default route is the public one's; the alias gets routes.
        options = _static(plan.alias4, gateway=False)
        for route in plan.routes:
            options += (
                ("post-up", f"ip route add {route.destination} via {route.gateway}"),
                ("post-down", f"ip route del {route.destination} via {route.gateway} || true"),
            )
        result.append(Stanza(f"{link}:0", "inet", "static", options))
    return result


def _static(
    ip: IP, netmask: Optional[str] = None, gateway: bool = True
) -> tuple[tuple[str, str], ...]:
    options = [("address", str(ip.address)), ("netmask", netmask or ip.netmask)]
    if gateway and ip.gateway:
        options.append(("gateway", str(ip.gateway)))
    return tuple(options)
