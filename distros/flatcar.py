"""Flatcar Container Linux: systemd-networkd, which Flatcar runs by default.

The version is a channel (``-o 'flatcar stable'``) or a release number; both are
configured alike. The files go to /etc/systemd/network, which sorts before Flatcar's
own ``zz-default.network`` (DHCP on every NIC), so ours win for the NICs we configure.
"""

from __future__ import annotations

from packetnetworking import backends
from packetnetworking.registry import Context, distro
from packetnetworking.tasks import Task


@distro(
    "flatcar",
    names=("flatcar-linux", "flatcar_linux", "flatcar-container-linux"),
    backends=(backends.NETWORKD,),
)
def flatcar(ctx: Context) -> list[Task]:
    return backends.native_files(ctx.plan, ctx.choice)
