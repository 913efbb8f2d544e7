"""Readers of the systemd side: netplan's generator, systemd-networkd and udev's .link loader.

All three are the image's own, run by chroot. networkd and udev run inside ``unshare -n
-m`` with tmpfs and proc/sysfs mounts of their own (readback.networkd_read for
networkd), so nothing they do reaches the host or the image's cache.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path

import readback

from . import images
from .matrix import Prepared

OURS = "/etc/systemd/network/"


def read_netplan(p: Prepared) -> str:
    yaml = [w for w in p.first.written() if w.startswith("/etc/netplan/")]
    assert yaml, f"no netplan file written: {p.first.written()}"
    proc = images.run_in(p.root, ["netplan", "generate"])
    lines = (proc.stdout + proc.stderr).splitlines()
    complaints = [line for line in lines if line.strip() and not _CHROOT_NOISE.search(line)]
    assert proc.returncode == 0 and not complaints, f"netplan generate: {lines}"
    out = p.root / "run/systemd/network"
    generated = sorted(x.name for x in out.glob("10-netplan-*")) if out.is_dir() else []
    assert any(n.endswith(".network") for n in generated), f"netplan generated {generated}"
    with tempfile.TemporaryDirectory(dir=p.root / "tmp") as tmp:
        # Copied out: networkd and udev get a tmpfs over the image's /run. networkd reads
        # them as the systemd-network user: mkdtemp's 0700 would keep it out.
        conf = Path(tmp)
        conf.chmod(0o755)
        for name in generated:
            (conf / name).write_text((out / name).read_text())
        detail = f"{_networkd_reads(p, conf)}{_udev_reads(p, conf)}"
    return f"netplan generate: {' '.join(generated)}; {detail}"


# What systemctl, called by netplan's generator in a chroot, says: not about the YAML.
_CHROOT_NOISE = re.compile(
    r"Running in chroot, ignoring|/proc/ is not mounted|invocation environment to mount"
    r"|Your mileage may vary"
)


def read_networkd(p: Prepared) -> str:
    ours = [w for w in p.first.written() if w.startswith(OURS)]
    assert any(w.endswith(".network") for w in ours), f"no .network written: {ours}"
    conf = p.root / OURS.strip("/")
    return f"{_networkd_reads(p, conf)}{_udev_reads(p, conf)}"


def _networkd_reads(p: Prepared, conf: Path) -> str:
    """The image's systemd-networkd loads `conf` as its /etc/systemd/network."""
    loaded, complaints = readback.networkd_read(conf, image=p.root)
    assert complaints == [], f"systemd-networkd complained: {complaints}"
    expected = {OURS + x.name for x in conf.iterdir() if x.suffix in (".netdev", ".network")}
    # systemd 257 names each file it loaded; older ones only the ones they skipped.
    if loaded:
        assert expected <= set(loaded), f"networkd loaded {loaded}, not all of {expected}"
    return f"systemd-networkd loaded {len(expected)} files without a complaint"


# udev's net_setup_link builtin loads every .link file, then applies one to a veth made
# here (in test mode: nothing is changed). /proc is needed for it to trust /sys.
_UDEV_SCRIPT = r"""
set -e
root=$1 conf=$2
mount -t tmpfs pn-run "$root/run"
mount -t proc pn-proc "$root/proc"
mount -t sysfs pn-sys "$root/sys"
mount --bind "$conf" "$root/etc/systemd/network"
ip link add pn-probe0 type veth peer name pn-probe1
exec chroot "$root" udevadm test-builtin net_setup_link /sys/class/net/pn-probe0
"""


def _udev_reads(p: Prepared, conf: Path) -> str:
    links = {OURS + x.name for x in conf.iterdir() if x.suffix == ".link"}
    if not links:
        return ""
    if images.run_in(p.root, ["sh", "-c", "command -v udevadm"]).returncode != 0:
        return "; the image has no udevadm to read the .link files"
    proc = subprocess.run(
        ["unshare", "-n", "-m", "sh", "-c", _UDEV_SCRIPT, "sh", str(p.root), str(conf)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**images.CHROOT_ENV, "SYSTEMD_LOG_LEVEL": "debug"},
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"udevadm test-builtin: exit {proc.returncode}: {output[-2000:]}"
    # A complaint names the file and line: "/etc/systemd/network/X.link:3: Unknown key ..."
    complaints = [line for line in output.splitlines() if line.startswith(OURS)]
    assert not complaints, f"udev complained: {complaints}"
    parsed = set(re.findall(r'Parsed configuration file "([^"]+)"', output))
    assert links <= parsed, f"udev did not parse {sorted(links - parsed)}"
    return f"; udev parsed {len(links)} .link files"
