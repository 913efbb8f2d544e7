"""Structured logging: the console or JSON lines on stderr, and the audit log file.

Processors are plain functions. The audit sink sits before the level filter, so
``-q`` silences the console without emptying the audit log. The log is opened, and its
first event written, before anything else (``open_sink``), and checked again just
before the first change (``check_intact``).
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import stat
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, BinaryIO, Optional, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger  # loaded by structlog itself

from . import __version__
from .errors import UsageError, to_devnull

if TYPE_CHECKING:
    from .changes import Change

AUDIT_EVENTS = {
    "task",
    "run complete",
    "recovered interrupted run",
    "rolled back",
    "backend",
    "untested version",
    "signal after the commit",
    "journal present",
    "nics from document",
    "target mounted",
    "target unmounted",
}
LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40}


class Console:
    """stderr, for the console log and the CLI's one-line messages, as a stream whose
    reader may be gone (a closed pipe, a dead parent).

    A failed write must not become an internal error, nor Python's exit code 120 when it
    flushes stderr at exit: the first failure is kept in ``error`` for the CLI to judge,
    fd 2 goes to /dev/null (so nothing else that writes it can fail), and nothing more is
    written."""

    def __init__(self, stream: Optional[TextIO]) -> None:
        self.stream = stream
        # None: Python found fd 2 closed at start (``2>&-``), a stderr lost from the outset.
        self.error: Optional[OSError] = None if stream else OSError(errno.EBADF, "closed")

    def write(self, text: str) -> int:
        if self.error is None and self.stream is not None:
            try:
                self.stream.write(text)
            except OSError as exc:
                self._lost(exc)
        return len(text)

    def flush(self) -> None:
        if self.error is None and self.stream is not None:
            try:
                self.stream.flush()
            except OSError as exc:
                self._lost(exc)

    def isatty(self) -> bool:
        return self.error is None and self.stream is not None and self.stream.isatty()

    def _lost(self, exc: OSError) -> None:
        self.error = exc
        to_devnull(self.stream)


def configure(
    fmt: str = "console",
    verbosity: int = 0,
    sink: Optional[AuditSink] = None,
    console: Optional[Console] = None,
) -> Any:
    """Set up structlog for a run; ``verbosity`` -1 is ``-q``, 1+ is ``-v``."""
    level = logging.ERROR if verbosity < 0 else logging.DEBUG if verbosity > 0 else logging.INFO
    renderer = (
        structlog.processors.JSONRenderer(sort_keys=True)
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False, pad_event_to=0)
    )
    processors: list[Processor] = [
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if sink is not None:
        processors.append(sink)
    processors += [LevelFilter(level), renderer]
    structlog.configure(
        processors=processors,
        logger_factory=structlog.PrintLoggerFactory(console or sys.stderr),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )
    return structlog.get_logger("packet-networking")


class AuditSink:
    """Appends audit events, one JSON object per line, whatever the console level.

    A write that fails (a full disk) must not turn a run into an internal error: the
    first failure is kept in ``error`` for the CLI to report, the cut line is taken back
    off a regular file, and nothing more is written."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.error: Optional[OSError] = None
        info = os.fstat(stream.fileno())
        self.regular = stat.S_ISREG(info.st_mode)
        # Where this run's events begin: a log refused before the first change (it is a
        # file the run replaces) is cut back to it, so not even the log's bytes change.
        self.start = info.st_size

    def __call__(self, _logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
        if event_dict.get("event") in AUDIT_EVENTS and self.error is None:
            try:
                self.write(event_dict)
            except OSError as exc:
                self.error = exc
        return event_dict

    def write(self, event_dict: EventDict) -> None:
        """One whole line, or (on a regular file) none of it; raises ``OSError``."""
        line = (json.dumps(event_dict, sort_keys=True, default=str) + "\n").encode()
        fd = self.stream.fileno()
        start = os.lseek(fd, 0, os.SEEK_END) if self.regular else 0
        try:
            view = memoryview(line)
            while view:
                view = view[os.write(fd, view) :]
        except OSError:
            if self.regular:
                with contextlib.suppress(OSError):  # the write's own error is the one
                    os.ftruncate(fd, start)
            raise


def started_event(version: str, rootfs: str, dry_run: bool) -> EventDict:
    """The audit log's first event of a run, written before anything is changed."""
    import datetime  # already imported by structlog's TimeStamper

    now = datetime.datetime.now(datetime.timezone.utc).isoformat().replace("+00:00", "Z")
    return {
        "event": "run started",
        "level": "info",
        "timestamp": now,
        "version": version,
        "rootfs": rootfs,
        "dry_run": dry_run,
    }


def open_sink(
    stack: contextlib.ExitStack, path: str, rootfs: str, dry_run: bool, origin: str
) -> AuditSink:
    """Open the audit log and write its first event before anything else happens (the
    action's mount included), so an unwritable log (a directory, /dev/full, a full disk)
    stops the run with nothing changed. Unbuffered: each event is one write the sink can
    check. ``rootfs``: the action's is its BLOCK_DEVICE."""
    from .inputs import NotRegular, open_regular

    try:
        stream = stack.enter_context(open(open_regular(path, append=True), "ab", buffering=0))  # noqa: SIM115
        sink = AuditSink(stream)
        sink.write(started_event(__version__, rootfs, dry_run))
    except NotRegular as exc:
        raise UsageError(
            f"{origin} {path!r}: is {exc.what}, not a file; nothing was changed"
        ) from None
    except OSError as exc:
        raise _unwritable(path, exc, origin) from None
    return sink


def check_intact(
    sink: AuditSink, path: str, origin: str = "--audit-log", changes: Sequence[Change] = ()
) -> None:
    """Called by the run just before its first change: an audit log that has failed
    since it was opened, or that is one of the files the run replaces or deletes, stops
    the run while nothing is changed yet. (A file renamed over keeps being written
    through its old, unlinked inode: every later event would be lost.) Compared by
    device and inode, so no symlink, ``..``, bind mount or hard link hides it."""
    if sink.error is not None:
        raise _unwritable(path, sink.error, origin)
    log = os.fstat(sink.stream.fileno())
    for change in changes:
        if change.action == "unchanged":
            continue
        try:
            info = os.lstat(change.path)
        except OSError:
            continue  # not there yet: a new file, created beside the log, not over it
        if (info.st_dev, info.st_ino) == (log.st_dev, log.st_ino):
            os.ftruncate(sink.stream.fileno(), sink.start)
            sink.error = OSError("refused")  # nothing more goes into the target's file
            raise UsageError(
                f"{origin} {path!r}: is {change.display} of the rootfs, which "
                "the run replaces; write the log elsewhere; nothing was changed"
            )


def _unwritable(path: str, exc: OSError, origin: str = "--audit-log") -> UsageError:
    return UsageError(f"{origin} {path!r}: {exc.strerror or exc}; nothing was changed")


class LevelFilter:
    def __init__(self, level: int) -> None:
        self.level = level

    def __call__(self, _logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
        if LEVELS.get(event_dict.get("level", "info"), 20) < self.level:
            raise structlog.DropEvent
        return event_dict
