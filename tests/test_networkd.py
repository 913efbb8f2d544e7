"""systemd-networkd: exact output (golden files), and systemd's parsers reading it back.

The real systemd-networkd loads the .netdev and .network files (this host's 252, and
in the image matrix a trixie image's 257, which also names every file it loaded); udev's
``.link`` loader reads the .link files. Any "FILE:LINE: ... ignoring" is a failure.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import backend_cases as cases
import factories as f
import golden
import pytest
import readback
from backend_cases import CASES, backend_files

from packetnetworking.renderers import networkd

DIRECTORY = "etc/systemd/network"


def _files(case: str) -> dict[str, str]:
    written = networkd.tasks(f.build_plan(CASES[case]))
    return backend_files({t.path: t.content for t in written}, DIRECTORY)


def _write(files: dict[str, str], directory: Path, suffixes=(".netdev", ".network")) -> Path:
    directory.mkdir(exist_ok=True)
    for name, text in files.items():
        if name.endswith(suffixes):
            (directory / name).write_text(text)
    return directory


@pytest.mark.parametrize("case", CASES)
def test_golden(case):
    golden.check_all(f"networkd/{case}", _files(case))


@pytest.mark.parametrize("os", ["flatcar stable", "flatcar 3815.2.5", "archlinux", "arch"])
def test_flatcar_and_arch_write_these_files(os):
    out = cases.files(os, CASES["bonded"])
    assert backend_files(out, DIRECTORY) == _files("bonded")
    assert {"etc/hostname", "etc/hosts", "etc/resolv.conf"} <= set(out)


@pytest.mark.parametrize("case", CASES)
def test_networkd_reads_it(case, tmp_path: Path):
    readback.require_networkd()
    _, complaints = readback.networkd_read(_write(_files(case), tmp_path / "conf"))
    assert complaints == []


def test_networkd_catches_a_bad_file(tmp_path: Path):
    """The check can fail: a setting networkd does not take is a complaint."""
    readback.require_networkd()
    files = _files("bonded")
    files["10-packet-bond0.netdev"] = files["10-packet-bond0.netdev"].replace(
        "MIIMonitorSec=100ms", "MIIMonitorSec=abc"
    )
    _, complaints = readback.networkd_read(_write(files, tmp_path / "conf"))
    # "FILE:LINE: Failed to parse sec value, ignoring: abc"
    assert [line.split(":")[0] for line in complaints] == [f"/{DIRECTORY}/10-packet-bond0.netdev"]


@pytest.mark.parametrize("case", ["bonded", "two-bonds", "individual"])
def test_udev_reads_the_link_files(case, tmp_path: Path):
    readback.require_networkd()
    conf = _write(_files(case), tmp_path / "conf", suffixes=(".link",))
    parsed, complaints = readback.link_problems(conf)
    assert complaints == []
    ours = {f"/etc/systemd/network/{p.name}" for p in conf.iterdir()}
    assert ours <= set(parsed)


def test_udev_catches_a_bad_link_file(tmp_path: Path):
    readback.require_networkd()
    files = {"10-packet-x.link": _files("bonded")["10-packet-enp1s0f0.link"] + "Nmae=x\n"}
    _, complaints = readback.link_problems(_write(files, tmp_path / "conf", suffixes=(".link",)))
    assert any("Nmae" in line for line in complaints)


def test_image_run_with_backend_networkd_and_networkd_reads_it(tmp_path: Path):
    """A whole run with --backend networkd on a trixie tree where systemd-networkd is
    enabled: the image's own networkd (257) loads every file we wrote, without a word."""
    from support import images

    images.require_root_tools()
    with images.overlay_copy("trixie-netplan", tmp_path / "image") as root:
        wants = root / "etc/systemd/system/multi-user.target.wants"
        wants.mkdir(parents=True, exist_ok=True)
        unit = "systemd-networkd.service"
        os.symlink(f"/usr/lib/systemd/system/{unit}", wants / unit)  # systemctl enable's link
        proc, events = cases.run_cli(tmp_path, root, "debian 13", "--backend", "networkd")
        assert proc.returncode == 0, proc.stderr
        event = cases.backend_event(events)
        assert event["backend"] == "networkd"
        assert event["reason"].startswith("requested with --backend")
        conf = _write(
            {p.name: p.read_text() for p in (root / DIRECTORY).iterdir()}, tmp_path / "conf"
        )
        loaded, complaints = readback.networkd_read(conf, image=root)
        assert complaints == []
        assert sorted(Path(p).name for p in loaded) == sorted(p.name for p in conf.iterdir())


# ---------------------------------------------------------------------------- at boot

# Like Flatcar's zz-default.network, DHCP on every Ethernet link no earlier file claims;
# the test's veth peers (the far ends of the wires) are left out of it.
CATCH_ALL = "[Match]\nType=ether\nName=!pnpeer*\n\n[Network]\nDHCP=yes\n"

# Boot, as far as the network goes, in throw-away namespaces: the host's networkd on
# `conf` as its /etc/systemd/network, a veth per host NIC with its metadata MAC (the peer
# up, so the link has carrier), then systemd-networkd-wait-online as the boot runs it.
# /sys is mounted read-only, as in a container: networkd then does not wait for udev.
# Each link's state file says how networkd left it.
_BOOT_SCRIPT = r"""
set -e
conf=$1 timeout=$2
shift 2
mount -t tmpfs pn-run /run
mkdir -p /run/systemd/netif
chown systemd-network:systemd-network /run/systemd/netif
mount --bind "$conf" /etc/systemd/network
mount -t sysfs -o ro pn-sys /sys
i=0
for nic in "$@"; do
    ip link add "${nic%=*}" address "${nic#*=}" type veth peer name "pnpeer$i"
    ip link set "pnpeer$i" up
    i=$((i + 1))
done
SYSTEMD_LOG_LEVEL=debug SYSTEMD_LOG_TARGET=console "$NETWORKD" > /run/networkd.log 2>&1 &
rc=0
"$WAIT_ONLINE" --timeout="$timeout" || rc=$?
echo "wait-online $rc"
for nic in "$@"; do
    name=${nic%=*}
    echo "link $name $(grep -E '^(ADMIN_STATE|NETWORK_FILE)=' \
        "/run/systemd/netif/links/$(cat "/sys/class/net/$name/ifindex")" | tr '\n' ' ')"
done
grep -h "Saved permanent hardware address" /run/networkd.log || true
"""


def _boot(conf: Path, nics, timeout: int) -> tuple[int, dict[str, dict[str, str]], str]:
    """(wait-online's exit code, each NIC's networkd state, networkd's MAC lines)."""
    networkd_bin = readback._networkd("/")
    env = {
        **readback.ENV,
        "NETWORKD": networkd_bin,
        "WAIT_ONLINE": networkd_bin.replace("networkd", "networkd-wait-online"),
    }
    argv = [
        "unshare",
        "--net",
        "--mount",
        "--pid",
        "--fork",
        "--mount-proc",
        "sh",
        "-c",
        _BOOT_SCRIPT,
        "sh",
        str(conf),
        str(timeout),
        *(f"{n.name}={n.mac}" for n in nics),
    ]
    proc = subprocess.run(argv, capture_output=True, text=True, env=env,
                          timeout=timeout + 60, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    code = int(next(line for line in lines if line.startswith("wait-online "))[12:])
    states = {}
    for line in lines:
        if line.startswith("link "):
            _, name, *pairs = line.split()
            states[name] = dict(pair.split("=", 1) for pair in pairs)
    return code, states, "\n".join(line for line in lines if "permanent" in line)


def _match_current_mac(conf: Path) -> None:
    """Test-only drop-ins: a veth has no permanent MAC (its permanent address reads as
    00:00:00:00:00:00), so our PermanentMACAddress= matches cannot select it. For each of
    our files, ``NAME.network.d/veth.conf`` empties that list (an empty assignment resets
    it, systemd.network(5)) and matches the same MAC as the current one; our files stay
    byte for byte as written. On a real NIC the permanent and current MAC are the same
    until a bond changes the current one."""
    for path in conf.glob("10-packet-*.network"):
        found = re.search(r"^PermanentMACAddress=(\S+)$", path.read_text(), re.M)
        if found:
            dropin = conf / f"{path.name}.d"
            dropin.mkdir()
            (dropin / "veth.conf").write_text(
                f"[Match]\nPermanentMACAddress=\nMACAddress={found.group(1)}\n"
            )


def _boot_conf(tmp_path: Path, case: str, leave_out: tuple[str, ...] = ()) -> Path:
    files = {n: t for n, t in _files(case).items() if n not in leave_out}
    conf = _write(files, tmp_path / "conf")
    _match_current_mac(conf)
    (conf / "zz-default.network").write_text(CATCH_ALL)
    return conf


def test_wait_online_succeeds_in_individual_mode(tmp_path: Path):
    """The second NIC is Unmanaged=yes, so the catch-all's DHCP never holds the boot."""
    readback.require_networkd()
    plan = f.build_plan(CASES["individual"])
    link, spare = plan.nics
    assert link.name == plan.link
    code, states, macs = _boot(_boot_conf(tmp_path, "individual"), plan.nics, timeout=15)
    assert code == 0, states
    assert states[link.name] == {
        "ADMIN_STATE": "configured",
        "NETWORK_FILE": f"/etc/systemd/network/10-packet-{link.name}.network",
    }
    assert states[spare.name] == {"ADMIN_STATE": "unmanaged"}
    # Why the drop-ins: networkd reads no permanent MAC from a veth.
    assert f"{link.name}: Saved permanent hardware address: 00:00:00:00:00:00" in macs


def test_wait_online_times_out_without_the_unmanaged_file(tmp_path: Path):
    """The check can fail: without our Unmanaged file the second NIC falls to the
    catch-all, waits for a DHCP server that never answers, and wait-online times out."""
    readback.require_networkd()
    plan = f.build_plan(CASES["individual"])
    link, spare = plan.nics
    conf = _boot_conf(tmp_path, "individual", leave_out=(f"10-packet-{spare.name}.network",))
    code, states, _ = _boot(conf, plan.nics, timeout=10)
    assert code != 0
    assert states[spare.name] == {
        "ADMIN_STATE": "configuring", "NETWORK_FILE": "/etc/systemd/network/zz-default.network",
    }  # fmt: skip
    assert states[link.name]["ADMIN_STATE"] == "configured"


UNMANAGED = (
    "# Written by packet-networking from the server's metadata.\n\n"
    "[Match]\nPermanentMACAddress={mac}\n\n[Link]\nUnmanaged=yes\n"
)


def _unmanaged(plan) -> dict[str, str]:
    files = {t.path.rsplit("/", 1)[1]: t.content for t in networkd.tasks(plan)}
    return {name: text for name, text in files.items() if "Unmanaged=yes" in text}


@pytest.mark.parametrize("case", CASES)
def test_a_host_nic_absent_from_the_metadata_is_unmanaged(case):
    """A third host NIC the metadata does not name gets the catch-all's place taken."""
    doc = CASES[case]
    count = len(doc["network"]["interfaces"])
    plan = f.build_plan(doc, f.host_nics(count + 1))
    extra = f"enp1s0f{count}"
    assert [n.name for n in plan.spare_nics] == [extra]
    unmanaged = _unmanaged(plan)
    assert unmanaged[f"10-packet-{extra}.network"] == UNMANAGED.format(mac=f.mac(count))
    if plan.mode == "individual":
        assert set(unmanaged) == {f"10-packet-{extra}.network", "10-packet-enp1s0f1.network"}
    else:
        assert set(unmanaged) == {f"10-packet-{extra}.network"}


def test_a_nic_dropped_by_a_plan_quirk_is_unmanaged():
    plan = f.build_plan(f.metadata(nics=2, plan="baremetal_1e"))
    assert [n.name for n in plan.nics] == ["enp1s0f0"]
    assert [(n.name, n.mac) for n in plan.spare_nics] == [("enp1s0f1", f.mac(1))]
    assert _unmanaged(plan) == {"10-packet-enp1s0f1.network": UNMANAGED.format(mac=f.mac(1))}


def test_dhcp_mode_leaves_nics_without_dhcp_unmanaged():
    doc = f.metadata(dhcp=True)
    doc["network"]["interfaces"][1]["dhcp"] = False
    plan = f.build_plan(doc)
    assert plan.mode == "dhcp"
    assert set(_unmanaged(plan)) == {"10-packet-enp1s0f1.network"}
