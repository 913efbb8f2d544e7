"""Alpine 3.x: ifupdown-ng reads etc/network/interfaces; busybox mdev and nameif pin names.

ifupdown-ng has been Alpine's ifupdown since 3.13 (every release still supported), so
all of 3.x gets its dialect. The busybox ifupdown of older releases is not targeted:
it wants netmask lines and cannot make a bond without the extra "bonding" package.
"""

from __future__ import annotations

from packetnetworking import backends, files
from packetnetworking.plan import Plan
from packetnetworking.registry import Context, distro
from packetnetworking.renderers import eni
from packetnetworking.tasks import EnsureLine, Task, Write

# mdev runs nameif for each network device it is told about; nameif reads etc/mactab.
# The leading "-" lets mdev go on to the rules after this one.
MDEV_NAMEIF = "-SUBSYSTEM=net;DEVPATH=.*/net/.*;.*     root:root 600 @/sbin/nameif -s"

# Loading the bonding module makes a bond0 at once (max_bonds defaults to 1), and
# ifupdown-ng's bond executor leaves an existing bond alone: no mode, no members, so
# bond0 stays balance-rr with nothing in it. With no bond made at load, the executor
# creates each bond with its options ("ip link add bond0 type bond mode 802.3ad ...").
BONDING_OPTIONS = """\
# Written by packet-networking: ifupdown-ng creates each bond itself, with its options.
options bonding max_bonds=0
"""


@distro("alpine", versions="3", backends=(backends.ENI,))
def alpine(ctx: Context) -> list[Task]:
    plan = ctx.plan
    return [
        eni.interfaces(plan, eni.IFUPDOWN_NG),
        *files.bonding_module(plan),
        *bonding_options(plan),
        mactab(plan),
        EnsureLine("etc/mdev.conf", MDEV_NAMEIF),
        # For installs that chose eudev (setup-devd udev) instead of mdev.
        files.udev_names(plan),
        files.hostname(plan),
        files.hosts(plan),
        *resolvers(ctx),
    ]


def resolvers(ctx: Context) -> list[Task]:
    """As every distro does (``backends.resolver_files``), with one difference: ifupdown-ng
    has no DNS keys, so where etc/resolv.conf is a link to some other owner, nothing
    would carry the servers. Alpine's resolvconf is openresolv, which takes static
    servers from its own config: ``name_servers`` in etc/resolvconf.conf."""
    tasks = backends.resolver_files(ctx.plan, ctx.choice)
    if tasks or ctx.findings.resolv_conf_link is None or not ctx.plan.resolvers:
        return tasks
    servers = " ".join(str(r) for r in ctx.plan.resolvers)
    return [
        EnsureLine("etc/resolvconf.conf", f'name_servers="{servers}"', replaces="name_servers=")
    ]


def bonding_options(plan: Plan) -> list[Task]:
    return [Write("etc/modprobe.d/bonding.conf", BONDING_OPTIONS)] if plan.bonds else []


def mactab(plan: Plan) -> Task:
    """busybox nameif's table: one "NAME MAC" line per NIC."""
    lines = ["# Written by packet-networking: each NIC's name, pinned to its MAC address."]
    lines += [f"{nic.name} {nic.mac}" for nic in plan.nics]
    return Write("etc/mactab", "\n".join(lines) + "\n")
