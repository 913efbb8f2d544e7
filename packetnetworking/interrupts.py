"""SIGINT and SIGTERM while the rootfs is being changed: roll back, then exit.

Python's default turns SIGINT into KeyboardInterrupt anywhere and SIGTERM into an
immediate death, both of which would leave a half-switched tree. Inside the window the
first of them raises ``Interrupted`` where the transaction stands, so its ordinary
failure path rolls back; from then on (and while committing or rolling back) a signal
is only remembered, never acted on half-way through a restore.
"""

from __future__ import annotations

import signal
from typing import Any, Optional

from .errors import Interrupted

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Window:
    """``with Window() as window:`` the apply phase; ``window.defer()`` before the
    commit and the rollback. A signal that arrived after the commit is delivered, with
    the process's own handlers back in place, when the window closes."""

    def __init__(self) -> None:
        self.armed = False
        self.pending: Optional[int] = None
        self._old: dict[int, Any] = {}

    def __enter__(self) -> Window:
        # Handlers can only be set in the main thread (ValueError elsewhere): a library
        # caller's worker thread leaves the signals to its caller. Not asked of threading,
        # whose import every run would pay for.
        try:
            for signum in SIGNALS:
                self._old[signum] = signal.signal(signum, self._handle)
        except ValueError:
            return self
        self.armed = True
        return self

    def _handle(self, signum: int, _frame: object) -> None:
        if self.armed:
            self.armed = False  # one exception; any later signal waits for the rollback
            raise Interrupted(signum)
        if self.pending is None:
            self.pending = signum

    def defer(self) -> None:
        self.armed = False

    def __exit__(self, exc_type: object, *_rest: object) -> None:
        self.armed = False
        for signum, handler in self._old.items():
            signal.signal(signum, handler)
        if exc_type is None and self.pending is not None:
            signal.raise_signal(self.pending)  # committed: the signal does what it would
