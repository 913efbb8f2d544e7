"""Alpine: exact output (golden files), its selection, and ifupdown-ng reading it back.

Debian trixie ships the ifupdown-ng Alpine ships (0.12.1): its ifparse checks the syntax
(errors only on stderr, exit 0: any stderr fails), and its ifup-ng, run in an empty
network namespace with a logging stand-in for ``ip``, shows the exact commands the
bond executor would run. A bond cannot be created on these machines (VALIDATION.md), so
that is as close as a bond gets; an individual config is applied for real on a veth.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import factories as f
import golden
import pytest
from conftest import require
from support.images import build, fresh_copy, require_root_tools, run_in
from support.netns import apply_in_netns

from packetnetworking import registry
from packetnetworking.distros.alpine import MDEV_NAMEIF
from packetnetworking.errors import NoBuilder
from packetnetworking.renderers import eni
from packetnetworking.target import from_option

CASES = f.CASES
COMMON = {
    "etc/network/interfaces",
    "etc/mactab",
    "etc/mdev.conf",
    "etc/udev/rules.d/70-persistent-net.rules",
    "etc/hostname",
    "etc/hosts",
    "etc/resolv.conf",
}
BONDING = {"etc/modules", "etc/modprobe.d/bonding.conf"}
OS = "alpine 3.20"

# ---------------------------------------------------------------------------- pure


@pytest.mark.parametrize("case", CASES)
def test_alpine_golden(case):
    out = f.files(OS, CASES[case])
    bonded = case not in ("individual", "dhcp")
    assert set(out) == COMMON | (BONDING if bonded else set())
    golden.check_all(f"alpine/{case}", out)


@pytest.mark.parametrize("case", CASES)
def test_same_stanzas_as_debian(case):
    """One ENI renderer: the dialects differ in option lines, never in the stanzas."""
    plan = f.build_plan(CASES[case])

    def shape(dialect):
        return [(s.name, s.family, s.method, s.auto) for s in eni.stanzas(plan, dialect)]

    assert shape(eni.IFUPDOWN_NG) == shape(eni.IFUPDOWN)


def test_no_ifenslave_spellings():
    text = f.files(OS, CASES["bonded"])["etc/network/interfaces"]
    for word in ("bond-slaves", "bond-master", "xmit_hash_policy", "bond-mode 4", "netmask"):
        assert word not in text


@pytest.mark.parametrize(
    "target", ["alpine 3", "alpine 3.13", "alpine 3.20", "Alpine 3.21", "ALPINE 3.18.4"]
)
def test_selects_alpine(target):
    for mode in ("bonded", "individual", "dhcp"):
        assert registry.select(from_option(target), mode).id == "alpine.alpine"


@pytest.mark.parametrize("target", ["alpine 2.7", "alpine 4", "alpine edge", "alpine"])
def test_other_alpine_versions_are_refused(target):
    with pytest.raises(NoBuilder) as caught:
        registry.select(from_option(target), "bonded")
    assert "alpine 3" in str(caught.value) and caught.value.exit_code == 40
    assert registry.overlaps() == []


# ---------------------------------------------------------------------------- ifupdown-ng

# Stands in for ip(8) inside the chroot: records the command, changes nothing.
_IP_STUB = '#!/bin/sh\necho "ip $*" >> /tmp/ip.log\n'
_UDHCPC_STUB = '#!/bin/sh\necho "udhcpc $*" >> /tmp/ip.log\n'
# And for sleep, so the member delay shows in the log, in order, and costs no time.
_SLEEP_STUB = '#!/bin/sh\necho "sleep $*" >> /tmp/ip.log\n'


@pytest.fixture(scope="module")
def ng_root(tmp_path_factory) -> Path:
    """A copy of the ifupdown-ng image whose ip and udhcpc only log what they are asked."""
    require_root_tools()
    root = fresh_copy("trixie-ifupdown-ng", tmp_path_factory.mktemp("ng") / "root")
    stubs = (
        ("usr/local/sbin/ip", _IP_STUB),
        ("usr/sbin/udhcpc", _UDHCPC_STUB),
        ("usr/local/sbin/sleep", _SLEEP_STUB),
    )
    for path, text in stubs:
        (root / path).write_text(text)
        (root / path).chmod(0o755)
    return root


def ifparse(root: Path, text: str) -> str:
    (root / "tmp/interfaces").write_text(text)
    res = run_in(root, ["ifparse", "-i", "/tmp/interfaces", "-A"])
    assert res.returncode == 0 and res.stderr == "", res.stderr
    return res.stdout


def ifup_commands(root: Path, text: str) -> list[str]:
    """The ip commands `ifup-ng -a` runs for this file (in an empty network namespace)."""
    (root / "tmp/interfaces").write_text(text)
    (root / "tmp/ip.log").write_text("")
    (root / "tmp/ifstate").unlink(missing_ok=True)
    res = subprocess.run(
        [
            "unshare",
            "-n",
            "chroot",
            str(root),
            "ifup-ng",
            "-a",
            "-l",
            "-i",
            "/tmp/interfaces",
            "-S",
            "/tmp/ifstate",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": "/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin"},
    )
    assert res.returncode == 0 and res.stderr == "", res.stderr
    return (root / "tmp/ip.log").read_text().splitlines()


@pytest.mark.parametrize("case", CASES)
def test_ifparse_reads_it(case, ng_root):
    plan = f.build_plan(CASES[case])
    parsed = ifparse(ng_root, f.files(OS, CASES[case])["etc/network/interfaces"])
    for bond in plan.bonds:
        assert f"  bond-members {' '.join(bond.members)}\n" in parsed
        assert f"  requires {' '.join(bond.members)}" in parsed
    if plan.primary4:
        assert f"  address {plan.primary4.cidr}\n" in parsed
        assert f"  gateway {plan.primary4.gateway}\n" in parsed
    assert "use dns" not in parsed  # no nameserver option with nothing to read it


@pytest.mark.parametrize("case", ["bonded", "two-bonds", "no-ipv6"])
def test_bond_created_with_its_options(case, ng_root):
    """The balance-rr bug: the executor must ask for the mode, by name, at creation."""
    plan = f.build_plan(CASES[case])
    assert plan.delayed_members  # the member delay below is checked, never vacuous
    commands = ifup_commands(ng_root, f.files(OS, CASES[case])["etc/network/interfaces"])
    for bond in plan.bonds:
        create = [c for c in commands if c.startswith(f"ip link add {bond.name} type bond ")]
        assert len(create) == 1, commands
        options = create[0].split()[6:]
        settings = dict(zip(options[::2], options[1::2]))
        expected = {
            "mode": "802.3ad" if bond.mode == 4 else "balance-tlb",
            "miimon": "100",
            "updelay": "200",
            "downdelay": "200",
            "xmit_hash_policy": "layer3+4",
        }
        if bond.mode == 4:
            expected["lacp_rate"] = "fast"
        assert settings == expected
        for member in bond.members:
            assert f"ip link set master {bond.name} {member}" in commands
            # The member delay (plan quirk): the member's pre-up sleeps just before it
            # comes up, which is before the bond exists and enslaves it.
            up = commands.index(f"ip link set up dev {member}")
            delayed = member in plan.delayed_members
            assert (commands[up - 1] == "sleep 4") is delayed, commands
            assert up < commands.index(create[0])
            assert commands.index(create[0]) < commands.index(
                f"ip link set master {bond.name} {member}"
            )
        assert f"ip link set up dev {bond.name} address {bond.mac}" in commands
    assert f"ip -4 addr add {plan.public4.cidr} dev bond0" in commands
    assert f"ip -4 route add default via {plan.public4.gateway} metric 1 dev bond0" in commands
    assert f"ip -4 addr add {plan.private4.cidr} dev bond0:0" in commands
    assert f"ip route add 10.0.0.0/8 via {plan.private4.gateway}" in commands
    if plan.public6:
        assert f"ip -6 addr add {plan.public6.cidr} dev bond0" in commands


def test_dhcp_starts_a_client_per_nic(ng_root):
    commands = ifup_commands(ng_root, f.files(OS, CASES["dhcp"])["etc/network/interfaces"])
    for nic in ("enp1s0f0", "enp1s0f1"):
        assert any(c.startswith("udhcpc ") and f"-i {nic}" in c for c in commands), commands


def test_individual_applies_for_real(tmp_path):
    """ifup-ng then ifdown-ng on a veth named like the NIC: addresses and routes."""
    require_root_tools()
    root = fresh_copy("trixie-ifupdown-ng", tmp_path / "root")
    doc = CASES["individual"]
    plan = f.build_plan(doc)
    (root / "etc/network/interfaces").write_text(f.files(OS, doc)["etc/network/interfaces"])
    res = apply_in_netns(root, [plan.link], ["ifup-ng", "-a"], ["ifdown-ng", "-a"])
    assert res.up.returncode == 0 and res.up.stderr == "", res.up.stderr
    up = res.after_up
    assert up.cidrs(plan.link) == {plan.public4.cidr, plan.private4.cidr, plan.public6.cidr}
    routes4 = {r["dst"]: r.get("gateway") for r in up.route4}
    assert routes4["default"] == str(plan.public4.gateway)
    assert routes4["10.0.0.0/8"] == str(plan.private4.gateway)
    assert {r["dst"]: r.get("gateway") for r in up.route6}["default"] == str(plan.public6.gateway)
    assert res.down.returncode == 0
    assert res.after_down.cidrs() == set() and res.after_down.route4 == []


# ---------------------------------------------------------------------------- the CLI

# Lines of Alpine's own mdev.conf: a rule for every event with a MODALIAS, tun/tap, and
# the fallback for "!" names; none of them matches a NIC, so an appended rule is reached.
ALPINE_MDEV = """\
$MODALIAS=.*\troot:root\t0660\t@modprobe -q -b "$MODALIAS"
null\troot:root 0666\t@chmod 666 $MDEV
net/tun[0-9]*\troot:netdev 0666
net/tap[0-9]*\troot:netdev 0666
(.*)!(.*)\troot:root 0660 =%1/%2
"""


def test_cli_writes_then_changes_nothing(tmp_path):
    rootfs = tmp_path / "rootfs"
    (rootfs / "etc").mkdir(parents=True)
    (rootfs / "etc/mdev.conf").write_text(ALPINE_MDEV)
    (rootfs / "etc/modules").write_text("af_packet\nipv6\n")
    first = f.cli_events(tmp_path, rootfs, "alpine 3.20")
    tasks = [e for e in first if e["event"] == "task"]
    assert {t["path"] for t in tasks} == {f"/{p}" for p in COMMON | BONDING}
    assert (rootfs / "etc/mdev.conf").read_text() == ALPINE_MDEV + MDEV_NAMEIF + "\n"
    assert (rootfs / "etc/modules").read_text() == "af_packet\nipv6\nbonding\n"
    assert (rootfs / "etc/resolv.conf").read_text().endswith("nameserver 147.75.207.207\n")

    again = f.cli_events(tmp_path, rootfs, "Alpine 3")
    assert [e["action"] for e in again if e["event"] == "task"] == ["unchanged"] * len(tasks)
    assert [e for e in again if e["event"] == "run complete"][0]["written"] == 0


# busybox mdev told of two new NICs, as the kernel tells it, in a private network and
# mount namespace where /etc is the rootfs's etc and /sbin/nameif is busybox.
_MDEV_RUN = """\
set -e
mount -t sysfs sysfs /sys
mount -t tmpfs tmpfs /dev
ip link add pnA address "$1" type veth peer name pnB address "$2"
mount --bind "$3/etc" /etc
mount --bind "$3/sbin" /usr/sbin
for dev in pnA pnB; do
    ACTION=add SUBSYSTEM=net DEVPATH=/devices/virtual/net/$dev INTERFACE=$dev busybox mdev
done
ip -br link
"""


def _require_busybox() -> None:
    require_root_tools()
    require("busybox", "make test installs it")


def test_mdev_and_nameif_rename_the_nics(tmp_path):
    _require_busybox()
    rootfs = tmp_path / "rootfs"
    (rootfs / "etc").mkdir(parents=True)
    (rootfs / "etc/mdev.conf").write_text(ALPINE_MDEV)
    f.cli_events(tmp_path, rootfs, "alpine 3.20")
    (rootfs / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (rootfs / "etc/group").write_text("root:x:0:\nnetdev:x:28:\n")
    (rootfs / "sbin").mkdir()
    (rootfs / "sbin/nameif").symlink_to(shutil.which("busybox"))
    res = subprocess.run(
        [
            "unshare",
            "-n",
            "-m",
            "--propagation",
            "private",
            "sh",
            "-c",
            _MDEV_RUN,
            "mdev",
            f.mac(0),
            f.mac(1),
            str(rootfs),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert res.returncode == 0 and res.stderr == "", res.stderr
    names = {line.split()[0].split("@")[0]: line.split()[2] for line in res.stdout.splitlines()}
    assert names == {"lo": "00:00:00:00:00:00", "enp1s0f0": f.mac(0), "enp1s0f1": f.mac(1)}


def test_image_is_the_one_alpine_ships():
    """The checks above stand for Alpine only while trixie has Alpine's version."""
    require_root_tools()
    query = ["dpkg-query", "-W", "-f", "${Version}", "ifupdown-ng"]
    res = run_in(build("trixie-ifupdown-ng"), query)
    assert res.stdout.startswith("0.12.1"), res.stdout
