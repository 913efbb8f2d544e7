"""netplan: one YAML file under ``etc/netplan`` (netplan.io's YAML reference, version 2).

Ethernets are matched by permanent MAC and given their OS name with ``set-name``; bonds
list their ``interfaces`` and ``parameters``; the link carries the addresses, the
routes and the nameservers. The renderer is networkd, which netplan's own generator
enables at boot. Every value is double-quoted, so YAML never reads a MAC as a number
or an IPv6 address as anything but a string.
"""

from __future__ import annotations

from typing import Any, Optional

import attrs

from ..plan import IP, Bond, Nic, Plan, Vlan
from ..render import render
from ..tasks import SECRET, Task, Write
from . import common
from .values import checked

# Sorted after the 00-/50- files images and installers ship, so on a same-id merge ours win.
PATH = "etc/netplan/90-packet.yaml"


@attrs.frozen
class Device:
    """One entry under ``ethernets`` or ``bonds``; empty fields are left out."""

    name: str
    mac: Optional[str] = None  # ethernets: match.macaddress (and set-name)
    dhcp4: bool = False
    interfaces: tuple[str, ...] = ()  # bonds
    macaddress: Optional[str] = None  # bonds: the MAC the switch sees
    parameters: common.Pairs = ()  # bonds
    addresses: tuple[str, ...] = ()
    accept_ra: Optional[bool] = None  # False on the statically addressed link
    routes: common.Pairs = ()  # (to, via)
    nameservers: tuple[str, ...] = ()
    vlan_id: Optional[int] = None  # vlans: id
    link: Optional[str] = None  # vlans: the bond or ethernet it rides on


def tasks(plan: Plan, legacy_routes: bool = False) -> list[Task]:
    """``legacy_routes``: write default routes as ``0.0.0.0/0`` and ``::/0``, for netplan
    before 0.103 (Ubuntu 18.04 and 20.04 as released), which has no ``to: default``."""
    ethernets, bonds = devices(plan, legacy_routes)
    vlans = [_vlan(plan, plan.vlan, legacy_routes)] if plan.vlan else []
    for device in ethernets + bonds + vlans:
        _check(device)
    content = render("netplan.yaml.j2", ethernets=ethernets, bonds=bonds, vlans=vlans)
    return [Write(PATH, content, mode=SECRET)]


def devices(plan: Plan, legacy_routes: bool) -> tuple[list[Device], list[Device]]:
    every = common.by_mode(
        plan,
        bonded=lambda bond, members: [
            *(_ethernet(nic) for nic in members),
            _bond(plan, bond, legacy_routes),
        ],
        individual=lambda nic: [
            _ethernet(nic)
            if plan.vlan
            else attrs.evolve(_ethernet(nic), **_addressing(plan, legacy_routes))
        ],
        dhcp=lambda nic: [attrs.evolve(_ethernet(nic), dhcp4=True)],
    )
    every += [_own(nic, ip, legacy_routes) for nic in plan.static_nics if (ip := nic.address)]
    bond_names = {bond.name for bond in plan.bonds}
    # The YAML has two maps: the bonds, and every other device (members first).
    ethernets = [d for d in every if d.name not in bond_names]
    return ethernets, [d for d in every if d.name in bond_names]


def _ethernet(nic: Nic) -> Device:
    return Device(name=nic.name, mac=nic.mac)


def _bond(plan: Plan, bond: Bond, legacy_routes: bool) -> Device:
    parameters = bond.options("netplan")  # intervals in milliseconds without a suffix
    addressing = _addressing(plan, legacy_routes) if bond.name == plan.link else {}
    return Device(
        name=bond.name,
        interfaces=bond.members,
        macaddress=bond.mac,
        parameters=tuple(parameters),
        **addressing,
    )


def _own(nic: Nic, ip: IP, legacy_routes: bool) -> Device:
    """A NIC's own static address; a default route only where the Plan kept its gateway."""
    routes: common.Pairs = ()
    if ip.gateway:
        legacy = "0.0.0.0/0" if ip.version == 4 else "::/0"
        routes = ((legacy if legacy_routes else "default", str(ip.gateway)),)
    return attrs.evolve(_ethernet(nic), addresses=(ip.cidr,), accept_ra=False, routes=routes)


def _vlan(plan: Plan, vlan: Vlan, legacy_routes: bool) -> Device:
    """The link when it is a VLAN: under ``vlans``, with its ``id`` and ``link``."""
    return Device(
        name=vlan.name, vlan_id=vlan.id, link=vlan.parent, **_addressing(plan, legacy_routes)
    )


def _addressing(plan: Plan, legacy_routes: bool) -> dict[str, Any]:
    routes = []
    for gateway in common.default_gateways(plan):
        legacy = "0.0.0.0/0" if gateway.version == 4 else "::/0"
        routes.append((legacy if legacy_routes else "default", str(gateway)))
    routes += [(str(r.destination), str(r.gateway)) for r in plan.routes]
    # No router advertisements on the static link: the addresses and gateways are all in
    # the metadata, and while networkd waits for router discovery it holds the link short
    # of "configured", so systemd-networkd-wait-online (and the boot) waits ~12 s for
    # nothing. ifupdown's `inet6 static` turns it off the same way.
    return {
        "addresses": tuple(ip.cidr for ip in plan.addresses),
        "accept_ra": False,
        "routes": tuple(routes),
        "nameservers": tuple(str(r) for r in plan.resolvers),
    }


def _check(device: Device) -> None:
    """The template puts every value inside double quotes: none may hold a quote, a
    backslash or a line break, whatever reached the Plan."""
    values = [device.name, device.mac or "", device.macaddress or "", *device.interfaces]
    values += [device.link or "", str(device.vlan_id or "")]
    values += [*device.addresses, *device.nameservers]
    values += [v for pair in (*device.parameters, *device.routes) for v in pair]
    for value in values:
        checked(value, f"netplan device {device.name!r}", '"\\')
