"""The instance metadata document, typed and validated.

Everything that can reach a config file is checked here, once: addresses with
``ipaddress``, names against strict patterns (which also shuts out control characters,
whitespace, quotes and shell or template syntax). Validators raise ``InvalidMetadata``
naming the attribute; ``parse`` prefixes the path in the document, so the user reads
``network.interfaces[1].mac='zz'`` rather than a traceback. Unknown fields are ignored.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from typing import Any, Optional, TypeVar, Union

import attrs

from .errors import InvalidMetadata
from .validators import (
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

IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
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


def parse(text: Union[str, bytes]) -> Metadata:
    """Parse and validate a metadata document, or raise ``InvalidMetadata``."""
    try:
        raw = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise InvalidMetadata("metadata", _excerpt(text), f"is not JSON ({exc})") from None
    return from_dict(raw)


def from_dict(raw: object) -> Metadata:
    doc = _mapping(raw, "metadata")
    network = _mapping(_require(doc, "network", "metadata"), "network")
    raw_ifaces = _list(_require(network, "interfaces", "network"), "network.interfaces")
    if not raw_ifaces:
        raise InvalidMetadata("network.interfaces", [], "lists no interfaces")
    interfaces = tuple(
        _interface(item, f"network.interfaces[{i}]") for i, item in enumerate(raw_ifaces)
    )
    _unique([i.mac for i in interfaces], "network.interfaces[].mac")
    _unique([i.name for i in interfaces], "network.interfaces[].name")
    addresses = tuple(
        _address(item, f"network.addresses[{i}]")
        for i, item in enumerate(_list(network.get("addresses", []), "network.addresses"))
    )
    # Only what would be written is refused for an inconsistency (every address passed
    # the syntax checks above); the rest is logged by the run (``ignored_problems``).
    for address in configured(addresses):
        if address.problems:
            raise InvalidMetadata(*address.problems[0])
    subnets = doc.get("private_subnets")
    return _build(
        Metadata,
        "",
        hostname=_require(doc, "hostname", "metadata"),
        interfaces=interfaces,
        addresses=addresses,
        bonding=_bonding(network.get("bonding"), "network.bonding"),
        private_subnets=_subnets(["10.0.0.0/8"] if subnets is None else subnets),
        plan=_given(doc.get("plan")),
        operating_system=_os(doc.get("operating_system"), "operating_system"),
    )


B = TypeVar("B")


def _build(cls: type[B], path: str, **fields: Any) -> B:
    """Construct an attrs class; prefix a validator's field name with its document path."""
    try:
        return cls(**fields)
    except InvalidMetadata as exc:
        where = f"{path}.{exc.field}" if path else exc.field
        raise InvalidMetadata(where, exc.value, exc.reason) from None


def _interface(raw: object, path: str) -> Interface:
    item = _mapping(raw, path)
    return _build(
        Interface,
        path,
        name=_require(item, "name", path),
        mac=_require(item, "mac", path),
        bond=_given(item.get("bond")),
        dhcp=item.get("dhcp", False),
    )


def _address(raw: object, path: str) -> Address:
    item = _mapping(raw, path)
    family = _family(_require(item, "address_family", path), path)
    ip = _ip(_require(item, "address", path), f"{path}.address", family)
    cidr = _require(item, "cidr", path)
    if not isinstance(cidr, int) or isinstance(cidr, bool) or not 0 <= cidr <= ip.max_prefixlen:
        raise InvalidMetadata(f"{path}.cidr", cidr, f"must be a prefix length 0-{ip.max_prefixlen}")
    interface = ipaddress.ip_interface(f"{ip}/{cidr}")
    problems = _netmask_problems(item.get("netmask"), interface, f"{path}.netmask")
    raw_gateway = item.get("gateway")
    gateway = None
    if raw_gateway is not None:
        gateway = _ip(raw_gateway, f"{path}.gateway")
        if gateway.version != family:
            problems.append((f"{path}.gateway", raw_gateway, f"is not an IPv{family} address"))
        elif gateway not in interface.network:
            problems.append((f"{path}.gateway", raw_gateway, f"is outside {interface.network}"))
    return _build(
        Address,
        path,
        family=family,
        interface=interface,
        gateway=gateway,
        public=_require(item, "public", path),
        management=item.get("management", False),
        enabled=item.get("enabled", True),
        problems=tuple(problems),
    )


def _family(raw: object, path: str) -> int:
    # bool is an int in Python: a JSON true is not family 4 or 6.
    if not isinstance(raw, int) or isinstance(raw, bool) or raw not in (4, 6):
        raise InvalidMetadata(f"{path}.address_family", raw, "must be 4 or 6")
    return raw


def _netmask_problems(raw: object, interface: IPInterface, path: str) -> list[Problem]:
    """The netmask is redundant with the cidr and never written. It must be an address
    (refused otherwise); one that disagrees with the prefix is a problem."""
    if raw is None:
        return []
    # IPv6 netmasks arrive uncompressed or compressed; compare as addresses.
    if _ip(raw, path) == interface.network.netmask:
        return []
    return [(path, raw, f"does not match the prefix /{interface.network.prefixlen}")]


def _ip(raw: object, path: str, family: Optional[int] = None) -> IPAddress:
    if not isinstance(raw, str):
        raise InvalidMetadata(path, raw, "must be a string (an IP address)")
    try:
        ip = ipaddress.ip_address(raw)
    except ValueError:
        raise InvalidMetadata(path, raw, "is not an IP address") from None
    # Python accepts an IPv6 scope ("fe80::1%eth0") of any characters but '%' and '/',
    # newlines included, and prints it back: it must never reach a config file.
    if "%" in raw:
        raise InvalidMetadata(path, raw, "must not carry a scope (%...)")
    if family is not None and ip.version != family:
        raise InvalidMetadata(path, raw, f"is not an IPv{family} address")
    return ip


def _bonding(raw: object, path: str) -> Bonding:
    item = _mapping(raw if raw is not None else {}, path)
    aggregation = item.get("link_aggregation")
    return _build(
        Bonding,
        path,
        mode=item.get("mode", 4),
        link_aggregation="bonded" if aggregation is None else aggregation,
    )


def _os(raw: object, path: str) -> OperatingSystem:
    if raw is None:
        return OperatingSystem()
    item = _mapping(raw, path)
    return _build(
        OperatingSystem,
        path,
        distro=_unless_na(item.get("distro")),
        version=_unless_na(item.get("version")),
        slug=_unless_na(item.get("slug")),
    )


def _unless_na(value: object) -> object:
    """Installers fill unknown OS fields with "n/a" (lsb_release does): that means none."""
    if isinstance(value, str) and value.lower() == "n/a":
        return None
    return _given(value)


def _subnets(raw: object) -> tuple[ipaddress.IPv4Network, ...]:
    subnets = []
    for i, item in enumerate(_list(raw, "private_subnets")):
        try:
            if not isinstance(item, str):
                raise ValueError
            subnets.append(ipaddress.IPv4Network(item))
        except ValueError:
            raise InvalidMetadata(f"private_subnets[{i}]", item, "is not an IPv4 CIDR") from None
    return tuple(subnets)


def parse_resolvers(values: list[str], origin: str) -> tuple[IPAddress, ...]:
    """Resolvers come from the command line, the environment or the host: same checks."""
    return tuple(_ip(value, origin) for value in values)


def _given(value: object) -> object:
    """Null and "" mean "not given"; any other value, of whatever type, goes on to the
    validator: a ``[]`` or ``0`` is refused, not mistaken for absent."""
    return None if value == "" else value


def _require(item: Mapping[str, Any], key: str, path: str) -> object:
    if key not in item or item[key] is None:
        raise InvalidMetadata(f"{path}.{key}" if path != "metadata" else key, None, "is missing")
    return item[key]


def _mapping(raw: object, path: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise InvalidMetadata(path, _excerpt(raw), "must be a JSON object")
    return raw


def _list(raw: object, path: str) -> list[Any]:
    if not isinstance(raw, list):
        raise InvalidMetadata(path, _excerpt(raw), "must be a JSON list")
    return raw


def _unique(values: list[str], path: str) -> None:
    seen = set()
    for value in values:
        if value in seen:
            raise InvalidMetadata(path, value, "appears twice")
        seen.add(value)


def _excerpt(raw: object) -> object:
    if isinstance(raw, (str, bytes)) and len(raw) > 40:
        return raw[:40]
    if isinstance(raw, (list, dict)):
        return type(raw).__name__
    return raw
