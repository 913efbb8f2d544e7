"""A disk as an action finds one: an image file with a partition table, on a loop
device, its one partition an ext4 filesystem holding a distro root tree.

The filesystem is filled at mkfs time (``mke2fs -d``), so making it mounts nothing. This
machine's kernel reads no partition table itself (``losetup -P`` finds no partition), so
the partitions are added with ``partx -a``, as the BLKPG ioctl lets any kernel do.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TOOLS = ("sfdisk", "losetup", "partx", "mkfs.ext4", "dumpe2fs", "unshare", "mount", "tar")


def missing_tool() -> str | None:
    for tool in TOOLS:
        if shutil.which(tool) is None:
            return tool
    return None


def _run(*args: str, stdin: str | None = None) -> str:
    return subprocess.run(
        args, input=stdin, capture_output=True, text=True, check=True, timeout=300
    ).stdout


@contextmanager
def ext4_partition(tree: Path, image: Path, size_mib: int = 1024) -> Iterator[str]:
    """The partition device (``/dev/loopNp1``) of a fresh disk image at ``image`` whose
    ext4 filesystem holds a copy of ``tree``; the loop device is gone afterwards."""
    with open(image, "wb") as f:
        f.truncate(size_mib * 2**20)
    _run("sfdisk", "-q", str(image), stdin="label: dos\n,,L\n")
    loop = _run("losetup", "-P", "--find", "--show", str(image)).strip()
    try:
        partition = f"{loop}p1"
        if not os.path.exists(partition):
            _run("partx", "-a", loop)
        _wait_for(partition)
        _run("mkfs.ext4", "-q", "-F", "-L", "target", "-d", str(tree), partition)
        yield partition
    finally:
        subprocess.run(["partx", "-d", loop], capture_output=True, check=False, timeout=60)
        subprocess.run(["losetup", "-d", loop], capture_output=True, check=False, timeout=60)


def _wait_for(path: str, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} did not appear")
        time.sleep(0.05)


def in_target(partition: str, script: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``sh -c script`` with the partition mounted read-only at ``$ROOT``, in a mount
    namespace of its own (so nothing the check does is left mounted either)."""
    wrapper = (
        'ROOT=$(mktemp -d) && mount -o ro,noload "$0" "$ROOT" && '
        f'export ROOT && ( {script} ); rc=$?; umount "$ROOT"; rmdir "$ROOT"; exit $rc'
    )
    return subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", wrapper, partition, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"},
    )


def etc_digest(partition: str) -> str:
    """One hash of the target's whole /etc (contents, modes, owners, mtimes)."""
    proc = in_target(partition, 'tar --sort=name -C "$ROOT" -cf - etc | sha256sum')
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()[0]


def cleanly_unmounted(partition: str) -> tuple[bool, str]:
    """Whether ext4 says it was unmounted cleanly: state ``clean`` and no journal left to
    replay (``needs_recovery`` stays set while it is mounted read-write, anywhere)."""
    header = _run("dumpe2fs", "-h", partition)
    state = next((line for line in header.splitlines() if line.startswith("Filesystem state:")), "")
    features = next(
        (line for line in header.splitlines() if line.startswith("Filesystem features:")), ""
    )
    return state.split(":", 1)[1].strip() == "clean" and "needs_recovery" not in features, (
        f"{state} / {features}"
    )


def mounted_anywhere_here(partition: str) -> list[str]:
    """Lines of this process's mountinfo that name the partition (major:minor or path)."""
    st = os.stat(partition)
    device = f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"
    with open("/proc/self/mountinfo") as f:
        return [line for line in f if line.split()[2] == device or f" {partition} " in line]
