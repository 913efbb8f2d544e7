"""Hardware documents end to end: the CLI writes a rootfs, the real readers read it.

Each published sample (tests/data/hardware-samples) runs through the CLI process with
``--nics`` and ``--rootfs`` for one distro per format, and what it wrote is read back by
the same consumers tests/test_cross_backend.py uses (ifupdown's ifquery and ifup
--no-act, netplan generate, libnm's keyfile reader, the networkd files parsed as systemd
parses them), reduced by tests/extract.py and compared with the Plan built from the
Hardware. The Hardware's own name_servers are the resolvers: no --resolvers is given.
Then the built zipapp reads a YAML Hardware too (its PyYAML is the pure one).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import extract
import pytest
import readback
import yaml
from conftest import require

from packetnetworking.metadata import documents
from packetnetworking.nics import HostNic
from packetnetworking.plan import BONDED, DHCP, Plan
from packetnetworking.planner import build as build_plan

SAMPLES = Path(__file__).parent / "data" / "hardware-samples"
ROOT = Path(__file__).resolve().parents[1]
# The published samples, and the README's example (make demo runs it).
NAMES = [*sorted(p.name for p in SAMPLES.glob("*.yaml")), "examples/hardware.yaml"]
PYZ = ROOT / "packet-networking.pyz"


def _doc(name: str) -> Path:
    return ROOT / name if name.startswith("examples/") else SAMPLES / name


def _host(name: str) -> tuple[HostNic, ...]:
    docs = [d for d in yaml.safe_load_all(_doc(name).read_bytes()) if d]
    macs = [i["dhcp"]["mac"] for i in docs[0]["spec"]["interfaces"] if "dhcp" in i]
    return tuple(HostNic(name=f"enp{k + 1}s0", mac=m, driver="ixgbe") for k, m in enumerate(macs))


def _plan(name: str) -> Plan:
    host = _host(name)
    meta = documents.parse(_doc(name).read_bytes(), lambda: host)
    return build_plan(meta, host, meta.resolvers)


def _run(tmp_path: Path, name: str, os: str, *extra: str) -> Path:
    root = tmp_path / "root"
    root.mkdir()
    nics = tmp_path / "nics.json"
    nics.write_text(json.dumps([{"name": n.name, "mac": n.mac, "driver": n.driver}
                                for n in _host(name)]))  # fmt: skip
    argv = [sys.executable, "-m", "packetnetworking", "-M", str(_doc(name)), "--nics",
            str(nics), "--rootfs", str(root), "-o", os, "-q", *extra]  # fmt: skip
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd="/")
    assert proc.returncode == 0, proc.stderr
    return root


def _files(root: Path, directory: str) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted((root / directory).iterdir())}


def _eni(root: Path) -> extract.Model:
    options, dhcp = readback.eni_read((root / "etc/network/interfaces").read_text())
    rules = (root / "etc/udev/rules.d/70-persistent-net.rules").read_text()
    return extract.from_eni(options, dhcp, rules)


def _netplan(root: Path) -> extract.Model:
    return extract.from_networkd(readback.netplan_generate(_files(root, "etc/netplan")))


def _networkmanager(root: Path) -> extract.Model:
    profiles = _files(root, "etc/NetworkManager/system-connections")
    return extract.from_nm(readback.nm_read(profiles))


def _networkd(root: Path) -> extract.Model:
    return extract.from_networkd(_files(root, "etc/systemd/network"))


# format: (distro, options, reader, what it needs)
FORMATS = {
    "eni": ("debian 12", (), _eni, readback.require_ifupdown),
    "netplan": ("ubuntu 22.04", ("--backend", "netplan"), _netplan, readback.require_netplan),
    "networkmanager": ("rhel 9", ("--backend", "networkmanager"), _networkmanager,
                       readback.require_libnm),
    "networkd": ("flatcar stable", (), _networkd, lambda: None),
}  # fmt: skip


def expected(plan: Plan) -> extract.Model:
    """What the Plan asks for, in extract's model (as test_cross_backend reduces it)."""
    macs = {nic.name: nic.mac for nic in plan.nics}
    model = extract.empty()
    for bond in plan.bonds:
        model["bonds"][bond.name] = extract.bond(
            str(bond.mode),
            bond.miimon,
            bond.updelay,
            bond.downdelay,
            bond.xmit_hash_policy,
            bond.lacp_rate,
            bond.mac,
        )
        model["bonds"][bond.name]["members"] = [macs[m] for m in bond.members]
    if plan.mode != DHCP:
        model["link"] = plan.link if plan.mode == BONDED or plan.vlan else macs[plan.link]
        if plan.vlan:
            parent = plan.vlan.parent
            model["vlan"] = extract.vlan(plan.vlan.id, macs.get(parent, parent))
        model["addresses"] = [ip.cidr for ip in plan.addresses]
        model["gateways"] = [str(ip.gateway) for ip in (plan.primary4, plan.public6)
                             if ip and ip.gateway]  # fmt: skip
        model["routes"] = [[str(r.destination), str(r.gateway)] for r in plan.routes]
        model["resolvers"] = [str(r) for r in plan.resolvers]
    return extract.finish(model)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", NAMES)
def test_the_real_reader_sees_the_hardware(tmp_path: Path, name: str, fmt: str):
    os, extra, read, needs = FORMATS[fmt]
    needs()
    model = read(_run(tmp_path, name, os, *extra))
    assert model == expected(_plan(name)), f"{fmt} differs from the Plan of {name}"


# The PR #395 bond, written out by hand from its document: what every reader must see.
PR395 = {
    "bonds": {"bond0": {"members": ["b8:cb:29:98:cb:3a", "b8:cb:29:98:cb:3b"],
                        "mode": "802.3ad", "miimon": 100, "updelay": 200, "downdelay": 200,
                        "xmit_hash_policy": "layer3+4", "lacp_rate": "fast",
                        "mac": "b8:cb:29:98:cb:3a"}},
    "vlan": None,
    "link": "bond0",
    "addresses": ["192.168.1.10/24", "2001:db8::10/64"],
    "gateways": ["192.168.1.1", "2001:db8::1"],
    "routes": [],
    "resolvers": ["1.0.0.1", "1.1.1.1", "2606:4700:4700::1111"],
    "dhcp": [],
}  # fmt: skip


def test_the_pr395_bond_as_written_by_hand():
    assert expected(_plan("pr395-bond.yaml")) == PR395


def test_no_gateway_no_default_route(tmp_path: Path):
    """The playground's dhcp.ip has no gateway: no reader finds a default route."""
    readback.require_ifupdown()
    model = _eni(_run(tmp_path, "playground-vagrant.yaml", "debian 12"))
    assert model["addresses"] == ["192.168.56.43/24"] and model["gateways"] == []


def test_the_zipapp_reads_yaml(tmp_path: Path):
    require(PYZ.name, "run `make pyz` (make test does)", PYZ.exists())
    root = tmp_path / "root"
    root.mkdir()
    nics = tmp_path / "nics.json"
    nics.write_text(json.dumps([{"name": "eno1", "mac": "b8:59:9f:e0:4a:10"}]))
    argv = ["/usr/bin/python3", str(PYZ), "-M", "-", "--nics", str(nics), "--rootfs", str(root),
            "-o", "debian 12", "-q"]  # fmt: skip
    body = (SAMPLES / "capt-quickstart.yaml").read_text()
    proc = subprocess.run(argv, input=body, capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin"})  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "address 192.168.1.105" in (root / "etc/network/interfaces").read_text()
    assert (root / "etc/hostname").read_text() == "node-1\n"
