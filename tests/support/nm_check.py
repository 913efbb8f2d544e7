"""What NetworkManager parsed, compared with the plan it was written from.

NetworkManager accepts many wrong files without a word (a non-contiguous NETMASK becomes
a /32, `MASTER=` a bond that does not exist is kept as is), so a clean log proves little:
`differences()` compares every value that matters with what the Plan says, a Plan built
from the metadata (packetnetworking.plan), never from the files. The same comparison
serves both of NetworkManager's readers, ifcfg-rh and keyfile: they must agree with the
plan and so with each other.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Optional

from packetnetworking.plan import INDIVIDUAL, IP, Bond, Nic, Plan, Vlan

from .nm_run import Parsed
from .nm_terse import Connection, split_list

# Keys that only the legacy network scripts (initscripts) read: NetworkManager's ifcfg-rh
# logs each as "key X is unknown and ignored" (at debug level). Any other unknown key is
# a key NetworkManager was meant to read and did not: a failure.
LEGACY_ONLY_KEYS = {
    # ifup-aliases brings `bond0:0` up together with its parent; NetworkManager merges
    # every alias file into its parent's connection, so it has nothing to decide.
    "ONPARENT": "ifup-aliases: bring the alias up with its parent; NM merges aliases anyway",
}

# What an alias file (ifcfg-bond0:0) may hold. NetworkManager's read_aliases() takes only
# the address from it (IPADDR, PREFIX or NETMASK) and DEVICE must name the file; a GATEWAY
# or DEFROUTE there is read only when the parent has no gateway, and otherwise dropped
# without a word, while ifup-aliases would act on it: so it is refused here.
ALIAS_KEYS = {"DEVICE", "IPADDR", "PREFIX", *LEGACY_ONLY_KEYS}

_KEY_LINE = re.compile(r"^([A-Z][A-Z0-9_]*)=", re.M)
_UNKNOWN_KEY = re.compile(r"ifcfg-rh: .*?([^/\s]+):\d+: key (\S+) is unknown and ignored")
_WARNING = re.compile(r"<(warn|error)>")
_UNMANAGED = re.compile(r'^NM_CONTROLLED="?no"?$', re.M)


def problems(plan: Plan, files: Mapping[str, str], parsed: Parsed) -> list[str]:
    """Everything wrong with how NetworkManager read `files`, written from `plan`."""
    return (
        log_problems(parsed.log)
        + file_problems(parsed.connections, files)
        + differences(plan, parsed.connections)
    )


def log_problems(log: str) -> list[str]:
    """The settings plugins' warnings and errors, and keys it ignored that are not legacy-only."""
    problems = [
        f"NetworkManager: {line}"
        for line in log.splitlines()
        if _WARNING.search(line) and ("ifcfg-rh" in line or "keyfile" in line)
    ]
    for match in _UNKNOWN_KEY.finditer(log):
        filename, key = match.groups()
        if key not in LEGACY_ONLY_KEYS:
            problems.append(f"{filename}: key {key} is unknown to NetworkManager")
    return problems


def differences(plan: Plan, connections: Iterable[Connection]) -> list[str]:
    """Every way the parsed connections differ from the plan (empty: they agree)."""
    by_id = {c.id: c for c in connections}
    expected = _expected_ids(plan)
    out = [f"connection {i!r}: not in the plan" for i in sorted(set(by_id) - set(expected))]
    out += [f"connection {i!r}: missing" for i in sorted(set(expected) - set(by_id))]
    nics = {nic.name: nic for nic in plan.nics}
    for bond in plan.bonds:
        if bond.name in by_id:
            out += _bond(plan, bond, by_id[bond.name])
        for member in bond.members:
            if member in by_id:
                out += _port(nics[member], bond, by_id[member])
    if plan.link in nics and plan.link in by_id:
        conn = by_id[plan.link]
        out += _ethernet(nics[plan.link], conn) + _no_master(conn) + _addresses(plan, conn)
    if plan.vlan and plan.vlan.name in by_id:
        out += _vlan(plan, plan.vlan, by_id[plan.vlan.name])
    if plan.vlan and plan.mode == INDIVIDUAL and plan.vlan.parent in by_id:
        conn = by_id[plan.vlan.parent]
        out += _ethernet(nics[plan.vlan.parent], conn) + _no_master(conn) + _unaddressed(conn)
    for nic in plan.static_nics:
        if nic.name in by_id:
            out += _ethernet(nic, by_id[nic.name]) + _no_master(by_id[nic.name])
            out += _own(nic, by_id[nic.name])
    for nic in plan.dhcp_nics:
        if nic.name in by_id:
            conn = by_id[nic.name]
            out += _ethernet(nic, conn) + _no_master(conn)
            # IPv6 is left to each format's default: the plan says DHCP, for IPv4.
            out += _equal(conn, {"ipv4.method": "auto"}) + _no_static_ipv6(conn)
    return out


def file_problems(connections: Iterable[Connection], files: Mapping[str, str]) -> list[str]:
    """Each profile file (not an alias, not a route file) is exactly one connection, a
    file that hands its NIC back (NM_CONTROLLED=no) none, and alias files hold only what
    both readers take from them."""
    names = {name.rsplit("/", 1)[-1] for name in files}
    unmanaged = {path.rsplit("/", 1)[-1] for path, text in files.items() if _UNMANAGED.search(text)}
    profiles = {n for n in names if n.startswith("ifcfg-") and ":" not in n} - unmanaged
    profiles |= {n for n in names if n.endswith(".nmconnection")}
    read = [c.filename.rsplit("/", 1)[-1] for c in connections]
    out = [f"{n}: read {read.count(n)} times" for n in sorted(profiles) if read.count(n) != 1]
    out += [f"{n}: a connection from no written file" for n in read if n not in profiles]
    # ifcfg-rh turns such a file into an unmanaged-device spec (mac:HWADDR), never a
    # profile; the spec itself acts only on a device with a permanent MAC, which veths
    # lack, so it is proven at boot (tests/test_vm_bonds.py, rhel9-ifcfg-individual).
    out += [f"{n}: NM_CONTROLLED=no, yet read as a connection" for n in read if n in unmanaged]
    for path, text in files.items():
        name = path.rsplit("/", 1)[-1]
        if name.startswith("ifcfg-") and ":" in name:
            extra = sorted(set(_KEY_LINE.findall(text)) - ALIAS_KEYS)
            out += [f"{name}: {key} in an alias file" for key in extra]
    return out


# ---------------------------------------------------------------------------- per connection


def _expected_ids(plan: Plan) -> set[str]:
    ids = {b.name for b in plan.bonds} | {m for b in plan.bonds for m in b.members}
    ids |= {n.name for n in plan.dhcp_nics} | {n.name for n in plan.static_nics}
    ids |= {name for name in (plan.link, plan.carrier) if name}
    return ids


def _bond(plan: Plan, bond: Bond, conn: Connection) -> list[str]:
    options = dict(o.split("=", 1) for o in split_list(conn.get("bond.options")))
    wanted = {
        "mode": bond.mode_name,
        "miimon": str(bond.miimon),
        "updelay": str(bond.updelay),
        "downdelay": str(bond.downdelay),
        "xmit_hash_policy": bond.xmit_hash_policy,
    }
    if bond.lacp_rate:
        wanted["lacp_rate"] = bond.lacp_rate
    out = [f"{bond.name}: bond.options {options} != {wanted}"] if options != wanted else []
    out += _equal(conn, {
        "connection.type": "bond",
        "connection.interface-name": bond.name,
        "802-3-ethernet.cloned-mac-address": bond.mac,
    })  # fmt: skip
    out += _no_master(conn)
    if bond.name == plan.link:
        return out + _addresses(plan, conn)
    return out + _unaddressed(conn)


def _unaddressed(conn: Connection) -> list[str]:
    """A second bond, or the bond or NIC under the VLAN: up, with no address."""
    return _equal(conn, {"ipv4.method": "disabled"}) + _no_ipv6(conn)


def _vlan(plan: Plan, vlan: Vlan, conn: Connection) -> list[str]:
    """The VLAN: its id and parent as NetworkManager parsed them, and the link's addressing."""
    out = _equal(conn, {
        "connection.type": "vlan",
        "connection.interface-name": vlan.name,
        "vlan.id": str(vlan.id),
        "vlan.parent": vlan.parent,
    })  # fmt: skip
    return out + _no_master(conn) + _addresses(plan, conn)


def _port(nic: Nic, bond: Bond, conn: Connection) -> list[str]:
    return _ethernet(nic, conn) + _equal(conn, {
        "connection.master": bond.name,
        "connection.slave-type": "bond",
        # A port has no IP configuration of its own.
        "ipv4.method": "",
        "ipv6.method": "",
    })  # fmt: skip


def _ethernet(nic: Nic, conn: Connection) -> list[str]:
    out = _equal(conn, {
        "connection.type": "802-3-ethernet",
        "802-3-ethernet.mac-address": nic.mac,
        "connection.autoconnect": "yes",
    })  # fmt: skip
    # The MAC binds the profile to the NIC; ifcfg's DEVICE also names it, a keyfile need not.
    if conn.get("connection.interface-name") not in (nic.name, ""):
        out.append(f"{conn.id}: interface-name {conn.get('connection.interface-name')!r}")
    return out


def _no_master(conn: Connection) -> list[str]:
    return _equal(conn, {"connection.master": "", "connection.slave-type": ""})


def _addresses(plan: Plan, conn: Connection) -> list[str]:
    """The link: primary IPv4 and the private alias in one list, gateways, routes, DNS."""
    v4 = [ip for ip in (plan.primary4, plan.alias4) if ip]
    out = _equal(conn, {
        "ipv4.method": "manual" if v4 else "disabled",
        "ipv4.gateway": _gateway(plan.primary4),
        "ipv6.gateway": _gateway(plan.public6),
    })  # fmt: skip
    out += _equal(conn, {"ipv6.method": "manual"}) if plan.public6 else _no_ipv6(conn)
    out += _same_set(conn, "ipv4.addresses", [ip.cidr for ip in v4])
    out += _same_set(conn, "ipv6.addresses", [plan.public6.cidr] if plan.public6 else [])
    out += _same_set(conn, "ipv4.routes", [f"{r.destination} {r.gateway}" for r in plan.routes])
    for version in (4, 6):  # each family's resolvers in its own setting
        dns, wanted = (
            conn.values(f"ipv{version}.dns"),
            [str(r) for r in plan.resolvers if r.version == version],
        )
        if dns != wanted:
            out.append(f"{conn.id}: ipv{version}.dns {dns} != {wanted}")
    return out


def _own(nic: Nic, conn: Connection) -> list[str]:
    """A NIC's own address: exactly it, and a gateway only where the plan kept it."""
    ip = nic.address
    assert ip is not None
    family, other = ("ipv4", "ipv6") if ip.version == 4 else ("ipv6", "ipv4")
    out = _equal(conn, {f"{family}.method": "manual", f"{family}.gateway": _gateway(ip)})
    out += _same_set(conn, f"{family}.addresses", [ip.cidr])
    return out + _same_set(conn, f"{other}.addresses", [])


def _no_ipv6(conn: Connection) -> list[str]:
    # ifcfg-rh reads IPV6INIT=no as "ignore" (leave the kernel's IPv6 alone); a keyfile
    # may say "disabled". Either way no address, route or RA is configured.
    if conn.get("ipv6.method") in ("ignore", "disabled"):
        return []
    return [f"{conn.id}: ipv6.method = {conn.get('ipv6.method')!r}, the plan has no IPv6"]


def _no_static_ipv6(conn: Connection) -> list[str]:
    if conn.values("ipv6.addresses") or conn.get("ipv6.gateway"):
        return [f"{conn.id}: static IPv6 on a DHCP NIC"]
    return []


def _gateway(ip: Optional[IP]) -> str:
    return str(ip.gateway) if ip and ip.gateway else ""


def _same_set(conn: Connection, key: str, wanted: list[str]) -> list[str]:
    got = conn.values(key)
    if sorted(got) != sorted(wanted):
        return [f"{conn.id}: {key} {got} != {wanted}"]
    return []


def _equal(conn: Connection, wanted: Mapping[str, str]) -> list[str]:
    """Values compared case-insensitively (nmcli prints MACs in upper case)."""
    return [
        f"{conn.id}: {key} = {conn.get(key)!r}, the plan says {value!r}"
        for key, value in wanted.items()
        if conn.get(key).lower() != value.lower()
    ]
