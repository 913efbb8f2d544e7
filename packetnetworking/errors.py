"""Every way a run can fail, each with its documented exit code.

The CLI turns any of these into one line on stderr and ``sys.exit(code)``; nothing
else in the package prints or exits.
"""

from __future__ import annotations

import contextlib
import os


class PacketNetworkingError(Exception):
    """Base class: ``exit_code`` is what the process exits with."""

    exit_code = 1


class UsageError(PacketNetworkingError):
    exit_code = 2


class InvalidOption(UsageError):
    """A value the operator gave (``--nics``, ``--resolvers``, ``PACKET_RESOLVERS``) that
    must not reach a config file: a usage error, naming the option and the value."""

    def __init__(self, field: str, value: object, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(f"usage error: {field}={_show(value)}: {reason}")


class NoMetadataSource(PacketNetworkingError):
    exit_code = 10


class MountFailed(PacketNetworkingError):
    """The action could not mount its target (``BLOCK_DEVICE``): nothing was changed."""

    exit_code = 15


class UnmountFailed(PacketNetworkingError):
    """The run finished, but the action's target could not be unmounted."""

    exit_code = 16


class MalformedOS(PacketNetworkingError):
    exit_code = 20


class NothingToDo(PacketNetworkingError):
    exit_code = 30


class NoBuilder(PacketNetworkingError):
    exit_code = 40


class InvalidMetadata(PacketNetworkingError):
    """A value that must not reach a config file; the message names field and value."""

    exit_code = 50

    def __init__(self, field: str, value: object, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(f"invalid metadata: {field}={_show(value)}: {reason}")


class NoMatchingNic(PacketNetworkingError):
    exit_code = 60


class FetchFailed(PacketNetworkingError):
    exit_code = 70


class WriteFailed(PacketNetworkingError):
    exit_code = 80


class AuditIncomplete(PacketNetworkingError):
    """The run did what it was asked (the rootfs is configured), but the audit log
    could not be completed: not a bug, and not a failed run either."""

    exit_code = 85


EXIT_CODES = {
    0: "done",
    2: "usage error (a bad --nics, --resolvers, PACKET_RESOLVERS or action variable value "
    "included); "
    "or the audit log cannot be written, or without --audit-log stderr (a closed pipe) "
    "(nothing was changed)",
    10: "no metadata source (no -M, no --metadata-url, no HARDWARE)",
    15: "the action could not mount BLOCK_DEVICE (private mount namespace); nothing was changed",
    16: "the run finished, but BLOCK_DEVICE could not be unmounted",
    20: "malformed -o/--operating-system",
    30: "nothing to do for this operating system",
    40: "no builder for this distro, version and network mode",
    50: "invalid metadata (the message names the field and the value)",
    60: "no metadata interface matches a host NIC",
    70: "metadata could not be fetched after all attempts",
    75: "another run holds the rootfs's lock; nothing changed",
    80: "writing failed; every change was rolled back",
    85: "configured as asked, but the audit log (or, without --audit-log, stderr) "
    "could not be completed",
    90: "the zipapp needs Python 3.9 or later (checked by its bootstrap)",
    91: "the zipapp cannot extract its dependencies to SHIV_ROOT (its bootstrap)",
    129: "interrupted by SIGHUP; every change was rolled back (after the commit: exit 0)",
    130: "interrupted by SIGINT; every change was rolled back (after the commit: exit 0)",
    143: "interrupted by SIGTERM; every change was rolled back (after the commit: exit 0)",
}


def to_devnull(stream: object) -> None:
    """A standard stream whose reader is gone (a closed pipe) gets /dev/null for its fd:
    what is left to write, Python's own flush at exit included, cannot fail any more."""
    with contextlib.suppress(AttributeError, OSError, ValueError):  # no fd: nothing to do
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())  # type: ignore[attr-defined]
        os.close(devnull)


def printable(text: str) -> str:
    """``text`` fit for one line: a newline or other control character in a value that
    reached a message shows escaped (``\\n``) and cannot forge a second line."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def describe(exc: Exception) -> str:
    """A failure for a one-line message. An OSError names its file only when it was named
    as the target sees it (``/etc/network/.interfaces.pn-new``): a bare name relative to
    some directory descriptor would name nothing the operator can find."""
    if isinstance(exc, OSError):
        text = printable(exc.strerror or str(exc))
        shown = exc.filename if isinstance(exc.filename, str) else ""
        return f"{printable(shown)}: {text}" if shown.startswith("/") else text
    return str(exc)


def _show(value: object, limit: int = 80) -> str:
    """repr() a value for a one-line message: escapes newlines, cuts long ones."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Busy(PacketNetworkingError):
    """Another run holds the rootfs's lock: nothing was read for writing, nothing changed."""

    exit_code = 75


class Interrupted(PacketNetworkingError):
    """SIGINT, SIGTERM or SIGHUP arrived while the rootfs was being changed. Raised by the
    transaction's handlers; by the time it leaves ``Transaction.apply`` every change has
    been rolled back (the message says so, or says what the next run must recover). The
    exit code is the shell's for a death by that signal: 130 (SIGINT), 143 (SIGTERM),
    129 (SIGHUP)."""

    def __init__(self, signum: int, message: str = "") -> None:
        self.signum = signum
        self.exit_code = 128 + signum
        super().__init__(message or f"interrupted by signal {signum}")
