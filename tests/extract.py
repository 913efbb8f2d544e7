"""One model of "what network does this configure", from each consumer's reading.

The cross-backend test compares these: whatever the format, the same metadata must
come out as the same bonds (members by MAC, mode and options, MAC), the same VLAN (its
id and parent: a bond by name, a NIC by MAC), the same link carrying the same addresses,
default gateways, routes and resolvers, and the same DHCP NICs. Each ``from_*`` reads
what a real consumer produced, never our own files' text: ifupdown's ifquery and
ifup --no-act, netplan's generated networkd files, libnm's parsed profiles, and networkd
files parsed as systemd parses them.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Optional

Model = dict

_MODES = {
    "0": "balance-rr",
    "1": "active-backup",
    "2": "balance-xor",
    "3": "broadcast",
    "4": "802.3ad",
    "5": "balance-tlb",
    "6": "balance-alb",
}
_LACP = {"1": "fast", "0": "slow", "fast": "fast", "slow": "slow"}


def empty() -> Model:
    return {
        "bonds": {},
        "vlan": None,
        "link": None,
        "addresses": [],
        "gateways": [],
        "routes": [],
        "resolvers": [],
        "dhcp": [],
    }


def vlan(vid: object, parent: str) -> dict:
    return {"id": int(str(vid)), "parent": parent}


def bond(mode: str, miimon, updelay, downdelay, policy: str, lacp: Optional[str], mac: str) -> dict:
    return {
        "members": [],
        "mode": _MODES.get(mode, mode),
        "miimon": int(miimon),
        "updelay": int(updelay),
        "downdelay": int(downdelay),
        "xmit_hash_policy": policy,
        "lacp_rate": _LACP[lacp] if lacp is not None else None,
        "mac": mac.lower(),
    }


def finish(model: Model) -> Model:
    """Sort every list so order (which no consumer promises) does not matter."""
    for key in ("addresses", "gateways", "routes", "resolvers", "dhcp"):
        model[key] = sorted(model[key])
    for b in model["bonds"].values():
        b["members"] = sorted(b["members"])
    return model


# ---------------------------------------------------------------------------- systemd units


def unit(text: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """Sections in order, keys in order, repeats kept: systemd's own reading of a unit."""
    sections: list[tuple[str, list[tuple[str, str]]]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            sections.append((line[1:-1], []))
        else:
            key, _, value = line.partition("=")
            sections[-1][1].append((key.strip(), value.strip()))
    return sections


def _ms(value: str) -> int:
    match = re.fullmatch(r"(\d+)(ms|s)?", value)
    assert match, f"unexpected time span {value!r}"
    return int(match.group(1)) * (1000 if match.group(2) == "s" else 1)


def from_networkd(files: dict[str, str]) -> Model:
    """From ``{file name: text}`` of .netdev/.network files (ours or netplan's)."""
    model = empty()
    networks = []
    vlan_ids: dict[str, str] = {}
    for name, text in sorted(files.items()):
        sections = unit(text)
        if name.endswith(".netdev"):
            netdev = dict(next(p for s, p in sections if s == "NetDev"))
            if netdev.get("Kind") == "vlan":
                vlan_ids[netdev["Name"]] = dict(next(p for s, p in sections if s == "VLAN"))["Id"]
                continue
            options = dict(next((p for s, p in sections if s == "Bond"), []))
            model["bonds"][netdev["Name"]] = bond(
                options["Mode"],
                _ms(options.get("MIIMonitorSec", "0")),
                _ms(options.get("UpDelaySec", "0")),
                _ms(options.get("DownDelaySec", "0")),
                options.get("TransmitHashPolicy"),
                options.get("LACPTransmitRate"),
                netdev.get("MACAddress", ""),
            )
        elif name.endswith(".network"):
            networks.append(sections)
    for sections in networks:
        _network(model, sections, vlan_ids)
    return finish(model)


def _network(model: Model, sections: list, vlan_ids: dict[str, str]) -> None:
    match = dict(next(p for s, p in sections if s == "Match"))
    device = (match.get("PermanentMACAddress") or match.get("MACAddress") or match["Name"]).lower()
    for section, pairs in sections:
        if section == "Network":
            for key, value in pairs:
                if key == "Bond":
                    model["bonds"][value]["members"].append(device)
                elif key == "VLAN":
                    model["vlan"] = vlan(vlan_ids[value], device)
                elif key == "Address":
                    model["link"] = device
                    model["addresses"].append(value)
                elif key == "Gateway":
                    model["gateways"].append(value)
                elif key == "DNS":
                    model["resolvers"].append(value)
                elif key == "DHCP" and value in ("yes", "ipv4"):
                    model["dhcp"].append(device)
        elif section == "Route":
            route = dict(pairs)
            destination = route.get("Destination", "")
            if destination in ("", "0.0.0.0/0", "::/0"):
                model["gateways"].append(route["Gateway"])
            else:
                model["routes"].append([destination, route["Gateway"]])


# ---------------------------------------------------------------------------- NetworkManager


def from_nm(profiles: list[dict]) -> Model:
    """From consumers/nm_keyfile_read.py's description of each normalized profile."""
    model = empty()
    for p in sorted(profiles, key=lambda p: p["type"] != "bond"):  # bonds before ports
        if p["type"] == "bond":
            o = p["bond"]
            model["bonds"][p["interface_name"]] = bond(
                o["mode"],
                o.get("miimon", 0),
                o.get("updelay", 0),
                o.get("downdelay", 0),
                o.get("xmit_hash_policy"),
                o.get("lacp_rate"),
                p["cloned_mac"] or "",
            )
            device = p["interface_name"]
        elif p["master"]:
            model["bonds"][p["master"]]["members"].append(p["mac"].lower())
            continue
        elif p["type"] == "vlan":
            device = p["interface_name"]
            parent = p["vlan"]["parent"]
            macs = {q["id"]: q["mac"].lower() for q in profiles if q["mac"]}
            model["vlan"] = vlan(p["vlan"]["id"], macs.get(parent, parent))
        else:
            device = p["mac"].lower()
        for family in ("ipv4", "ipv6"):
            _nm_ip(model, device, family, p[family])
    return finish(model)


def _nm_ip(model: Model, device: str, family: str, ip: Optional[dict]) -> None:
    if ip is None:  # a port: normalize() removed its IP settings
        return
    if ip["method"] == "auto":
        if family == "ipv4":  # DHCPv4; the IPv6 side of a DHCP profile is plain SLAAC
            model["dhcp"].append(device)
        return
    if ip["addresses"]:
        model["link"] = device
    model["addresses"] += ip["addresses"]
    model["gateways"] += [ip["gateway"]] if ip["gateway"] else []
    model["routes"] += [list(r) for r in ip["routes"]]
    model["resolvers"] += ip["dns"]


# ---------------------------------------------------------------------------- ENI


def from_eni(options: dict[str, list[tuple[str, str]]], dhcp: list[str], udev_rules: str) -> Model:
    """From ifquery's options per auto interface (in order, repeats kept), the interfaces
    ``ifup --no-act -v`` would run DHCP on, and the udev rules naming NICs by MAC."""
    macs = dict(
        (name, mac)
        for mac, name in re.findall(r'ATTR\{address\}=="([^"]+)", NAME="([^"]+)"', udev_rules)
    )
    model = empty()
    for iface, pairs in options.items():
        o = dict(pairs)
        if "bond-slaves" in o:
            b = bond(
                o["bond-mode"],
                o["bond-miimon"],
                o["bond-updelay"],
                o["bond-downdelay"],
                o.get("bond-xmit_hash_policy"),
                o.get("bond-lacp-rate"),
                o["hwaddress"],
            )
            b["members"] = [macs[m] for m in o["bond-slaves"].split()]
            model["bonds"][iface] = b
    for iface, pairs in options.items():
        o = dict(pairs)
        if "vlan-raw-device" in o:
            raw = o["vlan-raw-device"]
            model["vlan"] = vlan(o["vlan-id"], macs.get(raw, raw))
        device = iface.split(":")[0]
        device = macs.get(device, device)
        _eni_addresses(model, device, pairs)
    model["dhcp"] = [macs[name] for name in dhcp]
    return finish(model)


def _eni_addresses(model: Model, device: str, pairs: list[tuple[str, str]]) -> None:
    """ifquery prints each stanza's options in turn: an ``address`` starts the next one."""
    address = None
    for key, value in pairs:
        if key == "address":
            address = value
            model["link"] = device
        elif key == "netmask" and address is not None:
            # IPv4 stanzas give a dotted netmask, IPv6 ones a prefix length.
            network = ipaddress.ip_network(f"{address}/{value}", strict=False)
            model["addresses"].append(f"{address}/{network.prefixlen}")
        elif key == "gateway":
            model["gateways"].append(value)
        elif key == "dns-nameservers":
            model["resolvers"] += value.split()
        elif key in ("up", "post-up"):
            route = re.fullmatch(r"ip route add (\S+) via (\S+)", value)
            if route:
                model["routes"].append([route.group(1), route.group(2)])
