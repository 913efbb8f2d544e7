"""All-or-nothing writes: rollback at every position, idempotent reruns, audit events."""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path

import pytest
import structlog
from structlog.testing import capture_logs
from treehash import snapshot

from packetnetworking.errors import WriteFailed
from packetnetworking.tasks import SCRIPT, Delete, EnsureLine, Write
from packetnetworking.transaction import JOURNAL, Transaction

TASKS = [
    Write("etc/network/interfaces", "auto lo\niface lo inet loopback\n"),
    EnsureLine("etc/modules", "bonding"),
    Write("etc/hostname", "web-1\n"),
    Write("etc/new/dir/deep.conf", "x=1\n"),
    Write("sbin/ifup-pre-local", "#!/bin/sh\n", mode=SCRIPT),
    Delete("etc/systemd/system/multi-user.target.wants/NetworkManager.service"),
]


def _rootfs(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "etc/network").mkdir(parents=True)
    (root / "etc/network/interfaces").write_text("# the image's own\n")
    (root / "etc/modules").write_text("loop")  # no trailing newline
    (root / "etc/hostname").write_text("old\n")
    (root / "etc/hostname").chmod(0o640)
    wants = root / "etc/systemd/system/multi-user.target.wants"
    wants.mkdir(parents=True)
    (wants / "NetworkManager.service").symlink_to("/usr/lib/systemd/system/NetworkManager.service")
    return root


def _apply(root: Path, before_op=None):
    tx = Transaction(root, structlog.get_logger(), before_op)
    changes = tx.prepare(TASKS)
    tx.apply(changes)
    return changes


def test_applies_everything(tmp_path: Path):
    root = _rootfs(tmp_path)
    with capture_logs() as logs:
        changes = _apply(root)
    assert [c.action for c in changes] == ["write", "append", "write", "write", "write", "delete"]
    assert (root / "etc/modules").read_text() == "loop\nbonding\n"
    assert (root / "etc/hostname").stat().st_mode & 0o777 == 0o640  # the user's mode is kept
    assert (root / "sbin/ifup-pre-local").stat().st_mode & 0o777 == 0o755
    assert (root / "etc/new/dir/deep.conf").stat().st_mode & 0o777 == 0o644
    assert not (
        root / "etc/systemd/system/multi-user.target.wants/NetworkManager.service"
    ).is_symlink()
    assert not (root / JOURNAL).exists() and not (root / "var").exists()
    events = [e for e in logs if e["event"] == "task"]
    assert len(events) == len(TASKS)
    first = events[0]
    assert set(first) >= {"path", "action", "bytes", "sha256", "previous_sha256", "mode"}
    assert first["path"] == "/etc/network/interfaces" and first["mode"] == "0644"


def test_rerun_changes_nothing(tmp_path: Path):
    root = _rootfs(tmp_path)
    _apply(root)
    before = snapshot(root)
    changes = _apply(root)
    assert {c.action for c in changes} == {"unchanged"}
    assert snapshot(root) == before


def _count_ops(tmp_path: Path) -> int:
    ops = []
    _apply(_rootfs(tmp_path / "count"), ops.append)
    return len(ops)


def test_failure_at_every_position_rolls_back(tmp_path: Path):
    total = _count_ops(tmp_path)
    assert total >= len(TASKS)
    for k in range(1, total + 1):
        root = _rootfs(tmp_path / f"k{k}")
        before = snapshot(root)
        seen = []

        def fail_at_k(op: str, k=k, seen=seen) -> None:
            seen.append(op)
            if len(seen) == k:
                raise OSError(errno.EIO, "injected", op)

        with pytest.raises(WriteFailed) as caught:
            _apply(root, fail_at_k)
        assert caught.value.exit_code == 80
        assert snapshot(root) == before, f"rootfs changed after a failure at op {k}: {seen[-1]}"


def test_bad_paths_fail_before_any_change(tmp_path: Path):
    root = _rootfs(tmp_path)
    (root / "etc/new").write_text("a file where a directory should be")
    before = snapshot(root)
    with pytest.raises(WriteFailed, match="where a directory should be"):
        _apply(root)
    assert snapshot(root) == before


def test_two_tasks_on_one_file(tmp_path: Path):
    root = tmp_path / "r"
    root.mkdir()
    tx = Transaction(root, structlog.get_logger())
    tx.apply(tx.prepare([EnsureLine("etc/modules", "bonding"), EnsureLine("etc/modules", "8021q")]))
    assert (root / "etc/modules").read_text() == "bonding\n8021q\n"
    changes = tx.prepare([EnsureLine("etc/modules", "bonding"), EnsureLine("etc/modules", "8021q")])
    assert [c.action for c in changes] == ["unchanged", "unchanged"]


def test_ensure_line_replaces_a_setting(tmp_path: Path):
    root = tmp_path / "r"
    (root / "etc").mkdir(parents=True)
    config = root / "etc/config"
    config.write_text('A="1"\nDNS="1.1.1.1"\nB="2"\nDNS="8.8.8.8"\n')
    tx = Transaction(root, structlog.get_logger())
    task = EnsureLine("etc/config", 'DNS="9.9.9.9"', replaces="DNS=")
    tx.apply(tx.prepare([task]))
    assert config.read_text() == 'A="1"\nDNS="9.9.9.9"\nB="2"\n'
    assert [c.action for c in tx.prepare([task])] == ["unchanged"]
    config.write_text("A=1")
    tx.apply(tx.prepare([task]))
    assert config.read_text() == 'A=1\nDNS="9.9.9.9"\n'


def test_str_root_through_a_symlink(tmp_path: Path):
    """A str --rootfs works as a Path does; paths are strs under the real root, so the
    journal and the audit events never name the link the root was reached through."""
    root = _rootfs(tmp_path)
    (tmp_path / "via").symlink_to(root)
    tx = Transaction(str(tmp_path / "via"), structlog.get_logger())
    assert tx.root == str(root.resolve())
    changes = tx.prepare(TASKS)
    assert [c.path for c in changes] == [f"{tx.root}/{t.path}" for t in TASKS]
    assert changes[3].created_dirs == ("etc/new", "etc/new/dir")  # relative to the root
    assert [c.display for c in changes] == [f"/{t.path}" for t in TASKS]
    tx.apply(changes)
    assert (root / "etc/new/dir/deep.conf").read_text() == "x=1\n"
    assert not (root / JOURNAL).exists()


@pytest.mark.parametrize("kind", ["missing", "file", "loop"])
def test_a_root_that_is_not_a_directory(tmp_path: Path, kind: str):
    root = tmp_path / "root"
    if kind == "file":
        root.write_text("")
    elif kind == "loop":
        root.symlink_to(root)
    tx = Transaction(root, structlog.get_logger())
    with pytest.raises(WriteFailed, match=f"^--rootfs {re.escape(str(root))}: not a directory$"):
        tx.prepare(TASKS)


# Bytes that str.splitlines() takes for line ends, and b"\n".split does not.
ODD = (
    b"# comment\x0cNETCONFIG_DNS_STATIC_SERVERS=evil; touch /tmp/pwned\r\n"
    b"A=1\x0bB=2\x1cC=3\x1dD\x1e\x85E=\xe2\x80\xa8F\r\n"
    b'NETCONFIG_DNS_STATIC_SERVERS="old"\n'
    b"\n"
    b"LAST=1"  # no final newline
)


@pytest.mark.parametrize(
    ("task", "expected"),
    [
        (  # the one line that starts with the key is replaced; every other byte stays
            EnsureLine(
                "etc/config",
                'NETCONFIG_DNS_STATIC_SERVERS="1.2.3.4"',
                replaces="NETCONFIG_DNS_STATIC_SERVERS=",
            ),  # fmt: skip
            ODD.replace(
                b'NETCONFIG_DNS_STATIC_SERVERS="old"\n', b'NETCONFIG_DNS_STATIC_SERVERS="1.2.3.4"\n'
            ),  # fmt: skip
        ),
        (  # appended after a newline the file lacked; nothing before it touched
            EnsureLine("etc/config", "bonding"),
            ODD + b"\nbonding\n",
        ),
        (  # already there as a line of its own: nothing to do
            EnsureLine("etc/config", "LAST=1"),
            ODD,
        ),
        (  # "A=1" is not a line of its own (it runs on past a \v), so it is appended
            EnsureLine("etc/config", "A=1"),
            ODD + b"\nA=1\n",
        ),
    ],
)
def test_ensure_line_touches_one_line(tmp_path: Path, task: EnsureLine, expected: bytes):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/config").write_bytes(ODD)
    with capture_logs():
        tx = Transaction(root, structlog.get_logger())
        tx.apply(tx.prepare([task]))
    assert (root / "etc/config").read_bytes() == expected


def test_a_file_past_the_limit_is_refused(tmp_path: Path):
    """A 512 MiB sparse etc/hosts (no disk space) costs no memory: exit 80 before
    anything is read, one line naming it; run under a 1 GiB address-space limit."""
    import safety

    from packetnetworking.fileio import MAX_FILE

    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    with open(root / "etc/hosts", "wb") as hosts:
        hosts.truncate(512 << 20)
    meta, nics = safety.inputs(tmp_path)
    before = snapshot(root)
    proc = safety.cli_subprocess(safety.default_args(meta, nics, root),
                                 prefix=("prlimit", f"--as={1 << 30}"))  # fmt: skip
    assert proc.returncode == 80, proc.stderr
    line = safety.one_line(proc.stderr, progress=True)
    assert f"/etc/hosts: {512 << 20} bytes, more than the {MAX_FILE} this tool reads" in line
    assert snapshot(root) == before


def test_each_step_is_durable_before_the_next(tmp_path: Path, monkeypatch):
    """The fsyncs crash safety rests on, in order: the journal before the first rename;
    each staged file before its rename; each directory a file was renamed into, and the
    parent of each directory made, after the renames and before the journal goes; the
    rootfs after it goes (the commit). Seen by recording the calls of a real apply."""
    root = _rootfs(tmp_path)
    calls: list[tuple[str, str]] = []
    real_fsync, real_rename, real_unlink = os.fsync, os.rename, os.unlink

    def fsync(fd):
        calls.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def rename(src, dst, *, src_dir_fd=None, dst_dir_fd=None):
        where = os.readlink(f"/proc/self/fd/{dst_dir_fd}")
        calls.append(("rename", f"{where}/{dst}"))
        real_rename(src, dst, src_dir_fd=src_dir_fd, dst_dir_fd=dst_dir_fd)

    def unlink(name, *, dir_fd=None):
        calls.append(("unlink", f"{os.readlink(f'/proc/self/fd/{dir_fd}')}/{name}"))
        real_unlink(name, dir_fd=dir_fd)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "rename", rename)
    monkeypatch.setattr(os, "unlink", unlink)
    changes = _apply(root)
    monkeypatch.undo()

    top = str(root.resolve())
    journal = f"{top}/{JOURNAL}"
    renames = [i for i, (op, path) in enumerate(calls) if op == "rename"]
    assert calls[renames[0]] == ("rename", journal)  # the journal is put in place first
    assert calls[renames[0] + 1] == ("fsync", top)  # ... and made durable there
    first_file = renames[1]
    committed = calls.index(("unlink", journal))
    assert calls[committed + 1 :] == [("fsync", top)]
    synced_before_commit = {path for op, path in calls[renames[-1] : committed] if op == "fsync"}
    made = {d for c in changes for d in c.created_dirs}
    assert made  # the example makes directories (etc/new/dir, sbin)
    written = [c for c in changes if c.action in ("write", "append")]
    for change in written:
        path = f"{top}/{change.rel}"
        rename_at = calls.index(("rename", path))
        staged = f"{path.rpartition('/')[0]}/.{change.name}.pn-new"
        assert rename_at >= first_file and ("fsync", staged) in calls[:rename_at], change.rel
        assert f"{top}/{change.dir}".rstrip("/") in synced_before_commit, change.rel
    for directory in made:
        parent = f"{top}/{directory}".rpartition("/")[0]
        assert parent in synced_before_commit, directory
