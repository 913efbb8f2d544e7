"""Run the CLI with a fault injected before its K-th filesystem change (tests only).

    python tests/fault_runner.py kill:K|fail:K [CLI ARGUMENTS...]

``kill:K`` SIGKILLs the process and ``fail:K`` raises EIO, just before change number K,
through ``cli.main``'s ``before_op`` seam. Fault injection lives here, not in the
package: the shipped zipapp has no switch that can stop a production run.
"""

from __future__ import annotations

import errno
import os
import signal
import sys
from typing import Callable


def injector(spec: str) -> Callable[[str], None]:
    kind, _, number = spec.partition(":")
    if kind not in ("kill", "fail") or not number.isdigit():
        raise SystemExit(f"fault_runner: {spec!r}: expected kill:K or fail:K")
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


if __name__ == "__main__":
    from packetnetworking import cli

    sys.exit(cli.main(sys.argv[2:], injector(sys.argv[1])))
