"""The metadata cases every backend is checked on (the same shapes as test_debian's)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Optional

import factories as f

from packetnetworking import selection
from packetnetworking.target import from_option

CASES = {
    **f.CASES,
    "two-subnets": f.metadata(private_subnets=["10.0.0.0/8", "172.16.0.0/12"]),
}


def backend_files(files: dict[str, str], directory: str) -> dict[str, str]:
    """The files under ``directory``, by their names there."""
    prefix = directory.rstrip("/") + "/"
    return {k[len(prefix) :]: v for k, v in files.items() if k.startswith(prefix)}


def render(os: str, doc: dict, backend: Optional[str] = None, root: Path = Path("/nonexistent")):
    """factories.render with ``--backend``: the tasks a builder produces (pure)."""
    plan = f.build_plan(doc)
    target = from_option(os)
    chosen = selection.select(target, plan.mode, root, backend)
    return chosen.builder.func(chosen.context(plan))


def files(os: str, doc: dict, backend: Optional[str] = None, root: Path = Path("/nonexistent")):
    return {t.path: t.content for t in render(os, doc, backend, root) if hasattr(t, "content")}


def run_cli(tmp_path: Path, root: Path, os: str, *extra: str, doc: Optional[dict] = None):
    """Run the tool as a user would, with this checkout's code: (process, audit events)."""
    meta, nics, audit = tmp_path / "metadata.json", tmp_path / "nics.json", tmp_path / "audit"
    document = doc if doc is not None else CASES["bonded"]
    meta.write_text(json.dumps(document))
    nics.write_text(f.nics_json(len(document["network"]["interfaces"])))
    argv = [
        sys.executable,
        "-m",
        "packetnetworking",
        "-M",
        str(meta),
        "--nics",
        str(nics),
        "--rootfs",
        str(root),
        "-o",
        os,
        "--resolvers",
        ",".join(f.RESOLVERS),
        "--audit-log",
        str(audit),
        "--log-format",
        "json",
        *extra,
    ]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    events = [json.loads(line) for line in audit.read_text().splitlines()] if audit.exists() else []
    return proc, events


def backend_event(events: list[dict]) -> dict:
    (event,) = [e for e in events if e["event"] == "backend"]
    return event
