"""Modes and owners: config 0644, scripts 0755, secrets 0600, root's; a user's mode kept.

Whatever the umask the tool runs under (077 here, as a hardened installer may set), the
files it creates get exactly the mode their task asks for and the directories 0755, so
the target's daemons can read them. An existing config file keeps its mode and owner
(a user's chmod or chown survives a rerun); scripts and secrets get theirs imposed,
since a script that cannot run or a secret left world-readable is a bug either way.
"""

from __future__ import annotations

import os
import stat
import struct
from pathlib import Path

import factories as f
import pytest
import safety
import structlog
from structlog.testing import capture_logs
from treehash import snapshot

from packetnetworking.tasks import CONFIG, SCRIPT, SECRET, Write
from packetnetworking.transaction import Transaction

UMASK = 0o077


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.mark.parametrize("os_name", ["debian 12", "centos 7", "fedora 39"])
def test_created_files_get_their_task_mode_under_any_umask(tmp_path: Path, os_name: str):
    """The real CLI under umask 077: debian's files are config, centos 7 adds the
    ifup-pre-local script, fedora 39 writes NetworkManager keyfiles (secrets)."""
    root = tmp_path / "root"
    root.mkdir()
    doc = f.metadata()
    meta, nics = safety.inputs(tmp_path, doc)
    argv = safety.args(meta, nics, root, "-o", os_name, "--resolvers", safety.RESOLVERS)
    umask = ("sh", "-c", f'umask {UMASK:03o} && exec "$0" "$@"')
    proc = safety.cli_subprocess(argv, prefix=umask)
    assert proc.returncode == 0, proc.stderr
    tasks = {t.path: t.mode for t in f.render(os_name, doc, root=root) if hasattr(t, "mode")}
    assert tasks and set(tasks.values()) <= {CONFIG, SCRIPT, SECRET}
    for rel, mode in tasks.items():
        path = root / rel
        assert _mode(path) == mode, f"/{rel}: {_mode(path):04o}, not {mode:04o}"
        if os.geteuid() == 0:
            assert (path.stat().st_uid, path.stat().st_gid) == (0, 0), rel
    for directory in (p for p in root.rglob("*") if p.is_dir()):
        assert _mode(directory) == 0o755, f"{directory}: {_mode(directory):04o}"


@pytest.fixture
def umask077():
    previous = os.umask(UMASK)
    yield
    os.umask(previous)


def _apply(root: Path, *tasks) -> None:
    with capture_logs():
        transaction = Transaction(root, structlog.get_logger())
        transaction.apply(transaction.prepare(list(tasks)))


def test_new_files_and_directories(tmp_path: Path, umask077):
    _apply(
        tmp_path,
        Write("etc/a/config", "x\n"),
        Write("sbin/a-script", "#!/bin/sh\n", mode=SCRIPT),
        Write("etc/a/b/secret", "psk=1\n", mode=SECRET),
    )
    assert _mode(tmp_path / "etc/a/config") == 0o644
    assert _mode(tmp_path / "sbin/a-script") == 0o755
    assert _mode(tmp_path / "etc/a/b/secret") == 0o600
    for directory in ("etc", "etc/a", "etc/a/b", "sbin"):
        assert _mode(tmp_path / directory) == 0o755, directory


@pytest.mark.parametrize(
    "mode, existing, keep, expected",
    [
        (CONFIG, 0o640, False, 0o640),  # a user's mode on a config file is kept
        (CONFIG, 0o600, False, 0o600),
        (SCRIPT, 0o644, False, 0o755),  # a script must run
        (SCRIPT, 0o700, True, 0o700),  # unless the builder asks to keep the user's
        (SECRET, 0o644, False, 0o600),  # a secret never stays world-readable
    ],
)
def test_existing_files(tmp_path: Path, umask077, mode, existing, keep, expected):
    path = tmp_path / "etc/file"
    path.parent.mkdir()
    path.write_text("old\n")
    path.chmod(existing)
    _apply(tmp_path, Write("etc/file", "new\n", mode=mode, keep_mode=keep))
    assert path.read_text() == "new\n"
    assert _mode(path) == expected


def test_existing_owner_is_kept(tmp_path: Path):
    safety.require("root", "chown to another user")
    path = tmp_path / "etc/hosts"
    path.parent.mkdir()
    path.write_text("old\n")
    os.chown(path, 1234, 2345)
    path.chmod(0o664)
    _apply(tmp_path, Write("etc/hosts", "new\n"), Write("etc/hostname", "web-1\n"))
    info = path.stat()
    assert (info.st_uid, info.st_gid, _mode(path)) == (1234, 2345, 0o664)
    assert (tmp_path / "etc/hostname").stat().st_uid == 0


def test_journal_is_private_while_it_exists(tmp_path: Path):
    """It holds the old content of every file, secrets included: 0600 like them."""
    seen = []

    def look(op: str) -> None:
        journal = tmp_path / "packet-networking-journal.json"
        if journal.exists():
            seen.append(_mode(journal))

    with capture_logs():
        transaction = Transaction(tmp_path, structlog.get_logger(), look)
        transaction.apply(transaction.prepare([Write("etc/x", "1\n", mode=SECRET)]))
    assert seen and set(seen) == {0o600}


# A version 2 file capability blob (effective, permitted CAP_SETUID): `setcap cap_setuid+ep`.
CAP_SETUID = struct.pack("<5I", 0x02000001, 1 << 7, 0, 0, 0)


@pytest.mark.parametrize("special", ["setuid", "setgid", "sticky", "file capabilities"])
def test_a_special_file_is_never_replaced(tmp_path: Path, special: str):
    """The tool keeps a config file's mode and attributes, so replacing an ``etc/hosts``
    that is set-id (or sticky, or has file capabilities) would write one such file of
    its own, and a journal would have to keep that mode: refused, exit 80, one line,
    nothing changed (the real CLI)."""
    safety.require("root", "file capabilities and set-id files owned by root")
    root = tmp_path / "root"
    hosts = root / "etc/hosts"
    hosts.parent.mkdir(parents=True)
    hosts.write_text("127.0.0.1 localhost\n")
    modes = {"setuid": 0o4644, "setgid": 0o2644, "sticky": 0o1644}
    hosts.chmod(modes.get(special, 0o644))
    if special == "file capabilities":
        os.setxattr(hosts, "security.capability", CAP_SETUID)
    before = snapshot(root)
    meta, nics = safety.inputs(tmp_path)
    proc = safety.cli_subprocess(safety.default_args(meta, nics, root))
    assert proc.returncode == 80, proc.stderr
    line = safety.one_line(proc.stderr, progress=True)
    assert line.startswith("packet-networking: /etc/hosts: "), line
    assert "this tool does not write such a file" in line, line
    assert snapshot(root) == before
    assert os.listxattr(hosts) == (["security.capability"] if special == "file capabilities"
                                   else [])  # fmt: skip


@pytest.mark.parametrize("mode", [0o4755, 0o2755, 0o1755], ids=lambda m: f"{m:04o}")
def test_a_task_asking_for_a_special_mode_is_refused(tmp_path: Path, mode: int):
    """A builder or hook that asks for a set-id file: refused before anything is written,
    and ``fileio.write_temp`` (every file the tool makes) refuses it again."""
    from packetnetworking import fileio
    from packetnetworking.errors import WriteFailed

    with pytest.raises(WriteFailed, match="this tool does not write such a file"):
        _apply(tmp_path, Write("etc/ok", "x\n"), Write("usr/local/bin/x", "#!/bin/sh\n", mode=mode))
    assert list(tmp_path.iterdir()) == []
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with pytest.raises(WriteFailed, match="never writes one"):
            fileio.write_temp(fd, "x", b"#!/bin/sh\n", mode, None, None, fileio.no_op, "/")
    finally:
        os.close(fd)
    assert list(tmp_path.iterdir()) == []
