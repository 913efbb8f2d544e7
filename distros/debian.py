"""Debian 10-13: ifupdown with ifenslave, resolv.conf written directly.

From 12 on, a target without ifupdown that runs netplan, NetworkManager or
systemd-networkd gets that tool's files instead (see packetnetworking/backends.py).
"""

from __future__ import annotations

from packetnetworking import backends, files
from packetnetworking.registry import Context, distro
from packetnetworking.renderers import eni
from packetnetworking.tasks import Task

BACKENDS = backends.Table.of(
    {
        "10-11": (backends.ENI,),
        "12+": (backends.ENI, backends.NETPLAN, backends.NETWORKMANAGER, backends.NETWORKD),
    }
)


def eni_tasks(ctx: Context) -> list[Task]:
    """What every ifupdown distro writes; Ubuntu adds its resolver file to this."""
    plan = ctx.plan
    return [
        eni.interfaces(plan),
        *files.bonding_module(plan),
        files.udev_names(plan),
        files.hostname(plan),
        files.hosts(plan),
    ]


@distro("debian", versions="10-13")
@backends.offers(BACKENDS)
def debian(ctx: Context) -> list[Task]:
    choice = backends.choose(ctx, BACKENDS)
    if choice.backend != backends.ENI:
        return backends.native_files(ctx, choice)
    return [*eni_tasks(ctx), *backends.resolver_files(ctx, choice)]
