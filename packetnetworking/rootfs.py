"""Paths inside the target root filesystem, resolved as the target would see them, and
the one way we write a file there (temp file beside it, fsync, rename over).

A symlink's absolute target is relative to the rootfs, a relative one to its directory,
and nothing may climb out: ``..`` above the root and symlink loops are errors, so no
crafted link in a customer's image can make us write outside ``--rootfs``. A climb is
refused outright rather than clamped at the root as the kernel would: a link that tries
it is not one a sane image contains, and refusing happens before any change.

Paths are plain strings, not pathlib: importing pathlib costs every start ~2.5 ms, and
a run handles dozens of paths, where pathlib objects cost several times a string join.
"""

from __future__ import annotations

import errno
import os
from typing import Callable, Optional, Union

from .errors import WriteFailed

MAX_LINKS = 40  # the kernel's own limit on symlinks in one lookup
TEMP_SUFFIX = ".pn-new"

Op = Callable[[str], None]  # called before each filesystem change: the tests' fault hook
StrPath = Union[str, os.PathLike]  # what --rootfs may be given as


def no_op(_op: str) -> None:
    """The fault hook of code that must not be interrupted by an injected fault."""


def resolve(root: StrPath, relpath: str) -> str:
    """The real host path of ``relpath`` inside ``root``; missing parts are kept as named.

    Without symlinks in the way it is a plain join: ``/`` gives ``/etc``, not ``//etc``,
    and a relative root stays relative (an empty one is ``.``, as pathlib has it)."""
    top = os.fspath(root) or "."
    base = top.rstrip("/")  # "/" itself as "": parts are joined on with "/"
    inside: list[str] = []
    pending = relpath.split("/")
    pending.reverse()  # a stack: the next part is at the end
    links = 0
    while pending:
        part = pending.pop()
        if part in ("", "."):
            continue
        if part == "..":
            if not inside:
                raise WriteFailed(f"/{shown(relpath)}: a symlink climbs out of the rootfs")
            inside.pop()
            continue
        target = _link_target("/".join((base, *inside, part)), relpath)
        if target is None:
            inside.append(part)
            continue
        links += 1
        if links > MAX_LINKS:
            raise WriteFailed(f"/{shown(relpath)}: too many levels of symbolic links")
        if target.startswith("/"):
            inside = []
        pending += reversed(target.split("/"))
    return "/".join((base, *inside)) if inside else top


def _link_target(candidate: str, relpath: str) -> str | None:
    """The symlink's target, or None when ``candidate`` is not a symlink (or is missing)."""
    try:
        return os.readlink(candidate)
    except (FileNotFoundError, NotADirectoryError):
        return None  # missing, or a file in the way: reading its state reports that
    except OSError as exc:
        if exc.errno == errno.EINVAL:  # it exists and is not a symlink
            return None
        raise WriteFailed(f"/{shown(relpath)}: cannot look up a part: {exc.strerror}") from None


def join(directory: str, name: str) -> str:
    """``directory/name`` for a plain relative ``name``; ``/`` gives ``/name``."""
    return f"{directory}{name}" if directory.endswith("/") else f"{directory}/{name}"


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
        return "/" + shown(relative(root, path))
    except ValueError:
        anchor, parts = _split(os.fspath(path))
        return shown(anchor + "/".join(parts) or ".")


def shown(text: str) -> str:
    """``text`` fit for a one-line message: a newline in a crafted link target stays ``\\n``."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def read_bytes(path: str) -> bytes:
    """A file's whole content (pathlib's read_bytes, without pathlib)."""
    with open(path, "rb") as file:
        return file.read()


def temp_path(path: StrPath) -> str:
    """Where the new content of ``path`` is staged: a dot file in the same directory."""
    head, sep, name = os.fspath(path).rpartition("/")
    return f"{head}{sep}.{name}{TEMP_SUFFIX}"


def atomic_write(
    path: StrPath,
    content: bytes,
    mode: int,
    owner: Optional[tuple[int, int]] = None,
    before_op: Op = no_op,
) -> None:
    """Temp file in the same directory, fsync, rename over, fsync the directory."""
    temp = write_temp(path, content, mode, owner, before_op)
    before_op(f"rename {temp}")
    os.rename(temp, path)
    fsync_dir(os.path.dirname(path) or ".")


def write_temp(
    path: StrPath, content: bytes, mode: int, owner: Optional[tuple[int, int]], before_op: Op
) -> str:
    temp = temp_path(path)
    before_op(f"write {temp}")
    # O_EXCL and O_NOFOLLOW: never write through something planted under our temp name.
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        view = memoryview(content)
        while view:
            view = view[os.write(fd, view) :]
        os.fchmod(fd, mode)
        if owner is not None and os.geteuid() == 0:
            os.fchown(fd, *owner)
        os.fsync(fd)
    except OSError as exc:  # ENOSPC, EIO: name the file, which os.write does not
        raise OSError(exc.errno, exc.strerror, temp) from None
    finally:
        os.close(fd)
    return temp


def fsync_dir(directory: StrPath) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
