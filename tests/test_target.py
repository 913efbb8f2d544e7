"""Which OS: -o, the metadata's operating_system, or the rootfs's os-release."""

from __future__ import annotations

from pathlib import Path

import pytest

from packetnetworking import target
from packetnetworking.errors import MalformedOS
from packetnetworking.metadata import OperatingSystem


@pytest.mark.parametrize(
    "value, distro, version",
    [
        ("ubuntu 22.04", "ubuntu", "22.04"),
        ("  Ubuntu   22.04 ", "ubuntu", "22.04"),
        ("RedHatEnterprise 9.4", "redhatenterprise", "9.4"),
        ("flatcar stable", "flatcar", "stable"),
        ("debian n/a", "debian", None),
        ("n/a 12", "12", None),
        ("alpine", "alpine", None),
    ],
)
def test_from_option(value, distro, version):
    assert target.from_option(value) == target.Target(distro, version)


@pytest.mark.parametrize("value", ["", "n/a", "a b c", "ubuntu 22.04;", "ubuntu\n22.04x$"])
def test_malformed_option(value):
    with pytest.raises(MalformedOS):
        target.from_option(value)


def test_from_metadata():
    found = target.from_metadata(OperatingSystem("Ubuntu", "22.04", "ubuntu_22_04"))
    assert found == target.Target("ubuntu", "22.04")
    assert target.from_metadata(OperatingSystem(None, None, None)) is None
    assert target.from_metadata(OperatingSystem("debian")) == target.Target("debian", None)


def test_from_os_release(tmp_path: Path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/os-release").write_text(
        'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n'
    )
    assert target.from_os_release(tmp_path) == target.Target("debian", "12")


def test_os_release_is_read_not_trusted(tmp_path: Path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/os-release").write_text('ID="$(reboot)"\nVERSION_ID="1 2"\n')
    assert target.from_os_release(tmp_path) is None
    (tmp_path / "etc/os-release").unlink()
    (tmp_path / "etc/os-release").symlink_to("/etc/os-release")  # the host's: not ours to read
    assert target.from_os_release(tmp_path) is None


def test_version_tuple():
    assert target.version_tuple("22.04") == (22, 4)
    assert target.version_tuple("stable") is None and target.version_tuple(None) is None
