"""Structured logging: the console or JSON lines on stderr, and the audit log file.

Processors are plain functions. The audit sink sits before the level filter, so
``-q`` silences the console without emptying the audit log.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import stat
import sys
from typing import Any, BinaryIO, Optional

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger  # loaded by structlog itself

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


def configure(fmt: str = "console", verbosity: int = 0, sink: Optional[AuditSink] = None) -> Any:
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
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
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


class LevelFilter:
    def __init__(self, level: int) -> None:
        self.level = level

    def __call__(self, _logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
        if LEVELS.get(event_dict.get("level", "info"), 20) < self.level:
            raise structlog.DropEvent
        return event_dict
