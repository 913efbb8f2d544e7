"""Apply tasks to the rootfs all or nothing, and log each one as an audit event.

Three phases, so that a crash at any instant can be undone:

1. journal: the prior state of every path we touch (content, mode, owner, symlink target
   or absence) and the directories we will create, written atomically to a file at the
   top of the rootfs before anything else changes. The top, because it always exists:
   a journal directory we had to create could itself be left behind;
2. stage: create the missing directories and write each new file to a temp file beside
   its destination, fsynced. Nothing the target reads has changed yet, and this is
   where a full disk or a read-only directory shows up, so undoing it needs no space;
3. switch: rename each temp file over its destination (a file is always wholly old or
   wholly new) and remove what is deleted. Removing the journal is the commit.

A failure before the commit undoes everything. If the process dies, the next run finds
the journal and restores the prior state before doing anything else (``recover``).
"""

from __future__ import annotations

import hashlib
import os
import stat
from typing import Callable, Optional

from . import rootfs
from .errors import WriteFailed
from .journal import JOURNAL, Journal
from .rootfs import StrPath, atomic_write, fsync_dir, temp_path, write_temp
from .tasks import CONFIG, Delete, EnsureLine, Task, Write

__all__ = ["JOURNAL", "Change", "State", "Transaction", "atomic_write", "event_fields"]


# Plain classes, not attrs: plumbing that is never validated or compared, and each attrs
# class costs every start ~0.3 ms to build (README "Performance").
class State:
    """A path's state before we touched it; ``link`` is a symlink's target (symlinks are
    only ever deleted, never written)."""

    __slots__ = ("exists", "content", "mode", "uid", "gid", "link")

    def __init__(
        self, exists: bool, content: bytes = b"", mode: int = CONFIG, uid: int = 0,
        gid: int = 0, link: Optional[str] = None,
    ) -> None:
        self.exists, self.content, self.mode = exists, content, mode
        self.uid, self.gid, self.link = uid, gid, link

    @property
    def sha256(self) -> Optional[str]:
        if self.link is not None:
            return hashlib.sha256(self.link.encode()).hexdigest()
        return hashlib.sha256(self.content).hexdigest() if self.exists else None


class Change:
    """What a task does to one path: ``path`` is the real host path (a str), inside the
    rootfs; ``display`` the path as the target names it; ``content`` None deletes."""

    __slots__ = ("task", "path", "display", "before", "content", "mode", "created_dirs")

    def __init__(
        self, task: Task, path: str, display: str, before: State, content: Optional[bytes],
        mode: int, created_dirs: tuple[str, ...],
    ) -> None:
        self.task, self.path, self.display, self.before = task, path, display, before
        self.content, self.mode, self.created_dirs = content, mode, created_dirs

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
        self, root: StrPath, log, before_op: Optional[Callable[[str], None]] = None
    ) -> None:
        self.root = os.path.realpath(root)  # absolute, and the journal's paths relative to it
        self.log = log
        # Called before every filesystem mutation: how the tests inject faults.
        self._before_op = before_op or rootfs.no_op

    def prepare(self, tasks: list[Task]) -> list[Change]:
        """Work out each task's new content against the rootfs as it is (and as earlier
        tasks in the list leave it). Reads only; raises ``WriteFailed`` on a bad path."""
        if not os.path.isdir(self.root):
            raise WriteFailed(f"--rootfs {self.root}: not a directory")
        pending: dict[str, Optional[bytes]] = {}
        planned_dirs: set[str] = set()
        changes = []
        for task in tasks:
            try:
                changes.append(self._plan(task, pending, planned_dirs))
            except OSError as exc:  # EACCES, ELOOP, ENAMETOOLONG... while only looking
                reason = rootfs.shown(exc.strerror or str(exc))
                raise WriteFailed(f"/{task.path}: {reason}") from None
        return changes

    def _plan(self, task: Task, pending: dict, planned_dirs: set[str]) -> Change:
        path = _resolve(self.root, task)
        before = _read_state(path, task.path, link_ok=isinstance(task, Delete))
        current = pending.get(path, before.content if before.exists else None)
        content = _new_content(task, current)
        pending[path] = content
        dirs = () if content is None else _missing_dirs(self.root, path, planned_dirs)
        planned_dirs.update(dirs)
        if content is not None and os.path.lexists(temp_path(path)):
            shown = rootfs.display(self.root, temp_path(path))
            raise WriteFailed(f"{shown}: a stale temp file is in the way; remove it")
        mode = task.mode if isinstance(task, (Write, EnsureLine)) else CONFIG
        if before.exists and (mode == CONFIG or getattr(task, "keep_mode", False)):
            mode = before.mode  # keep a user's mode on plain config files
        display = rootfs.display(self.root, path)
        return Change(task, path, display, before, content, mode, dirs)

    def apply(self, changes: list[Change]) -> None:
        """Make every change or none; log one audit event per change."""
        todo = [c for c in _last_change_per_path(changes) if c.action != "unchanged"]
        if todo:
            journal = Journal(self.root, self._before_op)
            try:
                journal.begin(todo)
                for change in todo:
                    self._stage(change)
                for change in todo:
                    self._switch(change)
                for directory in {os.path.dirname(c.path) for c in todo}:
                    fsync_dir(directory)
                journal.commit()
            except (OSError, WriteFailed) as exc:
                raise self._undo(journal, exc) from None
        for change in changes:
            self.log.info("task", **event_fields(change))

    def _stage(self, change: Change) -> None:
        for directory in change.created_dirs:
            self._before_op(f"mkdir {directory}")
            os.mkdir(directory)
            os.chmod(directory, 0o755)  # whatever our umask: the target's daemons read it
        if change.content is not None:
            owner = (change.before.uid, change.before.gid) if change.before.exists else None
            write_temp(change.path, change.content, change.mode, owner, self._before_op)

    def _switch(self, change: Change) -> None:
        if change.content is None:
            self._before_op(f"unlink {change.path}")
            os.unlink(change.path)
        else:
            self._before_op(f"rename {temp_path(change.path)}")
            os.rename(temp_path(change.path), change.path)

    def _undo(self, journal: Journal, exc: Exception) -> WriteFailed:
        reason = _reason(self.root, exc)
        try:
            journal.rollback(self.log)
        except (OSError, WriteFailed) as again:
            return WriteFailed(
                f"writing failed ({reason}) and so did the rollback ({_reason(self.root, again)});"
                f" the next run restores the prior state from /{JOURNAL}"
            )
        return WriteFailed(f"writing failed, every change rolled back: {reason}")

    def recover(self) -> None:
        """Undo a run that died half-way, before doing anything else."""
        try:
            Journal(self.root, self._before_op).recover(self.log)
        except OSError as exc:
            raise WriteFailed(
                f"recovering an interrupted run failed: {_reason(self.root, exc)}"
            ) from None


def event_fields(change: Change) -> dict:
    return {
        "path": change.display,
        "action": change.action,
        "bytes": len(change.content) if change.content is not None else 0,
        "sha256": change.sha256,
        "previous_sha256": change.before.sha256,
        "mode": f"{change.mode:04o}",
    }


def _reason(root: str, exc: Exception) -> str:
    if isinstance(exc, OSError):
        text = rootfs.shown(exc.strerror or str(exc))
        return f"{rootfs.display(root, exc.filename)}: {text}" if exc.filename else text
    return str(exc)


def _resolve(root: str, task: Task) -> str:
    """Writes follow a final symlink as the target would; a Delete removes the link itself."""
    if isinstance(task, Delete):
        parent, _, name = task.path.rpartition("/")
        return rootfs.join(rootfs.resolve(root, parent) if parent else root, name)
    return rootfs.resolve(root, task.path)


def _read_state(path: str, shown: str, link_ok: bool = False) -> State:
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return State(exists=False)
    except NotADirectoryError:
        raise WriteFailed(f"/{shown}: a file stands where a directory should be") from None
    if link_ok and stat.S_ISLNK(info.st_mode):
        return State(True, b"", 0o777, info.st_uid, info.st_gid, link=os.readlink(path))
    if not stat.S_ISREG(info.st_mode):
        raise WriteFailed(f"/{shown}: exists and is not a regular file")
    try:
        content = rootfs.read_bytes(path)
    except OSError as exc:
        raise WriteFailed(f"/{shown}: cannot read: {exc.strerror}") from None
    return State(True, content, stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid)


def _new_content(task: Task, current: Optional[bytes]) -> Optional[bytes]:
    if isinstance(task, Write):
        return task.content.encode()
    if isinstance(task, Delete):
        return None
    text = (current or b"").decode(errors="surrogateescape")
    lines = text.splitlines()
    if task.replaces is not None and any(line.startswith(task.replaces) for line in lines):
        return _replace_setting(lines, task.line, task.replaces)
    if task.line in lines:
        return current if current is not None else b""
    if text and not text.endswith("\n"):
        text += "\n"
    return (text + task.line + "\n").encode(errors="surrogateescape")


def _replace_setting(lines: list[str], line: str, prefix: str) -> bytes:
    """The first line starting with ``prefix`` becomes ``line``; later ones go, so the
    file says one thing whichever assignment its reader honours."""
    out, done = [], False
    for old in lines:
        if old.startswith(prefix):
            if not done:
                out.append(line)
                done = True
            continue
        out.append(old)
    return ("\n".join(out) + "\n").encode(errors="surrogateescape")


def _missing_dirs(root: str, path: str, planned: set[str]) -> tuple[str, ...]:
    """Parent directories to create, outermost first; a non-directory in the way fails."""
    missing = []
    parent = os.path.dirname(path)
    while parent != root and parent not in planned:
        if os.path.lexists(parent):
            if not os.path.isdir(parent) or os.path.islink(parent):
                raise WriteFailed(f"{rootfs.display(root, parent)}: exists and is not a directory")
            break
        missing.append(parent)
        parent = os.path.dirname(parent)
    return tuple(reversed(missing))


def _last_change_per_path(changes: list[Change]) -> list[Change]:
    """Several tasks may touch one file (two EnsureLines): apply the final content once,
    keeping the state from before the first of them for the journal."""
    merged: dict[str, Change] = {}
    for change in changes:
        if change.path in merged:
            first = merged[change.path]
            change = Change(change.task, change.path, change.display, first.before,
                            change.content, change.mode, first.created_dirs)
        merged[change.path] = change
    return list(merged.values())

