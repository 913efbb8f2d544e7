"""Writing fails: exit 80, one line, and the rootfs byte-for-byte as it was.

Real failures: a file where a directory should be, a directory where a file should be,
read-only mounts, a full disk (a 64 KiB tmpfs, filled a page at a time) and permission
denied (the CLI run as an unprivileged user). Mounts happen inside ``unshare -m`` so
nothing leaks to the host; root bypasses permissions, hence the unprivileged user.
Injected failures: ``fail:K`` (tests/fault_runner.py) at every filesystem change K of a
run. The tree hash covers every path, its type, mode, owner and content.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import safety
from treehash import snapshot

MAX_OPS = 200  # a Debian run makes about 25 changes; more means the loop never ends


@pytest.fixture
def case(tmp_path: Path):
    """(rootfs with old files, CLI arguments)."""
    root = tmp_path / "root"
    safety.old_rootfs(root)
    meta, nics = safety.inputs(tmp_path)
    return root, safety.default_args(meta, nics, root)


def _refused(root: Path, argv: list[str], words: str, **kwargs) -> str:
    before = snapshot(root)
    proc = safety.cli_subprocess(argv, **kwargs)
    assert proc.returncode == 80, proc.stderr
    line = safety.one_line(proc.stderr, progress=True)
    assert words in line, line
    assert snapshot(root) == before, "a failed run changed the rootfs"
    return line


def test_a_file_where_a_directory_should_be(case):
    root, argv = case
    (root / "etc/udev").write_text("a file, not the directory udev rules go in")
    _refused(root, argv, "/etc/udev/rules.d/70-persistent-net.rules: a file stands where")


def test_a_directory_where_a_file_should_be(case):
    root, argv = case
    (root / "etc/resolv.conf").mkdir()
    (root / "etc/resolv.conf/keep").write_text("x")
    _refused(root, argv, "/etc/resolv.conf: exists and is not a regular file")


def test_failure_injected_at_every_change(case, tmp_path: Path):
    """fail:K for every K: each run rolls back to the exact prior tree, and the audit log
    records the rollback; the first K past the run's last change succeeds."""
    root, argv = case
    pristine = tmp_path / "pristine"
    shutil.copytree(root, pristine, symlinks=True)
    audit = tmp_path / "audit.jsonl"
    for k in range(1, MAX_OPS):
        shutil.rmtree(root)
        shutil.copytree(pristine, root, symlinks=True)
        before = snapshot(root)
        proc = safety.cli_subprocess([*argv, "--audit-log", str(audit)], fault=f"fail:{k}")
        if proc.returncode == 0:
            break
        assert proc.returncode == 80, proc.stderr
        line = safety.one_line(proc.stderr, progress=True)
        assert "writing failed, every change rolled back: injected fault before" in line
        assert snapshot(root) == before, f"fail:{k} changed the rootfs ({line})"
    else:
        pytest.fail(f"still failing after {MAX_OPS} injected faults")
    events = [json.loads(line)["event"] for line in audit.read_text().splitlines()]
    assert events.count("rolled back") == k - 1
    print(f"write faults: fail:K injected at {k - 1} positions, all rolled back")
    assert k > 15


# -- inside a private mount namespace --------------------------------------------------

INNER = r"""
import json, subprocess, sys
config = json.loads(sys.argv[1])
sys.path.insert(0, config["tests"])
from treehash import snapshot
results = []
for case in config["cases"]:
    for step in case["setup"]:
        subprocess.run(step, check=False, capture_output=True)
    before = snapshot(config["root"])
    proc = subprocess.run(case["run"], capture_output=True, text=True, timeout=60, cwd="/")
    after = snapshot(config["root"])
    for step in case["teardown"]:
        subprocess.run(step, check=True)
    results.append({"code": proc.returncode, "stderr": proc.stderr, "same": before == after,
                    "files": sorted(after)})
print(json.dumps(results))
"""


def _in_namespace(root: Path, cases: list[dict]) -> list[dict]:
    safety.require("unshare", "mounts in a private mount namespace")
    safety.require("root", "mounting a tmpfs or a read-only bind mount")
    config = {"tests": str(Path(__file__).parent), "root": str(root), "cases": cases}
    unshare = ["unshare", "-m", "--propagation", "private"]
    proc = subprocess.run(
        [*unshare, sys.executable, "-c", INNER, json.dumps(config)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _cli(argv: list[str]) -> list[str]:
    return [sys.executable, "-m", "packetnetworking", *argv]


def _read_only(path: Path) -> list[list[str]]:
    return [
        ["mount", "--bind", str(path), str(path)],
        ["mount", "-o", "remount,bind,ro", str(path)],
    ]


@pytest.mark.parametrize(
    "where, words",
    [
        ("", "Read-only file system"),  # the journal cannot even be written
        ("etc/network", "/etc/network/.interfaces.pn-new: Read-only file system"),
        ("etc/udev/rules.d", "/etc/udev/rules.d/.70-persistent-net.rules.pn-new: Read-only"),
    ],
)
def test_read_only_mounts(case, where, words):
    root, argv = case
    (root / "etc/udev/rules.d").mkdir(parents=True)
    target = root / where
    run = {"setup": _read_only(target), "run": _cli(argv), "teardown": [["umount", str(target)]]}
    [result] = _in_namespace(root, [run])
    assert result["code"] == 80, result["stderr"]
    assert words in safety.one_line(result["stderr"], progress=True)
    assert result["same"], "a failed run changed the rootfs"


def test_full_disk(tmp_path: Path):
    """A 64 KiB tmpfs holding the old files and a filler of 0 to 16 pages: every run either
    fits or fails with ENOSPC and leaves the tree exactly as it was."""
    template = tmp_path / "template"
    old = safety.old_rootfs(template)
    meta, nics = safety.inputs(tmp_path)
    root = tmp_path / "mnt"
    root.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", "size=64k,mode=0755", "tmpfs", str(root)]
    cases = []
    for pages in range(17):
        fill = ["dd", "if=/dev/zero", f"of={root}/filler", "bs=4096", f"count={pages}"]
        setup = [mount, ["cp", "-a", f"{template}/.", str(root)], fill]
        cases.append({"setup": setup, "run": _cli(safety.default_args(meta, nics, root)),
                      "teardown": [["umount", str(root)]]})  # fmt: skip
    results = _in_namespace(root, cases)
    outcomes = []
    for pages, result in enumerate(results):
        if result["code"] == 0:
            outcomes.append("fit")
            assert not any(".pn-new" in f or "journal" in f for f in result["files"])
            continue
        assert result["code"] == 80, (pages, result["stderr"])
        line = safety.one_line(result["stderr"], progress=True)
        assert line.endswith(": No space left on device"), line
        assert result["same"], f"{pages} pages filled: the failed run changed the rootfs"
        outcomes.append(line.split(": ")[-2])  # the file that did not fit
    full = len(outcomes) - outcomes.count("fit")
    print(f"full disk: {full} of {len(outcomes)} fill levels ran out of space")
    assert "fit" in outcomes, outcomes
    # Space ran out at many points: writing the journal, and staging one file or another.
    assert len(set(outcomes) - {"fit"}) >= 4, outcomes
    assert set(old) <= {f for f in results[0]["files"]}


# -- permission denied ----------------------------------------------------------------


def _without_dac_override() -> tuple[str, ...]:
    """root without the capabilities that bypass file permissions: a 0555 directory then
    refuses it as it refuses anyone (and unlike another user, it can still run the venv)."""
    safety.require("setpriv", "dropping root's permission-bypassing capabilities")
    safety.require("root", "dropping root's capabilities")
    return ("setpriv", "--bounding-set", "-dac_override,-dac_read_search")


@pytest.mark.parametrize("writable_top", [False, True], ids=["read-only-tree", "deep-dir"])
def test_permission_denied(case, writable_top: bool):
    """Nothing writable (the journal is refused), or all but etc/ (the journal and the
    first temp file are written, then the next is refused and everything rolled back)."""
    root, argv = case
    (root / "etc/udev/rules.d").mkdir(parents=True)
    words = "/.packet-networking-journal.json.pn-new: Permission denied"
    locked = [p for p in [root, *root.rglob("*")] if p.is_dir()]
    if writable_top:
        locked = [root / "etc"]
        words = "/etc/.modules.pn-new: Permission denied"
    for directory in locked:
        directory.chmod(0o555)
    try:
        _refused(root, argv, words, prefix=_without_dac_override())
    finally:
        for directory in locked:
            directory.chmod(0o755)
