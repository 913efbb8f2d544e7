"""Debian and Ubuntu: exact output (golden files) and ifupdown reading it back."""

from __future__ import annotations

from pathlib import Path

import factories as f
import golden
import pytest
from eni_tools import ifquery, ifquery_list, ifup_no_act, require_ifupdown

CASES = f.CASES
FILES = [
    "etc/network/interfaces",
    "etc/modules",
    "etc/udev/rules.d/70-persistent-net.rules",
    "etc/hostname",
    "etc/hosts",
]


@pytest.mark.parametrize("case", CASES)
def test_debian_golden(case):
    out = f.files("debian 12", CASES[case])
    expected = set(FILES + ["etc/resolv.conf"])
    if case in ("individual", "dhcp"):
        expected.discard("etc/modules")  # no bond, no bonding module
    assert set(out) == expected
    golden.check_all(f"debian/{case}", out)


@pytest.mark.parametrize("case", CASES)
def test_ubuntu_is_debian_with_resolved(case):
    debian, ubuntu = f.files("debian 12", CASES[case]), f.files("ubuntu 22.04", CASES[case])
    assert "etc/resolv.conf" not in ubuntu
    golden.check("ubuntu/resolved.conf", ubuntu.pop("etc/systemd/resolved.conf"))
    debian.pop("etc/resolv.conf")
    assert ubuntu == debian


@pytest.mark.parametrize("case", CASES)
def test_ifupdown_reads_it(case, tmp_path: Path):
    require_ifupdown()
    path = tmp_path / "interfaces"
    path.write_text(f.files("debian 12", CASES[case])["etc/network/interfaces"])
    autos = ifquery_list(path)
    plan = f.build_plan(CASES[case])
    expected = ["lo"]
    for bond in plan.bonds:
        expected += [*bond.members, bond.name]
        if bond.name == plan.link and plan.alias4:
            expected.append(f"{bond.name}:0")
    if plan.mode == "individual":
        expected += [plan.link, f"{plan.link}:0"]
    expected += [n.name for n in plan.dhcp_nics]
    assert autos == expected
    for iface in autos:
        ifquery(path, iface)  # exit 0: no misplaced option, no unknown stanza
    commands = ifup_no_act(path)
    if plan.primary4:
        gw = plan.primary4.gateway
        assert f"ip route add default via {gw}  dev {plan.link}" in commands
    if plan.public6:
        assert f"ip -6 addr add {plan.public6.cidr}  dev {plan.link}" in commands


def test_bond_options_as_ifenslave_reads_them(tmp_path: Path):
    require_ifupdown()
    path = tmp_path / "interfaces"
    path.write_text(f.files("debian 12", CASES["two-bonds"])["etc/network/interfaces"])
    bond0, bond1 = ifquery(path, "bond0"), ifquery(path, "bond1")
    assert bond0["bond-slaves"] == "enp1s0f0 enp1s0f2"
    assert bond1["bond-slaves"] == "enp1s0f1 enp1s0f3"
    assert bond0["bond-mode"] == "4" and bond0["bond-lacp-rate"] == "1"
    assert bond0["hwaddress"] == f.mac(0) and bond1["hwaddress"] == f.mac(1)
    # ifquery lists bond0's inet and inet6 options together, in file order
    assert bond0["address"].splitlines() == ["147.75.84.131", "2604:1380:4641:1f00::9"]
    assert "address" not in bond1
    assert ifquery(path, "enp1s0f3")["bond-master"] == "bond1"
    alias = ifquery(path, "bond0:0")
    assert alias["address"] == "10.70.17.9" and "gateway" not in alias
    assert alias["up"] == "ip route add 10.0.0.0/8 via 10.70.17.8"


@pytest.mark.parametrize("case", ["bonded", "two-bonds", "no-ipv6", "private-only"])
def test_member_delay_as_ifupdown_runs_it(case, tmp_path: Path):
    """The plan quirk bond_member_delay: ifupdown reads ``pre-up sleep 4`` on every member
    but the first NIC, and runs it before if-pre-up.d, where ifenslave enslaves."""
    require_ifupdown()
    plan = f.build_plan(CASES[case])
    path = tmp_path / "interfaces"
    path.write_text(f.files("debian 12", CASES[case])["etc/network/interfaces"])
    members = [m for bond in plan.bonds for m in bond.members]
    delayed = [m for m in members if ifquery(path, m).get("pre-up") == "sleep 4"]
    assert sorted(delayed) == sorted(plan.delayed_members) and plan.delayed_members
    assert plan.nics[0].name not in delayed
    lines = [line for line in ifup_no_act(path).splitlines() if line.strip()]
    sleeps = [i for i, line in enumerate(lines) if line == "sleep 4"]
    assert len(sleeps) == len(delayed)
    for i in sleeps:
        assert lines[i + 1] == "run-parts --exit-on-error /etc/network/if-pre-up.d"


def test_legacy_mode_5_has_no_lacp_rate():
    text = f.files("debian 12", CASES["no-ipv6"])["etc/network/interfaces"]
    assert "bond-mode 5" in text and "lacp" not in text


def test_every_private_subnet_gets_a_route():
    doc = f.metadata(private_subnets=["10.0.0.0/8", "172.16.0.0/12"])
    text = f.files("debian 11", doc)["etc/network/interfaces"]
    for subnet in ("10.0.0.0/8", "172.16.0.0/12"):
        assert f"post-up ip route add {subnet} via 10.70.17.8\n" in text
        assert f"post-down ip route del {subnet} via 10.70.17.8 || true\n" in text


@pytest.mark.parametrize("sample", sorted(p.name for p in f.SAMPLES.glob("*.json")))
def test_real_samples_render_and_parse(sample, tmp_path: Path):
    """The published metadata documents, on a host whose NICs carry their MACs."""
    require_ifupdown()
    import json

    doc = json.loads((f.SAMPLES / sample).read_text())
    macs = [i["mac"] for i in doc["network"]["interfaces"]]
    nics = tuple(
        f.HostNic(name=f"enp1s0f{i}", mac=mac, driver="mlx5_core") for i, mac in enumerate(macs)
    )
    out = f.files("debian 12", doc, nics)
    path = tmp_path / "interfaces"
    path.write_text(out["etc/network/interfaces"])
    ifup_no_act(path)
    management = [a for a in doc["network"]["addresses"] if a["management"]]
    for address in management:
        assert address["address"] in out["etc/network/interfaces"]
    for address in doc["network"]["addresses"]:
        if not address["management"]:  # elastic IPs are not configured
            assert address["address"] not in out["etc/network/interfaces"]
