"""The Plan: what to configure, with no distro in it.

Built once from the metadata and the host's NICs (planner.py); every builder and renderer reads
the Plan, never the raw metadata. Hooks may replace it (``attrs.evolve``) before a
builder sees it.
"""

from __future__ import annotations

import ipaddress
from typing import Optional, Union

import attrs

from .metadata import IP as IP
from .metadata import IPAddress
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
