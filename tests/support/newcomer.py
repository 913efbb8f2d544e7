"""A fresh Debian 12 as a new user has it, for running the README's commands in.

    mmdebstrap --variant=apt --include=git,make,python3,ca-certificates bookworm DIR

no python3-venv, no procps, no sudo: what the README's Quick start must cope with. Built
once into the image cache (image_cache.cached_tree: lock, temp dir, atomic rename) and used through
an overlay, so a run never changes the cached tree. Into the overlay go what a fresh
machine here is given besides the distro: this machine's package-index settings (pip's
configuration and the local indexes it names, apt's sources and settings) and its CA
trust. Commands run chrooted in their own mount and pid namespaces (VALIDATION.md
"Distro root filesystems"): the tree bind-mounted onto itself (so that `unshare` works
inside it), proc, /dev and /sys, and fresh tmpfs on /tmp and /run.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from . import image_cache, images

SUITE = "bookworm"
PACKAGES = ("git", "make", "python3", "ca-certificates")
RECIPE_VERSION = "2"  # bump when the way the tree is built changes

# pip's configuration, as pip reads it (site, user, global), and the CA bundle it names.
PIP_CONFIG = (Path("/etc/pip.conf"), Path.home() / ".config" / "pip", Path("/etc/xdg/pip"))
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
# The local package indexes pip's configuration points at, where this machine has them.
LOCAL_INDEXES = (Path("/opt/wheels"), Path("/opt/pypi"), Path("/opt/pypi-more"))
APT_CONFIG = Path("/etc/apt")
ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": "/root",
    "LANG": "C.UTF-8",
    "TERM": "dumb",
}
HOSTNAME = "debian"
# The user's home in the tree: pip's user configuration goes there.
HOME = "/root"


def pristine() -> Path:
    """The cached fresh Debian 12 tree (built on first use). Never write into it."""
    key = image_cache.short_hash(RECIPE_VERSION, SUITE, *PACKAGES)
    return image_cache.cached_tree(f"newcomer-{SUITE}-{key}", _mmdebstrap)


def _mmdebstrap(dest: Path) -> None:
    images._run_checked(
        [
            "mmdebstrap",
            "--mode=unshare",
            "--variant=apt",
            "--quiet",
            f"--include={','.join(PACKAGES)}",
            # mmdebstrap copies this host's /etc/hostname in; a new machine has its own
            # (Debian's installer suggests "debian"), and images built inside the tree
            # copy it again.
            f'--customize-hook=echo {HOSTNAME} > "$1/etc/hostname"',
            SUITE,
            str(dest),
        ],
        images.BUILD_TIMEOUT,
    )
    images._populate_dev(dest)


@contextmanager
def machine(workdir: Path) -> Iterator[Path]:
    """A writable fresh machine (an overlay on pristine()) with this host's settings in."""
    with images.overlay(pristine(), workdir) as root:
        _copy_settings(root)
        yield root


def _copy_settings(root: Path) -> None:
    for path in PIP_CONFIG:
        if path.exists():
            # The user's configuration lands in the tree's home, not at this host's path.
            rel = path.relative_to(Path.home()) if path.is_relative_to(Path.home()) else None
            dest = root / HOME.lstrip("/") / rel if rel else root / str(path).lstrip("/")
            _copy(path, dest)
    _copy(CA_BUNDLE, root / str(CA_BUNDLE).lstrip("/"))
    # The tree's apt sources are this host's, replacing mmdebstrap's (both would name
    # the same mirror twice).
    (root / "etc/apt/sources.list").unlink(missing_ok=True)
    for old in (root / "etc/apt/sources.list.d").glob("*"):
        old.unlink()
    sources = [
        APT_CONFIG / "sources.list",
        *sorted(APT_CONFIG.glob("sources.list.d/*.list")),
        *sorted(APT_CONFIG.glob("sources.list.d/*.sources")),
    ]
    # apt settings on how to reach the mirror (a snapshot's dates, say); the others
    # belong to what this host has installed.
    settings = [
        p
        for p in sorted(APT_CONFIG.glob("apt.conf.d/*"))
        if p.is_file() and "Acquire::" in p.read_text(errors="replace")
    ]
    for path in (*sources, *settings):
        if path.exists():
            _copy(path, root / str(path).lstrip("/"))
    for index in LOCAL_INDEXES:
        if index.is_dir():
            (root / str(index).lstrip("/")).mkdir(parents=True, exist_ok=True)


def _copy(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    if src.is_dir():
        shutil.copytree(src, dest, dirs_exist_ok=True)
    else:
        shutil.copy2(src, dest)


def run(root: Path, script: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """Run a shell script as root in the tree, in new mount and pid namespaces."""
    r = shlex.quote(str(root))
    mounts = [
        f"mount --bind {r} {r}",
        f"mount -t proc proc {r}/proc",
        f"mount --rbind /dev {r}/dev",
        f"mount --rbind /sys {r}/sys",
        f"mount -t tmpfs tmpfs {r}/tmp",
        f"mount -t tmpfs tmpfs {r}/run",
        *(
            f"mount --bind -o ro {shlex.quote(str(i))} {r}{shlex.quote(str(i))}"
            for i in LOCAL_INDEXES
            if i.is_dir()
        ),
    ]
    inner = " && ".join([*mounts, f"exec chroot {r} /bin/sh -ec {shlex.quote(script)}"])
    return subprocess.run(
        [
            "unshare",
            "--mount",
            "--pid",
            "--fork",
            "--propagation",
            "private",
            "/bin/sh",
            "-ec",
            inner,
        ],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        cwd="/",
    )


def clone(checkout: Path, root: Path, dest: str) -> None:
    """git clone the checkout's HEAD to dest in the tree, as a new user would clone it."""
    images._run_checked(
        ["git", "clone", "--quiet", "--no-hardlinks", str(checkout), str(root / dest.lstrip("/"))],
        300,
    )


def host_has_everything() -> str | None:
    """Why the README test cannot run here, or None."""
    reason = images.have_root_tools()
    if reason:
        return reason
    for tool in ("git", "mount"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    if not os.path.exists(CA_BUNDLE):
        return f"{CA_BUNDLE} is missing"
    return None
