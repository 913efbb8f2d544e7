"""QEMU virtual machines for what a network namespace cannot show: bonds at boot (issue 16).

The machines running the suite have no bonding driver, so bonded configs are brought up
in VMs that run Debian's own kernel (vm_kernel.py). Everything is built once and cached
(image_cache.cached_tree: a lock, an atomic rename) under image_cache.root():

    vm-kernel-<hash>/    vmlinuz, initrd.img and lib/modules/<release>/ (vm_kernel.py),
                         the modules copied into each guest.
    <suite>-<hash>/      a guest root per network tool (GUESTS), made by mmdebstrap.
    vm-switch-<hash>/    switch.img: the "switch" VM's disk (see vm_guest.SWITCH_INIT).

A VM's root is an ext4 image made without mounting anything (mke2fs -d) from a
directory. Links between two VMs are QEMU dgram netdevs over unix sockets in a private
directory: nothing is put on any network, not even loopback.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from . import image_cache, images, vm_kernel
from . import vm_guest as guest

MEMORY_MB = 256  # per VM; with tb-size=64 a TCG QEMU stays near 350 MiB resident
KVM_PROBE_SECONDS = 8
BOOT_TIMEOUT = 240  # seconds a server VM may take from start to power-off, under TCG
DISK_HEADROOM_MB = 96  # free space in a guest root for logs, journal and the modules

_BASE = ("systemd-sysv", "udev", "iproute2", "iputils-ping", "kmod", "procps")
_IFUPDOWN = (*_BASE, "ifupdown", "ifenslave")

# Guest roots: name -> the image (suite and packages) the server VM boots.
GUESTS: dict[str, images.ImageSpec] = {
    spec.name: spec
    for spec in (
        images.ImageSpec("vm-bullseye-ifupdown", "bullseye", _IFUPDOWN),
        # isc-dhcp-client: what ifupdown's `inet dhcp` runs (Debian installs it by default).
        images.ImageSpec("vm-bookworm-ifupdown", "bookworm", (*_IFUPDOWN, "isc-dhcp-client")),
        images.ImageSpec("vm-trixie-ifupdown", "trixie", _IFUPDOWN),
        images.ImageSpec("vm-trixie-networkd", "trixie", _BASE),  # networkd is in systemd
        images.ImageSpec("vm-trixie-netplan", "trixie", (*_BASE, "netplan.io")),
        images.ImageSpec("vm-bookworm-nm", "bookworm", (*_BASE, "network-manager")),
        # Alpine's ifupdown-ng, as Debian 13 packages it (no unit of its own: IFUPDOWN_NG_UNIT)
        images.ImageSpec("vm-trixie-ifupdown-ng", "trixie", (*_BASE, "ifupdown-ng")),
        # The switch: ip and modprobe, and dnsmasq to serve the DHCP cells their leases.
        images.ImageSpec("vm-bookworm-switch", "bookworm", (*_BASE, "dnsmasq-base")),
    )
}
# The unit of each guest's network tool, whose start the cells' timing counts from.
GUEST_SERVICE = {
    "vm-bullseye-ifupdown": "networking.service",
    "vm-bookworm-ifupdown": "networking.service",
    "vm-trixie-ifupdown": "networking.service",
    "vm-trixie-networkd": "systemd-networkd.service",
    "vm-trixie-netplan": "systemd-networkd.service",  # netplan's generator writes for it
    "vm-bookworm-nm": "NetworkManager.service",
    "vm-trixie-ifupdown-ng": "ifupdown-ng.service",
}
# Alpine brings ifupdown-ng's interfaces up from OpenRC's networking service (`ifup -a`);
# Debian's package has no unit, so the guest gets this one, which runs the same.
IFUPDOWN_NG_UNIT = """\
[Unit]
Description=ifupdown-ng: ifup -a, as Alpine's OpenRC networking service runs it
DefaultDependencies=no
Wants=network.target
After=local-fs.target systemd-modules-load.service systemd-udevd.service
Before=network.target network-online.target shutdown.target
Conflicts=shutdown.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStartPre=/usr/bin/udevadm settle
ExecStart=/usr/sbin/ifup-ng -a
ExecStop=/usr/sbin/ifdown-ng -a

[Install]
WantedBy=multi-user.target network-online.target
"""
SWITCH_GUEST = "vm-bookworm-switch"


# ---------------------------------------------------------------------------- environment


def have_vm_tools() -> str | None:
    """Why VMs cannot run here, or None when they can."""
    reason = images.have_root_tools()
    if reason is not None:
        return reason
    for tool, package in (("qemu-system-x86_64", "qemu-system-x86"), ("mke2fs", "e2fsprogs")):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install -y {package})"
    return None


def require_vm_tools() -> None:
    """Skip the calling test when QEMU or the image tools are missing; fail under CI=true."""
    from conftest import require

    reason = have_vm_tools()
    require("QEMU and the image tools", reason or "", present=reason is None)


@functools.lru_cache(maxsize=1)
def accelerators() -> tuple[str, ...]:
    """KVM when it really runs a guest, else TCG. tb-size=64: TCG's default translation
    cache is 1 GiB per QEMU. /dev/kvm can open and still run nothing (these machines:
    QEMU starts, the guest never prints), so KVM is used only if a probe guest prints."""
    tcg = ("-accel", "tcg,tb-size=64")
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return tcg
    return ("-accel", "kvm") if _kvm_runs_a_guest() else tcg


def _kvm_runs_a_guest() -> bool:
    """Boot the kernel alone under KVM: it prints its banner within a second or two."""
    with tempfile.TemporaryDirectory(prefix="pn-kvm-") as tmp:
        console = Path(tmp) / "console"
        argv = [
            "qemu-system-x86_64", "-accel", "kvm", "-m", str(MEMORY_MB), "-nodefaults",
            "-display", "none", "-no-reboot", "-monitor", "none",
            "-serial", f"file:{console}", "-kernel", str(vm_kernel.kernel().vmlinuz),
            "-append", "console=ttyS0 panic=-1 init=/none",
        ]  # fmt: skip
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + KVM_PROBE_SECONDS
        try:
            while time.monotonic() < deadline:
                if console.exists() and b"Linux version" in console.read_bytes():
                    return True
                if proc.poll() is not None:
                    break
                time.sleep(0.2)
            return False
        finally:
            proc.kill()
            proc.wait()


# ---------------------------------------------------------------------------- cached builds


def guest_root(name: str) -> Path:
    """The pristine cached root of guest `name`; never write into it."""
    return images.build_spec(GUESTS[name])


def build_for(guests: Iterable[str]) -> None:
    """What boots of these guests need, ahead of them: the kernel, the switch disk and
    the guest roots, three at a time (a build mostly waits on the mirror). Each is cached
    once built; a boot builds what is missing itself."""
    switch_disk()
    with ThreadPoolExecutor(3) as pool:
        for future in [pool.submit(guest_root, name) for name in sorted(set(guests))]:
            future.result()


def switch_disk() -> Path:
    """The switch VM's disk image; boot it with snapshot=on, never write to it."""
    k = vm_kernel.kernel()
    kernel_dir = k.modules.parents[2].name  # its modules go into the disk
    parts = (guest.SWITCH_INIT, kernel_dir, SWITCH_GUEST, GUESTS[SWITCH_GUEST].cache_dirname())
    d = image_cache.cached_tree(
        vm_kernel.cache_name("vm-switch", *parts), lambda dest: _build_switch(dest, k)
    )
    return d / "switch.img"


def _build_switch(dest: Path, k: vm_kernel.Kernel) -> None:
    with populated_root(SWITCH_GUEST, dest / "work", k) as root:
        init = root / "pn-switch"
        init.write_text(guest.SWITCH_INIT)
        init.chmod(0o755)
        make_disk(root, dest / "switch.img")
    shutil.rmtree(dest / "work")


# ---------------------------------------------------------------------------- disks


@contextmanager
def populated_root(name: str, workdir: Path, k: vm_kernel.Kernel | None = None) -> Iterator[Path]:
    """A writable overlay of guest root `name` with the guest modules in place."""
    k = k or vm_kernel.kernel()
    with images.overlay(guest_root(name), workdir) as root:
        modules = root / "usr" / "lib" / "modules"
        if not (root / "lib").is_symlink():  # bullseye: no merged /usr
            modules = root / "lib" / "modules"
        modules.mkdir(parents=True, exist_ok=True)
        shutil.copytree(k.modules, modules / k.release)
        yield root


def make_disk(root: Path, image: Path) -> Path:
    """An ext4 image holding `root`, made by mke2fs -d (nothing mounted)."""
    used = sum(p.lstat().st_size for p in root.rglob("*")) // (1 << 20)
    size_mb = int(used * 1.3) + DISK_HEADROOM_MB
    images._run_checked(
        [
            "mke2fs",
            "-q",
            "-F",
            "-t",
            "ext4",
            "-L",
            "root",
            "-d",
            str(root),
            str(image),
            f"{size_mb}M",
        ],  # fmt: skip
        300,
    )
    return image


# ---------------------------------------------------------------------------- booting


@dataclass(frozen=True)
class Nic:
    name: str  # as the guest names it (net.ifnames=0: eth0, eth1, ... in PCI order)
    mac: str


@dataclass
class Machine:
    """A running QEMU; its serial console goes to `console`."""

    proc: subprocess.Popen[bytes]
    console: Path
    errors: Path  # QEMU's own stdout and stderr

    def wait(self, timeout: float) -> bool:
        """True when the guest powered off within `timeout` seconds."""
        try:
            self.proc.wait(timeout=timeout)
            return True
        except subprocess.TimeoutExpired:
            return False

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)

    def output(self) -> str:
        return self.console.read_text(errors="replace") if self.console.exists() else ""


def link_sockets(sockdir: Path, count: int) -> list[tuple[Path, Path]]:
    """(server end, switch end) unix socket paths of each back-to-back link."""
    return [(sockdir / f"s{i}", sockdir / f"w{i}") for i in range(count)]


def boot(
    *,
    disk: Path,
    nics: Sequence[Nic],
    ends: Sequence[tuple[Path, Path]],
    console: Path,
    cmdline: str,
    snapshot: bool,
    init: str | None = None,
) -> Machine:
    """Start a VM whose i-th NIC is the local end ends[i][0] of a link to ends[i][1]."""
    k = vm_kernel.kernel()
    argv = [
        "qemu-system-x86_64", *accelerators(), "-m", str(MEMORY_MB), "-smp", "1",
        "-nodefaults", "-display", "none", "-no-reboot", "-monitor", "none",
        "-serial", f"file:{console}",
        "-kernel", str(k.vmlinuz), "-initrd", str(k.initrd),
        "-drive", f"file={disk},format=raw,if=virtio,snapshot={'on' if snapshot else 'off'}",
    ]  # fmt: skip
    for i, (nic, (local, remote)) in enumerate(zip(nics, ends)):
        argv += [
            "-netdev",
            f"dgram,id=n{i},local.type=unix,local.path={local},"
            f"remote.type=unix,remote.path={remote}",
            # Without a speed virtio-net reports none, and a bond keeps such ports down.
            "-device",
            f"virtio-net-pci,netdev=n{i},mac={nic.mac},addr={0x10 + i:#x},speed=10000,duplex=full",
        ]
    kernel_args = f"console=ttyS0 root=/dev/vda rw net.ifnames=0 panic=-1 {cmdline}"
    if init:
        kernel_args += f" init={init}"
    argv += ["-append", kernel_args]
    errors = console.with_suffix(".qemu-stderr")
    with open(errors, "wb") as err:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=err, stderr=err)
    return Machine(proc, console, errors)


@contextmanager
def socket_dir() -> Iterator[Path]:
    """A short private directory for the links' unix sockets (paths must fit in 108 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="pnvm-", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
