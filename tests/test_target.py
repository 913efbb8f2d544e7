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


@pytest.mark.parametrize(
    "slug, expected",
    [
        ("ubuntu_26_04", ("ubuntu", "26.04")),
        ("ubuntu_24_10", ("ubuntu", "24.10")),
        ("rocky_9", ("rocky", "9")),
        ("alma_9", ("alma", "9")),
        ("centos_9_stream", ("centos", "9")),
        ("centos_stream_10", ("centos", "10")),
        ("opensuse_42_3", ("opensuse", "42.3")),
        ("vmware_esxi_7_0", ("vmware_esxi", "7.0")),
        # Not a name and a numeric version: not guessed at.
        ("flatcar_stable", None),
        ("suse_sles12_sp3", None),
        ("custom_ipxe", None),
        ("ubuntu_20_04_legacy", None),
        ("9_1", None),
        ("stream_9", None),
    ],
)
def test_from_slug(slug, expected):
    found = target.from_slug(slug)
    assert (None if found is None else (found.distro, found.version)) == expected


def test_the_slug_stands_in_for_what_the_metadata_lacks():
    slug, found = "ubuntu_26_04", target.Target("ubuntu", "26.04")
    assert target.from_metadata(OperatingSystem(None, None, slug)) == found
    assert target.from_metadata(OperatingSystem("Ubuntu", None, slug)) == found
    # The metadata's own version wins; a slug of another distro lends nothing.
    assert target.from_metadata(OperatingSystem("ubuntu", "24.04", slug)).version == "24.04"
    debian = target.from_metadata(OperatingSystem("debian", None, slug))
    assert debian == target.Target("debian", None)
    # No usable slug and no distro: None, so the os-release decides, as before.
    assert target.from_metadata(OperatingSystem(None, None, "flatcar_stable")) is None


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
