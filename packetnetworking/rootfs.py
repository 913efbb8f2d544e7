"""Paths inside the target root filesystem, resolved as the target would see them.

A symlink's absolute target is relative to the rootfs, a relative one to its directory,
and nothing may climb out: ``..`` above the root and symlink loops are errors, so no
crafted link in a customer's image can make us write outside ``--rootfs``.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import WriteFailed

MAX_LINKS = 40  # the kernel's own limit on symlinks in one lookup


def resolve(root: Path, relpath: str) -> Path:
    """The real host path of ``relpath`` inside ``root``; missing parts are kept as named."""
    inside: list[str] = []
    pending = relpath.split("/")
    links = 0
    while pending:
        part = pending.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            if not inside:
                raise WriteFailed(f"{relpath}: a path climbs out of the rootfs")
            inside.pop()
            continue
        candidate = root.joinpath(*inside, part)
        if candidate.is_symlink():
            links += 1
            if links > MAX_LINKS:
                raise WriteFailed(f"{relpath}: too many levels of symbolic links")
            target = os.readlink(candidate)
            if target.startswith("/"):
                inside = []
            pending = target.split("/") + pending
            continue
        inside.append(part)
    return root.joinpath(*inside)


def display(root: Path, path: Path) -> str:
    """How the target will name this path: ``/etc/hostname``."""
    return "/" + str(path.relative_to(root))
