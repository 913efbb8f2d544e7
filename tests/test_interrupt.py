"""SIGKILL at every filesystem change, then the next run recovers and finishes the job.

``kill:K`` (tests/fault_runner.py) kills the CLI just before its K-th change, for every
K of a run, against a rootfs that already holds OLD versions of some files (so both
"was absent" and "was present" are covered). After each kill every file must be wholly
old or wholly new. The next normal run must find the journal, restore the prior state
first (the audit log says "recovered interrupted run", and its tasks see the OLD
content as what they replace), then end with exactly the tree an uninterrupted run
makes: the new contents, the kept modes, no temp file and no journal. A kill during
that recovery is recovered from in turn.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import safety
import structlog
from structlog.testing import capture_logs
from treehash import snapshot

from packetnetworking import run
from packetnetworking.tasks import SCRIPT, SECRET, Delete, EnsureLine, Write
from packetnetworking.transaction import JOURNAL, Transaction

MAX_OPS = 200
KILLED = -9  # subprocess's return code for a process SIGKILLed


@pytest.fixture
def scene(tmp_path: Path):
    """The pristine old rootfs, the old contents, the reference result, the CLI args."""
    pristine = tmp_path / "pristine"
    old = safety.old_rootfs(pristine)
    meta, nics = safety.inputs(tmp_path)
    reference = tmp_path / "reference"
    shutil.copytree(pristine, reference, symlinks=True)
    proc = safety.cli_subprocess(safety.default_args(meta, nics, reference))
    assert proc.returncode == 0, proc.stderr
    new = {rel: (reference / rel).read_bytes() for rel in safety.DEBIAN_FILES}
    root = tmp_path / "root"
    return pristine, old, new, snapshot(reference), root, safety.default_args(meta, nics, root)


def _fresh(pristine: Path, root: Path) -> None:
    if root.exists():
        shutil.rmtree(root)
    shutil.copytree(pristine, root, symlinks=True)


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


def test_kill_at_every_change_then_recover(scene, tmp_path: Path):
    pristine, old, new, reference, root, argv = scene
    journals = 0
    for k in range(1, MAX_OPS):
        _fresh(pristine, root)
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


def _changes(root: Path) -> list[str]:
    """The filesystem changes of a whole run on ``root``, counted in this process."""
    meta, nics = root.parent / "metadata.json", root.parent / "nics.json"
    options = run.Options(
        rootfs=root,
        metadata_file=str(meta),
        operating_system=safety.OS,
        resolvers=safety.RESOLVERS,
        nics_file=str(nics),
    )
    ops: list[str] = []
    with capture_logs():
        run.run(options, structlog.get_logger(), ops.append)
    return ops


def test_kill_during_recovery(scene, tmp_path: Path):
    """Killed with every file switched (just before the commit), then killed again at
    every change of the recovering run: a third run still ends at the reference."""
    pristine, old, new, reference, root, argv = scene
    _fresh(pristine, root)
    ops = _changes(root)
    assert ops[-1].startswith("unlink ") and ops[-1].endswith(JOURNAL)  # the commit
    _fresh(pristine, root)
    assert _kill(argv, len(ops))
    rerun = _changes(root)
    recovery = len(rerun) - len(ops)  # the recovery's own changes come first
    assert recovery > 0 and rerun[recovery:] == ops
    for j in range(1, recovery + 2):  # every change of the recovery, and the one after
        _fresh(pristine, root)
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
    ops = _changes(root)
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
def test_signal_mid_switch_rolls_back(scene, signum: int, code: int, name: str):
    """SIGINT or SIGTERM with half the files switched: the process rolls back first, then
    exits 128 + the signal's number with one line; the tree is exactly as before, no
    temp file, no journal."""
    pristine, old, new, reference, root, argv = scene
    _fresh(pristine, root)
    pause_at = _mid_switch(root)
    _fresh(pristine, root)
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


def _configured(root: Path, new: dict, reference: dict, audit: Path, signal_name: str) -> None:
    """A signal that arrived during the commit changed nothing of a finished run: every
    file is the new one, and the audit log is whole and says so (every task, the
    signal's warning, then ``run complete``)."""
    assert snapshot(root) == reference, "the tree is not the configured one"
    events = [json.loads(line) for line in audit.read_text().splitlines()]
    names = [e["event"] for e in events]
    tasks = [e for e in events if e["event"] == "task"]
    assert {e["path"].lstrip("/") for e in tasks} >= set(new), names
    assert names[-1] == "run complete", names
    late = [e for e in events if e["event"] == "signal after the commit"]
    assert len(late) == 1 and late[0]["signal"] == signal_name, events
    assert late[0]["level"] == "warning" and names.index(late[0]["event"]) > names.index("task")


@pytest.mark.parametrize(
    ("signum", "name"), [(signal.SIGINT, "SIGINT"), (signal.SIGTERM, "SIGTERM")]
)
def test_signal_during_the_commit_reports_the_run_configured(scene, tmp_path: Path,
                                                             signum: int, name: str):  # fmt: skip
    """SIGINT or SIGTERM while the journal is being removed (the commit): the signal
    waits for the commit, and then must not turn the finished run into a reported
    rollback: exit 0, the audit log whole, the tree the configured one."""
    pristine, old, new, reference, root, argv = scene
    _fresh(pristine, root)
    ops = _changes(root)
    assert ops[-1] == f"unlink /{JOURNAL}", ops[-1]  # the commit is the last change
    _fresh(pristine, root)
    audit = tmp_path / "audit.jsonl"
    proc = safety.paused_cli([*argv, "--audit-log", str(audit)], len(ops), seconds=2)
    try:
        proc.send_signal(signum)
        _out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "rolled back" not in err, err
    _configured(root, new, reference, audit, name)


def test_a_second_run_is_refused_while_one_holds_the_rootfs(scene):
    """Two processes on one rootfs: the second is refused at once (exit 75, one line,
    nothing changed); the first, then stopped by SIGTERM, still rolls back."""
    pristine, old, new, reference, root, argv = scene
    _fresh(pristine, root)
    pause_at = _mid_switch(root)
    _fresh(pristine, root)
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


def test_a_dry_run_takes_no_lock(scene):
    """A dry run changes nothing, so it takes no lock, not even a shared one: it can
    never make a real run fail with exit 75. Proved against a holder of the exclusive
    lock (this process, as a running ``apply`` holds it): the dry run goes through, a
    real run is refused."""
    import fcntl

    pristine, old, new, reference, root, argv = scene
    _fresh(pristine, root)
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


def test_a_dry_run_says_when_a_journal_is_there(scene, tmp_path: Path):
    """Without the lock a dry run may look at a tree a run is changing, or one a dead
    run left half done (which it does not recover: that would be a change). When the
    journal is there it says so, on the console and in the audit log, and leaves it."""
    pristine, old, new, reference, root, argv = scene
    _fresh(pristine, root)
    ops = _changes(root)
    _fresh(pristine, root)
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


PYZ = safety.REPO / "packet-networking.pyz"
DELAY_S = 10  # how long strace holds the chosen rename: time to send the signal
ATTEMPTS = 3


def _pyz_child(tracer: subprocess.Popen) -> int:
    """The pid of the zipapp strace started (its only child)."""
    for _ in range(600):
        children = Path(f"/proc/{tracer.pid}/task/{tracer.pid}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.05)
    raise AssertionError("strace never started the zipapp")


def _signal_mid_switch(
    env: dict, argv: list, root: Path, new: dict, held: int, switched_before: int, signum: int
) -> tuple[int, str] | None:
    """Run the zipapp under strace holding rename number ``held`` and signal it half-way
    through the switch: its exit code and stderr, or None if it was gone by then."""
    syscalls = "rename,renameat,renameat2"
    tracer = subprocess.Popen(
        ["strace", "-f", "-qq", "-o", "/dev/null", "-e", f"trace={syscalls}",
         "-e", f"inject={syscalls}:delay_enter={DELAY_S * 1_000_000}:when={held}",
         str(PYZ), *argv],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd="/",
    )  # fmt: skip
    try:
        child = _pyz_child(tracer)
        for _ in range(DELAY_S * 20):  # until the renames before the held one are done
            done = [r for r in new if (root / r).exists() and (root / r).read_bytes() == new[r]]
            if len(done) >= switched_before:
                break
            time.sleep(0.05)
        assert 0 < len(done) < len(new), f"not half-way through the switch: {done}"
        try:
            os.kill(child, signum)
        except ProcessLookupError:
            tracer.communicate(timeout=60)
            return None
        _out, err = tracer.communicate(timeout=DELAY_S + 60)
    finally:
        tracer.kill()
    return tracer.returncode, err


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_to_the_pyz_mid_switch(scene, tmp_path: Path, signum: int, code: int):
    """The shipped zipapp, with no test seam at all: strace holds its rename half-way
    through the switch (``inject=...:delay_enter``), the signal arrives meanwhile, and
    the run rolls back before it exits with 128 + the signal's number."""
    safety.require("strace", "holding a syscall of the real zipapp (Debian package strace)")
    safety.require(PYZ.name, "run `make pyz` (make test does)", PYZ.exists())
    pristine, old, new, reference, root, argv = scene
    _fresh(pristine, root)
    ops = _changes(root)
    renames = [op for op in ops if op.startswith("rename ")]  # the journal's, then the switch's
    held = len(renames) // 2 + 1  # a rename in the middle of the switch
    switched_before = held - 2  # the switch renames done by then (not the journal's)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
           "SHIV_ROOT": str(tmp_path / "shiv")}  # fmt: skip
    _fresh(pristine, root)
    warm = subprocess.run([str(PYZ), "--version"], env=env, capture_output=True, check=False)
    assert warm.returncode == 0, warm.stderr  # extracted now: the traced run starts warm
    before = snapshot(root)
    # The signal must land while strace holds the rename; in a loaded full suite the run
    # was seen gone by then (ProcessLookupError, in 2 of about 10 full runs). That is a
    # miss of this harness's timing, not a result: start again from the same tree.
    for _attempt in range(ATTEMPTS):
        _fresh(pristine, root)
        outcome = _signal_mid_switch(env, argv, root, new, held, switched_before, signum)
        if outcome is not None:
            break
    else:
        pytest.fail(f"the zipapp finished before the signal in all {ATTEMPTS} attempts")
    returncode, err = outcome
    assert returncode == code, err
    assert "every change rolled back" in safety.one_line(err, progress=True)
    assert snapshot(root) == before, "the tree is not as it was before the run"


# The syscall number of unlinkat, to see that strace holds the commit's own unlink.
UNLINKAT = {"x86_64": 263, "aarch64": 35}


def _commit_unlink(env: dict, argv: list, log: Path) -> int:
    """Which unlinkat of a whole zipapp run removes the journal (the commit)."""
    proc = subprocess.run(["strace", "-f", "-qq", "-o", str(log), "-e", "trace=unlinkat",
                           str(PYZ), *argv], env=env, capture_output=True, text=True, cwd="/",
                          check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    calls = [line for line in log.read_text().splitlines() if "unlinkat(" in line]
    commits = [i for i, line in enumerate(calls, 1) if f'"{JOURNAL}"' in line]
    assert len(commits) == 1, calls
    return commits[0]


def _held_in_unlinkat(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
        number = Path(f"/proc/{pid}/syscall").read_text().split()[0]
    except (OSError, IndexError):
        return False
    return state == "t" and number == str(UNLINKAT[os.uname().machine])


def _signal_at_commit(
    env: dict, argv: list, root: Path, held: int, signum: int
) -> tuple[int, str] | None:
    """Run the zipapp under strace holding its unlinkat number ``held`` (the commit) and
    signal it while it is held: its exit code and stderr, or None if the hold was never
    seen (the run was gone first)."""
    tracer = subprocess.Popen(
        ["strace", "-f", "-qq", "-o", "/dev/null", "-e", "trace=unlinkat",
         "-e", f"inject=unlinkat:delay_enter={DELAY_S * 1_000_000}:when={held}",
         str(PYZ), *argv],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd="/",
    )  # fmt: skip
    try:
        child = _pyz_child(tracer)
        deadline = time.monotonic() + DELAY_S + 50
        while not (_held_in_unlinkat(child) and (root / JOURNAL).exists()):
            if tracer.poll() is not None or time.monotonic() > deadline:
                tracer.communicate(timeout=60)
                return None
            time.sleep(0.02)
        os.kill(child, signum)
        _out, err = tracer.communicate(timeout=DELAY_S + 60)
    finally:
        tracer.kill()
    return tracer.returncode, err


@pytest.mark.parametrize(
    ("signum", "name"), [(signal.SIGINT, "SIGINT"), (signal.SIGTERM, "SIGTERM")]
)
def test_signal_to_the_pyz_during_the_commit(scene, tmp_path: Path, signum: int, name: str):
    """The shipped zipapp, no seam: strace holds the commit (the journal's unlinkat) and
    the signal arrives meanwhile. The run is configured, so it says so: exit 0, the
    audit log whole with a ``signal after the commit`` warning, every file the new one."""
    safety.require("strace", "holding a syscall of the real zipapp (Debian package strace)")
    safety.require(PYZ.name, "run `make pyz` (make test does)", PYZ.exists())
    safety.require(f"unlinkat's number on {os.uname().machine}", "reading /proc/PID/syscall",
                   os.uname().machine in UNLINKAT)  # fmt: skip
    pristine, old, new, reference, root, argv = scene
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
           "SHIV_ROOT": str(tmp_path / "shiv")}  # fmt: skip
    warm = subprocess.run([str(PYZ), "--version"], env=env, capture_output=True, check=False)
    assert warm.returncode == 0, warm.stderr  # extracted now: both traced runs start warm
    _fresh(pristine, root)
    held = _commit_unlink(env, argv, tmp_path / "strace.log")
    audit = tmp_path / "audit.jsonl"
    for _attempt in range(ATTEMPTS):  # a timing miss of this harness starts again
        _fresh(pristine, root)
        audit.unlink(missing_ok=True)
        outcome = _signal_at_commit(env, [*argv, "--audit-log", str(audit)], root, held, signum)
        if outcome is not None:
            break
    else:
        pytest.fail(f"strace's hold of the commit was never seen in {ATTEMPTS} attempts")
    returncode, err = outcome
    assert returncode == 0, err
    assert "rolled back" not in err and "Traceback" not in err, err
    _configured(root, new, reference, audit, name)
