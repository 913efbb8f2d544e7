"""Arch Linux: systemd-networkd (rolling release: any version, or none).

An Arch image has to enable systemd-networkd itself (``systemctl enable
systemd-networkd``): the files here do nothing unless it runs.
"""

from __future__ import annotations

from packetnetworking import backends
from packetnetworking.registry import Context, distro
from packetnetworking.tasks import Task

BACKENDS = backends.Table.of({"*": (backends.NETWORKD,)})


@distro("archlinux", names=("arch", "arch_linux"))
@backends.offers(BACKENDS)
def arch(ctx: Context) -> list[Task]:
    return backends.native_files(ctx, backends.choose(ctx, BACKENDS))
