"""The audit log: checked before any change, and a failure after it never an internal error.

``--audit-log`` is opened, and the run's first event ("run started") written, before
anything else: a log that cannot be written stops the run with exit 2 and the rootfs
untouched. If it fails later (its disk fills up), the run stops before its first change
while it still can (exit 2, nothing changed), and after the commit it ends with exit 85
("configured, but the audit log could not be completed"), never exit 1. The log keeps
whole lines only. The disk that fills is a one-page tmpfs inside ``unshare -m``, with
the log already holding enough to leave room for exactly the events wanted.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import safety
from treehash import snapshot

PAGE = 4096  # a tmpfs of size=4k holds one page of file data
SPARE = 10  # bytes left over after the events that are meant to fit

# In a private mount namespace: a one-page tmpfs at $0, the log in it pre-filled with $1
# bytes (one earlier line), then the CLI ("$@"); the log is copied out to $2.
_SCRIPT = r"""
dir=$0 fill=$1 out=$2; shift 2
mount -t tmpfs -o size=4k tmpfs "$dir" || exit 99
head -c "$((fill - 1))" /dev/zero | tr '\0' x > "$dir/audit.jsonl" && echo >> "$dir/audit.jsonl"
"$@"; code=$?
cp "$dir/audit.jsonl" "$out"
exit $code
"""


@pytest.fixture
def scene(tmp_path: Path):
    """(pristine rootfs, argv without --audit-log, the audit lines of a normal run)."""
    safety.require("root", "mounts a tmpfs")
    safety.require("unshare", "mounts a tmpfs in a private mount namespace")
    root = tmp_path / "root"
    safety.old_rootfs(root)
    pristine = tmp_path / "pristine"
    shutil.copytree(root, pristine, symlinks=True)
    meta, nics = safety.inputs(tmp_path)
    argv = safety.default_args(meta, nics, root)
    reference = tmp_path / "reference.jsonl"
    proc = safety.cli_subprocess([*argv, "--audit-log", str(reference)])
    assert proc.returncode == 0, proc.stderr
    configured = snapshot(root)
    shutil.rmtree(root)
    shutil.copytree(pristine, root, symlinks=True)
    lines = reference.read_bytes().splitlines(keepends=True)
    assert [json.loads(line)["event"] for line in lines[:3]] == ["run started", "backend", "task"]
    return root, argv, lines, configured


def _full_after(scene, tmp_path: Path, fitting: int):
    """Run with room left for the first ``fitting`` events of a normal run (the line
    lengths are the same: same paths, same-length timestamps); returns (process, the
    events the log holds after the earlier line)."""
    root, argv, lines, _ = scene
    mount = tmp_path / "mnt"
    mount.mkdir()
    out = tmp_path / "audit-copy.jsonl"
    fill = PAGE - sum(len(line) for line in lines[:fitting]) - SPARE
    log = str(mount / "audit.jsonl")
    prefix = ("unshare", "-m", "sh", "-c", _SCRIPT, str(mount), str(fill), str(out))
    proc = safety.cli_subprocess([*argv, "--audit-log", log], prefix=prefix)
    assert proc.returncode != 99, f"could not mount the tmpfs: {proc.stderr}"
    content = out.read_bytes()
    assert content.endswith(b"\n"), "a cut line was left in the audit log"
    kept = content.splitlines()[1:]  # after the earlier line
    return proc, [json.loads(line)["event"] for line in kept]


def test_disk_fills_after_the_commit(scene, tmp_path: Path):
    """Room for "run started" and "backend": the tasks are logged after the commit."""
    root, _, _, configured = scene
    proc, events = _full_after(scene, tmp_path, fitting=2)
    assert proc.returncode == 85, proc.stderr
    line = safety.one_line(proc.stderr, progress=True)
    assert "the rootfs is configured, but the audit log" in line, line
    assert "No space left on device" in line, line
    assert events == ["run started", "backend"]
    assert snapshot(root) == configured


@pytest.mark.parametrize("fitting, words", [
    (1, "No space left on device; nothing was changed"),  # "backend" fails: before any change
    (0, "No space left on device; nothing was changed"),  # not even "run started"
])  # fmt: skip
def test_disk_fills_before_the_first_change(scene, tmp_path: Path, fitting: int, words: str):
    root = scene[0]
    before = snapshot(root)
    proc, events = _full_after(scene, tmp_path, fitting)
    assert proc.returncode == 2, proc.stderr
    line = safety.one_line(proc.stderr, progress=True)
    assert line.startswith("packet-networking: --audit-log ") and words in line, line
    assert events == ["run started"][:fitting]
    assert snapshot(root) == before


@pytest.mark.parametrize("log, reason", [
    ("/dev/full", "No space left on device"),
    ("/", "is a directory, not a file"),
    ("", "No such file or directory"),
    ("/nonexistent/audit.jsonl", "No such file or directory"),
])  # fmt: skip
def test_unwritable_audit_log(scene, log: str, reason: str):
    root, argv = scene[0], scene[1]
    before = snapshot(root)
    proc = safety.cli_subprocess([*argv, "--audit-log", log])
    assert proc.returncode == 2, proc.stderr
    assert safety.one_line(proc.stderr) == (
        f"packet-networking: --audit-log {log!r}: {reason}; nothing was changed"
    )
    assert snapshot(root) == before
