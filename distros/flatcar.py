"""Flatcar Container Linux: systemd-networkd, which Flatcar runs by default.

The version is a channel (``-o 'flatcar stable'``) or a release number; both are
configured alike. The files go to /etc/systemd/network, which sorts before Flatcar's
own ``zz-default.network`` (DHCP on every NIC), so ours win for the NICs we configure.
"""

from __future__ import annotations

from packetnetworking import backends, files
from packetnetworking.registry import Context, distro
from packetnetworking.tasks import Task

BACKENDS = backends.Table.of({"*": (backends.NETWORKD,)})


def networkd_tasks(ctx: Context, choice: backends.Choice) -> list[Task]:
    """networkd's files, hostname, hosts and resolvers: Flatcar's and Arch's."""
    plan = ctx.plan
    return [
        *backends.native_tasks(plan, backends.NETWORKD),
        files.hostname(plan),
        files.hosts(plan),
        *backends.resolver_files(ctx, choice),
    ]


@distro("flatcar", names=("flatcar-linux", "flatcar_linux", "flatcar-container-linux"))
@backends.offers(BACKENDS)
def flatcar(ctx: Context) -> list[Task]:
    return networkd_tasks(ctx, backends.choose(ctx, BACKENDS))
