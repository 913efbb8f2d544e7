"""Bonded mode proven at boot (issue 16): the files the tool writes bring up the bonds in
a QEMU VM running Debian's kernel, negotiated with a partner VM.

Each cell boots a server VM from a guest root carrying the tool's files and a switch VM
(support/vm_cells.py), then checks what the server's kernel showed (support/vm_checks.py):
bond mode and options, exactly the plan's ports, all up, one aggregator with the
partner's MAC (802.3ad), the bond's MAC, addresses, alias and routes, and pings to the
gateways. The cells join the image matrix with check "boot".
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import factories as f
import pytest
from support import vm, vm_cells, vm_checks, vm_guest, vm_ifcfg_rh, vm_prefetch
from support.vm_cells import VmCell

BONDED = f.metadata(aggregation="bonded")
# The negative cells wait this long for a settled bond that cannot come (the positive
# ones settle 0-2 s after network-online.target here).
NEGATIVE_WAIT = 15
ENABLE_NETWORKD = (("systemctl", "enable", "systemd-networkd.service"),)


def _no_member_delay(root: Path) -> None:
    """The written ENI without the bond_member_delay quirk's `pre-up sleep 4` (on every
    bond member but the first): the boot it is measured against (docs/testing.md)."""
    eni = root / "etc" / "network" / "interfaces"
    text = eni.read_text()
    delay = "iface eth1 inet manual\n    pre-up sleep 4\n"
    assert delay in text, text
    eni.write_text(text.replace(delay, "iface eth1 inet manual\n"))


def _hardware(vlan: str = "") -> str:
    """A Tinkerbell Hardware as PR #395's example writes one (bonding_mode 4, both
    families in instance.ips), with the server VM's MACs; `vlan`: each NIC's vlan_id."""
    tag = f'\n        vlan_id: "{vlan}"' if vlan else ""
    return f"""\
apiVersion: tinkerbell.org/v1alpha1
kind: Hardware
metadata:
  name: vm-server
spec:
  metadata:
    bonding_mode: 4
    instance:
      hostname: vm-server.example.com
      ips:
        - address: 192.168.1.10
          netmask: 255.255.255.0
          gateway: 192.168.1.1
          family: 4
        - address: 2001:db8::10/64
          gateway: 2001:db8::1
          family: 6
  interfaces:
    - dhcp:
        mac: {f.mac(0)}{tag}
        name_servers: [1.1.1.1]
    - dhcp:
        mac: {f.mac(1)}{tag}
"""


# What that Hardware means, written by hand in the Equinix document's shape the checks
# read (docs/tinkerbell.md's table): bond0 over both NICs in 802.3ad with the first NIC's
# MAC, the two addresses on it, a default route per family via its gateway.
HARDWARE_MEANS = {
    "network": {
        "bonding": {"mode": 4, "link_aggregation": "bonded", "mac": f.mac(0)},
        "interfaces": [{"mac": f.mac(0), "bond": "bond0"}, {"mac": f.mac(1), "bond": "bond0"}],
        "addresses": [
            {"address": "192.168.1.10", "cidr": 24, "gateway": "192.168.1.1",
             "address_family": 4, "public": False, "management": True},
            {"address": "2001:db8::10", "cidr": 64, "gateway": "2001:db8::1",
             "address_family": 6, "public": True, "management": True},
        ],
    }
}  # fmt: skip

def _ifupdown_ng_service(root: Path) -> None:
    """The guest's stand-in for Alpine's OpenRC networking service (vm.IFUPDOWN_NG_UNIT)."""
    unit = root / "etc/systemd/system/ifupdown-ng.service"
    unit.write_text(vm.IFUPDOWN_NG_UNIT)
    for target in ("multi-user.target", "network-online.target"):
        wants = root / f"etc/systemd/system/{target}.wants"
        wants.mkdir(parents=True, exist_ok=True)
        (wants / "ifupdown-ng.service").symlink_to("/etc/systemd/system/ifupdown-ng.service")


CELLS = (
    VmCell("debian12-bonded", "vm-bookworm-ifupdown", "debian 12", BONDED),
    VmCell("debian12-mlag_ha", "vm-bookworm-ifupdown", "debian 12", f.metadata()),
    VmCell("debian11-bonded", "vm-bullseye-ifupdown", "debian 11", BONDED),
    VmCell("debian13-bonded", "vm-trixie-ifupdown", "debian 13", BONDED),
    VmCell("networkd-arch", "vm-trixie-networkd", "arch", BONDED, setup=ENABLE_NETWORKD),
    VmCell("netplan-ubuntu", "vm-trixie-netplan", "ubuntu 24.04", BONDED),
    VmCell(
        "nm-keyfile", "vm-bookworm-nm", "fedora 40", BONDED,
        nm=lambda: ("/usr/sbin/NetworkManager", "/etc/NetworkManager/system-connections/"),
    ),
    VmCell(
        "nm-keyfile-individual", "vm-bookworm-nm", "fedora 40", f.CASES["individual"],
        nm=lambda: ("/usr/sbin/NetworkManager", "/etc/NetworkManager/system-connections/"),
    ),
    VmCell("debian12-two-bonds", "vm-bookworm-ifupdown", "debian 12", f.CASES["two-bonds"]),
    VmCell("debian12-mode5", "vm-bookworm-ifupdown", "debian 12", f.CASES["no-ipv6"]),
    VmCell(
        "hardware-bonded",
        "vm-bookworm-ifupdown",
        "debian 12",
        HARDWARE_MEANS,
        hardware=_hardware(),
    ),
    VmCell(
        "hardware-vlan-bond",
        "vm-bookworm-ifupdown",
        "debian 12",
        HARDWARE_MEANS,
        hardware=_hardware(vlan="200"),
        vlan=200,
    ),
    VmCell(
        "alpine-bonded", "vm-trixie-ifupdown-ng", "alpine 3.20", BONDED,
        edit=_ifupdown_ng_service,
    ),
    VmCell(
        "debian12-dhcp", "vm-bookworm-ifupdown", "debian 12", f.CASES["dhcp"],
        switch_mode="bridge", dhcp=True,
    ),
    VmCell(
        "netplan-dhcp", "vm-trixie-netplan", "ubuntu 24.04", f.CASES["dhcp"],
        switch_mode="bridge", dhcp=True,
    ),
    VmCell(
        "rhel9-ifcfg", "vm-bookworm-nm", "rhel 9", BONDED, before=vm_ifcfg_rh.install,
        nm=vm_ifcfg_rh.expected,
    ),
    VmCell(
        "rhel9-ifcfg-individual", "vm-bookworm-nm", "rhel 9", f.CASES["individual"],
        before=vm_ifcfg_rh.install, nm=vm_ifcfg_rh.expected,
    ),
    VmCell(
        "debian12-no-member-delay",
        "vm-bookworm-ifupdown",
        "debian 12",
        BONDED,
        edit=_no_member_delay,
    ),
)
_MODE_OF = {
    "debian12-mlag_ha": "mlag_ha",
    "debian12-two-bonds": "two-bonds",
    "debian12-mode5": "mode5",
    "debian12-no-member-delay": "bonded-member-delay",
    "hardware-bonded": "hardware-bonded",
    "hardware-vlan-bond": "hardware-vlan-bond",
    "debian12-dhcp": "dhcp",
    "netplan-dhcp": "dhcp",
    "rhel9-ifcfg": "ifcfg-rh bonded",
    "rhel9-ifcfg-individual": "ifcfg-rh individual",
    "nm-keyfile-individual": "individual",
}


# What `make test` boots; `make vm` (PN_VM_ALL=1) boots every cell. Left to `make vm`
# for the time budget (docs/testing.md): mlag_ha (the tool writes the very same files as
# for bonded, and the guest is the same), the variant without the member-delay quirk
# (a measurement of what the quirk does, not a guard), hardware-bonded (the VLAN cell
# boots a Hardware's bond too), netplan-dhcp (debian12-dhcp guards DHCP),
# the two NetworkManager cells in individual mode, rhel9-ifcfg-individual and
# nm-keyfile-individual (the NIC each hands back is read by the daemon in test_nm_ifcfg.py
# and test_nm_keyfile.py), debian11-bonded (Debian 11 is past its LTS; its own ifupdown
# reads its files in the image matrix, and Debian 12's and 13's boot here) and
# debian12-mode5 (the legacy mode-5 plan: the same ifupdown as debian12-bonded; its file
# is read by ifupdown itself in test_debian.py, bond-mode 5 and no LACP option).
DEFAULT_CELLS = frozenset(
    {
        "debian12-bonded", "debian13-bonded", "networkd-arch", "netplan-ubuntu",
        "nm-keyfile", "debian12-two-bonds", "hardware-vlan-bond", "alpine-bonded",
        "debian12-dhcp", "rhel9-ifcfg",
    }
)  # fmt: skip


def _in_this_run(cell: VmCell) -> bool:
    return cell.name in DEFAULT_CELLS or os.environ.get("PN_VM_ALL") == "1"


def _params() -> list[object]:
    return [
        pytest.param(
            cell,
            id=cell.name,
            marks=[
                pytest.mark.matrix(
                    image=cell.guest, os=cell.os, mode=_MODE_OF.get(cell.name, "bonded"),
                    check="boot",
                ),
                *([pytest.mark.boots(cell)] if _in_this_run(cell) else []),
            ],
        )  # fmt: skip
        for cell in CELLS
    ]


@pytest.fixture(scope="module")
def built() -> Iterator[None]:
    """Kernel, switch disk and every guest root, the roots a few at a time (a build mostly
    waits on the mirror)."""
    vm.require_vm_tools()
    vm.switch_disk()
    with ThreadPoolExecutor(3) as pool:
        for future in [pool.submit(vm.guest_root, name) for name in vm.GUESTS]:
            future.result()
    yield


# Not "cell": test_image_matrix's workspace collects every item's "cell" parameter.
@pytest.mark.parametrize("vm_cell", _params())
def test_bond_at_boot(
    vm_cell: VmCell, built: None, pyz: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    cell = vm_cell
    if not _in_this_run(cell):
        pytest.skip("left out of make test for time (DEFAULT_CELLS); `make vm` boots it")
    outcome = vm_prefetch.outcome(cell, pyz, tmp_path)
    # The ports' timeline goes with every cell: the cells with the member-delay quirk (the
    # default) are read against the variant without it (docs/testing.md).
    detail = vm_checks.check_cell(outcome, cell)
    if cell.bonded:  # a bond's ports
        detail += f"; {vm_checks.port_timeline(outcome)}"
    # A benchmark, not an assertion (issue 23): how long the network took to be there.
    reach = vm_checks.reachability(outcome)
    request.node.user_properties.append(("matrix_fields", reach.fields()))
    timing = f"prepare {outcome.prepare_seconds} s, boot+report {outcome.boot_seconds} s"
    request.node.user_properties.append(
        ("matrix_detail", f"{detail}; {reach.summary()}; {timing}")
    )


# ---------------------------------------------------------------------------- checks can fail


PARTNER_ACTIVE_BACKUP = VmCell(
    "partner-active-backup", "vm-bookworm-ifupdown", "debian 12", BONDED,
    switch_mode="active-backup", settle_wait=NEGATIVE_WAIT,
)  # fmt: skip


# Booted by `make vm` only, for the time budget (docs/testing.md): each takes 70-100 s, and
# the same complaints are proven offline on mutations of a real report ("no LACP partner",
# "mode 'load balancing"), so `make test` loses only the proof that a real switch and a
# real file edit give such a report.
def _make_vm_only(cell: VmCell) -> pytest.MarkDecorator:
    if os.environ.get("PN_VM_ALL") == "1":
        return pytest.mark.boots(cell)
    return pytest.mark.skip(reason="left out of make test for time; `make vm` boots it")


@_make_vm_only(PARTNER_ACTIVE_BACKUP)
def test_an_active_backup_partner_fails(built: None, pyz: Path, tmp_path: Path) -> None:
    cell = PARTNER_ACTIVE_BACKUP
    outcome = vm_prefetch.outcome(cell, pyz, tmp_path)
    with pytest.raises(AssertionError, match="aggregator|LACP partner"):
        vm_checks.check_cell(outcome, cell)


def _balance_rr(root: Path) -> None:
    eni = root / "etc" / "network" / "interfaces"
    eni.write_text(eni.read_text().replace("bond-mode 4\n", "bond-mode 0\n"))


MODE_MUTATED = VmCell(
    "mode-mutated", "vm-bookworm-ifupdown", "debian 12", BONDED, edit=_balance_rr,
    settle_wait=NEGATIVE_WAIT,
)  # fmt: skip


@_make_vm_only(MODE_MUTATED)
def test_a_mutated_mode_fails(built: None, pyz: Path, tmp_path: Path) -> None:
    cell = MODE_MUTATED
    outcome = vm_prefetch.outcome(cell, pyz, tmp_path)
    with pytest.raises(AssertionError, match="mode 'load balancing \\(round-robin\\)'"):
        vm_checks.check_cell(outcome, cell)


# ---------------------------------------------------------------------------- the checks, offline

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
