"""The metadata model: what it accepts, how it normalises, what it refuses."""

from __future__ import annotations

import ipaddress
import json

import factories as f
import pytest

from packetnetworking.errors import InvalidMetadata
from packetnetworking.metadata import equinix


@pytest.mark.parametrize("sample", sorted(p.name for p in f.SAMPLES.glob("*.json")))
def test_published_documents_parse(sample):
    doc = equinix.parse((f.SAMPLES / sample).read_bytes())
    raw = json.loads((f.SAMPLES / sample).read_text())
    assert doc.hostname == raw["hostname"]
    assert [i.mac for i in doc.interfaces] == [i["mac"] for i in raw["network"]["interfaces"]]
    assert len(doc.addresses) == len(raw["network"]["addresses"])


def test_normalises_macs_and_uncompressed_ipv6():
    doc = f.metadata()
    doc["network"]["interfaces"][0]["mac"] = "B4:96:91:7A:01:10"
    v6 = doc["network"]["addresses"][1]
    v6["address"] = "2604:1380:4641:1f00:0000:0000:0000:0009"
    v6["gateway"] = "2604:1380:4641:1f00:0000:0000:0000:0008"
    parsed = equinix.from_dict(doc)
    assert parsed.interfaces[0].mac == "b4:96:91:7a:01:10"
    assert str(parsed.addresses[1].address) == "2604:1380:4641:1f00::9"
    assert parsed.addresses[1].gateway == ipaddress.ip_address("2604:1380:4641:1f00::8")


def test_defaults_for_absent_fields():
    doc = f.metadata(aggregation=None)
    del doc["network"]["bonding"]["mode"]
    parsed = equinix.from_dict(doc)
    assert parsed.bonding.link_aggregation == "bonded"
    assert parsed.bonding.mode == 4
    assert parsed.private_subnets == (ipaddress.ip_network("10.0.0.0/8"),)
    assert parsed.operating_system.distro is None


def test_unknown_fields_are_ignored():
    doc = f.metadata()
    doc["whatever"] = {"nested": [1, 2]}
    doc["network"]["interfaces"][0]["speed"] = 10
    assert equinix.from_dict(doc).hostname == "web-1"


def _set(doc: dict, path: str, value: object) -> dict:
    node = doc
    keys = path.split(".")
    for key in keys[:-1]:
        node = node[int(key)] if isinstance(node, list) else node[key]
    last = keys[-1]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return doc


@pytest.mark.parametrize(
    "path, value, field",
    [
        ("hostname", "web 1", "hostname"),
        ("hostname", "web-1\nGATEWAY=6.6.6.6", "hostname"),
        ("hostname", "-web", "hostname"),
        ("hostname", "a" * 64, "hostname"),
        ("hostname", ["web"], "hostname"),
        ("network.interfaces.0.name", "eth0;reboot", "network.interfaces[0].name"),
        ("network.interfaces.0.name", "a" * 16, "network.interfaces[0].name"),
        ("network.interfaces.0.mac", "b4:96:91:7a:01", "network.interfaces[0].mac"),
        ("network.interfaces.0.bond", "bond0 ", "network.interfaces[0].bond"),
        ("network.interfaces.0.dhcp", "yes", "network.interfaces[0].dhcp"),
        ("network.bonding.mode", 7, "network.bonding.mode"),
        ("network.bonding.mode", "4", "network.bonding.mode"),
        ("network.bonding.mode", True, "network.bonding.mode"),
        ("network.bonding.link_aggregation", "lacp", "network.bonding.link_aggregation"),
        ("network.addresses.0.address", "999.1.1.1", "network.addresses[0].address"),
        ("network.addresses.0.address", "2604::1", "network.addresses[0].address"),
        ("network.addresses.0.cidr", 33, "network.addresses[0].cidr"),
        ("network.addresses.0.gateway", "notanip", "network.addresses[0].gateway"),
        ("network.addresses.0.gateway", "8.8.8.8", "network.addresses[0].gateway"),
        ("network.addresses.0.netmask", "255.255.255.0", "network.addresses[0].netmask"),
        ("network.addresses.0.address_family", 5, "network.addresses[0].address_family"),
        ("network.addresses.0.public", "true", "network.addresses[0].public"),
        ("private_subnets", ["10.0.0.0/33"], "private_subnets[0]"),
        ("private_subnets", "10.0.0.0/8", "private_subnets"),
        ("plan", "c3.medium;rm", "plan"),
        ("operating_system", {"distro": "ubuntu\n", "version": "22.04"}, "operating_system.distro"),
    ],
)
def test_refuses_values_that_could_reach_a_file(path, value, field):
    with pytest.raises(InvalidMetadata) as caught:
        equinix.from_dict(_set(f.metadata(), path, value))
    assert caught.value.field == field
    assert caught.value.exit_code == 50
    assert "\n" not in str(caught.value)  # one line, whatever the value held


@pytest.mark.parametrize(
    "text, field",
    [
        (b"", "metadata"),
        (b'{"hostname": "x", "network": ', "metadata"),
        (b"[1, 2]", "metadata"),
        (b'{"hostname": "x"}', "network"),
        (b'{"hostname": "x", "network": {"interfaces": []}}', "network.interfaces"),
        (
            b'{"network": {"interfaces": [{"name": "eth0", "mac": "b4:96:91:7a:01:10"}]}}',
            "hostname",
        ),
    ],
)
def test_refuses_broken_documents(text, field):
    with pytest.raises(InvalidMetadata) as caught:
        equinix.parse(text)
    assert caught.value.field == field


def test_duplicate_macs_are_refused():
    doc = f.metadata()
    doc["network"]["interfaces"][1]["mac"] = f.mac(0)
    with pytest.raises(InvalidMetadata, match="appears twice"):
        equinix.from_dict(doc)


def test_na_os_fields_mean_none():
    doc = f.metadata()
    doc["operating_system"] = {"distro": "debian", "version": "N/A", "slug": "n/a"}
    os = equinix.from_dict(doc).operating_system
    assert (os.distro, os.version, os.slug) == ("debian", None, None)
