"""Sourcing shell-variable files (ifcfg, wicked, sysconfig) the way their readers do.

``sourced`` runs ``bash -n``, then sources the file with ``set -u`` in ``env -i bash
--noprofile --norc`` and returns the variables it defined or changed: an unquoted
``BONDING_OPTS=mode=4 miimon=100`` shows up as a stray ``miimon``.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

BASH = "/bin/bash"

# Sourcing prints every variable, NUL-separated, before and after; nothing else runs.
_PROBE = r"""
set -u
__dump() { local __v; for __v in $(compgen -v); do printf '%s\0%s\0' "$__v" "${!__v-}"; done; }
__dump > "$2"
. "$1"
__dump > "$3"
"""
# Variables bash itself changes between the two dumps.
_DYNAMIC = {
    "_",
    "BASH_ARGC",
    "BASH_ARGV",
    "BASH_LINENO",
    "BASH_SOURCE",
    "FUNCNAME",
    "LINENO",
    "RANDOM",
    "SECONDS",
    "SRANDOM",
    "EPOCHREALTIME",
    "EPOCHSECONDS",
    "BASH_COMMAND",
    "PIPESTATUS",
    "BASH_SUBSHELL",
    "BASHPID",
}


def _dump(path: Path) -> dict[str, str]:
    fields = path.read_bytes().split(b"\0")[:-1]
    return {fields[i].decode(): fields[i + 1].decode() for i in range(0, len(fields), 2)}


def sourced(path: Path, tmp_path: Path) -> tuple[dict[str, str], str]:
    """(variables the file defined or changed, with their values; problems seen)."""
    syntax = subprocess.run([BASH, "-n", str(path)], capture_output=True, text=True, check=False)
    if syntax.returncode != 0:
        return {}, f"bash -n: {syntax.stderr.strip()}"
    before, after = tmp_path / "before", tmp_path / "after"
    proc = subprocess.run(
        [
            "env",
            "-i",
            BASH,
            "--noprofile",
            "--norc",
            "-c",
            _PROBE,
            "probe",
            str(path),
            str(before),
            str(after),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        cwd=tmp_path,
    )
    problems = (
        ""
        if proc.returncode == 0 and not proc.stderr
        else (f"exit {proc.returncode}: {proc.stderr.strip()}")
    )
    if not after.exists():
        return {}, problems or "sourcing stopped early"
    old, new = _dump(before), _dump(after)
    changed = {k: v for k, v in new.items() if k not in _DYNAMIC and old.get(k) != v}
    return changed, problems
