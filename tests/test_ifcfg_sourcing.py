"""ifcfg, route and network files as bash sees them (VALIDATION.md: no ifcfg reader on Debian).

Each file must pass ``bash -n`` and, sourced with ``set -u`` in ``env -i bash --noprofile
--norc``, define exactly the variables it spells out, with exactly those values. The
variable lists before and after are compared: an unquoted ``BONDING_OPTS=mode=4
miimon=100`` shows up as a stray ``miimon``. The negative tests prove the checker sees that.
"""

from __future__ import annotations

import re
from pathlib import Path

import factories as f
import pytest
from shell_tools import sourced
from test_rhel import CASES, TARGETS

from packetnetworking.renderers import ifcfg

# What a file may contain: comments without "=", blank lines, KEY="double-quoted value".
_LINE = re.compile(r'([A-Z][A-Z0-9_]*)="((?:[^"\\$`]|\\["\\$`])*)"')


def intended(text: str) -> dict[str, str]:
    """The variables a file spells out, parsed without bash; a malformed line fails."""
    values = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if line.startswith("#"):
            assert "=" not in line, f"line {number}: a comment with '=' fools the network service"
            continue
        match = _LINE.fullmatch(line)
        assert match, f'line {number} is not KEY="value": {line!r}'
        key, raw = match.groups()
        assert key not in values, f"line {number}: {key} twice"
        values[key] = re.sub(r"\\(.)", r"\1", raw)
    return values


def check(path: Path, tmp_path: Path, wanted: dict[str, str] | None = None) -> list[str]:
    """Everything wrong with one file as bash sources it; [] when it is right.

    ``wanted`` is what the file means to define; by default, what its lines spell out.
    """
    if wanted is None:
        try:
            wanted = intended(path.read_text())
        except AssertionError as exc:
            return [str(exc)]
    defined, problems = sourced(path, tmp_path)
    errors = [problems] if problems else []
    stray = sorted(set(defined) - set(wanted))
    if stray:
        errors.append(f"stray variables {stray}")
    errors += [
        f"{key}={defined.get(key)!r}, meant {value!r}"
        for key, value in wanted.items()
        if defined.get(key) != value
    ]
    return errors


def _shell_files(os_name: str, doc: dict) -> dict[str, str]:
    return {p: c for p, c in f.files(os_name, doc).items() if p.startswith("etc/sysconfig/")}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("os_name", [name for name in TARGETS if TARGETS[name] in (7, 9)])
def test_every_sysconfig_file_sources_cleanly(os_name, case, tmp_path):
    written = _shell_files(os_name, CASES[case])
    assert "etc/sysconfig/network" in written
    for relpath, content in written.items():
        path = tmp_path / "file"
        path.write_text(content)
        assert check(path, tmp_path) == [], relpath


def test_the_files_checked_cover_every_kind(tmp_path):
    names = {Path(p).name for p in _shell_files("centos 7", CASES["bonded"])}
    assert names == {
        "network",
        "ifcfg-bond0",
        "ifcfg-bond0:0",
        "route-bond0",
        "ifcfg-enp1s0f0",
        "ifcfg-enp1s0f1",
    }


HOSTILE = [
    "a b",
    "$(touch pwned)",
    "`touch pwned`",
    'say "hi"',
    "back\\slash",
    "$HOME",
    "it's",
    "a;b|c&d",
    "*",
    "~",
    "é",
    "${UNSET}",
    "\\$x",
    "trailing\\",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_quote_round_trips_through_bash(value, tmp_path):
    path = tmp_path / "file"
    path.write_text(ifcfg.keyfile("x", (("VALUE", value),)).content)
    defined, problems = sourced(path, tmp_path)
    assert (defined, problems) == ({"VALUE": value}, "")
    assert not (tmp_path / "pwned").exists()
    assert check(path, tmp_path) == []


@pytest.mark.parametrize("value", ["two\nlines", "nul\0", "tab\t", "bell\x07", "del\x7f"])
def test_quote_refuses_control_characters(value):
    with pytest.raises(ValueError):
        ifcfg.quote(value)


def test_keys_must_be_plain_names():
    with pytest.raises(ValueError):
        ifcfg.keyfile("x", (("BAD KEY", "v"),))


# The checker itself: each of these broken files must be caught.
def _checked(text: str, tmp_path: Path) -> list[str]:
    path = tmp_path / "broken"
    path.write_text(text)
    return check(path, tmp_path)


def test_checker_catches_an_unquoted_value_with_a_space(tmp_path):
    """The case VALIDATION.md describes: bash runs it without a word of complaint."""
    path = tmp_path / "broken"
    path.write_text('DEVICE="bond0"\nBONDING_OPTS=mode=4 miimon=100\n')
    meant = {"DEVICE": "bond0", "BONDING_OPTS": "mode=4 miimon=100"}
    assert check(path, tmp_path, meant) == [
        "stray variables ['miimon']",
        "BONDING_OPTS='mode=4', meant 'mode=4 miimon=100'",
    ]
    # The line grammar refuses the file before bash is even asked.
    assert any("is not KEY=" in e for e in check(path, tmp_path))


def test_checker_catches_a_command_run_by_an_unquoted_space(tmp_path):
    path = tmp_path / "broken"
    path.write_text("NAME=my bond\n")
    _, problems = sourced(path, tmp_path)
    assert "bond: command not found" in problems  # sourcing goes on: only stderr tells


def test_checker_catches_an_unset_variable_under_set_u(tmp_path):
    path = tmp_path / "broken"
    path.write_text('IPADDR="$NOT_SET"\n')
    _, problems = sourced(path, tmp_path)
    assert "NOT_SET" in problems and "unbound variable" in problems


def test_checker_catches_bad_syntax_and_comments_with_equals(tmp_path):
    assert _checked('DEVICE="bond0\n', tmp_path)
    assert _checked('# DEVICE="x" in a comment\nDEVICE="bond0"\n', tmp_path)


def test_checker_catches_a_value_bash_reads_differently(tmp_path):
    path = tmp_path / "broken"
    path.write_text('MASTER="bond0"\nMASTER="bond1"\n')
    assert any("twice" in e for e in check(path, tmp_path))
    path.write_text('HWADDR="aa"\n')
    assert check(path, tmp_path, {"HWADDR": "aa", "MASTER": "bond0"}) == [
        "MASTER=None, meant 'bond0'"
    ]


def test_one_route_per_private_subnet(tmp_path):
    doc = f.metadata(private_subnets=["10.0.0.0/8", "100.64.0.0/10"])
    route = f.files("rocky 9", doc)["etc/sysconfig/network-scripts/route-bond0"]
    path = tmp_path / "route-bond0"
    path.write_text(route)
    assert intended(route) == {
        "ADDRESS0": "10.0.0.0",
        "NETMASK0": "255.0.0.0",
        "GATEWAY0": "10.70.17.8",
        "ADDRESS1": "100.64.0.0",
        "NETMASK1": "255.192.0.0",
        "GATEWAY1": "10.70.17.8",
    }
    assert check(path, tmp_path) == []
