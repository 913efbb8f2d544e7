"""The VM cells (tests/test_vm_bonds.py boots them, tests/test_vm_checks.py reads their
saved reports): for each, the guest root, the OS the tool is told, the metadata, and what
the guest needs beyond the tool's files.
"""

from __future__ import annotations

from pathlib import Path

import factories as f
from support import vm, vm_ifcfg_rh
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
# The image matrix's mode column for each cell ("bonded" when not named here).
MODE_OF = {
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
