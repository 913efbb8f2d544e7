"""Debian 10-13: ifupdown with ifenslave, resolv.conf written directly."""

from __future__ import annotations

from packetnetworking import files
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


@distro("debian", versions="10-13")
def debian(ctx: Context) -> list[Task]:
    return [*eni_tasks(ctx), files.resolv_conf(ctx.plan)]
