"""Never write through a symlink onto another mount than the rootfs's own.

An installer bind-mounts its ``/dev`` (``/run``, ``/proc``, ``/sys``) into the target;
a symlink in the image into it must not let the tool replace the installer's files. A
bind mount of the same filesystem has the same ``st_dev``, so this is the case that
proves mount IDs are compared: ``ROOTFS/dev`` bind-mounted from a directory beside the
rootfs on the same filesystem. Each run is in a private mount namespace
(``unshare -m``), so nothing leaks to the machine.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import safety
from treehash import snapshot

BIND = ["unshare", "-m", "--propagation", "private", "--", "sh", "-c",
        'mount --bind "$1" "$2" && shift 2 && exec "$@"', "sh"]  # fmt: skip


@pytest.fixture
def scene(tmp_path: Path):
    safety.require("root", "mount namespaces")
    safety.require("unshare", "a private mount namespace (util-linux)")
    root, host_dev = tmp_path / "root", tmp_path / "installer-dev"
    (root / "etc").mkdir(parents=True)
    (root / "dev").mkdir()
    (host_dev / "shm").mkdir(parents=True)
    (host_dev / "shm/interfaces").write_text("the installer's own\n")
    assert os.stat(root).st_dev == os.stat(host_dev).st_dev  # one filesystem: st_dev can't tell
    meta, nics = safety.inputs(tmp_path)
    return root, host_dev, safety.default_args(meta, nics, root)


@pytest.mark.parametrize("link", ["/dev/shm", "/dev/shm/..", "../dev/shm"])
def test_symlink_onto_a_bind_mount_is_refused(scene, link: str):
    root, host_dev, argv = scene
    os.symlink(link, root / "etc/network")
    before_dev, before_root = snapshot(host_dev), snapshot(root)
    proc = safety.cli_subprocess(argv, prefix=(*BIND, str(host_dev), str(root / "dev")))
    assert proc.returncode == 80, proc.stderr
    line = safety.one_line(proc.stderr, progress=True)
    assert "/etc/network/interfaces: a symlink leads onto another mount (/dev" in line, line
    assert snapshot(host_dev) == before_dev, "the installer's files changed"
    assert snapshot(root) == before_root, "a refused run changed the rootfs"


def test_same_link_without_the_mount_writes_inside(scene):
    """The control: the image's own /dev (no mount) is the image's, and is written."""
    root, host_dev, argv = scene
    os.symlink("/dev/shm", root / "etc/network")
    (root / "dev/shm").mkdir()
    proc = safety.cli_subprocess(argv)
    assert proc.returncode == 0, proc.stderr
    assert (root / "dev/shm/interfaces").read_text().startswith("# Written by packet-networking")
    assert (host_dev / "shm/interfaces").read_text() == "the installer's own\n"


def test_a_mount_reached_without_a_symlink_is_written(scene):
    """Without a symlink on the way the operator's own mount is the target's: a bind
    mount of the image's etc/network is written into."""
    root, host_dev, argv = scene
    (root / "etc/network").mkdir()
    bind = (*BIND, str(host_dev / "shm"), str(root / "etc/network"))
    proc = safety.cli_subprocess(argv, prefix=bind)
    assert proc.returncode == 0, proc.stderr
    assert (host_dev / "shm/interfaces").read_text().startswith("# Written by packet-networking")


@pytest.mark.parametrize("path", ["/", "/proc", "/sys", "/dev"])
def test_statx_fallback_gives_the_same_mount_ids(path: str):
    """Without /proc the mount ID comes from statx(STATX_MNT_ID) through libc: it must
    name the same mounts as /proc/self/fdinfo does (and tell these apart)."""
    from packetnetworking import fileio

    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert fileio._statx_mount_id(fd) == fileio.mount_id(fd)
        root_fd = os.open("/", os.O_RDONLY | os.O_DIRECTORY)
        try:
            assert (fileio.mount_id(fd) == fileio.mount_id(root_fd)) == (path == "/")
        finally:
            os.close(root_fd)
    finally:
        os.close(fd)
