"""Reads go through the same resolution as writes: nothing is read on this host.

Before the descriptor walk, os-release was read by a plain join and detection looked at
``*.wants`` links through the host's kernel, so an absolute symlink in the image made
the tool read the installer's own files. Each case here plants a host path and, inside
the rootfs, the path the target would see under the same name: different content, so
reading the wrong one shows.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import safety

from packetnetworking import detect, target


def test_os_release_through_an_absolute_etc_link(tmp_path: Path):
    host_etc = tmp_path / "host-etc"  # a real host directory the link names
    host_etc.mkdir()
    (host_etc / "os-release").write_text("ID=debian\nVERSION_ID=12\n")
    root = tmp_path / "root"
    inside = root / str(host_etc).lstrip("/")  # the same path as the target sees it
    inside.mkdir(parents=True)
    (inside / "os-release").write_text('ID=alpine\nVERSION_ID="3.20"\n')
    os.symlink(host_etc, root / "etc")
    assert target.from_os_release(root) == target.Target("alpine", "3.20")


def test_os_release_link_that_climbs_out_is_no_file(tmp_path: Path):
    (tmp_path / "os-release").write_text("ID=debian\nVERSION_ID=12\n")
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "usr/lib").mkdir(parents=True)
    os.symlink("../../os-release", root / "etc/os-release")
    (root / "usr/lib/os-release").write_text("ID=rocky\nVERSION_ID=9.4\n")
    assert target.from_os_release(root) == target.Target("rocky", "9.4")


def test_the_cli_reads_the_targets_os_release(tmp_path: Path):
    """No -o and no OS in the metadata: the run picks the distro the image names."""
    host_etc = tmp_path / "host-etc"
    host_etc.mkdir()
    (host_etc / "os-release").write_text("ID=centos\nVERSION_ID=7\n")
    root = tmp_path / "root"
    inside = root / str(host_etc).lstrip("/")
    inside.mkdir(parents=True)
    (inside / "os-release").write_text("ID=debian\nVERSION_ID=12\n")
    os.symlink(host_etc, root / "etc")
    doc = json.loads((safety.inputs(tmp_path)[0]).read_text())
    doc["operating_system"] = {}
    meta, nics = safety.inputs(tmp_path, doc)
    argv = [*safety.args(meta, nics, root), "--resolvers", safety.RESOLVERS, "--dry-run",
            "--log-format", "json", "-v"]  # fmt: skip
    proc = safety.cli_subprocess(argv)
    assert proc.returncode == 0, proc.stderr
    chosen = [json.loads(line) for line in proc.stderr.splitlines() if "operating system" in line]
    assert chosen and chosen[0]["target"] == "debian 12", proc.stderr


def test_enablement_link_behind_an_absolute_wants_link(tmp_path: Path):
    """A ``.wants`` directory that is an absolute link: looked at inside the rootfs."""
    host_wants = tmp_path / "host-wants"
    host_wants.mkdir()
    os.symlink("/usr/lib/systemd/system/NetworkManager.service",
               host_wants / "NetworkManager.service")  # fmt: skip
    root = tmp_path / "root"
    (root / "usr/sbin").mkdir(parents=True)
    (root / "usr/sbin/NetworkManager").write_text("")
    units = root / "etc/systemd/system"
    units.mkdir(parents=True)
    os.symlink(host_wants, units / "multi-user.target.wants")
    assert not detect.look(root).is_enabled(detect.NETWORKMANAGER)
    (root / str(host_wants).lstrip("/")).mkdir(parents=True)  # now the target has it too
    os.symlink("/usr/lib/systemd/system/NetworkManager.service",
               root / str(host_wants).lstrip("/") / "NetworkManager.service")  # fmt: skip
    found = detect.look(root)
    assert found.is_enabled(detect.NETWORKMANAGER)
    assert dict(found.enabled)[detect.NETWORKMANAGER] == (
        "etc/systemd/system/multi-user.target.wants/NetworkManager.service"
    )
