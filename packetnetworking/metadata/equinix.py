"""The Equinix Metal instance metadata document (``metadata.packet.net/metadata``, or a
saved copy), turned into the model (``Metadata``) the Plan is built from.

A refusal names the document's own path: ``network.interfaces[1].mac='zz'``. Unknown
fields are ignored.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any, TypeVar, Union

from ..errors import InvalidMetadata
from . import (
    Address,
    Bonding,
    Interface,
    IPInterface,
    Metadata,
    OperatingSystem,
    Problem,
    configured,
)
from .fields import excerpt, given, ip_address, listed, mapping, require, unless_na

# The document is JSON: a message says so.
_OBJECT, _LIST = "a JSON object", "a JSON list"


def parse(text: Union[str, bytes]) -> Metadata:
    """Parse and validate a metadata document, or raise ``InvalidMetadata``."""
    try:
        raw = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise InvalidMetadata("metadata", excerpt(text), f"is not JSON ({exc})") from None
    return from_dict(raw)


def from_dict(raw: object) -> Metadata:
    doc = mapping(raw, "metadata", _OBJECT)
    network = mapping(require(doc, "network", ""), "network", _OBJECT)
    raw_ifaces = listed(require(network, "interfaces", "network"), "network.interfaces", _LIST)
    if not raw_ifaces:
        raise InvalidMetadata("network.interfaces", [], "lists no interfaces")
    interfaces = tuple(
        _interface(item, f"network.interfaces[{i}]") for i, item in enumerate(raw_ifaces)
    )
    _unique([i.mac for i in interfaces], "network.interfaces[].mac")
    _unique([i.name for i in interfaces], "network.interfaces[].name")
    addresses = tuple(
        _address(item, f"network.addresses[{i}]")
        for i, item in enumerate(listed(network.get("addresses", []), "network.addresses", _LIST))
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
        hostname=require(doc, "hostname", ""),
        interfaces=interfaces,
        addresses=addresses,
        bonding=_bonding(network.get("bonding"), "network.bonding"),
        private_subnets=_subnets(["10.0.0.0/8"] if subnets is None else subnets),
        plan=given(doc.get("plan")),
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
    item = mapping(raw, path, _OBJECT)
    return _build(
        Interface,
        path,
        name=require(item, "name", path),
        mac=require(item, "mac", path),
        bond=given(item.get("bond")),
        dhcp=item.get("dhcp", False),
    )


def _address(raw: object, path: str) -> Address:
    item = mapping(raw, path, _OBJECT)
    family = _family(require(item, "address_family", path), path)
    ip = ip_address(require(item, "address", path), f"{path}.address", family)
    cidr = require(item, "cidr", path)
    if not isinstance(cidr, int) or isinstance(cidr, bool) or not 0 <= cidr <= ip.max_prefixlen:
        raise InvalidMetadata(f"{path}.cidr", cidr, f"must be a prefix length 0-{ip.max_prefixlen}")
    interface = ipaddress.ip_interface(f"{ip}/{cidr}")
    problems = _netmask_problems(item.get("netmask"), interface, f"{path}.netmask")
    raw_gateway = item.get("gateway")
    gateway = None
    if raw_gateway is not None:
        gateway = ip_address(raw_gateway, f"{path}.gateway")
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
        public=require(item, "public", path),
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
    if ip_address(raw, path) == interface.network.netmask:
        return []
    return [(path, raw, f"does not match the prefix /{interface.network.prefixlen}")]


def _bonding(raw: object, path: str) -> Bonding:
    item = mapping(raw if raw is not None else {}, path, _OBJECT)
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
    item = mapping(raw, path, _OBJECT)
    return _build(
        OperatingSystem,
        path,
        distro=unless_na(item.get("distro")),
        version=unless_na(item.get("version")),
        slug=unless_na(item.get("slug")),
    )


def _subnets(raw: object) -> tuple[ipaddress.IPv4Network, ...]:
    subnets = []
    for i, item in enumerate(listed(raw, "private_subnets", _LIST)):
        try:
            if not isinstance(item, str):
                raise ValueError
            subnets.append(ipaddress.IPv4Network(item))
        except ValueError:
            raise InvalidMetadata(f"private_subnets[{i}]", item, "is not an IPv4 CIDR") from None
    return tuple(subnets)


def _unique(values: list[str], path: str) -> None:
    seen = set()
    for value in values:
        if value in seen:
            raise InvalidMetadata(path, value, "appears twice")
        seen.add(value)
