"""Hostile Hardware: every string field, and YAML's own attacks. Each is refused with
exit 50, one line on stderr naming the field (the Hardware's own path) and the value,
no traceback, and the rootfs hashed identical before and after.

The string table is tests/test_hostile_input.py's (the same injections, long values,
wrong types and look-alikes) over the Hardware's fields, written as YAML (PyYAML's
dumper escapes every control and non-ASCII character, so each value arrives intact).
The YAML attacks: duplicate keys, python and other non-core tags, alias bombs and
recursive aliases, 100 000 levels of nesting (YAML and JSON), a document over 4 MiB,
bytes that are not UTF-8, and values YAML 1.1 would retype.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import safety
import yaml
from test_hostile_input import INJECTIONS
from treehash import snapshot

SAMPLE = Path(__file__).parent / "data" / "hardware-samples" / "pr395-bond.yaml"
MACS = ("b8:cb:29:98:cb:3a", "b8:cb:29:98:cb:3b")


def base() -> dict:
    """PR #395's bond with every optional field the mapping reads filled in."""
    doc = yaml.safe_load(SAMPLE.read_text())
    meta = doc["spec"]["metadata"]
    meta["instance"]["operating_system"] = {"distro": "ubuntu", "version": "22.04",
                                            "os_slug": "ubuntu_22_04"}  # fmt: skip
    meta["facility"] = {"plan_slug": "m3.large.x86"}
    meta["custom"] = {"private_subnets": ["10.0.0.0/8"]}
    first, second = (i["dhcp"] for i in doc["spec"]["interfaces"])
    first["ip"] = {"address": "192.168.1.10", "netmask": "255.255.255.0", "gateway": "192.168.1.1"}
    second["iface_name"] = "eno2"
    # A bond's members agree on their VLAN (the Plan refuses a bond they split).
    first["vlan_id"] = second["vlan_id"] = "100"
    return doc


def _no_hostname(doc: dict) -> dict:
    del doc["spec"]["metadata"]["instance"]["hostname"]
    return doc


IPS = "spec.metadata.instance.ips"
# document path (dots; digits index lists) -> (a valid value, the field the error names)
STRINGS = {
    "spec.metadata.instance.hostname": ("server001.example.com",
                                        "spec.metadata.instance.hostname"),
    "spec.interfaces.0.dhcp.mac": (MACS[0], "spec.interfaces[0].dhcp.mac"),
    "spec.interfaces.1.dhcp.mac": (MACS[1], "spec.interfaces[1].dhcp.mac"),
    "spec.interfaces.1.dhcp.iface_name": ("eno2", "spec.interfaces[1].dhcp.iface_name"),
    "spec.interfaces.1.dhcp.vlan_id": ("100", "spec.interfaces[1].dhcp.vlan_id"),
    "spec.interfaces.0.dhcp.name_servers.2": ("2606:4700:4700::1111",
                                              "spec.interfaces[0].dhcp.name_servers[2]"),
    "spec.interfaces.0.dhcp.ip.address": ("192.168.1.10", "spec.interfaces[0].dhcp.ip.address"),
    "spec.interfaces.0.dhcp.ip.netmask": ("255.255.255.0",
                                          "spec.interfaces[0].dhcp.ip.netmask"),
    "spec.interfaces.0.dhcp.ip.gateway": ("192.168.1.1", "spec.interfaces[0].dhcp.ip.gateway"),
    f"{IPS}.0.address": ("192.168.1.10", f"{IPS}[0].address"),
    f"{IPS}.0.netmask": ("255.255.255.0", f"{IPS}[0].netmask"),
    f"{IPS}.0.gateway": ("192.168.1.1", f"{IPS}[0].gateway"),
    f"{IPS}.1.address": ("2001:db8::10/64", f"{IPS}[1].address"),
    f"{IPS}.1.gateway": ("2001:db8::1", f"{IPS}[1].gateway"),
    "spec.metadata.custom.private_subnets.0": ("10.0.0.0/8",
                                               "spec.metadata.custom.private_subnets[0]"),
    "spec.metadata.facility.plan_slug": ("m3.large.x86", "spec.metadata.facility.plan_slug"),
    "spec.metadata.instance.operating_system.distro": (
        "ubuntu", "spec.metadata.instance.operating_system.distro"),
    "spec.metadata.instance.operating_system.version": (
        "22.04", "spec.metadata.instance.operating_system.version"),
    "spec.metadata.instance.operating_system.os_slug": (
        "ubuntu_22_04", "spec.metadata.instance.operating_system.os_slug"),
    # Read when nothing else names the host: then it is checked like the others.
    "spec.interfaces.1.dhcp.hostname": ("server-2", "spec.interfaces[1].dhcp.hostname"),
    "metadata.name": ("server-001", "metadata.name"),
}  # fmt: skip
PREPARE = {
    "spec.interfaces.1.dhcp.hostname": _no_hostname,
    "metadata.name": _no_hostname,
}
LOOKALIKES = {
    "spec.metadata.instance.hostname": ["s\u0435rver001.example.com", "server\uff10\uff10\uff11"],
    "spec.interfaces.0.dhcp.mac": ["b8:cb:29:98:cb:3\uff41", "\u0185:cb:29:98:cb:3a"],
    "spec.interfaces.1.dhcp.vlan_id": ["\uff11\uff10\uff10", "\u0661\u0660\u0660", "1\u00b9"],
    f"{IPS}.0.address": ["192.168.1.\uff11\uff10", "192\u2024168.1.10"],
    f"{IPS}.1.address": ["2001:db8::10/\uff16\uff14", "2001:db8::\uff11\uff10/64"],
    "spec.metadata.facility.plan_slug": ["m3\u2024large.x86"],
}
# Values a prefix may legitimately follow: "/24" after an instance address is a prefix.
PREFIXED = {f"{IPS}.0.address", f"{IPS}.1.address", "spec.interfaces.0.dhcp.ip.address"}


def _cases() -> list:
    cases = []
    for path, (valid, field) in STRINGS.items():
        bad = [b for b in INJECTIONS if not (path in PREFIXED and b == "/24")]
        values = [valid + b for b in bad] + [b + valid for b in INJECTIONS[:12]]
        values += [valid * 400, "a" * 100_000, [valid], {"value": valid}, 1, True, 1.5, [], 0]
        values += LOOKALIKES.get(path, [])
        cases += [(path, value, field) for value in values]
    return cases


CASES = _cases()


def _set(doc: dict, path: str, value: object) -> dict:
    node = doc
    *parents, last = path.split(".")
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
    node[int(last) if isinstance(node, list) else last] = value
    return doc


def _inputs(tmp_path: Path, body: bytes) -> tuple[Path, Path]:
    meta = tmp_path / "hardware.yaml"
    meta.write_bytes(body)
    nics = tmp_path / "nics.json"
    nics.write_text(json.dumps([{"name": f"enp1s0f{i}", "mac": m} for i, m in enumerate(MACS)]))
    return meta, nics


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    safety.old_rootfs(root)
    return root


def _refused(tmp_path: Path, root: Path, body: bytes, capsys) -> str:
    meta, nics = _inputs(tmp_path, body)
    before = snapshot(root)
    argv = safety.args(meta, nics, root, "-o", "ubuntu 22.04", "--resolvers", "1.1.1.1")
    code, stderr = safety.cli_inprocess(argv, capsys)
    assert code == 50, stderr
    assert snapshot(root) == before, "a refused run changed the rootfs"
    return safety.one_line(stderr)


def test_the_base_document_is_configured(tmp_path: Path, rootfs: Path, capsys):
    """The control: without a hostile value, the same run succeeds."""
    meta, nics = _inputs(tmp_path, yaml.safe_dump(base()).encode())
    argv = safety.args(meta, nics, rootfs, "-o", "ubuntu 22.04", "--resolvers", "1.1.1.1")
    code, stderr = safety.cli_inprocess(argv, capsys)
    assert code == 0, stderr


@pytest.mark.parametrize("path, value, field", CASES,
                         ids=[f"{c[0]}-{n}" for n, c in enumerate(CASES)])  # fmt: skip
def test_hostile_hardware_value(tmp_path: Path, rootfs: Path, capsys, path, value, field):
    doc = _set(PREPARE.get(path, lambda d: d)(copy.deepcopy(base())), path, value)
    line = _refused(tmp_path, rootfs, yaml.safe_dump(doc).encode(), capsys)
    assert line.startswith(f"packet-networking: invalid metadata: {field}="), line
    assert repr(value)[:30] in line, line


def _bomb(levels: int = 9) -> bytes:
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for n in range(1, levels):
        lines.append(f"l{n}: &l{n} [" + ", ".join([f"*l{n - 1}"] * 9) + "]")
    return ("\n".join(lines) + "\n").encode()


HEADER = b"apiVersion: tinkerbell.org/v1alpha1\nkind: Hardware\n"
YAML_ATTACKS = {
    "duplicate key": (HEADER + b"kind: Hardware\n", "appears twice"),
    "duplicate mac": (HEADER + b"spec:\n  interfaces:\n  - dhcp:\n      mac: b8:cb:29:98:cb:3a\n"
                      b"      mac: 02:00:00:00:00:01\n", "'mac' appears twice"),
    "python object": (b"a: !!python/object/apply:os.system ['touch /tmp/pwned']\n", "python"),
    "python name": (b"a: !!python/name:os.system\n", "not allowed"),
    "local tag": (HEADER + b"spec: !hardware {}\n", "'!hardware' is not allowed"),
    "binary": (b"a: !!binary aGVsbG8=\n", "binary"),
    "set": (b"a: !!set {x, y}\n", "set"),
    "merge": (b"a: &a {x: 1}\nb: {!!merge <<: *a}\n", "merge"),
    "alias bomb": (_bomb(), "aliases"),
    "recursive alias": (b"a: &a [*a]\n", "contains it"),
    "deep flow": (b"a: " + b"[" * 100_000, "nests deeper than 64"),
    "deep mapping": (b"a: " + b"{a: " * 100_000, "nests deeper than 64"),
    "deep json": (b'{"apiVersion": "tinkerbell.org/v1alpha1", "a": ' + b"[" * 100_000,
                  "not JSON"),
    "not utf-8": (HEADER + b"metadata: {name: \xff\xfe}\n", "metadata="),
    "unclosed": (HEADER + b'metadata: {name: "x\n', "metadata="),
    "tab indent": (HEADER + b"spec:\n\tinterfaces: []\n", "metadata="),
    "list of scalars": (b"- a\n- b\n", "metadata="),
    "unhashable key": (HEADER + b"? [a]\n: b\n", "metadata="),
    "only separators": (b"---\n---\n", "holds no Hardware"),
    "yes is a bool": (yaml.safe_dump(base()).replace("eno2", "no").encode(),
                      "spec.interfaces[1].dhcp.iface_name=False"),
    "over 4 MiB": (HEADER + b"# " + b"x" * (4 * 2**20) + b"\n", "is too large"),
}  # fmt: skip


@pytest.mark.parametrize("name", YAML_ATTACKS)
def test_yaml_attack(tmp_path: Path, rootfs: Path, capsys, name):
    body, words = YAML_ATTACKS[name]
    line = _refused(tmp_path, rootfs, body, capsys)
    assert line.startswith("packet-networking: invalid metadata: "), line
    assert words in line, line


def test_a_mac_yaml_1_1_would_read_as_a_number(tmp_path: Path, rootfs: Path, capsys):
    """Sexagesimal 10:20:30:40:50:51 is an integer to YAML 1.1; here it stays a MAC."""
    body = yaml.safe_dump(base()).replace(MACS[0], "10:20:30:40:50:51").encode()
    assert b"mac: 10:20:30:40:50:51" in body  # unquoted, as people write it
    meta, nics = _inputs(tmp_path, body)
    nics.write_text(json.dumps([{"name": "eno1", "mac": "10:20:30:40:50:51"}]))
    argv = safety.args(meta, nics, rootfs, "-o", "debian 12", "--resolvers", "1.1.1.1")
    code, stderr = safety.cli_inprocess(argv, capsys)
    assert code == 0, stderr
    assert (
        'ATTR{address}=="10:20:30:40:50:51"'
        in (rootfs / "etc/udev/rules.d/70-persistent-net.rules").read_text()
    )


@pytest.mark.parametrize("name", ["python object", "alias bomb", "deep flow", "over 4 MiB"])
def test_refused_by_the_real_process(tmp_path: Path, rootfs: Path, name):
    body, words = YAML_ATTACKS[name]
    meta, nics = _inputs(tmp_path, body)
    before = snapshot(rootfs)
    proc = safety.cli_subprocess(safety.default_args(meta, nics, rootfs))
    assert proc.returncode == 50, proc.stderr
    assert words in safety.one_line(proc.stderr)
    assert snapshot(rootfs) == before


def test_table_size():
    assert len(CASES) == 1038 and len(YAML_ATTACKS) == 21
