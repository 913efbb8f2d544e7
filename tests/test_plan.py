"""From metadata and host NICs to the Plan: matching, modes, address selection."""

from __future__ import annotations

import ipaddress

import factories as f
import pytest

from packetnetworking import metadata, nics, plan, planner
from packetnetworking.errors import InvalidMetadata, NoMatchingNic


def test_bond_members_are_os_names_matched_by_mac():
    p = f.build_plan(f.metadata())
    assert p.mode == plan.BONDED and p.link == "bond0"
    assert p.bonds[0].members == ("enp1s0f0", "enp1s0f1")
    assert p.bonds[0].mac == f.mac(0)
    assert [n.metadata_name for n in p.nics] == ["eth0", "eth1"]


def test_matching_is_case_insensitive_and_ignores_unknown_host_nics():
    host = (
        nics.HostNic("eno1", f.mac(1).upper()),
        nics.HostNic("eno9", "02:00:00:00:00:99"),
        nics.HostNic("eno0", f.mac(0)),
    )
    p = f.build_plan(f.metadata(), host)
    assert p.bonds[0].members == ("eno0", "eno1")


def test_metadata_nics_missing_on_the_host_are_dropped():
    p = f.build_plan(f.metadata(nics=4), f.host_nics(2))
    assert p.bonds[0].members == ("enp1s0f0", "enp1s0f1")


def test_no_match_lists_both_mac_sets():
    with pytest.raises(NoMatchingNic) as caught:
        f.build_plan(f.metadata(), (nics.HostNic("eno1", "02:00:00:00:00:99"),))
    message = str(caught.value)
    assert f.mac(0) in message and f.mac(1) in message and "02:00:00:00:00:99" in message
    assert caught.value.exit_code == 60


def test_two_bonds_listed_out_of_order():
    doc = f.metadata(nics=4, bonds=["bond0", "bond1", "bond0", "bond1"])
    doc["network"]["interfaces"].reverse()
    p = f.build_plan(doc, f.host_nics(4))
    assert [(b.name, b.members, b.mac) for b in p.bonds] == [
        ("bond0", ("enp1s0f0", "enp1s0f2"), f.mac(0)),
        ("bond1", ("enp1s0f1", "enp1s0f3"), f.mac(1)),
    ]


def test_addresses_selected_by_family_and_flags_not_order():
    doc = f.metadata()
    doc["network"]["addresses"].reverse()
    doc["network"]["addresses"].insert(0, dict(f.ELASTIC4))
    p = f.build_plan(doc)
    assert str(p.public4.address) == "147.75.84.131"
    assert str(p.public6.address) == "2604:1380:4641:1f00::9"
    assert str(p.private4.address) == "10.70.17.9"
    assert p.alias4 == p.private4 and p.primary4 == p.public4
    assert p.routes == (plan.Route(ipaddress.ip_network("10.0.0.0/8"), p.private4.gateway),)


def test_private_only_carries_the_default_route_and_no_alias():
    p = f.build_plan(f.metadata(public4=False, public6=False))
    assert p.primary4 == p.private4 and p.alias4 is None and p.routes == ()


def test_disabled_or_unmanaged_addresses_are_not_configured():
    doc = f.metadata()
    doc["network"]["addresses"][0]["enabled"] = False
    doc["network"]["addresses"][1]["management"] = False
    p = f.build_plan(doc)
    assert p.public4 is None and p.public6 is None and p.primary4 == p.private4


@pytest.mark.parametrize("aggregation", ["bonded", "mlag_ha", None])
def test_bonded_modes(aggregation):
    assert f.build_plan(f.metadata(aggregation=aggregation)).mode == plan.BONDED


def test_individual_uses_the_first_nic_by_metadata_name():
    doc = f.metadata(aggregation="individual")
    doc["network"]["interfaces"].reverse()
    p = f.build_plan(doc)
    assert p.mode == plan.INDIVIDUAL and p.bonds == () and p.link == "enp1s0f0"


def test_dhcp_configures_no_static_address():
    p = f.build_plan(f.metadata(dhcp=True))
    assert p.mode == plan.DHCP and p.link is None and p.addresses == ()
    assert [n.name for n in p.dhcp_nics] == ["enp1s0f0", "enp1s0f1"]


def test_gateway_of_a_slash_30_is_network_plus_one():
    doc = f.metadata()
    doc["network"]["addresses"][0].update(
        address="147.75.84.130", cidr=30, netmask="255.255.255.252", gateway="147.75.84.129"
    )
    assert str(f.build_plan(doc).public4.gateway) == "147.75.84.129"


def test_natural_sort():
    names = ["eth10", "eth2", "eth1"]
    assert sorted(names, key=planner.natural_key) == ["eth1", "eth2", "eth10"]


def test_resolvers_are_validated():
    with pytest.raises(InvalidMetadata) as caught:
        metadata.parse_resolvers(["1.1.1.1", "1.1.1.1\nnameserver 6.6.6.6"], "--resolvers")
    assert caught.value.field == "--resolvers"
