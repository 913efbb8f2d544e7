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
    ("ubuntu 24.10", "ubuntu.ubuntu"),
    ("ubuntu 25.04", "ubuntu.ubuntu"),
    ("ubuntu 25.10", "ubuntu.ubuntu"),
    ("ubuntu 26.04", "ubuntu.ubuntu"),
    ("sles 16.0", "suse.suse16"),
    ("opensuse-leap 16.0", "suse.suse16"),
    ("centos 9", "rhel.ifcfg_scripts"),
    ("centos-stream 9", "rhel.ifcfg_scripts"),
    ("centos 10", "fedora.rhel10"),
    ("custom_ipxe 1", "unmanaged.unmanaged"),
]


@pytest.mark.parametrize("os, builder", SELECTIONS)
def test_selects_the_intended_builder(os, builder):
    for mode in ("bonded", "individual", "dhcp"):
        assert registry.select(from_option(os), mode).id == builder


@pytest.mark.parametrize("os", ["debian 9", "ubuntu 16.04", "ubuntu 26.10", "debian", "beos 5"])
def test_unsupported_lists_what_is(os):
    with pytest.raises(NoBuilder) as caught:
        registry.select(from_option(os), "bonded")
    assert "debian 10-13" in str(caught.value) and "ubuntu 18.04-26.04" in str(caught.value)
    assert caught.value.exit_code == 40


def test_no_registrations_overlap():
    assert registry.overlaps() == []


def test_ranges():
    r = VersionRange.parse("7-9")
    assert (7,) in r and (8, 9) in r and (9, 4) in r and (10,) not in r and (6, 10) not in r
    assert None not in r
    u = VersionRange.parse("18.04-24.04")
    assert (22, 4) in u and (24, 10) not in u and (18, 4) in u and (18, 3) not in u
    assert u.below((24, 10)) and u.below((25,)) and not u.below((24, 4))
    assert not u.below((16, 4)) and not u.below(None)
    assert not VersionRange.parse("12+").below((99,)) and not VersionRange.parse("*").below((9,))
    assert (30,) in VersionRange.parse("12+") and (11,) not in VersionRange.parse("12+")
    assert None in VersionRange.parse("*")


def test_overlap_detection_catches_partial_overlap_and_allows_nesting():
    with registry.scoped():
        registry.distro("testos", versions="1-5")(lambda ctx: [])
        registry.distro("testos", versions="2-3")(lambda ctx: [])  # nested: fine
        assert registry.overlaps() == []
        assert registry.select(from_option("testos 2.5"), "bonded").versions.text == "2-3"
        assert registry.select(from_option("testos 4"), "bonded").versions.text == "1-5"
        registry.distro("testos", versions="5-7")(lambda ctx: [])  # partial: a bug
        problems = registry.overlaps()
        assert len(problems) == 1 and "testos 1-5" in problems[0] and "testos 5-7" in problems[0]


def test_a_name_claimed_by_two_families_is_caught():
    with registry.scoped():
        registry.distro("otheros", names=("debian",))(lambda ctx: [])
        assert any("claim" in p for p in registry.overlaps())


def test_unknown_mode_or_hook_point_is_refused():
    with pytest.raises(ValueError):
        registry.distro("x", modes=("bridged",))
    with pytest.raises(ValueError):
        registry.hook("before-lunch")


# ---------------------------------------------------------------------- forward policy


@pytest.mark.parametrize(
    "os, builder",
    [
        ("ubuntu 26.10", "ubuntu.ubuntu"),
        ("ubuntu 28.04", "ubuntu.ubuntu"),
        ("debian 14", "debian.debian"),
        ("sles 17", "suse.suse16"),
        ("opensuse-leap 17.0", "suse.suse16"),
        ("alpine 4", "alpine.alpine"),
    ],
)
def test_newest_below_offers_the_familys_newest_builder(os, builder):
    newest = registry.newest_below(from_option(os), "bonded")
    assert (newest.id if newest else None) == builder


@pytest.mark.parametrize(
    "os",
    [
        "debian 9",
        "ubuntu 16.04",
        "ubuntu 26.04",
        "debian",
        "ubuntu stable",
        "beos 5",
        "centos 99",
        "flatcar 9999",
    ],
)
def test_newest_below_is_none_unless_newer_than_every_release(os):
    """Older, known, unnumbered, unknown, or an open-ended family: no forward candidate."""
    assert registry.newest_below(from_option(os), "bonded") is None


def test_newest_below_takes_the_newest_of_several_ranges():
    with registry.scoped():
        registry.distro("testos", versions="5-7")(lambda ctx: [])
        registry.distro("testos", versions="1-4")(lambda ctx: [])
        assert registry.newest_below(from_option("testos 8"), "bonded").versions.text == "5-7"
        assert registry.newest_below(from_option("testos 4.5"), "bonded") is None  # a gap


def test_a_builder_registered_in_parts_is_named_by_its_whole_span():
    """Debian registers 10-11 and 12-13 (their formats differ): messages, the supported
    list and the forward policy's audit event still say "debian 10-13"."""
    debian = registry.select(from_option("debian 12"), "bonded")
    assert debian.versions.text == "12-13" and registry.span(debian) == "10-13"
    rhel7 = registry.select(from_option("rhel 7"), "bonded")
    assert registry.span(rhel7) == "7-9"
    with registry.scoped():

        def builder(ctx):
            return []

        registry.distro("testos", versions="1-2", backends=("eni",))(builder)
        registry.distro("testos", versions="3+", backends=("eni", "netplan"))(builder)
        registry.distro("testos", versions="0", backends=("eni",))(lambda ctx: [])  # another
        assert registry.span(registry.select(from_option("testos 4"), "bonded")) == "1+"
        assert registry.span(registry.select(from_option("testos 0"), "bonded")) == "0"
        assert "testos 0, 1+" in registry.supported()
