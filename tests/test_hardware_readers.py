"""The published Hardware samples through the three readers test_hardware_readback.py
leaves out: NetworkManager's ifcfg-rh plugin (RHEL 8-9's ifcfg files, in the daemon as
at boot: support/nm_run), ifupdown-ng (Alpine: its parser, then the ip commands its
executor runs) and wicked's files as bash reads them (SUSE: no wicked runs on Debian).

Each sample runs through the CLI process as in test_hardware_readback.py (its _run and
_plan); what each reader saw is compared with the Plan built from the Hardware.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import networkmanager, nm_check, nm_run
from support.images import fresh_copy, require_root_tools
from test_alpine import ifparse, ifup_commands
from test_hardware_readback import NAMES, _plan, _run
from test_suse import _check_documented, sourced, spelled_out

from packetnetworking.plan import BOND_MODE_NAMES, DHCP, Plan


def _tree(root: Path, directory: str) -> dict[str, str]:
    """Every file the run wrote under `directory`, by path below it."""
    base = root / directory
    return {str(p.relative_to(base)): p.read_text() for p in sorted(base.rglob("*")) if p.is_file()}


# ---------------------------------------------------------------------------- ifcfg-rh


@pytest.fixture(scope="module")
def ifcfg_rh() -> Iterator[nm_run.Reader]:
    networkmanager.require()
    with nm_run.running(nm_run.IFCFG_RH) as daemon:
        yield nm_run.Reader(daemon)


@pytest.mark.parametrize("name", NAMES)
def test_ifcfg_rh_reads_the_hardware(name: str, tmp_path: Path, ifcfg_rh: nm_run.Reader):
    files = _tree(_run(tmp_path, name, "rocky 9"), "etc/sysconfig")
    assert any(p.startswith("network-scripts/ifcfg-") for p in files), sorted(files)
    assert nm_check.problems(_plan(name), files, ifcfg_rh(files)) == []


def test_the_ifcfg_rh_check_fails_on_a_wrong_address(tmp_path: Path, ifcfg_rh: nm_run.Reader):
    files = _tree(_run(tmp_path, "pr395-bond.yaml", "rocky 9"), "etc/sysconfig")
    path = "network-scripts/ifcfg-bond0"
    assert 'IPADDR="192.168.1.10"' in files[path]
    files[path] = files[path].replace('IPADDR="192.168.1.10"', 'IPADDR="192.168.1.11"')
    assert nm_check.problems(_plan("pr395-bond.yaml"), files, ifcfg_rh(files))


# ---------------------------------------------------------------------------- ifupdown-ng

# ip only logs what it is asked, as in test_alpine.py, but a link it is asked to add then
# shows in /sys/class/net: ifupdown-ng's executors look there (the bond's before creating
# it, the VLAN's for its raw device), so the order they run in is the real one.
_IP_STUB = """#!/bin/sh
echo "ip $*" >> /tmp/ip.log
case "$1 $2 $3" in
"link add link") mkdir -p "/sys/class/net/$5" ;;
"link add "*) mkdir -p "/sys/class/net/$3" ;;
esac
"""


@pytest.fixture(scope="module")
def ng_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_root_tools()
    root = fresh_copy("trixie-ifupdown-ng", tmp_path_factory.mktemp("ng") / "root")
    for path, text in (
        ("usr/local/sbin/ip", _IP_STUB),
        ("usr/local/sbin/sleep", '#!/bin/sh\necho "sleep $*" >> /tmp/ip.log\n'),
    ):
        (root / path).write_text(text)
        (root / path).chmod(0o755)
    (root / "proc/net/vlan").mkdir(parents=True, exist_ok=True)  # 8021q "loaded"
    return root


def expected_commands(plan: Plan) -> list[str]:
    """The ip commands ifupdown-ng's executor must run for the Plan, in no order."""
    out = []
    for bond in plan.bonds:
        # The creation line's options are test_alpine.py's to check.
        out.append(f"ip link set up dev {bond.name} address {bond.mac}")
        out += [f"ip link set master {bond.name} {m}" for m in bond.members]
    if plan.vlan:
        v = plan.vlan
        out.append(f"ip link add link {v.parent} name {v.name} type vlan id {v.id}")
    if plan.mode != DHCP and plan.link:
        for ip in plan.addresses:
            device = f"{plan.link}:0" if ip is plan.alias4 else plan.link
            out.append(f"ip -{ip.version} addr add {ip.cidr} dev {device}")
        for ip in (plan.primary4, plan.public6):
            if ip and ip.gateway:
                out.append(f"ip -{ip.version} route add default via {ip.gateway} metric 1 "
                           f"dev {plan.link}")  # fmt: skip
    for nic in plan.nics:
        if nic.address is not None:
            out.append(f"ip -{nic.address.version} addr add {nic.address.cidr} dev {nic.name}")
    return out


@pytest.mark.parametrize("name", NAMES)
def test_ifupdown_ng_reads_and_runs_the_hardware(name: str, tmp_path: Path, ng_root: Path):
    text = (_run(tmp_path, name, "alpine 3.20") / "etc/network/interfaces").read_text()
    check_ng(name, text, ng_root)


@pytest.mark.parametrize(
    "old, new",
    [("address 192.168.1.10/24", "address 192.168.1.11/24"),
     ("gateway 2001:db8::1", "gateway 2001:db8::2"),
     ("bond-members enp1s0 enp2s0", "bond-members enp1s0")],
)  # fmt: skip
def test_the_ifupdown_ng_check_can_fail(old: str, new: str, tmp_path: Path, ng_root: Path):
    text = (_run(tmp_path, "pr395-bond.yaml", "alpine 3.20") / "etc/network/interfaces").read_text()
    assert old in text
    with pytest.raises(AssertionError):
        check_ng("pr395-bond.yaml", text.replace(old, new), ng_root)


def check_ng(name: str, text: str, ng_root: Path) -> None:
    """ifparse reads `text` and ifup-ng runs exactly the Plan's addresses and routes."""
    plan = _plan(name)
    parsed = ifparse(ng_root, text)
    for bond in plan.bonds:
        assert f"  bond-members {' '.join(bond.members)}\n" in parsed
    shutil.rmtree(ng_root / "sys/class/net", ignore_errors=True)
    for nic in plan.nics:  # the NICs are there at boot; bonds and VLANs are not
        (ng_root / "sys/class/net" / nic.name).mkdir(parents=True)
    commands = ifup_commands(ng_root, text)
    for bond in plan.bonds:  # created in its mode (test_alpine.py checks every option)
        create = [
            c.split() for c in commands if c.startswith(f"ip link add {bond.name} type bond ")
        ]
        assert len(create) == 1, f"{name}: {bond.name} not created once: {commands}"
        options = dict(zip(create[0][6::2], create[0][7::2]))
        assert options["mode"] == BOND_MODE_NAMES[bond.mode], create
    missing = [c for c in expected_commands(plan) if c not in commands]
    assert not missing, f"{name}: not run {missing}; ran {commands}"
    # No address or route the Plan does not have.
    added = [c for c in commands if " addr add " in c or " route add " in c]
    extra = [c for c in added if c not in expected_commands(plan)]
    assert not extra, f"{name}: not in the Plan: {extra}"


# ---------------------------------------------------------------------------- wicked


@pytest.mark.parametrize("name", NAMES)
def test_wicked_files_as_bash_reads_them(name: str, tmp_path: Path):
    files = _tree(_run(tmp_path, name, "opensuse 15.6"), "etc/sysconfig/network")
    check_wicked(name, files, tmp_path)


@pytest.mark.parametrize(
    "path, old, new",
    [("ifcfg-bond0", "IPADDR='192.168.1.10/24'", "IPADDR='192.168.1.10/25'"),
     ("ifcfg-bond0", "BONDING_SLAVE_1='enp2s0'", "BONDING_SLAVE_1='enp3s0'"),
     ("ifroute-bond0", "default 192.168.1.1 ", "default 192.168.1.2 ")],
)  # fmt: skip
def test_the_wicked_check_can_fail(path: str, old: str, new: str, tmp_path: Path):
    files = _tree(_run(tmp_path, "pr395-bond.yaml", "opensuse 15.6"), "etc/sysconfig/network")
    assert old in files[path], files[path]
    files[path] = files[path].replace(old, new)
    with pytest.raises(AssertionError):
        check_wicked("pr395-bond.yaml", files, tmp_path)


def check_wicked(name: str, files: dict[str, str], tmp_path: Path) -> None:
    """bash defines what each ifcfg file spells out, only keys ifcfg(5) documents, and
    the addresses, bond and default routes are the Plan's."""
    plan = _plan(name)
    ifcfg = {}
    for path, text in files.items():
        if path.startswith("ifcfg-"):
            (tmp_path / path).write_text(text)
            values = sourced(tmp_path / path, tmp_path)
            assert values == spelled_out(text), path
            ifcfg[path.removeprefix("ifcfg-")] = values
    for device, values in ifcfg.items():
        values = dict(values)
        if plan.vlan and device == plan.vlan.name:
            assert (values.pop("ETHERDEVICE"), values.pop("VLAN_ID")) == (
                plan.vlan.parent, str(plan.vlan.id))  # fmt: skip
        _check_documented(device, values)
    addresses = {
        device: sorted(v for k, v in values.items() if k.startswith("IPADDR"))
        for device, values in ifcfg.items()
    }
    want: dict[str, list[str]] = {device: [] for device in ifcfg}
    if plan.mode != DHCP and plan.link:
        want[plan.link] = sorted(ip.cidr for ip in plan.addresses)
    for nic in plan.nics:
        if nic.address is not None:
            want[nic.name] = sorted([*want.get(nic.name, []), nic.address.cidr])
    assert addresses == want, name
    for bond in plan.bonds:
        slaves = sorted(v for k, v in ifcfg[bond.name].items() if k.startswith("BONDING_SLAVE_"))
        assert slaves == sorted(bond.members)
        assert f"mode={BOND_MODE_NAMES[bond.mode]} " in ifcfg[bond.name]["BONDING_MODULE_OPTS"]
    routes = files.get(f"ifroute-{plan.link}", "")
    defaults = {line.split()[1] for line in routes.splitlines() if line.startswith("default ")}
    gateways = {str(ip.gateway) for ip in (plan.primary4, plan.public6) if ip and ip.gateway}
    assert defaults == gateways, routes
