"""Hostile values for every string that can reach a file: each is refused, nothing written.

The old tool wrote ``GATEWAY=6.6.6.6`` into /etc/sysconfig/network when the hostname
held a newline. Here every field the metadata, ``-o``, ``--resolvers`` or
``PACKET_RESOLVERS`` can set gets newlines, CR, NUL and other control characters,
spaces, quotes, shell and Jinja2 syntax, very long values, wrong types and Unicode
look-alikes; each must give exit 50 (20 for ``-o``), exactly one line on stderr naming
the field and the value, no traceback, and a rootfs hashed identical before and after.
The big tables run ``cli.main`` in this process; a sample runs the real CLI process.
"""

from __future__ import annotations

import json
from pathlib import Path

import factories as f
import pytest
import safety
from treehash import snapshot

MAC0 = f.mac(0)
# document path (dots; digits index lists) -> (a valid value, the field the error names)
STRINGS = {
    "hostname": ("web-1", "hostname"),
    "network.interfaces.0.name": ("eth0", "network.interfaces[0].name"),
    "network.interfaces.1.bond": ("bond0", "network.interfaces[1].bond"),
    "network.interfaces.0.mac": (MAC0, "network.interfaces[0].mac"),
    "network.addresses.0.address": ("147.75.84.131", "network.addresses[0].address"),
    "network.addresses.0.gateway": ("147.75.84.130", "network.addresses[0].gateway"),
    "network.addresses.0.netmask": ("255.255.255.254", "network.addresses[0].netmask"),
    "network.addresses.1.address": ("2604:1380:4641:1f00::9", "network.addresses[1].address"),
    "network.addresses.1.gateway": ("2604:1380:4641:1f00::8", "network.addresses[1].gateway"),
    "network.addresses.1.netmask": (
        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe",
        "network.addresses[1].netmask",
    ),
    "network.addresses.2.address": ("10.70.17.9", "network.addresses[2].address"),
    "network.addresses.2.gateway": ("10.70.17.8", "network.addresses[2].gateway"),
    "private_subnets.0": ("10.0.0.0/8", "private_subnets[0]"),
    "network.bonding.link_aggregation": ("mlag_ha", "network.bonding.link_aggregation"),
    "plan": ("c3.medium.x86", "plan"),
    "operating_system.distro": ("debian", "operating_system.distro"),
    "operating_system.version": ("12", "operating_system.version"),
    "operating_system.slug": ("debian_12", "operating_system.slug"),
}
INJECTIONS = [
    "\n", "\r", "\0", "\x01", "\x1b[31m", "\x7f", "\t", " ", '"', "'", "\\",
    "$(reboot)", "`reboot`", ";reboot", "|reboot", "&reboot", "{{ 7*7 }}", "{% raw %}", "{#",
    "\u2028", "\u0085", "\ufeff", "\u200b", "\nGATEWAY=6.6.6.6", "\n    gateway 6.6.6.6",
    "%eth0", "%eth0\nnameserver 6.6.6.6", "/24",
]  # fmt: skip
# Characters that look like what they replace.
LOOKALIKES = {
    "hostname": ["w\u0435b-1", "web\u20101", "\uff57eb-1", "web-\uff11", "\u212aeb-1"],
    "network.interfaces.0.name": ["\u0435th0", "eth\uff10", "eth\u0660"],
    "network.interfaces.1.bond": ["b\u043end0", "bond\uff10"],
    "network.interfaces.0.mac": ["b4:96:91:7a:01:1\uff10", "\u0184:96:91:7a:01:10"],
    "network.addresses.0.address": ["\uff11\uff14\uff17.75.84.131", "147.75.84.\u0661\u0663\u0661",
                                    "147\u202475.84.131", "147.75.84.13\u00b9"],
    "network.addresses.0.gateway": ["147.75.84.13\uff10", "147.75.84.130\u200b"],
    "network.addresses.1.address": ["2604:1380:4641:1f00::\uff19", "2604\uff1a1380::9"],
    "network.addresses.2.address": ["10.70.17.\u0669", "\u2491.70.17.9"],
    "private_subnets.0": ["10.0.0.0/\uff18", "\uff11\uff10.0.0.0/8"],
    "plan": ["\u04413.medium.x86"],
    "operating_system.distro": ["d\u0435bian", "\u212aali"],
    "operating_system.version": ["\uff11\uff12", "1\u0662"],
    "network.bonding.link_aggregation": ["mlag\uff3fha", "bond\u0435d"],
}  # fmt: skip
INTS = {
    "network.bonding.mode": (4, "network.bonding.mode"),
    "network.addresses.0.cidr": (31, "network.addresses[0].cidr"),
    "network.addresses.1.cidr": (127, "network.addresses[1].cidr"),
    "network.addresses.0.address_family": (4, "network.addresses[0].address_family"),
}
BAD_INTS = ["4", "\uff14", "\u0664", 4.0, True, False, [4], {"v": 4}, -1, 10**30, "31\n"]
BOOLS = {
    "network.addresses.0.public": "network.addresses[0].public",
    "network.addresses.0.management": "network.addresses[0].management",
    "network.addresses.2.enabled": "network.addresses[2].enabled",
    "network.interfaces.0.dhcp": "network.interfaces[0].dhcp",
}
BAD_BOOLS = ["true", "false", 1, 0, [True], {"v": True}, "yes"]


def _string_cases() -> list:
    cases = []
    for path, (valid, field) in STRINGS.items():
        values = [valid + bad for bad in INJECTIONS] + [bad + valid for bad in INJECTIONS[:12]]
        values += [valid * 400, "a" * 100_000, [valid], {"value": valid}, 1, True, 1.5, [], 0]
        values += LOOKALIKES.get(path, [])
        cases += [(path, value, field) for value in values]
    return cases


def _typed_cases() -> list:
    cases = [(p, v, field) for p, (_, field) in INTS.items() for v in BAD_INTS]
    return cases + [(p, v, field) for p, field in BOOLS.items() for v in BAD_BOOLS]


CASES = _string_cases() + _typed_cases()
CASE_IDS = [f"{case[0]}-{n}" for n, case in enumerate(CASES)]


def _set(doc: dict, path: str, value: object) -> dict:
    node = doc
    *parents, last = path.split(".")
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
    node[int(last) if isinstance(node, list) else last] = value
    return doc


def _document(path: str, value: object) -> dict:
    doc = f.metadata(os=("debian", "12"), private_subnets=["10.0.0.0/8"])
    return _set(doc, path, value)


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    safety.old_rootfs(root)
    return root


def _refused(root: Path, argv: list[str], capsys, code: int) -> str:
    before = snapshot(root)
    got, stderr = safety.cli_inprocess(argv, capsys)
    assert got == code, stderr
    line = safety.one_line(stderr)
    assert snapshot(root) == before, "a refused run changed the rootfs"
    return line


@pytest.mark.parametrize("path, value, field", CASES, ids=CASE_IDS)
def test_hostile_metadata_value(tmp_path: Path, rootfs: Path, capsys, path, value, field):
    meta, nics = safety.inputs(tmp_path, _document(path, value))
    line = _refused(rootfs, safety.args(meta, nics, rootfs, "--resolvers", "1.1.1.1"), capsys, 50)
    assert line.startswith(f"packet-networking: invalid metadata: {field}="), line
    assert repr(value)[:30] in line, line  # the value is named, escaped onto one line


OS_OPTIONS = [
    "debian\n12", "debian\r12", "debian\t12", "debian 12\n", "debian\x0012", "debian 12;reboot",
    "debian $(reboot)", "debian `reboot`", "{{debian}} 12", "debian {%raw%}", "d\u0435bian 12",
    "debian \uff11\uff12", "debian 1\u0662", "\u212aali 2024", "debian\u200912", "debian\u2028 12",
    "debian 12 extra", "", "   ", "'debian' 12", "debian " + "1" * 300,
]  # fmt: skip


@pytest.mark.parametrize("value", OS_OPTIONS, ids=range(len(OS_OPTIONS)))
def test_hostile_operating_system_option(tmp_path: Path, rootfs: Path, capsys, value):
    meta, nics = safety.inputs(tmp_path)
    argv = safety.args(meta, nics, rootfs, "-o", value, "--resolvers", "1.1.1.1")
    line = _refused(rootfs, argv, capsys, 20)
    assert "-o/--operating-system" in line and repr(value)[:30] in line, line


RESOLVERS = [
    "1.1.1.1\nnameserver 6.6.6.6", "1.1.1.1;reboot", "1.1.1.1 8.8.8.8", "$(reboot)",
    "fe80::1%eth0", "2606:4700::1111%x\nnameserver 6.6.6.6", "\uff11.1.1.1", "1.1.1.\u0661",
    "1.1.1.1\x00", "1.1.1.1/32", "1.1.1.1\u2028", "{{ resolver }}", "999.1.1.1", "1" * 5000,
    "1.1.1.1,8.8.8.8\r", "8.8.8.8,`reboot`", "01.1.1.1", ",", " , ", ",,,",
]  # fmt: skip


@pytest.mark.parametrize("value", RESOLVERS, ids=range(len(RESOLVERS)))
def test_hostile_resolvers_option(tmp_path: Path, rootfs: Path, capsys, value):
    meta, nics = safety.inputs(tmp_path)
    argv = safety.args(meta, nics, rootfs, "-o", safety.OS, "--resolvers", value)
    line = _refused(rootfs, argv, capsys, 2)
    assert "usage error: --resolvers=" in line, line


@pytest.mark.parametrize("value", [v for v in RESOLVERS if "\0" not in v], ids=str)
def test_hostile_resolvers_environment(tmp_path, rootfs, capsys, monkeypatch, value):
    monkeypatch.setenv("PACKET_RESOLVERS", value)
    meta, nics = safety.inputs(tmp_path)
    line = _refused(rootfs, safety.args(meta, nics, rootfs, "-o", safety.OS), capsys, 2)
    assert "usage error: PACKET_RESOLVERS=" in line, line


def test_scoped_host_resolvers_are_skipped_not_written(tmp_path: Path):
    """The installer's own resolv.conf may name fe80::1%eth0: meaningless on the target."""
    from packetnetworking import source

    conf = tmp_path / "resolv.conf"
    conf.write_text("nameserver 127.0.0.53\nnameserver fe80::1%eth0\nnameserver 1.0.0.1\n")
    assert source.resolvers_from_host(str(conf)) == ["1.0.0.1"]


# The same refusals through the real CLI process, as a user runs it.
SUBPROCESS_SAMPLE = [
    ("hostname", "web-1\nGATEWAY=6.6.6.6", [], {}, 50, "hostname"),
    ("network.addresses.1.gateway", "2604:1380:4641:1f00::8%x\n gateway 6.6.6.6", [], {}, 50,
     "network.addresses[1].gateway"),
    ("network.bonding.mode", "4", [], {}, 50, "network.bonding.mode"),
    ("network.interfaces.1.bond", "bond0\n    up reboot", [], {}, 50, "network.interfaces[1].bond"),
    ("plan", "x" * 5000, [], {}, 50, "plan"),
    (None, None, ["-o", "debian\n12"], {}, 20, "-o/--operating-system"),
    (None, None, ["-o", safety.OS], {"PACKET_RESOLVERS": "1.1.1.1\nnameserver 6.6.6.6"}, 2,
     "PACKET_RESOLVERS"),
]  # fmt: skip


@pytest.mark.parametrize("path, value, extra, env, code, field", SUBPROCESS_SAMPLE)
def test_refused_by_the_real_process(tmp_path, rootfs, path, value, extra, env, code, field):
    doc = _document(path, value) if path else f.metadata()
    meta, nics = safety.inputs(tmp_path, doc)
    resolvers = [] if env else ["--resolvers", "1.1.1.1"]
    before = snapshot(rootfs)
    proc = safety.cli_subprocess(safety.args(meta, nics, rootfs, *resolvers, *extra), env=env)
    assert proc.returncode == code, proc.stderr
    line = safety.one_line(proc.stderr)
    assert field in line, line
    assert snapshot(rootfs) == before


def test_explicitly_empty_resolvers_option(tmp_path: Path, rootfs: Path, capsys):
    """``--resolvers ""`` asks for no resolvers at all: refused like ``,``; an empty
    PACKET_RESOLVERS is the variable unset (the host's resolvers are used)."""
    meta, nics = safety.inputs(tmp_path)
    argv = safety.args(meta, nics, rootfs, "-o", safety.OS, "--resolvers", "")
    line = _refused(rootfs, argv, capsys, 2)
    assert line == "packet-networking: usage error: --resolvers='': names no resolver"


# Every other option, as an attacker or a typo would fill it: one line, a documented
# code, never exit 1 or a traceback. {meta} {nics} {root} {tmp} are filled in.
OPTION_CASES = [
    (["--timeout", "inf"], 2, "argument --timeout: 'inf'"),
    (["--timeout", "nan"], 2, "argument --timeout: 'nan'"),
    (["--timeout", "1e300"], 2, "argument --timeout: '1e300'"),
    (["--timeout", "-1"], 2, "argument --timeout: '-1'"),
    (["--timeout", "0x10"], 2, "argument --timeout: '0x10' is not a number"),
    (["--retry-delay", "inf"], 2, "argument --retry-delay: 'inf'"),
    (["-n", "0"], 2, "argument -n/--max-attempts: '0'"),
    (["-n", "1e9"], 2, "argument -n/--max-attempts: '1e9' is not a whole number"),
    (["-n", "9" * 400], 2, "argument -n/--max-attempts: '999"),
    (["--log-format", "json\nforged line"], 2, "invalid choice: 'json\\nforged line'"),
    (["--bogus\nforged line"], 2, "unrecognized arguments: --bogus\\nforged line"),
    (["--backend", "eni\nforged"], 2, "argument --backend: unknown backend"),
    (["-M", "{tmp}/missing\nGATEWAY=6.6.6.6"], 10, "--metadata-file '{tmp}/missing\\nGATEWAY"),
    (["-M", "/dev/zero"], 10, "--metadata-file '/dev/zero': is a character device, not a file"),
    (["--nics", "{tmp}/deep.json"], 2, "--nics='{tmp}/deep.json': nests too deeply"),
    (["--nics", "/dev/zero"], 2, "--nics '/dev/zero': is a character device, not a file"),
    (["--nics", "{tmp}/missing\nforged"], 2, "--nics '{tmp}/missing\\nforged': No such file"),
    (["--nics", "{tmp}/lo.json"], 2, "--nics[1].name='lo': is a virtual device's name"),
    (["--nics", "{tmp}/bond.json"], 2, "--nics[1].name='bond0': is a virtual device's name"),
    (["--nics", "{tmp}/twice.json"], 2, "--nics[1] enp1s0f1.mac='b4:96:91:7a:01:10': is also "
                                         "the MAC of --nics[0] enp1s0f0"),
    (["--nics", "{tmp}/samename.json"], 2, "--nics[1].name='enp1s0f0': is also the name of "
                                            "--nics[0] b4:96:91:7a:01:10"),
    (["--audit-log", "/dev/full"], 2, "--audit-log '/dev/full': No space left on device"),
    (["--audit-log", "{tmp}/missing/\nlog"], 2, "--audit-log '{tmp}/missing/\\nlog'"),
    (["--dry-run", "--rootfs", ""], 2, "--rootfs '': an empty path"),
]  # fmt: skip


def _option_inputs(tmp_path: Path) -> None:
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    nic = {"name": "enp1s0f0", "mac": MAC0}
    for name, second in (
        ("lo", {"name": "lo", "mac": f.mac(1)}),
        ("bond", {"name": "bond0", "mac": f.mac(1)}),
        ("twice", {"name": "enp1s0f1", "mac": MAC0.upper()}),
        ("samename", {"name": "enp1s0f0", "mac": f.mac(1)}),
    ):
        (tmp_path / f"{name}.json").write_text(json.dumps([nic, second]))


@pytest.mark.parametrize("extra, code, words", OPTION_CASES, ids=range(len(OPTION_CASES)))
def test_hostile_option(tmp_path: Path, rootfs: Path, capsys, extra, code, words):
    meta, nics = safety.inputs(tmp_path)
    _option_inputs(tmp_path)
    names = {"meta": meta, "nics": nics, "root": rootfs, "tmp": tmp_path}
    argv = safety.default_args(meta, nics, rootfs, *(a.format(**names) for a in extra))
    line = _refused(rootfs, argv, capsys, code)
    assert words.format(**names) in line, line


def test_table_size():
    """The counts docs/safety.md quotes; printed with -s."""
    environment = [v for v in RESOLVERS if "\0" not in v]
    total = len(CASES) + len(OS_OPTIONS) + len(RESOLVERS) + len(environment)
    total += len(SUBPROCESS_SAMPLE) + len(OPTION_CASES) + 1
    print(f"hostile-input cases: {total} ({len(CASES)} metadata values over "
          f"{len(STRINGS) + len(INTS) + len(BOOLS)} fields)")  # fmt: skip
    assert len(CASES) > 500
