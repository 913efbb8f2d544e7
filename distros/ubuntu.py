"""Ubuntu 18.04-26.04: ifupdown where the image has it (Equinix's own images), else netplan.

Every release from 18.04 to 26.04 LTS, the interim ones (24.10, 25.04, 25.10) included:
netplan 1.x still reads the version-2 YAML written here, and ifupdown is unchanged. A
later release is served by this builder under the forward policy (docs/systems.md).

With ifupdown, resolvers go to systemd-resolved's config: Ubuntu's resolv.conf is
resolved's stub. With netplan they are in the YAML, which reaches resolved through
networkd.
"""

from __future__ import annotations

from packetnetworking import backends, files
from packetnetworking.backends import ENI, NETPLAN
from packetnetworking.registry import Context, distro
from packetnetworking.tasks import Task

from .debian import eni_tasks  # relative: mypy checks distros/ as "distros" (pyproject.toml)


@distro("ubuntu", versions="18.04-26.04", backends=(ENI, NETPLAN))
def ubuntu(ctx: Context) -> list[Task]:
    if ctx.choice.backend == ENI:
        return [*eni_tasks(ctx), files.resolved_conf(ctx.plan)]
    # netplan before 0.103 (18.04 and 20.04 as released) has no "to: default".
    legacy = (ctx.target.version_tuple or ()) < (22, 4)
    return backends.native_files(ctx.plan, ctx.choice, legacy_netplan=legacy)
