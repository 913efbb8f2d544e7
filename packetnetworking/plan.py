"""The Plan: what to configure, with no distro in it.

Built once from the metadata and the host's NICs; every builder and renderer reads
the Plan, never the raw metadata. Hooks may replace it (``attrs.evolve``) before a
builder sees it.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Optional, Union

import attrs

from .errors import InvalidMetadata, NoMatchingNic
from .metadata import IP as IP
from .metadata import Address, IPAddress, Metadata, selected
from .nics import HostNic

BONDED, INDIVIDUAL, DHCP = "bonded", "individual", "dhcp"
MODES = (BONDED, INDIVIDUAL, DHCP)

# The kernel's names for the bonding modes (Documentation/networking/bonding.rst).
BOND_MODE_NAMES = {
    0: "balance-rr",
    1: "active-backup",
    2: "balance-xor",
    3: "broadcast",
    4: "802.3ad",
    5: "balance-tlb",
    6: "balance-alb",
}


@attrs.frozen
class Nic:
    name: str  # the OS name (enp65s0f0), what config files use
    mac: str
    metadata_name: str  # eth0: how the metadata calls it
    driver: Optional[str] = None
    kernel_name: Optional[str] = None
    bond: Optional[str] = None
    dhcp: bool = False
    vlan: Optional[int] = None  # the 802.1Q id the metadata gives this NIC
    # A static address of its own, on a NIC that is no bond member and not under the
    # link; its gateway only where it is the plan's one default route of its family.
    address: Optional[IP] = None


# The kernel's limit on a device name: IFNAMSIZ (16) less the terminating NUL.
IFNAME_MAX = 15


@attrs.frozen
class Vlan:
    """An 802.1Q device over ``parent`` (the bond or NIC the link rides on): it carries
    the link's addresses, routes and gateways; the parent carries none."""

    name: str
    id: int
    parent: str


# The private alias's label (ENI, ifcfg, wicked): the link's name and this suffix, which
# the kernel holds to the same limit as a name.
ALIAS_SUFFIX = ":0"


def vlan_name(parent: str, vlan_id: int) -> str:
    """``PARENT.ID`` (bond0.100), the name ifupdown, ifupdown-ng, wicked and initscripts
    derive the parent and id from; ``vlanID`` (vlan4094) when that, with room for the
    alias label's ``:0``, is longer than the kernel allows (enp65s0f0np0.4094 is 17
    bytes). Every format names the parent beside it either way (vlan-raw-device,
    PHYSDEV, ETHERDEVICE, link, parent)."""
    dotted = f"{parent}.{vlan_id}"
    fits = len(dotted) + len(ALIAS_SUFFIX) <= IFNAME_MAX
    return dotted if fits else f"vlan{vlan_id}"


# Each bond option once, with every format's spelling of it beside it, in the columns
# of BOND_FORMATS: the bonding driver's own (ifcfg BONDING_OPTS, wicked
# BONDING_MODULE_OPTS, modprobe), Debian's ifenslave, ifupdown-ng, netplan, NetworkManager
# and systemd-networkd. Rows in the order the files list them (lacp_rate: see BondFormat).
BOND_OPTIONS: dict[str, tuple[str, str, str, str, str, str]] = {
    "mode": ("mode", "bond-mode", "bond-mode", "mode", "mode", "Mode"),
    "miimon": ("miimon", "bond-miimon", "bond-miimon", "mii-monitor-interval", "miimon",
               "MIIMonitorSec"),
    "updelay": ("updelay", "bond-updelay", "bond-updelay", "up-delay", "updelay", "UpDelaySec"),
    "downdelay": ("downdelay", "bond-downdelay", "bond-downdelay", "down-delay", "downdelay",
                  "DownDelaySec"),
    "xmit_hash_policy": ("xmit_hash_policy", "bond-xmit_hash_policy", "bond-xmit-hash-policy",
                         "transmit-hash-policy", "xmit_hash_policy", "TransmitHashPolicy"),
    "lacp_rate": ("lacp_rate", "bond-lacp-rate", "bond-lacp-rate", "lacp-rate", "lacp_rate",
                  "LACPTransmitRate"),
}  # fmt: skip


class BondFormat:
    """How one format writes the values: ``mode_by_name`` (``802.3ad``, not ``4``),
    ``lacp_numeric`` (ifenslave's ``1`` for fast), ``lacp_after_mode`` (the native
    formats list it second, the driver and ENI last), ``time_unit`` (networkd's ``ms``)."""

    __slots__ = ("column", "mode_by_name", "lacp_numeric", "lacp_after_mode", "time_unit")

    def __init__(
        self,
        column: int,
        mode_by_name: bool,
        lacp_numeric: bool = False,
        lacp_after_mode: bool = False,
        time_unit: str = "",
    ) -> None:
        self.column, self.mode_by_name, self.lacp_numeric = column, mode_by_name, lacp_numeric
        self.lacp_after_mode, self.time_unit = lacp_after_mode, time_unit


BOND_FORMATS = {
    "driver": BondFormat(0, mode_by_name=False),
    # ifenslave (Debian) takes numbers; ifupdown-ng passes ip-link's names.
    "ifenslave": BondFormat(1, mode_by_name=False, lacp_numeric=True),
    "ifupdown-ng": BondFormat(2, mode_by_name=True),
    "netplan": BondFormat(3, mode_by_name=True, lacp_after_mode=True),
    "networkmanager": BondFormat(4, mode_by_name=True, lacp_after_mode=True),
    "networkd": BondFormat(5, mode_by_name=True, lacp_after_mode=True, time_unit="ms"),
}


@attrs.frozen
class Bond:
    name: str
    mode: int
    members: tuple[str, ...]  # OS names, sorted
    mac: str  # the first member's (by metadata order), so the switch sees one MAC
    # The values the old tool wrote, kept so every backend configures the same bond.
    miimon: int = 100
    updelay: int = 200
    downdelay: int = 200
    xmit_hash_policy: str = "layer3+4"

    @property
    def lacp_rate(self) -> Optional[str]:
        """LACP rate only means something in 802.3ad (mode 4)."""
        return "fast" if self.mode == 4 else None

    @property
    def mode_name(self) -> str:
        return BOND_MODE_NAMES[self.mode]

    def options(self, fmt: str, mode_by_name: Optional[bool] = None) -> tuple[tuple[str, str], ...]:
        """This bond's options as format ``fmt`` (a key of BOND_FORMATS) spells and
        lists them: ``(key, value)`` pairs. ``mode_by_name`` overrides the format's."""
        style = BOND_FORMATS[fmt]
        by_name = style.mode_by_name if mode_by_name is None else mode_by_name
        values = {
            "mode": self.mode_name if by_name else str(self.mode),
            "miimon": f"{self.miimon}{style.time_unit}",
            "updelay": f"{self.updelay}{style.time_unit}",
            "downdelay": f"{self.downdelay}{style.time_unit}",
            "xmit_hash_policy": self.xmit_hash_policy,
        }
        order = list(values)
        if self.lacp_rate:
            fast = self.lacp_rate == "fast"
            values["lacp_rate"] = ("1" if fast else "0") if style.lacp_numeric else self.lacp_rate
            order.insert(1 if style.lacp_after_mode else len(order), "lacp_rate")
        return tuple((BOND_OPTIONS[name][style.column], values[name]) for name in order)

    def driver_options(self, mode_by_name: bool = False) -> str:
        """The bonding driver's own options (``mode=4 miimon=100 ...``), as ifcfg files
        and modprobe take them."""
        return " ".join(f"{k}={v}" for k, v in self.options("driver", mode_by_name))


@attrs.frozen
class Route:
    destination: Union[ipaddress.IPv4Network, ipaddress.IPv6Network]
    gateway: IPAddress


@attrs.frozen
class Plan:
    hostname: str
    mode: str  # BONDED, INDIVIDUAL or DHCP
    nics: tuple[Nic, ...]  # in metadata order (eth0 first)
    bonds: tuple[Bond, ...]  # sorted by name
    link: Optional[str]  # the device that carries the addresses: the VLAN's, if any
    public4: Optional[IP]
    public6: Optional[IP]
    private4: Optional[IP]
    routes: tuple[Route, ...]  # private subnets via the private gateway
    resolvers: tuple[IPAddress, ...]
    plan_slug: Optional[str] = None
    # Seconds to hold back each bond member but the plan's first NIC before it joins its
    # bond; 0: none. A quirk that hooks set (hooks/plan_quirks.py), renderers honour.
    member_delay: int = 0
    # Host NICs the plan leaves alone: absent from the metadata, or dropped by a hook.
    # networkd says so in a file of its own, or an image's catch-all takes them.
    spare_nics: tuple[HostNic, ...] = ()
    # The VLAN the addresses ride on (its name is ``link``); None: untagged.
    vlan: Optional[Vlan] = None

    @property
    def carrier(self) -> Optional[str]:
        """The bond or NIC under the link: the VLAN's parent, else the link itself."""
        return self.vlan.parent if self.vlan else self.link

    @property
    def primary4(self) -> Optional[IP]:
        """The IPv4 address that carries the default route: public, else private."""
        return self.public4 or self.private4

    @property
    def alias4(self) -> Optional[IP]:
        """The private IPv4 when it rides beside a public one (``bond0:0``)."""
        return self.private4 if self.public4 else None

    @property
    def addresses(self) -> tuple[IP, ...]:
        return tuple(ip for ip in (self.primary4, self.public6, self.alias4) if ip)

    @property
    def delayed_members(self) -> tuple[str, ...]:
        """Bond members that wait ``member_delay`` seconds before joining: as the old
        tool did, every member but the first NIC in metadata order, in every bond."""
        if not self.member_delay or not self.nics:
            return ()
        members = {m for bond in self.bonds for m in bond.members}
        first = self.nics[0].name
        return tuple(n.name for n in self.nics if n.name in members and n.name != first)

    @property
    def dhcp_nics(self) -> tuple[Nic, ...]:
        return tuple(n for n in self.nics if n.dhcp)

    @property
    def static_nics(self) -> tuple[Nic, ...]:
        """NICs with a static address of their own, in metadata order."""
        return tuple(n for n in self.nics if n.address)

    def with_nics(self, nics: tuple[Nic, ...]) -> Plan:
        """The same plan over other NICs (a hook's quirk): bonds and link re-derived."""
        bonds = _bonds(nics, self.bonds[0].mode) if self.mode == BONDED and self.bonds else ()
        kept = {nic.mac for nic in nics}
        dropped = tuple(
            HostNic(name=n.name, mac=n.mac, driver=n.driver, kernel_name=n.kernel_name)
            for n in self.nics
            if n.mac not in kept
        )
        carrier = _link(self.mode, bonds, nics)
        vlan = _vlan(carrier, self.vlan.id) if self.vlan and carrier else None
        return attrs.evolve(
            self, nics=nics, bonds=bonds, link=vlan.name if vlan else carrier,
            spare_nics=self.spare_nics + dropped, vlan=vlan,
        )  # fmt: skip


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
