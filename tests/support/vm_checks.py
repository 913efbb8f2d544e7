"""Judge a server VM's report (vm_guest.py) against the metadata document alone.

The bond options expected are the ones DESIGN.md gives every bond (MII polling 100 ms,
up and down delay 200 ms; in 802.3ad also fast LACP and layer3+4 hashing); the mode,
ports, MAC, addresses and routes come from the metadata, never from the tool's Plan, so
a wrong Plan cannot make its own expectation. Each check raises AssertionError naming
what it saw; check_cell returns a one-line summary for the matrix detail.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import re
from dataclasses import dataclass
from typing import Any

from . import matrix_apply, netns
from .vm_cells import (
    DHCP_GATEWAY,
    DHCP_PREFIX,
    DHCP_RANGE,
    Outcome,
    VmCell,
    bonds_of,
    gateways,
    port_names,
)

# /proc/net/bonding's "Bonding Mode:" line for the metadata's mode number.
MODE_TEXT = {
    4: "IEEE 802.3ad Dynamic link aggregation",
    5: "transmit load balancing",
    1: "fault-tolerance (active-backup)",
}
COMMON_OPTIONS = {
    "MII Polling Interval (ms)": "100",
    "Up Delay (ms)": "200",
    "Down Delay (ms)": "200",
}
LACP_OPTIONS = {"LACP rate": "fast", "Transmit Hash Policy": "layer3+4 (1)"}
ZERO_MAC = "00:00:00:00:00:00"


@dataclass(frozen=True)
class BondState:
    """/proc/net/bonding/BOND: the master's fields and each port's, first value of a key."""

    master: dict[str, str]
    ports: dict[str, dict[str, str]]

    @classmethod
    def parse(cls, text: str) -> BondState:
        blocks = re.split(r"\n(?=Slave Interface: )", text)
        ports = {}
        for block in blocks[1:]:
            fields = _fields(block)
            ports[fields["Slave Interface"]] = fields
        return cls(_fields(blocks[0]), ports)


def _fields(block: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in block.splitlines():
        key, sep, value = line.strip().partition(": ")
        if sep:
            fields.setdefault(key, value.strip())
        elif line.strip().startswith("details partner lacp pdu"):
            # The partner's "system mac address" follows; keep it apart from the actor's.
            fields.setdefault("partner block", "")
        if "partner block" in fields and key == "system mac address":
            fields.setdefault("partner system mac", value.strip())
    return fields


def check_bond(outcome: Outcome, cell: VmCell, bond: str, lacp: bool, mode: int) -> str:
    state = BondState.parse(outcome.section(f"bonding {bond}"))
    got_mode = state.master.get("Bonding Mode")
    assert got_mode == MODE_TEXT[mode], f"{bond}: mode {got_mode!r}, want {MODE_TEXT[mode]!r}"
    wanted = {**COMMON_OPTIONS, **(LACP_OPTIONS if lacp else {})}
    for key, value in wanted.items():
        got = state.master.get(key)
        assert got == value, f"{bond}: {key} is {got!r}, want {value!r}"
    ports = list(port_names(cell, bond))
    assert sorted(state.ports) == sorted(ports), f"{bond}: ports {sorted(state.ports)}"
    down = [p for p, fields in state.ports.items() if fields.get("MII Status") != "up"]
    assert not down, f"{bond}: ports not up: {down}"
    if not lacp:
        return f"{bond} {got_mode}, ports {'+'.join(ports)} up"
    aggregators = {fields.get("Aggregator ID") for fields in state.ports.values()}
    active = state.master.get("Aggregator ID")  # the Active Aggregator Info's
    assert aggregators == {active}, f"{bond}: ports in aggregators {aggregators}, active {active}"
    assert state.master.get("Number of ports") == str(len(ports)), (
        f"{bond}: {state.master.get('Number of ports')} ports in the active aggregator"
    )
    partner = state.master.get("Partner Mac Address", ZERO_MAC)
    assert partner != ZERO_MAC, f"{bond}: no LACP partner (Partner Mac Address {partner})"
    for p, fields in state.ports.items():
        mac = fields.get("partner system mac", ZERO_MAC)
        assert mac == partner, f"{bond}: port {p} has partner {mac}, the bond {partner}"
    return f"{bond} 802.3ad, {len(ports)} ports up in aggregator {active}, partner {partner}"


def check_network(outcome: Outcome, cell: VmCell) -> str:
    """The plan's MAC, addresses, alias label and routes on the bond carrying them."""
    state = netns.NetState(
        json.loads(outcome.section("addr")),
        json.loads(outcome.section("route4")),
        json.loads(outcome.section("route6")),
    )
    nics = [n.name for n in cell.nics()]
    # Only ifupdown labels the private IPv4 NIC:0. ifupdown-ng runs `ip addr add ... dev
    # bond0:0` for its bond0:0 stanza, which iproute2 adds to bond0 unlabelled (seen at
    # boot in alpine-bonded); NetworkManager, networkd and netplan merge it.
    want = matrix_apply.expected(cell.doc, nics, alias_labels=cell.os.startswith("debian"))
    # expected() puts every NIC in the one bond; with two bonds only some are its ports.
    if cell.bonded:
        want = dataclasses.replace(want, members=tuple(port_names(cell, want.link)))
    links = {link["ifname"]: link for link in json.loads(outcome.section("link"))}
    mac = cell.doc["network"]["bonding"]["mac"].lower()
    got_mac = links.get(want.link, {}).get("address")
    assert got_mac == mac, f"{want.link} has MAC {got_mac}, the metadata says {mac}"
    carrier = want.link
    if cell.vlan is not None:
        carrier = check_vlan(links, want.link, cell.vlan)
        want = _on_vlan(want, carrier)
    matrix_apply.compare_state(state, want, "at boot")
    return f"{carrier} {mac}, {len(want.addresses)} addresses, routes as the metadata says"


def check_vlan(links: dict[str, Any], bond: str, vlan: int) -> str:
    """The VLAN the addresses ride: BOND.ID, an 802.1Q link of that id over the bond."""
    name = f"{bond}.{vlan}"
    link = links.get(name)
    assert link is not None, f"no VLAN link {name}: {sorted(links)}"
    info = link.get("linkinfo", {})
    data = info.get("info_data", {})
    assert info.get("info_kind") == "vlan", f"{name} is a {info.get('info_kind')!r} link"
    assert data.get("id") == vlan, f"{name} has VLAN id {data.get('id')}, want {vlan}"
    assert data.get("protocol") == "802.1Q", f"{name} is {data.get('protocol')}"
    assert link.get("link") == bond, f"{name} is over {link.get('link')}, want {bond}"
    assert link.get("operstate") == "UP", f"{name} is {link.get('operstate')}"
    return name


def _on_vlan(want: matrix_apply.Expected, vlan: str) -> matrix_apply.Expected:
    """`want` with the addresses, labels and routes on the VLAN link; the bond keeps its
    members."""

    def moved(items: frozenset[tuple[str, ...]]) -> frozenset[Any]:
        return frozenset((*item[:-1], vlan) for item in items)

    return dataclasses.replace(
        want,
        addresses=frozenset((vlan, cidr) for _, cidr in want.addresses),
        labels={address: vlan for address in want.labels},
        routes4=moved(want.routes4),
        routes6=moved(want.routes6),
    )


def check_pings(outcome: Outcome, cell: VmCell) -> str:
    v4, v6 = gateways(cell.doc)
    failed = [t for t in (*v4, *v6) if outcome.section(f"ping {t}").strip() != "ok"]
    assert not failed, f"no answer from {failed}"
    return f"{len(v4) + len(v6)} gateways answer"


def check_dhcp(outcome: Outcome, cell: VmCell) -> str:
    """DHCP mode: each DHCP NIC holds one lease from the switch's range, nothing else global
    (none of the document's static addresses), a default route via the lease's router,
    which answers."""
    first, last = (ipaddress.ip_address(a) for a in DHCP_RANGE)
    dhcp_nics = [f"eth{i}" for i, iface in enumerate(cell.doc["network"]["interfaces"])
                 if iface.get("dhcp")]  # fmt: skip
    assert dhcp_nics, "a DHCP cell whose document asks no NIC for DHCP"
    addresses = [
        {**a, "ifname": link["ifname"]}
        for link in json.loads(outcome.section("addr"))
        for a in link["addr_info"]
        if a.get("scope") == "global"
    ]
    for nic in dhcp_nics:
        mine = [a for a in addresses if a["ifname"] == nic]
        assert len(mine) == 1 and mine[0]["family"] == "inet", f"{nic} holds {mine}"
        lease = ipaddress.ip_address(mine[0]["local"])
        assert first <= lease <= last and mine[0]["prefixlen"] == DHCP_PREFIX, (
            f"{nic} holds {lease}/{mine[0]['prefixlen']}, not a lease from {DHCP_RANGE}"
        )
        assert mine[0].get("dynamic"), f"{nic}'s {lease} is not a DHCP lease (not dynamic)"
    others = [a["local"] for a in addresses if a["ifname"] not in dhcp_nics]
    assert not others, f"addresses besides the leases: {others}"
    defaults = [r for r in json.loads(outcome.section("route4")) if r.get("dst") == "default"]
    assert any(r.get("gateway") == DHCP_GATEWAY for r in defaults), f"default routes {defaults}"
    assert outcome.section(f"ping {DHCP_GATEWAY}").strip() == "ok", "the router does not answer"
    failed_units = outcome.section("failed-units").strip()
    assert not failed_units, f"failed units: {failed_units}"
    return f"{', '.join(dhcp_nics)} leased from {DHCP_RANGE[0]}-{DHCP_RANGE[1]}; router answers"


def check_nm(outcome: Outcome, cell: VmCell) -> str:
    """The NetworkManager that ran is the cell's, and every device it brought up has its
    connection from a file in the cell's directory (ifcfg-rh's or the keyfile plugin's)."""
    assert cell.nm is not None
    daemon, directory = cell.nm()
    lines = outcome.section("nm").splitlines()
    exe = lines[0].removeprefix("exe ") if lines else ""
    assert exe == daemon, f"NetworkManager ran as {exe!r}, not {daemon!r}"
    active = dict(line.split(":", 1) for line in lines[1:] if ":" in line)
    # The devices the plan configures: the bonds and their ports, or the first NIC (an
    # untouched NIC may get NetworkManager's own automatic profile, as on RHEL).
    nics = [n.name for n in cell.nics()]
    devices = {*nics, *bonds_of(cell.doc)} if cell.bonded else {nics[0]}
    missing = sorted(devices - set(active))
    assert not missing, f"no active connection on {missing}: {active}"
    elsewhere = {d: f for d, f in active.items() if d in devices and not f.startswith(directory)}
    assert not elsewhere, f"connections not from {directory}: {elsewhere}"
    # The NICs the plan leaves alone are handed back (ifcfg's NM_CONTROLLED=no), so no
    # automatic DHCP profile holds NetworkManager-wait-online on them.
    states = dict(line.split(":", 1) for line in outcome.section("nm-devices").splitlines())
    alone = sorted(set(nics) - devices)
    managed = {n: states.get(n, "absent") for n in alone if states.get(n) != "unmanaged"}
    assert not managed, f"NICs the plan leaves alone, not unmanaged: {managed}"
    unmanaged = f", {len(alone)} left unmanaged" if alone else ""
    return f"{len(devices)} devices up from {directory}{unmanaged}"


def check_cell(outcome: Outcome, cell: VmCell, pings: bool = True) -> str:
    """Every check of a cell; the summary of what was shown."""
    if cell.dhcp:
        return check_dhcp(outcome, cell)
    mode = cell.doc["network"]["bonding"]["mode"]
    lacp = mode == 4
    bonds = bonds_of(cell.doc) if cell.bonded else {}
    said = [check_bond(outcome, cell, bond, lacp, mode) for bond in bonds]
    said.append(check_network(outcome, cell))
    if pings:
        said.append(check_pings(outcome, cell))
    if cell.nm is not None:
        said.append(check_nm(outcome, cell))
    failed_units = outcome.section("failed-units").strip()
    assert not failed_units, f"failed units: {failed_units}"
    return "; ".join(said)


_PORT_EVENT = re.compile(
    r"\[\s*([0-9.]+)\] (bond\d+): \(slave (\w+)\): "
    r"(Enslaving|link status definitely (up|down))"
)


def port_timeline(outcome: Outcome) -> str:
    """How the ports came up, from the guest's kernel log: the order and time (seconds
    after the first) each port was enslaved, its downs after that, and when the last
    port was definitely up."""
    events = []
    for line in outcome.section("kernel").splitlines():
        m = _PORT_EVENT.search(line)
        if m:
            kind = "enslaved" if m.group(4) == "Enslaving" else m.group(5)
            events.append((float(m.group(1)), m.group(3), kind))
    assert events, "no bond port events in the guest's kernel log"
    start = events[0][0]
    enslaved = [f"{port} +{t - start:.1f}s" for t, port, kind in events if kind == "enslaved"]
    downs = [f"{port} +{t - start:.1f}s" for t, port, kind in events if kind == "down"]
    last_up = max(t for t, _, kind in events if kind == "up") - start
    return (
        f"enslaved {', '.join(enslaved)}; went down {', '.join(downs) or 'never'}; "
        f"all up +{last_up:.1f}s"
    )


@dataclass(frozen=True)
class Reachability:
    """From the guest's own clock: seconds from the network service's start to the bonds
    up with every port in the aggregator, and to the first gateway's answer (None: not
    seen); the member delay the written files hold, for its share."""

    service: str
    to_bonds: float | None
    to_reachable: float | None
    member_delay: float
    bonded: bool = True  # False: the plan has no bond (DHCP), so no to_bonds to see

    def fields(self) -> dict[str, object]:
        return {
            "seconds_to_bonds": self.to_bonds,
            "seconds_to_reachable": self.to_reachable,
            "member_delay_seconds": self.member_delay,
        }

    def summary(self) -> str:
        def shown(value: float | None) -> str:
            return "not seen" if value is None else f"{value:.1f} s"

        delay = f"{self.member_delay:g} s configured" if self.member_delay else "none"
        bonds = f"bonds up {shown(self.to_bonds)}" if self.bonded else "no bond"
        return (
            f"from {self.service} start: {bonds}, first gateway "
            f"answered {shown(self.to_reachable)} (member delay: {delay})"
        )


def reachability(outcome: Outcome) -> Reachability:
    """Read the report's timing section (vm_guest.py's poller and the service's start)."""
    service, start, bonded = "", None, True
    seen: dict[str, float | None] = {"bonds": None, "gateway": None}
    for line in outcome.section("timing").splitlines():
        words = line.split()
        if len(words) == 3 and words[0] == "service":
            service = words[1]
            start = int(words[2]) / 1e6 if words[2].isdigit() and int(words[2]) else None
        elif words == ["bonds", "none"]:
            bonded = False
        elif len(words) == 2 and words[0] in seen:
            seen[words[0]] = float(words[1])
    assert start is not None, f"no start time for the network service {service!r}"

    def since(t: float | None) -> float | None:
        return None if t is None else round(t - start, 1)

    bonds = since(seen["bonds"])
    return Reachability(service, bonds, since(seen["gateway"]), outcome.member_delay, bonded)
