"""Which config format (backend) a target gets: declared by its builder, seen in its rootfs.

A builder declares, per version range, the backends it can write in order of
preference (``Table``) and registers that with ``@offers``. ``choose`` then takes the
first one whose tool the rootfs has (installed, and enabled where it is a service);
``--backend`` (``Context.backend``) asks for one by name. A rootfs that shows no network
tool at all (an empty directory: a dry run, a test) gets the first, the distro's
default, and the reason says so. A rootfs whose tools contradict the choice is
``NoBuilder`` (exit 40) naming what is missing: writing a format nothing on the target
reads would boot a server with no network.
"""

from __future__ import annotations

from typing import Callable, Optional, cast

from . import detect, files
from .errors import NoBuilder
from .plan import DHCP, Plan
from .registry import Context, VersionRange, newest_if_beyond
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


# Plain classes, not attrs: plumbing that is never validated or compared, and each attrs
# class costs every start ~0.3 ms to build (README "Performance").
class Table:
    """Per version range, the backends a builder can write, the default first."""

    __slots__ = ("rules",)

    def __init__(self, rules: tuple[tuple[VersionRange, tuple[str, ...]], ...]) -> None:
        self.rules = rules

    @classmethod
    def of(cls, rules: dict[str, tuple[str, ...]]) -> Table:
        for backends in rules.values():
            unknown = set(backends) - set(NAMES)
            if unknown or not backends:
                raise ValueError(f"bad backends {backends}: known are {', '.join(NAMES)}")
        return cls(tuple((VersionRange.parse(v), tuple(b)) for v, b in rules.items()))

    def preferences(self, target: Target) -> tuple[str, ...]:
        version = target.version_tuple
        for versions, backends in self.rules:
            if version in versions:
                return backends
        # A version newer than the whole table reaches a builder only by the forward
        # policy (run.py), which then requires the rootfs to show one of these.
        newest = newest_if_beyond(list(self.rules), version, lambda rule: rule[0])
        if newest is not None:
            return newest[1]
        # Otherwise the registry chose this builder for the version: the table must cover it.
        raise NoBuilder(f"{target}: no backend is declared for this version")


class Choice:
    """``detected`` False: a default or an unchecked request, not something seen."""

    __slots__ = ("backend", "reason", "detected", "findings")

    def __init__(self, backend: str, reason: str, detected: bool, findings: detect.Findings):
        self.backend, self.reason, self.detected, self.findings = (
            backend, reason, detected, findings)


_offered: dict[Callable, Table] = {}


def offers(table: Table) -> Callable:
    """Declare a builder's backends, so the run can log the choice before building."""

    def declare(func: Callable) -> Callable:
        _offered[func] = table
        return func

    return declare


def offered(func: Callable) -> Optional[Table]:
    return _offered.get(func)


def choose(ctx: Context, table: Table) -> Choice:
    preferences = table.preferences(ctx.target)
    findings = cast(detect.Findings, ctx.findings) or detect.look(ctx.root)
    if ctx.backend is not None:
        return _requested(ctx.backend, ctx.target, preferences, findings)
    for backend in preferences:
        if _usable(backend, findings):
            reason = f"the rootfs has {_evidence(backend, findings)}"
            if len(preferences) > 1:
                reason += f"; {ctx.target} prefers {', '.join(preferences)} in that order"
            return Choice(backend, reason, True, findings)
    if not shows_any(findings):
        reason = f"the default for {ctx.target}: the rootfs shows no network tool"
        return Choice(preferences[0], reason, False, findings)
    wanted = " or ".join(f"{b} (needs {_need(b)})" for b in preferences)
    raise NoBuilder(
        f"{ctx.target}: the rootfs has {findings.summary()}, but {ctx.target} is configured "
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


def resolver_files(ctx: Context, choice: Choice) -> list[Task]:
    """Where resolvers go besides the backend's own DNS keys.

    A plain etc/resolv.conf (or none) is written. When it is a symlink, writing through
    it would land in a file its owner rewrites at boot: a systemd-resolved one gets
    ``resolved.conf`` unless the backend's files already carry the resolvers (static
    modes of netplan, NetworkManager and networkd); any other owner (resolvconf,
    NetworkManager) is fed by the backend's own keys.
    """
    plan = cast(Plan, ctx.plan)
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


def native_files(ctx: Context, choice: Choice, legacy_netplan: bool = False) -> list[Task]:
    """Everything a distro writes with a native backend: its config files, the
    hostname, hosts and the resolvers where the target reads them."""
    plan = ctx.plan
    return [
        *native_tasks(plan, choice.backend, legacy_netplan),
        files.hostname(plan),
        files.hosts(plan),
        *resolver_files(ctx, choice),
    ]
