"""Arch Linux: systemd-networkd (rolling release: any version, or none).

An Arch image has to enable systemd-networkd itself (``systemctl enable
systemd-networkd``): the files here do nothing unless it runs.
"""

from __future__ import annotations

from packetnetworking import backends
from packetnetworking.registry import Context, distro
from packetnetworking.tasks import Task


@distro("archlinux", names=("arch", "arch_linux"), backends=(backends.NETWORKD,))
def arch(ctx: Context) -> list[Task]:
    return backends.native_files(ctx.plan, ctx.choice)
