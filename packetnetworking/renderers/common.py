"""What the native renderers (netplan, NetworkManager keyfiles, systemd-networkd) share.

Each describes the same network as the ENI renderer: the link carries the Plan's
addresses, default routes go via the primary IPv4 gateway and the IPv6 gateway, the
private subnets via the private gateway, and a bond has the Plan's options under each
format's own names. Values reach the files through ``Section`` lists that ``checked``
vets (values.py), so no value, however it got into the Plan, can start a new line or
section.
"""

from __future__ import annotations

import re
from typing import Callable, TypeVar

from ..metadata import IPAddress
from ..plan import BONDED, INDIVIDUAL, Bond, Nic, Plan
from . import values

Pairs = tuple[tuple[str, str], ...]
Section = tuple[str, Pairs]  # an INI section: its name and its key=value lines, in order

_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
# What an INI line gives a meaning: sections, key=value, comments, quoting, escapes.
_INI_SPECIAL = "[]=#;\"'\\"


def default_gateways(plan: Plan) -> tuple[IPAddress, ...]:
    """The default routes' next hops: the primary IPv4's gateway, then the IPv6 one."""
    return tuple(ip.gateway for ip in (plan.primary4, plan.public6) if ip and ip.gateway)


def link_nic(plan: Plan) -> Nic:
    """In individual mode, the NIC that carries the addresses."""
    return next(nic for nic in plan.nics if nic.name == plan.carrier)


def left_alone(plan: Plan) -> list[tuple[str, str]]:
    """(name, MAC) of each host NIC no file of ours configures: the NICs after the first
    in individual mode, those without DHCP in DHCP mode, and the plan's spare NICs.

    Each format marks them as left alone in its own way, or an image's catch-all (DHCP on
    every link) would take them and hold the boot's wait-online until its timeout."""
    if plan.mode == BONDED:
        configured = {m for bond in plan.bonds for m in bond.members}
    elif plan.mode == INDIVIDUAL:
        configured = {plan.carrier} if plan.carrier else set()
    else:
        configured = {nic.name for nic in plan.dhcp_nics}
    configured |= {nic.name for nic in plan.static_nics}
    unused = [(n.name, n.mac) for n in plan.nics if n.name not in configured]
    return unused + [(n.name, n.mac) for n in plan.spare_nics]


T = TypeVar("T")


def by_mode(
    plan: Plan,
    bonded: Callable[[Bond, tuple[Nic, ...]], list[T]],
    individual: Callable[[Nic], list[T]],
    dhcp: Callable[[Nic], list[T]],
) -> list[T]:
    """The walk every native format makes, in one order: in bonded mode each bond with
    its members' NICs, in individual mode the NIC that carries the addresses; then
    every NIC on DHCP. Each format says what it writes for each."""
    result: list[T] = []
    if plan.mode == BONDED:
        by_name = {nic.name: nic for nic in plan.nics}
        for bond in plan.bonds:
            result += bonded(bond, tuple(by_name[m] for m in bond.members))
    elif plan.mode == INDIVIDUAL:
        result += individual(link_nic(plan))
    for nic in plan.dhcp_nics:
        result += dhcp(nic)
    return result


def checked(sections: list[Section], list_values: bool = False) -> list[Section]:
    """Refuse anything that could read as more than one value of one key.

    The Plan's values are validated addresses, MACs and names that need none of these
    characters; the check makes the file's structure independent of that. A keyfile
    list (``dns=a;b;``) is the one place a ``;`` belongs, so ``list_values`` allows it.
    """
    special = _INI_SPECIAL.replace(";", "") if list_values else _INI_SPECIAL
    for name, pairs in sections:
        for key, value in pairs:
            values.checked_key(key, f"[{name}]", _KEY)
            values.checked(value, f"[{name}] {key}", special)
    return sections
