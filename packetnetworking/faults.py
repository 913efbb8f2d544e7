"""Fault injection for the tests: stop a run at the K-th filesystem change."""

from __future__ import annotations

import errno
import os
import signal
from typing import Callable


def injector(spec: str) -> Callable[[str], None]:
    """``kill:K`` SIGKILLs this process, ``fail:K`` raises EIO, before change number K."""
    kind, _, number = spec.partition(":")
    if kind not in ("kill", "fail") or not number.isdigit():
        raise ValueError(f"PACKET_NETWORKING_FAULT={spec!r}: expected kill:K or fail:K")
    target = int(number)
    count = 0

    def before_op(op: str) -> None:
        nonlocal count
        count += 1
        if count == target:
            if kind == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            raise OSError(errno.EIO, f"injected fault before {op}")

    return before_op
