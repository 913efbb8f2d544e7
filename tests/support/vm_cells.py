"""The VM cells of issue 16: which guest, which -o, which metadata, which partner.

A cell writes the tool's files into a copy of a guest root (the zipapp run on the host
with that copy as --rootfs and the server VM's NICs as --nics), from an Equinix Metal
document or a Tinkerbell Hardware (then `doc` is the hand-written Equinix-shaped statement
of what that Hardware means, which the checks judge against), boots it as the server
VM against a switch VM whose bonds mirror the server's, and returns what the server
reported (vm_guest.py). vm_checks.py judges the report against the metadata.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import factories as f

from . import images, vm
from . import vm_guest as guest

SWITCH_MAC = "52:54:00:5e:00:{:02x}"
DHCP_GATEWAY = "10.99.0.1"  # the switch's address in the DHCP cells, and their router
DHCP_PREFIX = 24
DHCP_RANGE = ("10.99.0.100", "10.99.0.199")
SETTLE_WAIT = 60  # seconds the server waits for its bonds before reporting anyway
SWITCH_BOOT_TIMEOUT = 120

# The switch side of each server bond mode: an LACP partner for 802.3ad; for the modes
# that need nothing from the switch, a plain L2 switch (a bridge over the ports).
_SWITCH_MODE = {4: "802.3ad", 5: "bridge", 6: "bridge", 1: "bridge"}


@dataclass(frozen=True)
class VmCell:
    name: str
    guest: str  # a vm.GUESTS name
    os: str  # the tool's -o
    doc: dict[str, Any] = field(hash=False, compare=False)
    switch_mode: Optional[str] = None  # None: the server's own mode (a matching partner)
    setup: tuple[tuple[str, ...], ...] = ()  # run in the guest root before the tool
    settle_wait: int = SETTLE_WAIT  # a cell whose bond must not settle waits less
    # Applied to the root before the tool runs (e.g. a network tool installed by hand).
    before: Optional[Callable[[Path], None]] = field(default=None, hash=False, compare=False)
    # Applied to the root after the tool (e.g. another helper's pending change to a file).
    edit: Optional[Callable[[Path], None]] = field(default=None, hash=False, compare=False)
    # The document the tool reads, when not `doc` itself: a Tinkerbell Hardware's YAML.
    hardware: Optional[str] = field(default=None, hash=False, compare=False)
    vlan: Optional[int] = None  # the addresses ride a VLAN of this id on the first bond
    # DHCP mode: the switch bridges every port and serves DHCP_RANGE with DHCP_GATEWAY as
    # the router; the server's DHCP NICs must get leases there.
    dhcp: bool = False
    # NetworkManager guests: (the daemon that must run, the directory every active
    # connection's file must be in: ifcfg-rh's network-scripts, or the keyfiles').
    nm: Optional[Callable[[], tuple[str, str]]] = field(default=None, hash=False, compare=False)

    @property
    def bonded(self) -> bool:
        """Whether the plan bonds: not in individual mode, nor in DHCP mode."""
        aggregation = self.doc["network"]["bonding"]["link_aggregation"]
        return aggregation != "individual" and not self.dhcp

    @property
    def nic_count(self) -> int:
        return len(self.doc["network"]["interfaces"])

    def nics(self) -> list[vm.Nic]:
        """The server VM's NICs: the metadata's MACs in factories order, named as the
        guest kernel names them (net.ifnames=0: eth0, eth1, ... by PCI slot)."""
        return [vm.Nic(f"eth{i}", f.mac(i)) for i in range(self.nic_count)]


@dataclass
class Outcome:
    report: Optional[dict[str, str]]  # None: the server printed no report
    console: str  # the server's whole serial console
    switch_console: str
    qemu_errors: str  # what the server's QEMU itself said
    written: list[str]  # paths the tool wrote, as the guest sees them
    prepare_seconds: float
    boot_seconds: float
    member_delay: float = 0.0  # seconds of `pre-up sleep` the written ENI holds members back

    def section(self, name: str) -> str:
        if self.report is None:
            raise AssertionError(f"the server VM printed no report; console ends:\n{self.tail()}")
        if name not in self.report:
            raise AssertionError(f"no {name!r} in the report: {sorted(self.report)}")
        return self.report[name]

    def tail(self, lines: int = 40) -> str:
        said = f"\nQEMU said: {self.qemu_errors.strip()}" if self.qemu_errors.strip() else ""
        return "\n".join(self.console.splitlines()[-lines:]) + said


def bonds_of(doc: dict[str, Any]) -> dict[str, list[str]]:
    """bond name -> MACs of its interfaces, in metadata order."""
    bonds: dict[str, list[str]] = {}
    for iface in doc["network"]["interfaces"]:
        bonds.setdefault(iface["bond"], []).append(iface["mac"].lower())
    return bonds


def gateways(doc: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(IPv4, IPv6) gateways of the management addresses, public IPv4 first."""
    v4: list[str] = []
    v6: list[str] = []
    for a in doc["network"]["addresses"]:
        if a.get("management") and a.get("enabled", True):
            (v4 if a["address_family"] == 4 else v6).append(a["gateway"])
    return sorted(v4, key=lambda g: not g.startswith("147.")), v6


def _switch_bonds(cell: VmCell) -> list[guest.SwitchBond]:
    """The switch's side: its port i faces the server's NIC i; the bond facing the
    server's first bond holds the gateways' addresses (on the cell's VLAN, if any)."""
    macs = [n.mac for n in cell.nics()]
    if cell.dhcp:  # one L2 segment over every port, with the DHCP server on it
        ports = [f"eth{i}" for i in range(len(macs))]
        gateway = [f"{DHCP_GATEWAY}/{DHCP_PREFIX}"]
        return [guest.SwitchBond("br0", "bridge", ports, gateway, dhcp=",".join(DHCP_RANGE))]
    if not cell.bonded:  # individual: one L2 segment, the gateways on it
        ports = [f"eth{i}" for i in range(len(macs))]
        return [guest.SwitchBond("br0", "bridge", ports, _gateway_addresses(cell))]
    mode = cell.switch_mode or _SWITCH_MODE[cell.doc["network"]["bonding"]["mode"]]
    first = cell.doc["network"]["interfaces"][0]["bond"]
    out = []
    for name, members in bonds_of(cell.doc).items():
        ports = [f"eth{macs.index(m)}" for m in members]
        if name != first:
            out.append(guest.SwitchBond(name, mode, ports))
            continue
        out.append(guest.SwitchBond(name, mode, ports, _gateway_addresses(cell), cell.vlan))
    return out


def _gateway_addresses(cell: VmCell) -> list[str]:
    return [
        f"{a['gateway']}/{a['cidr']}"
        for a in cell.doc["network"]["addresses"]
        if a.get("management") and a.get("enabled", True)
    ]


def prepare(cell: VmCell, pyz: Path, workdir: Path) -> tuple[Path, list[str], float]:
    """The server's disk image holding the guest root plus what the tool wrote."""
    with vm.populated_root(cell.guest, workdir / "root") as root:
        for argv in cell.setup:
            proc = images.run_in(root, list(argv))
            assert proc.returncode == 0, f"setup {argv}: {proc.stderr}"
        if cell.before is not None:
            cell.before(root)
        written = run_tool(cell, pyz, root, workdir)
        if cell.edit is not None:
            cell.edit(root)
        delay = member_delay(root)
        _install_report(cell, root)
        disk = vm.make_disk(root, workdir / "server.img")
    return disk, written, delay


def member_delay(root: Path) -> float:
    """The seconds the written ENI's `pre-up sleep` lines hold bond members back (the
    bond_member_delay quirk; ifupdown brings the stanzas up one after the other)."""
    eni = root / "etc" / "network" / "interfaces"
    if not eni.is_file():
        return 0.0
    lines = [line.split() for line in eni.read_text().splitlines()]
    return float(sum(float(w[2]) for w in lines if w[:2] == ["pre-up", "sleep"] and len(w) == 3))


def run_tool(cell: VmCell, pyz: Path, root: Path, workdir: Path) -> list[str]:
    document = workdir / ("hardware.yaml" if cell.hardware else "md.json")
    document.write_text(cell.hardware or json.dumps(cell.doc))
    nics = [{"name": n.name, "mac": n.mac, "driver": "virtio_net"} for n in cell.nics()]
    (workdir / "nics.json").write_text(json.dumps(nics))
    argv = [
        str(pyz), "-M", str(document), "--nics", str(workdir / "nics.json"),
        "-o", cell.os, "--rootfs", str(root), "--resolvers", ",".join(f.RESOLVERS),
        "--log-format", "json",
    ]  # fmt: skip
    env = {**os.environ, "SHIV_ROOT": str(workdir / "shiv")}
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, f"the tool exited {proc.returncode}: {proc.stderr[-2000:]}"
    events = [json.loads(line) for line in proc.stderr.splitlines() if line.startswith("{")]
    return [
        e["path"]
        for e in events
        if e.get("event") == "task" and e.get("action") in ("write", "append")
    ]


def _install_report(cell: VmCell, root: Path) -> None:
    v4, v6 = gateways(cell.doc)
    lacp = cell.doc["network"]["bonding"]["mode"] == 4 and cell.switch_mode is None
    bonds = list(bonds_of(cell.doc)) if cell.bonded else []
    lacp = lacp and cell.bonded
    if cell.dhcp:  # no bond; the lease's router is the one gateway
        v4, v6 = [DHCP_GATEWAY], []
    spec = guest.ReportSpec(bonds, lacp, v4, v6, cell.settle_wait, vm.GUEST_SERVICE[cell.guest])
    for script, text, unit, unit_text, wants in (
        (guest.REPORT_SCRIPT_PATH, guest.report_script(spec), guest.REPORT_UNIT_PATH,
         guest.REPORT_UNIT, guest.REPORT_WANTS_PATH),
        (guest.TIMING_SCRIPT_PATH, guest.timing_script(spec), guest.TIMING_UNIT_PATH,
         guest.TIMING_UNIT, guest.TIMING_WANTS_PATH),
    ):  # fmt: skip
        (root / script).parent.mkdir(parents=True, exist_ok=True)
        (root / script).write_text(text)
        (root / script).chmod(0o755)
        (root / unit).write_text(unit_text)
        (root / wants).parent.mkdir(parents=True, exist_ok=True)
        (root / wants).symlink_to("/" + unit)


def run(cell: VmCell, pyz: Path, workdir: Path) -> Outcome:
    started = time.monotonic()
    disk, written, delay = prepare(cell, pyz, workdir)
    prepared = time.monotonic()
    switch_disk = vm.switch_disk()
    with vm.socket_dir() as sockets:
        ends = vm.link_sockets(sockets, cell.nic_count)
        switch_nics = [vm.Nic(f"eth{i}", SWITCH_MAC.format(i)) for i in range(cell.nic_count)]
        switch = vm.boot(
            disk=switch_disk,
            nics=switch_nics,
            ends=[(b, a) for a, b in ends],
            console=workdir / "switch.console",
            cmdline=f"quiet {guest.switch_args(_switch_bonds(cell))}",
            snapshot=True,
            init="/pn-switch",
        )
        server = vm.boot(
            disk=disk,
            nics=cell.nics(),
            ends=ends,
            console=workdir / "server.console",
            cmdline=_SERVER_CMDLINE,
            snapshot=False,
        )
        try:
            server.wait(vm.BOOT_TIMEOUT)
        finally:
            server.stop()
            switch.stop()
            # The consoles stay for a failure's reader; the disk (~340 MB) need not.
            disk.unlink()
    console = server.output()
    return Outcome(
        guest.parse_report(console),
        console,
        switch.output(),
        server.errors.read_text(errors="replace"),
        written,
        round(prepared - started, 1),
        round(time.monotonic() - prepared, 1),
        delay,
    )


# Quiet consoles (the report is what matters), no login prompt on the serial line.
_SERVER_CMDLINE = (
    "quiet loglevel=3 systemd.show_status=false systemd.mask=serial-getty@ttyS0.service"
)


def port_names(cell: VmCell, bond: str) -> Sequence[str]:
    """The guest names of a bond's ports, from the metadata's MACs."""
    names = {n.mac: n.name for n in cell.nics()}
    return [names[m] for m in bonds_of(cell.doc)[bond]]
