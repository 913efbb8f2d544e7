"""The Tinkerbell action outside a container: its variables, HARDWARE as a source, NICs
from the document, and the example Template.

The mount lifecycle on a real partition: tests/test_action_mount.py. The action image
itself, started as tink-worker starts it: tests/test_action_image.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import factories as f
import pytest
import yaml
from action_run import DOC, TEMPLATE, one_line, pyz_run
from conftest import require
from treehash import snapshot

from packetnetworking import action, cli, metadata, nics, options, source
from packetnetworking.errors import InvalidMetadata, InvalidOption
from packetnetworking.metadata import equinix

# ------------------------------------------------------------------- the variables


class Recording(dict):
    """An environment that remembers every name asked of it."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.asked: set = set()

    def get(self, key, default=None):
        self.asked.add(key.decode() if isinstance(key, bytes) else key)
        return super().get(key, default)

    def __getitem__(self, key):
        self.asked.add(key.decode() if isinstance(key, bytes) else key)
        return super().__getitem__(key)


def test_the_action_reads_exactly_its_env_names(monkeypatch):
    """action.ENV is the one list: the action asks for each name in it, and for no other
    (HARDWARE through source.from_environment, the rest through action.settings)."""
    monkeypatch.setattr(action, "_block_device", lambda path: path)
    env = Recording({"BLOCK_DEVICE": "/dev/sdz3", "FS_TYPE": "ext4"})
    assert action.settings(env) is not None
    raw = Recording({b"HARDWARE": b"{}"})
    assert source.from_environment(raw) == b"{}"
    assert env.asked | raw.asked == set(action.ENV)
    assert len(set(action.ENV)) == len(action.ENV)
    assert options._ACTION_ENV == action.ENV  # the copy --help shows without importing action


def test_not_the_action_without_block_device():
    assert action.settings({"FS_TYPE": "ext4", "OS": "debian 12", "VERBOSE": "x"}) is None
    assert action.settings({"BLOCK_DEVICE": "", "DRY_RUN": "perhaps"}) is None


@pytest.mark.parametrize(("name", "value"), [
    ("BLOCK_DEVICE", "sda3"),
    ("BLOCK_DEVICE", "/nonexistent/sda3"),
    ("BLOCK_DEVICE", "/etc/hostname"),
    ("FS_TYPE", None),
    ("FS_TYPE", "vfat"),
    ("FS_TYPE", "ext4 -o exec"),
    ("OS", "ubu$ntu 22.04"),
    ("OS", "ubuntu 22.04 lts"),
    ("BACKEND", "systemd"),
    ("RESOLVERS", "8.8.8.8,999.1.1.1"),
    ("RESOLVERS", ","),
    ("DRY_RUN", "perhaps"),
    ("VERBOSE", "9"),
    ("VERBOSE", "-1"),
    ("LOG_FORMAT", "xml"),
])  # fmt: skip
def test_a_bad_variable_is_named(name, value, monkeypatch):
    if name != "BLOCK_DEVICE":
        monkeypatch.setattr(action, "_block_device", lambda path: path)
    env = {"BLOCK_DEVICE": "/dev/sdz3", "FS_TYPE": "ext4"}
    if value is None:
        del env[name]
    else:
        env[name] = value
    with pytest.raises(InvalidOption) as caught:
        action.settings(env)
    assert caught.value.field == name and caught.value.exit_code == 2


def test_a_bad_variable_through_the_zipapp_is_one_line_exit_2():
    proc = pyz_run(env={"BLOCK_DEVICE": "/etc/hostname", "FS_TYPE": "ext4"})
    one_line(proc, 2, "usage error", "BLOCK_DEVICE='/etc/hostname'", "not a block device")
    proc = pyz_run(env={"BLOCK_DEVICE": "/dev/null", "FS_TYPE": "ext4"})
    one_line(proc, 2, "BLOCK_DEVICE='/dev/null'", "not a block device")
    device = next((str(p) for p in Path("/dev").iterdir() if p.is_block_device()), None)
    require("a block device in /dev", "", device is not None)
    proc = pyz_run(env={"BLOCK_DEVICE": str(device), "FS_TYPE": "ntfs"})
    one_line(proc, 2, "FS_TYPE='ntfs'", "ext4, ext3, ext2, xfs, btrfs")


def test_the_command_line_wins_over_a_variable(monkeypatch):
    monkeypatch.setattr(action, "_block_device", lambda path: path)
    settings = action.settings({
        "BLOCK_DEVICE": "/dev/sdz3", "FS_TYPE": "ext4", "OS": "debian 12", "BACKEND": "eni",
        "RESOLVERS": "1.1.1.1", "DRY_RUN": "false", "AUDIT_LOG": "/env.jsonl", "VERBOSE": "2",
        "LOG_FORMAT": "console",
    })  # fmt: skip
    given = options.parser().parse_args([
        "-o", "ubuntu 22.04", "--backend", "netplan", "--resolvers", "9.9.9.9", "--dry-run",
        "--audit-log", "/cli.jsonl", "-q", "--log-format", "json",
    ])  # fmt: skip
    origins = cli._merge(given, settings)
    assert (
        given.operating_system,
        given.backend,
        given.resolvers,
        given.dry_run,
        given.audit_log,
        given.quiet,
        given.verbose,
        given.log_format,
    ) == ("ubuntu 22.04", "netplan", "9.9.9.9", True, "/cli.jsonl", True, 0, "json")
    assert origins == {"resolvers": "--resolvers", "audit_log": "--audit-log"}
    empty = options.parser().parse_args([])
    origins = cli._merge(empty, settings)
    assert (
        empty.operating_system,
        empty.backend,
        empty.resolvers,
        empty.dry_run,
        empty.audit_log,
        empty.verbose,
        empty.log_format,
    ) == ("debian 12", "eni", "1.1.1.1", False, "/env.jsonl", 2, "console")
    assert origins == {"resolvers": "RESOLVERS", "audit_log": "AUDIT_LOG"}


# ------------------------------------------------------------------- the source


def test_no_source_is_one_line_exit_10_naming_all_three(tmp_path):
    """No default URL any more: the service is gone, so no attempt is made at all."""
    proc = pyz_run("--nics", str(_nics(tmp_path)), "--rootfs", str(tmp_path), env={})
    one_line(proc, 10, "no metadata source", "-M", "--metadata-url", "HARDWARE")
    assert "metadata fetch failed" not in proc.stderr
    proc = pyz_run(
        "--nics",
        str(_nics(tmp_path)),
        "--rootfs",
        str(tmp_path),
        env={"HARDWARE": "", "PACKET_METADATA_URL": ""},
    )
    one_line(proc, 10, "no metadata source")


def test_hardware_is_the_document_when_nothing_else_is_given(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    proc = pyz_run(
        "--nics",
        str(_nics(tmp_path)),
        "--rootfs",
        str(root),
        "-o",
        "debian 12",
        "--resolvers",
        ",".join(f.RESOLVERS),
        env={"HARDWARE": json.dumps(DOC)},
    )
    assert proc.returncode == 0, proc.stderr
    for path, content in f.files("debian 12", DOC).items():
        assert (root / path).read_text() == content, path


def test_a_file_wins_over_hardware(tmp_path):
    meta = tmp_path / "metadata.json"
    meta.write_text(json.dumps(DOC))
    root = tmp_path / "root"
    root.mkdir()
    proc = pyz_run(
        "-M",
        str(meta),
        "--nics",
        str(_nics(tmp_path)),
        "--rootfs",
        str(root),
        "-o",
        "debian 12",
        env={"HARDWARE": "{not json"},
    )
    assert proc.returncode == 0, proc.stderr


def test_bad_hardware_is_exit_50_nothing_written(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    proc = pyz_run(
        "--nics",
        str(_nics(tmp_path)),
        "--rootfs",
        str(root),
        env={"HARDWARE": json.dumps({**DOC, "hostname": "web-1\nX=1"})},
    )
    one_line(proc, 50, "invalid metadata", "hostname")
    assert snapshot(root) == {}


def _nics(tmp_path: Path) -> Path:
    path = tmp_path / "nics.json"
    path.write_text(f.nics_json(2))
    return path


# ------------------------------------------------------------------- NICs from the document


def _iface(i: int, os_name=None) -> metadata.Interface:
    return metadata.Interface(name=f"eth{i}", mac=f.mac(i), os_name=os_name)


def test_document_nics_are_named_by_os_name_else_by_mac():
    found = nics.from_document([_iface(0, "ens1f0"), _iface(1)])
    assert [(n.name, n.mac) for n in found] == [("ens1f0", f.mac(0)), ("enxb496917a0111", f.mac(1))]
    assert all(len(n.name) <= 15 for n in found)


@pytest.mark.parametrize("names", [("bond0", None), ("eno1", "eno1"), ("lo", "eno2")])
def test_document_nic_names_are_checked(names):
    with pytest.raises(InvalidMetadata) as caught:
        nics.from_document([_iface(0, names[0]), _iface(1, names[1])])
    assert caught.value.field.endswith("os_name")


def test_no_visible_nic_configures_from_the_document(tmp_path):
    """In a network namespace with only lo (an action's container), the document's NICs
    stand in for the host's, each pinned to its MAC, and the audit log says so."""
    root, audit = tmp_path / "root", tmp_path / "audit.jsonl"
    root.mkdir()
    proc = pyz_run(
        "--rootfs",
        str(root),
        "-o",
        "debian 12",
        "--audit-log",
        str(audit),
        "--resolvers",
        ",".join(f.RESOLVERS),
        env={"HARDWARE": json.dumps(DOC)},
        netns=True,
    )
    assert proc.returncode == 0, proc.stderr
    expected = nics.from_document(equinix.parse(json.dumps(DOC)).interfaces)
    for path, content in f.files("debian 12", DOC, nics=expected).items():
        assert (root / path).read_text() == content, path
    rules = (root / "etc/udev/rules.d/70-persistent-net.rules").read_text()
    assert f'ATTR{{address}}=="{f.mac(1)}", NAME="enxb496917a0111"' in rules
    events = [json.loads(line) for line in audit.read_text().splitlines()]
    found = [e for e in events if e["event"] == "nics from document"]
    assert len(found) == 1 and found[0]["nics"] == {
        "enxb496917a0110": f.mac(0),
        "enxb496917a0111": f.mac(1),
    }


# ------------------------------------------------------------------- the example Template


def test_the_example_template_passes_exactly_the_action_variables():
    """examples/tinkerbell/template.yaml: image2disk, then this action, whose environment
    names are exactly action.ENV; the Template's own data parses as the YAML it is."""
    template = yaml.safe_load(TEMPLATE.read_text())
    assert template["kind"] == "Template"
    # What tink-controller renders each Go template expression into, here a plain word.
    workflow = yaml.safe_load(re.sub(r"\{\{.*?\}\}", "rendered", template["spec"]["data"]))
    actions = workflow["tasks"][0]["actions"]
    images_used = [a["image"] for a in actions]
    assert "image2disk" in images_used[0]
    ours = [a for a in actions if "packet-networking" in a["image"]]
    assert len(ours) == 1
    assert set(ours[0]["environment"]) == set(action.ENV)
    assert all(isinstance(v, str) for v in ours[0]["environment"].values())


def test_with_rootfs_the_action_variables_are_not_read(tmp_path):
    """--rootfs makes it an ordinary run: a stray BLOCK_DEVICE (or a bad FS_TYPE, OS...)
    in the operator's environment is neither checked nor mounted."""
    root = tmp_path / "root"
    root.mkdir()
    proc = pyz_run(
        "--nics",
        str(_nics(tmp_path)),
        "--rootfs",
        str(root),
        "-o",
        "debian 12",
        env={
            "HARDWARE": json.dumps(DOC),
            "BLOCK_DEVICE": "/etc/hostname",
            "FS_TYPE": "ntfs",
            "OS": "ubuntu 22.04",
            "DRY_RUN": "yes",
        },
    )
    assert proc.returncode == 0, proc.stderr
    assert "target mounted" not in proc.stderr
    assert (root / "etc/hostname").read_text() == "web-1\n"  # DRY_RUN not read either


def test_help_names_the_action_its_variables_and_exit_codes():
    proc = pyz_run("--help", env={})
    assert proc.returncode == 0, proc.stderr
    text = " ".join(proc.stdout.split())
    for name in action.ENV:
        assert name in text, name
    for code in ("10", "15", "16"):
        assert f" {code} " in text, code
    assert "no metadata source (no -M, no --metadata-url, no HARDWARE)" in text
