"""The operator's files (-M, --nics, --audit-log): regular files, opened without blocking.

A FIFO with no writer blocks an ordinary open() forever, and an installer step that
never ends is worse than one that fails. So every such path is opened with O_NONBLOCK
(a FIFO's open then returns at once, or fails for a writer with no reader), the opened
descriptor is checked to be a regular file (fstat, not a stat before the open, which a
swap could outrun), and only then made blocking again. ``-`` (stdin) is the caller's.
"""

from __future__ import annotations

import os
import stat

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


class NotRegular(Exception):
    """The path opened, or exists, but is not a regular file: ``what`` says what it is."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


def kind(mode: int) -> str:
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a regular file"


def open_regular(path: str, append: bool = False) -> int:
    """A blocking descriptor on the regular file ``path`` (created for ``append``, which
    also takes a FIFO or character device that a reader holds open), or ``NotRegular``;
    other failures are the OSError of the open."""
    flags = os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY
    flags |= (os.O_WRONLY | os.O_APPEND | os.O_CREAT) if append else os.O_RDONLY
    try:
        fd = os.open(path, flags, 0o644)
    except OSError:
        _describe_existing(path)  # a FIFO with no reader, a socket: say what it is
        raise
    mode = os.fstat(fd).st_mode
    # A log may go to a stream that has a reader (an action's /dev/stderr, a pipe,
    # /dev/null): the non-blocking open proved the reader is there, so nothing blocks.
    stream = append and (stat.S_ISFIFO(mode) or stat.S_ISCHR(mode))
    if not (stat.S_ISREG(mode) or stream):
        os.close(fd)
        raise NotRegular(kind(mode))
    os.set_blocking(fd, True)
    return fd


def _describe_existing(path: str) -> None:
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return
    if not stat.S_ISREG(mode):
        raise NotRegular(kind(mode)) from None
