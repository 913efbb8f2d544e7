"""The VM cells' checks (support/vm_checks.py) offline, on reports the cells printed at
boot (tests/data/vm/): they pass on each real report and fail on each mutation of it, so
a boot that went wrong cannot pass unnoticed.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from support import vm_cells, vm_checks, vm_guest
from support.vm_cells import VmCell
from vm_cases import CELLS

# A server VM's console report, as the Debian 12 bonded cell printed it (carriage returns
# taken out); the checks must pass on it and fail on each mutation below.
REPORT = Path(__file__).parent / "data" / "vm" / "debian12-bonded.report"


def _outcome(console: str) -> vm_cells.Outcome:
    return vm_cells.Outcome(vm_guest.parse_report(console), console, "", "", [], 0.0, 0.0)


def _cell(name: str) -> VmCell:
    return next(c for c in CELLS if c.name == name)


def test_checks_pass_on_a_real_report() -> None:
    outcome = _outcome(REPORT.read_text())
    said = vm_checks.check_cell(outcome, _cell("debian12-bonded"))
    assert "2 ports up in aggregator 1, partner 52:54:00:5e:00:00" in said
    assert vm_checks.port_timeline(outcome) == (
        "enslaved eth1 +0.0s, eth0 +6.5s; went down eth1 +8.2s; all up +8.7s"
    )


@pytest.mark.parametrize(
    "old, new, complaint",
    [
        ("Bonding Mode: IEEE 802.3ad Dynamic link aggregation",
         "Bonding Mode: load balancing (round-robin)", "mode 'load balancing"),
        ("LACP rate: fast", "LACP rate: slow", "LACP rate is 'slow'"),
        ("Up Delay (ms): 200", "Up Delay (ms): 0", "Up Delay"),
        ("MII Polling Interval (ms): 100", "MII Polling Interval (ms): 0", "MII Polling"),
        ("Transmit Hash Policy: layer3+4 (1)", "Transmit Hash Policy: layer2 (0)", "Hash"),
        ("Partner Mac Address: 52:54:00:5e:00:00", "Partner Mac Address: 00:00:00:00:00:00",
         "no LACP partner"),
        ("Slave Interface: eth1\nMII Status: up", "Slave Interface: eth1\nMII Status: down",
         "ports not up"),
        ("Slave Interface: eth0", "Slave Interface: eth5", "ports"),
        ("Slave queue ID: 0\nAggregator ID: 1", "Slave queue ID: 0\nAggregator ID: 2",
         "aggregators"),
        ("Number of ports: 2", "Number of ports: 1", "1 ports in the active aggregator"),
        ('"local":"10.70.17.9"', '"local":"10.70.17.11"', "addresses"),
        ('"label":"bond0:0"', '"label":"bond0"', "labelled"),
        ('"dst":"10.0.0.0/8"', '"dst":"10.0.0.0/9"', "IPv4 routes"),
        ('"gateway":"2604:1380:4641:1f00::8"', '"gateway":"2604:1380:4641:1f00::6"',
         "IPv6 routes"),
        ('"ifname":"bond0","flags":["BROADCAST","MULTICAST","MASTER","UP","LOWER_UP"],"mtu":1500,'
         '"qdisc":"noqueue","operstate":"UP","linkmode":"DEFAULT","group":"default",'
         '"txqlen":1000,"link_type":"ether","address":"b4:96:91:7a:01:10"',
         '"ifname":"bond0","flags":["BROADCAST","MULTICAST","MASTER","UP","LOWER_UP"],"mtu":1500,'
         '"qdisc":"noqueue","operstate":"UP","linkmode":"DEFAULT","group":"default",'
         '"txqlen":1000,"link_type":"ether","address":"b4:96:91:7a:01:11"', "MAC"),
        ("--- ping 2604:1380:4641:1f00::8\nok", "--- ping 2604:1380:4641:1f00::8\nfail",
         "no answer"),
        ("--- failed-units\n", "--- failed-units\nnetworking.service loaded failed\n",
         "failed units"),
        ("==PN-REPORT-END==", "", "no report"),
    ],
)  # fmt: skip
def test_checks_fail_on_a_mutated_report(old: str, new: str, complaint: str) -> None:
    text = REPORT.read_text()
    assert old in text
    outcome = _outcome(text.replace(old, new, 1))
    with pytest.raises(AssertionError, match=re.escape(complaint)):
        vm_checks.check_cell(outcome, _cell("debian12-bonded"))


def test_switch_arguments() -> None:
    args = vm_guest.switch_args(
        [vm_guest.SwitchBond("bond0", "802.3ad", ["eth0", "eth2"],
                             ["147.75.84.130/31", "2604::8/127"]),
         vm_guest.SwitchBond("bond1", "bridge", ["eth1"], [], vlan=200)]
    )  # fmt: skip
    assert args == (
        "pn.bond=bond0@802.3ad@eth0+eth2@147.75.84.130/31+2604::8/127@-@- "
        "pn.bond=bond1@bridge@eth1@-@200@-"
    )


# The hardware-vlan-bond cell's report as the server printed it (carriage returns taken
# out): the checks pass on it and fail when the VLAN is not what the Hardware says.
VLAN_REPORT = Path(__file__).parent / "data" / "vm" / "hardware-vlan-bond.report"


def test_vlan_checks_pass_on_a_real_report() -> None:
    said = vm_checks.check_cell(_outcome(VLAN_REPORT.read_text()), _cell("hardware-vlan-bond"))
    assert "bond0.200 b4:96:91:7a:01:10, 2 addresses" in said
    assert "2 gateways answer" in said


@pytest.mark.parametrize(
    "old, new, complaint",
    [
        ('"info_data":{"protocol":"802.1Q","id":200', '"info_data":{"protocol":"802.1Q","id":201',
         "VLAN id 201"),
        ('"info_data":{"protocol":"802.1Q"', '"info_data":{"protocol":"802.1ad"', "802.1ad"),
        ('"info_kind":"vlan"', '"info_kind":"macvlan"', "'macvlan' link"),
        ('"dev":"bond0.200","flags":["onlink"]', '"dev":"bond0","flags":["onlink"]',
         "IPv4 routes"),
        ('"ifname":"bond0.200"', '"ifname":"bond0.300"', "no VLAN link bond0.200"),
        ("--- ping 192.168.1.1\nok", "--- ping 192.168.1.1\nfail", "no answer"),
    ],
)  # fmt: skip
def test_vlan_checks_fail_on_a_mutated_report(old: str, new: str, complaint: str) -> None:
    text = VLAN_REPORT.read_text()
    assert old in text
    outcome = _outcome(text.replace(old, new))
    with pytest.raises(AssertionError, match=re.escape(complaint)):
        vm_checks.check_cell(outcome, _cell("hardware-vlan-bond"))


# The debian12-dhcp cell's report as the server printed it (carriage returns taken out).
DHCP_REPORT = Path(__file__).parent / "data" / "vm" / "debian12-dhcp.report"


def test_dhcp_checks_pass_on_a_real_report() -> None:
    outcome = _outcome(DHCP_REPORT.read_text())
    said = vm_checks.check_cell(outcome, _cell("debian12-dhcp"))
    assert said == "eth0, eth1 leased from 10.99.0.100-10.99.0.199; router answers"
    reach = vm_checks.reachability(outcome)
    assert reach.to_bonds is None and reach.to_reachable is not None and reach.to_reachable > 0


@pytest.mark.parametrize(
    "old, new, complaint",
    [
        ('"local":"10.99.0.134","prefixlen":24', '"local":"10.99.0.34","prefixlen":24',
         "not a lease from"),
        ('"local":"10.99.0.134","prefixlen":24', '"local":"10.99.0.134","prefixlen":25',
         "not a lease from"),
        ('"scope":"global","dynamic":true,"label":"eth0"', '"scope":"global","label":"eth0"',
         "not dynamic"),
        ('"dst":"default","gateway":"10.99.0.1"', '"dst":"default","gateway":"10.99.0.2"',
         "default routes"),
        ("--- ping 10.99.0.1\nok", "--- ping 10.99.0.1\nfail", "does not answer"),
    ],
)  # fmt: skip
def test_dhcp_checks_fail_on_a_mutated_report(old: str, new: str, complaint: str) -> None:
    text = DHCP_REPORT.read_text()
    assert old in text
    with pytest.raises(AssertionError, match=re.escape(complaint)):
        vm_checks.check_cell(_outcome(text.replace(old, new)), _cell("debian12-dhcp"))


# The nm-keyfile-individual cell's report as the server printed it (carriage returns taken
# out): NetworkManager brought up eth0 from our keyfile and left eth1, which the plan leaves
# alone, unmanaged.
NM_REPORT = Path(__file__).parent / "data" / "vm" / "nm-keyfile-individual.report"


def test_nm_checks_pass_on_a_real_report() -> None:
    said = vm_checks.check_cell(_outcome(NM_REPORT.read_text()), _cell("nm-keyfile-individual"))
    assert said.endswith(
        "1 devices up from /etc/NetworkManager/system-connections/, 1 left unmanaged"
    ), said


@pytest.mark.parametrize(
    "old, new, complaint",
    [
        # What the NIC's automatic profile did at boot before the fix (rhel9-ifcfg-individual).
        ("eth1:unmanaged", "eth1:connecting (getting IP configuration)", "not unmanaged"),
        ("eth1:unmanaged\n", "", "not unmanaged"),
        ("eth0:/etc/NetworkManager/system-connections/eth0.nmconnection\n", "",
         "no active connection"),
        ("eth0:/etc/NetworkManager/system-connections/eth0.nmconnection",
         "eth0:/run/NetworkManager/system-connections/eth0.nmconnection", "connections not from"),
        ("exe /usr/sbin/NetworkManager", "exe /usr/local/sbin/NetworkManager", "ran as"),
        ("--- failed-units\n",
         "--- failed-units\nNetworkManager-wait-online.service loaded failed failed\n",
         "failed units"),
    ],
)  # fmt: skip
def test_nm_checks_fail_on_a_mutated_report(old: str, new: str, complaint: str) -> None:
    text = NM_REPORT.read_text()
    assert old in text
    with pytest.raises(AssertionError, match=re.escape(complaint)):
        vm_checks.check_cell(_outcome(text.replace(old, new)), _cell("nm-keyfile-individual"))
