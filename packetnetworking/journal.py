"""The journal: the prior state of the rootfs, on its disk, while a run is under way.

Written before the first change and removed as the commit, it lets the failing process
roll back and the next run recover from a process that died. Restoring is idempotent
(a path already in its prior state is left alone), so a recovery that is itself
interrupted is simply done again. The file lives in a customer's image, so it is
checked like any other input before it is acted on: every path must be plain, relative
and lead through no symlink, so a crafted journal cannot reach outside the rootfs.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import stat
from typing import TYPE_CHECKING, Any

from . import rootfs
from .errors import WriteFailed
from .rootfs import Op, atomic_write, fsync_dir, no_op, temp_path

if TYPE_CHECKING:
    from .transaction import Change

JOURNAL = "packet-networking-journal.json"
VERSION = 2


class Journal:
    def __init__(self, root: str, before_op: Op) -> None:
        self.root = root
        self.path = rootfs.join(root, JOURNAL)
        self._op = before_op
        self._record: dict[str, Any] | None = None

    def begin(self, changes: list[Change]) -> None:
        if os.path.lexists(self.path) or os.path.lexists(temp_path(self.path)):
            raise WriteFailed(f"/{JOURNAL}: an interrupted run's journal is in the way")
        self._record = {
            "version": VERSION,
            "dirs": [self._rel(d) for c in changes for d in c.created_dirs],
            "files": [
                {
                    "path": self._rel(c.path),
                    "existed": c.before.exists,
                    "content": base64.b64encode(c.before.content).decode(),
                    "mode": c.before.mode,
                    "uid": c.before.uid,
                    "gid": c.before.gid,
                    "link": c.before.link,
                }
                for c in changes
            ],
        }
        atomic_write(self.path, json.dumps(self._record).encode(), 0o600, None, self._op)

    def commit(self) -> None:
        self._op(f"unlink {self.path}")
        os.unlink(self.path)
        fsync_dir(self.root)
        self._record = None  # from here on there is nothing to roll back

    def rollback(self, log) -> None:
        """Undo this process's changes; raises OSError if that fails (the journal stays)."""
        if self._record is None:
            return
        restore(self.root, self._record, no_op)
        _remove(temp_path(self.path), no_op)
        _remove(self.path, no_op)
        # Debug level: the console already gets the one-line error; the audit log gets this.
        log.debug("rolled back", files=[f["path"] for f in self._record["files"]])
        self._record = None

    def recover(self, log) -> None:
        # Died while writing the journal itself: nothing else had changed yet.
        _remove(temp_path(self.path), self._op)
        if not os.path.lexists(self.path):
            return
        record = self._load()
        restore(self.root, record, self._op)
        self._op(f"unlink {self.path}")
        os.unlink(self.path)
        fsync_dir(self.root)
        log.warning(
            "recovered interrupted run",
            journal=f"/{JOURNAL}",
            files=[f"/{f['path']}" for f in record["files"]],
        )

    def _load(self) -> dict[str, Any]:
        try:
            if not stat.S_ISREG(os.lstat(self.path).st_mode):
                raise ValueError("not a regular file")
            record = json.loads(rootfs.read_bytes(self.path))
            check(self.root, record)
        except (OSError, ValueError, KeyError, TypeError, binascii.Error, WriteFailed) as exc:
            raise WriteFailed(
                f"/{JOURNAL}: unreadable journal ({rootfs.shown(str(exc))}); inspect and remove it"
            ) from None
        return record

    def _rel(self, path: str) -> str:
        return rootfs.relative(self.root, path)


def restore(root: str, record: dict[str, Any], op: Op) -> None:
    """Put every journalled path back as it was, then remove the directories we made."""
    for entry in reversed(record["files"]):
        path = rootfs.join(root, entry["path"])
        _remove(temp_path(path), op)
        if not entry["existed"]:
            _remove(path, op)
        elif _differs(path, entry):
            _put_back(path, entry, op)
    for rel in reversed(record["dirs"]):
        directory = rootfs.join(root, rel)
        if os.path.isdir(directory) and not os.path.islink(directory) and _empty(directory):
            op(f"rmdir {directory}")
            os.rmdir(directory)


def check(root: str, record: object) -> None:
    """Raise ValueError unless ``record`` is a journal we wrote, naming paths in ``root``."""
    if not isinstance(record, dict) or record.get("version") != VERSION:
        raise ValueError("not a version 2 journal")
    for rel in record["dirs"]:
        _check_path(root, rel)
    for entry in record["files"]:
        _check_path(root, entry["path"])
        base64.b64decode(entry["content"], validate=True)
        if not isinstance(entry["existed"], bool):
            raise ValueError(f"existed={entry['existed']!r}")
        if not all(type(entry[k]) is int for k in ("mode", "uid", "gid")):
            raise ValueError(f"{entry['path']!r}: mode, uid and gid must be integers")
        if entry["link"] is not None and not isinstance(entry["link"], str):
            raise ValueError(f"link={entry['link']!r}")


def _check_path(root: str, rel: object) -> None:
    if not isinstance(rel, str) or "\0" in rel or rel.startswith("/"):
        raise ValueError(f"bad path {rel!r}")
    if any(part in ("", ".", "..") for part in rel.split("/")):
        raise ValueError(f"bad path {rel!r}")
    parent = rel.rpartition("/")[0]
    if parent and rootfs.resolve(root, parent) != rootfs.join(root, parent):
        raise ValueError(f"{rel!r} leads through a symlink")


def _differs(path: str, entry: dict[str, Any]) -> bool:
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return True
    if entry["link"] is not None:
        return not stat.S_ISLNK(info.st_mode) or os.readlink(path) != entry["link"]
    if not stat.S_ISREG(info.st_mode) or stat.S_IMODE(info.st_mode) != entry["mode"]:
        return True
    if os.geteuid() == 0 and (info.st_uid, info.st_gid) != (entry["uid"], entry["gid"]):
        return True
    return rootfs.read_bytes(path) != base64.b64decode(entry["content"])


def _put_back(path: str, entry: dict[str, Any], op: Op) -> None:
    _remove(temp_path(path), op)
    if entry["link"] is None:
        content = base64.b64decode(entry["content"])
        atomic_write(path, content, entry["mode"], (entry["uid"], entry["gid"]), op)
        return
    temp = temp_path(path)  # a symlink is put back atomically too: made aside, renamed over
    op(f"symlink {temp}")
    os.symlink(entry["link"], temp)
    op(f"rename {temp}")
    os.rename(temp, path)


def _remove(path: str, op: Op) -> None:
    if os.path.lexists(path):
        op(f"unlink {path}")
        os.unlink(path)


def _empty(directory: str) -> bool:
    with os.scandir(directory) as entries:
        return next(entries, None) is None
