"""The checks of each matrix cell, on a case's prepared image copy (matrix.Prepared).

Each check returns a one-line detail for the report or raises (pytest.fail, assert,
pytest.skip with the reason). Every tool here is the image's own, run by chroot.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable

import pytest
import readback

from . import images, matrix_apply, matrix_systemd
from .matrix import (
    IFCFG,
    IFUPDOWN,
    IFUPDOWN_NG,
    NETPLAN,
    NETWORKD,
    NETWORKMANAGER,
    Prepared,
    run_tool,
)

ENI = "/etc/network/interfaces"
ENI_READERS = (IFUPDOWN, IFUPDOWN_NG)


# ---------------------------------------------------------------------------- run, rerun


def check_run(p: Prepared) -> str:
    run = p.first
    assert run.returncode == 0, f"exit {run.returncode}: {run.stderr.strip()[-2000:]}"
    problems = _log_problems(run.stderr)
    if p.case.untested:  # the forward policy's warning, and nothing else
        untested = [line for line in problems if '"event": "untested version"' in line]
        assert len(untested) == len(problems) == 1, f"the tool warned: {problems}"
    else:
        assert not problems, f"the tool warned: {problems}"
    done = run.event("run complete")
    assert done is not None, f"no 'run complete' in the audit log: {run.events}"
    assert done["mode"] == p.mode, done
    if p.case.named is not None:
        assert done["target"] == p.case.named, done
    chosen = run.event("backend")
    if p.case.backend is not None:
        assert chosen is not None, "no backend event in the audit log"
        assert chosen["backend"] == p.case.backend, f"{chosen['backend']}: {chosen['reason']}"
    assert run.written(), "the first run wrote nothing"
    version = images.run_in(p.root, ["python3", "-c", _PYTHON_VERSION])
    backend = f", backend {chosen['backend']}" if chosen else ""
    return (
        f"python {version.stdout.strip()}, {done['target']}{backend}, "
        f"{len(run.written())} files written"
    )


_PYTHON_VERSION = "import platform; print(platform.python_version())"


def check_rerun(p: Prepared) -> str:
    _require_first_run(p)
    again = run_tool(p.root, p.case, "audit-rerun.jsonl")
    assert again.returncode == 0, f"exit {again.returncode}: {again.stderr.strip()[-2000:]}"
    changed = [(t["path"], t["action"]) for t in again.tasks() if t["action"] != "unchanged"]
    assert not changed, f"the second run changed {changed}"
    done = again.event("run complete")
    assert done is not None and done["unchanged"] == done["tasks"] == len(again.tasks()), done
    return f"{done['tasks']} tasks, all unchanged"


def _log_problems(stderr: str) -> list[str]:
    """Lines of the JSON log at warning level or above, and any line that is not JSON."""
    problems = []
    for line in stderr.splitlines():
        if not line.strip():
            continue
        if not line.startswith("{") or re.search(r'"level": "(warning|error|critical)"', line):
            problems.append(line)
    return problems


def _require_first_run(p: Prepared) -> None:
    if p.first.returncode != 0 or p.first.event("run complete") is None:
        pytest.fail(f"the tool's first run failed (see the run check): {p.first.stderr[-500:]}")


# ---------------------------------------------------------------------------- read


def check_read(p: Prepared) -> str:
    _require_first_run(p)
    reader = p.case.reader or reader_for(p)
    return READERS[reader](p)


def reader_for(p: Prepared) -> str:
    """An extra image's reader: from the format the tool wrote and the image's tools."""
    written = p.first.written()
    if ENI in written:
        return IFUPDOWN_NG if _has(p.root, "ifparse") else IFUPDOWN
    for prefix, reader in (
        ("/etc/netplan/", NETPLAN),
        ("/etc/NetworkManager/system-connections/", NETWORKMANAGER),
        ("/etc/systemd/network/", NETWORKD),
        ("/etc/sysconfig/network-scripts/ifcfg-", IFCFG),
        ("/etc/sysconfig/network/ifcfg-", IFCFG),
    ):
        if any(path.startswith(prefix) and not path.endswith(".link") for path in written):
            return reader
    pytest.fail(f"no reader for what the tool wrote: {written}")


def read_ifupdown(p: Prepared) -> str:
    assert ENI in p.first.written(), f"no {ENI} written: {p.first.written()}"
    ifaces: list[str] = []
    for allow in ("auto", "hotplug"):
        listed = _quiet(p.root, ["ifquery", "-i", ENI, "--list", f"--allow={allow}"])
        ifaces += [i for i in listed.split() if i not in ifaces]
    assert ifaces, "ifquery lists no interface"
    for iface in ifaces:
        _quiet(p.root, ["ifquery", "-i", ENI, iface])
    # --no-act prints the commands it would run on stderr: scan them for complaints.
    argv = ["ifup", "--no-act", "-a", "-i", ENI, "--state-dir", "/tmp/ifstate"]
    proc = images.run_in(p.root, argv)
    assert proc.returncode == 0, f"ifup --no-act: exit {proc.returncode}: {proc.stderr}"
    bad = [line for line in proc.stderr.splitlines() if _IFUP_COMPLAINT.search(line)]
    assert not bad, f"ifup --no-act complained: {bad}"
    return f"ifquery, ifup --no-act: {' '.join(ifaces)}"


# ifup's own messages start with its name; the rest of its stderr is the command list.
_IFUP_COMPLAINT = re.compile(r"^(ifup|ifquery):|warning|misplaced|unknown (option|method)", re.I)


def read_ifupdown_ng(p: Prepared) -> str:
    assert ENI in p.first.written(), f"no {ENI} written: {p.first.written()}"
    # ifparse reports problems on stderr only and exits 0 anyway.
    parsed = _quiet(p.root, ["ifparse", "-i", ENI, "-A"])
    ifaces = re.findall(r"^iface (\S+)", parsed, re.M)
    assert ifaces, f"ifparse read no interface:\n{parsed}"
    return f"ifparse -A: {' '.join(ifaces)}"


def read_networkmanager(p: Prepared) -> str:
    prefix = "/etc/NetworkManager/system-connections/"
    paths = [w for w in p.first.written() if w.startswith(prefix)]
    assert paths, f"no keyfile written: {p.first.written()}"
    profiles = {Path(w).name: (p.root / w.lstrip("/")).read_text() for w in paths}
    results = readback.nm_read(profiles, image=p.root)  # fails on any warning or error
    return "libnm read and normalized " + ", ".join(f"{r['id']} ({r['type']})" for r in results)


def read_ifcfg(p: Prepared) -> str:
    """bash reads ifcfg files as the network scripts do: by sourcing them."""
    paths = [w for w in p.first.written() if re.search(r"/(ifcfg|route6?)-[^/]+$", w)]
    assert paths, f"no ifcfg file written: {p.first.written()}"
    for path in paths:
        _quiet(p.root, ["bash", "-n", path])
        text = (p.root / path.lstrip("/")).read_text()
        keys = set(re.findall(r"^([A-Za-z_][A-Za-z0-9_]*)=", text, re.M))
        argv = ["env", "-i", "bash", "--noprofile", "--norc", "-c", _NEW_VARS, "_", path]
        before, _, after = _quiet(p.root, argv).partition("--sourced--")
        stray = set(after.split()) - set(before.split()) - keys - _BASH_OWN
        assert not stray, f"{path}: sourcing it sets {sorted(stray)}"
    return f"bash sourced {len(paths)} files"


# The variables before and after sourcing a file: any beyond its KEY= lines comes from
# an unquoted value split in two. (No /proc in the chroot: no <(...) here.)
_NEW_VARS = 'compgen -v; echo --sourced--; set -u; . "$1"; compgen -v'
_BASH_OWN = {"_", "PIPESTATUS", "BASH_ARGC", "BASH_ARGV", "BASH_LINENO", "BASH_SOURCE"}


def _quiet(root: Path, argv: list[str]) -> str:
    """Run a tool in the image; it must exit 0 and say nothing on stderr."""
    proc = images.run_in(root, argv)
    assert proc.returncode == 0 and not proc.stderr.strip(), (
        f"{' '.join(argv)}: exit {proc.returncode}: {proc.stderr.strip()}"
    )
    return proc.stdout


def _has(root: Path, tool: str) -> bool:
    return images.run_in(root, ["sh", "-c", f"command -v {tool}"]).returncode == 0


READERS: dict[str, Callable[[Prepared], str]] = {
    IFUPDOWN: read_ifupdown,
    IFUPDOWN_NG: read_ifupdown_ng,
    NETPLAN: matrix_systemd.read_netplan,
    NETWORKD: matrix_systemd.read_networkd,
    NETWORKMANAGER: read_networkmanager,
    IFCFG: read_ifcfg,
}


# ---------------------------------------------------------------------------- apply


def check_apply(p: Prepared) -> str:
    _require_first_run(p)
    reader = p.case.reader or reader_for(p)
    if reader not in ENI_READERS:
        pytest.skip(f"only ifupdown configs are applied here; this image reads {reader}")
    if p.mode == "bonded":
        missing = matrix_apply.bond_unsupported()
        if missing:
            pytest.skip(f"bonds cannot be created on this kernel: {missing}")
    # Debian names ifupdown-ng's commands ifup-ng and ifdown-ng; Alpine's are ifup and ifdown.
    ng = "-ng" if reader == IFUPDOWN_NG and _has(p.root, "ifup-ng") else ""
    up, down = [f"ifup{ng}", "-a"], [f"ifdown{ng}", "-a"]
    return matrix_apply.apply_and_compare(p, up, down, alias_labels=reader == IFUPDOWN)


CHECKS: dict[str, Callable[[Prepared], str]] = {
    "run": check_run,
    "read": check_read,
    "apply": check_apply,
    "rerun": check_rerun,
}
