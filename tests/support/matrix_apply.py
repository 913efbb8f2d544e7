"""Apply a case's config for real in a network namespace and compare with the metadata.

What the kernel must show after the image's own ``ifup -a`` is worked out from the
metadata document alone (not from the tool's Plan), so a wrong Plan cannot make its
own expectation: the management addresses on the link, the default gateways, the
private subnets via the private gateway. After ``ifdown -a`` nothing may be left.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import re
import subprocess
from dataclasses import dataclass
from typing import Any, Optional

from . import netns
from .matrix import Prepared

DEFAULT_PRIVATE_SUBNETS = ("10.0.0.0/8",)


@dataclass(frozen=True)
class Expected:
    link: str  # the interface carrying the addresses
    members: tuple[str, ...]  # bonded: the NICs enslaved to the link
    addresses: frozenset[tuple[str, str]]  # (ifname, address/prefix)
    labels: dict[str, str]  # IPv4 address -> its label (ENI's "NIC:0" alias)
    routes4: frozenset[tuple[str, str, str]]  # (destination, gateway, device)
    routes6: frozenset[tuple[str, str, str]]


def expected(doc: dict[str, Any], nics: list[str], alias_labels: bool) -> Expected:
    network = doc["network"]
    first = network["interfaces"][0]
    bonded = network["bonding"]["link_aggregation"] != "individual"
    link = first["bond"] if bonded else nics[0]
    members = tuple(nics) if bonded else ()
    picked = _management(network["addresses"])
    pub4, pub6, priv4 = picked.get((4, True)), picked.get((6, True)), picked.get((4, False))
    addresses = frozenset((link, _cidr(a)) for a in picked.values())
    labels = {}
    if alias_labels:
        labels = {a["address"]: link for a in (pub4, priv4) if a}
        if pub4 and priv4:
            labels[priv4["address"]] = f"{link}:0"
    routes4 = set()
    default4 = pub4 or priv4
    if default4:
        routes4.add(("default", default4["gateway"], link))
    if pub4 and priv4:  # the private address is an alias: its subnets get routes
        for subnet in doc.get("private_subnets") or DEFAULT_PRIVATE_SUBNETS:
            routes4.add((subnet, priv4["gateway"], link))
    routes6 = {("default", _compressed(pub6["gateway"]), link)} if pub6 else set()
    return Expected(link, members, addresses, labels, frozenset(routes4), frozenset(routes6))


def _management(addresses: list[dict[str, Any]]) -> dict[tuple[int, bool], dict[str, Any]]:
    """The first management address of each (family, public) kind, as DESIGN.md says."""
    picked: dict[tuple[int, bool], dict[str, Any]] = {}
    for a in addresses:
        if a.get("management") and a.get("enabled", True):
            picked.setdefault((a["address_family"], a["public"]), a)
    return picked


def _cidr(a: dict[str, Any]) -> str:
    return f"{_compressed(a['address'])}/{a['cidr']}"


def _compressed(address: str) -> str:
    return str(ipaddress.ip_address(address))  # as iproute2 prints it


def apply_and_compare(p: Prepared, up: list[str], down: list[str], alias_labels: bool) -> str:
    want = expected(p.doc, p.nic_names(), alias_labels)
    res = netns.apply_in_netns(p.root, p.nic_names(), up, down)
    _clean(res.up, "up")
    compare_state(res.after_up, want, f"after {' '.join(up)}")

    noise = _down_noise(res.down)
    after = res.after_down
    assert not _global(after), f"left after {' '.join(down)}: {_global(after)}"
    assert after.route4 == [], f"IPv4 routes left: {after.route4}"
    assert not _routes(after.route6), f"IPv6 routes left: {after.route6}"
    if want.members:
        assert want.link not in {link["ifname"] for link in after.addr}, "the bond is still there"
    said = f" (it said: {'; '.join(noise)})" if noise else ""
    return (
        f"{' '.join(up)}: {len(want.addresses)} addresses on {want.link}, "
        f"{len(want.routes4) + len(want.routes6)} routes; {' '.join(down)} left nothing{said}"
    )


def compare_state(state: netns.NetState, want: Expected, when: str) -> None:
    """The addresses, alias labels, routes and bond members `want` says, and no others."""
    got = {(a["ifname"], f"{a['local']}/{a['prefixlen']}") for a in _global(state)}
    assert got == want.addresses, f"addresses {when}: {sorted(got)}"
    labels = {a["local"]: a.get("label") for a in _global(state) if a["family"] == "inet"}
    for address, label in want.labels.items():
        assert labels.get(address) == label, f"{address} is labelled {labels.get(address)}"
    assert _routes(state.route4) == want.routes4, f"IPv4 routes {when}: {state.route4}"
    assert _routes(state.route6) == want.routes6, f"IPv6 routes {when}: {state.route6}"
    masters = {link["ifname"]: link.get("master") for link in state.addr}
    for member in want.members:
        assert masters.get(member) == want.link, f"{member} is not in {want.link}: {masters}"


def _clean(result: netns.CmdResult, step: str) -> None:
    """A step must succeed and say nothing: a tool's complaint is a failure."""
    assert result.returncode == 0, f"{step}: exit {result.returncode}: {result.stderr}"
    assert not result.stderr.strip(), f"{step} ({' '.join(result.argv)}) said: {result.stderr}"


# Taking a link down drops its IPv6 addresses and routes (keep_addr_on_down=0), and
# ifupdown takes the inet stanza down first, so its inet6 method and ifupdown-ng's
# post-down find them gone already and say so. Nothing else may be said.
_ALREADY_GONE = re.compile(r"RTNETLINK answers: No such process|Error: ipv6: address not found\.")


def _down_noise(result: netns.CmdResult) -> list[str]:
    """Down must succeed; it may only report that something was already gone."""
    assert result.returncode == 0, f"down: exit {result.returncode}: {result.stderr}"
    lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
    other = [line for line in lines if not _ALREADY_GONE.fullmatch(line)]
    assert not other, f"down ({' '.join(result.argv)}) said: {other}"
    return lines


def _global(state: netns.NetState) -> list[dict[str, Any]]:
    return [a for a in state.addresses() if a.get("scope") == "global"]


def _routes(routes: list[dict[str, Any]]) -> frozenset[tuple[str, str, str]]:
    """Routes someone added: not the kernel's own (connected subnets, fe80::/64)."""
    return frozenset(
        (r["dst"], r.get("gateway", ""), r.get("dev", ""))
        for r in routes
        if r.get("protocol") != "kernel"
    )


@functools.lru_cache(maxsize=1)
def bond_unsupported() -> Optional[str]:
    """Why no bond device can be made here, or None when one can.

    Only tried when the bonding driver is already there: loading the module would
    create a bond0 in the host's own namespace, and the host is never touched.
    """
    if not os.path.isdir("/sys/module/bonding"):
        return "no bonding driver in the running kernel (/sys/module/bonding is missing)"
    proc = subprocess.run(
        ["unshare", "-n", "ip", "link", "add", "pnprobe0", "type", "bond"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    return proc.stderr.strip() or f"exit {proc.returncode}" if proc.returncode else None
