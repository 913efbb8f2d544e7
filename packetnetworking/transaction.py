"""Apply tasks to the rootfs all or nothing, and log each one as an audit event.

Before the first change, the prior state of every touched path (content, mode, owner,
or absence) and every directory we will create goes into a journal in the rootfs. Each
file is then written to a temp file beside it, fsynced and renamed over the old one, so
a file is always wholly old or wholly new. If a task fails, everything done is undone;
if the process dies, the next run finds the journal and restores the state before it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Callable, Optional

import attrs

from . import rootfs
from .errors import WriteFailed
from .tasks import CONFIG, Delete, EnsureLine, Task, Write

JOURNAL_DIR = "var/lib/packet-networking"
JOURNAL = f"{JOURNAL_DIR}/journal.json"
TEMP_SUFFIX = ".pn-new"


@attrs.frozen
class State:
    """A path's state before we touched it."""

    exists: bool
    content: bytes = b""
    mode: int = CONFIG
    uid: int = 0
    gid: int = 0
    link: Optional[str] = None  # a symlink's target (only ever deleted, never written)

    @property
    def sha256(self) -> Optional[str]:
        if self.link is not None:
            return hashlib.sha256(self.link.encode()).hexdigest()
        return hashlib.sha256(self.content).hexdigest() if self.exists else None


@attrs.frozen
class Change:
    task: Task
    path: Path  # the real host path, inside the rootfs
    display: str  # the path as the target names it
    before: State
    content: Optional[bytes]  # None: delete
    mode: int
    created_dirs: tuple[Path, ...]

    @property
    def action(self) -> str:
        if self.content is None:
            return "delete" if self.before.exists else "unchanged"
        if self.before.exists and self.before.content == self.content and (
            self.before.mode == self.mode
        ):
            return "unchanged"
        return "append" if isinstance(self.task, EnsureLine) else "write"

    @property
    def sha256(self) -> Optional[str]:
        return hashlib.sha256(self.content).hexdigest() if self.content is not None else None


class Transaction:
    def __init__(
        self,
        root: Path,
        log,
        before_op: Optional[Callable[[str], None]] = None,
    ) -> None:
        self.root = root.resolve()
        self.log = log
        # Called before every filesystem mutation: how the tests inject faults.
        self._before_op = before_op or (lambda _op: None)

    # -- planning: read-only ------------------------------------------------------------

    def prepare(self, tasks: list[Task]) -> list[Change]:
        """Work out each task's new content against the rootfs as it is (and as earlier
        tasks in the list leave it). Reads only; raises ``WriteFailed`` on a bad path."""
        if not self.root.is_dir():
            raise WriteFailed(f"--rootfs {self.root}: not a directory")
        pending: dict[Path, Optional[bytes]] = {}
        planned_dirs: set[Path] = set()
        changes = []
        for task in tasks:
            path = _resolve(self.root, task)
            before = _read_state(path, task.path, link_ok=isinstance(task, Delete))
            current = pending[path] if path in pending else (
                before.content if before.exists else None
            )
            content = _new_content(task, current)
            pending[path] = content
            dirs = () if content is None else _missing_dirs(self.root, path, planned_dirs)
            planned_dirs.update(dirs)
            mode = task.mode if isinstance(task, (Write, EnsureLine)) else CONFIG
            if before.exists and mode == CONFIG:
                mode = before.mode  # keep a user's mode on plain config files
            changes.append(
                Change(task, path, rootfs.display(self.root, path), before, content, mode, dirs)
            )
        return changes

    # -- applying -------------------------------------------------------------------------

    def apply(self, changes: list[Change]) -> None:
        """Make every change or none; log one audit event per change."""
        todo = _last_change_per_path(changes)
        journal = _Journal(self.root, self._before_op)
        try:
            if any(c.action != "unchanged" for c in todo):
                journal.begin(todo)
            for change in todo:
                if change.action != "unchanged":
                    self._apply_one(change)
        except (OSError, WriteFailed) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            where = getattr(exc, "filename", None) or ""
            journal.rollback(self.log)
            raise WriteFailed(f"writing failed, every change rolled back: {where}: {reason}") from None
        journal.finish()
        for change in changes:
            self.log.info("task", **event_fields(change))

    def _apply_one(self, change: Change) -> None:
        for directory in change.created_dirs:
            self._before_op(f"mkdir {directory}")
            directory.mkdir(mode=0o755)
        if change.content is None:
            self._before_op(f"unlink {change.path}")
            change.path.unlink()
        else:
            owner = (change.before.uid, change.before.gid) if change.before.exists else None
            atomic_write(change.path, change.content, change.mode, owner, self._before_op)

    def recover(self) -> None:
        """Undo a run that died half-way, before doing anything else."""
        _Journal(self.root, self._before_op).recover(self.log)


def event_fields(change: Change) -> dict:
    return {
        "path": change.display,
        "action": change.action,
        "bytes": len(change.content) if change.content is not None else 0,
        "sha256": change.sha256,
        "previous_sha256": change.before.sha256,
        "mode": f"{change.mode:04o}",
    }


def atomic_write(
    path: Path,
    content: bytes,
    mode: int,
    owner: Optional[tuple[int, int]] = None,
    before_op: Callable[[str], None] = lambda _op: None,
) -> None:
    """Temp file in the same directory, fsync, rename over, fsync the directory."""
    temp = path.with_name(f".{path.name}{TEMP_SUFFIX}")
    before_op(f"write {temp}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        _write_all(fd, content)
        os.fchmod(fd, mode)
        if owner is not None and os.geteuid() == 0:
            os.fchown(fd, *owner)
        os.fsync(fd)
    finally:
        os.close(fd)
    before_op(f"rename {temp}")
    os.rename(temp, path)
    _fsync_dir(path.parent)


def _write_all(fd: int, content: bytes) -> None:
    view = memoryview(content)
    while view:
        view = view[os.write(fd, view) :]


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _resolve(root: Path, task: Task) -> Path:
    """Writes follow a final symlink as the target would; a Delete removes the link itself."""
    if isinstance(task, Delete):
        parent, _, name = task.path.rpartition("/")
        return (rootfs.resolve(root, parent) if parent else root) / name
    return rootfs.resolve(root, task.path)


def _read_state(path: Path, shown: str, link_ok: bool = False) -> State:
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return State(exists=False)
    except NotADirectoryError:
        raise WriteFailed(f"{shown}: a file stands where a directory should be") from None
    if link_ok and stat.S_ISLNK(info.st_mode):
        return State(True, b"", 0o777, info.st_uid, info.st_gid, link=os.readlink(path))
    if not stat.S_ISREG(info.st_mode):
        raise WriteFailed(f"{shown}: exists and is not a regular file")
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise WriteFailed(f"{shown}: cannot read: {exc.strerror}") from None
    return State(True, content, stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid)


def _new_content(task: Task, current: Optional[bytes]) -> Optional[bytes]:
    if isinstance(task, Write):
        return task.content.encode()
    if isinstance(task, Delete):
        return None
    text = (current or b"").decode(errors="surrogateescape")
    if task.line in text.splitlines():
        return current if current is not None else b""
    if text and not text.endswith("\n"):
        text += "\n"
    return (text + task.line + "\n").encode(errors="surrogateescape")


def _missing_dirs(root: Path, path: Path, planned: set[Path]) -> tuple[Path, ...]:
    """Parent directories to create, outermost first; a non-directory in the way fails."""
    missing = []
    parent = path.parent
    while parent != root and parent not in planned:
        if os.path.lexists(parent):
            if not parent.is_dir() or parent.is_symlink():
                raise WriteFailed(
                    f"{rootfs.display(root, parent)}: exists and is not a directory"
                )
            break
        missing.append(parent)
        parent = parent.parent
    return tuple(reversed(missing))


def _last_change_per_path(changes: list[Change]) -> list[Change]:
    """Several tasks may touch one file (two EnsureLines): apply the final content once,
    keeping the state from before the first of them for the journal."""
    merged: dict[Path, Change] = {}
    for change in changes:
        if change.path in merged:
            first = merged[change.path]
            change = attrs.evolve(
                change, before=first.before, created_dirs=first.created_dirs
            )
        merged[change.path] = change
    return list(merged.values())


class _Journal:
    """The prior state of the rootfs, on its disk, for as long as a run is under way."""

    def __init__(self, root: Path, before_op: Callable[[str], None]) -> None:
        self.root = root
        self.path = root / JOURNAL
        self._before_op = before_op
        self._record: Optional[dict] = None

    def begin(self, changes: list[Change]) -> None:
        created_journal_dirs = _missing_dirs(self.root, self.path, set())
        # Recorded before the first mkdir, so a failure at any point can be undone.
        self._record = {
            "version": 1,
            "journal_dirs": [self._rel(d) for d in created_journal_dirs],
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
                if c.action != "unchanged"
            ],
        }
        for directory in created_journal_dirs:
            self._before_op(f"mkdir {directory}")
            directory.mkdir(mode=0o755)
        atomic_write(self.path, json.dumps(self._record).encode(), 0o600, None, self._before_op)

    def finish(self) -> None:
        if self._record is not None:
            self._remove(self._record)

    def rollback(self, log) -> None:
        if self._record is not None:
            self._restore(self._record)
            log.warning("rolled back", files=[f["path"] for f in self._record["files"]])
            self._remove(self._record)

    def recover(self, log) -> None:
        if not self.path.is_file() or self.path.is_symlink():
            return
        try:
            record = json.loads(self.path.read_text())
            files = [f["path"] for f in record["files"]]
        except (ValueError, KeyError, TypeError):
            raise WriteFailed(f"/{JOURNAL}: unreadable journal; inspect and remove it") from None
        self._restore(record)
        log.warning("recovered interrupted run", journal=f"/{JOURNAL}", files=files)
        self._remove(record)

    def _restore(self, record: dict) -> None:
        for entry in reversed(record["files"]):
            path = self.root / entry["path"]
            _unlink(path.with_name(f".{path.name}{TEMP_SUFFIX}"))
            if entry.get("link") is not None:
                _unlink(path)
                os.symlink(entry["link"], path)
            elif entry["existed"]:
                content = base64.b64decode(entry["content"])
                atomic_write(path, content, entry["mode"], (entry["uid"], entry["gid"]))
            else:
                _unlink(path)
        for rel in reversed(record["dirs"]):
            _rmdir(self.root / rel)

    def _remove(self, record: dict) -> None:
        _unlink(self.path)
        _unlink(self.path.with_name(f".{self.path.name}{TEMP_SUFFIX}"))
        for rel in reversed(record["journal_dirs"]):
            _rmdir(self.root / rel)

    def _rel(self, path: Path) -> str:
        return str(path.relative_to(self.root))


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def _rmdir(path: Path) -> None:
    try:
        path.rmdir()
    except (FileNotFoundError, OSError):
        pass  # not empty: something else lives there now, so it is not ours to remove
