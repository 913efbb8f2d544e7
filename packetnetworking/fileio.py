"""Every filesystem call on a file in the target, made relative to its directory's
descriptor: read a file whole (size-limited), stage a new one beside it and rename it
over, unlink, read and restore its mode, owner and extended attributes.

The descriptor comes from rootfs.py's walk, which is what keeps each call inside the
rootfs: nothing here takes a path with more than one component, and nothing follows a
symlink (``O_NOFOLLOW``) or blocks on a FIFO (``O_NONBLOCK``). Errors name the file as
the target sees it (``shown_dir``), never by its bare name.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import Callable, Optional, Union

from .errors import WriteFailed, printable

TEMP_SUFFIX = ".pn-new"
# The largest file this tool reads or edits (the configs it touches are a few KiB): a
# bigger one is refused, so a crafted or sparse file cannot cost the run its memory.
MAX_FILE = 1 << 20
# Extended attributes of one file we keep, at most: the kernel's own limit per value.
MAX_XATTR = 1 << 16
# What lets a file run with more than its caller's rights (set-user-ID, set-group-ID, and
# file capabilities), and the sticky bit: this tool writes config files and scripts, never
# such a file, and replaces or deletes none, so a journal that asks for one is forged.
SPECIAL_BITS = stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX
CAPABILITY = "security.capability"
READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
StrPath = Union[str, "os.PathLike[str]"]  # what --rootfs may be given as
Op = Callable[[str], None]  # called before each filesystem change: the tests' fault hook


def no_op(_op: str) -> None:
    """The fault hook of code that must not be interrupted by an injected fault."""


def join(directory: str, name: str) -> str:
    """``directory/name`` for a plain relative ``name``; ``/`` gives ``/name``."""
    return f"{directory}{name}" if directory.endswith("/") else f"{directory}/{name}"


def temp_path(path: StrPath) -> str:
    """Where the new content of ``path`` is staged: a dot file in the same directory."""
    head, sep, name = os.fspath(path).rpartition("/")
    return f"{head}{sep}.{name}{TEMP_SUFFIX}"


def special(mode: int, attributes: dict[str, bytes]) -> Optional[str]:
    """Why a file of this mode and these attributes is one this tool never writes
    (set-user-ID, set-group-ID, sticky, file capabilities), or None."""
    if mode & SPECIAL_BITS:
        return f"mode {mode:04o} carries set-user-ID, set-group-ID or sticky bits"
    if CAPABILITY in attributes:
        return f"it has file capabilities ({CAPABILITY})"
    return None


def read_fd(fd: int, shown_as: str, limit: int = MAX_FILE) -> bytes:
    """Everything ``fd`` holds, refused past ``limit`` bytes (checked against the size
    first, and again while reading: a file may grow, or lie about its size)."""
    size = os.fstat(fd).st_size
    if size > limit:
        raise TooLarge(shown_as, size, limit)
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = os.read(fd, min(limit + 1 - total, 1 << 16) or 1)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        total += len(chunk)
        if total > limit:
            raise TooLarge(shown_as, total, limit)


class TooLarge(WriteFailed):
    """A file past the size this tool reads: exit 80, naming it."""

    def __init__(self, shown_as: str, size: int, limit: int) -> None:
        super().__init__(
            f"{printable(shown_as)}: {size} bytes, more than the {limit} this tool reads; refusing"
        )


class Entry:
    """A regular file as we found it: content, mode, owner, extended attributes."""

    __slots__ = ("content", "mode", "uid", "gid", "xattrs")

    def __init__(
        self, content: bytes, mode: int, uid: int, gid: int, xattrs: dict[str, bytes]
    ) -> None:
        self.content, self.mode, self.uid, self.gid, self.xattrs = content, mode, uid, gid, xattrs


def read_entry(dir_fd: int, name: str, shown_as: str) -> Entry:
    """Read a regular file through its directory's descriptor, never through a symlink
    (``O_NOFOLLOW``), never blocking on a FIFO; everything about it we restore later."""
    fd = os.open(name, READ_FLAGS, dir_fd=dir_fd)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise WriteFailed(f"{printable(shown_as)}: exists and is not a regular file")
        content = read_fd(fd, shown_as)
        return Entry(content, stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid, xattrs(fd))
    finally:
        os.close(fd)


def xattrs(fd: int) -> dict[str, bytes]:
    """Every extended attribute of an open file (SELinux label, POSIX ACLs, user.*)."""
    try:
        names = os.listxattr(fd)
    except OSError as exc:
        if exc.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):  # the filesystem has none
            return {}
        raise
    return {name: os.getxattr(fd, name) for name in sorted(names)}


def write_temp(
    dir_fd: int,
    name: str,
    content: bytes,
    mode: int,
    owner: Optional[tuple[int, int]],
    attributes: Optional[dict[str, bytes]],
    before_op: Op,
    shown_dir: str,
) -> str:
    """Stage ``content`` as the dot file beside ``name``; returns the temp file's name.

    Order matters: chown first (it clears set-id bits and ``security.capability``), then
    chmod, then the attributes (a POSIX ACL sets the group bits from its mask)."""
    temp = temp_path(name)
    why = special(mode, attributes or {})
    if why is not None:  # the last guard: whoever asked, no such file is made
        raise WriteFailed(f"{printable(join(shown_dir, name))}: {why}; this tool never writes one")
    before_op(f"write {join(shown_dir, temp)}")
    # O_EXCL and O_NOFOLLOW: never write through something planted under our temp name.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(temp, flags, 0o600, dir_fd=dir_fd)
    except OSError as exc:  # name the file as the target does, not by its bare name
        raise OSError(exc.errno, exc.strerror, join(shown_dir, temp)) from None
    try:
        view = memoryview(content)
        while view:
            view = view[os.write(fd, view) :]
        if owner is not None and os.geteuid() == 0:
            os.fchown(fd, *owner)
        os.fchmod(fd, mode)
        for key, value in (attributes or {}).items():
            os.setxattr(fd, key, value)
        os.fsync(fd)
    except OSError as exc:  # ENOSPC, EIO: name the file, which os.write does not
        raise OSError(exc.errno, exc.strerror, join(shown_dir, temp)) from None
    finally:
        os.close(fd)
    return temp


def rename_in(dir_fd: int, source: str, name: str, shown_dir: str) -> None:
    """Rename within one directory; an error names ``source`` as the target sees it
    (``/etc/network/.interfaces.pn-new``), the file a failed run may leave behind."""
    try:
        os.rename(source, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, join(shown_dir, source)) from None


def atomic_write(
    dir_fd: int,
    name: str,
    content: bytes,
    mode: int,
    owner: Optional[tuple[int, int]] = None,
    attributes: Optional[dict[str, bytes]] = None,
    before_op: Op = no_op,
    shown_dir: str = "",
) -> None:
    """Temp file in the same directory, fsync, rename over, fsync the directory."""
    temp = write_temp(dir_fd, name, content, mode, owner, attributes, before_op, shown_dir)
    before_op(f"rename {join(shown_dir, temp)}")
    rename_in(dir_fd, temp, name, shown_dir)
    os.fsync(dir_fd)


def lexists(dir_fd: int, name: str) -> bool:
    try:
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def unlink_in(dir_fd: int, name: str, before_op: Op, shown_dir: str) -> bool:
    """Remove ``name`` if it is there; True if it was."""
    if not lexists(dir_fd, name):
        return False
    before_op(f"unlink {join(shown_dir, name)}")
    try:
        os.unlink(name, dir_fd=dir_fd)
    except OSError as exc:  # EPERM in an append-only directory: name what is left there
        raise OSError(exc.errno, exc.strerror, join(shown_dir, name)) from None
    return True


def mount_id(fd: int) -> int:
    """The ID of the mount that holds ``fd`` (as in /proc/self/mountinfo)."""
    try:
        with open(f"/proc/self/fdinfo/{fd}", "rb") as info:
            for line in info:
                if line.startswith(b"mnt_id:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return _statx_mount_id(fd)


def _statx_mount_id(fd: int) -> int:
    """statx(STATX_MNT_ID) through libc, for an installer without /proc."""
    import ctypes  # ~4 ms to import: only when /proc is not there

    libc = ctypes.CDLL(None, use_errno=True)
    buf = ctypes.create_string_buffer(256)
    at_empty_path, statx_mnt_id = 0x1000, 0x1000
    statx = getattr(libc, "statx", None)
    if statx is None or statx(fd, b"", at_empty_path, statx_mnt_id, buf) != 0:
        raise WriteFailed("cannot tell which mount a directory is on (no /proc, no statx)")
    mask = int.from_bytes(buf.raw[0:4], "little")
    if not mask & statx_mnt_id:
        raise WriteFailed("cannot tell which mount a directory is on (statx has no mount ID)")
    return int.from_bytes(buf.raw[0x90:0x98], "little")
