"""stderr whose reader is gone (a closed pipe, a dead parent) is judged like any audit log.

Before, the first event's write raised BrokenPipeError, Python lost stderr printing it,
and the run exited 120 (its own code for a failed flush at exit), a code nobody
documents. Now (audit.Console): without --audit-log, stderr is the run's only record, so a
run that cannot write it stops before the first change, exit 2, nothing changed; lost
after the first change, the run finishes and exits 85. With --audit-log the file is the
record: the run goes on and exits 0. fd 2 closed outright (``2>&-``) is the same loss; it
gets /dev/null first, so no file the run opens takes its number. Nothing reads these
exits' one line (there is no stderr), so the code and the tree are what is checked.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import safety
from treehash import snapshot

from packetnetworking import cli

CLI = (sys.executable, "-m", "packetnetworking")


@pytest.fixture
def scene(tmp_path: Path):
    root = tmp_path / "root"
    safety.old_rootfs(root)
    meta, nics = safety.inputs(tmp_path)
    return root, meta, nics


def _closed_stderr(argv: list[str]) -> int:
    """The exit code of the CLI whose stderr is a pipe with no reader left."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run(
            argv, stderr=write_end, stdout=subprocess.DEVNULL, timeout=60, cwd="/"
        )
    finally:
        os.close(write_end)
    return proc.returncode


def test_with_an_audit_log_the_run_is_done(scene, tmp_path):
    root, meta, nics = scene
    log = tmp_path / "audit.jsonl"
    before = snapshot(root)
    code = _closed_stderr([*CLI, *safety.default_args(meta, nics, root, "--audit-log", str(log))])
    assert code == 0
    assert snapshot(root) != before
    events = [json.loads(line)["event"] for line in log.read_text().splitlines()]
    assert events[-1] == "run complete" and "task" in events, events


def test_a_dry_run_says_its_report_is_lost(scene):
    root, meta, nics = scene
    before = snapshot(root)
    assert _closed_stderr([*CLI, *safety.default_args(meta, nics, root, "--dry-run")]) == 85
    assert snapshot(root) == before


class _ClosesAfterFirstTask(io.StringIO):
    """stderr whose reader goes away once it has the run's first task event: after the
    first change (events are logged once the changes are on disk)."""

    def __init__(self) -> None:
        super().__init__()
        self.closed_after = ""

    def write(self, text: str) -> int:
        if self.closed_after:
            raise BrokenPipeError(32, "Broken pipe")
        if '"event": "task"' in text:
            self.closed_after = text
        return super().write(text)


def test_lost_after_the_first_change_the_run_finishes_and_says_85(scene, monkeypatch):
    root, meta, nics = scene
    stream = _ClosesAfterFirstTask()
    monkeypatch.setattr(sys, "stderr", stream)
    code = cli.main(safety.default_args(meta, nics, root))
    assert stream.closed_after, "no task event reached stderr"
    assert code == 85
    # Configured as asked: the Debian builder's files are all there.
    assert all((root / path).is_file() for path in safety.DEBIAN_FILES)


def test_a_console_that_fails_swallows_every_later_write():
    stream = _ClosesAfterFirstTask()
    from packetnetworking.audit import Console

    console = Console(stream)
    console.write('{"event": "task"}\n')
    console.write("more\n")
    console.flush()
    assert isinstance(console.error, BrokenPipeError)
    assert stream.getvalue() == '{"event": "task"}\n'


def _fd2_closed(argv: list[str]) -> int:
    """The exit code of the CLI started with fd 2 closed (``2>&-``): Python then has
    ``sys.stderr`` None, and the first file the run opens would take fd 2."""
    script = 'exec "$@" 2>&-'
    proc = subprocess.run(["sh", "-c", script, "sh", *argv], stdout=subprocess.DEVNULL,
                          timeout=60, cwd="/")  # fmt: skip
    return proc.returncode


@pytest.mark.parametrize("lost", [_closed_stderr, _fd2_closed], ids=["closed pipe", "fd 2 closed"])
def test_without_an_audit_log_nothing_is_changed(scene, lost):
    root, meta, nics = scene
    before = snapshot(root)
    assert lost([*CLI, *safety.default_args(meta, nics, root)]) == 2
    assert snapshot(root) == before


def test_fd_2_closed_with_an_audit_log_the_run_is_done_and_no_file_holds_a_log(scene, tmp_path):
    root, meta, nics = scene
    log = tmp_path / "audit.jsonl"
    assert _fd2_closed([*CLI, *safety.default_args(meta, nics, root, "--audit-log", str(log))]) == 0
    assert json.loads(log.read_text().splitlines()[-1])["event"] == "run complete"
    written = [p for p in root.rglob("*") if p.is_file()]
    assert written and not [p for p in written if b'"event"' in p.read_bytes()]


def test_a_usage_error_with_fd_2_closed_is_still_exit_2():
    assert _fd2_closed([*CLI, "--no-such-option"]) == 2


def test_help_into_a_closed_pipe_is_exit_0():
    assert _closed_stdout([*CLI, "--help"]) == 0


def _closed_stdout(argv: list[str]) -> int:
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run(argv, stdout=write_end, stderr=subprocess.PIPE, timeout=60, cwd="/")
    finally:
        os.close(write_end)
    assert not proc.stderr, proc.stderr  # no "Exception ignored ... BrokenPipeError"
    return proc.returncode
