"""Builder selection by (family, version range, network mode), and overlap detection."""

from __future__ import annotations

import pytest

from packetnetworking import registry
from packetnetworking.errors import NoBuilder
from packetnetworking.registry import VersionRange
from packetnetworking.target import from_option

SELECTIONS = [
    ("debian 10", "debian.debian"),
    ("Debian 12", "debian.debian"),
    ("debian 13", "debian.debian"),
    ("ubuntu 18.04", "ubuntu.ubuntu"),
    ("UBUNTU 22.04", "ubuntu.ubuntu"),
    ("ubuntu 24.04", "ubuntu.ubuntu"),
    ("custom_ipxe 1", "unmanaged.unmanaged"),
]


@pytest.mark.parametrize("os, builder", SELECTIONS)
def test_selects_the_intended_builder(os, builder):
    for mode in ("bonded", "individual", "dhcp"):
        assert registry.select(from_option(os), mode).id == builder


@pytest.mark.parametrize("os", ["debian 9", "ubuntu 16.04", "ubuntu 24.10", "debian", "beos 5"])
def test_unsupported_lists_what_is(os):
    with pytest.raises(NoBuilder) as caught:
        registry.select(from_option(os), "bonded")
    assert "debian 10-13" in str(caught.value) and "ubuntu 18.04-24.04" in str(caught.value)
    assert caught.value.exit_code == 40


def test_no_registrations_overlap():
    assert registry.overlaps() == []


def test_ranges():
    r = VersionRange.parse("7-9")
    assert (7,) in r and (8, 9) in r and (9, 4) in r and (10,) not in r and (6, 10) not in r
    assert None not in r
    u = VersionRange.parse("18.04-24.04")
    assert (22, 4) in u and (24, 10) not in u and (18, 4) in u and (18, 3) not in u
    assert (30,) in VersionRange.parse("12+") and (11,) not in VersionRange.parse("12+")
    assert None in VersionRange.parse("*")


def test_overlap_detection_catches_partial_overlap_and_allows_nesting():
    saved = list(registry._builders)
    try:
        registry.distro("testos", versions="1-5")(lambda ctx: [])
        registry.distro("testos", versions="2-3")(lambda ctx: [])  # nested: fine
        assert registry.overlaps() == []
        assert registry.select(from_option("testos 2.5"), "bonded").versions.text == "2-3"
        assert registry.select(from_option("testos 4"), "bonded").versions.text == "1-5"
        registry.distro("testos", versions="5-7")(lambda ctx: [])  # partial: a bug
        problems = registry.overlaps()
        assert len(problems) == 1 and "testos 1-5" in problems[0] and "testos 5-7" in problems[0]
    finally:
        registry._builders[:] = saved


def test_a_name_claimed_by_two_families_is_caught():
    saved = list(registry._builders)
    try:
        registry.distro("otheros", names=("debian",))(lambda ctx: [])
        assert any("claim" in p for p in registry.overlaps())
    finally:
        registry._builders[:] = saved


def test_unknown_mode_or_hook_point_is_refused():
    with pytest.raises(ValueError):
        registry.distro("x", modes=("bridged",))
    with pytest.raises(ValueError):
        registry.hook("before-lunch")
