"""The one value check every renderer uses (renderers/values.py): each format refuses a
control character and the characters its own syntax gives a meaning, and passes the
values a Plan really holds."""

from __future__ import annotations

import re

import pytest

from packetnetworking.renderers import common, ifcfg, values

PLAIN = ["bond0", "b4:96:91:7a:01:10", "2604:1380:4641:1f00::8/127", "802.3ad", "147.75.1.2"]


@pytest.mark.parametrize("value", PLAIN)
def test_plain_values_pass_every_format(value: str):
    for special in ("", "'", '"\\', "[]=#;\"'\\"):
        assert values.checked(value, "x", special) == value
    assert common.checked([("Bond", (("Mode", value),))]) == [("Bond", (("Mode", value),))]
    assert ifcfg.quote(value) == f'"{value}"'


@pytest.mark.parametrize("bad", ["a\nb", "a\rb", "a\x00b", "a\x7fb", "a\tb"])
def test_a_control_character_is_refused_everywhere(bad: str):
    for special in ("", "'", '"\\'):
        with pytest.raises(ValueError, match="unsafe value for here"):
            values.checked(bad, "here", special)
    with pytest.raises(ValueError):
        ifcfg.quote(bad)


@pytest.mark.parametrize("char", list("[]=#;\"'\\"))
def test_ini_syntax_is_refused_in_a_section(char: str):
    with pytest.raises(ValueError, match=re.escape("[Bond] Mode")):
        common.checked([("Bond", (("Mode", f"802.3ad{char}x"),))])


def test_a_keyfile_list_may_hold_its_separator_only():
    sections = [("ipv4", (("dns", "1.1.1.1;8.8.8.8;"),))]
    assert common.checked(sections, list_values=True) == sections
    with pytest.raises(ValueError):
        common.checked(sections)
    with pytest.raises(ValueError):
        common.checked([("ipv4", (("dns", "1.1.1.1=x"),))], list_values=True)


def test_keys_must_match_their_pattern():
    with pytest.raises(ValueError, match="bad key for"):
        common.checked([("Bond", (("Mode x", "1"),))])
    assert values.checked_key("BONDING_OPTS", "f", re.compile("[A-Z_]+")) == "BONDING_OPTS"
