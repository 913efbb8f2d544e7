"""Refuse only what would be written: addresses the tool leaves alone are checked for
safe syntax, but an inconsistency in them is a warning event, not a refusal.

The installer's own CI generates its metadata with an elastic (``management: false``)
``10.42.42.42/31`` whose gateway, ``10.42.42.41``, lies outside that /31. The document
below has the shape its generator writes (public IPv4, that elastic, public IPv6,
private IPv4, in that order, each with its netmask and network), filled with this
project's example addresses.
"""

from __future__ import annotations

import copy
import ipaddress
from pathlib import Path

import factories as f
import pytest
import safety
from treehash import snapshot

from packetnetworking import metadata
from packetnetworking.errors import InvalidMetadata
from packetnetworking.metadata import equinix
from packetnetworking.planner import build as build_plan

ELASTIC = {
    "address": "10.42.42.42",
    "address_family": 4,
    "cidr": 31,
    "gateway": "10.42.42.41",
    "management": False,
    "netmask": "255.255.255.254",
    "network": "10.42.42.41",
    "public": True,
}


def installer_ci_document() -> dict:
    doc = f.metadata(os=("debian", "12"))
    doc["network"]["addresses"].insert(1, copy.deepcopy(ELASTIC))
    return doc


def _with_address(entry: dict, at: int = 1) -> dict:
    doc = f.metadata(os=("debian", "12"))
    doc["network"]["addresses"].insert(at, entry)
    return doc


# ---------------------------------------------------------------------------- the model


def test_installer_ci_document_parses_with_one_warning():
    parsed = equinix.from_dict(installer_ci_document())
    assert [str(a.interface) for a in metadata.configured(parsed.addresses)] == [
        "147.75.84.131/31", "2604:1380:4641:1f00::9/127", "10.70.17.9/31",
    ]  # fmt: skip
    [(address, problem)] = parsed.ignored_problems
    assert str(address.interface) == "10.42.42.42/31"
    assert problem == ("network.addresses[1].gateway", "10.42.42.41", "is outside 10.42.42.42/31")


def test_configured_address_with_the_same_fault_is_refused():
    doc = installer_ci_document()
    doc["network"]["addresses"][1]["management"] = True  # now it is the first public IPv4
    doc["network"]["addresses"].pop(0)
    with pytest.raises(InvalidMetadata) as caught:
        equinix.from_dict(doc)
    assert caught.value.field == "network.addresses[0].gateway"
    assert caught.value.value == "10.42.42.41" and caught.value.exit_code == 50


@pytest.mark.parametrize(
    "key, value, reason",
    [
        ("gateway", "8.8.8.8", "is outside 147.75.84.130/31"),
        ("gateway", "2604::1", "is not an IPv4 address"),
        ("netmask", "255.255.255.0", "does not match the prefix /31"),
    ],
)
def test_inconsistent_configured_address_is_refused(key, value, reason):
    doc = f.metadata()
    doc["network"]["addresses"][0][key] = value
    with pytest.raises(InvalidMetadata) as caught:
        equinix.from_dict(doc)
    assert (caught.value.field, caught.value.value) == (f"network.addresses[0].{key}", value)
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    "flags",
    [
        {"management": False},  # an elastic IP
        {"enabled": False},  # switched off: never configured
        {},  # a second management public IPv4: only the first of a family is configured
    ],
    ids=["elastic", "disabled", "second-of-family"],
)
@pytest.mark.parametrize(
    "key, value",
    [("gateway", "10.42.42.41"), ("gateway", "2604::1"), ("netmask", "255.255.255.0")],
)
def test_unconfigured_inconsistency_is_a_warning(flags, key, value):
    consistent = {**copy.deepcopy(ELASTIC), "gateway": "10.42.42.43", "management": True}
    entry = {**consistent, **flags, key: value}
    parsed = equinix.from_dict(_with_address(entry, at=1))
    [(address, problem)] = parsed.ignored_problems
    assert address.address == ipaddress.ip_address("10.42.42.42")
    assert problem[:2] == (f"network.addresses[1].{key}", value)
    assert address not in metadata.configured(parsed.addresses)


def test_disabled_address_is_never_configured():
    """enabled: false wins over management: true, even as the only public IPv4."""
    doc = f.metadata()
    doc["network"]["addresses"][0]["enabled"] = False
    built = build_plan(equinix.from_dict(doc), f.host_nics(2), ())
    assert built.public4 is None and str(built.private4.interface) == "10.70.17.9/31"


@pytest.mark.parametrize(
    "key, value",
    [
        ("gateway", "10.42.42.41\nGATEWAY=6.6.6.6"),
        ("gateway", "fe80::1%eth0"),
        ("gateway", "$(reboot)"),
        ("netmask", "255.255.255.254\n    up reboot"),
        ("netmask", ["255.255.255.254"]),
        ("address", "10.42.42.42;reboot"),
        ("cidr", "31\n"),
    ],
)
@pytest.mark.parametrize("flags", [{}, {"enabled": False}], ids=["elastic", "disabled"])
def test_injectable_value_in_unconfigured_address_is_refused(key, value, flags):
    doc = installer_ci_document()
    doc["network"]["addresses"][1].update(flags)
    doc["network"]["addresses"][1][key] = value
    with pytest.raises(InvalidMetadata) as caught:
        equinix.from_dict(doc)
    assert caught.value.field == f"network.addresses[1].{key}"


# ---------------------------------------------------------------------------- the CLI


def test_installer_ci_document_runs(tmp_path: Path):
    """Before: exit 50 on network.addresses[1].gateway. Now: exit 0, a warning event
    that names the address, and the elastic address in no file."""
    root = tmp_path / "root"
    root.mkdir()
    events = f.cli_events(tmp_path, root, "debian 12", installer_ci_document())
    warnings = [e for e in events if e["event"] == "metadata inconsistency ignored"]
    assert len(warnings) == 1, events
    warning = warnings[0]
    assert warning["level"] == "warning"
    assert warning["address"] == "10.42.42.42/31"
    assert warning["field"] == "network.addresses[1].gateway"
    assert warning["value"] == "10.42.42.41" and "outside" in warning["reason"]
    interfaces = (root / "etc/network/interfaces").read_text()
    assert "147.75.84.131" in interfaces and "10.42.42.4" not in interfaces


def test_consistent_documents_warn_nothing(tmp_path: Path):
    root = tmp_path / "root"
    root.mkdir()
    events = f.cli_events(tmp_path, root, "debian 12", f.metadata())
    assert not [e for e in events if e["event"] == "metadata inconsistency ignored"]


def test_injection_in_elastic_address_refused_by_the_cli(tmp_path: Path, capsys):
    doc = installer_ci_document()
    doc["network"]["addresses"][1]["gateway"] = "10.42.42.41\nGATEWAY=6.6.6.6"
    root = tmp_path / "root"
    safety.old_rootfs(root)
    meta, nics = safety.inputs(tmp_path, doc)
    before = snapshot(root)
    code, stderr = safety.cli_inprocess(safety.default_args(meta, nics, root), capsys)
    assert code == 50, stderr
    line = safety.one_line(stderr)
    assert line.startswith("packet-networking: invalid metadata: network.addresses[1].gateway=")
    assert snapshot(root) == before
