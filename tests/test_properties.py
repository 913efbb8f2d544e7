"""Property: any metadata document is either configured, readably, or refused cleanly.

Hypothesis generates documents shaped like Equinix Metal's (one to four NICs, one or
two bonds, every aggregation and bond mode, any mix of public/private IPv4 and IPv6 in
networks of many sizes, private subnets, DHCP) and then mutates one field of them into
something hostile or absent. For each, the real CLI entry point (``cli.main``) must:

* exit 0, and Debian's own ifupdown (``ifquery``) reads the interfaces file back, every
  listed interface included, and the other files hold only the lines they should; or
* exit 50 with one line naming a field; or 60 if no interface's MAC is left to match;

never a traceback, and nothing in the rootfs after a refusal.
"""

from __future__ import annotations

import ipaddress
import re
import subprocess
import tempfile
from pathlib import Path

import factories as f
import pytest
import safety
from eni_tools import ifquery, ifquery_list, require_ifupdown
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from treehash import snapshot

VALID_EXAMPLES = 150
MUTATED_EXAMPLES = 350
SETTINGS = settings(
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
COUNTS = {"valid": 0, "mutated": 0, "written": 0, "refused": 0, "unmatched": 0}

LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,12}[a-z0-9])?", fullmatch=True)
HOSTNAME = st.lists(LABEL, min_size=1, max_size=3).map(".".join)


@st.composite
def _address(draw, family: int, public: bool) -> dict:
    if family == 4:
        prefix = draw(st.integers(24 if public else 8, 31))
        base = ipaddress.ip_address("10.0.0.0") if not public else ipaddress.ip_address("147.0.0.0")
        start = int(base) + draw(st.integers(0, 2**24 - 1))
    else:
        prefix = draw(st.integers(56, 127))
        start = int(ipaddress.ip_address("2604:1380::")) + draw(st.integers(0, 2**72))
    network = ipaddress.ip_interface(f"{ipaddress.ip_address(start)}/{prefix}").network
    gateway = network[0] if network.num_addresses == 2 else network[1]
    address = network[-1] if network.num_addresses == 2 else network[draw(st.integers(2, 3))]
    entry = {
        "address_family": family, "public": public, "management": True, "enabled": True,
        "address": draw(st.sampled_from([str(address), address.exploded])), "cidr": prefix,
        "gateway": draw(st.sampled_from([str(gateway), gateway.exploded])),
        "network": str(network.network_address),
    }  # fmt: skip
    if draw(st.booleans()):
        entry["netmask"] = str(network.netmask) if family == 4 else network.netmask.exploded
    return entry


@st.composite
def documents(draw) -> dict:
    nics = draw(st.integers(1, 4))
    bonds = draw(st.lists(st.sampled_from(["bond0", "bond1"]), min_size=nics, max_size=nics))
    doc = f.metadata(
        nics=nics,
        bonds=bonds,
        aggregation=draw(st.sampled_from(["bonded", "mlag_ha", "individual", None])),
        mode=draw(st.integers(0, 6)),
        public4=False, public6=False, private4=False,
        dhcp=draw(st.integers(0, 9)) == 0,
        hostname=draw(HOSTNAME),
        plan=draw(st.sampled_from(["c3.medium.x86", "x1.small.x86", "baremetal_hua", "m3"])),
        private_subnets=draw(st.none() | st.lists(_subnet(), max_size=3)),
    )  # fmt: skip
    wanted = [(4, True), (6, True), (4, False)]
    addresses = [draw(_address(*kind)) for kind in wanted if draw(st.booleans())]
    doc["network"]["addresses"] = draw(st.permutations(addresses))
    if draw(st.booleans()):
        del doc["network"]["bonding"]["link_aggregation"]
    return doc


def _subnet():
    return st.builds(
        lambda n, p: str(ipaddress.ip_network(f"{ipaddress.ip_address(n)}/{p}", strict=False)),
        st.integers(0, 2**32 - 1),
        st.integers(8, 32),
    )


HOSTILE = [
    "\n", "x\nGATEWAY=6.6.6.6", "\r", "\0", "\x1b", " ", '"', "'", "$(reboot)", "`id`", ";",
    "{{ 7*7 }}", "{% if %}", "\u2028", "w\u0435b", "\uff11", "lo", "eth0", "enp1s0f0",
    "bond0:0", "fe80::1%eth0", "2604:1380::1%x y", "10.0.0.0/8", "255.255.255.255", "a" * 300,
]  # fmt: skip
JUNK = (
    st.sampled_from(HOSTILE)
    | st.text(max_size=20)
    | st.integers(-(2**40), 2**40)
    | st.booleans()
    | st.none()
    | st.floats()
    | st.lists(st.integers(0, 9), max_size=2)
    | st.dictionaries(st.sampled_from(["a", "mode"]), st.integers(), max_size=1)
)


def _paths(node, prefix=()) -> list[tuple]:
    """Every key path in the document, inner nodes included."""
    items = node.items() if isinstance(node, dict) else enumerate(node)
    found = []
    for key, value in items:
        found.append((*prefix, key))
        if isinstance(value, (dict, list)):
            found += _paths(value, (*prefix, key))
    return found


@st.composite
def mutated(draw) -> dict:
    doc = draw(documents())
    path = draw(st.sampled_from(_paths(doc)))
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    if draw(st.integers(0, 4)) == 0:
        del parent[path[-1]]
    else:
        old = parent[path[-1]]
        junk = draw(JUNK)
        if isinstance(old, str) and isinstance(junk, str) and draw(st.booleans()):
            junk = old + junk  # a valid value with something after it
        parent[path[-1]] = junk
    return doc


def _check(doc: dict, capsys, must_write: bool = False) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        root = tmp_path / "root"
        root.mkdir()
        meta, nics = safety.inputs(tmp_path, doc, nics=4)
        argv = safety.default_args(meta, nics, root, "-q")
        code, stderr = safety.cli_inprocess(argv, capsys)
        assert "Traceback" not in stderr and "internal error" not in stderr, stderr
        assert code == 0 or not must_write, stderr
        if code == 0:
            COUNTS["written"] += 1
            _files_read_back(root)
            return
        line = safety.one_line(stderr)
        assert snapshot(root) == {}, f"exit {code} left files behind"
        if code == 60:
            COUNTS["unmatched"] += 1
            assert "no metadata interface matches a host NIC" in line
            return
        assert code == 50, stderr
        COUNTS["refused"] += 1
        assert re.match(r"packet-networking: invalid metadata: [\w.\[\]-]+=", line), line


def _files_read_back(root: Path) -> None:
    eni = root / "etc/network/interfaces"
    text = eni.read_text()
    assert text.isascii() and all(line.isprintable() for line in text.splitlines()), text
    listed = ifquery_list(eni) + ifquery_list(eni, allow="hotplug")
    assert "lo" in listed
    link = "bond0" if "bond0" in listed else listed[1]
    ifquery(eni, link)  # asserts exit 0 and a quiet stderr
    # Every listed interface in one ifquery call: exit 1 on any structural error.
    every = subprocess.run(
        ["ifquery", "-i", str(eni), *dict.fromkeys(listed)], capture_output=True, timeout=30
    )
    assert every.returncode == 0 and not every.stderr, every.stderr
    _sane_stanzas(text)
    hostname = (root / "etc/hostname").read_text()
    # RFC 1123 names are case-insensitive and written as given: "A" is a valid hostname.
    assert re.fullmatch(r"[A-Za-z0-9.-]+\n", hostname), hostname
    for line in (root / "etc/resolv.conf").read_text().splitlines():
        assert re.fullmatch(r"# .*|nameserver [0-9a-f.:]+", line), line
    for line in (root / "etc/hosts").read_text().splitlines():
        assert re.fullmatch(r"# .*|[0-9a-f.:]+(\t[\w.:-]+)+", line), line


def _sane_stanzas(text: str) -> None:
    """What ifupdown accepts but no server comes up with: "lo" as anything but loopback,
    a bond that is also a member (of itself or another bond)."""
    stanzas = re.findall(r"^iface (\S+) (\S+) (\S+)$", text, re.M)
    assert {name for name, _, method in stanzas if method == "loopback"} == {"lo"}
    assert [method for name, _, method in stanzas if name == "lo"] == ["loopback"]
    masters = set(re.findall(r"^    bond-master (\S+)$", text, re.M))
    members = set(re.findall(r"^iface (\S+) inet manual\n    bond-master ", text, re.M))
    assert all(re.fullmatch(r"bond\d+", m) for m in masters) and not masters & members, text


@pytest.fixture(autouse=True)
def _ifupdown():
    require_ifupdown()


@settings(SETTINGS, max_examples=VALID_EXAMPLES)
@given(doc=documents())
def _generated(doc, capsys):
    COUNTS["valid"] += 1
    _check(doc, capsys, must_write=True)


@settings(SETTINGS, max_examples=MUTATED_EXAMPLES)
@given(doc=mutated())
def _mutated(doc, capsys):
    COUNTS["mutated"] += 1
    _check(doc, capsys)


def _counted(prop, capsys) -> None:
    """Run a property and print (with -s) what its documents came to: the numbers the
    docs/safety.md quotes. Each test counts its own run, alone or in a suite."""
    before = dict(COUNTS)
    prop(capsys=capsys)
    ran = {key: COUNTS[key] - before[key] for key in COUNTS}
    print(f"hypothesis documents ({prop.__name__.strip('_')}): {ran}")
    assert ran["valid"] + ran["mutated"] > 0


def test_generated_documents_configure_readably(capsys):
    _counted(_generated, capsys)


def test_mutated_documents_configure_or_refuse(capsys):
    _counted(_mutated, capsys)
