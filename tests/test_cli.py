"""The command line through the built zipapp, as a user runs it: every exit code."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

import factories as f
import pytest
import safety
from conftest import require
from treehash import snapshot

PYZ = Path(__file__).resolve().parents[1] / "packet-networking.pyz"
PYTHON = "/usr/bin/python3"  # the system interpreter: nothing of the venv leaks in


@pytest.fixture(scope="module")
def pyz() -> Path:
    require(PYZ.name, "run `make pyz` (make test does)", PYZ.exists())
    return PYZ


@pytest.fixture
def inputs(tmp_path: Path):
    meta = tmp_path / "metadata.json"
    meta.write_text(json.dumps(f.metadata(os=("debian", "12"))))
    nics = tmp_path / "nics.json"
    nics.write_text(f.nics_json(2))
    root = tmp_path / "root"
    root.mkdir()
    return meta, nics, root


def cli(pyz: Path, *args: str, stdin: str = "", env: dict | None = None):
    environment = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root")}
    environment.update(env or {})
    return subprocess.run(
        [PYTHON, str(pyz), *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=60,
        env=environment,
        check=False,
    )


def base(inputs, *extra: str) -> list[str]:
    meta, nics, root = inputs
    return [
        "-M",
        str(meta),
        "--nics",
        str(nics),
        "--rootfs",
        str(root),
        "--resolvers",
        "1.1.1.1",
        *extra,
    ]


def _one_line_error(proc, code: int, *words: str) -> None:
    assert proc.returncode == code, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for word in words:
        assert word in lines[0]


def test_writes_and_reruns_unchanged(pyz, inputs, tmp_path):
    audit = tmp_path / "audit.jsonl"
    first = cli(pyz, *base(inputs, "--audit-log", str(audit), "--log-format", "json"))
    assert first.returncode == 0, first.stderr
    root = inputs[2]
    assert "bond-slaves enp1s0f0 enp1s0f1" in (root / "etc/network/interfaces").read_text()
    before = snapshot(root)
    second = cli(pyz, *base(inputs, "--audit-log", str(audit), "--log-format", "json"))
    assert second.returncode == 0 and snapshot(root) == before
    events = [json.loads(line) for line in audit.read_text().splitlines()]
    tasks = [e for e in events if e["event"] == "task"]
    assert len(tasks) == 12  # six files, twice
    assert {e["action"] for e in tasks[6:]} == {"unchanged"}
    assert {e["action"] for e in tasks[:6]} == {"write", "append"}
    summary = [e for e in events if e["event"] == "run complete"]
    assert summary[-1]["unchanged"] == 6 and summary[-1]["builder"] == "debian.debian"
    assert summary[-1]["target"] == "debian 12"
    for event in tasks:
        assert set(event) >= {"path", "action", "bytes", "sha256", "previous_sha256", "mode"}
    logged = [json.loads(line) for line in second.stderr.splitlines()]
    assert logged[-1]["event"] == "run complete"


def test_dry_run_writes_nothing_and_diff_shows_changes(pyz, inputs):
    root = inputs[2]
    (root / "etc").mkdir()
    (root / "etc/hostname").write_text("old-name\n")
    before = snapshot(root)
    proc = cli(pyz, *base(inputs, "--dry-run", "--diff", "-q"))
    assert proc.returncode == 0 and proc.stderr == ""
    assert snapshot(root) == before
    assert "-old-name\n+web-1\n" in proc.stdout
    assert "+++ b/etc/network/interfaces" in proc.stdout


def test_metadata_from_stdin_and_os_from_metadata(pyz, inputs):
    meta, nics, root = inputs
    proc = cli(pyz, "-M", "-", "--nics", str(nics), "-t", str(root), stdin=meta.read_text())
    assert proc.returncode == 0, proc.stderr
    assert (root / "etc/resolv.conf").exists()  # debian 12 from the metadata


def test_os_option_wins_and_is_case_insensitive(pyz, inputs):
    proc = cli(pyz, *base(inputs, "-o", "UBUNTU 22.04"))
    assert proc.returncode == 0, proc.stderr
    assert (inputs[2] / "etc/systemd/resolved.conf").exists()


def test_resolvers_from_environment(pyz, inputs):
    meta, nics, root = inputs
    proc = cli(
        pyz,
        "-M",
        str(meta),
        "--nics",
        str(nics),
        "-t",
        str(root),
        env={"PACKET_RESOLVERS": "9.9.9.9"},
    )
    assert proc.returncode == 0, proc.stderr
    assert "nameserver 9.9.9.9" in (root / "etc/resolv.conf").read_text()


def test_help_and_version(pyz):
    helped = cli(pyz, "--help")
    assert helped.returncode == 0
    for code in ("10", "20", "30", "40", "50", "60", "70", "80", "85", "90", "91"):
        assert f"  {code}  " in helped.stdout
    version = cli(pyz, "--version")
    assert version.returncode == 0 and version.stdout.startswith("packet-networking 2.")


def test_usage_error(pyz, inputs):
    """One line, like every other error: argparse's usage text is not printed first."""
    missing = cli(pyz, "-M", str(inputs[0]))
    _one_line_error(missing, 2, "usage error: the following arguments are required: -t/--rootfs")
    bogus = cli(pyz, "--bogus", "-t", "/tmp")
    _one_line_error(bogus, 2, "usage error: unrecognized arguments: --bogus (see --help)")


def test_option_out_of_range(pyz, inputs):
    """argparse's own message for a bad value, on one line, naming the option."""
    proc = cli(pyz, *base(inputs), "--max-attempts", "0")
    expected = "usage error: argument -n/--max-attempts: '0': must be from 1 to 1000 (see --help)"
    _one_line_error(proc, 2, expected)


def test_no_metadata_source(pyz, inputs, tmp_path):
    args = base(inputs)
    args[1] = str(tmp_path / "missing.json")
    _one_line_error(cli(pyz, *args), 10, "missing.json")
    meta, nics, root = inputs
    proc = cli(pyz, "--metadata-url", "", "--nics", str(nics), "-t", str(root))
    _one_line_error(proc, 10, "no metadata source")


@pytest.mark.parametrize("os_value", ["ubuntu 22.04 lts", "ubu$ntu 22.04", "n/a", ""])
def test_malformed_os(pyz, inputs, os_value):
    _one_line_error(cli(pyz, *base(inputs, "-o", os_value)), 20, "operating-system")


def test_nothing_to_do(pyz, inputs):
    proc = cli(pyz, *base(inputs, "-o", "custom_ipxe"))
    _one_line_error(proc, 30, "nothing to do")
    assert snapshot(inputs[2]) == {}


def test_no_builder_lists_supported(pyz, inputs):
    _one_line_error(
        cli(pyz, *base(inputs, "-o", "debian 9")), 40, "debian 9", "supported", "ubuntu 18.04-26.04"
    )


def test_invalid_metadata_names_field_and_value(pyz, inputs):
    meta = inputs[0]
    doc = json.loads(meta.read_text())
    doc["hostname"] = "web-1\nGATEWAY=6.6.6.6"
    meta.write_text(json.dumps(doc))
    proc = cli(pyz, *base(inputs))
    _one_line_error(proc, 50, "hostname", "GATEWAY=6.6.6.6")
    assert snapshot(inputs[2]) == {}


def test_truncated_metadata(pyz, inputs):
    meta = inputs[0]
    meta.write_text(meta.read_text()[:200])
    _one_line_error(cli(pyz, *base(inputs)), 50, "metadata", "not JSON")


def test_no_matching_nic_lists_both_sets(pyz, inputs):
    nics = inputs[1]
    nics.write_text(json.dumps([{"name": "eno1", "mac": "02:00:00:00:00:99"}]))
    _one_line_error(cli(pyz, *base(inputs)), 60, f.mac(0), "02:00:00:00:00:99")


def test_fetch_failure_after_attempts(pyz, inputs):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    meta, nics, root = inputs
    proc = cli(
        pyz,
        "--metadata-url", f"http://127.0.0.1:{port}/metadata",
        "-n", "3", "--retry-delay", "0.01", "--timeout", "2",
        "--nics", str(nics), "-t", str(root), "-q",
    )  # fmt: skip
    _one_line_error(proc, 70, "after 3 attempts", "Connection")


def test_write_failure_rolls_back(pyz, inputs):
    root = inputs[2]
    (root / "etc").mkdir()
    (root / "etc/hostname").write_text("old\n")
    (root / "etc/network").write_text("a file where a directory should be")
    before = snapshot(root)
    _one_line_error(cli(pyz, *base(inputs, "-q")), 80, "etc/network")
    assert snapshot(root) == before


def test_no_fault_switch_in_the_zipapp(pyz, inputs):
    """Fault injection is the tests' (tests/fault_runner.py): the variable the package
    once read to kill itself must not stop a production run."""
    proc = cli(pyz, *base(inputs, "-q"), env={"PACKET_NETWORKING_FAULT": "kill:1"})
    assert proc.returncode == 0, proc.stderr
    assert (inputs[2] / "etc/network/interfaces").exists()


def test_injected_fault_rolls_back(inputs):
    root = inputs[2]
    before = snapshot(root)
    proc = safety.cli_subprocess(base(inputs, "-q"), fault="fail:4")
    _one_line_error(proc, 80, "rolled back")
    assert snapshot(root) == before


def test_plan_quirk_hooks_run_in_the_zipapp(pyz, inputs):
    """baremetal_1e cables one NIC: the pyz must load the hook without anything else
    having loaded plugins first."""
    meta = inputs[0]
    meta.write_text(json.dumps(f.metadata(plan="baremetal_1e", os=("debian", "12"))))
    proc = cli(pyz, *base(inputs))
    assert proc.returncode == 0, proc.stderr
    text = (inputs[2] / "etc/network/interfaces").read_text()
    assert "bond-slaves enp1s0f0\n" in text and "enp1s0f1" not in text
