"""The CLI as a user runs it, paused just before its K-th filesystem change.

``PN_PAUSE_AT=K python tests/pause_runner.py ARGS...`` prints ``paused OP`` on stdout
at that point and sleeps (at most ``PN_PAUSE_SECONDS``, default 60), so a test can act
on a run caught mid-way: send it SIGINT or SIGTERM, or start a second run beside it.
It hands its hook to ``run.run`` through the same ``before_op`` seam the in-process
fault tests use; nothing of this is in the shipped code.
"""

from __future__ import annotations

import os
import sys
import time

from packetnetworking import cli, run

PAUSE_AT = int(os.environ["PN_PAUSE_AT"])
SECONDS = float(os.environ.get("PN_PAUSE_SECONDS", "60"))
_seen = 0


def _before_op(op: str) -> None:
    global _seen
    _seen += 1
    if _seen == PAUSE_AT:
        print(f"paused {op}", flush=True)
        time.sleep(SECONDS)


_run = run.run
run.run = lambda options, log, _hook=None: _run(options, log, _before_op)
sys.exit(cli.main(sys.argv[1:]))
