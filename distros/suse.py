"""SUSE: wicked on SLES 12-15 and openSUSE Leap 15; NetworkManager on SLES and Leap 16.

One builder per network tool serves both families. On 12-15 the files are wicked's
sysconfig ones, and the resolv.conf is netconfig's to write (often a link into /run):
we give it the servers in its config.

16 dropped wicked: NetworkManager is the network service and reads keyfiles from
etc/NetworkManager/system-connections. The resolvers go into the keyfiles' DNS keys:
netconfig(8) says NetworkManager ignores netconfig's static settings, and SUSE's
wicked-to-NetworkManager migration tool (wicked2nm) moves NETCONFIG_DNS_STATIC_SERVERS
into the connections for that reason. A plain etc/resolv.conf is written as well, for
the first boot before NetworkManager rewrites it from those keys.
"""

from __future__ import annotations

from packetnetworking import backends, files
from packetnetworking.registry import Context, distro
from packetnetworking.renderers import wicked
from packetnetworking.tasks import Task


@distro("sles", versions="12-15", names=("suse",), backends=(backends.WICKED,))
@distro("opensuse", versions="15", names=("opensuse-leap",), backends=(backends.WICKED,))
def suse(ctx: Context) -> list[Task]:
    plan = ctx.plan
    return [
        *wicked.interfaces(plan),
        *wicked.resolvers(plan),
        files.udev_names(plan),
        files.hostname(plan),
        files.hosts(plan),
    ]


@distro("sles", versions="16", backends=(backends.NETWORKMANAGER,))
@distro("opensuse", versions="16", backends=(backends.NETWORKMANAGER,))
def suse16(ctx: Context) -> list[Task]:
    return backends.native_files(ctx.plan, ctx.choice)
