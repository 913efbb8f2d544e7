"""The model every document that describes a server becomes, typed and validated: the
one the Plan is built from, whichever document it came from.

Each document has a module of its own here: equinix.py (the Equinix Metal instance
metadata), tinkerbell.py and tinkerbell_v1alpha2.py (a Tinkerbell Hardware), and
documents.py, which tells them apart by content and picks the host's Hardware.

Everything that can reach a config file is checked by the model, once: addresses with
``ipaddress``, names against strict patterns (which also shuts out control characters,
whitespace, quotes and shell or template syntax). Validators raise ``InvalidMetadata``
naming the attribute; each document's module puts its own path in front, so the user
reads ``network.interfaces[1].mac='zz'`` rather than a traceback.
"""

from __future__ import annotations

import ipaddress
from typing import Optional, Union

import attrs

from ..validators import (
    BOND,
    IFNAME,
    LINK_AGGREGATIONS,
    MAC,
    TOKEN,
    fail,
    host_name,
    in_range,
    lower_mac,
    matches,
    typed,
)
from .fields import IPAddress as IPAddress
from .fields import ip_address

IPInterface = Union[ipaddress.IPv4Interface, ipaddress.IPv6Interface]
Problem = tuple[str, object, str]  # field (its path in the document), value, reason


@attrs.frozen
class Interface:
    """One NIC as the metadata knows it; ``name`` (eth0) is not the OS name."""

    name: str = attrs.field(validator=matches(IFNAME, "an interface name"))
    mac: str = attrs.field(converter=lower_mac, validator=matches(MAC, "a MAC address"))
    bond: Optional[str] = attrs.field(
        default=None, validator=matches(BOND, "a bond name (bond0, bond1...)")
    )
    dhcp: bool = attrs.field(default=False, validator=typed(bool, "true or false"))
    # The 802.1Q VLAN id the NIC's addresses ride on (a Tinkerbell ``dhcp.vlan_id``);
    # None: untagged. On a bond member, the bond's addresses ride it.
    vlan: Optional[int] = attrs.field(
        default=None,
        validator=attrs.validators.optional([typed(int, "a VLAN id"), in_range(1, 4094)]),
    )
    # The OS name the document gives the NIC (Tinkerbell's ``dhcp.iface_name``): used
    # when the host's NICs cannot be seen, and must agree with the host's when they can.
    os_name: Optional[str] = attrs.field(
        default=None, validator=matches(IFNAME, "an interface name")
    )
    # A static address of this NIC's own, for a NIC that carries none of the link's
    # (Tinkerbell: each interface's ``dhcp.ip`` when ``instance.ips`` is absent).
    address: Optional[IP] = None


@attrs.frozen
class IP:
    """An address as config files want it: address, prefix, netmask, gateway."""

    interface: IPInterface
    gateway: Optional[IPAddress]

    @property
    def address(self) -> IPAddress:
        return self.interface.ip

    @property
    def prefix(self) -> int:
        return self.interface.network.prefixlen

    @property
    def netmask(self) -> str:
        return str(self.interface.network.netmask)

    @property
    def cidr(self) -> str:
        return f"{self.interface.ip}/{self.prefix}"

    @property
    def version(self) -> int:
        return self.interface.version


@attrs.frozen
class Address(IP):
    """One assigned address as the metadata lists it: an IP and what the metadata says of it."""

    family: int = attrs.field(validator=[typed(int, "4 or 6"), in_range(4, 6)])
    public: bool = attrs.field(validator=typed(bool, "true or false"))
    management: bool = attrs.field(validator=typed(bool, "true or false"))
    enabled: bool = attrs.field(default=True, validator=typed(bool, "true or false"))
    # What is well-formed but inconsistent: (field, value, reason), e.g. a gateway outside
    # the prefix. Refused if the tool configures this address, a warning if it does not.
    problems: tuple[Problem, ...] = attrs.field(default=(), eq=False)


@attrs.frozen
class Bonding:
    mode: int = attrs.field(default=4, validator=[typed(int, "an integer"), in_range(0, 6)])
    link_aggregation: str = attrs.field(default="bonded")

    @link_aggregation.validator
    def _check_aggregation(self, attribute: attrs.Attribute[str], value: object) -> None:
        if value not in LINK_AGGREGATIONS:
            fail(attribute, value, f"must be one of {', '.join(LINK_AGGREGATIONS)} or null")


@attrs.frozen
class OperatingSystem:
    distro: Optional[str] = attrs.field(default=None, validator=matches(TOKEN, "an OS name"))
    version: Optional[str] = attrs.field(default=None, validator=matches(TOKEN, "a version"))
    slug: Optional[str] = attrs.field(default=None, validator=matches(TOKEN, "an OS slug"))


@attrs.frozen
class Metadata:
    hostname: str = attrs.field(validator=host_name)
    interfaces: tuple[Interface, ...]
    addresses: tuple[Address, ...]
    bonding: Bonding
    private_subnets: tuple[ipaddress.IPv4Network, ...]
    plan: Optional[str] = attrs.field(default=None, validator=matches(TOKEN, "a plan slug"))
    operating_system: OperatingSystem = OperatingSystem()
    # Resolvers the document itself names (Tinkerbell's ``name_servers``): they win over
    # the host's resolv.conf; --resolvers and PACKET_RESOLVERS win over them.
    resolvers: tuple[IPAddress, ...] = ()

    @property
    def ignored_problems(self) -> tuple[tuple[Address, Problem], ...]:
        """The inconsistencies of addresses the tool leaves alone: warnings, not refusals
        (the installer's own metadata has an elastic /31 whose gateway lies outside it)."""
        used = {id(a) for a in configured(self.addresses)}
        return tuple((a, p) for a in self.addresses if id(a) not in used for p in a.problems)


def selected(addresses: tuple[Address, ...], family: int, public: bool) -> Optional[Address]:
    """The address the tool configures for a family and scope: the first enabled
    management one. By family and flags, never by index: the order is not fixed."""
    for address in addresses:
        if (
            address.family == family
            and address.public is public
            and address.management
            and address.enabled
        ):
            return address
    return None


def configured(addresses: tuple[Address, ...]) -> tuple[Address, ...]:
    """Every address the tool may write: public IPv4, public IPv6, private IPv4."""
    chosen = (selected(addresses, 4, True), selected(addresses, 6, True),
              selected(addresses, 4, False))  # fmt: skip
    return tuple(a for a in chosen if a is not None)


def parse_resolvers(values: list[str], origin: str) -> tuple[IPAddress, ...]:
    """Resolvers come from the command line, the environment or the host: same checks."""
    return tuple(ip_address(value, origin) for value in values)
