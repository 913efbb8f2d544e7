"""A journal planted in the customer's image is input like any other: checked whole
before anything is acted on. Every hostile one is exit 80, one line naming the journal,
and the rootfs (journal included) exactly as it was; a well-formed one is recovered.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import struct
from pathlib import Path

import pytest
import safety
from treehash import snapshot

from packetnetworking.journal import MAX_ENTRIES, MAX_JOURNAL
from packetnetworking.rootfs import MAX_DEPTH
from packetnetworking.transaction import JOURNAL


def _entry(**fields) -> dict:
    entry = {"path": "etc/motd", "existed": True, "content": base64.b64encode(b"prior\n").decode(),
             "mode": 0o644, "uid": 0, "gid": 0, "link": None, "xattrs": {}}  # fmt: skip
    entry.update(fields)
    return entry


# A version 2 file capability blob (effective, permitted CAP_SETUID): `setcap cap_setuid+ep`.
CAP_SETUID = struct.pack("<5I", 0x02000001, 1 << 7, 0, 0, 0)


def _doc(*entries: dict, dirs: list | None = None, version: int = 3) -> bytes:
    return json.dumps({"version": version, "dirs": dirs or [], "files": list(entries)}).encode()


HOSTILE: dict[str, bytes] = {
    "mode -1": _doc(_entry(mode=-1)),
    "mode 2**40": _doc(_entry(mode=2**40)),
    "mode past 0o7777": _doc(_entry(mode=0o17777)),
    "mode a float": _doc(_entry(mode=420.0)),
    "mode a bool": _doc(_entry(mode=True)),
    "uid 2**40": _doc(_entry(uid=2**40)),
    "uid 2**32-1 (means 'unchanged')": _doc(_entry(uid=2**32 - 1)),
    "gid -1": _doc(_entry(gid=-1)),
    "100,000 deep": b"[" * 100_000 + b"]" * 100_000,
    "100,000 deep inside": _doc(_entry()).replace(
        b'"dirs": []', b'"dirs": ' + b"[" * 100_000 + b"]" * 100_000
    ),  # fmt: skip
    "path with ..": _doc(_entry(path="etc/../../canary")),
    "absolute path": _doc(_entry(path="/etc/motd")),
    "empty part": _doc(_entry(path="etc//motd")),
    "NUL in a path": _doc(_entry(path="etc/mo\0td")),
    "dir with ..": _doc(_entry(), dirs=[".."]),
    "not base64": _doc(_entry(content="!!!")),
    "content past the file limit": _doc(_entry(content=base64.b64encode(bytes(2 << 20)).decode())),
    "existed a string": _doc(_entry(existed="yes")),
    "a key too many": _doc({**_entry(), "exec": "rm -rf /"}),
    "a key missing": _doc({k: v for k, v in _entry().items() if k != "mode"}),
    "files not a list": json.dumps({"version": 3, "dirs": [], "files": {}}).encode(),
    "unknown version": _doc(_entry(), version=99),
    "xattr name without a namespace": _doc(_entry(xattrs={"selinux": "eA=="})),
    "xattr not base64": _doc(_entry(xattrs={"user.x": "%%"})),
    "NUL in a link": _doc(_entry(link="/x\0y")),
    # Modes and attributes this tool never writes: a recovery would make a set-id file.
    "setuid mode": _doc(_entry(mode=0o4755)),
    "setgid mode": _doc(_entry(mode=0o2755)),
    "sticky mode": _doc(_entry(mode=0o1644)),
    "setuid mode on a file that did not exist": _doc(_entry(existed=False, mode=0o4755)),
    "file capabilities": _doc(
        _entry(xattrs={"security.capability": base64.b64encode(CAP_SETUID).decode()})
    ),  # fmt: skip
    "a JSON array": b"[]",
    "not JSON": b"\xff\xfe{",
}


@pytest.fixture
def scene(tmp_path: Path):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/motd").write_text("now\n")
    (root / "etc/hostname").write_text("old\n")
    meta, nics = safety.inputs(tmp_path)
    return root, safety.default_args(meta, nics, root)


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_journal_is_refused_and_nothing_changes(scene, name: str):
    root, argv = scene
    (root / JOURNAL).write_bytes(HOSTILE[name])
    (root / f".{JOURNAL}.pn-new").write_text("a temp journal: left alone too")
    before = snapshot(root)
    proc = safety.cli_subprocess(argv)
    assert proc.returncode == 80, proc.stderr
    line = safety.one_line(proc.stderr)
    assert line.startswith(f"packet-networking: /{JOURNAL}: unreadable journal ("), line
    assert len(line) < 400, line
    assert snapshot(root) == before


def test_huge_journal_is_refused_unread(scene):
    root, argv = scene
    with open(root / JOURNAL, "wb") as journal:
        journal.truncate(MAX_JOURNAL + 1)  # sparse: no disk, and never read
    before = snapshot(root)
    proc = safety.cli_subprocess(argv, prefix=("prlimit", f"--as={1 << 30}"))
    assert proc.returncode == 80, proc.stderr
    assert "unreadable journal" in safety.one_line(proc.stderr), proc.stderr
    assert f"{MAX_JOURNAL + 1} bytes" in proc.stderr
    assert snapshot(root) == before


@pytest.mark.parametrize("version", [2, 3])
def test_a_well_formed_journal_is_recovered(scene, version: int):
    """The control: the same fields in range are accepted, and restored (version 2, from
    the release before attributes were kept, too)."""
    root, argv = scene
    entry = _entry(mode=0o640, uid=2**32 - 2, gid=12345)
    if version == 2:
        del entry["xattrs"]
    (root / JOURNAL).write_bytes(_doc(entry, version=version))
    proc = safety.cli_subprocess(argv)
    assert proc.returncode == 0, proc.stderr
    motd = root / "etc/motd"
    assert motd.read_bytes() == b"prior\n"
    info = os.stat(motd)
    assert (info.st_mode & 0o7777, info.st_uid, info.st_gid) == (0o640, 2**32 - 2, 12345)
    assert not (root / JOURNAL).exists()


@pytest.mark.parametrize("depth", [63, 2040])
def test_a_journal_of_the_most_entries_at_any_depth_is_dealt_with_at_once(scene, depth: int):
    """4096 entries (the most a journal may have), each a path ``depth`` directories
    deep: at 2040 (a 4 KiB path) the code before spent minutes building each path's
    list of missing directories, quadratic in its depth, before it recovered anything.
    Past ``MAX_DEPTH`` (64) a path is refused, at once and whole; at 63 the journal is
    recovered (its files were never made: nothing to undo). Both well inside the CLI's
    timeout, which is what fails here, not a measured time."""
    root, argv = scene
    deep = "/".join(["a"] * depth)
    entries = [_entry(path=f"{deep}/f{i}", existed=False) for i in range(MAX_ENTRIES)]
    (root / JOURNAL).write_bytes(_doc(*entries))
    before = snapshot(root)
    proc = safety.cli_subprocess(argv, timeout=60)
    if depth > MAX_DEPTH:
        assert proc.returncode == 80, proc.stderr
        line = safety.one_line(proc.stderr)
        assert "unreadable journal" in line and f"more than {MAX_DEPTH} directories" in line
        assert snapshot(root) == before
    else:
        assert proc.returncode == 0, proc.stderr
        assert not (root / JOURNAL).exists()


def test_recovery_replaces_a_hardlink_fifo_or_device_never_writing_through(scene, tmp_path):
    """A guard (the code before held it too): a journal naming a hard link to a file
    outside the rootfs, a FIFO and a device node gets each replaced by a new file
    (renamed over: never opened for writing, so nothing blocks and nothing reaches the
    other file or the device), and the file outside keeps its content."""
    safety.require("root", "mknod")
    root, argv = scene
    outside = tmp_path / "outside"
    outside.write_text("the host's own\n")
    os.link(outside, root / "etc/hardlink")
    os.mkfifo(root / "etc/fifo")
    os.mknod(root / "etc/null", 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    paths = ("etc/hardlink", "etc/fifo", "etc/null")
    (root / JOURNAL).write_bytes(_doc(*(_entry(path=p) for p in paths)))
    proc = safety.cli_subprocess(argv, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert outside.read_text() == "the host's own\n"
    for rel in paths:
        info = os.lstat(root / rel)
        assert stat.S_ISREG(info.st_mode) and info.st_nlink == 1, rel
        assert (root / rel).read_bytes() == b"prior\n", rel
