"""The releases of issue 15: Ubuntu 24.10-26.04, SLES and openSUSE Leap 16, CentOS Stream 9
and 10. Each is reached from ``-o``, from the metadata (``distro``/``version``, or the
slug alone) and from the rootfs's os-release alone, and writes exactly what the existing
golden files say for the format it shares with an older release: the files are compared
with those goldens, not copied (other work edits them; these follow). libnm reads back
the SUSE 16 keyfiles; netplan and ifupdown read the same bytes in their own test files,
since equality with their goldens is asserted here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import backend_cases as cases
import factories as f
import golden
import pytest
import readback
from test_rhel import manifest

from packetnetworking import registry, target
from packetnetworking.errors import NoBuilder
from packetnetworking.metadata import OperatingSystem

CASES = f.CASES
KEYFILES = "etc/NetworkManager/system-connections/"

# Each release: what -o says, the metadata's distro and version, its slug where Equinix
# Metal's naming (DISTRO_MAJOR[_MINOR]) gives one, its os-release, and its builder.
RELEASES = {
    "ubuntu 24.10": (
        "ubuntu",
        "24.10",
        "ubuntu_24_10",
        'ID=ubuntu\nVERSION_ID="24.10"\n',
        "ubuntu.ubuntu",
    ),
    "ubuntu 25.04": (
        "ubuntu",
        "25.04",
        "ubuntu_25_04",
        'ID=ubuntu\nVERSION_ID="25.04"\n',
        "ubuntu.ubuntu",
    ),
    "ubuntu 25.10": (
        "ubuntu",
        "25.10",
        "ubuntu_25_10",
        'ID=ubuntu\nVERSION_ID="25.10"\n',
        "ubuntu.ubuntu",
    ),
    "ubuntu 26.04": (
        "ubuntu",
        "26.04",
        "ubuntu_26_04",
        'NAME="Ubuntu"\nVERSION_ID="26.04"\nVERSION="26.04 LTS (Resolute Raccoon)"\n'
        "ID=ubuntu\nID_LIKE=debian\n",
        "ubuntu.ubuntu",
    ),
    "sles 16.0": (
        "sles",
        "16.0",
        None,
        'NAME="SLES"\nVERSION="16.0"\nVERSION_ID="16.0"\nID="sles"\nID_LIKE="suse opensuse"\n',
        "suse.suse16",
    ),
    "opensuse-leap 16.0": (
        "opensuse",
        "16.0",
        None,
        'NAME="openSUSE Leap"\nVERSION="16.0"\nID="opensuse-leap"\n'
        'ID_LIKE="suse opensuse"\nVERSION_ID="16.0"\n',
        "suse.suse16",
    ),
    "centos 9": (
        "centos",
        "9",
        "centos_9_stream",
        'NAME="CentOS Stream"\nVERSION="9"\nID="centos"\nID_LIKE="rhel fedora"\nVERSION_ID="9"\n',
        "rhel.ifcfg_scripts",
    ),
    "centos 10": (
        "centos",
        "10",
        "centos_10_stream",
        'NAME="CentOS Stream"\nVERSION="10 (Coughlan)"\nID="centos"\n'
        'ID_LIKE="rhel fedora"\nVERSION_ID="10"\n',
        "fedora.rhel10",
    ),
}


def _selected(found: target.Target) -> str:
    return registry.select(found, "bonded").id


@pytest.mark.parametrize("os", RELEASES)
def test_every_source_of_the_name_reaches_the_builder(os, tmp_path: Path):
    distro, version, slug, os_release, builder = RELEASES[os]
    assert _selected(target.from_option(os)) == builder
    assert _selected(target.from_metadata(OperatingSystem(distro, version, slug))) == builder
    if slug is not None:
        assert _selected(target.from_metadata(OperatingSystem(None, None, slug))) == builder
        assert _selected(target.from_metadata(OperatingSystem(distro, None, slug))) == builder
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/os-release").write_text(os_release)
    assert _selected(target.from_os_release(tmp_path)) == builder


@pytest.mark.parametrize("os", ["ubuntu 26.04", "sles 16.0", "opensuse-leap 16.0", "centos 10"])
def test_os_release_alone_configures_it(os, tmp_path: Path):
    """A whole run with neither -o nor an OS in the metadata: the tree's os-release decides."""
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/os-release").write_text(RELEASES[os][3])
    doc = dict(CASES["bonded"])
    doc.pop("operating_system", None)
    (tmp_path / "md.json").write_text(json.dumps(doc))
    (tmp_path / "nics.json").write_text(f.nics_json(2))
    argv = [sys.executable, "-m", "packetnetworking", "-M", str(tmp_path / "md.json"),
            "--nics", str(tmp_path / "nics.json"), "--rootfs", str(root), "--dry-run",
            "--resolvers", ",".join(f.RESOLVERS), "--log-format", "json", "-v"]  # fmt: skip
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stderr.splitlines()]
    (done,) = [e for e in events if e["event"] == "run complete"]
    assert done["builder"] == RELEASES[os][4]
    (chosen,) = [e for e in events if e["event"] == "operating system chosen"]
    assert chosen["origin"] == "the rootfs os-release"


# ---------------------------------------------------------------------------- output


def _golden_for(path: str, case: str) -> str:
    """Which existing golden file holds this output file for this case."""
    if path.startswith(KEYFILES):
        return f"nm/{case}/{path[len(KEYFILES) :]}"
    if path.startswith("etc/NetworkManager/conf.d/"):
        return f"nm/{case}/{path[len('etc/NetworkManager/') :]}"
    if path.startswith("etc/netplan/"):
        return f"netplan/{case}/{path[len('etc/netplan/') :]}"
    if path == "etc/systemd/resolved.conf":
        return "ubuntu/resolved.conf"
    return f"debian/{case}/{path}"  # hostname, hosts, udev rules, ENI, modules, resolv.conf


def _check(out: dict[str, str], case: str) -> None:
    problems = []
    for path in sorted(out):
        try:
            golden.check(_golden_for(path, case), out[path])
        except AssertionError as exc:
            problems.append(str(exc))
    assert not problems, "\n".join(problems)


UBUNTU = ("ubuntu 24.10", "ubuntu 25.04", "ubuntu 25.10", "ubuntu 26.04")


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("os", UBUNTU)
def test_ubuntu_with_ifupdown_writes_the_goldens(os, case):
    out = cases.files(os, CASES[case], backend="eni")
    assert "etc/network/interfaces" in out and "etc/systemd/resolved.conf" in out
    _check(out, case)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("os", UBUNTU)
def test_ubuntu_with_netplan_writes_the_goldens(os, case):
    out = cases.files(os, CASES[case], backend="netplan")
    assert "etc/netplan/90-packet.yaml" in out and "etc/network/interfaces" not in out
    _check(out, case)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("os", ["sles 16.0", "opensuse-leap 16.0", "centos 10"])
def test_networkmanager_releases_write_the_goldens(os, case):
    out = f.files(os, CASES[case])
    assert any(p.startswith(KEYFILES) for p in out)
    assert not any(p.startswith("etc/sysconfig/") for p in out)  # no wicked, no ifcfg
    _check(out, case)


@pytest.mark.parametrize("case", CASES)
def test_centos_stream_9_is_rhel_9(case):
    golden.check(f"rhel/{case}/tasks.el9.txt", manifest(f.render("centos 9", CASES[case])))
    golden.check_all(f"rhel/{case}", f.files("centos 9", CASES[case]))


@pytest.mark.parametrize("case", CASES)
def test_libnm_reads_suse_16(case):
    readback.require_libnm()
    out = f.files("sles 16.0", CASES[case])
    profiles = {p[len(KEYFILES) :]: v for p, v in out.items() if p.startswith(KEYFILES)}
    read = readback.nm_read(profiles)
    plan = f.build_plan(CASES[case])
    if plan.mode != "dhcp":
        # The resolvers are in the keyfile DNS keys: SUSE 16's NetworkManager reads those.
        carrier = next(r for r in read if r["ipv4"] and r["ipv4"]["method"] == "manual")
        assert carrier["ipv4"]["dns"] == list(f.RESOLVERS)


def test_the_golden_comparison_can_fail():
    """A changed byte in any file is a mismatch (and leaves *.actual to review)."""
    out = f.files("sles 16.0", CASES["bonded"])
    out["etc/hostname"] += "x"
    with pytest.raises(AssertionError, match="hostname differs"):
        _check(out, "bonded")
    actual = golden.GOLDEN / "debian/bonded/etc/hostname.actual"
    actual.unlink()


def test_suse_16_writes_no_wicked_files_even_when_asked():
    with pytest.raises(NoBuilder, match="configured with networkmanager only"):
        cases.files("sles 16.0", CASES["bonded"], backend="wicked")


def test_suse_16_with_only_wicked_in_the_tree_is_exit_40(tmp_path: Path):
    """A tree that still runs wicked would boot with keyfiles nothing reads: refused."""
    (tmp_path / "usr/sbin").mkdir(parents=True)
    (tmp_path / "usr/sbin/wicked").write_text("")
    with pytest.raises(NoBuilder, match="the rootfs has wicked") as caught:
        cases.files("opensuse-leap 16.0", CASES["bonded"], root=tmp_path)
    assert caught.value.exit_code == 40
