"""systemd-networkd: exact output (golden files), and systemd's parsers reading it back.

The real systemd-networkd loads the .netdev and .network files (this host's 252, and
in the image matrix a trixie image's 257, which also names every file it loaded); udev's
``.link`` loader reads the .link files. Any "FILE:LINE: ... ignoring" is a failure.
"""

from __future__ import annotations

import os
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
