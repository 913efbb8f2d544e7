"""The RHEL family: CentOS 7-8 (Stream 8 too) and CentOS Stream 9, RHEL 7-9, Rocky 8-9,
AlmaLinux 8-9, Scientific Linux 7. CentOS Stream says ``ID="centos"`` and
``VERSION_ID="9"`` in its os-release: it is configured as the RHEL it leads.

One builder for all of them: ifcfg files that the legacy network scripts (initscripts)
and NetworkManager's ifcfg-rh plugin both read. Which of the two brings the network up
decides whether NetworkManager is switched off:

* 7: initscripts ships the ``network`` service and it is enabled; NetworkManager would
  take the same ifcfg files over, so it is disabled and the scripts drive.
* 8: the scripts are the optional, deprecated ``network-scripts`` package. Where the
  target has it installed they drive, as on 7; otherwise NetworkManager reads the files.
* 9: the scripts are gone; NetworkManager reads the files, and udev names NICs through
  ``.link`` files as well as the rules.
"""

from __future__ import annotations

from packetnetworking import backends, detect, files
from packetnetworking.backends import IFCFG, NETWORKMANAGER
from packetnetworking.plan import Plan
from packetnetworking.registry import Context, distro
from packetnetworking.render import render
from packetnetworking.renderers import ifcfg
from packetnetworking.tasks import Delete, Task, Write

# The legacy service's init script, installed by initscripts (7) or network-scripts (8).
NETWORK_SERVICE = "etc/rc.d/init.d/network"

# What `systemctl enable NetworkManager` creates, from the [Install] sections of
# NetworkManager.service (WantedBy, Alias, Also=NetworkManager-dispatcher.service),
# NetworkManager-dispatcher.service (Alias) and NetworkManager-wait-online.service.
NETWORK_MANAGER_LINKS = (
    "etc/systemd/system/multi-user.target.wants/NetworkManager.service",
    "etc/systemd/system/dbus-org.freedesktop.NetworkManager.service",
    "etc/systemd/system/dbus-org.freedesktop.nm-dispatcher.service",
    "etc/systemd/system/network-online.target.wants/NetworkManager-wait-online.service",
)

RHEL = ("redhatenterprise", "redhatenterpriseserver")
CENTOS = ("centos-stream", "centos_stream", "centosstream")
# 7: the network scripts only. 8 and 9 without the network-scripts package:
# NetworkManager keyfiles, its own format.
SEVEN, EIGHT_NINE = (IFCFG,), (IFCFG, NETWORKMANAGER)


@distro("scientific", versions="7", names=("scientificcernslc",), backends=SEVEN)
@distro("almalinux", versions="8-9", names=("alma",), backends=EIGHT_NINE)
@distro("rocky", versions="8-9", backends=EIGHT_NINE)
@distro("rhel", versions="7", names=RHEL, backends=SEVEN)
@distro("rhel", versions="8-9", names=RHEL, backends=EIGHT_NINE)
@distro("centos", versions="7", names=CENTOS, backends=SEVEN)
@distro("centos", versions="8-9", names=CENTOS, backends=EIGHT_NINE)
def ifcfg_scripts(ctx: Context) -> list[Task]:
    choice = ctx.choice
    if choice.backend == NETWORKMANAGER:
        return backends.native_files(ctx.plan, choice)
    plan = ctx.plan
    tasks = [
        *ifcfg.interfaces(plan),
        ifcfg.network(plan),
        *ifcfg.bonding_aliases(plan),
        ifcfg.pre_local(plan),
        files.udev_names(plan),
    ]
    if _major(ctx) >= 9:
        tasks += link_files(plan)
    if network_scripts_drive(ctx):
        tasks += [Delete(path) for path in NETWORK_MANAGER_LINKS]
    # The ifcfg files carry the resolvers (DNSn): a symlinked resolv.conf's owner reads them.
    return [*tasks, files.hostname(plan), files.hosts(plan), *backends.resolver_files(plan, choice)]


def network_scripts_drive(ctx: Context) -> bool:
    """Whether the legacy ``network`` service, not NetworkManager, brings the network up."""
    major = _major(ctx)
    if major == 7:
        return True
    return major == 8 and ctx.findings.found(detect.NETWORK_SCRIPTS) == NETWORK_SERVICE


def link_files(plan: Plan) -> list[Task]:
    """systemd-udevd's own way to pin a name to a MAC, one ``70-<nic>.link`` per NIC."""
    return [
        Write(f"etc/systemd/network/70-{nic.name}.link", render("ifcfg-systemd.link.j2", nic=nic))
        for nic in plan.nics
    ]


def _major(ctx: Context) -> int:
    version = ctx.target.version_tuple
    if not version:  # the registry only selects this builder for a numeric version
        raise ValueError(f"no numeric version in {ctx.target}")
    return version[0]
