"""A second process swapping ``ROOTFS/etc`` between a directory and a symlink to a
directory outside the rootfs, while runs go on: nothing outside may ever change.

The swap is atomic (``renameat2(RENAME_EXCHANGE)`` of ``etc`` and a prepared symlink),
so ``etc`` always exists and is, at any instant, either the image's directory or a link
to the canary. Runs that see the link resolve it inside the rootfs (absolute targets
land under the root) or are refused; either is fine. What must never happen is a write
that the kernel sends through the link: before the descriptor-based walk, a path
resolved in ``prepare`` was used again by name in ``apply``, and the canary was replaced
(see the commit that added this test for the figures on the old code).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import structlog
from structlog.testing import capture_logs
from treehash import snapshot

from packetnetworking.errors import WriteFailed
from packetnetworking.tasks import EnsureLine, Write
from packetnetworking.transaction import Transaction

RUNS = 600  # bounded by count; on the old code the canary fell at the first run

TASKS = [
    Write("etc/hostname", "web-1\n"),
    Write("etc/network/interfaces", "auto lo\niface lo inet loopback\n"),
    EnsureLine("etc/modules", "bonding"),
]

SWAPPER = r"""
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
root = sys.argv[1].encode()
AT_FDCWD, RENAME_EXCHANGE = -100, 2
sys.stdout.write("ready\n"); sys.stdout.flush()
while True:
    if libc.renameat2(AT_FDCWD, root + b"/etc", AT_FDCWD, root + b"/etc.swap", RENAME_EXCHANGE):
        sys.exit("renameat2: errno %d" % ctypes.get_errno())
"""


def _scene(tmp_path: Path) -> tuple[Path, Path]:
    root, canary = tmp_path / "root", tmp_path / "canary"
    for base in (root / "etc", canary):
        (base / "network").mkdir(parents=True)
        (base / "hostname").write_text("canary\n" if base == canary else "old\n")
        (base / "network/interfaces").write_text("# canary\n" if base == canary else "# old\n")
        (base / "modules").write_text("canary\n" if base == canary else "loop\n")
    os.symlink(canary, root / "etc.swap")  # absolute, to the host's path of the canary
    return root, canary


def test_swapping_etc_never_reaches_outside(tmp_path: Path):
    root, canary = _scene(tmp_path)
    outside = snapshot(canary)
    swapper = subprocess.Popen(
        [sys.executable, "-c", SWAPPER, str(root)], stdout=subprocess.PIPE, text=True
    )
    outcomes = {"done": 0, "refused": 0}
    try:
        assert swapper.stdout is not None and swapper.stdout.readline() == "ready\n"
        for run in range(RUNS):
            with capture_logs():
                tx = Transaction(root, structlog.get_logger())
                try:
                    tx.apply(tx.prepare(TASKS))
                    outcomes["done"] += 1
                except WriteFailed:
                    outcomes["refused"] += 1
                finally:
                    tx.close()
            assert snapshot(canary) == outside, f"run {run + 1} wrote outside the rootfs"
            assert swapper.poll() is None, "the swapper stopped"
    finally:
        swapper.kill()
        swapper.wait()
    print(
        f"swap race: {RUNS} runs, {outcomes['done']} done, {outcomes['refused']} refused;"
        " the canary untouched"
    )
    assert outcomes["done"] > 0  # the race really ran the writes, not only refusals
