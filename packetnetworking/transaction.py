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

A failure before the commit undoes everything, and so do SIGINT, SIGTERM and SIGHUP
(exit 130, 143, 129, see ``interrupts``); one that arrives during the commit waits for it and then
changes nothing: the run is configured, and reported so. If the process dies, the next
run finds the journal and restores the prior state before doing anything else
(``recover``). Only one run at a time: ``recover`` and ``apply`` take a lock on the
rootfs directory (exit 75 if busy).

Every path is resolved once, in ``prepare``, through directory descriptors
(``rootfs.Root``), and every later call uses those descriptors: what we read is what we
replace, however the image's directories are swapped meanwhile. A replaced file keeps
its mode, owner and every extended attribute (SELinux label, POSIX ACLs, ``user.*``);
a new one on an SELinux target gets the label its policy gives the path (``selinux``).
"""

from __future__ import annotations

import os
import stat
from typing import TYPE_CHECKING, Callable, Optional

from . import fileio, interrupts, selinux
from .changes import Change, State, event_fields
from .errors import Interrupted, PacketNetworkingError, WriteFailed, describe, printable
from .fileio import StrPath, temp_path
from .journal import JOURNAL, Journal
from .rootfs import Root, Where
from .tasks import CONFIG, Delete, EnsureLine, Task, Write

if TYPE_CHECKING:
    from structlog.typing import FilteringBoundLogger as Log


class Transaction:
    def __init__(
        self, root: StrPath, log: Log, before_op: Optional[Callable[[str], None]] = None
    ) -> None:
        self.root = os.path.realpath(root)  # absolute, and the journal's paths relative to it
        self.log = log
        # Called before every filesystem mutation: how the tests inject faults.
        self._before_op = before_op or fileio.no_op
        self._fs: Optional[Root] = None
        # The SELinux labels of the directories prepare found missing (none when the
        # target has no SELinux): decided with the files', before anything is written.
        self._dir_labels: dict[str, dict[str, bytes]] = {}

    def _open(self) -> Root:
        if self._fs is None:
            if not os.path.isdir(self.root):
                raise WriteFailed(f"--rootfs {printable(self.root)}: not a directory")
            self._fs = Root(self.root)
        return self._fs

    def close(self) -> None:
        """Let go of the rootfs's descriptors (and so of its lock)."""
        if self._fs is not None:
            self._fs.close()
            self._fs = None

    def journal_present(self) -> bool:
        """Whether a run's journal is there: one is under way, or died half-way. Only
        looks: a dry run takes no lock (it must never make a real run fail with exit
        75) and recovers nothing (that would be a change)."""
        return fileio.lexists(self._open().fd, JOURNAL)

    def prepare(self, tasks: list[Task]) -> list[Change]:
        """Work out each task's new content against the rootfs as it is (and as earlier
        tasks in the list leave it). Reads only; raises ``WriteFailed`` on a bad path."""
        fs = self._open()
        labels = selinux.Labels(fs, self.log)
        pending: dict[str, Optional[bytes]] = {}
        planned_dirs: set[str] = set()
        changes = []
        for task in tasks:
            try:
                changes.append(self._plan(fs, labels, task, pending, planned_dirs))
            except OSError as exc:  # EACCES, ELOOP, ENAMETOOLONG... while only looking
                reason = printable(exc.strerror or str(exc))
                raise WriteFailed(f"/{task.path}: {reason}") from None
        relabel = labels.relabel_task(changes)
        if relabel is not None:
            changes.append(self._plan(fs, labels, relabel, pending, planned_dirs))
        return changes

    def _plan(
        self,
        fs: Root,
        labels: selinux.Labels,
        task: Task,
        pending: dict[str, Optional[bytes]],
        planned_dirs: set[str],
    ) -> Change:
        # Writes follow a final symlink as the target would; a Delete removes the link.
        where = fs.locate(task.path, follow=not isinstance(task, Delete))
        fs.mount_check(where, task.path)
        rel = where.rel
        before = _read_state(fs, where, link_ok=isinstance(task, Delete))
        current = pending.get(rel, before.content if before.exists else None)
        content = _new_content(task, current)
        pending[rel] = content
        dirs = () if content is None else tuple(d for d in where.missing if d not in planned_dirs)
        planned_dirs.update(dirs)
        stale = content is not None and not where.missing
        if stale and fileio.lexists(fs.dir_fd(where.dir), temp_path(where.name)):
            shown = "/" + printable(temp_path(rel))
            raise WriteFailed(f"{shown}: a stale temp file is in the way; remove it")
        mode = task.mode if isinstance(task, (Write, EnsureLine)) else CONFIG
        if before.exists and (mode == CONFIG or getattr(task, "keep_mode", False)):
            mode = before.mode  # keep a user's mode on plain config files
        _ordinary(before, mode, where.rel)
        label = None
        if content is not None and not before.exists:
            label = labels.file(rel)
        for directory in dirs:
            self._dir_labels[directory] = labels.directory(directory)
        return Change(task, where, self.root, before, content, mode, dirs, label)

    def apply(self, changes: list[Change], window: Optional[interrupts.Window] = None) -> None:
        """Make every change or none; log one audit event per change. ``window``: the
        caller's, already entered, when what follows (``run complete``) must be covered
        too; else the transaction has one of its own."""
        if window is None:
            with interrupts.Window() as own:
                self.apply(changes, own)
            return
        todo = [c for c in _last_change_per_path(changes) if c.action != "unchanged"]
        if todo:
            fs = self._open()
            fs.lock()
            journal = Journal(fs, self._before_op)
            window.arm()
            try:
                journal.begin(todo)
                for change in todo:
                    self._stage(fs, change)
                for change in todo:
                    self._switch(fs, change)
                for directory in _durable_dirs(todo):
                    os.fsync(fs.dir_fd(directory))
                window.defer()  # the commit is one unlink: let it finish
                journal.commit()
                window.committed()  # configured: no signal turns this into a rollback now
            except (OSError, WriteFailed, Interrupted) as exc:
                window.defer()
                raise self._undo(journal, exc) from None
            finally:
                self.close()
        for change in changes:
            self.log.info("task", **event_fields(change))

    def _stage(self, fs: Root, change: Change) -> None:
        for directory in change.created_dirs:
            self._before_op(f"mkdir /{directory}")
            fd = fs.make_dir(directory)
            for key, value in self._dir_labels.get(directory, {}).items():
                os.setxattr(fd, key, value)
        if change.content is not None:
            before = change.before
            owner = (before.uid, before.gid) if before.exists else None
            attributes = before.xattrs if before.exists else change.label
            fileio.write_temp(fs.dir_fd(change.dir), change.name, change.content, change.mode,
                              owner, attributes, self._before_op, f"/{change.dir}")  # fmt: skip

    def _switch(self, fs: Root, change: Change) -> None:
        fd = fs.dir_fd(change.dir)
        if change.content is None:
            fileio.unlink_in(fd, change.name, self._before_op, f"/{change.dir}")
        else:
            self._before_op(f"rename /{temp_path(change.rel)}")
            fileio.rename_in(fd, temp_path(change.name), change.name, f"/{change.dir}")

    def _undo(self, journal: Journal, exc: Exception) -> PacketNetworkingError:
        reason = describe(exc)
        failures = journal.rollback(self.log)
        for line in failures:  # one line each, then the one-line error
            self.log.error("could not restore", path=line)
        if failures:
            return WriteFailed(
                f"writing failed ({reason}) and so did restoring {len(failures)} path(s),"
                f" listed above; the next run restores the prior state from /{JOURNAL}"
            )
        if isinstance(exc, Interrupted):
            name = interrupts.signal_name(exc.signum)
            return Interrupted(exc.signum, f"interrupted by {name}; every change rolled back")
        return WriteFailed(f"writing failed, every change rolled back: {reason}")

    def recover(self) -> None:
        """Undo a run that died half-way, before doing anything else."""
        fs = self._open()
        fs.lock()
        try:
            failures = Journal(fs, self._before_op).recover(self.log)
        except OSError as exc:
            raise WriteFailed(f"recovering an interrupted run failed: {describe(exc)}") from None
        for line in failures:
            self.log.error("could not restore", path=line)
        if failures:
            raise WriteFailed(
                f"recovering an interrupted run failed for {len(failures)} path(s), listed"
                f" above; /{JOURNAL} stays for the next run"
            )


def _ordinary(before: State, mode: int, rel: str) -> None:
    """Refuse to replace or delete a set-user-ID, set-group-ID or sticky file, or one
    with file capabilities, and to make one: the journal would have to keep such a mode
    for the rollback, and a journal that asks for one is then always a forged one."""
    why = fileio.special(before.mode, before.xattrs) if before.exists else None
    if why is None:
        why = fileio.special(mode, {})
    if why is not None:
        raise WriteFailed(f"/{printable(rel)}: {why}; this tool does not write such a file")


def _durable_dirs(todo: list[Change]) -> set[str]:
    """The directories to fsync before the commit: each one a file was renamed into or
    removed from, and the parent of each one made (its entry there: without it a new
    directory, and the files renamed into it, may be gone after a crash, with the
    journal already removed)."""
    dirs = {c.dir for c in todo}
    dirs.update(d.rpartition("/")[0] for c in todo for d in c.created_dirs)
    return dirs


def _read_state(fs: Root, where: Where, link_ok: bool = False) -> State:
    if where.missing:
        return State(exists=False)
    fd, shown = fs.dir_fd(where.dir), "/" + printable(where.rel)
    try:
        info = os.stat(where.name, dir_fd=fd, follow_symlinks=False)
    except FileNotFoundError:
        return State(exists=False)
    if link_ok and stat.S_ISLNK(info.st_mode):
        link = os.readlink(where.name, dir_fd=fd)
        return State(True, b"", 0o777, info.st_uid, info.st_gid, link=link)
    if not stat.S_ISREG(info.st_mode):
        raise WriteFailed(f"{shown}: exists and is not a regular file")
    try:
        entry = fileio.read_entry(fd, where.name, shown)
    except OSError as exc:
        raise WriteFailed(f"{shown}: cannot read: {exc.strerror}") from None
    return State(True, entry.content, entry.mode, entry.uid, entry.gid, xattrs=entry.xattrs)


def _new_content(task: Task, current: Optional[bytes]) -> Optional[bytes]:
    if isinstance(task, Write):
        return task.content.encode()
    if isinstance(task, Delete):
        return None
    # Bytes, split on b"\n" only: a form feed, \r, \v or \x1c is part of its line, and
    # every byte outside the line we set stays as it was (str.splitlines would break
    # lines at all of them and rejoin them with \n).
    data = current or b""
    line = task.line.encode(errors="surrogateescape")
    lines = data.split(b"\n")
    if task.replaces is not None:
        prefix = task.replaces.encode(errors="surrogateescape")
        if any(old.startswith(prefix) for old in lines):
            return _replace_setting(lines, line, prefix)
    if line in lines:
        return current if current is not None else b""
    if data and not data.endswith(b"\n"):
        data += b"\n"
    return data + line + b"\n"


def _replace_setting(lines: list[bytes], line: bytes, prefix: bytes) -> bytes:
    """The first line starting with ``prefix`` becomes ``line``; later ones go, so the
    file says one thing whichever assignment its reader honours. Every other line, and
    whether the file ends in a newline, is kept."""
    out, done = [], False
    for old in lines:
        if old.startswith(prefix):
            if not done:
                out.append(line)
                done = True
            continue
        out.append(old)
    return b"\n".join(out)


def _last_change_per_path(changes: list[Change]) -> list[Change]:
    """Several tasks may touch one file (two EnsureLines): apply the final content once,
    keeping the state from before the first of them for the journal."""
    merged: dict[str, Change] = {}
    for change in changes:
        if change.rel in merged:
            change = change.merged(merged[change.rel])
        merged[change.rel] = change
    return list(merged.values())
