"""The journal: the prior state of the rootfs, on its disk, while a run is under way.

Written before the first change and removed as the commit, it lets the failing process
roll back and the next run recover from a process that died. Restoring is idempotent
(a path already in its prior state is left alone), so a recovery that is itself
interrupted is simply done again, and it keeps going past a path it cannot restore:
every failure is reported, and the journal stays for the next run.

The file lives in a customer's image, so it is checked like any other input before it
is acted on, and before anything changes: its size, its depth, every field's type and
range (mode within 0o7777, owner within 32 bits, contents and attributes within the
sizes this tool writes), and every path plain, relative and leading through no symlink,
so a crafted journal cannot reach outside the rootfs or make a file we never wrote. Its
paths are the image's choice, so one on another mount than the rootfs's own (an
installer's bind mount, symlink or not) is refused, as is a mode with set-user-ID,
set-group-ID or sticky bits or a file capability: this tool never writes such a file.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import stat
from typing import TYPE_CHECKING, Any, Optional

from . import fileio
from .changes import Change
from .errors import WriteFailed, describe, printable
from .fileio import MAX_FILE, MAX_XATTR, Op, no_op, temp_path
from .rootfs import Root

if TYPE_CHECKING:
    from structlog.typing import FilteringBoundLogger as Log

JOURNAL = "packet-networking-journal.json"
VERSION = 3  # 3 added "xattrs"; a version 2 journal (none kept) is still recovered
MAX_ENTRIES = 4096  # files and directories in one journal: a run touches a few dozen
# The largest journal we read: every file at its limit, base64, would not fit; a real
# one is a few KiB. Past this it is refused unread.
MAX_JOURNAL = 64 << 20
MAX_OWNER = 2**32 - 2  # uid_t is 32 bits and (uid_t)-1 means "leave unchanged"

_FILE_KEYS = {"path", "existed", "content", "mode", "uid", "gid", "link"}


class Journal:
    def __init__(self, root: Root, before_op: Op) -> None:
        self.root = root
        self._op = before_op
        self._record: dict[str, Any] | None = None

    def begin(self, changes: list[Change]) -> None:
        fd = self.root.fd
        if fileio.lexists(fd, JOURNAL) or fileio.lexists(fd, temp_path(JOURNAL)):
            raise WriteFailed(f"/{JOURNAL}: an interrupted run's journal is in the way")
        # Held decoded for an in-process rollback; written base64 (JSON has no bytes).
        self._record = {
            "version": VERSION,
            "dirs": [d for c in changes for d in c.created_dirs],
            "files": [
                {
                    "path": c.rel,
                    "existed": c.before.exists,
                    "content": c.before.content,
                    "mode": c.before.mode,
                    "uid": c.before.uid,
                    "gid": c.before.gid,
                    "link": c.before.link,
                    "xattrs": c.before.xattrs,
                }
                for c in changes
            ],
        }
        body = json.dumps(_encoded(self._record)).encode()
        fileio.atomic_write(fd, JOURNAL, body, 0o600, None, None, self._op, "/")

    def commit(self) -> None:
        fileio.unlink_in(self.root.fd, JOURNAL, self._op, "/")
        os.fsync(self.root.fd)
        self._record = None  # from here on there is nothing to roll back

    def rollback(self, log: Log) -> list[str]:
        """Undo this process's changes, attempting every one. Returns what could not be
        restored, one line each (then the journal stays, for the next run)."""
        if self._record is None:
            return []
        failures = restore(self.root, self._record, no_op, from_disk=False)
        if not failures:
            _remove_journal(self.root, no_op)
            # Debug level: the console already gets the one-line error; the audit log too.
            log.debug("rolled back", files=[f["path"] for f in self._record["files"]])
        self._record = None
        return failures

    def recover(self, log: Log) -> list[str]:
        """Restore what a run that died left; returns the paths it could not restore
        (the journal then stays). A hostile journal is refused before any change."""
        fd = self.root.fd
        if not fileio.lexists(fd, JOURNAL):
            # Died while writing the journal itself: nothing else had changed yet.
            fileio.unlink_in(fd, temp_path(JOURNAL), self._op, "/")
            return []
        record = self._load()
        failures = restore(self.root, record, self._op, from_disk=True)
        if failures:
            return failures
        _remove_journal(self.root, self._op)
        log.warning(
            "recovered interrupted run",
            journal=f"/{JOURNAL}",
            files=[f"/{f['path']}" for f in record["files"]],
        )
        return []

    def _load(self) -> dict[str, Any]:
        try:
            fd = os.open(JOURNAL, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                         dir_fd=self.root.fd)  # fmt: skip
            try:
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    raise ValueError("not a regular file")
                body = fileio.read_fd(fd, f"/{JOURNAL}", MAX_JOURNAL)
            finally:
                os.close(fd)
            record: dict[str, Any] = json.loads(body)
            check(self.root, record)
        except RecursionError:
            raise _unreadable("nested too deeply") from None
        except (OSError, ValueError, WriteFailed) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise _unreadable(reason) from None
        return record


def _encoded(record: dict[str, Any]) -> dict[str, Any]:
    files = [
        {
            **entry,
            "content": base64.b64encode(entry["content"]).decode(),
            "xattrs": {k: base64.b64encode(v).decode() for k, v in entry["xattrs"].items()},
        }
        for entry in record["files"]
    ]
    return {**record, "files": files}


def _unreadable(reason: str) -> WriteFailed:
    return WriteFailed(
        f"/{JOURNAL}: unreadable journal ({printable(reason)[:200]}); inspect and remove it"
    )


def _remove_journal(root: Root, op: Op) -> None:
    fileio.unlink_in(root.fd, temp_path(JOURNAL), op, "/")
    fileio.unlink_in(root.fd, JOURNAL, op, "/")
    os.fsync(root.fd)


def restore(root: Root, record: dict[str, Any], op: Op, from_disk: bool) -> list[str]:
    """Put every journalled path back as it was, then remove the directories we made.
    Every one is attempted; returns one line per path that could not be restored.

    ``from_disk``: the record was read back from the image (a recovery), so its paths are
    the image's choice and each one goes through the image's mount rule again where it
    is used (``check`` refused the journal whole before; this holds it at every change).
    A rollback's record is this process's own, its paths checked as it planned them."""
    failures = []
    for entry in reversed(record["files"]):
        try:
            _restore_file(root, entry, op, from_disk)
        except (OSError, WriteFailed) as exc:
            failures.append(f"/{printable(entry['path'])}: {describe(exc)}")
    for rel in reversed(record["dirs"]):
        try:
            _remove_dir(root, rel, op, from_disk)
        except (OSError, WriteFailed) as exc:
            failures.append(f"/{printable(rel)}: {describe(exc)}")
    return failures


def _restore_file(root: Root, entry: dict[str, Any], op: Op, from_disk: bool) -> None:
    where = root.locate(entry["path"], follow=False, links=False)
    root.mount_check(where, entry["path"], chosen_by_image=from_disk)
    if where.missing:  # its directory is gone, or was never made: nothing of ours is in it
        if entry["existed"]:
            raise WriteFailed("its directory is missing")
        return
    fd, name, shown_dir = root.dir_fd(where.dir), where.name, f"/{where.dir}"
    fileio.unlink_in(fd, temp_path(name), op, shown_dir)
    if not entry["existed"]:
        fileio.unlink_in(fd, name, op, shown_dir)
    elif _differs(fd, name, entry):
        _put_back(fd, name, entry, op, shown_dir)


def _remove_dir(root: Root, rel: str, op: Op, from_disk: bool) -> None:
    where = root.locate(rel, follow=False, links=False)
    root.mount_check(where, rel, chosen_by_image=from_disk)
    if where.missing:
        return
    parent = root.dir_fd(where.dir)
    try:
        info = os.stat(where.name, dir_fd=parent, follow_symlinks=False)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(info.st_mode):
        return
    fd = os.open(where.name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=parent)
    try:
        empty = not os.listdir(fd)
    finally:
        os.close(fd)
    if empty:
        op(f"rmdir /{rel}")
        root.forget(rel)
        os.rmdir(where.name, dir_fd=parent)


def check(root: Root, record: object) -> None:
    """Raise ValueError unless ``record`` is a journal we wrote, naming paths in ``root``."""
    if not isinstance(record, dict) or record.get("version") not in (2, VERSION):
        raise ValueError("not a version 2 or 3 journal")
    dirs, files = record.get("dirs"), record.get("files")
    if not isinstance(dirs, list) or not isinstance(files, list):
        raise ValueError("dirs and files must be lists")
    if len(dirs) + len(files) > MAX_ENTRIES:
        raise ValueError(f"{len(dirs) + len(files)} entries, more than {MAX_ENTRIES}")
    for rel in dirs:
        _check_path(root, rel)
    for entry in files:
        _check_entry(root, entry)
        why = fileio.special(entry["mode"], entry["xattrs"])
        if why is not None:
            raise ValueError(f"{_short(entry['path'])}: {why}, which this tool never writes")


def _check_entry(root: Root, entry: object) -> None:
    if not isinstance(entry, dict):
        raise ValueError("a file entry is not an object")
    keys = set(entry)
    if not _FILE_KEYS <= keys <= _FILE_KEYS | {"xattrs"}:
        raise ValueError(f"file entry keys {sorted(keys)!r}")
    path = entry["path"]
    _check_path(root, path)
    if not isinstance(entry["existed"], bool):
        raise ValueError(f"{path!r}: existed={entry['existed']!r}")
    entry["content"] = _decode(entry["content"], MAX_FILE, f"{path!r}: content")
    for key, top in (("mode", 0o7777), ("uid", MAX_OWNER), ("gid", MAX_OWNER)):
        value = entry[key]
        if type(value) is not int or not 0 <= value <= top:
            raise ValueError(f"{path!r}: {key}={_short(value)} is out of range")
    link = entry["link"]
    if link is not None and (not isinstance(link, str) or "\0" in link or len(link) > 4096):
        raise ValueError(f"{path!r}: link={_short(link)}")
    attributes = entry.get("xattrs", {})
    if not isinstance(attributes, dict) or len(attributes) > 64:
        raise ValueError(f"{path!r}: xattrs must be an object of at most 64 names")
    decoded = {}
    for name, value in attributes.items():
        if not name or len(name) > 255 or "\0" in name or "." not in name:
            raise ValueError(f"{path!r}: xattr name {_short(name)}")
        decoded[name] = _decode(value, MAX_XATTR, f"{path!r}: xattr {name!r}")
    entry["xattrs"] = decoded


def _decode(value: object, limit: int, what: str) -> bytes:
    """A base64 field, decoded (kept decoded in the record), at most ``limit`` bytes."""
    if not isinstance(value, str) or len(value) > (limit + 2) // 3 * 4:
        raise ValueError(f"{what}: not base64 of at most {limit} bytes")
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error:
        raise ValueError(f"{what}: not base64") from None


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _check_path(root: Root, rel: object) -> None:
    if not isinstance(rel, str) or "\0" in rel or rel.startswith("/") or len(rel) > 4096:
        raise ValueError(f"bad path {_short(rel)}")
    if any(part in ("", ".", "..") for part in rel.split("/")):
        raise ValueError(f"bad path {_short(rel)}")
    # WriteFailed: it leads through a symlink, or onto another mount than the rootfs's
    # (the image chose this path: an installer's bind mount is never its to name).
    root.mount_check(root.locate(rel, follow=False, links=False), rel, chosen_by_image=True)


def _differs(fd: int, name: str, entry: dict[str, Any]) -> bool:
    try:
        info = os.stat(name, dir_fd=fd, follow_symlinks=False)
    except FileNotFoundError:
        return True
    if entry["link"] is not None:
        return not stat.S_ISLNK(info.st_mode) or os.readlink(name, dir_fd=fd) != entry["link"]
    if not stat.S_ISREG(info.st_mode) or stat.S_IMODE(info.st_mode) != entry["mode"]:
        return True
    if os.geteuid() == 0 and (info.st_uid, info.st_gid) != (entry["uid"], entry["gid"]):
        return True
    now = fileio.read_entry(fd, name, name)
    return bool(now.content != entry["content"] or now.xattrs != entry.get("xattrs", {}))


def _put_back(fd: int, name: str, entry: dict[str, Any], op: Op, shown_dir: str) -> None:
    temp = temp_path(name)
    fileio.unlink_in(fd, temp, op, shown_dir)
    if entry["link"] is None:
        owner = (entry["uid"], entry["gid"])
        attributes: Optional[dict[str, bytes]] = entry.get("xattrs")
        fileio.atomic_write(fd, name, entry["content"], entry["mode"], owner, attributes, op,
                            shown_dir)  # fmt: skip
        return
    # A symlink is put back atomically too: made aside, renamed over.
    op(f"symlink {fileio.join(shown_dir, temp)}")
    try:
        os.symlink(entry["link"], temp, dir_fd=fd)
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, fileio.join(shown_dir, temp)) from None
    op(f"rename {fileio.join(shown_dir, temp)}")
    fileio.rename_in(fd, temp, name, shown_dir)
