"""Host NICs: from a --nics file, or discovered from sysfs and udev."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import safety

from packetnetworking import nics
from packetnetworking.errors import InvalidMetadata, InvalidOption


def test_load_nics_file(tmp_path: Path):
    path = tmp_path / "nics.json"
    path.write_text(
        json.dumps([{"name": "enp65s0f0", "mac": "B4:96:91:7A:01:10", "driver": "mlx5_core"}])
    )
    assert nics.load(str(path)) == (
        nics.HostNic("enp65s0f0", "b4:96:91:7a:01:10", "mlx5_core", "enp65s0f0"),
    )


@pytest.mark.parametrize(
    "entry, field",
    [
        ({"name": "en p0", "mac": "b4:96:91:7a:01:10"}, "--nics[0].name"),
        ({"name": "enp0", "mac": "nope"}, "--nics[0].mac"),
        ({"name": "enp0", "mac": "b4:96:91:7a:01:10", "driver": "x;y"}, "--nics[0].driver"),
        ("enp0", "--nics[0]"),
    ],
)
def test_bad_nics_file(tmp_path: Path, entry, field):
    path = tmp_path / "nics.json"
    path.write_text(json.dumps([entry]))
    with pytest.raises(InvalidOption) as caught:
        nics.load(str(path))
    assert caught.value.field == field


def _fake_nic(sysfs: Path, name: str, mac: str, device: bool, driver: str = "ice") -> None:
    entry = sysfs / name
    entry.mkdir(parents=True)
    (entry / "address").write_text(mac + "\n")
    if device:
        dev = sysfs.parent / "devices" / name
        (dev / "drivers").mkdir(parents=True, exist_ok=True)
        (dev.parent / "drv" / driver).mkdir(parents=True, exist_ok=True)
        (dev / "driver").symlink_to(dev.parent / "drv" / driver)
        (entry / "device").symlink_to(dev)


def test_udev_name_preference(monkeypatch):
    class Done:
        stdout = "ID_NET_NAME_MAC=enxb49691\nID_NET_NAME_PATH=enp65s0f0\nID_NET_NAME_SLOT=ens1f0\n"

    import subprocess

    monkeypatch.setattr(subprocess, "run", lambda *a, **k: Done())
    assert nics._os_name("eth0") == "ens1f0"
    Done.stdout = "ID_NET_NAME_ONBOARD=eno1\nID_NET_NAME_PATH=enp65s0f0\n"
    assert nics._os_name("eth0") == "eno1"
    Done.stdout = "ID_NET_NAME_PATH=bad name\n"
    assert nics._os_name("eth0") == "eth0"


def _no_ethtool(_name: str):
    return None


def test_discover_skips_virtual_devices_with_a_fake_sysfs(tmp_path: Path, monkeypatch):
    sysfs = tmp_path / "class" / "net"
    _fake_nic(sysfs, "eth0", "B4:96:91:7A:01:10", device=True)
    _fake_nic(sysfs, "br0", "02:00:00:00:00:01", device=False)
    monkeypatch.setattr(nics, "_os_name", lambda kernel: kernel)
    found = nics.discover(sysfs, _no_ethtool)
    assert found == (nics.HostNic("eth0", "b4:96:91:7a:01:10", "ice", "eth0"),)


def test_discovery_reads_the_permanent_mac_of_bonded_ports(tmp_path: Path, monkeypatch):
    """Ports the installer bonded all show the bond's MAC in ``address``; the bonding
    driver keeps each one's own in ``bonding_slave/perm_hwaddr``."""
    sysfs = tmp_path / "class" / "net"
    bond_mac = "b4:96:91:7a:01:10"
    for name, own in (("eth0", "b4:96:91:7a:01:10"), ("eth1", "B4:96:91:7A:01:11")):
        _fake_nic(sysfs, name, bond_mac, device=True)
        (sysfs / name / "bonding_slave").mkdir()
        (sysfs / name / "bonding_slave" / "perm_hwaddr").write_text(own + "\n")
    monkeypatch.setattr(nics, "_os_name", lambda kernel: kernel)
    found = nics.discover(sysfs, _no_ethtool)
    assert [(n.kernel_name, n.mac) for n in found] == [
        ("eth0", "b4:96:91:7a:01:10"),
        ("eth1", "b4:96:91:7a:01:11"),
    ]


def test_discovery_asks_ethtool_before_the_current_address(tmp_path: Path, monkeypatch):
    """A permanent address from the ioctl wins; all zeros (no permanent address, as a
    veth reports) falls back to ``address``."""
    sysfs = tmp_path / "class" / "net"
    _fake_nic(sysfs, "eth0", "02:00:00:00:00:99", device=True)
    _fake_nic(sysfs, "eth1", "02:00:00:00:00:99", device=True)
    monkeypatch.setattr(nics, "_os_name", lambda kernel: kernel)
    burnt = {"eth0": bytes.fromhex("b49691000001"), "eth1": bytes(6)}
    found = nics.discover(sysfs, burnt.get)
    assert [n.mac for n in found] == ["b4:96:91:00:00:01", "02:00:00:00:00:99"]


def test_duplicate_macs_in_discovery_are_refused(tmp_path: Path, monkeypatch):
    sysfs = tmp_path / "class" / "net"
    _fake_nic(sysfs, "eth0", "02:00:00:00:00:99", device=True)
    _fake_nic(sysfs, "eth1", "02:00:00:00:00:99", device=True)
    monkeypatch.setattr(nics, "_os_name", lambda kernel: kernel)
    with pytest.raises(InvalidMetadata) as caught:  # the host's own sysfs: not an option
        nics.discover(sysfs, _no_ethtool)
    message = str(caught.value)
    assert "'02:00:00:00:00:99'" in message
    assert f"{sysfs}/eth0" in message and f"{sysfs}/eth1.mac" in message


def test_duplicate_macs_in_the_nics_file_are_refused(tmp_path: Path):
    path = tmp_path / "nics.json"
    path.write_text(json.dumps([
        {"name": "enp1s0f0", "mac": "b4:96:91:7a:01:10"},
        {"name": "enp1s0f1", "mac": "B4:96:91:7A:01:10"},
    ]))  # fmt: skip
    with pytest.raises(InvalidOption) as caught:
        nics.load(str(path))
    assert str(caught.value) == (
        "usage error: --nics[1] enp1s0f1.mac='b4:96:91:7a:01:10': "
        "is also the MAC of --nics[0] enp1s0f0"
    )


@pytest.mark.parametrize("name", ["lo", "bond0", "bond", "team0", "br0", "veth1a2b", "dummy0"])
@pytest.mark.parametrize("key", ["name", "kernel_name"])
def test_virtual_device_names_are_refused(tmp_path: Path, name: str, key: str):
    path = tmp_path / "nics.json"
    entry = {"name": "enp1s0f0", "mac": "b4:96:91:7a:01:10", key: name}
    path.write_text(json.dumps([entry]))
    with pytest.raises(InvalidOption) as caught:
        nics.load(str(path))
    assert caught.value.field == f"--nics[0].{key}"
    assert "virtual device" in caught.value.reason


def test_deeply_nested_nics_file(tmp_path: Path):
    path = tmp_path / "nics.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(InvalidOption) as caught:
        nics.load(str(path))
    assert "nests too deeply" in str(caught.value)


_VETH_PROBE = """
import json, subprocess, sys
from packetnetworking import nics
subprocess.run(["ip", "link", "add", "pn-a", "address", "02:00:00:00:00:0a", "type", "veth",
                "peer", "name", "pn-b", "address", "02:00:00:00:00:0b"], check=True)
entry = sys.argv[1]
print(json.dumps({
    "veth": nics.ethtool_permanent_address("pn-a").hex(),
    "missing": nics.ethtool_permanent_address("pn-missing"),
    "mac": nics.permanent_mac(entry, nics.ethtool_permanent_address("pn-a")),
}))
"""


def test_ethtool_ioctl_on_veths_in_a_namespace(tmp_path: Path):
    """The real ETHTOOL_GPERMADDR ioctl: a veth has no permanent address (six zero
    bytes), so its current one is used; a missing device is None."""
    safety.require("root", "creates a network namespace")
    safety.require("unshare", "creates a network namespace")
    safety.require("ip", "creates veths (iproute2)")
    entry = tmp_path / "pn-a"
    entry.mkdir()
    (entry / "address").write_text("02:00:00:00:00:0a\n")
    proc = subprocess.run(
        ["unshare", "-n", sys.executable, "-c", _VETH_PROBE, str(entry)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result == {"veth": "000000000000", "missing": None, "mac": "02:00:00:00:00:0a"}


def test_duplicate_names_in_the_nics_file_are_refused(tmp_path: Path):
    """Issue 21: two entries with one name and different MACs were accepted (exit 0): the
    udev rules gave both MACs one name and the bond enslaved it twice."""
    path = tmp_path / "nics.json"
    path.write_text(json.dumps([
        {"name": "enp1s0f0", "mac": "b4:96:91:7a:01:10"},
        {"name": "enp1s0f0", "mac": "b4:96:91:7a:01:11"},
    ]))  # fmt: skip
    with pytest.raises(InvalidOption) as caught:
        nics.load(str(path))
    assert str(caught.value) == (
        "usage error: --nics[1].name='enp1s0f0': is also the name of --nics[0] b4:96:91:7a:01:10"
    )


def test_duplicate_os_names_in_discovery_are_refused(tmp_path: Path, monkeypatch):
    """Two host NICs that udev would give one OS name: exit 50, naming both."""
    sysfs = tmp_path / "class" / "net"
    _fake_nic(sysfs, "eth0", "02:00:00:00:00:01", device=True)
    _fake_nic(sysfs, "eth1", "02:00:00:00:00:02", device=True)
    monkeypatch.setattr(nics, "_os_name", lambda kernel: "enp1s0f0")
    with pytest.raises(InvalidMetadata) as caught:
        nics.discover(sysfs, _no_ethtool)
    assert caught.value.exit_code == 50
    assert str(caught.value) == (
        f"invalid metadata: {sysfs}/eth1.name='enp1s0f0': is also the OS name of {sysfs}/eth0"
    )
