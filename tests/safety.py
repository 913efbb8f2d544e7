"""Shared by the safety tests: run the real CLI, read its one-line errors, set up rootfs.

``cli_subprocess`` runs ``python -m packetnetworking`` as a user would (a fresh process,
so SIGKILL faults and namespaces work), or with ``fault`` the same CLI through
``fault_runner.py``; ``cli_inprocess`` calls ``cli.main`` for the big
tables, where a process per case would cost minutes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Optional

import factories as f
import structlog
from conftest import require  # noqa: F401  (tests call it as safety.require)

from packetnetworking import cli

REPO = Path(__file__).resolve().parents[1]
FAULT_RUNNER = Path(__file__).resolve().parent / "fault_runner.py"
OS = "debian 12"
RESOLVERS = "147.75.207.207,147.75.207.208"
# What the Debian builder writes for f.metadata(): the paths the fault tests watch.
DEBIAN_FILES = (
    "etc/network/interfaces",
    "etc/modules",
    "etc/udev/rules.d/70-persistent-net.rules",
    "etc/hostname",
    "etc/hosts",
    "etc/resolv.conf",
)


def inputs(tmp_path: Path, doc: Optional[dict] = None, nics: int = 2) -> tuple[Path, Path]:
    """Write a metadata document and a matching --nics file; return their paths."""
    meta = tmp_path / "metadata.json"
    meta.write_text(json.dumps(doc if doc is not None else f.metadata()))
    nics_file = tmp_path / "nics.json"
    nics_file.write_text(f.nics_json(nics))
    return meta, nics_file


def args(meta: Path, nics: Path, root: Path, *extra: str) -> list[str]:
    return ["-M", str(meta), "--nics", str(nics), "--rootfs", str(root), *extra]


def default_args(meta: Path, nics: Path, root: Path, *extra: str) -> list[str]:
    """-o and --resolvers given, so nothing depends on this host."""
    fixed = ("-o", OS, "--resolvers", RESOLVERS, "--log-format", "json")
    return args(meta, nics, root, *fixed, *extra)


def cli_subprocess(
    argv: list[str],
    env: Optional[dict] = None,
    prefix: tuple[str, ...] = (),
    timeout: float = 60,
    fault: Optional[str] = None,
) -> subprocess.CompletedProcess:
    """``fault``: ``kill:K`` or ``fail:K``, injected before the K-th filesystem change."""
    environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
    environment.update(env or {})
    entry = [str(FAULT_RUNNER), fault] if fault else ["-m", "packetnetworking"]
    return subprocess.run(
        [*prefix, sys.executable, *entry, *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=environment,
        check=False,
        cwd="/",  # the installed package, never a source tree that happens to be here
    )


def cli_inprocess(argv: list[str], capsys) -> tuple[int, str]:
    """(exit code, stderr) of ``cli.main`` in this process."""
    capsys.readouterr()
    try:
        code = cli.main(argv)
    except SystemExit as exc:  # argparse usage errors
        code = exc.code if isinstance(exc.code, int) else 2
    finally:
        # The run configured structlog to print to capsys's stream, closed after this
        # test: later tests' loggers must not write there.
        structlog.reset_defaults()
    return code, capsys.readouterr().err


def one_line(stderr: str, progress: bool = False) -> str:
    """The single line a failed run prints; fails the test on more, or a traceback.

    With ``progress``, JSON log events of level info (what the run did before it failed,
    e.g. which backend it chose) may come first: the error itself is still one line."""
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr
    lines = stderr.splitlines()
    if progress:
        lines = [line for line in lines if not _info_event(line)]
    assert len(lines) == 1, f"expected one error line on stderr, got {len(lines)}:\n{stderr}"
    return lines[0]


def _info_event(line: str) -> bool:
    try:
        event = json.loads(line)
    except ValueError:
        return False
    return isinstance(event, dict) and event.get("level") in ("debug", "info")


def old_rootfs(root: Path) -> dict[str, bytes]:
    """A rootfs that already holds OLD versions of some of the files we write (so both
    "was absent" and "was present" are covered); returns path -> old content."""
    old = {
        "etc/hostname": b"old-name\n",
        "etc/network/interfaces": b"# the image's own\nauto lo\niface lo inet loopback\n",
        "etc/modules": b"loop",  # no final newline: the append must add one
        "etc/hosts": b"127.0.0.1\tlocalhost\n",
    }
    for rel, content in old.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    (root / "etc/hosts").chmod(0o600)  # a user's mode, which a config rewrite keeps
    (root / "var/lib").mkdir(parents=True)
    return old


PAUSE_RUNNER = REPO / "tests" / "pause_runner.py"


def paused_cli(argv: list[str], pause_at: int, seconds: float = 60) -> subprocess.Popen:
    """The CLI in its own process, stopped before its ``pause_at``-th filesystem change
    for at most ``seconds`` (``tests/pause_runner.py``); returns once it has paused."""
    environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
                   "PN_PAUSE_AT": str(pause_at), "PN_PAUSE_SECONDS": str(seconds)}  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, str(PAUSE_RUNNER), *argv],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment, cwd="/",
    )  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("paused "):
        proc.kill()
        _out, err = proc.communicate()
        raise AssertionError(f"never paused at change {pause_at}: {err}")
    return proc
