"""The Tinkerbell action: the same program, run by tink-worker in a container, with its
input in the environment and, as its target, a partition it mounts itself.

tink-worker starts each action's container privileged, with the host's ``/dev`` and the
Template's ``environment:``. The hub's actions that work on a written disk (cexec,
writefile) name the target partition and its filesystem ``BLOCK_DEVICE`` and
``FS_TYPE``; this one does too, and takes the document in ``HARDWARE``. The other
variables mirror command-line options, and an option given on the command line wins.
They are read only when ``BLOCK_DEVICE`` is set: names as plain as ``OS`` or ``VERBOSE``
may mean something else in an operator's shell.

The partition is mounted in a mount namespace of the process's own (``unshare(2)`` with
``CLONE_NEWNS``, through ctypes: the image needs no util-linux), with propagation private,
so the mount never shows in the container's or the host's table, and it cannot outlive
the process: even a SIGKILL takes it down with the namespace. The ordinary path still
syncs and unmounts it, so the filesystem is clean for the next action and the reboot.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import stat
import tempfile
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Callable, Optional

from .errors import (
    Interrupted,
    InvalidOption,
    MalformedOS,
    MountFailed,
    UnmountFailed,
)
from .source import HARDWARE

if TYPE_CHECKING:
    from structlog.typing import FilteringBoundLogger as Log

BLOCK_DEVICE = "BLOCK_DEVICE"
# Every variable the action reads, the Template's names (examples/tinkerbell/ and its
# test check them against this tuple): the one list of them.
ENV = (BLOCK_DEVICE, "FS_TYPE", HARDWARE, "OS", "BACKEND", "RESOLVERS", "DRY_RUN",
       "AUDIT_LOG", "VERBOSE", "LOG_FORMAT")  # fmt: skip
# Filesystems a Linux root lives on. vfat is not one: it has no owners, modes or
# symlinks, which every target's config files need.
FS_TYPES = ("ext4", "ext3", "ext2", "xfs", "btrfs")
MAX_VERBOSE = 3
_TRUE, _FALSE = ("1", "true", "yes", "y"), ("0", "false", "no", "n")

# linux/sched.h, linux/mount.h (sys/mount.h).
_CLONE_NEWNS = 0x00020000
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 1, 2, 4, 8
_MS_REC, _MS_PRIVATE = 0x4000, 0x40000
_MNT_DETACH = 2


class Settings:
    """The action's variables, checked. None: unset (or empty, which counts as unset)."""

    __slots__ = ("block_device", "fs_type", "operating_system", "backend", "resolvers",
                 "dry_run", "audit_log", "verbose", "log_format")  # fmt: skip

    def __init__(
        self,
        block_device: str,
        fs_type: str,
        *,
        operating_system: Optional[str] = None,
        backend: Optional[str] = None,
        resolvers: Optional[str] = None,
        dry_run: Optional[bool] = None,
        audit_log: Optional[str] = None,
        verbose: Optional[int] = None,
        log_format: Optional[str] = None,
    ) -> None:
        self.block_device, self.fs_type = block_device, fs_type
        self.operating_system, self.backend = operating_system, backend
        self.resolvers, self.dry_run, self.audit_log = resolvers, dry_run, audit_log
        self.verbose, self.log_format = verbose, log_format


def settings(environ: Mapping[str, str]) -> Optional[Settings]:
    """The action's settings from ``environ``, or None when ``BLOCK_DEVICE`` is unset (not
    run as the action). A bad value is a usage error naming the variable (exit 2), raised
    before anything is mounted. ``HARDWARE`` is the one variable read elsewhere
    (``source.from_environment``): it is a source for any run, like a file."""
    device = environ.get(BLOCK_DEVICE, "")
    if not device:
        return None

    def value(name: str) -> Optional[str]:
        return environ.get(name) or None

    return Settings(
        _block_device(device),
        _fs_type(value("FS_TYPE")),
        operating_system=_checked("OS", value("OS"), _operating_system),
        backend=_checked("BACKEND", value("BACKEND"), _backend),
        resolvers=_checked("RESOLVERS", value("RESOLVERS"), _resolvers),
        dry_run=_checked("DRY_RUN", value("DRY_RUN"), _boolean),
        audit_log=value("AUDIT_LOG"),
        verbose=_checked("VERBOSE", value("VERBOSE"), _verbose),
        log_format=_checked("LOG_FORMAT", value("LOG_FORMAT"), _log_format),
    )


def _checked(name: str, text: Optional[str], check: Callable[[str], Any]) -> Any:
    """``check(text)``, whose ``ValueError`` names what is wrong; None stays None."""
    if text is None:
        return None
    try:
        return check(text)
    except ValueError as exc:
        raise InvalidOption(name, text, str(exc)) from None


def _block_device(path: str) -> str:
    """An absolute path to a block device: a file, a directory or a typo is refused here,
    not by mount(2) with a less telling errno."""
    if not os.path.isabs(path):
        raise InvalidOption(BLOCK_DEVICE, path, "is not an absolute path (e.g. /dev/sda3)")
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise InvalidOption(BLOCK_DEVICE, path, exc.strerror or str(exc)) from None
    if not stat.S_ISBLK(mode):
        raise InvalidOption(BLOCK_DEVICE, path, "is not a block device")
    return path


def _fs_type(text: Optional[str]) -> str:
    if text not in FS_TYPES:
        reason = "must be set with BLOCK_DEVICE" if text is None else "is not supported"
        raise InvalidOption("FS_TYPE", text, f"{reason}; one of: {', '.join(FS_TYPES)}")
    return text


def _operating_system(text: str) -> str:
    from .target import from_option

    try:
        from_option(text)
    except MalformedOS:
        raise ValueError("expected 'DISTRO VERSION', e.g. 'ubuntu 22.04'") from None
    return text


def _backend(text: str) -> str:
    from .backends import NAMES

    if text not in NAMES:
        raise ValueError(f"unknown backend; one of: {', '.join(NAMES)}")
    return text


def _resolvers(text: str) -> str:
    from .resolvers import resolver_list

    try:
        resolver_list(text, "RESOLVERS")
    except InvalidOption as exc:
        raise ValueError(exc.reason) from None
    return text


def _boolean(text: str) -> bool:
    if text.lower() in _TRUE:
        return True
    if text.lower() in _FALSE:
        return False
    raise ValueError(f"expected one of: {', '.join(_TRUE + _FALSE)}")


def _verbose(text: str) -> int:
    if not (text.isascii() and text.isdigit() and int(text) <= MAX_VERBOSE):
        raise ValueError(f"expected a number from 0 to {MAX_VERBOSE}")
    return int(text)


def _log_format(text: str) -> str:
    if text not in ("console", "json"):
        raise ValueError("expected console or json")
    return text


@contextlib.contextmanager
def mounted(device: str, fs_type: str, log: Log, read_only: bool = False) -> Iterator[str]:
    """``device`` mounted (``nosuid,nodev,noexec``; ``ro`` for a dry run) in a private
    mount namespace, at a fresh directory: yields that directory. On the way out, however
    the body ends (an error, SIGINT, SIGTERM), the filesystem is synced and unmounted.
    ``MountFailed`` (exit 15) if it cannot be mounted; ``UnmountFailed`` (exit 16) if a
    run that succeeded leaves it busy beyond a lazy unmount."""
    _private_namespace(device)
    try:
        point = tempfile.mkdtemp(prefix="packet-networking-target-")
    except OSError as exc:  # a read-only container root: TMPDIR can name another place
        raise MountFailed(
            f"{BLOCK_DEVICE} {device!r}: no mount point in "
            f"{tempfile.gettempdir()!r} (TMPDIR): {exc.strerror}; "
            "nothing was changed"
        ) from None
    try:
        flags = _MS_NOSUID | _MS_NODEV | _MS_NOEXEC | (_MS_RDONLY if read_only else 0)
        _mount(device, point, fs_type, flags)
        log.info(
            "target mounted",
            block_device=device,
            fs_type=fs_type,
            mountpoint=point,
            read_only=read_only,
        )
        with _Signals() as signals:
            try:
                yield point
            except BaseException:
                signals.hold()
                try:
                    _unmount(device, point, log)
                except UnmountFailed as exc:  # logged: the run's own error is the one line
                    log.error("target unmount failed", block_device=device, error=str(exc))
                raise
            signals.hold()
            _unmount(device, point, log)
    finally:
        with contextlib.suppress(OSError):
            os.rmdir(point)


class _Signals:
    """SIGTERM (tink-worker's stop, a timeout) raises ``Interrupted`` while the target is
    mounted, so the unmount runs as on any failure; SIGINT already raises. The
    transaction's own handlers take over while it applies (``interrupts.Window``) and
    put these back. ``hold()``: from the unmount on, a signal is only remembered, and
    delivered as ``Interrupted`` once the target is unmounted."""

    def __init__(self) -> None:
        self.held = False
        self.pending: Optional[int] = None
        self._old: Any = None

    def __enter__(self) -> _Signals:
        # Only the main thread may set handlers: a library caller's worker thread keeps
        # its caller's (the mount still goes on any exception, and with the process).
        with contextlib.suppress(ValueError):
            self._old = signal.signal(signal.SIGTERM, self._handle)
        return self

    def _handle(self, signum: int, _frame: object) -> None:
        if not self.held:
            self.held = True  # one exception; the rest wait for the unmount
            raise Interrupted(signum, "interrupted by SIGTERM; the target was unmounted")
        self.pending = self.pending or signum

    def hold(self) -> None:
        self.held = True

    def __exit__(self, exc_type: object, *_rest: object) -> None:
        if self._old is not None:
            signal.signal(signal.SIGTERM, self._old)
        if exc_type is None and self.pending is not None:
            raise Interrupted(self.pending, "interrupted by SIGTERM; the target was unmounted")


@functools.cache
def _libc() -> Any:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = (ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
                           ctypes.c_ulong, ctypes.c_void_p)  # fmt: skip
    libc.umount2.argtypes = (ctypes.c_char_p, ctypes.c_int)
    libc.unshare.argtypes = (ctypes.c_int,)
    libc.syncfs.argtypes = (ctypes.c_int,)
    return libc


def _errno() -> str:
    import ctypes

    return os.strerror(ctypes.get_errno())


def _private_namespace(device: str) -> None:
    """A mount namespace for this process alone, nothing propagating out of it (a shared
    "/", systemd's default and podman's, would carry the mount to the host)."""
    libc = _libc()
    if libc.unshare(_CLONE_NEWNS) != 0:
        raise MountFailed(
            f"{BLOCK_DEVICE} {device!r}: no private mount namespace ({_errno()}): the action "
            "needs a privileged container (CAP_SYS_ADMIN); nothing was changed"
        )
    if libc.mount(b"none", b"/", None, _MS_REC | _MS_PRIVATE, None) != 0:
        raise MountFailed(
            f"{BLOCK_DEVICE} {device!r}: mount propagation cannot be made "
            f"private ({_errno()}); nothing was changed"
        )


def _mount(device: str, point: str, fs_type: str, flags: int) -> None:
    if _libc().mount(os.fsencode(device), os.fsencode(point), fs_type.encode(), flags, None) != 0:
        raise MountFailed(
            f"{BLOCK_DEVICE} {device!r} could not be mounted as FS_TYPE {fs_type!r}: "
            f"{_errno()}; nothing was changed"
        )


def _unmount(device: str, point: str, log: Log) -> None:
    """Sync, then unmount; a busy mount (a descriptor still open) is detached lazily, so
    nothing stays reachable and the kernel finishes once the descriptor goes."""
    libc = _libc()
    try:  # the transaction fsynced each file: this is for everything else of the run
        fd = os.open(point, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            if libc.syncfs(fd) != 0:
                raise OSError(_errno())
        finally:
            os.close(fd)
    except OSError as exc:  # the unmount writes back what is left anyway
        log.warning("target sync failed", block_device=device, error=str(exc))
    if libc.umount2(os.fsencode(point), 0) == 0:
        log.info("target unmounted", block_device=device, mountpoint=point)
        return
    error = _errno()
    if libc.umount2(os.fsencode(point), _MNT_DETACH) == 0:
        log.warning(
            "target unmounted", block_device=device, mountpoint=point, lazily=True, error=error
        )
        return
    raise UnmountFailed(
        f"{BLOCK_DEVICE} {device!r} could not be unmounted from {point!r}: {_errno()}"
    )
