"""The Tinkerbell action's mount lifecycle on a real partition (a loop device holding a
Debian 12 tree): it mounts BLOCK_DEVICE, writes, and unmounts cleanly, read-only for a
dry run, and unmounted after a failure, a wrong FS_TYPE or tink-worker's SIGTERM.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import factories as f
import pytest
from action_run import DOC, one_line, pyz_run
from conftest import require
from support import images, partition


@pytest.fixture(scope="module")
def debian_tree() -> Path:
    images.require_root_tools()
    tool = partition.missing_tool()
    require(tool or "partition tools", "util-linux, fdisk, e2fsprogs (APT_PACKAGES)", tool is None)
    return images.build("bookworm-ifupdown")


@pytest.fixture
def target(debian_tree, tmp_path):
    with partition.ext4_partition(debian_tree, tmp_path / "disk.img") as device:
        yield device


def action_env(device: str, **extra: str) -> dict[str, str]:
    return {
        "BLOCK_DEVICE": device,
        "FS_TYPE": "ext4",
        "HARDWARE": json.dumps(DOC),
        "RESOLVERS": ",".join(f.RESOLVERS),
        **extra,
    }


def test_the_action_mounts_writes_and_unmounts(target, tmp_path):
    audit = tmp_path / "audit.jsonl"
    proc = pyz_run(env=action_env(target, AUDIT_LOG=str(audit)), netns=True)
    assert proc.returncode == 0, proc.stderr
    clean, why = partition.cleanly_unmounted(target)
    assert clean, why
    assert partition.mounted_anywhere_here(target) == []
    events = [json.loads(line) for line in audit.read_text().splitlines()]
    names = [e["event"] for e in events]
    assert (
        names.index("target mounted")
        < names.index("run complete")
        < names.index("target unmounted")
    )
    assert events[0]["rootfs"] == target
    mounted = events[names.index("target mounted")]
    assert (mounted["block_device"], mounted["fs_type"]) == (target, "ext4")
    # Read back by the image's own ifupdown: the bond over the document's NICs.
    check = partition.in_target(
        target,
        'chroot "$ROOT" ifquery -i /etc/network/interfaces --list --allow=auto '
        '&& chroot "$ROOT" ifquery -i /etc/network/interfaces bond0 '
        '&& cat "$ROOT/etc/hostname"',
    )
    assert check.returncode == 0, check.stderr
    assert "bond0" in check.stdout.split()
    assert "bond-slaves: enxb496917a0110 enxb496917a0111" in check.stdout
    assert check.stdout.strip().endswith("web-1")


def test_the_action_dry_run_mounts_read_only(target):
    before = partition.etc_digest(target)
    proc = pyz_run(env=action_env(target, DRY_RUN="yes", VERBOSE="1"), netns=True)
    assert proc.returncode == 0, proc.stderr
    assert '"read_only": true' in proc.stderr
    assert partition.etc_digest(target) == before
    assert partition.cleanly_unmounted(target)[0]


def test_a_failed_action_writes_nothing_and_unmounts(target):
    before = partition.etc_digest(target)
    bad = action_env(target, HARDWARE=json.dumps({**DOC, "hostname": "web-1\nX=1"}))
    one_line(pyz_run(env=bad, netns=True), 50, "invalid metadata", "hostname")
    assert partition.etc_digest(target) == before
    clean, why = partition.cleanly_unmounted(target)
    assert clean, why
    assert partition.mounted_anywhere_here(target) == []


def test_a_wrong_fs_type_is_exit_15(target):
    proc = pyz_run(env=action_env(target, FS_TYPE="xfs"), netns=True)
    one_line(proc, 15, "BLOCK_DEVICE", "FS_TYPE 'xfs'", "nothing was changed")
    assert partition.cleanly_unmounted(target)[0]


SIGTERM_INSIDE = """
import os, signal, sys
from packetnetworking import action, audit
from packetnetworking.errors import Interrupted
log = audit.configure("json", 0)  # on stderr: stdout is the test's
try:
    with action.mounted(sys.argv[1], "ext4", log) as root:
        point = root
        with open(os.path.join(root, "etc", "motd"), "a") as f:
            f.write("touched\\n")
        os.kill(os.getpid(), signal.SIGTERM)
        raise SystemExit("SIGTERM did not interrupt")
except Interrupted as exc:
    print("interrupted", exc.exit_code)
with open("/proc/self/mountinfo") as f:
    print("still mounted" if point in f.read() else "unmounted")
"""


def test_sigterm_while_mounted_unmounts(target):
    """tink-worker stops a timed-out action with SIGTERM: the mount goes first."""
    proc = subprocess.run(
        [sys.executable, "-c", SIGTERM_INSIDE, target],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["interrupted", "143", "unmounted"], proc.stdout + proc.stderr
    clean, why = partition.cleanly_unmounted(target)
    assert clean, why


