"""Builders and hooks register here with decorators; selection picks the most specific.

A builder is keyed by (family, version range, network mode). Ranges compare by the
version's leading parts: ``"7-9"`` holds 7, 8.9 and 9.4; ``"18.04-24.04"`` holds 22.04
but not 24.10; ``"12+"`` is open-ended; ``"*"`` holds any version, and no version.
Ranges of one family and mode may nest (the inner one wins) but never partly overlap.
``select`` finds no builder for a version newer than every range of its family;
``newest_below`` names that family's newest builder for the forward policy, which the
run applies only on evidence in the rootfs (run.py, docs/systems.md).

Builders live in ``packetnetworking.distros`` and hooks in ``packetnetworking.hooks``,
one module each; plugins.py imports them: all of them for the listings (``builders``,
``supported``, ``overlaps``), only a name's own family where the zipapp's index says
which.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Callable, Optional, TypeVar

from . import plugins
from .errors import NoBuilder
from .plan import MODES
from .target import Target, version_tuple

if TYPE_CHECKING:  # types only: a run imports these later, and only when it needs them
    from .backends import Choice
    from .detect import Findings
    from .fileio import StrPath
    from .plan import Plan
    from .tasks import Task

Builder = Callable[["Context"], "list[Task]"]
Hooked = Callable[..., Any]  # a plan hook (Plan -> Plan) or a tasks hook (tasks, Context)

Version = tuple[int, ...]


class VersionRange:
    __slots__ = ("low", "high", "text")

    def __init__(self, low: Optional[Version], high: Optional[Version], text: str) -> None:
        self.low, self.high, self.text = low, high, text

    @classmethod
    def parse(cls, text: str) -> VersionRange:
        if text == "*":
            return cls(None, None, text)
        if text.endswith("+"):
            return cls(_version(text[:-1]), None, text)
        low, _, high = text.partition("-")
        return cls(_version(low), _version(high or low), text)

    def __contains__(self, version: Optional[Version]) -> bool:
        if self.low is None and self.high is None:
            return True
        if version is None:
            return False
        if self.low is not None and version[: len(self.low)] < self.low:
            return False
        return self.high is None or version[: len(self.high)] <= self.high

    def below(self, version: Optional[Version]) -> bool:
        """Whether ``version`` is newer than every version this range holds."""
        if version is None or self.high is None:
            return False
        return version[: len(self.high)] > self.high

    def overlaps(self, other: VersionRange) -> bool:
        return any(b in self for b in other.bounds()) or any(b in other for b in self.bounds())

    def within(self, other: VersionRange) -> bool:
        if other.high is not None and self.high is None:
            return False
        if other.low is not None and self.low is None:
            return False
        return all(b in other for b in self.bounds())

    def bounds(self) -> tuple[Optional[Version], ...]:
        return tuple(b for b in (self.low, self.high) if b is not None) or (None,)


def _version(text: str) -> Version:
    version = version_tuple(text)
    if version is None:
        raise ValueError(f"bad version in range: {text!r}")
    return version


class Registration:
    __slots__ = ("family", "versions", "modes", "func", "names", "backends")

    def __init__(
        self,
        family: str,
        versions: VersionRange,
        modes: frozenset[str],
        func: Builder,
        names: tuple[str, ...],  # every name that means this family (-o, metadata, os-release)
        backends: tuple[str, ...],  # the formats it writes, the preferred first; () none
    ) -> None:
        self.family, self.versions, self.modes = family, versions, modes
        self.func, self.names, self.backends = func, names, backends

    @property
    def id(self) -> str:
        return f"{self.func.__module__.rsplit('.', 1)[-1]}.{self.func.__name__}"

    def __str__(self) -> str:
        return f"{self.family} {self.versions.text} ({', '.join(sorted(self.modes))})"


class Hook:
    __slots__ = ("point", "func", "plans")

    def __init__(
        self,
        point: str,
        func: Hooked,
        plans: Optional[frozenset[str]],  # plan slugs it applies to; None means every plan
    ) -> None:
        self.point, self.func, self.plans = point, func, plans


HOOK_POINTS = ("plan", "tasks")
_builders: list[Registration] = []
_hooks: list[Hook] = []


def distro(
    family: str,
    versions: str = "*",
    modes: tuple[str, ...] = MODES,
    names: tuple[str, ...] = (),
    backends: tuple[str, ...] = (),
) -> Callable[[Builder], Builder]:
    """Register a builder ``func(context) -> list[Task]`` for a family and version range,
    with the config formats it writes there in order of preference (none: the OS
    configures its own network). The run picks one and passes it in ``context.choice``."""
    from .backends import NAMES  # imported when distros register, not by every import

    unknown = set(modes) - set(MODES)
    if unknown:
        raise ValueError(f"unknown network modes {sorted(unknown)}")
    if set(backends) - set(NAMES):
        raise ValueError(f"bad backends {backends}: known are {', '.join(NAMES)}")

    def register(func: Builder) -> Builder:
        _builders.append(
            Registration(
                family=family,
                versions=VersionRange.parse(versions),
                modes=frozenset(modes),
                func=func,
                names=tuple(dict.fromkeys((family, *names))),
                backends=tuple(backends),
            )
        )
        return func

    return register


@contextlib.contextmanager
def scoped() -> Iterator[None]:
    """Builders registered inside the block are forgotten when it ends: a test registers
    its own (an overlap, a gap) without leaving them to the tests after it."""
    saved = list(_builders)
    try:
        yield
    finally:
        _builders[:] = saved


def hook(point: str, plans: Optional[tuple[str, ...]] = None) -> Callable[[Hooked], Hooked]:
    """Register ``func(plan) -> plan`` (point "plan") or ``func(tasks, context) -> tasks``."""
    if point not in HOOK_POINTS:
        raise ValueError(f"unknown hook point {point!r}; known: {', '.join(HOOK_POINTS)}")

    def register(func: Hooked) -> Hooked:
        _hooks.append(Hook(point, func, frozenset(plans) if plans is not None else None))
        return func

    return register


def hooks(point: str, plan_slug: Optional[str]) -> list[Hook]:
    plugins.load_hooks()
    return [h for h in _hooks if h.point == point and (h.plans is None or plan_slug in h.plans)]


def builders() -> list[Registration]:
    plugins.load_plugins()
    return list(_builders)


def select(target: Target, mode: str) -> Registration:
    """The most specific builder for this target and network mode, or ``NoBuilder``."""
    family = _family(target.distro)
    version = target.version_tuple
    candidates = [
        r for r in _builders if r.family == family and mode in r.modes and version in r.versions
    ]
    if not candidates:
        raise NoBuilder(f"no builder for {target} in {mode} mode; supported: {supported()}")
    # Ranges only nest, so one candidate lies within all the others: the narrowest.
    return next(c for c in candidates if all(c.versions.within(o.versions) for o in candidates))


def _family(name: str) -> Optional[str]:
    """The family a distro name means, its modules imported; None for an unknown name."""
    plugins.load_family(name)
    return next((r.family for r in _builders if name in r.names), None)


def newest_below(target: Target, mode: str) -> Optional[Registration]:
    """The forward policy's candidate: for a version newer than every range registered
    for its family (in this mode), the family's newest builder; else None. Only a
    candidate: the run serves it only when the rootfs shows a format it writes (run.py).
    A version older than every range, or between two, gets None."""
    family = _family(target.distro)
    version = target.version_tuple
    ranges = [r for r in _builders if r.family == family and mode in r.modes]
    return newest_if_beyond(ranges, version, lambda r: r.versions)


T = TypeVar("T")


def newest_if_beyond(
    items: list[T], version: Optional[Version], range_of: Callable[[T], VersionRange]
) -> Optional[T]:
    """The item with the newest range, when ``version`` is newer than every item's range."""
    if not items or not all(range_of(i).below(version) for i in items):
        return None
    # below() held for every range, so each has a high bound to compare.
    return max(items, key=lambda i: range_of(i).high or ())


def span(reg: Registration) -> str:
    """The versions ``reg``'s builder serves for its family, as one range: a builder
    whose formats change with the release registers each part ("10-11", "12-13"), and
    is one builder for "10-13" in messages and the audit log."""
    parts = sorted(
        (r.versions for r in _builders if r.family == reg.family and r.func is reg.func),
        key=lambda v: v.low or (),
    )
    if len(parts) == 1:
        return parts[0].text
    low = parts[0].text.partition("-")[0]
    last = parts[-1].text
    return f"{low}+" if last.endswith("+") else f"{low}-{last.rpartition('-')[2]}"


def supported() -> str:
    by_family: dict[str, list[str]] = {}
    for reg in sorted(builders(), key=lambda r: (r.family, r.versions.low or ())):
        by_family.setdefault(reg.family, []).append(span(reg))
    return "; ".join(f"{fam} {', '.join(dict.fromkeys(v))}" for fam, v in by_family.items())


def overlaps() -> list[str]:
    """Registrations that partly overlap or coincide, and names claimed twice: all bugs."""
    problems = []
    regs = builders()
    for i, a in enumerate(regs):
        for b in regs[i + 1 :]:
            if a.family != b.family or not (a.modes & b.modes):
                if set(a.names) & set(b.names) and a.family != b.family:
                    problems.append(f"{a.id} and {b.id} both claim {set(a.names) & set(b.names)}")
                continue
            nested = a.versions.within(b.versions) != b.versions.within(a.versions)
            if a.versions.overlaps(b.versions) and not nested:
                problems.append(f"{a.id} ({a}) overlaps {b.id} ({b})")
    return problems


class Context:
    """What a builder gets: the plan, which OS, the rootfs to look at (not to write),
    what it shows (looked at once per run) and the config format the run chose from the
    registration's (None when it declares none)."""

    __slots__ = ("plan", "target", "root", "findings", "_choice")

    def __init__(
        self,
        plan: Plan,
        target: Target,
        root: StrPath,
        findings: Findings,
        choice: Optional[Choice] = None,
    ) -> None:
        self.plan, self.target, self.root = plan, target, root
        self.findings, self._choice = findings, choice

    @property
    def choice(self) -> Choice:
        """The chosen format; only a builder registered with ``backends=`` asks."""
        if self._choice is None:
            raise ValueError(f"{self.target}: its registration declares no config format")
        return self._choice
