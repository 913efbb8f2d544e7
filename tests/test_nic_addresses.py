"""A NIC's own static address (``Interface.address``): the plan's rules, and each format's
reader on vlan_cases.OWN_CASES.

The rules: only on a NIC that is no bond member and not the link's (refused there,
unless it repeats a link address); dropped on a DHCP NIC; its gateway is a default
route only where the plan has none of that family yet (the link's comes first, then
the first such NIC's), else the address is kept without it. Every reader must see each
NIC's address on that NIC, and a default route only where the plan kept the gateway.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import attrs
import factories as f
import golden
import pytest
import readback
import vlan_cases as v
from support import images, networkmanager, nm_check, nm_run
from support.netns import apply_in_netns
from test_alpine import ifparse, ifup_commands, ng_root  # noqa: F401 (a fixture)
from test_suse import _check_documented, sourced, spelled_out
from vlan_cases import GOLDEN_FORMATS, network_files

from packetnetworking import plan as plan_module
from packetnetworking import planner
from packetnetworking.errors import InvalidMetadata

CASES = v.OWN_CASES
OWN = {  # case: {NIC: (address, gateway the plan keeps)}
    "own-beside-link": {
        "enp1s0f1": ("192.168.50.10/24", None),
        "enp1s0f2": ("2001:db8:5::10/64", None),
    },
    "own-no-link-gateway": {
        "enp1s0f1": ("192.168.50.10/24", "192.168.50.1"),
        "enp1s0f2": ("192.168.60.10/24", None),
    },
}


def _build(doc: dict, addresses: tuple, **dhcp: bool) -> plan_module.Plan:
    metadata = v.addressed(doc, addresses)
    if dhcp:
        metadata = attrs.evolve(
            metadata,
            interfaces=tuple(
                attrs.evolve(i, dhcp=dhcp.get(i.name, False)) for i in metadata.interfaces
            ),
        )
    resolvers = f.md.parse_resolvers(list(f.RESOLVERS), "--resolvers")
    return planner.build(metadata, f.host_nics(len(addresses)), resolvers)


# ---------------------------------------------------------------------------- the plan


@pytest.mark.parametrize("case", CASES)
def test_the_plan_keeps_one_default_route_per_family(case):
    plan = v.plan_of(case)
    got = {n.name: (n.address.cidr, n.address.gateway and str(n.address.gateway))
           for n in plan.static_nics}  # fmt: skip
    assert got == OWN[case]


def test_refused_on_a_bond_member():
    with pytest.raises(InvalidMetadata) as err:
        _build(f.metadata(), (None, v._ip("192.168.50.10/24", "192.168.50.1")))
    assert err.value.exit_code == 50 and err.value.field == "interfaces[eth1].address"
    assert err.value.value == "192.168.50.10/24" and "bond member" in err.value.reason


def test_refused_on_the_link_nic_unless_it_is_the_links_own():
    doc = f.metadata(aggregation="individual")
    with pytest.raises(InvalidMetadata, match="carries the link"):
        _build(doc, (v._ip("192.168.50.10/24", "192.168.50.1"), None))
    same = v._ip(f"{f.PUBLIC4['address']}/31", f.PUBLIC4["gateway"])
    assert _build(doc, (same, None)).static_nics == ()


def test_no_gateway_beside_dhcp():
    """A DHCP lease brings an IPv4 default route: a static NIC's IPv4 gateway is dropped."""
    plan = _build(f.metadata(nics=2, aggregation="individual"),
                  (None, v._ip("192.168.50.10/24", "192.168.50.1")), eth0=True)  # fmt: skip
    assert plan.mode == "dhcp"
    assert [(n.name, n.address.gateway) for n in plan.static_nics] == [("enp1s0f1", None)]


def test_refused_on_a_tagged_nic():
    """Only the link rides a VLAN; an own address written untagged would be wrong."""
    metadata = v.addressed(f.metadata(aggregation="individual"),
                           (None, v._ip("192.168.50.10/24", "192.168.50.1")))  # fmt: skip
    metadata = attrs.evolve(
        metadata,
        interfaces=(metadata.interfaces[0], attrs.evolve(metadata.interfaces[1], vlan=300)),
    )
    resolvers = f.md.parse_resolvers(list(f.RESOLVERS), "--resolvers")
    with pytest.raises(InvalidMetadata) as err:
        planner.build(metadata, f.host_nics(2), resolvers)
    assert (err.value.field, err.value.value) == ("interfaces[eth1].vlan", 300)


def test_dropped_on_a_dhcp_nic():
    plan = _build(f.metadata(aggregation="individual"),
                  (None, v._ip("192.168.50.10/24", "192.168.50.1")), eth1=True)  # fmt: skip
    assert plan.static_nics == () and [n.name for n in plan.dhcp_nics] == ["enp1s0f1"]


# ---------------------------------------------------------------------------- readers


def _files(os_name: str, directory: str, case: str, backend=None) -> dict[str, str]:
    return v.files(os_name, case, directory, backend)


@pytest.mark.parametrize("case", CASES)
def test_ifupdown_reads_them(case):
    readback.require_ifupdown()
    options, _ = readback.eni_read(_files("debian 12", "etc/network", case)["interfaces"])
    for nic, (cidr, gateway) in OWN[case].items():
        ip = ipaddress.ip_interface(cidr)
        got = dict(options[nic])
        assert got["address"] == str(ip.ip)
        assert got.get("gateway") == gateway
        netmask = str(ip.network.netmask) if ip.version == 4 else str(ip.network.prefixlen)
        assert got["netmask"] == netmask


@pytest.mark.parametrize("case", CASES)
def test_ifupdown_ng_reads_and_adds_them(case, ng_root):  # noqa: F811
    text = _files("alpine 3.20", "etc/network", case)["interfaces"]
    parsed = ifparse(ng_root, text)
    commands = ifup_commands(ng_root, text)
    for nic, (cidr, gateway) in OWN[case].items():
        assert f"  address {cidr}\n" in parsed
        family = "-4" if ipaddress.ip_interface(cidr).version == 4 else "-6"
        assert f"ip {family} addr add {cidr} dev {nic}" in commands
        routes = [c for c in commands if "route add default" in c and c.endswith(f"dev {nic}")]
        assert routes == ([f"ip {family} route add default via {gateway} metric 1 dev {nic}"]
                          if gateway else []), commands  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_netplan_generates_them(case):
    readback.require_netplan()
    yaml = _files("ubuntu 22.04", "etc/netplan", case, "netplan")["90-packet.yaml"]
    generated = readback.netplan_generate({"90-packet.yaml": yaml})
    for nic, (cidr, gateway) in OWN[case].items():
        network = generated[f"10-netplan-{nic}.network"]
        assert f"Address={cidr}\n" in network
        assert ("Gateway=" in network) is bool(gateway), network
        if gateway:
            assert f"Gateway={gateway}\n" in network


@pytest.mark.parametrize("case", CASES)
def test_networkd_reads_them(case, tmp_path: Path):
    readback.require_networkd()
    files = _files("flatcar stable", "etc/systemd/network", case)
    conf = tmp_path / "conf"
    conf.mkdir()
    for name, text in files.items():
        if not name.endswith(".link"):
            (conf / name).write_text(text)
    _, complaints = readback.networkd_read(conf)
    assert complaints == []
    for nic, (cidr, gateway) in OWN[case].items():
        network = files[f"10-packet-{nic}.network"]
        assert f"Address={cidr}\n" in network and "Unmanaged" not in network
        assert f"RequiredForOnline={'routable' if gateway else 'no'}\n" in network


@pytest.mark.parametrize("case", CASES)
def test_libnm_reads_them(case):
    readback.require_libnm()
    files = _files("rhel 10", "etc/NetworkManager/system-connections", case)
    read = {Path(r["path"]).name: r for r in readback.nm_read(files)}
    for nic, (cidr, gateway) in OWN[case].items():
        family = "ipv4" if ipaddress.ip_interface(cidr).version == 4 else "ipv6"
        profile = read[f"{nic}.nmconnection"][family]
        assert (profile["method"], profile["addresses"]) == ("manual", [cidr])
        assert profile["gateway"] == gateway


@pytest.fixture(scope="module")
def ifcfg_rh():
    networkmanager.require()
    with nm_run.running(nm_run.IFCFG_RH) as daemon:
        yield nm_run.Reader(daemon)


@pytest.fixture(scope="module")
def keyfile():
    networkmanager.require()
    with nm_run.running(nm_run.KEYFILE) as daemon:
        yield nm_run.Reader(daemon)


# ifcfg-rh gives a connection without GATEWAY the network file's (the link's), and
# where GATEWAYDEV names another device marks it never-default and says so: the very
# outcome wanted (the NIC's own gateway was dropped; the link's default route is the one).
_IGNORED_GATEWAY = "GATEWAY will be ignored when DEFROUTE is disabled"


@pytest.mark.parametrize("case", CASES)
def test_networkmanager_ifcfg_rh_reads_them(case, ifcfg_rh):
    plan, files = v.plan_of(case), _files("rocky 9", "etc/sysconfig", case)
    parsed = ifcfg_rh(files)
    problems = nm_check.problems(plan, files, parsed)
    assert [p for p in problems if not p.endswith(_IGNORED_GATEWAY)] == []
    by_id = {c.id: c for c in parsed.connections}
    for nic, (cidr, gateway) in OWN[case].items():
        if ipaddress.ip_interface(cidr).version == 4 and not gateway and plan.primary4:
            assert by_id[nic]["ipv4.never-default"] == "yes"


@pytest.mark.parametrize("case", CASES)
def test_networkmanager_keyfile_reads_them(case, keyfile):
    files = _files("rhel 10", "etc/NetworkManager/system-connections", case)
    assert nm_check.problems(v.plan_of(case), files, keyfile(files)) == []


def test_a_gateway_the_plan_dropped_fails_the_check(ifcfg_rh):
    files = _files("rocky 9", "etc/sysconfig", "own-beside-link")
    name = "network-scripts/ifcfg-enp1s0f1"
    files[name] = files[name].replace('PREFIX="24"\n', 'PREFIX="24"\nGATEWAY="192.168.50.1"\n')
    assert "GATEWAY" in files[name]
    assert nm_check.problems(v.plan_of("own-beside-link"), files, ifcfg_rh(files))


@pytest.mark.parametrize("case", CASES)
def test_wicked_files_as_bash_reads_them(case, tmp_path: Path):
    files = _files("sles 15.5", "etc/sysconfig/network", case)
    for nic, (cidr, gateway) in OWN[case].items():
        text = files[f"ifcfg-{nic}"]
        (tmp_path / nic).write_text(text)
        assert sourced(tmp_path / nic, tmp_path) == spelled_out(text)
        variables = spelled_out(text)
        _check_documented(nic, variables)
        assert variables["IPADDR"] == cidr
        route = files.get(f"ifroute-{nic}")
        assert (route is not None) is bool(gateway)
        if gateway:
            assert f"default {gateway} - {nic}\n" in route


# ---------------------------------------------------------------------------- goldens


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("fmt", GOLDEN_FORMATS)
def test_golden(fmt, case):
    golden.check_all(f"{fmt}/{case}", network_files(fmt, case))


# ---------------------------------------------------------------------------- applied


# (image, -o, up, down): the real ifup of each ENI dialect, on veths named like the NICs.
_APPLY = {
    "ifupdown": ("bookworm-ifupdown", "debian 12", ["ifup", "-a"], ["ifdown", "-a"]),
    "ifupdown-ng": ("trixie-ifupdown-ng", "alpine 3.20", ["ifup-ng", "-a"], ["ifdown-ng", "-a"]),
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("tool", _APPLY)
def test_applied_for_real(tool, case, tmp_path: Path):
    """Unbonded and untagged, so it can be brought up here: each NIC gets its own address,
    and there is one default route per family, the one the plan kept."""
    images.require_root_tools()
    image, os_name, up_cmd, down_cmd = _APPLY[tool]
    plan = v.plan_of(case)
    root = images.fresh_copy(image, tmp_path / "root")
    (root / "etc/network/interfaces").write_text(_files(os_name, "etc/network", case)["interfaces"])
    res = apply_in_netns(root, [n.name for n in plan.nics], up_cmd, down_cmd)
    assert res.up.returncode == 0, res.up.stderr
    up = res.after_up
    for nic, (cidr, _) in OWN[case].items():
        assert up.cidrs(nic) == {cidr}, up.addresses(nic)
    link = {ip.cidr for ip in plan.addresses}
    assert up.cidrs(plan.link) == link
    for routes, version in ((up.route4, 4), (up.route6, 6)):
        defaults = [(r.get("gateway"), r.get("dev")) for r in routes if r["dst"] == "default"]
        wanted = [
            (str(ip.gateway), plan.link)
            for ip in (plan.primary4, plan.public6)
            if ip and ip.gateway and ip.version == version
        ]
        wanted += [(gw, nic) for nic, (cidr, gw) in OWN[case].items()
                   if gw and ipaddress.ip_interface(cidr).version == version]  # fmt: skip
        assert defaults == wanted, (version, routes)
    assert res.down.returncode == 0
    assert res.after_down.cidrs() == set()
