"""-M, --nics and --audit-log name regular files: anything else is refused at once (issue 21).

A FIFO with no writer as -M or --nics, or with no reader as --audit-log, blocked the run
forever. Now a path that is not a regular file (a FIFO, a socket, a device, a directory)
is refused on one line naming the option and what the path is: exit 10 for -M, 2 for
--nics and --audit-log, the rootfs untouched. ``-M -`` stays. (Stdin that is a directory
never reaches the tool: Python itself refuses to start, "init_sys_streams: <stdin> is a
directory", before anything is read or written.)
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import safety
from treehash import snapshot

CLI = (sys.executable, "-m", "packetnetworking")


@pytest.fixture
def scene(tmp_path: Path):
    root = tmp_path / "root"
    safety.old_rootfs(root)
    meta, nics = safety.inputs(tmp_path)
    return root, meta, nics


def _run(scene, option: str, path: str, stdin=subprocess.DEVNULL) -> subprocess.CompletedProcess:
    root, meta, nics = scene
    given = {"-M": str(meta), "--nics": str(nics)}
    given[option] = path
    argv = [*CLI, "--rootfs", str(root), "-o", safety.OS, "--resolvers", safety.RESOLVERS,
            "-M", given["-M"], "--nics", given["--nics"]]  # fmt: skip
    if option == "--audit-log":
        argv += ["--audit-log", path]
    before = snapshot(root)
    # A run that blocks would hit this timeout: the test then fails, it does not hang.
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=30, stdin=stdin, cwd="/")
    assert snapshot(root) == before
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    return proc


def _fifo(tmp_path: Path) -> str:
    path = tmp_path / "fifo"
    os.mkfifo(path)
    return str(path)


@pytest.mark.parametrize(("option", "code"), [("-M", 10), ("--nics", 2), ("--audit-log", 2)])
def test_a_fifo_is_refused_at_once(scene, tmp_path, option, code):
    proc = _run(scene, option, _fifo(tmp_path))
    named = "--metadata-file" if option == "-M" else option
    assert proc.returncode == code and "a FIFO" in proc.stderr and named in proc.stderr


@pytest.mark.parametrize(("option", "code"), [("-M", 10), ("--nics", 2), ("--audit-log", 2)])
def test_a_socket_is_refused(scene, tmp_path, option, code):
    path = tmp_path / "sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    try:
        proc = _run(scene, option, str(path))
    finally:
        server.close()
    assert proc.returncode == code and "a socket" in proc.stderr


@pytest.mark.parametrize(("option", "code"), [("-M", 10), ("--nics", 2)])
def test_a_device_or_a_directory_is_refused(scene, tmp_path, option, code):
    for path, what in (("/dev/zero", "a character device"), (str(tmp_path), "a directory")):
        proc = _run(scene, option, path)
        assert proc.returncode == code and what in proc.stderr, proc.stderr


def test_stdin_still_reads_a_document(scene):
    _, meta, _ = scene
    with open(meta, "rb") as document:
        root, _, nics = scene
        argv = [*CLI, "--rootfs", str(root), "-o", safety.OS, "--resolvers", safety.RESOLVERS,
                "-M", "-", "--nics", str(nics)]  # fmt: skip
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, stdin=document)
    assert proc.returncode == 0, proc.stderr
