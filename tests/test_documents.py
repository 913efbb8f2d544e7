"""Which input format a document is, and which Hardware is this host's (metadata/documents.py):
Tinkerbell v1alpha1 and v1alpha2, the Template's shapes, lists and multi-document YAML
chosen by the host's NICs, an Equinix document in YAML, and where a YAML document may
come from (a file, a URL, the CLI); PyYAML is loaded only for a document that is not JSON.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hardware_docs import addresses, dump, hardware, ips, parse, refused, sample
from test_fetch import serve  # noqa: F401, F811  (the fixture)

from packetnetworking.errors import NoMatchingNic
from packetnetworking.metadata import documents


def test_v1alpha2_is_read():
    doc = {
        "apiVersion": "tinkerbell.org/v1alpha2", "kind": "Hardware",
        "metadata": {"name": "sm01"},
        "spec": {"networkInterfaces": {
            "52:54:00:41:05:c6": {
                "dhcp": {"v4": {"hostname": "sm01", "nameservers": ["1.1.1.1"],
                                "vlanID": "12"}},
                "ipam": {"ipv4": {"address": "192.168.2.17", "gateway": "192.168.2.1",
                                  "prefix": "24"},
                         "ipv6": {"address": "2001:db8::17", "prefix": "64"}}},
            "52:54:00:41:05:c7": {"ipam": {"ipv4": {"address": "10.4.0.2", "prefix": "16"}}},
        }},
    }  # fmt: skip
    meta = parse(dump(doc))
    assert meta.hostname == "sm01"
    assert addresses(meta) == [("192.168.2.17/24", "192.168.2.1", False, True),
                               ("2001:db8::17/64", None, True, True)]  # fmt: skip
    first, second = meta.interfaces
    assert (first.mac, first.vlan, first.address) == ("52:54:00:41:05:c6", 12, None)
    assert str(second.address.interface) == "10.4.0.2/16"
    assert meta.resolvers == ips("1.1.1.1")
    doc["spec"]["networkInterfaces"]["52:54:00:41:05:c7"]["ipam"]["ipv4"]["prefix"] = "x"
    error = refused(dump(doc))
    assert error.field == "spec.networkInterfaces['52:54:00:41:05:c7'].ipam.ipv4.address"


def test_another_version_is_refused_by_name():
    doc = hardware()
    doc["apiVersion"] = "tinkerbell.org/v1beta1"
    error = refused(dump(doc))
    assert (error.field, error.value) == ("apiVersion", "tinkerbell.org/v1beta1")


def test_template_shapes():
    """What a workflow Template's toJson .hardware and toJson .Hardware give."""
    doc = hardware()
    lower = {k: v for k, v in doc.items() if k not in ("apiVersion", "kind")}
    assert parse(json.dumps(lower).encode()) == parse(dump(doc))
    legacy = {"Disks": [], "Interfaces": doc["spec"]["interfaces"],
              "Metadata": doc["spec"]["metadata"], "UserData": "", "VendorData": ""}  # fmt: skip
    assert documents.kind(legacy) == "template-data"
    assert parse(json.dumps(legacy).encode()) == parse(dump(doc))
    legacy["Interfaces"][0]["dhcp"]["mac"] = "nope"
    assert refused(json.dumps(legacy).encode()).field == "Interfaces[0].dhcp.mac"


def _list(*docs: dict, kind: str = "List") -> bytes:
    return json.dumps({"apiVersion": "v1", "kind": kind, "items": list(docs)}).encode()


def test_several_hardware_the_host_nics_choose():
    a, b = hardware("pr395-bond.yaml"), hardware("capt-quickstart.yaml")
    for body in (_list(a, b), _list(a, b, kind="HardwareList"), dump(a) + b"---\n" + dump(b)):
        assert parse(body, "b8:59:9f:e0:4a:10").hostname == "node-1"
        assert parse(body, "B8:CB:29:98:CB:3B").hostname == "server001.example.com"
        with pytest.raises(NoMatchingNic) as none:
            parse(body, "02:00:00:00:00:01")
        assert "b8:59:9f:e0:4a:10" in str(none.value) and "02:00:00:00:00:01" in str(none.value)
        error = refused(body, "b8:59:9f:e0:4a:10", "b8:cb:29:98:cb:3a")
        assert "node-1" in str(error) and "server-001" in str(error)


def test_one_hardware_needs_no_host_nics():
    """Only a choice looks at the host: a single document keeps the old order of checks."""

    def no_nics() -> tuple:
        raise AssertionError("host NICs looked at")

    assert documents.parse(sample("capt-quickstart.yaml"), no_nics).hostname == "node-1"


def test_no_hardware_among_the_documents():
    error = refused(b"apiVersion: v1\nkind: Secret\n---\napiVersion: v1\nkind: ConfigMap\n")
    assert "holds no Hardware" in str(error) and "ConfigMap" in str(error)


def test_equinix_in_yaml_is_still_equinix():
    import factories as f

    doc = f.metadata(os=("debian", "12"))
    assert parse(dump(doc)) == parse(json.dumps(doc).encode())


def test_an_equinix_run_never_imports_yaml(tmp_path: Path):
    """PyYAML is only loaded for a document that is not JSON (and is, for one that is)."""
    import factories as f

    meta = tmp_path / "metadata.json"
    meta.write_text(json.dumps(f.metadata(os=("debian", "12"))))
    nics_file = tmp_path / "nics.json"
    nics_file.write_text(f.nics_json(2))
    hw = tmp_path / "hw.yaml"
    hw.write_bytes(sample("capt-quickstart.yaml"))
    hw_nics = tmp_path / "hw-nics.json"
    hw_nics.write_text(json.dumps([{"name": "eno1", "mac": "b8:59:9f:e0:4a:10"}]))
    probe = (
        "import sys\nfrom packetnetworking import cli\n"
        "try:\n    code = cli.main(sys.argv[1:])\nexcept SystemExit as e:\n    code = e.code\n"
        "print(code, 'yaml' in sys.modules, file=sys.stderr)\n"
    )
    for doc, nics_path, want in ((meta, nics_file, "0 False"), (hw, hw_nics, "0 True")):
        root = tmp_path / f"root-{doc.stem}"
        root.mkdir()
        argv = [sys.executable, "-c", probe, "-M", str(doc), "--nics", str(nics_path),
                "--rootfs", str(root), "-o", "debian 12", "-q"]  # fmt: skip
        proc = subprocess.run(argv, capture_output=True, text=True, cwd="/", timeout=60)
        assert proc.stderr.strip().splitlines()[-1] == want, proc.stderr


def test_a_hardware_in_yaml_is_an_answer(serve):  # noqa: F811
    """From --metadata-url: a YAML resource is an answer; HTML and broken YAML are not."""
    import structlog
    from structlog.testing import capture_logs
    from test_fetch import body

    from packetnetworking import source

    good = sample("eks-anywhere.yaml")
    server = serve(body(b"<html>busy</html>"), body(b"kind: Hardware\nspec: [\n"), body(good))
    retry = source.Retry(attempts=3, timeout=5, delay=0.01)
    with capture_logs() as logs:
        got = source.fetch(server.url, retry, structlog.get_logger(), sleep=lambda _s: None)
    assert got == good
    errors = [e["error"] for e in logs if e["event"] == "metadata fetch failed"]
    assert len(errors) == 2 and "Expecting value" in errors[0], errors


@pytest.mark.parametrize("macs, code, words", [
    (["02:00:00:00:00:01"], 60, "no Hardware matches a host NIC"),
    (["b8:59:9f:e0:4a:10", "b8:cb:29:98:cb:3a"], 50, "'node-1 (document 2)'"),
    (["b8:59:9f:e0:4a:10"], 0, ""),
])  # fmt: skip
def test_several_hardware_through_the_cli(tmp_path: Path, capsys, macs, code, words):
    import safety
    from treehash import snapshot

    stream = tmp_path / "hardware.yaml"
    stream.write_bytes(dump(hardware("pr395-bond.yaml")) + b"---\n"
                       + dump(hardware("capt-quickstart.yaml")))  # fmt: skip
    nics_file = tmp_path / "nics.json"
    nics_file.write_text(json.dumps([{"name": f"eno{i}", "mac": m} for i, m in enumerate(macs)]))
    root = tmp_path / "root"
    root.mkdir()
    argv = safety.args(stream, nics_file, root, "-o", "debian 12", "--resolvers", "1.1.1.1")
    got, stderr = safety.cli_inprocess(argv, capsys)
    assert got == code, stderr
    if code:
        assert words in safety.one_line(stderr) and snapshot(root) == {}
    else:
        assert (root / "etc/hostname").read_text() == "node-1\n"
