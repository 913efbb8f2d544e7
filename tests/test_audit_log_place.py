"""An audit log the run could replace is refused before anything is changed (issue 21).

A log at a file the run renames a new one over (the target's ``etc/hostname``) was
written through the old, unlinked inode: every task event and ``run complete`` were lost
and the exit was 0. Now a log that is one of the files the run replaces or deletes,
however the path reaches it (a symlink, ``..``, a relative path, a bind mount, a hard
link), compared by device and inode just before the first change, is exit 2 naming the
option and the path, the rootfs byte for byte as it was. A log elsewhere, inside the
rootfs too (``--rootfs /`` in a chroot, a log in the target's ``var/log``), survives the
run and is written whole.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import safety
from treehash import snapshot

CLI = (sys.executable, "-m", "packetnetworking")


@pytest.fixture
def scene(tmp_path: Path):
    root = tmp_path / "root"
    safety.old_rootfs(root)
    meta, nics = safety.inputs(tmp_path)
    return root, safety.default_args(meta, nics, root)


def _refused(scene, log: str, cwd: str = "/") -> str:
    root, argv = scene
    before = snapshot(root)
    proc = subprocess.run([*CLI, *argv, "--audit-log", log], capture_output=True,
                          text=True, timeout=120, cwd=cwd)  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert snapshot(root) == before
    # The console's JSON events (--log-format json) come first; the error is one line.
    lines = [line for line in proc.stderr.splitlines() if not line.startswith("{")]
    assert len(lines) == 1 and "--audit-log" in lines[0] and "nothing was changed" in lines[0]
    assert "/etc/hostname of the rootfs" in lines[0]
    return lines[0]


def test_a_log_at_a_file_the_run_replaces(scene):
    root, _ = scene
    _refused(scene, str(root / "etc/hostname"))


def test_a_log_through_a_symlink_into_the_rootfs(scene, tmp_path):
    root, _ = scene
    (tmp_path / "logs").symlink_to(root / "etc")
    _refused(scene, str(tmp_path / "logs" / "hostname"))


def test_a_log_by_a_relative_path_with_dotdot(scene, tmp_path):
    (tmp_path / "elsewhere").mkdir()
    _refused(scene, "../root/etc/../etc/hostname", cwd=str(tmp_path / "elsewhere"))


def test_a_log_through_a_bind_mount_of_the_rootfs(scene, tmp_path):
    safety.require("root", "bind-mounts the rootfs")
    safety.require("unshare", "bind-mounts in a private mount namespace")
    root, argv = scene
    view = tmp_path / "view"
    view.mkdir()
    before = snapshot(root)
    script = 'mount --bind "$0" "$1" || exit 99; shift; exec "$@"'
    proc = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script,
                           str(root), str(view), *CLI, *argv, "--audit-log",
                           str(view / "etc" / "hostname")],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "/etc/hostname of the rootfs" in proc.stderr and snapshot(root) == before


def test_a_hard_link_to_a_file_the_run_replaces(scene, tmp_path):
    root, _ = scene
    link = tmp_path / "audit.jsonl"
    os.link(root / "etc/hostname", link)
    _refused(scene, str(link))


@pytest.mark.parametrize("where", ["beside", "inside"])
def test_a_log_the_run_leaves_alone_is_written_whole(scene, tmp_path, where):
    root, argv = scene
    log = tmp_path / "audit.jsonl" if where == "beside" else root / "audit.jsonl"
    proc = subprocess.run([*CLI, *argv, "--audit-log", str(log)],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    events = log.read_text().splitlines()
    assert '"run complete"' in events[-1] and sum('"task"' in e for e in events) >= 3
