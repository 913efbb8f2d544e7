"""systemd-networkd: ``.link``, ``.netdev`` and ``.network`` files in etc/systemd/network.

As systemd.link(5), systemd.netdev(5) and systemd.network(5) describe them:

* a ``.link`` per NIC pins its OS name to its permanent MAC (udev applies it);
* a bond is a ``.netdev`` with ``[Bond]`` options, and a ``.network`` per member
  that joins it with ``Bond=``;
* the link's ``.network`` carries the addresses, the default gateways, a ``[Route]``
  per private subnet and the resolvers;
* every host NIC that no file of ours configures gets a ``.network`` with
  ``Unmanaged=yes``, and ``RequiredForOnline=`` says which links wait-online waits for.

NICs are matched by ``PermanentMACAddress=`` (systemd 245+), not ``MACAddress=``: a
bond gives its members the bond's MAC, after which a match on the current MAC would
pick the wrong file. The ``10-packet-`` prefix sorts before the catch-all files that
images ship (``99-default.link``, Flatcar's ``zz-default.network``): for each device
networkd uses the first matching file by name.
"""

from __future__ import annotations

from ..plan import IP, Bond, Nic, Plan, Vlan
from ..render import render
from ..tasks import Task, Write
from . import common

DIRECTORY = "etc/systemd/network"
PREFIX = "10-packet-"


def tasks(plan: Plan) -> list[Task]:
    result = [_file(f"{nic.name}.link", _link(nic)) for nic in plan.nics]
    result += common.by_mode(
        plan,
        bonded=lambda bond, members: [
            _file(f"{bond.name}.netdev", _netdev(bond)),
            *(_file(f"{nic.name}.network", _member(nic, bond)) for nic in members),
            _file(f"{bond.name}.network", _bond_network(plan, bond)),
        ],
        individual=lambda nic: [
            _file(f"{nic.name}.network", _vlan_parent(plan.vlan, [_match(nic)]))
            if plan.vlan
            else _file(f"{nic.name}.network", [_match(nic), *_addressing(plan)])
        ],
        dhcp=lambda nic: [
            _file(f"{nic.name}.network", [_match(nic), ("Network", (("DHCP", "ipv4"),))])
        ],
    )
    own = [(nic, ip) for nic in plan.static_nics if (ip := nic.address)]
    result += [_file(f"{nic.name}.network", _own(nic, ip)) for nic, ip in own]
    if plan.vlan:
        result += [
            _file(f"{plan.vlan.name}.netdev", _vlan_netdev(plan.vlan)),
            _file(f"{plan.vlan.name}.network", _vlan_network(plan, plan.vlan)),
        ]
    result += [_file(f"{name}.network", _unmanaged(mac)) for name, mac in common.left_alone(plan)]
    return result


def _match(nic: Nic) -> common.Section:
    return ("Match", (("PermanentMACAddress", nic.mac),))


def _unmanaged(mac: str) -> list[common.Section]:
    """Left alone, before an image's catch-all (Flatcar's zz-default.network: DHCP on
    every link) takes it: a link stuck in DHCP would hold systemd-networkd-wait-online
    until its timeout at every boot."""
    return [("Match", (("PermanentMACAddress", mac),)), ("Link", (("Unmanaged", "yes"),))]


def _file(name: str, sections: list[common.Section]) -> Task:
    content = render("networkd-unit.j2", sections=common.checked(sections))
    return Write(f"{DIRECTORY}/{PREFIX}{name}", content)


def _link(nic: Nic) -> list[common.Section]:
    return [("Match", (("PermanentMACAddress", nic.mac),)), ("Link", (("Name", nic.name),))]


def _netdev(bond: Bond) -> list[common.Section]:
    options = bond.options("networkd")
    netdev = (("Name", bond.name), ("Kind", "bond"), ("MACAddress", bond.mac))
    return [("NetDev", netdev), ("Bond", tuple(options))]


def _member(nic: Nic, bond: Bond) -> list[common.Section]:
    # A member has no addresses of its own, not even a link-local one. wait-online must
    # not wait for it: a port without carrier still leaves the bond up.
    network = (("Bond", bond.name), ("LinkLocalAddressing", "no"))
    return [
        ("Match", (("PermanentMACAddress", nic.mac),)),
        ("Link", (("RequiredForOnline", "no"),)),
        ("Network", network),
    ]


# What systemd-networkd-wait-online waits for (networkctl(1) operational states): the
# bond that carries the addresses, until it is "routable", which a bond is as soon as one
# port has carrier; never a port (one without carrier would hold it to its timeout), nor
# a second bond that carries no address and that nothing online depends on.
_LINK_BOND_ONLINE = ("Link", (("RequiredForOnline", "routable"),))
_OTHER_BOND_ONLINE = ("Link", (("RequiredForOnline", "no"),))


def _bond_network(plan: Plan, bond: Bond) -> list[common.Section]:
    match = ("Match", (("Name", bond.name),))
    if plan.vlan and bond.name == plan.vlan.parent:
        return _vlan_parent(plan.vlan, [match])
    if bond.name != plan.link:  # a second bond: up, with no addresses (ENI's "manual")
        return [match, _OTHER_BOND_ONLINE, ("Network", (("LinkLocalAddressing", "ipv6"),))]
    return [match, _LINK_BOND_ONLINE, *_addressing(plan)]


def _own(nic: Nic, ip: IP) -> list[common.Section]:
    """A NIC's own static address. wait-online waits for it only when it carries a
    default route (the Plan kept its gateway): else a NIC without carrier would hold
    the boot to its timeout for an address nothing online depends on."""
    network: list[tuple[str, str]] = [("Address", ip.cidr)]
    if ip.gateway:
        network.append(("Gateway", str(ip.gateway)))
    network.append(("IPv6AcceptRA", "no"))
    online = _LINK_BOND_ONLINE if ip.gateway else _OTHER_BOND_ONLINE
    return [_match(nic), online, ("Network", tuple(network))]


def _vlan_netdev(vlan: Vlan) -> list[common.Section]:
    return [("NetDev", (("Name", vlan.name), ("Kind", "vlan"))), ("VLAN", (("Id", str(vlan.id)),))]


def _vlan_parent(vlan: Vlan, match: list[common.Section]) -> list[common.Section]:
    """The bond or NIC under the VLAN: ``VLAN=`` creates the VLAN on it; it carries no
    address of its own, and wait-online waits for the VLAN, which needs it up anyway."""
    network = (("VLAN", vlan.name), ("LinkLocalAddressing", "no"))
    return [*match, ("Link", (("RequiredForOnline", "no"),)), ("Network", network)]


def _vlan_network(plan: Plan, vlan: Vlan) -> list[common.Section]:
    return [("Match", (("Name", vlan.name),)), _LINK_BOND_ONLINE, *_addressing(plan)]


def _addressing(plan: Plan) -> list[common.Section]:
    network = [("Address", ip.cidr) for ip in plan.addresses]
    network += [("Gateway", str(gateway)) for gateway in common.default_gateways(plan)]
    network += [("DNS", str(resolver)) for resolver in plan.resolvers]
    # The addresses are static, as ifupdown's inet6 static (accept_ra 0). Left on, the
    # link waits for router discovery to give up (~12 s measured) before it counts as
    # configured, and systemd-networkd-wait-online with it, at every boot.
    network.append(("IPv6AcceptRA", "no"))
    routes = [
        ("Route", (("Destination", str(r.destination)), ("Gateway", str(r.gateway))))
        for r in plan.routes
    ]
    return [("Network", tuple(network)), *routes]
