"""The Tinkerbell action's zipapp as its tests run it: only the action's environment, in a
network namespace with nothing but lo when asked (as an action's container is), and its
one error line read beside the JSON events it logs. test_action.py and
test_action_mount.py use it.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import factories as f
from conftest import require

ROOT = Path(__file__).resolve().parents[1]
PYZ = ROOT / "packet-networking.pyz"
PYTHON = "/usr/bin/python3"
TEMPLATE = ROOT / "examples" / "tinkerbell" / "template.yaml"
DOC = f.metadata(nics=2, os=("debian", "12"))


def pyz_run(*args: str, env: dict[str, str], netns: bool = False, timeout: float = 120):
    """The built zipapp with only ``env`` (and PATH); ``netns``: in a network namespace
    with no NIC but ``lo``, as an action's container is."""
    require(PYZ.name, "run `make pyz`", PYZ.exists())
    command = [PYTHON, str(PYZ), *args]
    if netns:
        require("root", "a network namespace")
        # sysfs shows the namespace of whoever mounted it: a fresh one, as a container has.
        command = [
            "unshare",
            "--net",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            'mount -t sysfs sysfs /sys && exec "$@"',
            "sh",
            *command,
        ]
    environment = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": os.environ.get("HOME", "/root")}
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        env={**environment, **env},
        timeout=timeout,
        check=False,
    )


def one_line(proc, code: int, *words: str) -> str:
    """One error line (beside the JSON log events an action writes at info level)."""
    assert proc.returncode == code, proc.stderr
    lines = [line for line in proc.stderr.strip().splitlines() if not line.startswith("{")]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


