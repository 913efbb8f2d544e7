"""SUSE (wicked): exact output (golden files), selection, and the files as bash reads them.

No wicked runs on Debian, so the files are held to what wicked documents: ifcfg(5),
ifcfg-bonding(5) and ifroute(5) give the keys and values checked here, and every ifcfg
file, sourced by bash with ``set -u`` in an empty environment, must define exactly the
variables it spells out, with those values (bash is how netconfig and the old ifup read
them; wicked's own reader takes the same single-quoted values whole).
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

import factories as f
import golden
import pytest
import shell_tools

from packetnetworking import registry
from packetnetworking.errors import NoBuilder
from packetnetworking.renderers import wicked
from packetnetworking.target import from_option

CASES = f.CASES
OS = "sles 15.5"
NET = "etc/sysconfig/network"
COMMON = {
    f"{NET}/config",
    "etc/udev/rules.d/70-persistent-net.rules",
    "etc/hostname",
    "etc/hosts",
}


def _expected_paths(case: str) -> set[str]:
    plan = f.build_plan(CASES[case])
    names = [m for b in plan.bonds for m in (*b.members, b.name)]
    names += [n.name for n in plan.dhcp_nics]
    if plan.mode == "individual":
        names.append(plan.link)
    paths = {f"{NET}/ifcfg-{name}" for name in names}
    if plan.link:
        paths.add(f"{NET}/ifroute-{plan.link}")
    return paths | COMMON


@pytest.mark.parametrize("case", CASES)
def test_suse_golden(case):
    out = f.files(OS, CASES[case])
    assert set(out) == _expected_paths(case)
    golden.check_all(f"suse/{case}", out)


@pytest.mark.parametrize("target", ["opensuse 15.5", "opensuse-leap 15.6", "sles 12.5", "suse 15"])
def test_every_suse_name_writes_the_same(target):
    assert f.files(target, CASES["bonded"]) == f.files(OS, CASES["bonded"])


# ---------------------------------------------------------------------------- selection


@pytest.mark.parametrize(
    "target",
    [
        "opensuse 15",
        "openSUSE 15.5",
        "opensuse-leap 15.6",
        "OPENSUSE-LEAP 15.0",
        "sles 12",
        "sles 12.5",
        "SLES 15",
        "sles 15.6",
        "suse 12",
        "SUSE 15.5",
    ],
)
def test_selects_suse(target):
    for mode in ("bonded", "individual", "dhcp"):
        assert registry.select(from_option(target), mode).id == "suse.suse"


@pytest.mark.parametrize(
    "target",
    [
        "opensuse 42.3",
        "opensuse 14",
        "sles 11.4",
        "suse 11",
        "sles",
        "opensuse-tumbleweed 20240101",
    ],
)
def test_other_suse_versions_are_refused(target):
    with pytest.raises(NoBuilder) as caught:
        registry.select(from_option(target), "bonded")
    message = str(caught.value)
    assert "opensuse 15, 16" in message and "sles 12-15, 16" in message
    assert caught.value.exit_code == 40


def test_no_registrations_overlap():
    assert registry.overlaps() == []


# ---------------------------------------------------------------------------- bash

_LINE = re.compile(r"([A-Z][A-Z0-9_]*)='([^']*)'")


def spelled_out(text: str) -> dict[str, str]:
    """KEY='value' lines, read without bash; comments may not hold '='."""
    values = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith("#"):
            assert "=" not in line, f"line {number}: '=' in a comment"
            continue
        match = _LINE.fullmatch(line)
        assert match, f"line {number} is not KEY='value': {line!r}"
        assert match[1] not in values, f"line {number}: {match[1]} twice"
        values[match[1]] = match[2]
    return values


def sourced(path: Path, tmp_path: Path) -> dict[str, str]:
    """The variables sourcing the file defines or changes; any complaint fails."""
    changed, problems = shell_tools.sourced(path, tmp_path)
    assert not problems, problems
    return changed


def _ifcfg_files(case: str) -> dict[str, str]:
    out = f.files(OS, CASES[case])
    return {p.rsplit("/", 1)[1]: c for p, c in out.items() if "/ifcfg-" in p}


@pytest.mark.parametrize("case", CASES)
def test_bash_defines_exactly_what_is_spelled_out(case, tmp_path):
    for name, text in _ifcfg_files(case).items():
        path = tmp_path / name
        path.write_text(text)
        assert sourced(path, tmp_path) == spelled_out(text), name


@pytest.mark.parametrize(
    "text",
    ["BONDING_MODULE_OPTS=mode=802.3ad miimon=100\n", "IPADDR=$UNSET\n", "A='x\n"],
)
def test_the_check_catches_what_it_is_for(text, tmp_path):
    """A stray variable, an unset one under set -u, a syntax error: each is caught."""
    path = tmp_path / "ifcfg-bad"
    path.write_text(text)
    with pytest.raises(AssertionError):
        assert sourced(path, tmp_path) == spelled_out(text)


# ---------------------------------------------------------------------------- documented keys

_BOND_OPTIONS = {  # ifcfg-bonding(5), the options we use, with their allowed values
    "mode": {
        "balance-rr",
        "active-backup",
        "balance-xor",
        "broadcast",
        "802.3ad",
        "balance-tlb",
        "balance-alb",
    },
    "xmit_hash_policy": {"layer2", "layer2+3", "layer3+4", "encap2+3", "encap3+4"},
    "lacp_rate": {"slow", "fast"},
}


def _check_documented(name: str, variables: dict[str, str]) -> None:
    assert variables["STARTMODE"] in {"auto", "hotplug"}
    assert variables["BOOTPROTO"] in {"static", "dhcp", "none"}
    for key, value in variables.items():
        if key.startswith("IPADDR"):
            ipaddress.ip_interface(value)  # address/prefix, as ifcfg(5) allows
            assert "/" in value
        elif key.startswith("LABEL"):
            assert value.startswith(f"{name}:") and len(value) < 16
            assert ipaddress.ip_interface(variables["IPADDR" + key[5:]]).version == 4
        elif key == "BONDING_MODULE_OPTS":
            options = dict(option.split("=", 1) for option in value.split())
            for option, allowed in _BOND_OPTIONS.items():
                assert option not in options or options[option] in allowed, (option, value)
            assert {"miimon", "updelay", "downdelay"} <= set(options)
        elif key.startswith("BONDING_SLAVE_") or key == "BONDING_MASTER":
            assert variables["BONDING_MASTER"] == "yes"
        else:
            assert key in {"STARTMODE", "BOOTPROTO", "LLADDR"}, key


@pytest.mark.parametrize("case", CASES)
def test_only_documented_keys_and_values(case):
    plan = f.build_plan(CASES[case])
    for filename, text in _ifcfg_files(case).items():
        name = filename[len("ifcfg-") :]
        variables = spelled_out(text)
        _check_documented(name, variables)
        bond = next((b for b in plan.bonds if b.name == name), None)
        if bond:
            slaves = [v for k, v in sorted(variables.items()) if k.startswith("BONDING_SLAVE_")]
            assert slaves == list(bond.members)
            assert variables["LLADDR"] == bond.mac
        if any(name in b.members for b in plan.bonds):  # a port: ifcfg-bonding(5)
            assert variables == {"STARTMODE": "hotplug", "BOOTPROTO": "none"}


def test_legacy_mode_5_has_no_lacp_rate():
    legacy = spelled_out(f.files(OS, CASES["no-ipv6"])[f"{NET}/ifcfg-bond0"])
    assert legacy["BONDING_MODULE_OPTS"].startswith("mode=balance-tlb ")
    assert "lacp_rate" not in legacy["BONDING_MODULE_OPTS"]


def test_a_value_that_cannot_be_quoted_is_refused():
    with pytest.raises(ValueError):
        wicked._write_ifcfg(wicked.Ifcfg("eth0", (("IPADDR", "1.2.3.4'; reboot; '"),)))


@pytest.mark.parametrize("case", [c for c in CASES if c != "dhcp"])
def test_routes_in_ifroute_format(case):
    """ifroute(5): destination, gateway, "-" for the netmask, the interface."""
    plan = f.build_plan(CASES[case])
    text = f.files(OS, CASES[case])[f"{NET}/ifroute-{plan.link}"]
    rows = [line.split() for line in text.splitlines() if not line.startswith("#")]
    for destination, gateway, netmask, interface in rows:
        assert destination == "default" or ipaddress.ip_network(destination)
        ipaddress.ip_address(gateway)
        assert (netmask, interface) == ("-", plan.link)
    expected = [["default", str(plan.primary4.gateway)]]
    if plan.public6:
        expected.append(["default", str(plan.public6.gateway)])
    expected += [[str(r.destination), str(r.gateway)] for r in plan.routes]
    assert [row[:2] for row in rows] == expected


# ---------------------------------------------------------------------------- the CLI

# The shape of SUSE's own config: commented, with the key already there and empty.
SUSE_CONFIG = """\
## Type:        string
## Default:     "auto"
NETCONFIG_DNS_POLICY="auto"

## Type:        string
## Default:     ""
NETCONFIG_DNS_STATIC_SERVERS=""
"""


def test_cli_writes_then_changes_nothing(tmp_path):
    rootfs = tmp_path / "rootfs"
    (rootfs / NET).mkdir(parents=True)
    (rootfs / NET / "config").write_text(SUSE_CONFIG)
    first = f.cli_events(tmp_path, rootfs, "sles 15.5")
    tasks = [e for e in first if e["event"] == "task"]
    assert {t["path"] for t in tasks} == {f"/{p}" for p in _expected_paths("bonded")}
    config = (rootfs / NET / "config").read_text()
    # the distro's own (empty) setting is replaced in place, the rest kept as it was
    expected = SUSE_CONFIG.replace(
        'NETCONFIG_DNS_STATIC_SERVERS=""', 'NETCONFIG_DNS_STATIC_SERVERS="147.75.207.207"'
    )
    assert config == expected and config.count("NETCONFIG_DNS_STATIC_SERVERS=") == 1
    variables = sourced(rootfs / NET / "config", tmp_path)
    assert variables["NETCONFIG_DNS_STATIC_SERVERS"] == "147.75.207.207"
    assert variables["NETCONFIG_DNS_POLICY"] == "auto"

    again = f.cli_events(tmp_path, rootfs, "opensuse-leap 15.5")
    assert [e["action"] for e in again if e["event"] == "task"] == ["unchanged"] * len(tasks)
    assert [e for e in again if e["event"] == "run complete"][0]["written"] == 0
