"""A hostile journal must not write onto the installer's mounts.

The journal lives in the customer's image, so every path in it is the image's choice.
An installer bind-mounts its ``/run`` (``/dev``, a ``resolv.conf``) into the target
before a chroot; a journal that names paths under such a mount passes every other check
(plain, relative, no symlink), and recovery would delete the installer's files, remove
its directories and create root-owned (even setuid) files there. The rule: a path of a
journal whose directory, or which itself, lies on another mount than the rootfs's own is
refused before anything changes, symlink or not, on the installer's side above all.

Each case runs in a private mount namespace held by a sleeping process (as in
``test_rollback_faults.py``): the installer's directory is bound onto ``ROOTFS/run``,
and the rootfs is either a directory of the same filesystem as the installer's (same
``st_dev``: only mount IDs tell them apart) or a tmpfs of its own (the rootfs as a mount
point, as the installer's ``/mnt`` is).
"""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

import pytest
import safety
from treehash import snapshot

from packetnetworking.transaction import JOURNAL


def _entry(path: str, existed: bool = True, content: bytes = b"prior\n", mode: int = 0o644,
           uid: int = 0) -> dict:  # fmt: skip
    return {"path": path, "existed": existed, "content": base64.b64encode(content).decode(),
            "mode": mode, "uid": uid, "gid": 0, "link": None, "xattrs": {}}  # fmt: skip


# A harmless entry the old code restored first (entries are undone last to first): the
# refusal must come before it, so that nothing at all changes.
MOTD = _entry("etc/motd")

ATTACKS: dict[str, dict] = {
    "delete the installer's file": {"files": [_entry("run/installer.pid", existed=False), MOTD]},
    "overwrite the installer's file": {
        "files": [_entry("run/installer.pid", content=b"6666\n"), MOTD]
    },  # fmt: skip
    "a root script on the installer's mount": {
        "files": [_entry("run/sh", content=b"#!/bin/sh\nid\n", mode=0o755), MOTD]
    },
    "a setuid-root file on the installer's mount": {
        "files": [_entry("run/sh", content=b"#!/bin/sh\nid\n", mode=0o4755), MOTD]
    },
    "remove the installer's empty directory": {"dirs": ["run/lock"], "files": [MOTD]},
    "the mount point itself": {"dirs": ["run"], "files": [MOTD]},
    "a file bind mount": {"files": [_entry("etc/resolv.conf", existed=False), MOTD]},
}


class Scene:
    """The namespace: ``root`` as the CLI names it, ``view`` the same from this process
    (through ``/proc/PID/root``), ``installer`` the installer's directory bound onto
    ``ROOTFS/run``."""

    def __init__(self, pid: int, root: Path, installer: Path, argv: list[str]) -> None:
        self.pid, self.root, self.installer, self.argv = pid, root, installer, argv
        self.view = Path(f"/proc/{pid}/root") / str(root).lstrip("/")

    def inside(self) -> tuple[str, ...]:
        return ("nsenter", "-t", str(self.pid), "-m", "-r", "--")

    def cli(self, *extra: str):
        return safety.cli_subprocess([*self.argv, *extra], prefix=self.inside())

    def bind(self, source: Path, rel: str) -> None:
        subprocess.run([*self.inside(), "mount", "--bind", str(source), str(self.root / rel)],
                       check=True)  # fmt: skip


@pytest.fixture(params=["rootfs a directory", "rootfs a tmpfs"])
def scene(request, tmp_path: Path):
    for tool in ("root", "unshare", "nsenter"):
        safety.require(tool, "bind mounts in a private mount namespace")
    installer = tmp_path / "installer-run"
    (installer / "lock").mkdir(parents=True)  # empty: rmdir would take it
    (installer / "installer.pid").write_text("4242\n")
    (installer / "resolv.conf").write_text("nameserver 10.0.0.53\n")
    pristine = tmp_path / "pristine"
    (pristine / "etc").mkdir(parents=True)
    (pristine / "run").mkdir()
    (pristine / "etc/motd").write_text("now\n")
    (pristine / "etc/resolv.conf").write_text("nameserver 192.0.2.53\n")
    root = tmp_path / "root"
    root.mkdir()
    tmpfs = 'mount -t tmpfs -o size=8m tmpfs "$2" && ' if request.param.endswith("tmpfs") else ""
    script = (
        f'{tmpfs}cp -a "$1/." "$2/" && mount --bind "$3" "$2/run" && echo ready && exec sleep 600'
    )
    holder = subprocess.Popen(
        ["unshare", "-m", "--propagation", "private", "--", "sh", "-c", script, "sh",
         str(pristine), str(root), str(installer)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "ready\n"
        meta, nics = safety.inputs(tmp_path)
        yield Scene(holder.pid, root, installer, safety.default_args(meta, nics, root))
    finally:
        holder.kill()
        holder.wait()


def _journal(doc: dict) -> bytes:
    return json.dumps({"version": 3, "dirs": doc.get("dirs", []), "files": doc["files"]}).encode()


@pytest.mark.parametrize("attack", ATTACKS)
def test_a_journal_naming_the_installers_mount_is_refused(scene: Scene, attack: str):
    if attack == "a file bind mount":  # as installers bind their resolv.conf for a chroot
        scene.bind(scene.installer / "resolv.conf", "etc/resolv.conf")
    (scene.view / JOURNAL).write_bytes(_journal(ATTACKS[attack]))
    before_installer, before_root = snapshot(scene.installer), snapshot(scene.view)
    proc = scene.cli()
    assert proc.returncode == 80, proc.stderr
    line = safety.one_line(proc.stderr)
    assert line.startswith(f"packet-networking: /{JOURNAL}: unreadable journal ("), line
    assert "another mount" in line, line
    assert snapshot(scene.installer) == before_installer, "the installer's files changed"
    assert snapshot(scene.view) == before_root, "a refused journal changed the rootfs"


def test_a_journal_inside_the_rootfs_mount_is_still_recovered(scene: Scene):
    """The control: the same namespace, a journal naming only the rootfs's own files, is
    recovered and the run goes on (the rootfs's own mount, tmpfs or not, is no other)."""
    (scene.view / JOURNAL).write_bytes(_journal({"files": [MOTD]}))
    before_installer = snapshot(scene.installer)
    proc = scene.cli()
    assert proc.returncode == 0, proc.stderr
    assert (scene.view / "etc/motd").read_bytes() == b"prior\n"
    assert not (scene.view / JOURNAL).exists()
    assert snapshot(scene.installer) == before_installer
