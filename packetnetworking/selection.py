"""The one selection a run makes: which builder, and which config format it writes.

Each ``@distro`` registration declares its formats in order of preference
(``backends=(ENI, NETPLAN, ...)``); this module takes the registry's builder for the
target, looks at the rootfs once, and picks the format (``backends.choose``). The run
logs the result and hands it to the builder in its Context: builders never choose.

A version newer than every registered release gets its family's newest builder only on
evidence in the rootfs (the forward policy, docs/systems.md): a format of
that builder's, seen installed.
"""

from __future__ import annotations

from typing import Optional

from . import backends, detect, registry
from .errors import NoBuilder
from .fileio import StrPath
from .plan import Plan
from .target import Target


class Selection:
    """``choice`` is None for a builder that writes no format (an OS that configures its
    own network); ``untested``: served by the forward policy."""

    __slots__ = ("builder", "target", "root", "findings", "choice", "untested")

    def __init__(
        self,
        builder: registry.Registration,
        target: Target,
        root: StrPath,
        findings: detect.Findings,
        choice: Optional[backends.Choice],
        untested: bool,
    ) -> None:
        self.builder, self.target, self.root = builder, target, root
        self.findings, self.choice, self.untested = findings, choice, untested

    def context(self, plan: Plan) -> registry.Context:
        """What the builder is called with."""
        return registry.Context(plan, self.target, self.root, self.findings, self.choice)


def select(
    target: Target,
    mode: str,
    root: StrPath,
    requested: Optional[str] = None,
    findings: Optional[detect.Findings] = None,
) -> Selection:
    """The builder for ``target`` in ``mode`` and its format (``requested``: --backend),
    or ``NoBuilder``. ``findings``: the rootfs already looked at, else it is looked at."""
    try:
        builder, untested = registry.select(target, mode), False
    except NoBuilder:
        newest = registry.newest_below(target, mode)
        if newest is None:
            raise
        builder, untested = newest, True
    return for_builder(builder, target, root, requested, findings, untested)


def for_builder(
    builder: registry.Registration,
    target: Target,
    root: StrPath,
    requested: Optional[str] = None,
    findings: Optional[detect.Findings] = None,
    untested: bool = False,
) -> Selection:
    """The format ``builder`` writes for ``target`` on this rootfs."""
    if not builder.backends:
        if untested:
            why = "that builder declares no format to look for"
            raise NoBuilder(untested_refusal(builder, target, why))
        if requested is not None:
            raise NoBuilder(f"--backend {requested}: {target} is configured one way only")
    seen = findings if findings is not None else detect.look(root)
    if not builder.backends:
        return Selection(builder, target, root, seen, None, untested)
    choice = backends.choose(target, builder.backends, requested, seen)
    if untested and not choice.detected:
        shows = f"the rootfs shows {seen.summary()}"
        raise NoBuilder(untested_refusal(builder, target, shows))
    return Selection(builder, target, root, seen, choice, untested)


def untested_refusal(builder: registry.Registration, target: Target, why: str) -> str:
    formats = ", ".join(builder.backends) or "none"
    return (
        f"{target} is newer than every release this tool knows (newest: {builder.family} "
        f"{registry.span(builder)}); an untested release is configured only when the rootfs "
        f"shows a format that builder writes ({formats}), and {why}; check --rootfs, or "
        f"name a known release with -o"
    )
