"""The forward policy: a release newer than every known one of its family.

It is served by the family's newest builder only when the rootfs shows a format that
builder writes; the run then logs an "untested version" warning (an audit event) naming
the version and what it went by. An empty tree, a tree showing only formats the builder
cannot write, and a release older than every known one are exit 40 with nothing written.
Each case runs the real CLI, as an operator would.
"""

from __future__ import annotations

from pathlib import Path

import backend_cases as cases
import pytest
from test_backends import TOOLS, tree

NETPLAN_YAML = "etc/netplan/90-packet.yaml"
ENI = "etc/network/interfaces"
KEYFILE = "etc/NetworkManager/system-connections/bond0.nmconnection"


def _untested(events: list[dict]) -> list[dict]:
    return [e for e in events if e["event"] == "untested version"]


def _written(root: Path) -> dict[str, bytes]:
    """Every regular file under etc/, by path: what a run wrote into the tree."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted((root / "etc").rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


@pytest.mark.parametrize(
    "os, tools, newest, backend, written",
    [
        ("ubuntu 26.10", ("netplan",), "ubuntu 18.04-26.04", "netplan", NETPLAN_YAML),
        ("ubuntu 28.04", ("netplan",), "ubuntu 18.04-26.04", "netplan", NETPLAN_YAML),
        ("ubuntu 28.04", ("ifupdown",), "ubuntu 18.04-26.04", "eni", ENI),
        ("debian 14", ("ifupdown",), "debian 10-13", "eni", ENI),
        ("sles 17", ("nm-enabled",), "sles 16", "networkmanager", KEYFILE),
    ],
)
def test_a_newer_release_is_served_on_evidence_with_a_warning(
    os, tools, newest, backend, written, tmp_path: Path
):
    root = tree(tmp_path / "root", *tools)
    proc, events = cases.run_cli(tmp_path, root, os)
    assert proc.returncode == 0, proc.stderr
    (warning,) = _untested(events)
    assert (warning["level"], warning["target"]) == ("warning", os)
    assert (warning["newest_known"], warning["backend"]) == (newest, backend)
    assert warning["went_by"].startswith("the rootfs has ")
    assert f"(/{TOOLS[tools[0]][0]}" in warning["went_by"]  # the path it went by
    assert cases.backend_event(events)["backend"] == backend
    assert (root / written).is_file()


def test_the_console_says_so(tmp_path: Path):
    root = tree(tmp_path / "root", "netplan")
    proc, _ = cases.run_cli(tmp_path, root, "ubuntu 28.04", "--log-format", "console")
    assert proc.returncode == 0, proc.stderr
    (line,) = [line for line in proc.stderr.splitlines() if "untested version" in line]
    assert "warning" in line and "ubuntu 28.04" in line and "netplan" in line


def test_a_newer_release_writes_what_the_newest_known_one_writes(tmp_path: Path):
    trees = {}
    for os in ("ubuntu 26.04", "ubuntu 28.04"):
        root = tree(tmp_path / os.replace(" ", "-"), "netplan")
        proc, events = cases.run_cli(tmp_path, root, os)
        assert proc.returncode == 0, proc.stderr
        trees[os] = _written(root)
        # A known release is configured without the warning: the check above can fail.
        assert bool(_untested(events)) == (os == "ubuntu 28.04")
    assert NETPLAN_YAML in trees["ubuntu 26.04"]
    assert trees["ubuntu 28.04"] == trees["ubuntu 26.04"]


@pytest.mark.parametrize("os", ["ubuntu 26.10", "ubuntu 28.04", "debian 14", "sles 17"])
def test_a_newer_release_on_an_empty_tree_is_exit_40(os, tmp_path: Path):
    root = tmp_path / "root"
    root.mkdir()
    proc, events = cases.run_cli(tmp_path, root, os)
    assert proc.returncode == 40, proc.stderr
    (line,) = proc.stderr.splitlines()
    assert line.startswith(f"packet-networking: {os} is newer than every release this tool knows")
    assert "shows no network tool" in line
    assert list(root.iterdir()) == [] and not _untested(events)


def test_asking_for_a_backend_does_not_stand_in_for_evidence(tmp_path: Path):
    root = tmp_path / "root"
    root.mkdir()
    proc, _ = cases.run_cli(tmp_path, root, "ubuntu 28.04", "--backend", "netplan")
    assert proc.returncode == 40, proc.stderr
    assert list(root.iterdir()) == []


def test_a_tree_showing_only_other_formats_is_exit_40(tmp_path: Path):
    root = tree(tmp_path / "root", "nm-enabled")
    proc, events = cases.run_cli(tmp_path, root, "ubuntu 28.04")
    assert proc.returncode == 40, proc.stderr
    assert "NetworkManager" in proc.stderr and not _untested(events)
    assert not (root / "etc/NetworkManager").exists() and not (root / "etc/netplan").exists()


@pytest.mark.parametrize(
    "os, tools",
    [
        ("ubuntu 16.04", "netplan"),
        ("debian 9", "ifupdown"),
        ("sles 11", "nm-enabled"),
        ("ubuntu", "netplan"),
    ],
)
def test_an_older_or_unnumbered_release_is_exit_40_whatever_the_tree(os, tools, tmp_path: Path):
    root = tree(tmp_path / "root", tools)
    proc, _ = cases.run_cli(tmp_path, root, os)
    assert proc.returncode == 40, proc.stderr
    assert proc.stderr.startswith(f"packet-networking: no builder for {os}")
    assert _written(root) == {}
