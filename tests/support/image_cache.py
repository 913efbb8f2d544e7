"""The cache of built trees (distro images, VM guests and kernels, the NetworkManager
build, the fresh Debian 12), outside the repository.

Layout, under $PN_IMAGE_CACHE or ~/.cache/packet-networking/images/:
    <name>/          a finished tree (only ever appears via an atomic rename)
    <name>.lock      flock'ed while that tree is being built
    .tmp-<name>-*    a build in progress (or a killed one, removed on the next build)
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Callable


def root() -> Path:
    env = os.environ.get("PN_IMAGE_CACHE")
    path = Path(env) if env else Path.home() / ".cache" / "packet-networking" / "images"
    path.mkdir(parents=True, exist_ok=True)
    return path


def cached_tree(dirname: str, populate: Callable[[Path], None]) -> Path:
    """root()/dirname, filled by populate(empty temp dir) first if it is missing.

    Built under a lock, in a temp dir renamed into place, so a reader never sees a
    half-built tree and a killed build leaves only a temp dir the next build removes.
    """
    top = root()
    final = top / dirname
    if final.is_dir():
        return final
    with _locked(top / f"{dirname}.lock"):
        if final.is_dir():  # another worker built it while we waited for the lock
            return final
        _remove_stale_builds(top, dirname)
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{dirname}-", dir=top))
        try:
            populate(tmp)
            tmp.chmod(0o755)  # mkdtemp made it 0700; a rootfs's / is 0755
            os.rename(tmp, final)  # atomic: a half-built tree never has the final name
        except BaseException:
            rmtree(tmp)
            raise
    return final


def short_hash(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:12]


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)  # released when the file is closed, even on a crash
        yield


def _remove_stale_builds(root: Path, dirname: str) -> None:
    """Delete temp dirs left by killed builds of this image (caller holds its lock)."""
    for stale in root.glob(f".tmp-{dirname}-*"):
        rmtree(stale)


def rmtree(path: Path) -> None:
    # Refuse to recurse into a tree that has something mounted in it (e.g. a bind of /dev).
    prefix = str(path.resolve()) + "/"
    with open("/proc/self/mountinfo") as fh:
        mounted = [line.split()[4] for line in fh if line.split()[4].startswith(prefix)]
    if mounted:
        raise RuntimeError(f"not removing {path}: mounts inside it: {mounted}")
    shutil.rmtree(path, ignore_errors=True)
