"""SIGINT, SIGTERM and SIGHUP while the rootfs is being changed: roll back, then exit.

Python's default turns SIGINT into KeyboardInterrupt anywhere and SIGTERM and SIGHUP (the
installer's ssh session or terminal gone) into an immediate death, each of which would
leave a half-switched tree. Inside the window the
first of them raises ``Interrupted`` where the transaction stands, so its ordinary
failure path rolls back; from then on (and while committing or rolling back) a signal
is only remembered, never acted on half-way through a restore.

Once the commit is done the run is configured, whatever arrives: a signal then must not
turn it into a reported rollback (exit 130/143 says "rolled back"), nor cut its audit log
short. So a signal that arrived during the commit, or after it, is remembered and the
run finishes: its task events and ``run complete`` are logged, and the process that
owns the exit code (``hold``, the CLI) keeps remembering to the end, so it exits 0.
"""

from __future__ import annotations

import signal
from typing import Any, Optional

from .errors import Interrupted

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_NAMES: dict[int, str] = {
    signal.SIGINT: "SIGINT",
    signal.SIGTERM: "SIGTERM",
    signal.SIGHUP: "SIGHUP",
}


class Window:
    """``with Window() as window:`` around the apply phase and what reports it;
    ``window.arm()`` before the first change, ``window.defer()`` before the commit and
    the rollback, ``window.committed()`` after the commit.

    Until ``arm`` and after ``defer`` a signal is only remembered (``pending``). When
    the window closes, a remembered signal is delivered with the process's own handlers
    back in place, unless the run was rolled back (its exit already says interrupted)
    or it committed and ``hold`` is set: then the remembering handler stays installed
    for the rest of the process, whose exit code must say the rootfs is configured."""

    def __init__(self, hold: bool = False) -> None:
        self.hold = hold
        self.armed = False
        self.pending: Optional[int] = None
        self._was_armed = False
        self._committed = False
        self._old: dict[int, Any] = {}

    def __enter__(self) -> Window:
        # Handlers can only be set in the main thread (ValueError elsewhere): a library
        # caller's worker thread leaves the signals to its caller. Not asked of threading,
        # whose import every run would pay for.
        try:
            for signum in SIGNALS:
                self._old[signum] = signal.signal(signum, self._handle)
        except ValueError:
            self._old.clear()
        return self

    def _handle(self, signum: int, _frame: object) -> None:
        if self.armed:
            self.armed = False  # one exception; any later signal waits for the rollback
            raise Interrupted(signum)
        if self.pending is None:
            self.pending = signum

    def arm(self) -> None:
        """From here a signal rolls back: the first change is about to be made. One
        that came since the window opened stops the run now, with nothing changed."""
        if self.pending is not None:
            signum, self.pending = self.pending, None
            raise Interrupted(signum, f"interrupted by {signal_name(signum)}; nothing was changed")
        if self._old:  # the handlers are ours (the main thread)
            self.armed = self._was_armed = True

    def defer(self) -> None:
        self.armed = False

    def committed(self) -> None:
        """The journal is gone: the run is configured, whatever arrives now."""
        self._committed = True

    @property
    def after_commit(self) -> Optional[str]:
        """The name of a signal that arrived during the commit or since, if any."""
        return signal_name(self.pending) if self._committed and self.pending is not None else None

    def __exit__(self, exc_type: object, *_rest: object) -> None:
        self.armed = False
        if self._committed and self.hold:
            return  # our handler stays: a later signal is remembered, never acted on
        for signum, handler in self._old.items():
            signal.signal(signum, handler)
        if self.pending is not None and (exc_type is None or not self._was_armed):
            signal.raise_signal(self.pending)  # the signal does what it would have


def signal_name(signum: int) -> str:
    return _NAMES.get(signum, f"signal {signum}")
