"""Read ENI files back with Debian's real ifupdown (ifquery, ifup --no-act)."""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path

from conftest import require


def require_ifupdown() -> None:
    require("ifquery", "Debian package ifupdown (make test installs it)")


def ifquery_list(path: Path, allow: str = "auto") -> list[str]:
    out = _run(["ifquery", "-i", str(path), "--list", f"--allow={allow}"])
    return out.split()


def ifquery(path: Path, iface: str) -> dict[str, str]:
    """The options ifupdown parsed for one interface; exit 1 on a structural error."""
    options = {}
    for line in _run(["ifquery", "-i", str(path), iface]).splitlines():
        key, _, value = line.partition(": ")
        options.setdefault(key.rstrip(":"), []).append(value)
    return {k: "\n".join(v) for k, v in options.items()}


def ifup_no_act(path: Path) -> str:
    """What `ifup -a` would run, without running it; fails on any complaint."""
    with tempfile.TemporaryDirectory() as state:
        argv = ["ifup", "--no-act", "-i", str(path), "--state-dir", state, "-a"]
        # --no-act prints the commands it would run on stderr, so scan them for complaints.
        commands = _run(argv, commands_on_stderr=True)
        bad = [line for line in commands.splitlines() if _COMPLAINT.search(line)]
        assert not bad, f"ifup complained: {bad}"
        return commands


# ifup's own complaints start with its name; the rest of stderr is the command list.
_COMPLAINT = re.compile(r"^(ifup|ifquery):|warning|misplaced|unknown (option|method)", re.I)


def _run(argv: list[str], commands_on_stderr: bool = False) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 0, f"{' '.join(argv)}: exit {proc.returncode}: {proc.stderr}"
    if commands_on_stderr:
        return proc.stderr
    assert not proc.stderr.strip(), f"{' '.join(argv)} complained: {proc.stderr}"
    return proc.stdout
