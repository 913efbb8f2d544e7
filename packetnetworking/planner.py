"""Building the Plan: the document's NICs matched to the host's by MAC, the network mode,
the bonds, the link that carries the addresses (and the VLAN it rides), the addresses
chosen by family and flags, and each NIC's own address where it may have one.

Every refusal here is a plan the document asks for but that cannot be written
faithfully (two bonds' members disagreeing on a VLAN id, DHCP over a VLAN): exit 50,
naming the interfaces, before any builder runs.
"""

from __future__ import annotations

import re
from typing import Optional, Union

import attrs

from .errors import InvalidMetadata, NoMatchingNic
from .metadata import IP, Address, IPAddress, Metadata, selected
from .nics import HostNic
from .plan import BONDED, DHCP, INDIVIDUAL, Bond, Nic, Plan, Route, Vlan, vlan_name


def build(
    metadata: Metadata, host_nics: tuple[HostNic, ...], resolvers: tuple[IPAddress, ...]
) -> Plan:
    nics = _match(metadata, host_nics)
    mode = _mode(metadata, nics)
    bonds = _bonds(nics, metadata.bonding.mode) if mode == BONDED else ()
    if mode == BONDED:
        nics = tuple(attrs.evolve(n, bond=n.bond or "bond0") for n in nics)
    # In DHCP mode the DHCP server hands out the addresses: none are configured statically.
    addresses = metadata.addresses if mode != DHCP else ()
    public4 = _first(addresses, 4, public=True)
    public6 = _first(addresses, 6, public=True)
    private4 = _first(addresses, 4, public=False)
    routes: tuple[Route, ...] = ()
    if public4 and private4 and private4.gateway:
        gateway = private4.gateway
        routes = tuple(Route(subnet, gateway) for subnet in metadata.private_subnets)
    carrier = _link(mode, bonds, nics)
    vlan_id = _vlan_id(mode, carrier, bonds, nics)
    vlan = _vlan(carrier, vlan_id) if carrier and vlan_id else None
    link_ips = tuple(ip for ip in (public4, public6, private4) if ip)
    # The families that already have a default route: the link's (Plan.primary4,
    # public6), and IPv4 where a NIC asks DHCP (its lease brings one).
    defaults = {ip.version for ip in (public4 or private4, public6) if ip and ip.gateway}
    defaults |= {4} if any(n.dhcp for n in nics) else set()
    nics = _own_addresses(nics, carrier, bonds, link_ips, defaults)
    return Plan(
        hostname=metadata.hostname,
        mode=mode,
        nics=nics,
        bonds=bonds,
        link=vlan.name if vlan else carrier,
        vlan=vlan,
        public4=public4,
        public6=public6,
        private4=private4,
        routes=routes,
        resolvers=resolvers,
        plan_slug=metadata.plan,
        spare_nics=_spare(host_nics, nics),
    )


def with_nics(plan: Plan, nics: tuple[Nic, ...]) -> Plan:
    """The same plan over other NICs (a hook's quirk): bonds, link and VLAN re-derived, the
    NICs left out become spare ones."""
    bonds = _bonds(nics, plan.bonds[0].mode) if plan.mode == BONDED and plan.bonds else ()
    kept = {nic.mac for nic in nics}
    dropped = tuple(
        HostNic(name=n.name, mac=n.mac, driver=n.driver, kernel_name=n.kernel_name)
        for n in plan.nics
        if n.mac not in kept
    )
    carrier = _link(plan.mode, bonds, nics)
    vlan = _vlan(carrier, plan.vlan.id) if plan.vlan and carrier else None
    return attrs.evolve(
        plan, nics=nics, bonds=bonds, link=vlan.name if vlan else carrier,
        spare_nics=plan.spare_nics + dropped, vlan=vlan,
    )  # fmt: skip


def _match(metadata: Metadata, host_nics: tuple[HostNic, ...]) -> tuple[Nic, ...]:
    """Pair metadata interfaces with host NICs by MAC; unmatched ones are dropped."""
    by_mac = {nic.mac.lower(): nic for nic in host_nics}
    matched = []
    for iface in sorted(metadata.interfaces, key=lambda i: natural_key(i.name)):
        host = by_mac.get(iface.mac)
        if host is None:
            continue
        matched.append(
            Nic(
                name=host.name,
                mac=iface.mac,
                metadata_name=iface.name,
                driver=host.driver,
                kernel_name=host.kernel_name or host.name,
                bond=iface.bond,
                dhcp=iface.dhcp,
                vlan=iface.vlan,
                address=iface.address,
            )
        )
    if not matched:
        wanted = ", ".join(sorted(i.mac for i in metadata.interfaces)) or "none"
        have = ", ".join(sorted(n.mac for n in host_nics)) or "none"
        raise NoMatchingNic(
            f"no metadata interface matches a host NIC: metadata MACs {wanted}; host MACs {have}"
        )
    return tuple(matched)


def _spare(host_nics: tuple[HostNic, ...], nics: tuple[Nic, ...]) -> tuple[HostNic, ...]:
    matched = {nic.mac for nic in nics}
    spare = (h for h in host_nics if h.mac.lower() not in matched)
    return tuple(sorted(spare, key=lambda h: natural_key(h.name)))


def _mode(metadata: Metadata, nics: tuple[Nic, ...]) -> str:
    if any(n.dhcp for n in nics):
        return DHCP
    if metadata.bonding.link_aggregation == INDIVIDUAL:
        return INDIVIDUAL
    return BONDED  # bonded, mlag_ha, null and absent alike


def _bonds(nics: tuple[Nic, ...], mode: int) -> tuple[Bond, ...]:
    members: dict[str, list[Nic]] = {}
    for nic in nics:  # metadata order, so members[...][0] is the bond's first NIC
        members.setdefault(nic.bond or "bond0", []).append(nic)
    return tuple(
        Bond(
            name=name,
            mode=mode,
            members=tuple(sorted((n.name for n in group), key=natural_key)),
            mac=group[0].mac,
        )
        for name, group in sorted(members.items(), key=lambda item: natural_key(item[0]))
    )


def _link(mode: str, bonds: tuple[Bond, ...], nics: tuple[Nic, ...]) -> Optional[str]:
    if mode == DHCP:
        return None
    if mode == INDIVIDUAL:
        return nics[0].name
    names = [b.name for b in bonds]
    return "bond0" if "bond0" in names else names[0]


def _vlan(parent: str, vlan_id: int) -> Vlan:
    return Vlan(name=vlan_name(parent, vlan_id), id=vlan_id, parent=parent)


def _vlan_id(
    mode: str, carrier: Optional[str], bonds: tuple[Bond, ...], nics: tuple[Nic, ...]
) -> Optional[int]:
    """The VLAN id the link's addresses ride on: its NIC's, or the one all its bond's
    members agree on (a bond is one port to the switch: one tagging for all)."""
    if mode == DHCP:
        # A DHCP client on a tagged NIC would ask untagged: refused, never dropped.
        for nic in nics:
            if nic.vlan is not None and nic.dhcp:
                raise InvalidMetadata(
                    f"interfaces[{nic.metadata_name}].vlan", nic.vlan,
                    "DHCP over a VLAN is not supported: configure static addresses",
                )  # fmt: skip
        return None
    if mode == INDIVIDUAL:
        return next((n.vlan for n in nics if n.name == carrier), None)
    members = next((b.members for b in bonds if b.name == carrier), ())
    ids = {n.metadata_name: n.vlan for n in nics if n.name in members}
    if len(set(ids.values())) > 1:
        listed = ", ".join(f"{name}: {vid}" for name, vid in sorted(ids.items()))
        raise InvalidMetadata(
            f"interfaces[].vlan of {carrier}'s members", listed,
            "the members of a bond must all have the same VLAN id (or none)",
        )  # fmt: skip
    return next(iter(ids.values()), None)


def _own_addresses(
    nics: tuple[Nic, ...],
    carrier: Optional[str],
    bonds: tuple[Bond, ...],
    link_ips: tuple[IP, ...],
    taken: set[int],
) -> tuple[Nic, ...]:
    """Each NIC's own static address, checked against its place in the plan.

    Refused on a bond member or the link's NIC (their addresses are the link's), unless
    it is one of the link's addresses already (an input format may list it twice). Left
    out on a DHCP NIC: the DHCP server hands it its address (a Tinkerbell ``dhcp.ip`` is
    that very lease). A gateway becomes a default route only where no other is of its
    family: not beside the link's, nor beside an earlier NIC's (two default routes of
    one family would race); elsewhere the address is kept, the gateway dropped.
    """
    members = {m for bond in bonds for m in bond.members}
    result = []
    for nic in nics:
        ip = nic.address
        if ip is None:
            result.append(nic)
            continue
        if nic.name == carrier and ip.interface in {own.interface for own in link_ips}:
            result.append(attrs.evolve(nic, address=None))
            continue
        if nic.name in members or nic.name == carrier:
            role = "a bond member" if nic.name in members else "the NIC that carries the link"
            raise InvalidMetadata(
                f"interfaces[{nic.metadata_name}].address", ip.cidr,
                f"{nic.name} is {role}: its addresses are the link's",
            )  # fmt: skip
        if nic.dhcp:
            result.append(attrs.evolve(nic, address=None))
            continue
        if nic.vlan is not None:
            # Only the link rides a VLAN: written untagged, this address would be wrong.
            raise InvalidMetadata(
                f"interfaces[{nic.metadata_name}].vlan", nic.vlan,
                "a VLAN under a NIC's own address is not supported (only under the link)",
            )  # fmt: skip
        if ip.gateway and ip.version in taken:
            ip = IP(ip.interface, None)
        elif ip.gateway:
            taken = taken | {ip.version}
        result.append(attrs.evolve(nic, address=ip))
    return tuple(result)


def _first(addresses: tuple[Address, ...], family: int, public: bool) -> Optional[IP]:
    address = selected(addresses, family, public)
    return IP(address.interface, address.gateway) if address else None


def natural_key(name: str) -> tuple[Union[int, str], ...]:
    """eth2 before eth10."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name))
