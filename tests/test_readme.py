"""The README's Quick start, as a new user runs it: `make demo` in a fresh clone on a fresh
Debian 12 (support/newcomer.py: git, make, python3 and ca-certificates, nothing else of
ours), as root. It has to install what it needs itself (python3-venv) and then build and
run the pyz. The clone is of this checkout's HEAD: what is committed is what is tested.
"""

from __future__ import annotations

import pytest
import yaml
from pyz_build import ROOT, skip_or_fail
from support import newcomer

CLONE = "/root/packet-networking"
DEMO_TIMEOUT = 1800  # seconds: apt, a venv with the test extra, the build (~2-4 min here)


def _installed(root, package: str) -> bool:
    status = (root / "var/lib/dpkg/status").read_text()
    return any(
        block.startswith(f"Package: {package}\n") and "\nStatus: install ok installed" in block
        for block in status.split("\n\n")
    )


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """`make demo` run in a fresh clone on a fresh machine: (process, the machine's root)."""
    reason = newcomer.host_has_everything()
    if reason:
        skip_or_fail(reason)
    with newcomer.machine(tmp_path_factory.mktemp("newcomer")) as root:
        assert not _installed(root, "python3-venv"), "the fresh root is not fresh"
        newcomer.clone(ROOT, root, CLONE)
        proc = newcomer.run(root, f"cd {CLONE} && make demo", DEMO_TIMEOUT)
        yield proc, root


def test_make_demo_works_on_a_fresh_debian_12(demo):
    proc, root = demo
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    # It showed the files the pyz wrote, as the README says.
    assert "===== /etc/network/interfaces\n" in proc.stdout, proc.stdout[-3000:]
    assert "iface bond0 inet static" in proc.stdout
    assert (root / CLONE.lstrip("/") / "build/demo-rootfs/etc/network/interfaces").is_file()
    # And the Tinkerbell example: a Hardware with its addresses on VLAN 100 over the bond.
    assert "===== /etc/netplan/90-packet.yaml\n" in proc.stdout, proc.stdout[-3000:]
    netplan = root / CLONE.lstrip("/") / "build/demo-rootfs-tinkerbell/etc/netplan/90-packet.yaml"
    vlan = yaml.safe_load(netplan.read_text())["network"]["vlans"]["bond0.100"]
    assert (vlan["id"], vlan["link"]) == (100, "bond0")


def test_make_demo_installed_what_it_needs(demo):
    proc, root = demo
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert _installed(root, "python3-venv")
