"""Builders and hooks register here with decorators; selection picks the most specific.

A builder is keyed by (family, version range, network mode). Ranges compare by the
version's leading parts: ``"7-9"`` holds 7, 8.9 and 9.4; ``"18.04-24.04"`` holds 22.04
but not 24.10; ``"12+"`` is open-ended; ``"*"`` holds any version, and no version.
Ranges of one family and mode may nest (the inner one wins) but never partly overlap.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Callable, Optional

import attrs

from .errors import NoBuilder
from .plan import MODES
from .target import Target, version_tuple

Version = tuple[int, ...]


@attrs.frozen
class VersionRange:
    low: Optional[Version]
    high: Optional[Version]
    text: str

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


@attrs.frozen
class Registration:
    family: str
    versions: VersionRange
    modes: frozenset
    func: Callable
    names: tuple[str, ...]  # every name that means this family (-o, metadata, os-release)

    @property
    def id(self) -> str:
        return f"{self.func.__module__.rsplit('.', 1)[-1]}.{self.func.__name__}"

    def __str__(self) -> str:
        return f"{self.family} {self.versions.text} ({', '.join(sorted(self.modes))})"


@attrs.frozen
class Hook:
    point: str
    func: Callable
    plans: Optional[frozenset]  # plan slugs it applies to; None means every plan


HOOK_POINTS = ("plan", "tasks")
_builders: list[Registration] = []
_hooks: list[Hook] = []


def distro(
    family: str, versions: str = "*", modes=MODES, names: tuple[str, ...] = ()
) -> Callable:
    """Register a builder ``func(context) -> list[Task]`` for a family and version range."""
    unknown = set(modes) - set(MODES)
    if unknown:
        raise ValueError(f"unknown network modes {sorted(unknown)}")

    def register(func: Callable) -> Callable:
        _builders.append(
            Registration(
                family=family,
                versions=VersionRange.parse(versions),
                modes=frozenset(modes),
                func=func,
                names=tuple(dict.fromkeys((family, *names))),
            )
        )
        return func

    return register


def hook(point: str, plans: Optional[tuple[str, ...]] = None) -> Callable:
    """Register ``func(plan) -> plan`` (point "plan") or ``func(tasks, context) -> tasks``."""
    if point not in HOOK_POINTS:
        raise ValueError(f"unknown hook point {point!r}; known: {', '.join(HOOK_POINTS)}")

    def register(func: Callable) -> Callable:
        _hooks.append(Hook(point, func, frozenset(plans) if plans is not None else None))
        return func

    return register


def hooks(point: str, plan_slug: Optional[str]) -> list[Hook]:
    return [
        h for h in _hooks if h.point == point and (h.plans is None or plan_slug in h.plans)
    ]


def builders() -> list[Registration]:
    load_plugins()
    return list(_builders)


def family_of(distro: str) -> Optional[str]:
    for reg in builders():
        if distro in reg.names:
            return reg.family
    return None


def select(target: Target, mode: str) -> Registration:
    """The most specific builder for this target and network mode, or ``NoBuilder``."""
    family = family_of(target.distro)
    version = target.version_tuple
    candidates = [
        r
        for r in builders()
        if r.family == family and mode in r.modes and version in r.versions
    ]
    if not candidates:
        raise NoBuilder(
            f"no builder for {target} in {mode} mode; supported: {supported()}"
        )
    # Ranges only nest, so one candidate lies within all the others: the narrowest.
    return next(c for c in candidates if all(c.versions.within(o.versions) for o in candidates))


def supported() -> str:
    by_family: dict[str, list[str]] = {}
    for reg in sorted(builders(), key=lambda r: (r.family, r.versions.low or ())):
        by_family.setdefault(reg.family, []).append(reg.versions.text)
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


_loaded = False


def load_plugins() -> None:
    """Import every module in ``packetnetworking.distros`` and ``.hooks``: they register."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for package_name in ("packetnetworking.distros", "packetnetworking.hooks"):
        package = importlib.import_module(package_name)
        for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
            if not info.name.startswith("_"):
                importlib.import_module(f"{package_name}.{info.name}")


@attrs.frozen
class Context:
    """What a builder gets: the plan, which OS, and the rootfs to look at (not to write)."""

    plan: object  # plan.Plan; untyped here to keep the registry free of the model
    target: Target
    root: object  # pathlib.Path of --rootfs
    backend: Optional[str] = None  # --backend: a config format asked for by name
