"""Signals to the shipped zipapp, with no test seam at all: strace holds one of its
syscalls (a rename half-way through the switch, or the commit's unlink of the journal)
while the signal arrives. Mid-switch the run rolls back and exits 128 + the signal's
number; at the commit it is configured and says so (exit 0).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import safety
from interrupt_scene import changes, configured, fresh
from treehash import snapshot

from packetnetworking.transaction import JOURNAL

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
def test_signal_to_the_pyz_mid_switch(interrupt_scene, tmp_path: Path, signum: int, code: int):
    """The shipped zipapp, with no test seam at all: strace holds its rename half-way
    through the switch (``inject=...:delay_enter``), the signal arrives meanwhile, and
    the run rolls back before it exits with 128 + the signal's number."""
    safety.require("strace", "holding a syscall of the real zipapp (Debian package strace)")
    safety.require(PYZ.name, "run `make pyz` (make test does)", PYZ.exists())
    pristine, old, new, reference, root, argv = interrupt_scene
    fresh(pristine, root)
    ops = changes(root)
    renames = [op for op in ops if op.startswith("rename ")]  # the journal's, then the switch's
    held = len(renames) // 2 + 1  # a rename in the middle of the switch
    switched_before = held - 2  # the switch renames done by then (not the journal's)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
           "SHIV_ROOT": str(tmp_path / "shiv")}  # fmt: skip
    fresh(pristine, root)
    warm = subprocess.run([str(PYZ), "--version"], env=env, capture_output=True, check=False)
    assert warm.returncode == 0, warm.stderr  # extracted now: the traced run starts warm
    before = snapshot(root)
    # The signal must land while strace holds the rename; in a loaded full suite the run
    # was seen gone by then (ProcessLookupError, in 2 of about 10 full runs). That is a
    # miss of this harness's timing, not a result: start again from the same tree.
    for _attempt in range(ATTEMPTS):
        fresh(pristine, root)
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
def test_signal_to_the_pyz_during_the_commit(
    interrupt_scene, tmp_path: Path, signum: int, name: str
):
    """The shipped zipapp, no seam: strace holds the commit (the journal's unlinkat) and
    the signal arrives meanwhile. The run is configured, so it says so: exit 0, the
    audit log whole with a ``signal after the commit`` warning, every file the new one."""
    safety.require("strace", "holding a syscall of the real zipapp (Debian package strace)")
    safety.require(PYZ.name, "run `make pyz` (make test does)", PYZ.exists())
    safety.require(f"unlinkat's number on {os.uname().machine}", "reading /proc/PID/syscall",
                   os.uname().machine in UNLINKAT)  # fmt: skip
    pristine, old, new, reference, root, argv = interrupt_scene
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
           "SHIV_ROOT": str(tmp_path / "shiv")}  # fmt: skip
    warm = subprocess.run([str(PYZ), "--version"], env=env, capture_output=True, check=False)
    assert warm.returncode == 0, warm.stderr  # extracted now: both traced runs start warm
    fresh(pristine, root)
    held = _commit_unlink(env, argv, tmp_path / "strace.log")
    audit = tmp_path / "audit.jsonl"
    for _attempt in range(ATTEMPTS):  # a timing miss of this harness starts again
        fresh(pristine, root)
        audit.unlink(missing_ok=True)
        outcome = _signal_at_commit(env, [*argv, "--audit-log", str(audit)], root, held, signum)
        if outcome is not None:
            break
    else:
        pytest.fail(f"strace's hold of the commit was never seen in {ATTEMPTS} attempts")
    returncode, err = outcome
    assert returncode == 0, err
    assert "rolled back" not in err and "Traceback" not in err, err
    configured(root, new, reference, audit, name)
