"""Structured logging: the console or JSON lines on stderr, and the audit log file.

Processors are plain functions. The audit sink sits before the level filter, so
``-q`` silences the console without emptying the audit log.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import IO, Optional

import structlog

AUDIT_EVENTS = {"task", "run complete", "recovered interrupted run", "rolled back", "backend",
                "untested version"}
LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40}


def configure(fmt: str = "console", verbosity: int = 0, audit_file: Optional[IO[str]] = None):
    """Set up structlog for a run; ``verbosity`` -1 is ``-q``, 1+ is ``-v``."""
    level = logging.ERROR if verbosity < 0 else logging.DEBUG if verbosity > 0 else logging.INFO
    renderer = (
        structlog.processors.JSONRenderer(sort_keys=True)
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False, pad_event_to=0)
    )
    processors = [
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if audit_file is not None:
        processors.append(AuditSink(audit_file))
    processors += [LevelFilter(level), renderer]
    structlog.configure(
        processors=processors,
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
    return structlog.get_logger("packet-networking")


class AuditSink:
    """Appends audit events, one JSON object per line, whatever the console level."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def __call__(self, _logger, _method: str, event_dict: dict) -> dict:
        if event_dict.get("event") in AUDIT_EVENTS:
            self.stream.write(json.dumps(event_dict, sort_keys=True, default=str) + "\n")
            self.stream.flush()
        return event_dict


class LevelFilter:
    def __init__(self, level: int) -> None:
        self.level = level

    def __call__(self, _logger, _method: str, event_dict: dict) -> dict:
        if LEVELS.get(event_dict.get("level", "info"), 20) < self.level:
            raise structlog.DropEvent
        return event_dict
