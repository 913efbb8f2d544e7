"""A ``tinkerbell.org/v1alpha2`` Hardware (tinkerbell/tinkerbell
api/v1alpha2/tinkerbell/hardware.go), turned into the same ``Metadata`` as a v1alpha1
one: its NICs in a map by MAC, addresses in ``ipam``. docs/tinkerbell.md has the table.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional

from ..errors import InvalidMetadata
from . import IP, Address, Bonding, Interface, Metadata, configured, parse_resolvers
from .fields import listed, mapping, or_empty, require
from .tinkerbell import build, object_name, read_address, read_vlan, unique


def parse(doc: Mapping[str, Any]) -> Metadata:
    """tinkerbell.org/v1alpha2 (api/v1alpha2/tinkerbell/hardware.go): NICs in a map by MAC,
    addresses in ``ipam`` (a prefix as a string), no bonding mode, OS or plan: rewritten
    to the v1alpha1 paths' meaning, its own paths kept for messages."""
    spec = mapping(require(doc, "spec", ""), "spec")
    nics = mapping(require(spec, "networkInterfaces", "spec"), "spec.networkInterfaces")
    if not nics:
        raise InvalidMetadata("spec.networkInterfaces", {}, "names no interface")
    interfaces, addresses, resolvers, hostname = [], [], [], None
    for k, (mac, raw) in enumerate(nics.items()):
        path = f"spec.networkInterfaces[{mac!r}]"
        nic = mapping(or_empty(raw), path)
        dhcp = mapping(or_empty(nic.get("dhcp")), f"{path}.dhcp")
        v4 = mapping(or_empty(dhcp.get("v4")), f"{path}.dhcp.v4")
        v6 = mapping(or_empty(dhcp.get("v6")), f"{path}.dhcp.v6")
        ipam = mapping(or_empty(nic.get("ipam")), f"{path}.ipam")
        own = [_ipam(ipam.get(f), f"{path}.ipam.{f}", 4 if f == "ipv4" else 6)
               for f in ("ipv4", "ipv6")]  # fmt: skip
        found = [a for a in own if a is not None]
        if k == 0:
            addresses = found
        interfaces.append(build(
            Interface, {"mac": path, "vlan": f"{path}.dhcp.v4.vlanID"}, name=f"eth{k}", mac=mac,
            vlan=read_vlan(v4.get("vlanID"), f"{path}.dhcp.v4.vlanID"),
            address=IP(found[0].interface, found[0].gateway) if k and found else None,
        ))  # fmt: skip
        for f, block in (("v4", v4), ("v6", v6)):
            servers = block.get("nameservers")
            for j, s in enumerate(listed(servers if servers is not None else [],
                                        f"{path}.dhcp.{f}.nameservers")):  # fmt: skip
                (ip,) = parse_resolvers([s], f"{path}.dhcp.{f}.nameservers[{j}]")
                if ip not in resolvers:
                    resolvers.append(ip)
        if hostname is None and v4.get("hostname") not in (None, ""):
            hostname = (v4["hostname"], f"{path}.dhcp.v4.hostname")
    for address in configured(tuple(addresses)):
        if address.problems:
            raise InvalidMetadata(*address.problems[0])
    unique([(i.mac, f"spec.networkInterfaces[{m!r}]") for i, m in zip(interfaces, nics)])
    name, name_path = hostname or object_name(doc)
    if name in (None, ""):
        raise InvalidMetadata(name_path, None, "is missing: no hostname in the Hardware")
    return build(
        Metadata, {"hostname": name_path}, hostname=name, interfaces=tuple(interfaces),
        addresses=tuple(addresses), bonding=Bonding(link_aggregation="individual"),
        private_subnets=(), resolvers=tuple(resolvers),
    )  # fmt: skip


def _ipam(raw: object, path: str, family: int) -> Optional[Address]:
    if raw is None:
        return None
    item = mapping(raw, path)
    prefix = item.get("prefix")
    if not isinstance(prefix, str) or not prefix:
        raise InvalidMetadata(f"{path}.prefix", prefix, "must be a string (a prefix length)")
    address = item.get("address")
    if isinstance(address, str) and "/" in address:
        raise InvalidMetadata(f"{path}.address", address, "must be an address without /prefix")
    rewritten = {"address": f"{address}/{prefix}" if isinstance(address, str) else address,
                 "gateway": item.get("gateway"), "family": family}  # fmt: skip
    return read_address(rewritten, path, flags=False)
