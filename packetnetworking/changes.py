"""The change records: a path's state before a run touched it, and what a task does to
it. The transaction makes them, the journal keeps them, the audit log reports them."""

from __future__ import annotations

import hashlib
from typing import Optional

from . import fileio
from .errors import printable
from .rootfs import Where
from .tasks import CONFIG, EnsureLine, Task


class State:
    """A path's state before we touched it; ``link`` is a symlink's target (symlinks are
    only ever deleted, never written); ``xattrs`` its extended attributes."""

    __slots__ = ("exists", "content", "mode", "uid", "gid", "link", "xattrs")

    def __init__(
        self,
        exists: bool,
        content: bytes = b"",
        mode: int = CONFIG,
        uid: int = 0,
        gid: int = 0,
        link: Optional[str] = None,
        xattrs: Optional[dict[str, bytes]] = None,
    ) -> None:
        self.exists, self.content, self.mode = exists, content, mode
        self.uid, self.gid, self.link = uid, gid, link
        self.xattrs = xattrs or {}

    @property
    def sha256(self) -> Optional[str]:
        if self.link is not None:
            return hashlib.sha256(self.link.encode()).hexdigest()
        return hashlib.sha256(self.content).hexdigest() if self.exists else None


class Change:
    """What a task does to one path: ``rel`` is where it resolved inside the rootfs
    (``etc/hosts``), ``dir`` and ``name`` its directory and entry, ``path`` the host path
    (for messages), ``display`` the path as the target names it; ``content`` None
    deletes; ``label`` the attributes a new file gets (its SELinux label)."""

    __slots__ = ("task", "rel", "dir", "name", "path", "display", "before", "content", "mode",
                 "created_dirs", "label")  # fmt: skip

    def __init__(
        self,
        task: Task,
        where: Where,
        root: str,
        before: State,
        content: Optional[bytes],
        mode: int,
        created_dirs: tuple[str, ...],
        label: Optional[dict[str, bytes]] = None,
    ) -> None:
        self.task, self.rel, self.dir, self.name = task, where.rel, where.dir, where.name
        self.path = fileio.join(root, self.rel)
        self.display = "/" + printable(self.rel)
        self.before, self.content, self.mode = before, content, mode
        self.created_dirs, self.label = created_dirs, label

    @property
    def action(self) -> str:
        if self.content is None:
            return "delete" if self.before.exists else "unchanged"
        if (
            self.before.exists
            and self.before.content == self.content
            and (self.before.mode == self.mode)
        ):
            return "unchanged"
        return "append" if isinstance(self.task, EnsureLine) else "write"

    @property
    def sha256(self) -> Optional[str]:
        return hashlib.sha256(self.content).hexdigest() if self.content is not None else None

    def merged(self, first: Change) -> Change:
        """This change, with the prior state and new directories of an earlier one."""
        change = object.__new__(Change)
        for slot in Change.__slots__:
            setattr(change, slot, getattr(self, slot))
        change.before, change.created_dirs = first.before, first.created_dirs
        return change


def event_fields(change: Change) -> dict[str, object]:
    return {
        "path": change.display,
        "action": change.action,
        "bytes": len(change.content) if change.content is not None else 0,
        "sha256": change.sha256,
        "previous_sha256": change.before.sha256,
        "mode": f"{change.mode:04o}",
    }
