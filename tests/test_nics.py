"""Host NICs: from a --nics file, or discovered from sysfs and udev."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from packetnetworking import nics
from packetnetworking.errors import InvalidMetadata


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
    with pytest.raises(InvalidMetadata) as caught:
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


def test_discover_skips_virtual_devices(tmp_path: Path, monkeypatch):
    sysfs = tmp_path / "class" / "net"
    _fake_nic(sysfs, "eth0", "B4:96:91:7A:01:10", device=True)
    _fake_nic(sysfs, "br0", "02:00:00:00:00:01", device=False)
    _fake_nic(sysfs, "veth1", "02:00:00:00:00:02", device=False)
    names = {"eth0": "enp65s0f0"}
    monkeypatch.setattr(nics, "_os_name", lambda kernel: names.get(kernel, kernel))
    assert nics.discover(sysfs) == (nics.HostNic("enp65s0f0", "b4:96:91:7a:01:10", "ice", "eth0"),)


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
