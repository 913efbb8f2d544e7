"""Paths inside the target root filesystem, resolved as the target would see them, to
directory descriptors; fileio.py makes every call on a file through one of them.

A symlink's absolute target is relative to the rootfs, a relative one to its directory,
and nothing may climb out: ``..`` above the root and symlink loops are errors, so no
crafted link in a customer's image can make us touch anything outside ``--rootfs``. A
climb is refused outright rather than clamped at the root as the kernel would: a link
that tries it is not one a sane image contains, and refusing happens before any change.

The walk is ours, one component at a time, on every kernel: each directory is opened
with ``O_NOFOLLOW | O_DIRECTORY`` relative to its parent's descriptor, each symlink is
read with ``readlinkat`` and resolved here, and ``..`` pops our own stack of names, so
the kernel never follows a link or a ``..`` for us. ``openat2(RESOLVE_IN_ROOT)`` would do
the walk in one call, but it clamps a climb at the root instead of refusing it, and
detecting that would take the same walk. Once a directory is open, its descriptor is
kept (``Root._dirs``) and every later read, write, rename, unlink and restore in it goes
through that descriptor (``dir_fd=``, fileio.py): a second process that swaps a directory for a
symlink after we looked cannot redirect what we do.

Paths are plain strings, not pathlib: importing pathlib costs every start ~2.5 ms.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import Optional

from .errors import WriteFailed, printable
from .fileio import MAX_FILE, READ_FLAGS, StrPath, mount_id, read_fd

MAX_LINKS = 40  # the kernel's own limit on symlinks in one lookup
# The deepest directory a path may reach. No config file sits anywhere near it, and a
# crafted path thousands of parts deep (a journal's 4096 of them) would otherwise cost
# minutes of walking before it is refused.
MAX_DEPTH = 64

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# Only names the entry (opens no device, FIFO or file for reading): for asking its mount.
_PATH_FLAGS = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC


class Where:
    """Where a path resolved. ``dir`` is its directory, relative to the root (``""`` for
    the root itself), ``missing`` the directories still to create (outermost first, each
    relative to the root; the last is ``dir``), ``name`` the entry in it, ``followed``
    whether a symlink was followed to get there."""

    __slots__ = ("dir", "missing", "name", "followed")

    def __init__(self, directory: str, missing: tuple[str, ...], name: str, followed: bool):
        self.dir, self.missing, self.name, self.followed = directory, missing, name, followed

    @property
    def rel(self) -> str:
        return f"{self.dir}/{self.name}" if self.dir else self.name


class Root:
    """An open rootfs: its descriptor, and every directory in it we have opened."""

    def __init__(self, path: StrPath) -> None:
        given = os.fspath(path) or "."
        self.path = os.path.realpath(given)
        try:
            self.fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            raise WriteFailed(f"--rootfs {printable(given)}: {exc.strerror}") from None
        self._dirs: dict[str, int] = {"": self.fd}
        self._mount: Optional[int] = None

    def close(self) -> None:
        for fd in self._dirs.values():
            os.close(fd)
        self._dirs = {}

    def __enter__(self) -> Root:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_dirs", None):
            self.close()

    def locate(self, relpath: str, follow: bool = True, links: bool = True) -> Where:
        """Resolve ``relpath``: its directory part by part, and its last part too when
        that is a symlink and ``follow``. With ``links`` False a symlink anywhere on the
        way is an error (the journal's paths lead through none)."""
        names, missing_from, name, followed = self._walk(relpath, follow, links, want_dir=False)
        if name is None:
            raise WriteFailed(f"/{printable(relpath)}: names a directory, not a file")
        directory = "/".join(names)
        missing: tuple[str, ...] = ()
        if missing_from is not None:
            missing = tuple("/".join(names[: i + 1]) for i in range(missing_from, len(names)))
        return Where(directory, missing, name, followed)

    def directory(self, relpath: str, links: bool = True) -> Optional[int]:
        """The descriptor of the directory ``relpath`` (symlinks followed, or with
        ``links`` False refused), or None when it does not exist."""
        names, missing_from, _name, _followed = self._walk(relpath, True, links, want_dir=True)
        return None if missing_from is not None else self._dirs["/".join(names)]

    def dir_fd(self, rel: str) -> int:
        """The descriptor of a directory already resolved (or made) by this Root."""
        return self._dirs[rel]

    def has_dir(self, rel: str) -> bool:
        return rel in self._dirs

    def read(self, relpath: str, limit: int = MAX_FILE) -> Optional[bytes]:
        """A regular file's content (symlinks followed as the target would), None when
        it does not exist; refused past ``limit`` bytes."""
        where = self.locate(relpath)
        if where.missing:
            return None
        try:
            fd = os.open(where.name, READ_FLAGS, dir_fd=self._dirs[where.dir])
        except FileNotFoundError:
            return None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise WriteFailed(f"/{printable(where.rel)}: exists and is not a regular file")
            return read_fd(fd, "/" + where.rel, limit)
        finally:
            os.close(fd)

    def kind(self, relpath: str) -> Optional[str]:
        """``"file"``, ``"dir"``, ``"other"``, or None when ``relpath`` does not exist
        (symlinks followed as the target would; a dangling one is missing)."""
        where = self.locate(relpath)
        if where.missing:
            return None
        try:
            info = os.stat(where.name, dir_fd=self._dirs[where.dir], follow_symlinks=False)
        except FileNotFoundError:
            return None
        if stat.S_ISREG(info.st_mode):
            return "file"
        return "dir" if stat.S_ISDIR(info.st_mode) else "other"

    def _walk(
        self, relpath: str, follow: bool, links: bool, want_dir: bool
    ) -> tuple[list[str], Optional[int], Optional[str], bool]:
        names: list[str] = []  # the directory reached so far, part by part
        missing_from: Optional[int] = None  # index in names of the first that does not exist
        pending: list[str] = []  # a stack: the next part is at the end
        _push(pending, relpath)
        count, followed = 0, False
        while pending:
            part = pending.pop()
            if len(names) >= MAX_DEPTH and part != "..":
                shown = printable(relpath[:60]) + ("..." if len(relpath) > 60 else "")
                raise WriteFailed(f"/{shown}: more than {MAX_DEPTH} directories deep")
            if part == "..":
                if not names:
                    raise WriteFailed(f"/{printable(relpath)}: a symlink climbs out of the rootfs")
                names.pop()
                if missing_from is not None and len(names) <= missing_from:
                    missing_from = None
                continue
            last = not pending and not want_dir
            if missing_from is not None:  # below a missing directory nothing is a link
                if last:
                    return names, missing_from, part, followed
                names.append(part)
                continue
            key = "/".join((*names, part))
            if not last and key in self._dirs:  # opened before: the directory we saw then
                names.append(part)
                continue
            parent = self._dirs["/".join(names)]
            target = None if last and not follow else _readlink(parent, part, relpath)
            if target is not None:
                if not links:
                    raise WriteFailed(f"/{printable(relpath)}: leads through a symlink")
                count += 1
                if count > MAX_LINKS:
                    raise WriteFailed(f"/{printable(relpath)}: too many levels of symbolic links")
                followed = True
                if target.startswith("/"):
                    names, missing_from = [], None
                _push(pending, target)
                continue
            if last:
                return names, missing_from, part, followed
            fd = _open_dir(parent, part, relpath)
            if fd is None:
                missing_from = len(names)
            else:
                self._dirs[key] = fd
            names.append(part)
        return names, missing_from, None, followed

    def make_dir(self, rel: str) -> int:
        """Create the directory ``rel`` (its parent already open), mode 0755 whatever the
        umask (the target's daemons read it), and keep its descriptor."""
        parent, _, name = rel.rpartition("/")
        parent_fd = self._dirs[parent]
        try:
            os.mkdir(name, 0o700, dir_fd=parent_fd)
        except OSError as exc:  # named as the target sees it, not by its last part
            raise OSError(exc.errno, exc.strerror, f"/{rel}") from None
        fd = _open_dir(parent_fd, name, rel)
        if fd is None:
            raise WriteFailed(f"/{printable(rel)}: vanished as it was made")
        self._dirs[rel] = fd
        os.chmod(fd, 0o755)
        return fd

    def forget(self, rel: str) -> None:
        """A directory we removed: drop its descriptor."""
        fd = self._dirs.pop(rel, None)
        if fd is not None:
            os.close(fd)

    def mount_check(self, where: Where, relpath: str, chosen_by_image: bool = False) -> None:
        """Refuse a place on another mount than the rootfs's own directory: an installer's
        bind mount (``/dev``, ``/run``, a ``resolv.conf``) inside the target is the
        installer's, not the image's. Mount IDs, not ``st_dev``: a bind mount of the same
        filesystem has the same device.

        A path the operator's task names is refused only when a symlink led there: a
        mount reached without one is the operator's choice. A path the image itself
        chose (``chosen_by_image``: the journal's) is refused on any other mount, with
        or without a symlink, and so is an entry that is itself a mount point."""
        if not where.followed and not chosen_by_image:
            return
        existing = where.missing[0].rpartition("/")[0] if where.missing else where.dir
        if mount_id(self._dirs[existing]) != self._own_mount():
            shown, mount = printable(relpath), printable(existing)
            if chosen_by_image:
                raise WriteFailed(f"/{shown}: on another mount (/{mount}) than the rootfs's;"
                                  " refusing to write there")  # fmt: skip
            raise WriteFailed(
                f"/{shown}: a symlink leads onto another mount (/{mount}); refusing to write there"
            )
        if chosen_by_image and not where.missing:
            own = self._entry_mount(where)
            if own is not None and own != self._own_mount():
                raise WriteFailed(f"/{printable(relpath)}: a mount point, on another mount than"
                                  " the rootfs's; refusing to write there")  # fmt: skip

    def _own_mount(self) -> int:
        if self._mount is None:
            self._mount = mount_id(self.fd)
        return self._mount

    def _entry_mount(self, where: Where) -> Optional[int]:
        """The mount an entry itself is on (a file or directory bind-mounted over it is
        on its own), never following a symlink; None when there is no such entry."""
        try:
            fd = os.open(where.name, _PATH_FLAGS, dir_fd=self._dirs[where.dir])
        except FileNotFoundError:
            return None
        try:
            return mount_id(fd)
        finally:
            os.close(fd)

    def lock(self) -> None:
        """One run at a time on a rootfs: an exclusive flock on the rootfs directory's own
        descriptor (no file is created). A second run is refused at once."""
        import fcntl

        from .errors import Busy

        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Busy(f"--rootfs {printable(self.path)}: another run holds its lock") from None


def _push(pending: list[str], path: str) -> None:
    pending.extend(p for p in reversed(path.split("/")) if p not in ("", "."))


def _readlink(dir_fd: int, name: str, relpath: str) -> Optional[str]:
    """The symlink's target, or None when ``name`` is not a symlink (or is missing)."""
    try:
        return os.readlink(name, dir_fd=dir_fd)
    except (FileNotFoundError, NotADirectoryError):
        return None  # missing: reading its state reports that
    except OSError as exc:
        if exc.errno == errno.EINVAL:  # it exists and is not a symlink
            return None
        raise WriteFailed(f"/{printable(relpath)}: cannot look up a part: {exc.strerror}") from None


def _open_dir(dir_fd: int, name: str, relpath: str) -> Optional[int]:
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        raise WriteFailed(
            f"/{printable(relpath)}: a file stands where a directory should be"
        ) from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # a symlink now, where a directory was a moment ago
            raise WriteFailed(f"/{printable(relpath)}: changed while it was looked up") from None
        raise WriteFailed(f"/{printable(relpath)}: cannot open a part: {exc.strerror}") from None


def relative(root: StrPath, path: StrPath) -> str:
    """``path`` relative to ``root``, compared part by part as pathlib's ``relative_to``
    does (so ``/rootfs2`` is not under ``/rootfs``); ValueError when it is not under it."""
    root_anchor, root_parts = _split(os.fspath(root))
    anchor, parts = _split(os.fspath(path))
    if anchor != root_anchor or parts[: len(root_parts)] != root_parts:
        raise ValueError(f"{path!r} is not in {root!r}")
    return "/".join(parts[len(root_parts) :]) or "."


def _split(path: str) -> tuple[str, list[str]]:
    """A POSIX path as pathlib reads it: its anchor (``//`` is one of its own, three or
    more slashes are ``/``) and its parts, empty ones and ``.`` dropped."""
    anchor = ""
    if path.startswith("/"):
        anchor = "//" if path.startswith("//") and not path.startswith("///") else "/"
    return anchor, [part for part in path.split("/") if part not in ("", ".")]


def display(root: StrPath, path: StrPath) -> str:
    """How the target will name this path: ``/etc/hostname`` (non-printables escaped).
    A path outside ``root`` is shown whole."""
    try:
        return "/" + printable(relative(root, path))
    except ValueError:
        anchor, parts = _split(os.fspath(path))
        return printable(anchor + "/".join(parts) or ".")


def is_file(root: StrPath, relpath: str) -> bool:
    """Whether ``relpath`` is a regular file in the target (symlinks followed as the
    target would): for looking, never for writing."""
    try:
        with Root(root) as fs:
            return fs.kind(relpath) == "file"
    except (WriteFailed, OSError):
        return False
