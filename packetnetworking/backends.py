"""Which config format (backend) a target gets: declared in its registration, seen in
its rootfs.

Each ``@distro`` registration names the backends it can write in order of preference
(``backends=(ENI, NETPLAN)``). ``choose`` takes the first one whose tool the rootfs has
(installed, and enabled where it is a service); ``--backend`` asks for one by name. The
run chooses once (selection.py) and passes the Choice to the builder in its Context. A
rootfs that shows no network tool at all (an empty directory: a dry run, a test) gets
the first, the distro's default, and the reason says so. A rootfs whose tools
contradict the choice is ``NoBuilder`` (exit 40) naming what is missing: writing a
format nothing on the target reads would boot a server with no network.
"""

from __future__ import annotations

from typing import Optional

from . import detect, files
from .errors import NoBuilder
from .plan import DHCP, Plan
from .target import Target
from .tasks import Task

ENI, IFCFG, NETPLAN = "eni", "ifcfg", "netplan"
NETWORKMANAGER, NETWORKD, WICKED = "networkmanager", "networkd", "wicked"
NAMES = (ENI, IFCFG, NETPLAN, NETWORKMANAGER, NETWORKD, WICKED)

# The tool that has to be on the target for each backend's files to mean anything.
NEEDS = {
    ENI: detect.IFUPDOWN,
    IFCFG: detect.NETWORK_SCRIPTS,
    NETPLAN: detect.NETPLAN,
    NETWORKMANAGER: detect.NETWORKMANAGER,
    NETWORKD: detect.NETWORKD,
    WICKED: detect.WICKED,
}


class Choice:
    """``detected`` False: a default or an unchecked request, not something seen."""

    __slots__ = ("backend", "reason", "detected", "findings")

    def __init__(self, backend: str, reason: str, detected: bool, findings: detect.Findings):
        self.backend, self.reason, self.detected, self.findings = (
            backend,
            reason,
            detected,
            findings,
        )


def choose(
    target: Target,
    preferences: tuple[str, ...],
    requested: Optional[str],
    findings: detect.Findings,
) -> Choice:
    """The first of ``preferences`` (a registration's formats) that the rootfs can use;
    ``requested`` (--backend) is checked instead."""
    if requested is not None:
        return _requested(requested, target, preferences, findings)
    for backend in preferences:
        if _usable(backend, findings):
            reason = f"the rootfs has {_evidence(backend, findings)}"
            if len(preferences) > 1:
                reason += f"; {target} prefers {', '.join(preferences)} in that order"
            return Choice(backend, reason, True, findings)
    if not shows_any(findings):
        reason = f"the default for {target}: the rootfs shows no network tool"
        return Choice(preferences[0], reason, False, findings)
    wanted = " or ".join(f"{b} (needs {_need(b)})" for b in preferences)
    raise NoBuilder(
        f"{target}: the rootfs has {findings.summary()}, but {target} is configured "
        f"with {wanted}; install or enable one of those in the image, or check --rootfs"
    )


def _requested(
    backend: str, target: Target, preferences: tuple[str, ...], findings: detect.Findings
) -> Choice:
    if backend not in preferences:
        raise NoBuilder(
            f"--backend {backend}: {target} is configured with {', '.join(preferences)} only"
        )
    if not shows_any(findings):
        reason = "requested with --backend; the rootfs shows no network tool to check it against"
        return Choice(backend, reason, False, findings)
    tool = NEEDS[backend]
    if not findings.has(tool):
        looked = ", ".join(f"/{p}" for p in detect.PROBES[tool])
        raise NoBuilder(
            f"--backend {backend}: the rootfs has no {tool} (looked for {looked}); "
            f"it has {findings.summary()}"
        )
    if not _usable(backend, findings):
        raise NoBuilder(
            f"--backend {backend}: {tool} is installed but not enabled (no *.wants/"
            f"{detect.SERVICES[tool]} link); enable it in the image"
        )
    reason = f"requested with --backend; the rootfs has {_evidence(backend, findings)}"
    return Choice(backend, reason, True, findings)


def _usable(backend: str, findings: detect.Findings) -> bool:
    tool = NEEDS[backend]
    return findings.has(tool) and (tool not in detect.SERVICES or findings.is_enabled(tool))


def shows_any(findings: detect.Findings) -> bool:
    """Whether the tree shows a network tool at all. systemd-networkd ships with every
    systemd, so only an enabled one says anything about how the target configures its
    network."""
    return any(
        tool != detect.NETWORKD or findings.is_enabled(tool) for tool, _ in findings.installed
    )


def _evidence(backend: str, findings: detect.Findings) -> str:
    tool = NEEDS[backend]
    text = f"{tool} (/{dict(findings.installed)[tool]}"
    if tool in detect.SERVICES:
        text += f", enabled by /{dict(findings.enabled)[tool]}"
    return text + ")"


def _need(backend: str) -> str:
    tool = NEEDS[backend]
    return f"{tool}, enabled" if tool in detect.SERVICES else tool


def resolver_files(plan: Plan, choice: Choice) -> list[Task]:
    """Where resolvers go besides the backend's own DNS keys.

    A plain etc/resolv.conf (or none) is written. When it is a symlink, writing through
    it would land in a file its owner rewrites at boot: a systemd-resolved one gets
    ``resolved.conf`` unless the backend's files already carry the resolvers (static
    modes of netplan, NetworkManager and networkd); any other owner (resolvconf,
    NetworkManager) is fed by the backend's own keys.
    """
    findings = choice.findings
    if findings.resolv_conf_link is None:
        return [files.resolv_conf(plan)]
    backend_carries_dns = choice.backend not in (ENI, IFCFG) and plan.mode != DHCP
    if findings.resolved_stub and not backend_carries_dns:
        return [files.resolved_conf(plan)]
    return []


def native_tasks(plan: Plan, backend: str, legacy_netplan: bool = False) -> list[Task]:
    """The config files of netplan, NetworkManager or networkd, with udev's name pinning
    where the format does not pin names itself (networkd's ``.link`` files do)."""
    # Imported here: a run writes one format, and most write ENI or ifcfg.
    from .renderers import netplan, networkd, networkmanager

    if backend == NETPLAN:
        return [*netplan.tasks(plan, legacy_netplan), files.udev_names(plan)]
    if backend == NETWORKMANAGER:
        return [*networkmanager.tasks(plan), files.udev_names(plan)]
    if backend == NETWORKD:
        return networkd.tasks(plan)
    raise ValueError(f"{backend} is not a native backend")


def native_files(plan: Plan, choice: Choice, legacy_netplan: bool = False) -> list[Task]:
    """Everything a distro writes with a native backend: its config files, the
    hostname, hosts and the resolvers where the target reads them."""
    return [
        *native_tasks(plan, choice.backend, legacy_netplan),
        files.hostname(plan),
        files.hosts(plan),
        *resolver_files(plan, choice),
    ]
