"""Plans whose addresses ride an 802.1Q VLAN, or NICs with addresses of their own, and
what each distro writes for them.

The Equinix metadata has no VLAN field; the Tinkerbell Hardware has (``dhcp.vlan_id``),
and both end in the one Metadata model: so these cases take a factories document and
set ``Interface.vlan`` on the parsed Metadata, as an input format module would.

* ``vlan-bond``: the mlag_ha bond of factories.metadata(), both members tagged 100:
  ``bond0.100`` over bond0.
* ``vlan-nic``: individual mode on NICs with long predictable names, the first tagged
  4094: ``enp65s0f0np0.4094`` is 17 bytes, over IFNAMSIZ, so the device is ``vlan4094``
  with its raw device named beside it.
* ``vlan-nic-short``: individual, a short NIC name: ``enp1s0f0.7``.

OWN_CASES: NICs with a static address of their own (``Interface.address``, a Tinkerbell
Hardware's per-interface ``dhcp.ip``), in individual mode, three NICs:

* ``own-beside-link``: the link has the usual addresses and default routes; enp1s0f1
  has 192.168.50.10/24 and enp1s0f2 2001:db8:5::10/64, each with a gateway that the
  plan drops (the link's default route of that family is the one).
* ``own-no-link-gateway``: the link has only IPv6; enp1s0f1's gateway becomes the IPv4
  default route, enp1s0f2's (a second IPv4 one) is dropped.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Optional

import attrs
import factories as f

from packetnetworking import metadata as md
from packetnetworking import plan as plan_module
from packetnetworking import planner, registry, selection
from packetnetworking.metadata import equinix
from packetnetworking.nics import HostNic
from packetnetworking.target import from_option


def long_nics(count: int = 2) -> tuple[HostNic, ...]:
    return tuple(
        HostNic(name=f"enp65s0f{i}np{i}", mac=f.mac(i), driver="ice", kernel_name=f"eth{i}")
        for i in range(count)
    )


@attrs.frozen
class Case:
    doc: dict
    vlans: tuple[Optional[int], ...]  # per metadata interface, in document order
    nics: tuple[HostNic, ...]


CASES = {
    "vlan-bond": Case(f.metadata(), (100, 100), f.host_nics(2)),
    "vlan-nic": Case(f.metadata(aggregation="individual"), (4094, None), long_nics(2)),
    "vlan-nic-short": Case(f.metadata(aggregation="individual"), (7, None), f.host_nics(2)),
}
# The cases with golden files (reviewed line by line).
GOLDEN_CASES = ("vlan-bond", "vlan-nic")


def _ip(cidr: str, gateway: str) -> md.IP:
    return md.IP(ipaddress.ip_interface(cidr), ipaddress.ip_address(gateway))


@attrs.frozen
class OwnCase:
    doc: dict
    addresses: tuple[Optional[md.IP], ...]  # per metadata interface
    resolvers: tuple[str, ...] = f.RESOLVERS


OWN_CASES = {
    "own-beside-link": OwnCase(
        f.metadata(nics=3, aggregation="individual"),
        (None, _ip("192.168.50.10/24", "192.168.50.1"), _ip("2001:db8:5::10/64", "2001:db8:5::1")),
    ),
    "own-no-link-gateway": OwnCase(
        f.metadata(nics=3, aggregation="individual", public4=False, private4=False),
        (None, _ip("192.168.50.10/24", "192.168.50.1"), _ip("192.168.60.10/24", "192.168.60.1")),
        # An IPv6 resolver: the link, IPv6 only, is where the formats put resolvers.
        resolvers=("2001:4860:4860::8888",),
    ),  # fmt: skip
}


def addressed(doc: dict, addresses: tuple[Optional[md.IP], ...]) -> md.Metadata:
    """The document's Metadata with ``addresses[i]`` as its i-th interface's own."""
    metadata = equinix.from_dict(doc)
    interfaces = tuple(
        attrs.evolve(iface, address=ip) for iface, ip in zip(metadata.interfaces, addresses)
    )
    return attrs.evolve(metadata, interfaces=interfaces)


def tagged(doc: dict, vlans: tuple[Optional[int], ...]) -> md.Metadata:
    """The document's Metadata with ``vlans[i]`` on its i-th interface."""
    metadata = equinix.from_dict(doc)
    interfaces = tuple(
        attrs.evolve(iface, vlan=vlan) for iface, vlan in zip(metadata.interfaces, vlans)
    )
    return attrs.evolve(metadata, interfaces=interfaces)


def plan_of(case: str) -> plan_module.Plan:
    resolvers = md.parse_resolvers(list(f.RESOLVERS), "--resolvers")
    if case in OWN_CASES:
        own = OWN_CASES[case]
        metadata = addressed(own.doc, own.addresses)
        resolvers = md.parse_resolvers(list(own.resolvers), "--resolvers")
        plan = planner.build(metadata, f.host_nics(len(own.addresses)), resolvers)
    else:
        c = CASES[case]
        plan = planner.build(tagged(c.doc, c.vlans), c.nics, resolvers)
    for hook in registry.hooks("plan", plan.plan_slug):
        plan = hook.func(plan)
    return plan


def files(os_name: str, case: str, directory: str, backend: Optional[str] = None) -> dict[str, str]:
    """What the builder for ``os_name`` writes for the case under ``directory``, by path
    below it (pure: nothing is written; ``backend`` as --backend)."""
    plan, target = plan_of(case), from_option(os_name)
    chosen = selection.select(target, plan.mode, Path("/nonexistent"), backend)
    prefix = directory.rstrip("/") + "/"
    return {
        t.path[len(prefix) :]: t.content
        for t in chosen.builder.func(chosen.context(plan))
        if hasattr(t, "content") and t.path.startswith(prefix)
    }


GOLDEN_FORMATS = {
    # golden directory: (-o, directory the files are under, --backend)
    "debian": ("debian 12", "etc/network", None),
    "alpine": ("alpine 3.20", "etc/network", None),
    "netplan": ("ubuntu 22.04", "etc/netplan", "netplan"),
    "networkd": ("flatcar stable", "etc/systemd/network", None),
    "nm": ("rhel 10", "etc/NetworkManager/system-connections", None),
    "rhel": ("rocky 9", "etc/sysconfig", None),
    "suse": ("sles 15.5", "etc/sysconfig/network", None),
}


def network_files(fmt: str, case: str) -> dict[str, str]:
    """The format's network files for the case (udev's .link files and SUSE's netconfig
    file are the same with or without a VLAN, and covered by the other goldens)."""
    os_name, directory, backend = GOLDEN_FORMATS[fmt]
    out = files(os_name, case, directory, backend)
    return {p: c for p, c in out.items() if not p.endswith(".link") and p != "config"}
