"""Debian-family root filesystem images for tests that run the distros' own tools.

Images are built once with mmdebstrap (or unpacked from an external tarball or podman
image) into a cache outside the repository, and each test works on a fresh copy of the
pristine tree so nothing a test writes can leak into the cache or into another test.

The cache (its layout and its locking) is image_cache.py's.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from . import image_cache

# Bump when the way images are built changes, so old cache entries are not reused.
RECIPE_VERSION = "2"

# No .pyc files written by a test's python3 into a shared (pristine) image.
CHROOT_ENV = {
    "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
    "PYTHONDONTWRITEBYTECODE": "1",
}
BUILD_TIMEOUT = 1200  # seconds; a cold network-manager image takes about a minute

# podman 4.3 on these machines only works with runc and low ulimits (see VALIDATION.md).
PODMAN_CONF = """\
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
netns = "none"
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
"""


@dataclass(frozen=True)
class ImageSpec:
    name: str
    suite: str
    packages: tuple[str, ...]

    def cache_dirname(self) -> str:
        key = image_cache.short_hash(RECIPE_VERSION, self.suite, *sorted(self.packages))
        return f"{self.suite}-{key}"


# procps: ifupdown's inet6 method runs sysctl (every real install has it, minbase has not).
_IFUPDOWN = ("python3", "ifupdown", "ifenslave", "iproute2", "procps")

IMAGES: dict[str, ImageSpec] = {
    spec.name: spec
    for spec in (
        ImageSpec("bullseye-ifupdown", "bullseye", _IFUPDOWN),
        ImageSpec("bookworm-ifupdown", "bookworm", _IFUPDOWN),
        ImageSpec("trixie-ifupdown", "trixie", _IFUPDOWN),
        ImageSpec("trixie-netplan", "trixie", ("python3", "netplan.io", "iproute2", "systemd")),
        ImageSpec("trixie-ifupdown-ng", "trixie", ("python3", "ifupdown-ng", "iproute2")),
        ImageSpec(
            "bookworm-nm",
            "bookworm",
            ("python3", "network-manager", "gir1.2-nm-1.0", "python3-gi", "iproute2"),
        ),
    )
}

# Documentation is never read by tests; leaving it out makes images smaller and copies faster.
_DPKG_EXCLUDES = (
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/locale/*",
)


# ---------------------------------------------------------------------------- environment


def have_root_tools() -> str | None:
    """Why image-based tests cannot run here, or None when they can."""
    if os.geteuid() != 0:
        return "image tests need root (mmdebstrap, chroot, unshare)"
    for tool in ("mmdebstrap", "chroot", "unshare", "ip"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install -y mmdebstrap)"
    return None


def require_root_tools() -> None:
    """Skip the calling test when image tools are missing; fail instead under CI=true."""
    from conftest import require

    reason = have_root_tools()
    require("image tools", reason or "", reason is None)


# ---------------------------------------------------------------------------- image names


@dataclass(frozen=True)
class _Recipe:
    """How to produce one cache entry: its directory name and how to fill an empty dir."""

    dirname: str
    populate: Callable[[Path], None]


def extra_images() -> dict[str, str]:
    """PN_EXTRA_IMAGES as {name: source}; source is a tarball path or 'podman:IMAGE'."""
    result: dict[str, str] = {}
    for item in os.environ.get("PN_EXTRA_IMAGES", "").split(","):
        item = item.strip()
        if not item:
            continue
        name, sep, source = item.partition("=")
        name, source = name.strip(), source.strip()
        if not sep or not source or not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            raise ValueError(f"PN_EXTRA_IMAGES: expected NAME=SOURCE, got {item!r}")
        if name in IMAGES:
            raise ValueError(f"PN_EXTRA_IMAGES: {name!r} is a built-in image name")
        result[name] = source
    return result


def available_images() -> list[str]:
    return [*IMAGES, *extra_images()]


def _recipe(name: str) -> _Recipe:
    if name in IMAGES:
        spec = IMAGES[name]
        return _Recipe(spec.cache_dirname(), lambda dest: _mmdebstrap(spec, dest))
    extras = extra_images()
    if name not in extras:
        raise KeyError(f"unknown image {name!r}; available: {', '.join(available_images())}")
    source = extras[name]
    if source.startswith("podman:"):
        image = source[len("podman:") :]
        # Keyed by image id so a re-tagged or rebuilt image is exported again.
        image_id = _podman(["image", "inspect", "--format", "{{.Id}}", image]).strip()
        return _Recipe(
            f"extra-{name}-{image_cache.short_hash(RECIPE_VERSION, 'podman', image_id)}",
            lambda dest: _unpack_podman(image, dest),
        )
    tarball = Path(source).resolve()
    st = tarball.stat()
    # Keyed by path, size and mtime so a replaced tarball is unpacked again.
    key = image_cache.short_hash(
        RECIPE_VERSION, "tar", str(tarball), str(st.st_size), str(st.st_mtime_ns)
    )
    return _Recipe(f"extra-{name}-{key}", lambda dest: _untar(tarball, dest))


# ---------------------------------------------------------------------------- build / copy


def build(name: str) -> Path:
    """The pristine cached rootfs for image `name`, building it first if needed.

    Never write into the returned tree: use fresh_copy() or overlay_copy() for that.
    """
    recipe = _recipe(name)
    return image_cache.cached_tree(recipe.dirname, recipe.populate)


def build_spec(spec: ImageSpec) -> Path:
    """The pristine cached rootfs of an image that is not in IMAGES (e.g. a VM guest's)."""
    return image_cache.cached_tree(spec.cache_dirname(), lambda dest: _mmdebstrap(spec, dest))


def fresh_copy(name: str, dest: Path) -> Path:
    """Copy image `name` into `dest` (created if missing, must be empty) and return dest."""
    src = build(name)
    dest.mkdir(parents=True, exist_ok=True)
    if any(dest.iterdir()):
        raise FileExistsError(f"{dest} is not empty")
    # --reflink=auto: instant on btrfs/xfs; a plain copy on ext4 (see overlay_copy).
    _run_checked(["cp", "-a", "--reflink=auto", f"{src}/.", f"{dest}/"], 600)
    return dest


@contextmanager
def overlay_copy(name: str, workdir: Path) -> Iterator[Path]:
    """A writable view of image `name` at workdir/root for the duration of the `with`.

    An overlay mount: about 10 ms instead of the 1-10 s that fresh_copy's full copy takes
    on this disk. Writes land in workdir/upper; overlayfs never writes to its lower
    layer, so even a mount leaked by a killed test cannot change the cached image.
    """
    with overlay(build(name), workdir) as merged:
        yield merged


@contextmanager
def overlay(lower: Path, workdir: Path) -> Iterator[Path]:
    """A writable view of the tree lower at workdir/root (see overlay_copy)."""
    if "," in str(lower) or ":" in str(lower):
        raise ValueError(f"overlayfs cannot take {lower} as a lower dir")
    upper, work, merged = workdir / "upper", workdir / "work", workdir / "root"
    for d in (upper, work, merged):
        d.mkdir(parents=True)
    options = f"lowerdir={lower},upperdir={upper},workdir={work}"
    _run_checked(["mount", "-t", "overlay", "pn-overlay", "-o", options, str(merged)], 30)
    try:
        yield merged
    finally:
        if subprocess.run(["umount", str(merged)], capture_output=True, timeout=30).returncode:
            # Still busy (a process left running in it): detach now, freed when idle.
            subprocess.run(["umount", "--lazy", str(merged)], capture_output=True, timeout=30)


def run_in(
    root: Path,
    argv: list[str],
    *,
    input: str | None = None,
    timeout: float = 120,
    check: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run argv inside the rootfs with chroot and a clean environment, capturing output."""
    return subprocess.run(
        ["chroot", str(root), *argv],
        env=dict(CHROOT_ENV),
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=check,
    )


# ---------------------------------------------------------------------------- populating


def _mmdebstrap(spec: ImageSpec, dest: Path) -> None:
    # --mode=unshare as root still unshares the mount namespace, so a killed build
    # leaves no /proc, /sys or /dev mounts behind inside the temp directory.
    argv = [
        "mmdebstrap",
        "--mode=unshare",
        "--variant=minbase",
        "--quiet",
        f"--include={','.join(spec.packages)}",
        *(f"--dpkgopt={opt}" for opt in _DPKG_EXCLUDES),
        spec.suite,
        str(dest),
    ]
    _run_checked(argv, BUILD_TIMEOUT)
    _populate_dev(dest)


def _untar(tarball: Path, dest: Path) -> None:
    # GNU tar detects gzip/xz/zstd compression by itself when reading a file.
    _run_checked(["tar", "-xpf", str(tarball), "--numeric-owner", "-C", str(dest)], 600)
    _populate_dev(dest)


# (name, major, minor) of the character devices every chroot'ed shell script expects.
_DEV_NODES = (
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
)


def _populate_dev(root: Path) -> None:
    """Create the basic /dev nodes, so `chroot ROOT sh -c '... >/dev/null'` works
    without mounting anything (mmdebstrap's unshare mode and container exports leave
    /dev empty; a redirection would then create a plain file /dev/null)."""
    dev = root / "dev"
    dev.mkdir(mode=0o755, exist_ok=True)
    for name, major, minor in _DEV_NODES:
        node = dev / name
        if not node.exists() and not node.is_symlink():
            os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(major, minor))
            node.chmod(0o666)  # mknod's mode is filtered by the umask
    for name, target in (
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ):
        if not (dev / name).is_symlink() and not (dev / name).exists():
            (dev / name).symlink_to(target)


def _unpack_podman(image: str, dest: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="pn-podman-") as tmp:
        tarball = Path(tmp) / "rootfs.tar"
        # A command is needed for images without CMD (e.g. from `podman import`);
        # the container is only created for export, never started.
        cid = _podman(["create", image, "/bin/true"]).strip()
        try:
            _podman(["export", "-o", str(tarball), cid])
        finally:
            _podman(["rm", "--force", cid])
        _untar(tarball, dest)


def _podman(args: list[str]) -> str:
    with tempfile.NamedTemporaryFile("w", prefix="pn-containers-", suffix=".conf") as conf:
        conf.write(PODMAN_CONF)
        conf.flush()
        env = {**os.environ, "CONTAINERS_CONF": conf.name}
        proc = subprocess.run(
            ["podman", *args], env=env, capture_output=True, text=True, timeout=600
        )
    if proc.returncode != 0:
        raise RuntimeError(f"podman {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout


# ---------------------------------------------------------------------------- helpers


def _run_checked(argv: list[str], timeout: float) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(
            f"{argv[0]} exited {proc.returncode}:\n{proc.stdout[-4000:]}{proc.stderr[-4000:]}"
        )
