"""A Tinkerbell Hardware, turned into the same ``Metadata`` the Equinix document gives.

The mapping, field by field, and what is not carried are in docs/tinkerbell.md; the
schema (tinkerbell/tinkerbell api/v1alpha1/tinkerbell/hardware.go) in its notes. Every
value goes through the model's own validators (metadata.py), and a refusal names the
Hardware's own path: ``spec.interfaces[1].dhcp.mac='zz'``.

Tinkerbell's Go types mark every field ``omitempty``: a false, 0 or "" is never written
out, so ``public: false``, ``management: false`` and ``bonding_mode: 0`` look exactly like
fields left out. The rules below never need to tell them apart: an address's scope comes
from the address itself unless it says ``public: true``; every address is configured
unless it says ``management: false`` (which only a hand-written Hardware can carry).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any, Optional, TypeVar

from ..errors import InvalidMetadata
from . import (
    IP,
    Address,
    Bonding,
    Interface,
    IPAddress,
    IPInterface,
    Metadata,
    OperatingSystem,
    Problem,
    configured,
    parse_resolvers,
)
from .fields import given, listed, mapping, or_empty, require, unless_na

V1ALPHA1, V1ALPHA2 = "tinkerbell.org/v1alpha1", "tinkerbell.org/v1alpha2"
B = TypeVar("B")


def parse(doc: Mapping[str, Any], shape: str) -> Metadata:
    """``shape``: documents.kind() of ``doc``, hardware or template-data (a v1alpha2 one is
    tinkerbell_v1alpha2's)."""
    if shape == "template-data":
        # {{ toJson .Hardware }}: Go field names on top, json tags below, no ObjectMeta.
        return _metadata(doc.get("Interfaces"), "Interfaces", doc.get("Metadata"), "Metadata",
                         None)  # fmt: skip
    api = doc.get("apiVersion")
    if api not in (None, "", V1ALPHA1):
        raise InvalidMetadata("apiVersion", api, f"is not a Hardware version this tool reads "
                              f"({V1ALPHA1}, {V1ALPHA2})")  # fmt: skip
    spec = mapping(require(doc, "spec", ""), "spec")
    return _metadata(spec.get("interfaces"), "spec.interfaces", spec.get("metadata"),
                     "spec.metadata", object_name(doc))  # fmt: skip


def _metadata(
    raw_ifaces: object, ifaces_path: str, raw_meta: object, meta_path: str,
    name: Optional[tuple[object, str]],
) -> Metadata:  # fmt: skip
    meta = mapping(raw_meta if raw_meta is not None else {}, meta_path)
    instance = mapping(or_empty(meta.get("instance")), f"{meta_path}.instance")
    entries = _nic_entries(raw_ifaces, ifaces_path)
    bonded = meta.get("bonding_mode") is not None
    bonding = build(Bonding, {"mode": f"{meta_path}.bonding_mode"},
                     mode=meta.get("bonding_mode", 4),
                     link_aggregation="bonded" if bonded else "individual")  # fmt: skip
    raw_ips = instance.get("ips")
    ips_path = f"{meta_path}.instance.ips"
    addresses: tuple[Address, ...] = ()
    own: dict[int, IP] = {}
    dhcp_ips = {k: _dhcp_ip(dhcp, path) for k, (path, dhcp) in enumerate(entries)}
    if raw_ips not in (None, []):
        addresses = tuple(
            read_address(item, f"{ips_path}[{i}]", flags=True)
            for i, item in enumerate(listed(raw_ips, ips_path))
        )
    else:
        first = dhcp_ips.get(0)
        addresses = (first,) if first is not None else ()
        if not bonded:  # a bond member has no address of its own
            own = {k: _own(a) for k, a in dhcp_ips.items() if a is not None and k}
    for address in configured(addresses):
        if address.problems:
            raise InvalidMetadata(*address.problems[0])
    interfaces = tuple(_interface(k, path, dhcp, bonded, own.get(k))
                       for k, (path, dhcp) in enumerate(entries))  # fmt: skip
    unique([(i.mac, f"{entries[k][0]}.dhcp.mac") for k, i in enumerate(interfaces)])
    custom = mapping(or_empty(meta.get("custom")), f"{meta_path}.custom")
    facility = mapping(or_empty(meta.get("facility")), f"{meta_path}.facility")
    hostname, hostname_path = _hostname(instance, f"{meta_path}.instance", entries, name)
    return build(
        Metadata,
        {"hostname": hostname_path, "plan": f"{meta_path}.facility.plan_slug"},
        hostname=hostname,
        interfaces=interfaces,
        addresses=addresses,
        bonding=bonding,
        private_subnets=_subnets(custom.get("private_subnets"),
                                 f"{meta_path}.custom.private_subnets"),
        plan=given(facility.get("plan_slug")),
        operating_system=_os(instance.get("operating_system"),
                             f"{meta_path}.instance.operating_system"),
        resolvers=_resolvers(entries),
    )  # fmt: skip


def _nic_entries(raw: object, path: str) -> list[tuple[str, Mapping[str, Any]]]:
    """The interfaces that name a NIC (a ``dhcp.mac``), with their paths, in order: an
    interface without one has nothing to match a host NIC by."""
    entries = []
    for i, item in enumerate(listed(raw if raw is not None else [], path)):
        item = mapping(item, f"{path}[{i}]")
        dhcp = item.get("dhcp")
        if dhcp is None:
            continue
        dhcp = mapping(dhcp, f"{path}[{i}].dhcp")
        if dhcp.get("mac") not in (None, ""):
            entries.append((f"{path}[{i}]", dhcp))
    if not entries:
        raise InvalidMetadata(f"{path}[].dhcp.mac", None, "is missing: no interface names a MAC")
    return entries


def _interface(
    k: int, path: str, dhcp: Mapping[str, Any], bonded: bool, address: Optional[IP]
) -> Interface:
    return build(
        Interface,
        {"mac": f"{path}.dhcp.mac", "os_name": f"{path}.dhcp.iface_name",
         "vlan": f"{path}.dhcp.vlan_id"},
        name=f"eth{k}",
        mac=dhcp["mac"],
        bond="bond0" if bonded else None,
        vlan=read_vlan(dhcp.get("vlan_id"), f"{path}.dhcp.vlan_id"),
        os_name=given(dhcp.get("iface_name")),
        address=address,
    )  # fmt: skip


def _own(address: Address) -> IP:
    """A NIC's own address is written as it is: an inconsistency is refused."""
    if address.problems:
        raise InvalidMetadata(*address.problems[0])
    return IP(address.interface, address.gateway)


def read_vlan(raw: object, path: str) -> Optional[int]:
    """Tinkerbell stores the VLAN id as a string ("" for none); its CRD also lets "0" and
    comma lists through, which no NIC config can carry: refused."""
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise InvalidMetadata(path, raw, "must be a string (a VLAN id 1-4094, as Tinkerbell "
                              "stores it)")  # fmt: skip
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 4 and 1 <= int(raw) <= 4094):
        raise InvalidMetadata(path, raw, "is not a VLAN id (1-4094)")
    return int(raw)


def _dhcp_ip(dhcp: Mapping[str, Any], path: str) -> Optional[Address]:
    raw = dhcp.get("ip")
    if raw is None:
        return None
    return read_address(raw, f"{path}.dhcp.ip", flags=False)


def read_address(raw: object, path: str, flags: bool) -> Address:
    """An ``instance.ips[]`` entry (``flags``: with public and management) or a
    ``dhcp.ip``: address with a dotted netmask or a /prefix in it, gateway, family."""
    item = mapping(raw, path)
    text = require(item, "address", path)
    if not isinstance(text, str):
        raise InvalidMetadata(f"{path}.address", text, "must be a string (an IP address)")
    address, _, prefix = text.partition("/")
    ip = _ip(address, f"{path}.address", text)
    interface = _with_prefix(ip, prefix, item.get("netmask"), path, text)
    family = item.get("family")
    if family not in (None, 0):  # 0: Go's zero, never written out
        if not isinstance(family, int) or isinstance(family, bool) or family not in (4, 6):
            raise InvalidMetadata(f"{path}.family", family, "must be 4 or 6")
        if family != ip.version:
            raise InvalidMetadata(f"{path}.family", family, f"is not the family of {text}")
    problems: list[Problem] = []
    gateway = None
    raw_gateway = item.get("gateway")
    if raw_gateway not in (None, ""):
        if not isinstance(raw_gateway, str):
            raise InvalidMetadata(f"{path}.gateway", raw_gateway,
                                  "must be a string (an IP address)")  # fmt: skip
        gateway = _ip(raw_gateway, f"{path}.gateway", raw_gateway)
        if gateway.version != ip.version:
            problems.append((f"{path}.gateway", raw_gateway, f"is not an IPv{ip.version} address"))
        elif gateway not in interface.network:
            problems.append((f"{path}.gateway", raw_gateway, f"is outside {interface.network}"))
    public, management = _scope(item, path, interface, flags)
    return build(Address, {"public": f"{path}.public", "management": f"{path}.management"},
                  interface=interface, gateway=gateway, family=ip.version, public=public,
                  management=management, problems=tuple(problems))  # fmt: skip


def _with_prefix(ip: IPAddress, prefix: str, netmask: object, path: str, text: str) -> IPInterface:
    if prefix:
        if not (prefix.isascii() and prefix.isdigit() and int(prefix) <= ip.max_prefixlen):
            reason = f"has no prefix length 0-{ip.max_prefixlen} after '/'"
            raise InvalidMetadata(f"{path}.address", text, reason)
        interface = ipaddress.ip_interface(f"{ip}/{int(prefix)}")
        if netmask not in (None, "") and _netmask(netmask, ip, path) != interface.network.prefixlen:
            reason = f"does not match the prefix /{prefix}"
            raise InvalidMetadata(f"{path}.netmask", netmask, reason)
        return interface
    if netmask in (None, ""):
        raise InvalidMetadata(f"{path}.netmask", netmask, f"is missing, and {text} has no /prefix")
    return ipaddress.ip_interface(f"{ip}/{_netmask(netmask, ip, path)}")


def _netmask(raw: object, ip: IPAddress, path: str) -> int:
    """A dotted netmask's prefix length; a host mask (0.0.0.255), which ipaddress would
    also take, is not a netmask."""
    if not isinstance(raw, str):
        raise InvalidMetadata(f"{path}.netmask", raw, "must be a string (a netmask)")
    mask = _ip(raw, f"{path}.netmask", raw)
    if mask.version != ip.version:
        raise InvalidMetadata(f"{path}.netmask", raw, f"is not an IPv{ip.version} netmask")
    bits = int(mask)
    length = bin(bits).count("1")
    if bits != ((1 << mask.max_prefixlen) - 1) ^ ((1 << (mask.max_prefixlen - length)) - 1):
        raise InvalidMetadata(f"{path}.netmask", raw, "is not a netmask")
    return length


def _scope(
    item: Mapping[str, Any], path: str, interface: IPInterface, flags: bool
) -> tuple[object, object]:
    """(public, management). ``public: true`` is public; otherwise the address decides:
    a private IPv4 (ipaddress's is_private) is private, any other public, and an IPv6 is
    always in the plan's one IPv6 place. Configured unless ``management: false``."""
    public: object = interface.version == 6 or not interface.ip.is_private
    management: object = True
    if flags:
        given = item.get("public")
        if given is not None and given is not False:
            public = given  # True; anything else is refused by the model's validator
        management = item.get("management", True)
    return public, management


def _hostname(
    instance: Mapping[str, Any], instance_path: str,
    entries: list[tuple[str, Mapping[str, Any]]], name: Optional[tuple[object, str]],
) -> tuple[object, str]:  # fmt: skip
    if instance.get("hostname") not in (None, ""):
        return instance["hostname"], f"{instance_path}.hostname"
    for path, dhcp in entries:
        if dhcp.get("hostname") not in (None, ""):
            return dhcp["hostname"], f"{path}.dhcp.hostname"
    if name is not None and name[0] not in (None, ""):
        return name
    where = name[1] if name else f"{instance_path}.hostname"
    raise InvalidMetadata(where, None, "is missing: no hostname in the Hardware")


def _resolvers(entries: list[tuple[str, Mapping[str, Any]]]) -> tuple[IPAddress, ...]:
    """Every interface's name_servers, in order, each once."""
    found: list[IPAddress] = []
    for path, dhcp in entries:
        servers = dhcp.get("name_servers")
        for j, server in enumerate(listed(servers if servers is not None else [],
                                         f"{path}.dhcp.name_servers")):  # fmt: skip
            (ip,) = parse_resolvers([server], f"{path}.dhcp.name_servers[{j}]")
            if ip not in found:
                found.append(ip)
    return tuple(found)


def _os(raw: object, path: str) -> OperatingSystem:
    item = mapping(or_empty(raw), path)
    slug = item.get("os_slug") if item.get("os_slug") not in (None, "") else item.get("slug")
    return build(
        OperatingSystem,
        {"distro": f"{path}.distro", "version": f"{path}.version",
         "slug": f"{path}.os_slug" if item.get("os_slug") not in (None, "") else f"{path}.slug"},
        distro=unless_na(item.get("distro")),
        version=unless_na(item.get("version")),
        slug=unless_na(slug),
    )  # fmt: skip


def _subnets(raw: object, path: str) -> tuple[ipaddress.IPv4Network, ...]:
    """No default: Equinix's 10.0.0.0/8 is its own backend network, not a Tinkerbell one."""
    subnets = []
    for i, item in enumerate(listed(raw if raw is not None else [], path)):
        try:
            if not isinstance(item, str):
                raise ValueError
            subnets.append(ipaddress.IPv4Network(item))
        except ValueError:
            raise InvalidMetadata(f"{path}[{i}]", item, "is not an IPv4 CIDR") from None
    return tuple(subnets)


def object_name(doc: Mapping[str, Any]) -> tuple[object, str]:
    meta = doc.get("metadata")
    return (meta.get("name") if isinstance(meta, Mapping) else None), "metadata.name"


def build(cls: type[B], paths: Mapping[str, str], **fields: Any) -> B:
    """Construct a model class; a validator's attribute name becomes the Hardware's path."""
    try:
        return cls(**fields)
    except InvalidMetadata as exc:
        raise InvalidMetadata(paths.get(exc.field, exc.field), exc.value, exc.reason) from None


def _ip(raw: str, path: str, shown: str) -> IPAddress:
    try:
        ip = ipaddress.ip_address(raw)
    except ValueError:
        raise InvalidMetadata(path, shown, "is not an IP address") from None
    # A scope ("fe80::1%eth0") may hold any character but '%' and '/': never into a file.
    if "%" in raw:
        raise InvalidMetadata(path, shown, "must not carry a scope (%...)")
    return ip


def unique(values: list[tuple[str, str]]) -> None:
    seen: dict[str, str] = {}
    for value, path in values:
        if value in seen:
            raise InvalidMetadata(path, value, f"appears twice (also {seen[value]})")
        seen[value] = path
