"""SUSE with wicked: SLES 12-15 and openSUSE Leap 15.

One builder serves both families: they share wicked, its sysconfig files and netconfig.
Leap and SLES 16 replace wicked with NetworkManager, so the ranges stop at 15. The
resolv.conf is netconfig's to write (often a link into /run): we give it the servers.
"""

from __future__ import annotations

from packetnetworking import backends, files
from packetnetworking.registry import Context, distro
from packetnetworking.renderers import wicked
from packetnetworking.tasks import Task

BACKENDS = backends.Table.of({"12-15": (backends.WICKED,)})


@distro("sles", versions="12-15", names=("suse",))
@distro("opensuse", versions="15", names=("opensuse-leap",))
@backends.offers(BACKENDS)
def suse(ctx: Context) -> list[Task]:
    backends.choose(ctx, BACKENDS)  # logs the choice; refuses a --backend it cannot write
    plan = ctx.plan
    return [
        *wicked.interfaces(plan),
        *wicked.resolvers(plan),
        files.udev_names(plan),
        files.hostname(plan),
        files.hosts(plan),
    ]
