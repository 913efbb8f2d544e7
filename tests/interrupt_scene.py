"""The scene every interrupt test starts from (test_interrupt.py, test_pyz_signals.py): a
pristine old rootfs, the reference result of an uninterrupted run, and what a test needs
to read a run: its changes in order, and whether a run stopped at its commit is wholly
configured. A plugin of the suite (conftest's pytest_plugins), for its fixture ``interrupt_scene``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import safety
import structlog
from structlog.testing import capture_logs
from treehash import snapshot

from packetnetworking import run


@pytest.fixture
def interrupt_scene(tmp_path: Path):
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


def fresh(pristine: Path, root: Path) -> None:
    if root.exists():
        shutil.rmtree(root)
    shutil.copytree(pristine, root, symlinks=True)


def changes(root: Path) -> list[str]:
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


def configured(root: Path, new: dict, reference: dict, audit: Path, signal_name: str) -> None:
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
