"""The SELinux label a new file gets on a target whose image runs SELinux.

A file we replace keeps its own label (every extended attribute is copied). A file or
directory we create would get its directory's label from the kernel at boot, or none
here: on an enforcing RHEL-family image an unlabeled ``ifcfg`` file is denied to
NetworkManager. So a new one gets what the target's own policy gives its path, read from
the target (never from this host) as libselinux reads it (selabel_file(5)):

* ``etc/selinux/config``: ``SELINUX=enforcing|permissive`` turns this on (``disabled``
  or no file: off), ``SELINUXTYPE`` names the policy;
* ``etc/selinux/<TYPE>/contexts/files/file_contexts`` (then ``.homedirs``, ``.local``):
  lines of ``REGEX [FILE-TYPE] CONTEXT``; the regex must match the whole path; ``--``
  is a regular file, ``-d`` a directory, none any type; ``<<none>>`` means no label;
* the entries whose regex has no meta characters are moved after the others (in their
  order), and the last entry that matches wins; an entry whose first path component has
  no meta character (its "stem", ``/etc``) is only tried on paths under that component;
* ``file_contexts.subs_dist`` and ``.subs``: ``ALIAS ORIGINAL`` path prefixes, an alias
  looked up as its original.

Where no label can be determined (the policy's files are missing or unreadable, a regex
this reader cannot compile, no entry matches) the run creates ``/.autorelabel``, so the
target relabels its whole filesystem at first boot, and logs a warning saying why.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Optional

from . import fileio
from .errors import WriteFailed
from .rootfs import Root
from .tasks import Write

if TYPE_CHECKING:
    from structlog.typing import FilteringBoundLogger as Log

    from .changes import Change

XATTR = "security.selinux"
AUTORELABEL = ".autorelabel"
# A policy's file_contexts is a few hundred KiB (Debian's default: 320 KiB).
MAX_CONTEXTS = 16 << 20
_META = frozenset(".^$?*+|[({")
_FILE, _DIR = "--", "-d"


class _Spec:
    __slots__ = ("regex", "kind", "context", "stem", "prefix", "compiled")

    def __init__(self, regex: str, kind: Optional[str], context: str) -> None:
        self.regex, self.kind, self.context = regex, kind, context
        self.stem = _spec_stem(regex)
        self.prefix = _prefix(regex)
        self.compiled: Optional[re.Pattern[str]] = None


class Labels:
    """Labels for what a run creates in ``fs``; the policy is read on first need."""

    def __init__(self, fs: Root, log: Log) -> None:
        self._fs, self._log = fs, log
        self._policy: Optional[str] = _policy(fs)
        self._specs: Optional[list[_Spec]] = None
        self._subs: list[tuple[str, str]] = []
        self._problem: Optional[str] = None  # why the policy could not be read
        self.unlabeled: list[str] = []  # new paths with no label: a relabel at boot

    @property
    def enabled(self) -> bool:
        return self._policy is not None

    def file(self, rel: str) -> Optional[dict[str, bytes]]:
        return self._label(rel, _FILE)

    def directory(self, rel: str) -> dict[str, bytes]:
        return self._label(rel, _DIR) or {}

    def _label(self, rel: str, kind: str) -> Optional[dict[str, bytes]]:
        if self._policy is None:
            return None
        try:
            context = self.lookup("/" + rel, kind)
        except NoLabel:
            self.unlabeled.append(rel)
            return None
        if context is None:  # the policy says <<none>>: leave it unlabeled, as restorecon does
            return None
        # libselinux's setfilecon stores the context with its terminating NUL.
        return {XATTR: context.encode() + b"\0"}

    def lookup(self, path: str, kind: str) -> Optional[str]:
        """The context for ``path`` of ``kind`` (``--``, ``-d``); None for ``<<none>>``;
        raises NoLabel when the policy cannot say."""
        specs = self._load()
        for alias, original in self._subs:
            if path == alias or path.startswith(alias + "/"):
                path = original + path[len(alias) :]
                break
        stem = _path_stem(path)
        for spec in reversed(specs):
            if spec.kind is not None and spec.kind != kind:
                continue
            if spec.stem is not None and spec.stem != stem:
                continue  # libselinux compares stems first: a regex is never tried here
            if not path.startswith(spec.prefix):
                continue
            if spec.compiled is None:
                try:
                    spec.compiled = re.compile(spec.regex)
                except re.error as exc:
                    self._note(f"cannot read the regex {spec.regex!r}: {exc}")
                    raise NoLabel from None
            if spec.compiled.fullmatch(path):
                return None if spec.context == "<<none>>" else spec.context
        self._note(f"no entry matches {path}")
        raise NoLabel

    def _note(self, problem: str) -> None:
        if self._problem is None:  # the first reason is the one the warning gives
            self._problem = problem

    def _load(self) -> list[_Spec]:
        if self._specs is not None:
            return self._specs
        base = f"etc/selinux/{self._policy}/contexts/files/"
        try:
            text = _read(self._fs, base + "file_contexts")
        except (OSError, WriteFailed) as exc:
            self._note(f"/{base}file_contexts: {_why(exc)}")
            raise NoLabel from None
        for extra in ("file_contexts.homedirs", "file_contexts.local"):  # libselinux's order
            text += "\n" + _optional(self._fs, base + extra)
        specs = _parse(text)
        # libselinux keeps the order, but moves the entries without meta characters to
        # the end; the lookup then takes the last match.
        self._specs = [s for s in specs if _has_meta(s.regex)]
        self._specs += [s for s in specs if not _has_meta(s.regex)]
        for name in ("file_contexts.subs", "file_contexts.subs_dist"):
            self._subs += _parse_subs(_optional(self._fs, base + name))
        return self._specs

    def relabel_task(self, changes: list[Change]) -> Optional[Write]:
        """``/.autorelabel`` when something new got no label, with a warning saying why."""
        if not self.unlabeled or any(c.rel == AUTORELABEL for c in changes):
            return None
        self._log.warning(
            "no SELinux label for new paths; the target relabels at first boot",
            paths=[f"/{rel}" for rel in self.unlabeled],
            reason=self._problem,
            created=f"/{AUTORELABEL}",
        )
        return Write(AUTORELABEL, "")


class NoLabel(Exception):
    """The target's policy cannot say which label a path gets."""


def _policy(fs: Root) -> Optional[str]:
    """SELINUXTYPE when ``etc/selinux/config`` turns SELinux on, else None."""
    try:
        text = _read(fs, "etc/selinux/config")
    except (OSError, WriteFailed):
        return None
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            fields[key.strip()] = value.strip().strip("\"'")
    if fields.get("SELINUX", "").lower() not in ("enforcing", "permissive"):
        return None
    policy = fields.get("SELINUXTYPE", "targeted")
    if not policy or "/" in policy or policy in (".", ".."):
        return "targeted"
    return policy


def _read(fs: Root, rel: str) -> str:
    limit = MAX_CONTEXTS if "/contexts/" in rel else fileio.MAX_FILE
    content = fs.read(rel, limit)
    if content is None:
        raise FileNotFoundError(2, "No such file or directory", rel)
    return content.decode("utf-8", "replace")


def _optional(fs: Root, rel: str) -> str:
    """A file the policy may leave out: its text, or nothing."""
    try:
        return _read(fs, rel)
    except (OSError, WriteFailed):
        return ""


def _why(exc: Exception) -> str:
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)


def _parse(text: str) -> list[_Spec]:
    specs = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        if len(fields) == 2:
            specs.append(_Spec(fields[0], None, fields[1]))
        elif len(fields) == 3:
            specs.append(_Spec(fields[0], fields[1], fields[2]))
    return specs


def _parse_subs(text: str) -> list[tuple[str, str]]:
    subs = []
    for raw in text.splitlines():
        fields = raw.split()
        if len(fields) == 2 and not fields[0].startswith("#"):
            subs.append((fields[0].rstrip("/"), fields[1].rstrip("/")))
    return subs


def _has_meta(regex: str) -> bool:
    """libselinux's test: a meta character, not counting one escaped with a backslash."""
    i = 0
    while i < len(regex):
        if regex[i] == "\\":
            i += 2
            continue
        if regex[i] in _META:
            return True
        i += 1
    return False


def _spec_stem(regex: str) -> Optional[str]:
    """libselinux's stem of an entry: its first component (``/etc``) when that holds no
    meta character, else None. An entry with a stem is only tried on paths with the same
    first component (so ``/srv/a|/opt/a`` never labels ``/opt/a``), and a path with no
    second ``/`` (``/etc`` itself) only by entries without one."""
    end = regex.find("/", 1)
    if end < 0 or any(char in _META for char in regex[:end]):
        return None
    return regex[:end]


def _path_stem(path: str) -> Optional[str]:
    end = path.find("/", 1)
    return None if end < 0 else path[:end]


def _prefix(regex: str) -> str:
    """The literal prefix every path the regex matches starts with (a quick filter):
    up to the first meta character, less the character a ``?``, ``*`` or ``{`` makes
    optional; nothing when the regex is an alternation at its top level."""
    depth, i = 0, 0
    while i < len(regex):
        char = regex[i]
        i += 2 if char == "\\" else 1  # an escaped character is literal
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "|" and depth == 0:
            return ""
    for i, char in enumerate(regex):
        if char in "?*{":
            return regex[: max(i - 1, 0)]
        if char in _META or char == "\\":
            return regex[:i]
    return regex
