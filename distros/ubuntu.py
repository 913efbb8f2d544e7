"""Ubuntu 18.04-24.04 with ifupdown (Equinix's own images install it).

Resolvers go to systemd-resolved's config: Ubuntu's resolv.conf is resolved's stub.
"""

from __future__ import annotations

from packetnetworking.distros.debian import eni_tasks

from packetnetworking import files
from packetnetworking.registry import Context, distro
from packetnetworking.tasks import Task


@distro("ubuntu", versions="18.04-24.04")
def ubuntu(ctx: Context) -> list[Task]:
    return [*eni_tasks(ctx), files.resolved_conf(ctx.plan)]
