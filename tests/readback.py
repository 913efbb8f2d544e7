"""Run the real consumers of netplan, NetworkManager keyfile and systemd-networkd files.

Each runs either from this host or from an image's tree (``image``: a fresh copy made
with support.images, its own tools run by chroot), so one check covers two releases:

* ``netplan_generate``: ``netplan generate --root-dir``; any output is a complaint.
* ``nm_read``: libnm's keyfile reader via consumers/nm_keyfile_read.py.
* ``networkd_read``: the real systemd-networkd, started inside ``unshare -n -m``
  with a tmpfs on /run (VALIDATION.md), stopped once it has loaded its configuration;
  its ``FILE:LINE: ... ignoring`` and ``Failed to parse`` lines are the complaints.
* ``link_problems``: udev's own ``.link`` loader (``udevadm test-builtin
  net_setup_link``) on a veth in a throwaway namespace.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Optional

from conftest import require

NM_READER = Path(__file__).parent / "consumers" / "nm_keyfile_read.py"
SYSTEM_PYTHON = "/usr/bin/python3"
ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
NETWORKD_TIMEOUT = 20  # seconds; it has loaded everything well within one


def require_netplan() -> None:
    require("netplan", "Debian package netplan.io (make test installs it)")


def require_libnm() -> None:
    probe = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import gi; gi.require_version('NM', '1.0')"],
        capture_output=True,
        check=False,
    )
    require("libnm for python3", "gir1.2-nm-1.0, python3-gi", probe.returncode == 0)


def require_networkd() -> None:
    require("root", "systemd-networkd runs in a namespace")
    require("systemd-networkd", "Debian package systemd", bool(_networkd("/")))


def _networkd(root: str) -> Optional[str]:
    for path in ("usr/lib/systemd/systemd-networkd", "lib/systemd/systemd-networkd"):
        if os.path.exists(os.path.join(root, path)):
            return "/" + path
    return None


def _chroot(image: Optional[Path], argv: list[str]) -> list[str]:
    return ["chroot", str(image), *argv] if image is not None else argv


# ---------------------------------------------------------------------------- netplan


# What systemctl, called by netplan's generator, says in a chroot: not about our YAML.
_CHROOT_NOISE = re.compile(
    r"Running in chroot, ignoring|/proc/ is not mounted|invocation environment to mount"
    r"|Your mileage may vary"
)


def netplan_generate(yaml_files: dict[str, str], image: Optional[Path] = None) -> dict[str, str]:
    """Generate from ``{name: yaml}`` placed in etc/netplan; the networkd files it made."""
    with tempfile.TemporaryDirectory(dir=image / "tmp" if image else None) as tmp:
        root = Path(tmp)
        (root / "etc/netplan").mkdir(parents=True)
        for name, text in yaml_files.items():
            path = root / "etc/netplan" / name
            path.write_text(text)
            path.chmod(0o600)
        inside = "/" + str(root.relative_to(image)) if image else str(root)
        argv = _chroot(image, ["netplan", "generate", "--root-dir", inside])
        proc = subprocess.run(argv, capture_output=True, text=True, env=ENV, timeout=60)
        lines = (proc.stdout + proc.stderr).splitlines()
        complaints = [line for line in lines if line.strip() and not _CHROOT_NOISE.search(line)]
        assert proc.returncode == 0 and not complaints, f"netplan generate: {lines}"
        out = root / "run/systemd/network"
        return {p.name: p.read_text() for p in sorted(out.iterdir())}


# ---------------------------------------------------------------------------- NetworkManager


def nm_read(profiles: dict[str, str], image: Optional[Path] = None) -> list[dict]:
    """libnm's reading of ``{name: keyfile}``; fails on any warning or error."""
    with tempfile.TemporaryDirectory(dir=image / "tmp" if image else None) as tmp:
        for name, text in profiles.items():
            (Path(tmp) / name).write_text(text)
        shutil.copy(NM_READER, Path(tmp) / NM_READER.name)
        inside = "/" + str(Path(tmp).relative_to(image)) if image else tmp
        argv = [SYSTEM_PYTHON if image is None else "python3", f"{inside}/{NM_READER.name}"]
        argv += [f"{inside}/{name}" for name in profiles]
        proc = subprocess.run(
            _chroot(image, argv), capture_output=True, text=True, env=ENV, timeout=60
        )
    assert proc.returncode == 0 and not proc.stderr.strip(), proc.stderr
    results = json.loads(proc.stdout)
    for result in results:
        assert not result["warnings"], f"{result['path']}: {result['warnings']}"
        assert "error" not in result, f"{result['path']}: {result['error']}"
    return results


# ---------------------------------------------------------------------------- networkd

_OURS = "/etc/systemd/network/"
_NETWORKD_SCRIPT = """
set -e
root=$1 conf=$2 networkd=$3
mount -t tmpfs tmpfs "$root/run"
mkdir -p "$root/run/systemd/netif"
chroot "$root" chown systemd-network:systemd-network /run/systemd/netif
mount --bind "$conf" "$root/etc/systemd/network"
if [ "$root" != / ]; then mount -t proc proc "$root/proc"; mount -t sysfs sysfs "$root/sys"; fi
export SYSTEMD_LOG_TARGET=console SYSTEMD_LOG_LEVEL=debug
exec chroot "$root" "$networkd"
"""


def networkd_read(conf: Path, image: Optional[Path] = None) -> tuple[list[str], list[str]]:
    """Start systemd-networkd on ``conf`` (a directory of .netdev/.network files):
    (the files it says it loaded, every line in which it complained about one of ours).

    Any line naming one of our files is a complaint (``FILE:LINE: Unknown key ...,
    ignoring``, ``Failed to parse ...``) except systemd 257's "Successfully loaded."
    (252 does not say what it loaded, only what it skipped).
    """
    lines = networkd_log(conf, image)
    loaded = [line.split(":")[0] for line in lines if line.endswith(": Successfully loaded.")]
    complaints = [
        line
        for line in lines
        if (_OURS in line and not line.endswith(": Successfully loaded."))
        or "Failed to parse" in line
    ]
    return [path for path in loaded if path.startswith(_OURS)], complaints


def networkd_log(conf: Path, image: Optional[Path] = None) -> list[str]:
    """Every line systemd-networkd logs (at debug level) until it has enumerated the
    links, started on ``conf`` in a network namespace of its own."""
    root = str(image) if image else "/"
    networkd = _networkd(root)
    assert networkd, f"no systemd-networkd in {root}"
    if image is not None:
        (image / "etc/systemd/network").mkdir(parents=True, exist_ok=True)
    return _run_until(
        ["unshare", "-n", "-m", "sh", "-c", _NETWORKD_SCRIPT, "sh", root, str(conf), networkd],
        "Enumeration completed",
    )


def _run_until(argv: list[str], marker: str) -> list[str]:
    """Run argv in its own process group, collect its output until ``marker``, kill it."""
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=ENV,
        start_new_session=True,
    )
    lines: list[str] = []
    deadline = time.monotonic() + NETWORKD_TIMEOUT
    try:
        assert proc.stdout is not None
        os.set_blocking(proc.stdout.fileno(), True)
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if marker in line or time.monotonic() > deadline:
                break
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    tail = "\n".join(lines[-20:])
    assert any(marker in line for line in lines), f"networkd did not finish loading:\n{tail}"
    return lines


_LINK_SCRIPT = """
set -e
mount -t sysfs sysfs /sys
mount --bind "$1" /etc/systemd/network
ip link add pn-probe0 type veth peer name pn-probe1
udevadm test-builtin net_setup_link /sys/class/net/pn-probe0 2>&1
"""


_PARSED = re.compile(r'Parsed configuration file "(.+)"')


def link_problems(conf: Path) -> tuple[list[str], list[str]]:
    """udev loads every .link file in ``conf``: (files it parsed, its complaints)."""
    require("root", "a veth in a network namespace")
    require("udevadm", "Debian package udev (make test installs it)")
    proc = subprocess.run(
        ["unshare", "-n", "-m", "sh", "-c", _LINK_SCRIPT, "sh", str(conf)],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    parsed = [m.group(1) for m in map(_PARSED.search, lines) if m]
    complaints = [line for line in lines if line.startswith("/etc/systemd/network/")]
    return parsed, complaints


# ---------------------------------------------------------------------------- ENI


def require_ifupdown() -> None:
    require("ifquery", "Debian package ifupdown (make test installs it)")


def eni_read(interfaces: str) -> tuple[dict[str, list[tuple[str, str]]], list[str]]:
    """ifupdown's reading of an interfaces file: (ifquery's options of every auto
    interface, in order with repeats, and the interfaces ifup would run DHCP on)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "interfaces"
        path.write_text(interfaces)
        autos = _ok(["ifquery", "-i", str(path), "--list"]).split()
        options = {}
        for iface in autos:
            lines = _ok(["ifquery", "-i", str(path), iface]).splitlines()
            options[iface] = [tuple(line.split(": ", 1)) for line in lines if ": " in line]
        plan = _ok(["ifup", "--no-act", "-v", "-i", str(path), "--state-dir", tmp, "-a"], err=True)
    # ifup -v heads each interface's commands with "ifup: configuring interface X=X (inet)".
    dhcp, current = [], None
    for line in plan.splitlines():
        header = re.match(r"ifup: configuring interface (\S+)=", line)
        if header:
            current = header.group(1)
        elif current and re.search(r"dhclient|udhcpc|dhcpcd|No DHCP client", line):
            dhcp.append(current)
    return options, sorted(set(dhcp))


def _ok(argv: list[str], err: bool = False) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, env=ENV, timeout=30)
    assert proc.returncode == 0, f"{' '.join(argv)}: {proc.stderr}"
    return proc.stderr if err else proc.stdout
