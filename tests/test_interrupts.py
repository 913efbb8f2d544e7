"""The signal window itself, in this process: what a signal does in each phase.

The end-to-end proofs are in ``test_interrupt.py`` (real processes, paused) and
``test_pyz_signals.py`` (the zipapp held by strace); these pin the phases a process
cannot be caught in reliably: between the window opening and the first change, and after
the commit with and without ``hold``.
"""

from __future__ import annotations

import os
import signal

import pytest

from packetnetworking.errors import Interrupted
from packetnetworking.interrupts import Window


def _send(signum: int) -> None:
    os.kill(os.getpid(), signum)  # delivered to the main thread before kill returns


@pytest.fixture(autouse=True)
def _own_handlers():
    """Whatever a window leaves installed, the next test starts from the defaults."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


def test_a_signal_before_the_first_change_stops_the_run_there():
    nothing = "interrupted by SIGTERM; nothing was changed"
    with pytest.raises(Interrupted, match=nothing), Window() as window:
        _send(signal.SIGTERM)
        assert window.pending == signal.SIGTERM  # remembered, not acted on yet
        window.arm()


def test_an_armed_window_raises_where_the_run_stands():
    with pytest.raises(Interrupted) as caught, Window() as window:
        window.arm()
        _send(signal.SIGINT)
        pytest.fail("the signal did not interrupt")
    assert caught.value.exit_code == 130


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_after_the_commit_a_held_window_only_remembers(signum: int):
    """``hold`` (the CLI): from the commit to the end of the process a signal changes
    nothing: not at the commit, not when the window closes, not after it."""
    with Window(hold=True) as window:
        window.arm()
        window.defer()
        _send(signum)  # during the commit
        window.committed()
        assert window.after_commit == ("SIGINT" if signum == signal.SIGINT else "SIGTERM")
    _send(signum)  # after the window: still only remembered
    assert signal.getsignal(signum) == window._handle


def test_after_the_commit_a_library_caller_gets_the_signal_once_the_window_closes():
    with pytest.raises(KeyboardInterrupt), Window() as window:
        window.arm()
        window.defer()
        _send(signal.SIGINT)
        window.committed()
        assert window.after_commit == "SIGINT"  # nothing raised inside: the run reports
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_rolled_back_run_does_not_get_its_second_signal_again():
    with pytest.raises(Interrupted), Window() as window:
        window.arm()
        try:
            _send(signal.SIGTERM)
        except Interrupted:
            window.defer()
            _send(signal.SIGTERM)  # during the rollback: waits
            raise
    assert window.pending == signal.SIGTERM and window.after_commit is None
