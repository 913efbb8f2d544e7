"""What a builder asks for: pure descriptions of file changes, no I/O.

Paths are relative to the target's root (``etc/hostname``); the Transaction resolves
them inside ``--rootfs`` and does the writing.
"""

from __future__ import annotations

from typing import Optional, Union

import attrs

CONFIG, SCRIPT, SECRET = 0o644, 0o755, 0o600


def _relative(_inst: object, attribute: attrs.Attribute[str], value: str) -> None:
    parts = value.split("/")
    if value.startswith("/") or not value or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"task {attribute.name} must be a plain relative path: {value!r}")


@attrs.frozen
class Write:
    """Replace the whole file with ``content``."""

    path: str = attrs.field(validator=_relative)
    content: str
    mode: int = CONFIG
    # Keep an existing file's mode rather than imposing ours (a user's chmod survives).
    keep_mode: bool = False


@attrs.frozen
class EnsureLine:
    """Append ``line`` unless the file already has it: idempotent across reruns.

    With ``replaces`` (a prefix such as ``"KEY="``), a line starting with it is replaced
    instead: a setting in a file the distro owns, changed without clobbering the rest.
    """

    path: str = attrs.field(validator=_relative)
    line: str
    mode: int = CONFIG
    replaces: Optional[str] = None


@attrs.frozen
class Delete:
    """Remove a file or symlink if present (for instance a service's enablement link)."""

    path: str = attrs.field(validator=_relative)


Task = Union[Write, EnsureLine, Delete]
