"""The RHEL family (ifcfg): exact output, builder selection, NetworkManager's fate, the CLI.

File goldens live in golden/rhel/<case>/ and are the same for every family and version:
what differs between 7, 8 and 9 is which tasks run, recorded per case in tasks.elN.txt.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import factories as f
import golden
import pytest
from conftest import require

from packetnetworking import registry
from packetnetworking.distros import rhel
from packetnetworking.errors import NoBuilder
from packetnetworking.plan import MODES
from packetnetworking.target import from_option
from packetnetworking.tasks import Delete, EnsureLine, Write

CASES = f.CASES

# Each family at each major version it supports: (what -o says, the major version).
TARGETS = {
    "centos 7.9": 7,
    "centos 8.5": 8,
    "rhel 7.9": 7,
    "rhel 8.9": 8,
    "rhel 9.4": 9,
    "rocky 8.9": 8,
    "rocky 9.4": 9,
    "almalinux 8.9": 8,
    "almalinux 9.4": 9,
    "scientific 7.9": 7,
}

FAMILIES = {
    "centos": (("centos",), ("7", "7.9", "8", "8.5")),
    "rhel": (
        ("rhel", "redhatenterprise", "redhatenterpriseserver"),
        ("7", "7.9", "8", "8.9", "9", "9.4"),
    ),
    "rocky": (("rocky",), ("8", "8.9", "9", "9.4")),
    "almalinux": (("almalinux", "alma"), ("8", "8.9", "9", "9.4")),
    "scientific": (("scientific", "scientificcernslc"), ("7", "7.9")),
}


def manifest(tasks) -> str:
    """Every task, in order, as one line: what the builder asks of the Transaction."""
    lines = []
    for task in tasks:
        if isinstance(task, Write):
            lines.append(f"write {task.mode:04o} {task.path}")
        elif isinstance(task, EnsureLine):
            lines.append(f"ensure-line {task.mode:04o} {task.path}: {task.line}")
        elif isinstance(task, Delete):
            lines.append(f"delete {task.path}")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("os_name", TARGETS)
def test_golden(os_name, case):
    tasks = f.render(os_name, CASES[case])
    golden.check(f"rhel/{case}/tasks.el{TARGETS[os_name]}.txt", manifest(tasks))
    golden.check_all(f"rhel/{case}", f.files(os_name, CASES[case]))


@pytest.mark.parametrize("family", FAMILIES)
def test_every_name_and_version_selects_the_ifcfg_builder(family):
    names, versions = FAMILIES[family]
    for name in names:
        for version in versions:
            for mode in MODES:
                chosen = registry.select(from_option(f"{name} {version}"), mode)
                assert chosen.family == family and chosen.func is rhel.ifcfg_scripts


@pytest.mark.parametrize(
    "os_name, family",
    [
        ("CentOS 7", "centos"),
        ("RedHatEnterprise 8.9", "rhel"),
        ("RedHatEnterpriseServer 7.9", "rhel"),
        ("RHEL 9", "rhel"),
        ("Rocky 9.4", "rocky"),
        ("AlmaLinux 9.4", "almalinux"),
        ("ALMA 8", "almalinux"),
        ("ScientificCERNSLC 7.9", "scientific"),
    ],
)
def test_names_are_case_insensitive(os_name, family):
    assert registry.select(from_option(os_name), "bonded").family == family


@pytest.mark.parametrize(
    "os_name",
    [
        "centos 6",
        "rhel 6.10",
        "redhatenterprise 6",
        "rocky 7",
        "alma 7.9",
        "scientific 6",
        "scientificcernslc 8",
        "centos",
    ],
)
def test_unsupported_versions_are_refused(os_name):
    with pytest.raises(NoBuilder) as caught:
        registry.select(from_option(os_name), "bonded")
    assert caught.value.exit_code == 40
    assert "centos 7-9" in str(caught.value) and "rhel 7-9" in str(caught.value)


def test_no_registrations_overlap():
    assert registry.overlaps() == []


def test_el8_with_network_scripts_installed_disables_network_manager(tmp_path):
    """The legacy service on the target decides; then 8 does what 7 does."""
    (tmp_path / "etc/rc.d/init.d").mkdir(parents=True)
    (tmp_path / "etc/rc.d/init.d/network").write_text("#!/bin/bash\n")
    tasks = f.render("rocky 8.9", CASES["bonded"], root=tmp_path)
    golden.check("rhel/bonded/tasks.el7.txt", manifest(tasks))
    assert tuple(t.path for t in tasks if isinstance(t, Delete)) == rhel.NETWORK_MANAGER_LINKS


def test_el8_marker_is_looked_up_inside_the_rootfs(tmp_path):
    """An absolute symlink means the target's own path, never the host's."""
    (tmp_path / "etc/rc.d/init.d").mkdir(parents=True)
    host_file = tmp_path.parent / "host-network"
    host_file.write_text("#!/bin/bash\n")
    (tmp_path / "etc/rc.d/init.d/network").symlink_to(host_file)
    tasks = f.render("rocky 8.9", CASES["bonded"], root=tmp_path)
    assert not any(isinstance(t, Delete) for t in tasks)


def test_el9_never_disables_network_manager(tmp_path):
    (tmp_path / "etc/rc.d/init.d").mkdir(parents=True)
    (tmp_path / "etc/rc.d/init.d/network").write_text("#!/bin/bash\n")
    tasks = f.render("almalinux 9.4", CASES["bonded"], root=tmp_path)
    assert not any(isinstance(t, Delete) for t in tasks)


@pytest.mark.parametrize("shell", ["/bin/sh", "/bin/bash", "/usr/bin/dash"])
def test_ifup_pre_local_is_valid_posix_sh(shell, tmp_path):
    if not Path(shell).exists():
        pytest.skip(f"{shell} is not installed")
    script = tmp_path / "ifup-pre-local"
    script.write_text(f.files("centos 7", CASES["two-bonds"])["sbin/ifup-pre-local"])
    assert subprocess.run([shell, "-n", str(script)], check=False).returncode == 0
    for args in ([], ["ifcfg-nosuchdevice"], ["ifcfg-lo", "boot"]):
        proc = subprocess.run(
            [shell, str(script), *args], capture_output=True, text=True, check=False
        )
        assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", ""), args


def test_ifup_pre_local_pins_macs_in_a_netns(tmp_path):
    """Run it for real on veths named like the NICs and the bond (bonds cannot be made here)."""
    _require_root_and_unshare()
    script = tmp_path / "ifup-pre-local"
    script.write_text(f.files("centos 7", CASES["bonded"])["sbin/ifup-pre-local"])
    script.chmod(0o755)
    commands = [
        "set -e",
        "mount -t sysfs pn-sys /sys",
        "ip link add enp1s0f0 type veth peer name pnpeer0",
        "ip link add bond0 type veth peer name pnpeer1",
        "ip link add enp1s0f1 type veth peer name pnpeer2",
        "ip link add pnbridge type bridge",
        "ip link set dev enp1s0f1 master pnbridge",
        "ip link set dev enp1s0f0 address 02:00:00:00:00:01",
        "ip link set dev bond0 address 02:00:00:00:00:02",
        "ip link set dev enp1s0f1 address 02:00:00:00:00:03",
        f"{script} ifcfg-enp1s0f0 boot",
        f"{script} ifcfg-bond0",
        f"{script} ifcfg-enp1s0f1",  # enslaved (to a bridge here): left alone
        "cat /sys/class/net/enp1s0f0/address /sys/class/net/bond0/address",
        "cat /sys/class/net/enp1s0f1/address",
    ]
    proc = subprocess.run(
        [
            "unshare",
            "--net",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            "\n".join(commands),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [f.mac(0), f.mac(0), "02:00:00:00:00:03"]


def test_ifup_pre_local_delays_members_but_the_first(tmp_path):
    """The plan quirk bond_member_delay: after the MAC fix-up, every member but the first
    NIC sleeps 4 s. sleep is replaced, inside a private mount namespace only, by a stub
    that logs its argument and the device, so nothing waits."""
    _require_root_and_unshare()
    plan = f.build_plan(CASES["two-bonds"])
    script = tmp_path / "ifup-pre-local"
    script.write_text(f.files("centos 7", CASES["two-bonds"])["sbin/ifup-pre-local"])
    script.chmod(0o755)
    log, stub = tmp_path / "sleep.log", tmp_path / "sleep"
    stub.write_text(f'#!/bin/sh\necho "$DEVICE sleep $*" >> {log}\n')
    stub.chmod(0o755)
    commands = ["set -e", "mount -t sysfs pn-sys /sys", f"mount --bind {stub} $(command -v sleep)"]
    for i, nic in enumerate(plan.nics):
        commands += [
            f"ip link add {nic.name} type veth peer name pnpeer{i}",
            f"DEVICE={nic.name} {script} ifcfg-{nic.name}",
        ]
    proc = subprocess.run(
        [
            "unshare",
            "--net",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            "\n".join(commands),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stderr
    slept = log.read_text().splitlines() if log.exists() else []
    assert slept == [f"{name} sleep 4" for name in plan.delayed_members]
    assert len(slept) == 3


def _require_root_and_unshare() -> None:
    require("root", "for a network namespace")
    works = subprocess.run(["unshare", "--net", "true"], check=False).returncode == 0
    require("unshare --net", "a network namespace", works)


def _cli(root: Path, tmp_path: Path, os_name: str) -> subprocess.CompletedProcess:
    meta = tmp_path / "metadata.json"
    meta.write_text(json.dumps(f.metadata()))
    nics = tmp_path / "nics.json"
    nics.write_text(f.nics_json(2))
    argv = [
        sys.executable,
        "-m",
        "packetnetworking",
        "-M",
        str(meta),
        "--nics",
        str(nics),
        "-o",
        os_name,
        "--rootfs",
        str(root),
        "--resolvers",
        ",".join(f.RESOLVERS),
        "--log-format",
        "json",
    ]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


def _tree(root: Path) -> dict[str, int]:
    return {
        str(p.relative_to(root)): p.lstat().st_mode & 0o7777
        for p in root.rglob("*")
        if p.is_file() or p.is_symlink()
    }


def test_cli_writes_rocky_9(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    proc = _cli(root, tmp_path, "rocky 9")
    assert proc.returncode == 0, proc.stderr
    expected = {
        line.split()[-1]: int(line.split()[1], 8)
        for line in (golden.GOLDEN / "rhel/bonded/tasks.el9.txt").read_text().splitlines()
    }
    assert _tree(root) == expected
    assert expected["sbin/ifup-pre-local"] == 0o755
    for path in expected:
        golden.check(f"rhel/bonded/{path}", (root / path).read_text())


def test_cli_on_centos_7_disables_network_manager_and_reruns_unchanged(tmp_path):
    root = tmp_path / "root"
    units = root / "usr/lib/systemd/system"
    units.mkdir(parents=True)
    (units / "NetworkManager.service").write_text("[Unit]\n")
    links = {
        rhel.NETWORK_MANAGER_LINKS[0]: "/usr/lib/systemd/system/NetworkManager.service",
        rhel.NETWORK_MANAGER_LINKS[1]: "/usr/lib/systemd/system/NetworkManager.service",
    }
    for path, target in links.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).symlink_to(target)
    proc = _cli(root, tmp_path, "CentOS 7")
    assert proc.returncode == 0, proc.stderr
    for path in links:
        assert not os.path.lexists(root / path)
    assert (units / "NetworkManager.service").read_text() == "[Unit]\n"  # the unit stays
    assert (root / "sbin/ifup-pre-local").stat().st_mode & 0o777 == 0o755
    first = {p: (root / p).read_bytes() for p in _tree(root)}
    again = _cli(root, tmp_path, "CentOS 7")
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stderr.splitlines()[-1])
    assert summary["event"] == "run complete" and summary["written"] == 0
    assert {p: (root / p).read_bytes() for p in _tree(root)} == first
