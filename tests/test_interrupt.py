"""SIGKILL at every filesystem change, then the next run recovers and finishes the job.

``kill:K`` (tests/fault_runner.py) kills the CLI just before its K-th change, for every
K of a run, against a rootfs that already holds OLD versions of some files (so both
"was absent" and "was present" are covered). After each kill every file must be wholly
old or wholly new. The next normal run must find the journal, restore the prior state
first (the audit log says "recovered interrupted run", and its tasks see the OLD
content as what they replace), then end with exactly the tree an uninterrupted run
makes: the new contents, the kept modes, no temp file and no journal. A kill during
that recovery is recovered from in turn. Signals through the CLI paused at a change, and
the lock, are here too; signals to the shipped zipapp held by strace are in
test_pyz_signals.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
from pathlib import Path

import pytest
import safety
import structlog
from interrupt_scene import changes, configured, fresh
from structlog.testing import capture_logs
from treehash import snapshot

from packetnetworking.tasks import SCRIPT, SECRET, Delete, EnsureLine, Write
from packetnetworking.transaction import JOURNAL, Transaction

MAX_OPS = 200
KILLED = -9  # subprocess's return code for a process SIGKILLed




def _wholly_old_or_new(root: Path, old: dict, new: dict, when: str) -> None:
    for rel, content in new.items():
        path = root / rel
        now = path.read_bytes() if path.exists() else None
        assert now in (old.get(rel), content), f"{when}: /{rel} is neither old nor new: {now!r}"


def _kill(argv: list[str], k: int) -> bool:
    """Run with kill:K; True if it was killed, False if it finished first."""
    proc = safety.cli_subprocess(argv, fault=f"kill:{k}")
    assert proc.returncode in (KILLED, 0), proc.stderr
    return proc.returncode == KILLED


def _sha(content: bytes | None) -> str | None:
    return hashlib.sha256(content).hexdigest() if content is not None else None


def _recover(root: Path, argv: list[str], old: dict, journal: bool, audit: Path) -> None:
    """The next normal run: recovery (audited), then the writes, seen replacing OLD."""
    audit.unlink(missing_ok=True)
    proc = safety.cli_subprocess([*argv, "--audit-log", str(audit)])
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in audit.read_text().splitlines()]
    recovered = [e for e in events if e["event"] == "recovered interrupted run"]
    assert len(recovered) == (1 if journal else 0), events
    if recovered:
        assert recovered[0]["journal"] == f"/{JOURNAL}" and recovered[0]["files"]
        # right after the audit log's own first event: before any task
        assert events.index(recovered[0]) == 1, "recovery must come before any task"
    for task in (e for e in events if e["event"] == "task"):
        rel = task["path"].lstrip("/")
        assert task["previous_sha256"] == _sha(old.get(rel)), f"{rel} was not restored first"


def test_kill_at_every_change_then_recover(interrupt_scene, tmp_path: Path):
    pristine, old, new, reference, root, argv = interrupt_scene
    journals = 0
    for k in range(1, MAX_OPS):
        fresh(pristine, root)
        if not _kill(argv, k):
            break
        _wholly_old_or_new(root, old, new, f"after kill:{k}")
        journal = (root / JOURNAL).exists()
        journals += journal
        _recover(root, argv, old, journal, tmp_path / "audit.jsonl")
        assert snapshot(root) == reference, f"kill:{k} then a rerun: not the reference tree"
    else:
        pytest.fail(f"never finished within {MAX_OPS} changes")
    print(f"interruptions: SIGKILL at {k - 1} positions, {journals} of them recovered by journal")
    assert k > 15 and journals >= k - 3  # only kills before the journal exists leave none




def test_kill_during_recovery(interrupt_scene, tmp_path: Path):
    """Killed with every file switched (just before the commit), then killed again at
    every change of the recovering run: a third run still ends at the reference."""
    pristine, old, new, reference, root, argv = interrupt_scene
    fresh(pristine, root)
    ops = changes(root)
    assert ops[-1].startswith("unlink ") and ops[-1].endswith(JOURNAL)  # the commit
    fresh(pristine, root)
    assert _kill(argv, len(ops))
    rerun = changes(root)
    recovery = len(rerun) - len(ops)  # the recovery's own changes come first
    assert recovery > 0 and rerun[recovery:] == ops
    for j in range(1, recovery + 2):  # every change of the recovery, and the one after
        fresh(pristine, root)
        assert _kill(argv, len(ops))
        assert all((root / rel).read_bytes() == content for rel, content in new.items())
        assert _kill(argv, j)
        _wholly_old_or_new(root, old, new, f"kill:{len(ops)}, then kill:{j} recovering")
        journal = (root / JOURNAL).exists()
        _recover(root, argv, old, journal, tmp_path / "audit.jsonl")
        assert snapshot(root) == reference, f"kill during recovery at {j}: not the reference"
    print(f"interruptions during recovery: SIGKILL at {recovery + 1} positions of the rerun")


class _Crash(BaseException):
    """Not an OSError: the transaction does not roll back, as after a SIGKILL."""


TASKS = [
    Write("etc/network/interfaces", "auto lo\niface lo inet loopback\n"),
    EnsureLine("etc/modules", "bonding"),
    Write("etc/new/deep/file.conf", "x=1\n"),
    Write("sbin/ifup-pre-local", "#!/bin/sh\n", mode=SCRIPT),
    Write("etc/NetworkManager/system-connections/bond0.nmconnection", "[x]\n", mode=SECRET),
    Delete("etc/systemd/system/multi-user.target.wants/NetworkManager.service"),
    Delete("etc/old.conf"),
]


def _crash_scene(root: Path) -> None:
    safety.old_rootfs(root)
    wants = root / "etc/systemd/system/multi-user.target.wants"
    wants.mkdir(parents=True)
    (wants / "NetworkManager.service").symlink_to("/usr/lib/systemd/system/NM.service")
    (root / "etc/old.conf").write_text("old\n")
    (root / "etc/old.conf").chmod(0o640)


def _transaction(root: Path, before_op=None) -> Transaction:
    return Transaction(root, structlog.get_logger(), before_op)


def test_crash_at_every_change_in_process(tmp_path: Path):
    """Every kind of task (symlink and file deletes, new directories, scripts, secrets,
    appends): a crash at each change leaves old-or-new files, and ``recover`` restores
    the exact prior tree, symlinks and modes included."""
    pristine = tmp_path / "pristine"
    _crash_scene(pristine)
    before = snapshot(pristine)
    positions = 0
    for k in range(1, MAX_OPS):
        root = tmp_path / f"k{k}"
        shutil.copytree(pristine, root, symlinks=True)
        seen: list[str] = []

        def crash(op: str, k=k, seen=seen) -> None:
            seen.append(op)
            if len(seen) == k:
                raise _Crash(op)

        with capture_logs():
            transaction = _transaction(root, crash)
            try:
                transaction.apply(transaction.prepare(TASKS))
                break
            except _Crash:
                positions += 1
            _transaction(root).recover()
        assert snapshot(root) == before, f"crash before {seen[-1]}: recovery missed something"
        shutil.rmtree(root)
    print(f"in-process crashes: {positions} positions, every one recovered exactly")
    assert positions > len(TASKS) * 2


def _mid_switch(root: Path) -> int:
    """The change number of a rename half-way through the switch phase."""
    ops = changes(root)
    renames = [i for i, op in enumerate(ops) if op.startswith("rename ")][1:]  # not the journal's
    assert len(renames) >= 4, ops
    return renames[len(renames) // 2] + 1


@pytest.mark.parametrize(
    ("signum", "code", "name"),
    [
        (signal.SIGINT, 130, "SIGINT"),
        (signal.SIGTERM, 143, "SIGTERM"),
        # the installer's ssh session or terminal went away: no less a stop than SIGTERM
        (signal.SIGHUP, 129, "SIGHUP"),
    ],
)
def test_signal_mid_switch_rolls_back(interrupt_scene, signum: int, code: int, name: str):
    """SIGINT or SIGTERM with half the files switched: the process rolls back first, then
    exits 128 + the signal's number with one line; the tree is exactly as before, no
    temp file, no journal."""
    pristine, old, new, reference, root, argv = interrupt_scene
    fresh(pristine, root)
    pause_at = _mid_switch(root)
    fresh(pristine, root)
    before = snapshot(root)
    proc = safety.paused_cli(argv, pause_at)
    try:
        switched = [r for r in new if (root / r).exists() and (root / r).read_bytes() == new[r]]
        assert switched and len(switched) < len(new), "not paused half-way through the switch"
        proc.send_signal(signum)
        _out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == code, err
    assert f"interrupted by {name}; every change rolled back" in safety.one_line(err, progress=True)
    assert snapshot(root) == before, "the tree is not as it was before the run"




@pytest.mark.parametrize(
    ("signum", "name"), [(signal.SIGINT, "SIGINT"), (signal.SIGTERM, "SIGTERM")]
)
def test_signal_during_the_commit_reports_the_run_configured(interrupt_scene, tmp_path: Path,
                                                             signum: int, name: str):  # fmt: skip
    """SIGINT or SIGTERM while the journal is being removed (the commit): the signal
    waits for the commit, and then must not turn the finished run into a reported
    rollback: exit 0, the audit log whole, the tree the configured one."""
    pristine, old, new, reference, root, argv = interrupt_scene
    fresh(pristine, root)
    ops = changes(root)
    assert ops[-1] == f"unlink /{JOURNAL}", ops[-1]  # the commit is the last change
    fresh(pristine, root)
    audit = tmp_path / "audit.jsonl"
    proc = safety.paused_cli([*argv, "--audit-log", str(audit)], len(ops), seconds=2)
    try:
        proc.send_signal(signum)
        _out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "rolled back" not in err, err
    configured(root, new, reference, audit, name)


def test_a_second_run_is_refused_while_one_holds_the_rootfs(interrupt_scene):
    """Two processes on one rootfs: the second is refused at once (exit 75, one line,
    nothing changed); the first, then stopped by SIGTERM, still rolls back."""
    pristine, old, new, reference, root, argv = interrupt_scene
    fresh(pristine, root)
    pause_at = _mid_switch(root)
    fresh(pristine, root)
    before = snapshot(root)
    first = safety.paused_cli(argv, pause_at)
    try:
        during = snapshot(root)
        second = safety.cli_subprocess(argv)
        assert second.returncode == 75, second.stderr
        assert "another run holds its lock" in safety.one_line(second.stderr, progress=True)
        assert snapshot(root) == during, "the refused run changed something"
        first.send_signal(signal.SIGTERM)
        _out, err = first.communicate(timeout=60)
    finally:
        first.kill()
    assert first.returncode == 143, err
    assert snapshot(root) == before
    assert safety.cli_subprocess(argv).returncode == 0  # the lock went with its process
    assert snapshot(root) == reference


def test_a_dry_run_takes_no_lock(interrupt_scene):
    """A dry run changes nothing, so it takes no lock, not even a shared one: it can
    never make a real run fail with exit 75. Proved against a holder of the exclusive
    lock (this process, as a running ``apply`` holds it): the dry run goes through, a
    real run is refused."""
    import fcntl

    pristine, old, new, reference, root, argv = interrupt_scene
    fresh(pristine, root)
    before = snapshot(root)
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        dry = safety.cli_subprocess([*argv, "--dry-run"], timeout=30)
        real = safety.cli_subprocess(argv, timeout=30)
    finally:
        os.close(fd)
    assert dry.returncode == 0, dry.stderr
    assert real.returncode == 75, real.stderr
    assert snapshot(root) == before


def test_a_dry_run_says_when_a_journal_is_there(interrupt_scene, tmp_path: Path):
    """Without the lock a dry run may look at a tree a run is changing, or one a dead
    run left half done (which it does not recover: that would be a change). When the
    journal is there it says so, on the console and in the audit log, and leaves it."""
    pristine, old, new, reference, root, argv = interrupt_scene
    fresh(pristine, root)
    ops = changes(root)
    fresh(pristine, root)
    assert _kill(argv, len(ops))  # killed at the commit: every file new, the journal there
    before = snapshot(root)
    audit = tmp_path / "dry.jsonl"
    dry = safety.cli_subprocess([*argv, "--dry-run", "--audit-log", str(audit)])
    assert dry.returncode == 0, dry.stderr
    assert snapshot(root) == before and (root / JOURNAL).exists()
    events = [json.loads(line) for line in audit.read_text().splitlines()]
    seen = [e for e in events if e["event"] == "journal present"]
    assert len(seen) == 1 and seen[0]["level"] == "warning", events
    assert seen[0]["journal"] == f"/{JOURNAL}"
