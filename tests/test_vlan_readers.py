"""VLANs as each format's own reader reads them (the Plan and the goldens: test_vlans.py).

The cases are vlan_cases.CASES (bond0.100 over the bond, vlan4094 over a NIC whose
dotted name would be too long, enp1s0f0.7 over a short one). What each reader parsed is
compared with the plan (VLAN id, parent, the addresses on the VLAN and none on the
parent), not only the absence of complaints. No VLAN device can be created on this
kernel (VALIDATION.md), so nothing here brings one up: reading is the limit.
NetworkManager's two readers (ifcfg-rh and keyfile) are in test_vlans_nm.py.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import readback
import vlan_cases as v
from conftest import require
from support import images
from test_alpine import ifparse, ifup_commands, ng_root  # noqa: F401 (a fixture)
from test_suse import _check_documented, sourced, spelled_out

# ---------------------------------------------------------------------------- ENI: ifupdown


def _interfaces(os_name: str, case: str) -> str:
    return v.files(os_name, case, "etc/network")["interfaces"]


@pytest.mark.parametrize("case", v.CASES)
def test_ifupdown_reads_the_vlan(case):
    readback.require_ifupdown()
    plan = v.plan_of(case)
    vlan = plan.vlan
    options, dhcp = readback.eni_read(_interfaces("debian 12", case))
    assert dhcp == []
    # The parent carries no address; the VLAN carries them all, with its raw device.
    assert not any(k == "address" for k, _ in options[vlan.parent])
    on_vlan = dict(options[vlan.name])
    assert (on_vlan["vlan-raw-device"], on_vlan["vlan-id"]) == (vlan.parent, str(vlan.id))
    addresses = [value for key, value in options[vlan.name] if key == "address"]
    assert addresses == [str(plan.primary4.address), str(plan.public6.address)]
    assert [val for key, val in options[vlan.name] if key == "gateway"] == [
        str(plan.primary4.gateway),
        str(plan.public6.gateway),
    ]
    assert dict(options[f"{vlan.name}:0"])["address"] == str(plan.private4.address)


@pytest.mark.parametrize("case", ["vlan-bond", "vlan-nic-short"])
def test_ifupdown_creates_a_dotted_vlan_itself(case, tmp_path: Path):
    """ifupdown 0.8 makes ``PARENT.ID`` on its own (its built-in link method)."""
    readback.require_ifupdown()
    vlan = v.plan_of(case).vlan
    path = tmp_path / "interfaces"
    path.write_text(_interfaces("debian 12", case))
    proc = subprocess.run(
        ["ifup", "--no-act", "-i", str(path), "--state-dir", str(tmp_path), "-a"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    create = f"ip link add link {vlan.parent} name {vlan.name} type vlan id {vlan.id}"
    assert create in proc.stderr
    assert f"dev {vlan.name} label {vlan.name}" in proc.stderr  # the address on the VLAN


_IP_LOG_STUB = '#!/bin/sh\necho "ip $*" >> "$IP_LOG"\n'


def _vlan_script(tmp_path: Path, iface: str, options: dict[str, str]) -> list[str]:
    """Debian's ``vlan`` package's if-pre-up.d script, as ifup runs it for ``iface``,
    with an ``ip`` that only logs: the commands it runs."""
    script = Path("/etc/network/if-pre-up.d/vlan")
    require(str(script), "Debian package vlan (make test installs it)")
    stub = tmp_path / "bin"
    stub.mkdir()
    (stub / "ip").write_text(_IP_LOG_STUB)
    (stub / "ip").chmod(0o755)
    log = tmp_path / "ip.log"
    log.write_text("")
    env = {
        "PATH": f"{stub}:/usr/sbin:/usr/bin:/sbin:/bin",
        "IFACE": iface,
        "IP_LOG": str(log),
        "MODE": "start",
        "PHASE": "pre-up",
        "ADDRFAM": "inet",
        "METHOD": "static",
    }
    env.update({"IF_" + k.upper().replace("-", "_"): val for k, val in options.items()})
    proc = subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True,
                          timeout=30, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return log.read_text().splitlines()


def test_the_vlan_package_creates_a_vlan_named_by_its_id(tmp_path: Path):
    """``vlan4094`` is no name ifupdown's built-in knows: the vlan package's script,
    given the file's vlan-raw-device, creates it (docs/usage.md: the target needs it)."""
    readback.require_ifupdown()
    plan = v.plan_of("vlan-nic")
    options, _ = readback.eni_read(_interfaces("debian 12", "vlan-nic"))
    commands = _vlan_script(tmp_path, plan.vlan.name, dict(options[plan.vlan.name]))
    assert "ip link add link enp65s0f0np0 name vlan4094 type vlan id 4094" in commands


def test_the_vlan_script_check_can_fail(tmp_path: Path):
    """Without the raw device the script does nothing: the check above is not vacuous."""
    readback.require_ifupdown()
    assert not [c for c in _vlan_script(tmp_path, "vlan4094", {}) if "type vlan" in c]


# ---------------------------------------------------------------------------- ENI: ifupdown-ng


@pytest.mark.parametrize("case", v.CASES)
def test_ifupdown_ng_parses_and_creates_the_vlan(case, ng_root):  # noqa: F811
    plan = v.plan_of(case)
    vlan = plan.vlan
    text = _interfaces("alpine 3.20", case)
    parsed = ifparse(ng_root, text)
    assert f"  vlan-raw-device {vlan.parent}\n" in parsed
    assert f"  vlan-id {vlan.id}\n" in parsed
    # The vlan part of the link executor checks that the raw device exists and that the
    # 8021q module is loaded (else it runs modprobe): the image's unmounted /sys and
    # /proc get the two paths it looks at, so it goes on to `ip`, which only logs.
    for path in (f"sys/class/net/{vlan.parent}", "proc/net/vlan"):
        (ng_root / path).mkdir(parents=True, exist_ok=True)
    commands = ifup_commands(ng_root, text)
    create = f"ip link add link {vlan.parent} name {vlan.name} type vlan id {vlan.id}"
    assert create in commands, commands
    assert f"ip -4 addr add {plan.public4.cidr} dev {vlan.name}" in commands
    assert f"ip -6 addr add {plan.public6.cidr} dev {vlan.name}" in commands
    assert f"ip -4 addr add {plan.private4.cidr} dev {vlan.name}:0" in commands
    # The parent comes up first and gets no address.
    up = [i for i, c in enumerate(commands) if c.startswith(f"ip link set up dev {vlan.parent}")]
    assert up and up[0] < commands.index(create), commands
    assert not any(c.endswith(f" dev {vlan.parent}") and " addr add " in c for c in commands)


# ---------------------------------------------------------------------------- netplan


def _netplan(case: str) -> str:
    return v.files("ubuntu 22.04", case, "etc/netplan", "netplan")["90-packet.yaml"]


@pytest.mark.parametrize("case", v.CASES)
def test_netplan_generates_the_vlan(case, tmp_path: Path):
    readback.require_netplan()
    plan = v.plan_of(case)
    vlan = plan.vlan
    generated = readback.netplan_generate({"90-packet.yaml": _netplan(case)})
    netdev = generated[f"10-netplan-{vlan.name}.netdev"]
    assert f"Name={vlan.name}\nKind=vlan\n" in netdev and f"[VLAN]\nId={vlan.id}\n" in netdev
    assert f"VLAN={vlan.name}\n" in generated[f"10-netplan-{vlan.parent}.network"]
    assert "\nAddress=" not in generated[f"10-netplan-{vlan.parent}.network"]
    on_vlan = generated[f"10-netplan-{vlan.name}.network"]
    for ip in plan.addresses:
        assert f"Address={ip.cidr}\n" in on_vlan
    # networkd reads what netplan generated, the VLAN= reference included.
    conf = tmp_path / "conf"
    conf.mkdir()
    for name, text in generated.items():
        if not name.endswith(".link"):
            (conf / name).write_text(text)
    lines = readback.networkd_log(conf)
    assert f'{vlan.name}: loaded "vlan"' in lines
    complaints = [line for line in lines if "/etc/systemd/network/" in line or "Failed to" in line]
    assert not [line for line in complaints if "$container" not in line]  # (a namespace's)


def test_trixie_netplan_and_networkd_read_the_vlan(tmp_path: Path):
    """netplan 1.1 and systemd 257 of a trixie image (the releases Ubuntu 24.04+ ship
    near): the VLAN generated, and networkd 257 says it loaded every file."""
    images.require_root_tools()
    vlan = v.plan_of("vlan-bond").vlan
    with images.overlay_copy("trixie-netplan", tmp_path / "image") as root:
        generated = readback.netplan_generate({"90-packet.yaml": _netplan("vlan-bond")}, root)
        assert f"[VLAN]\nId={vlan.id}\n" in generated[f"10-netplan-{vlan.name}.netdev"]
        conf = tmp_path / "generated"
        conf.mkdir()
        for name, text in generated.items():
            if not name.endswith(".link"):
                (conf / name).write_text(text)
        loaded, complaints = readback.networkd_read(conf, image=root)
    assert complaints == []
    assert sorted(p.rsplit("/", 1)[1] for p in loaded) == sorted(p.name for p in conf.iterdir())


def test_netplan_catches_a_vlan_without_its_link():
    readback.require_netplan()
    bad = _netplan("vlan-bond").replace('link: "bond0"', 'link: "bond9"')
    with pytest.raises(AssertionError, match="bond9"):
        readback.netplan_generate({"90-packet.yaml": bad})


# ---------------------------------------------------------------------------- networkd


def _networkd_conf(case: str, directory: Path, replace: tuple[str, str] = ("", "")) -> Path:
    directory.mkdir()
    for name, text in v.network_files("networkd", case).items():
        (directory / name).write_text(text.replace(*replace) if replace[0] else text)
    return directory


@pytest.mark.parametrize("case", v.CASES)
def test_networkd_loads_the_vlan(case, tmp_path: Path):
    """networkd resolves the parent's ``VLAN=`` against the .netdev files it loaded
    ("NetDev could not be found" otherwise) and checks the Id's range."""
    readback.require_networkd()
    vlan = v.plan_of(case).vlan
    lines = readback.networkd_log(_networkd_conf(case, tmp_path / "conf"))
    assert f'{vlan.name}: loaded "vlan"' in lines
    assert [line for line in lines if "/etc/systemd/network/" in line] == []


@pytest.mark.parametrize("case", v.GOLDEN_CASES)
def test_networkd_257_loads_every_vlan_file(case, tmp_path: Path):
    """Flatcar and Arch ship a recent systemd: trixie's 257 says what it loaded."""
    images.require_root_tools()
    conf = _networkd_conf(case, tmp_path / "conf")
    with images.overlay_copy("trixie-netplan", tmp_path / "image") as root:
        loaded, complaints = readback.networkd_read(conf, image=root)
    assert complaints == []
    assert sorted(p.rsplit("/", 1)[1] for p in loaded) == sorted(p.name for p in conf.iterdir())


@pytest.mark.parametrize("replace", [("VLAN=bond0.100", "VLAN=bond0.999"), ("Id=100", "Id=4095")])
def test_networkd_catches_a_wrong_vlan(replace, tmp_path: Path):
    readback.require_networkd()
    _, complaints = readback.networkd_read(_networkd_conf("vlan-bond", tmp_path / "c", replace))
    assert complaints, replace


# ---------------------------------------------------------------------------- libnm (keyfile)


@pytest.mark.parametrize("case", v.CASES)
def test_libnm_reads_the_vlan_profile(case):
    readback.require_libnm()
    plan = v.plan_of(case)
    vlan = plan.vlan
    read = {Path(r["path"]).name: r for r in readback.nm_read(v.network_files("nm", case))}
    profile = read[f"{vlan.name}.nmconnection"]
    assert (profile["type"], profile["interface_name"]) == ("vlan", vlan.name)
    assert profile["vlan"] == {"id": vlan.id, "parent": vlan.parent}
    assert profile["ipv4"]["addresses"] == [plan.public4.cidr, plan.private4.cidr]
    assert profile["ipv4"]["gateway"] == str(plan.public4.gateway)
    assert profile["ipv6"]["addresses"] == [plan.public6.cidr]
    parent = read[f"{vlan.parent}.nmconnection"]
    assert parent["ipv4"]["method"] == "disabled" and parent["ipv4"]["addresses"] == []


# ---------------------------------------------------------------------------- wicked


@pytest.mark.parametrize("case", v.CASES)
def test_wicked_files_as_bash_reads_them(case, tmp_path: Path):
    """No wicked runs on Debian: bash reads the files (as netconfig and ifup do) and
    the keys are those ifcfg(5) and ifcfg-vlan(5) document."""
    plan = v.plan_of(case)
    vlan = plan.vlan
    files = v.network_files("suse", case)
    for name, text in files.items():
        if name.startswith("ifcfg-"):
            path = tmp_path / name
            path.write_text(text)
            assert sourced(path, tmp_path) == spelled_out(text), name
    on_vlan = spelled_out(files[f"ifcfg-{vlan.name}"])
    assert (on_vlan.pop("ETHERDEVICE"), on_vlan.pop("VLAN_ID")) == (vlan.parent, str(vlan.id))
    _check_documented(vlan.name, on_vlan)
    assert on_vlan["IPADDR"] == plan.public4.cidr
    parent = spelled_out(files[f"ifcfg-{vlan.parent}"])
    assert not [k for k in parent if k.startswith("IPADDR")]
    assert f"ifroute-{vlan.name}" in files and f"ifroute-{vlan.parent}" not in files
