import os
import shutil
import signal
import sys
from pathlib import Path
from typing import Optional

import pytest

sys.path.insert(0, str(Path(__file__).parent))

# The image matrix table printed at the end of a run (tests/support/matrix_report.py),
# the zipapp built once for the tests of it (tests/pyz_build.py), the VM cells booted
# in the background from the start (tests/support/vm_prefetch.py), and the rootfs the
# interrupt tests start from (tests/interrupt_scene.py).
pytest_plugins = ["support.matrix_report", "pyz_build", "support.vm_prefetch", "interrupt_scene"]


def require(tool: str, why: str = "", present: Optional[bool] = None) -> None:
    """Skip the calling test when ``tool`` is missing; under CI=true fail instead: CI is a
    fresh machine with everything the Makefile installs, so a missing tool there is a bug
    of the setup, not a reason to pass. ``tool`` is a program on PATH, or "root"; any
    other need passes ``present`` (what the caller found) and names itself in ``tool``."""
    if present is None:
        present = os.geteuid() == 0 if tool == "root" else shutil.which(tool) is not None
    if present:
        return
    message = f"needs {tool}: {why}" if why else f"needs {tool}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but {message}")
    pytest.skip(message)


@pytest.fixture(autouse=True)
def _signal_handlers():
    """cli.main, the owner of a process's exit code, keeps its handler for SIGINT, SIGTERM
    and SIGHUP after a commit until the process exits (packetnetworking/interrupts.py):
    a test that calls it in-process must not hand that handler to the next test."""
    signums = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    saved = {signum: signal.getsignal(signum) for signum in signums}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)
