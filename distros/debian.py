"""Debian 10-13: ifupdown with ifenslave, resolv.conf written directly.

From 12 on, a target without ifupdown that runs netplan, NetworkManager or
systemd-networkd gets that tool's files instead (see packetnetworking/backends.py).
"""

from __future__ import annotations

from packetnetworking import backends, files
from packetnetworking.backends import ENI, NETPLAN, NETWORKD, NETWORKMANAGER
from packetnetworking.registry import Context, distro
from packetnetworking.renderers import eni
from packetnetworking.tasks import Task


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


@distro("debian", versions="10-11", backends=(ENI,))
@distro("debian", versions="12-13", backends=(ENI, NETPLAN, NETWORKMANAGER, NETWORKD))
def debian(ctx: Context) -> list[Task]:
    if ctx.choice.backend != ENI:
        return backends.native_files(ctx.plan, ctx.choice)
    return [*eni_tasks(ctx), *backends.resolver_files(ctx.plan, ctx.choice)]
