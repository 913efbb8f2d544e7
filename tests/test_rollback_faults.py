"""A rollback that cannot restore everything keeps going, says what it could not do,
and leaves a state the next run recovers from.

``chattr +a`` on the image's ``etc/network`` (append-only: entries can be made, never
renamed over or removed) on a small ext4 filesystem, mounted in a private mount
namespace held by a sleeping process: the run fails at the rename, its rollback cannot
remove the temp file there but restores every other file, reports that one path on a
line of its own and keeps the journal. A run with the attribute still set is refused
the same way; once it is cleared, the next run recovers and ends at the reference tree.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import safety
from treehash import snapshot

from packetnetworking.transaction import JOURNAL


@pytest.fixture
def ext4(tmp_path: Path):
    """(the namespace's pid, the mount point as the namespace sees it, the same as
    this process reaches it through /proc/PID/root)."""
    for tool in ("root", "mke2fs", "chattr", "unshare", "nsenter"):
        safety.require(tool, "an ext4 filesystem with chattr +a, in a private mount namespace")
    image, mnt = tmp_path / "ext4.img", tmp_path / "mnt"
    with open(image, "wb") as f:
        f.truncate(32 << 20)
    subprocess.run(["mke2fs", "-q", "-t", "ext4", str(image)], check=True)
    mnt.mkdir()
    holder = subprocess.Popen(
        ["unshare", "-m", "--propagation", "private", "--", "sh", "-c",
         'mount -o loop "$1" "$2" && echo ready && exec sleep 600', "sh", str(image), str(mnt)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "ready\n"
        yield holder.pid, mnt, Path(f"/proc/{holder.pid}/root") / str(mnt).lstrip("/")
    finally:
        holder.kill()
        holder.wait()


def test_rollback_keeps_going_and_the_next_run_recovers(tmp_path: Path, ext4):
    pid, mnt, view = ext4
    meta, nics = safety.inputs(tmp_path)
    reference = tmp_path / "reference"
    old = safety.old_rootfs(reference)
    assert safety.cli_subprocess(safety.default_args(meta, nics, reference)).returncode == 0
    pristine = tmp_path / "pristine"
    safety.old_rootfs(pristine)
    shutil.copytree(pristine, view / "root", symlinks=True)
    argv = safety.default_args(meta, nics, mnt / "root")
    inside = ("nsenter", "-t", str(pid), "-m", "-r", "--")  # -r: its root, also in a chroot
    subprocess.run(["chattr", "+a", str(view / "root/etc/network")], check=True)

    first = safety.cli_subprocess(argv, prefix=inside)
    assert first.returncode == 80, first.stderr
    errors = [json.loads(x) for x in first.stderr.splitlines() if x.startswith("{")]
    failed = [e["path"] for e in errors if e.get("event") == "could not restore"]
    # The leftover temp file is named whole, as the target sees it, never by its basename.
    temp = "/etc/network/.interfaces.pn-new"
    assert failed == [f"/etc/network/interfaces: {temp}: Operation not permitted"], first.stderr
    last = first.stderr.splitlines()[-1]
    assert f"writing failed ({temp}: Operation not permitted)" in last, last
    assert "and so did restoring 1 path(s)" in last and f"/{JOURNAL}" in last, last
    assert (view / "root" / JOURNAL).exists(), "the journal must stay for the next run"
    for rel, content in old.items():  # every other file is back as it was
        if not rel.startswith("etc/network/"):
            assert (view / "root" / rel).read_bytes() == content, rel

    again = safety.cli_subprocess(argv, prefix=inside)
    assert again.returncode == 80, again.stderr
    assert "recovering an interrupted run failed for 1 path(s)" in again.stderr.splitlines()[-1]
    assert f'"path": "/etc/network/interfaces: {temp}: Operation not permitted"' in again.stderr

    subprocess.run(["chattr", "-a", str(view / "root/etc/network")], check=True)
    audit = tmp_path / "audit.jsonl"
    final = safety.cli_subprocess([*argv, "--audit-log", str(audit)], prefix=inside)
    assert final.returncode == 0, final.stderr
    assert "recovered interrupted run" in audit.read_text()
    assert snapshot(view / "root") == snapshot(reference)
