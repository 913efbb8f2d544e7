"""A Tinkerbell Hardware becomes the same Metadata as the Equinix document
(packetnetworking/metadata/tinkerbell.py), told apart and chosen by metadata/documents.py.

The published samples (tests/data/hardware-samples, SOURCES.txt) are checked against
expectations written out by hand from the documents; the rules of docs/tinkerbell.md
each have a case of their own. Telling the formats apart and choosing among several
Hardware: test_documents.py.
"""

from __future__ import annotations

import ipaddress
import json

import pytest
import yaml
from hardware_docs import SAMPLES, addresses, dump, hardware, ips, nics, parse, refused, sample

# ---------------------------------------------------------------------------- samples


def test_playground_vagrant():
    meta = parse(sample("playground-vagrant.yaml"))
    assert meta.hostname == "machine1"
    assert nics(meta) == [("eth0", "08:00:27:9e:f5:3a", None, None, None, None)]
    # A private /24 and no gateway: no default route is invented.
    assert addresses(meta) == [("192.168.56.43/24", None, False, True)]
    assert meta.bonding.link_aggregation == "individual"
    assert (meta.private_subnets, meta.plan) == ((), None)
    os = meta.operating_system
    assert (os.distro, os.version, os.slug) == ("ubuntu", "20.04", "ubuntu_20_04")
    assert meta.resolvers == ips("1.1.1.1", "8.8.8.8")


def test_playground_capt():
    meta = parse(sample("playground-capt.yaml"))
    assert meta.hostname == "capt-cp-1"
    assert nics(meta) == [("eth0", "02:7f:92:bd:2d:57", None, None, None, None)]
    assert addresses(meta) == [("172.31.0.11/16", "172.31.0.1", False, True)]
    assert meta.resolvers == ips("8.8.8.8", "1.1.1.1")
    assert meta.operating_system.distro is None


def test_capt_quickstart():
    meta = parse(sample("capt-quickstart.yaml"))
    assert meta.hostname == "node-1"
    assert nics(meta) == [("eth0", "b8:59:9f:e0:4a:10", None, None, None, None)]
    assert addresses(meta) == [("192.168.1.105/24", "192.168.1.1", False, True)]
    assert meta.resolvers == ips("8.8.8.8")
    assert meta.operating_system.version == "20.04"


def test_eks_anywhere_with_its_bmc_and_secret():
    """Three documents (Hardware, BMC Machine, Secret): the other kinds are passed over."""
    meta = parse(sample("eks-anywhere.yaml"))
    assert meta.hostname == "worker1"
    assert nics(meta) == [("eth0", "00:00:00:00:00:01", None, 200, None, None)]
    # instance.ips wins over dhcp.ip; its public: true makes a private address public.
    assert addresses(meta) == [("10.10.10.10/24", "10.10.10.1", True, True)]
    assert meta.plan == "c2.medium.x86"
    os = meta.operating_system
    assert (os.distro, os.version, os.slug) == (None, None, None)  # operating_system: {}
    assert meta.resolvers == ips("1.1.1.1")


def test_pr395_bond():
    meta = parse(sample("pr395-bond.yaml"))
    assert meta.hostname == "server001.example.com"
    assert nics(meta) == [
        ("eth0", "b8:cb:29:98:cb:3a", "bond0", None, None, None),
        ("eth1", "b8:cb:29:98:cb:3b", "bond0", None, None, None),
    ]
    assert (meta.bonding.mode, meta.bonding.link_aggregation) == (4, "bonded")
    assert addresses(meta) == [
        ("192.168.1.10/24", "192.168.1.1", False, True),  # netmask dotted
        ("2001:db8::10/64", "2001:db8::1", True, True),  # the prefix inside the address
    ]
    assert meta.resolvers == ips("1.1.1.1", "1.0.0.1", "2606:4700:4700::1111")


@pytest.mark.parametrize("name", sorted(p.name for p in SAMPLES.glob("*.yaml")))
def test_every_sample_parses_the_same_as_json(name):
    """kubectl get -o json gives the same object: the same Metadata."""
    docs = [d for d in yaml.safe_load_all(sample(name)) if d]
    as_list = json.dumps({"apiVersion": "v1", "kind": "List", "items": docs}).encode()
    assert parse(as_list) == parse(sample(name))


# ---------------------------------------------------------------------------- the mapping


def test_bonding_mode_is_the_linux_number():
    for mode in range(7):
        doc = hardware()
        doc["spec"]["metadata"]["bonding_mode"] = mode
        assert parse(dump(doc)).bonding.mode == mode
    doc["spec"]["metadata"]["bonding_mode"] = 7
    assert refused(dump(doc)).field == "spec.metadata.bonding_mode"
    doc["spec"]["metadata"]["bonding_mode"] = "4"
    assert refused(dump(doc)).field == "spec.metadata.bonding_mode"


def test_no_bonding_mode_is_no_bond():
    doc = hardware()
    del doc["spec"]["metadata"]["bonding_mode"]
    meta = parse(dump(doc))
    assert meta.bonding.link_aggregation == "individual"
    assert all(i.bond is None for i in meta.interfaces)


def test_dhcp_ip_per_nic_without_instance_ips():
    """No ips: the first interface's dhcp.ip is the link's address, the others' their own."""
    doc = hardware()
    del doc["spec"]["metadata"]["bonding_mode"]
    del doc["spec"]["metadata"]["instance"]["ips"]
    doc["spec"]["interfaces"][0]["dhcp"]["ip"] = {
        "address": "147.75.84.131",
        "netmask": "255.255.255.128",
        "gateway": "147.75.84.129",
        "family": 4,
    }
    doc["spec"]["interfaces"][1]["dhcp"]["ip"] = {"address": "10.1.2.3", "netmask": "255.255.0.0"}
    meta = parse(dump(doc))
    assert addresses(meta) == [("147.75.84.131/25", "147.75.84.129", True, True)]  # global
    first, second = meta.interfaces
    assert first.address is None
    assert (str(second.address.interface), second.address.gateway) == ("10.1.2.3/16", None)
    # The first interface without one: no link address, the others keep their own.
    doc["spec"]["interfaces"][0]["dhcp"].pop("ip")
    meta = parse(dump(doc))
    assert meta.addresses == () and str(meta.interfaces[1].address.interface) == "10.1.2.3/16"
    doc["spec"]["interfaces"][0]["dhcp"]["ip"] = {"address": "147.75.84.131",
                                                 "netmask": "255.255.255.128",
                                                 "gateway": "147.75.84.129"}  # fmt: skip
    # With a bond: the first interface's dhcp.ip on bond0, the members have none.
    doc["spec"]["metadata"]["bonding_mode"] = 1
    meta = parse(dump(doc))
    assert addresses(meta) == [("147.75.84.131/25", "147.75.84.129", True, True)]
    assert [i.address for i in meta.interfaces] == [None, None]


def test_management_false_and_public_true():
    doc = hardware()
    doc["spec"]["metadata"]["instance"]["ips"] = [
        {"address": "147.75.84.7/24", "management": False},
        {"address": "10.9.8.7", "netmask": "255.255.255.0", "public": True},
    ]
    assert addresses(parse(dump(doc))) == [
        ("147.75.84.7/24", None, True, False),
        ("10.9.8.7/24", None, True, True),
    ]


@pytest.mark.parametrize(
    "ip, field, words",
    [
        ({"address": "192.168.1.10"}, "netmask", "has no /prefix"),
        ({"address": "192.168.1.10", "netmask": "0.0.0.255"}, "netmask", "is not a netmask"),
        ({"address": "192.168.1.10/24", "netmask": "255.255.0.0"}, "netmask", "/24"),
        ({"address": "192.168.1.10/33"}, "address", "prefix length"),
        ({"address": "192.168.1.10/24", "family": 6}, "family", "not the family"),
        ({"address": "192.168.1.10/24", "family": True}, "family", "4 or 6"),
        ({"address": "192.168.1.10/24", "gateway": "10.0.0.1"}, "gateway", "outside"),
        ({"address": "192.168.1.10/24", "gateway": "2001:db8::1"}, "gateway", "IPv4"),
        ({"address": "fe80::1%eth0/64"}, "address", "scope"),
        ({"address": "192.168.1.10/24", "public": "yes"}, "public", "true or false"),
        ({"address": 3232235786}, "address", "must be a string"),
    ],
)
def test_bad_instance_ip(ip, field, words):
    doc = hardware()
    doc["spec"]["metadata"]["instance"]["ips"] = [ip]
    error = refused(dump(doc))
    assert error.field == f"spec.metadata.instance.ips[0].{field}", error
    assert words in str(error)


def test_an_address_left_alone_may_be_inconsistent():
    """As for the Equinix document: only a configured address is refused for it."""
    doc = hardware()
    doc["spec"]["metadata"]["instance"]["ips"].append(
        {"address": "192.168.7.7/24", "gateway": "10.0.0.1"}  # a second private IPv4
    )
    meta = parse(dump(doc))
    assert [p[0] for _, p in meta.ignored_problems] == ["spec.metadata.instance.ips[2].gateway"]


@pytest.mark.parametrize("value, vlan", [("", None), ("1", 1), ("4094", 4094), (None, None)])
def test_vlan_id(value, vlan):
    doc = hardware()
    doc["spec"]["interfaces"][1]["dhcp"]["vlan_id"] = value
    assert parse(dump(doc)).interfaces[1].vlan == vlan


@pytest.mark.parametrize("value", ["0", "4095", "4096", "100,200", "１０", " 10", "-1", 10, True])
def test_bad_vlan_id(value):
    doc = hardware()
    doc["spec"]["interfaces"][1]["dhcp"]["vlan_id"] = value
    error = refused(dump(doc))
    assert error.field == "spec.interfaces[1].dhcp.vlan_id" and error.value == value


def test_iface_name_is_the_os_name():
    doc = hardware()
    doc["spec"]["interfaces"][1]["dhcp"]["iface_name"] = "eno2"
    assert [i.os_name for i in parse(dump(doc)).interfaces] == [None, "eno2"]
    doc["spec"]["interfaces"][1]["dhcp"]["iface_name"] = "eno2\nGATEWAY=1"
    assert refused(dump(doc)).field == "spec.interfaces[1].dhcp.iface_name"


def test_interfaces_without_a_mac_are_not_nics():
    doc = hardware()
    doc["spec"]["interfaces"].insert(0, {"netboot": {"allowPXE": True}})
    assert [i.mac for i in parse(dump(doc)).interfaces] == ["b8:cb:29:98:cb:3a",
                                                           "b8:cb:29:98:cb:3b"]  # fmt: skip
    doc["spec"]["interfaces"] = [{"netboot": {}}]
    assert refused(dump(doc)).field == "spec.interfaces[].dhcp.mac"


def test_a_mac_twice_and_a_bad_mac_name_their_path():
    doc = hardware()
    doc["spec"]["interfaces"][1]["dhcp"]["mac"] = "B8:CB:29:98:CB:3A"
    error = refused(dump(doc))
    assert (error.field, error.value) == ("spec.interfaces[1].dhcp.mac", "b8:cb:29:98:cb:3a")
    doc["spec"]["interfaces"][1]["dhcp"]["mac"] = "zz"
    assert str(refused(dump(doc))).startswith("invalid metadata: spec.interfaces[1].dhcp.mac='zz'")


def test_resolvers_in_order_once():
    doc = hardware()
    doc["spec"]["interfaces"][1]["dhcp"]["name_servers"] = ["1.0.0.1", "9.9.9.9", "1.1.1.1"]
    assert parse(dump(doc)).resolvers == ips("1.1.1.1", "1.0.0.1", "2606:4700:4700::1111",
                                             "9.9.9.9")  # fmt: skip
    doc["spec"]["interfaces"][1]["dhcp"]["name_servers"] = ["dns.example"]
    assert refused(dump(doc)).field == "spec.interfaces[1].dhcp.name_servers[0]"


def test_hostname_order():
    doc = hardware()
    doc["spec"]["interfaces"][1]["dhcp"]["hostname"] = "from-dhcp"
    assert parse(dump(doc)).hostname == "server001.example.com"
    del doc["spec"]["metadata"]["instance"]["hostname"]
    assert parse(dump(doc)).hostname == "from-dhcp"
    del doc["spec"]["interfaces"][1]["dhcp"]["hostname"]
    assert parse(dump(doc)).hostname == "server-001"  # metadata.name
    doc["metadata"]["name"] = "server_001"  # a valid Kubernetes name? no: not RFC 1123 either
    error = refused(dump(doc))
    assert (error.field, error.value) == ("metadata.name", "server_001")
    assert "RFC 1123" in str(error)
    del doc["metadata"]["name"]
    assert refused(dump(doc)).field == "metadata.name"


def test_operating_system_plan_and_private_subnets():
    doc = hardware()
    meta_ = doc["spec"]["metadata"]
    meta_["instance"]["operating_system"] = {"distro": "rhel", "version": "9", "slug": "rhel_9",
                                             "os_slug": "rhel_9_4"}  # fmt: skip
    meta_["facility"] = {"plan_slug": "m3.large.x86", "facility_code": "onprem"}
    meta_["custom"] = {"private_subnets": ["10.128.0.0/16"]}
    meta = parse(dump(doc))
    os = meta.operating_system
    assert (os.distro, os.version, os.slug) == ("rhel", "9", "rhel_9_4")  # os_slug first
    assert meta.plan == "m3.large.x86"
    assert meta.private_subnets == (ipaddress.IPv4Network("10.128.0.0/16"),)
    meta_["custom"] = {"private_subnets": ["10.128.0.1/16"]}
    assert refused(dump(doc)).field == "spec.metadata.custom.private_subnets[0]"
    meta_["custom"] = {}
    meta_["facility"] = {"plan_slug": "m3 large"}
    assert refused(dump(doc)).field == "spec.metadata.facility.plan_slug"
    meta_["facility"] = {}
    meta_["instance"]["operating_system"] = {"distro": "rhel", "version": 9.4}
    assert refused(dump(doc)).field == "spec.metadata.instance.operating_system.version"
