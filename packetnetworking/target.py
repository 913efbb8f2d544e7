"""Which OS we are configuring: from ``-o``, the metadata, or the target's os-release."""

from __future__ import annotations

import os
import re
from typing import Optional, Union

import attrs

from .errors import MalformedOS, WriteFailed
from .metadata import OperatingSystem
from .validators import TOKEN

_IGNORED = {"n/a", ""}
_NUMERIC = re.compile(r"\d+(\.\d+)*")


@attrs.frozen
class Target:
    distro: str  # as given, lower-cased (redhatenterprise); the registry maps it to a family
    version: Optional[str]  # "22.04", "9", "stable" or None

    @property
    def version_tuple(self) -> Optional[tuple[int, ...]]:
        return version_tuple(self.version)

    def __str__(self) -> str:
        return f"{self.distro} {self.version}" if self.version else self.distro


def version_tuple(version: Optional[str]) -> Optional[tuple[int, ...]]:
    if version is None or not _NUMERIC.fullmatch(version):
        return None
    return tuple(int(part) for part in version.split("."))


def from_option(value: str) -> Target:
    """Parse ``-o 'DISTRO VERSION'``: case-insensitive, ``n/a`` parts ignored."""
    parts = [p for p in value.lower().split() if p not in _IGNORED]
    # Printable ASCII only: split() and lower() would quietly make a newline, a Unicode
    # space or a Kelvin sign into something valid.
    printable = value.isascii() and value.isprintable()
    if not printable or not parts or len(parts) > 2 or not all(TOKEN.fullmatch(p) for p in parts):
        raise MalformedOS(
            f"-o/--operating-system {value!r}: expected 'DISTRO VERSION', e.g. 'ubuntu 22.04'"
        )
    return Target(parts[0], parts[1] if len(parts) == 2 else None)


def from_metadata(system: OperatingSystem) -> Optional[Target]:
    """The metadata's ``distro`` and ``version``; the ``slug`` stands in for what they lack."""
    slug = from_slug(system.slug) if system.slug else None
    if not system.distro:
        return slug
    version = system.version if system.version and system.version.lower() not in _IGNORED else None
    distro = system.distro.lower()
    if version is None and slug is not None and slug.distro == distro:
        return slug
    return Target(distro, version.lower() if version else None)


def from_slug(slug: str) -> Optional[Target]:
    """Equinix Metal's OS slug, ``DISTRO_MAJOR[_MINOR]``: ``ubuntu_26_04``, ``rocky_9``,
    ``centos_9_stream``. Only a slug that reads as a name and a numeric version counts
    (``flatcar_stable``, ``suse_sles12_sp3`` do not); "stream" is CentOS Stream's word,
    not part of either."""
    parts = [p for p in slug.lower().split("_") if p != "stream"]
    numeric = [p.isascii() and p.isdigit() for p in parts]
    first_number = next((i for i, is_number in enumerate(numeric) if is_number), None)
    if not first_number or not all(numeric[first_number:]):
        return None
    return Target("_".join(parts[:first_number]), ".".join(parts[first_number:]))


def from_os_release(root: Union[str, os.PathLike[str]]) -> Optional[Target]:
    """The target's own ``etc/os-release`` (or ``usr/lib/os-release``), read, not sourced.

    Resolved inside the rootfs as every path the tool touches (``rootfs.Root``): an image
    whose ``etc`` or ``etc/os-release`` is an absolute symlink is read where the target
    will read it, never on this host; a link that climbs out is as good as no file."""
    from . import fileio, rootfs  # not imported by a run that names its OS

    try:
        fs = rootfs.Root(root)
    except WriteFailed:
        return None  # no rootfs to read: the caller says no OS was named
    with fs:
        for rel in ("etc/os-release", "usr/lib/os-release"):
            try:
                content = fs.read(rel)
            except fileio.TooLarge:
                raise  # exit 80, naming the file
            except (WriteFailed, OSError):
                continue  # climbs out, loops, not a file, unreadable: not an os-release
            if content is not None:
                return _parse_os_release(content.decode("utf-8", errors="replace"))
    return None


def _parse_os_release(text: str) -> Optional[Target]:
    import shlex  # only a target named by neither -o nor the metadata needs it

    fields = {}
    for line in text.splitlines():
        key, sep, raw = line.partition("=")
        if sep:
            try:
                words = shlex.split(raw)
            except ValueError:
                continue
            fields[key.strip()] = words[0] if words else ""
    distro, version = fields.get("ID", "").lower(), fields.get("VERSION_ID", "").lower()
    if not TOKEN.fullmatch(distro):
        return None
    return Target(distro, version if TOKEN.fullmatch(version) else None)
