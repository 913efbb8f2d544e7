"""NetworkManager keyfiles: one ``.nmconnection`` profile per configured device.

As nm-settings-keyfile(5) and nm-settings(5) describe them (NetworkManager 1.42):

* a bond profile (``type=bond``) with the ``[bond]`` options under the kernel's names,
  the bond's MAC as ``[ethernet] cloned-mac-address`` and the link's addressing;
* a port profile per member, matched by ``[ethernet] mac-address`` (NetworkManager
  compares it with the permanent MAC) and tied to the bond by ``master=`` and
  ``slave-type=bond``: the names 1.42 documents, which every older release reads and
  newer ones keep reading as aliases of ``controller``/``port-type``;
* addresses as ``addressN=ADDRESS/PREFIX``, the default gateway after the first one
  (``address1=ADDRESS/PREFIX,GATEWAY``, the oldest spelling), ``routeN=DEST,GATEWAY``,
  and ``dns=`` lists.

NetworkManager ignores profiles that anyone but root can read, so each is mode 0600.
Files are named after the device, which replaces a profile an installer wrote under the
same name; the UUIDs are derived from the profile, so a rerun writes the same bytes.

The NICs the plan leaves alone are handed back in a NetworkManager.conf drop-in
(``[keyfile] unmanaged-devices``, by MAC), or NetworkManager would give each its
automatic DHCP profile, and NetworkManager-wait-online would wait for a lease that an
unconfigured port never gets.
"""

from __future__ import annotations

import uuid

from ..metadata import IPAddress
from ..plan import IP, Bond, Nic, Plan, Vlan
from ..render import render
from ..tasks import SECRET, Task, Write
from . import common

DIRECTORY = "etc/NetworkManager/system-connections"
# Late in conf.d's order: a later file's plain ``unmanaged-devices=`` would replace ours.
UNMANAGED = "etc/NetworkManager/conf.d/99-packet-unmanaged.conf"
# Above the default of 0: an image's own profile for the same NIC loses to ours.
PRIORITY = "10"
_NAMESPACE = uuid.UUID("5e0b8a4e-43a7-4c5c-9d55-0f3b7d6a2c11")


_DHCP = [("ipv4", (("method", "auto"),)), ("ipv6", (("method", "auto"),))]


# A device that carries no address itself: a second bond, a VLAN's parent.
_NO_ADDRESS: list[common.Section] = [
    ("ipv4", (("method", "disabled"),)),
    ("ipv6", (("method", "ignore"),)),
]


def tasks(plan: Plan) -> list[Task]:
    result = common.by_mode(
        plan,
        bonded=lambda bond, members: [
            _profile(bond.name, _bond(plan, bond)),
            *(_profile(nic.name, _port(nic, bond)) for nic in members),
        ],
        individual=lambda nic: [_profile(nic.name, [*_ethernet(nic), *_nic_addressing(plan)])],
        dhcp=lambda nic: [_profile(nic.name, [*_ethernet(nic), *_DHCP])],
    )
    result += [_profile(n.name, _own(n, ip)) for n in plan.static_nics if (ip := n.address)]
    if plan.vlan:
        result.append(_profile(plan.vlan.name, _vlan(plan, plan.vlan)))
    alone = common.left_alone(plan)
    if alone:
        result.append(_unmanaged([mac for _, mac in alone]))
    return result


def _unmanaged(macs: list[str]) -> Task:
    """``+=`` appends to the list the image's own files set (NetworkManager.conf(5)), so
    what they leave unmanaged stays so. ``mac:`` matches the permanent MAC."""
    specs = "".join(f"mac:{mac};" for mac in macs)
    sections = common.checked([("keyfile", (("unmanaged-devices", specs),))], list_values=True)
    return Write(UNMANAGED, render("nm-unmanaged.conf.j2", specs=sections[0][1][0][1]))


def _own(nic: Nic, ip: IP) -> list[common.Section]:
    """A NIC's own static address, its gateway the default route where the Plan kept it."""
    v4, v6 = ([ip], []) if ip.version == 4 else ([], [ip])
    return [
        *_ethernet(nic),
        ("ipv4", _family(v4, [], "", "disabled")),
        ("ipv6", _family(v6, [], "", "ignore")),
    ]


def profile_uuid(name: str, mac: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{name} {mac}"))


def _profile(name: str, sections: list[common.Section]) -> Task:
    content = render("nm-keyfile.j2", sections=common.checked(sections, list_values=True))
    return Write(f"{DIRECTORY}/{name}.nmconnection", content, mode=SECRET)


def _connection(name: str, mac: str, kind: str, *extra: tuple[str, str]) -> common.Section:
    pairs = (
        ("id", name),
        ("uuid", profile_uuid(name, mac)),
        ("type", kind),
        *extra,
        ("autoconnect-priority", PRIORITY),
    )
    return ("connection", pairs)


def _ethernet(nic: Nic) -> list[common.Section]:
    return [
        _connection(nic.name, nic.mac, "ethernet"),
        ("ethernet", (("mac-address", nic.mac),)),
    ]


def _port(nic: Nic, bond: Bond) -> list[common.Section]:
    connection = _connection(
        nic.name, nic.mac, "ethernet", ("master", bond.name), ("slave-type", "bond")
    )
    return [connection, ("ethernet", (("mac-address", nic.mac),))]


def _bond(plan: Plan, bond: Bond) -> list[common.Section]:
    options = bond.options("networkmanager")
    sections = [
        _connection(bond.name, bond.mac, "bond", ("interface-name", bond.name)),
        ("ethernet", (("cloned-mac-address", bond.mac),)),
        ("bond", tuple(options)),
    ]
    if bond.name != plan.link:  # a second bond or a VLAN's parent: up, with no addresses
        return [*sections, *_NO_ADDRESS]
    return [*sections, *_addressing(plan)]


def _nic_addressing(plan: Plan) -> list[common.Section]:
    """The individual link's NIC: the addresses, or none when a VLAN on it has them."""
    return _NO_ADDRESS if plan.vlan else _addressing(plan)


def _vlan(plan: Plan, vlan: Vlan) -> list[common.Section]:
    """``type=vlan`` over its parent's interface name (nm-settings: ``vlan.parent`` takes
    a name or a UUID; the name holds whichever profile brings the parent up)."""
    # No MAC of its own to derive the UUID from: the id stands in, unique on its parent.
    connection = _connection(vlan.name, str(vlan.id), "vlan", ("interface-name", vlan.name))
    vlan_section = ("vlan", (("id", str(vlan.id)), ("parent", vlan.parent)))
    return [connection, vlan_section, *_addressing(plan)]


def _addressing(plan: Plan) -> list[common.Section]:
    ipv4 = [ip for ip in plan.addresses if ip.version == 4]
    ipv6 = [ip for ip in plan.addresses if ip.version == 6]
    v4_routes = [(str(r.destination), str(r.gateway)) for r in plan.routes]
    return [
        ("ipv4", _family(ipv4, v4_routes, _resolvers(plan, 4), "disabled")),
        ("ipv6", _family(ipv6, [], _resolvers(plan, 6), "ignore")),
    ]


def _family(addresses: list[IP], routes: list[tuple[str, str]], dns: str, off: str) -> common.Pairs:
    """One [ipv4]/[ipv6] section; ``off`` is the method when there is no address."""
    if not addresses:
        return (("method", off),)
    pairs = [("method", "manual")]
    for n, ip in enumerate(addresses, 1):
        # The gateway of the first address is the default route's next hop.
        gateway = f",{ip.gateway}" if n == 1 and ip.gateway else ""
        pairs.append((f"address{n}", ip.cidr + gateway))
    pairs += [(f"route{n}", f"{dest},{via}") for n, (dest, via) in enumerate(routes, 1)]
    if dns:
        pairs.append(("dns", dns))
    return tuple(pairs)


def _resolvers(plan: Plan, version: int) -> str:
    chosen: list[IPAddress] = [r for r in plan.resolvers if r.version == version]
    return "".join(f"{r};" for r in chosen)
