"""The command line: options in, one line on stderr and an exit code out."""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import shutil
import sys
from typing import TYPE_CHECKING, Callable, NoReturn, Optional

from . import __version__
from .errors import (
    EXIT_CODES,
    AuditIncomplete,
    PacketNetworkingError,
    UsageError,
    printable,
    to_devnull,
)

if TYPE_CHECKING:
    from _typeshed import SupportsWrite

    from . import action, audit

# Limits on the retry options: generous, but each keeps the run's clocks in range.
MAX_ATTEMPTS = 1000
MAX_TIMEOUT = 3600.0
MAX_RETRY_DELAY = 3600.0

# The action's variables (action.ENV, which --help must not import: it stays fast).
_ACTION_ENV = ("BLOCK_DEVICE", "FS_TYPE", "HARDWARE", "OS", "BACKEND", "RESOLVERS", "DRY_RUN",
               "AUDIT_LOG", "VERBOSE", "LOG_FORMAT")  # fmt: skip

_EPILOG = "exit codes:\n" + "\n".join(f"  {code:>3}  {text}" for code, text in EXIT_CODES.items())


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """One line, as every other error (argparse would print its usage first), with
        anything unprintable in a value escaped so it cannot start a line of its own."""
        self.exit(2, f"{self.prog}: usage error: {printable(message)} (see --help)\n")

    def _print_message(self, message: str, file: Optional[SupportsWrite[str]] = None) -> None:
        """As argparse's, but a stream that is closed (None) or whose reader is gone
        leaves only the exit code: Python 3.11's argparse would raise instead (and a
        pipe closed under --help would make Python's flush at exit fail with 120)."""
        try:
            super()._print_message(message, file)
            if file is not None and hasattr(file, "flush"):
                file.flush()
        except AttributeError:
            pass
        except OSError:
            to_devnull(file)


def parser() -> argparse.ArgumentParser:
    # argparse makes a formatter for every option it adds, and each one asks the terminal
    # its width: ~1M instructions a run. The same width (argparse's own reckoning), once.
    width = shutil.get_terminal_size().columns - 2
    p = _Parser(
        prog="packet-networking",
        description="Write this server's network configuration into the target root "
        "filesystem, from the Equinix Metal instance metadata or a Tinkerbell Hardware. "
        "As a Tinkerbell action (BLOCK_DEVICE set, no --rootfs) it mounts the target "
        "itself; its variables: " + ", ".join(_ACTION_ENV) + " (docs/tinkerbell.md).",
        epilog=_EPILOG,
        formatter_class=functools.partial(argparse.RawDescriptionHelpFormatter, width=width),
    )
    p.add_argument(
        "-M",
        "--metadata-file",
        metavar="FILE",
        help="metadata from FILE (- = stdin); wins over the URL and HARDWARE",
    )
    p.add_argument(
        "--metadata-url",
        metavar="URL",
        default=os.environ.get("PACKET_METADATA_URL", ""),
        help="metadata service (env PACKET_METADATA_URL; no default: Equinix Metal's is "
        "gone); wins over HARDWARE",
    )
    p.add_argument(
        "-n",
        "--max-attempts",
        type=_positive_int,
        default=10,
        metavar="N",
        help="URL only: attempts before giving up (default 10)",
    )
    p.add_argument(
        "--timeout",
        type=functools.partial(_seconds, limit=MAX_TIMEOUT),
        default=10.0,
        metavar="SECONDS",
        help="URL only: limit for one request and its body (default 10)",
    )
    p.add_argument(
        "--retry-delay",
        type=functools.partial(_seconds, limit=MAX_RETRY_DELAY),
        default=1.0,
        metavar="SECONDS",
        help="URL only: first backoff, doubled per attempt up to 30 s (default 1)",
    )
    p.add_argument(
        "-o",
        "--operating-system",
        metavar="'DISTRO VERSION'",
        help="e.g. 'ubuntu 22.04'; default: the metadata's operating_system, "
        "then the rootfs's os-release",
    )
    p.add_argument(
        "-t",
        "--rootfs",
        metavar="PATH",
        help="the target root filesystem (required, unless BLOCK_DEVICE names the "
        "partition to mount, as the Tinkerbell action)",
    )
    p.add_argument(
        "--resolvers",
        metavar="A,B",
        help="nameservers (env PACKET_RESOLVERS; default: this host's /etc/resolv.conf)",
    )
    p.add_argument(
        "--nics",
        metavar="FILE",
        help="JSON list of the host's NICs [{name, mac, driver}] instead of discovering them",
    )
    p.add_argument(
        "--backend",
        type=_backend,
        metavar="NAME",
        help="config format to write: eni, ifcfg, netplan, networkmanager, networkd or wicked "
        "(default: chosen from what the rootfs has installed)",
    )
    p.add_argument(
        "--dry-run", action="store_true", help="render and report every task; write nothing"
    )
    p.add_argument(
        "--diff", action="store_true", help="print a unified diff of each file against the rootfs"
    )
    p.add_argument("--audit-log", metavar="FILE", help="append one JSON object per task to FILE")
    p.add_argument(
        "--log-format", choices=("console", "json"), help="console (default on a TTY) or json lines"
    )
    p.add_argument("-v", "--verbose", action="count", default=0, help="more detail (repeatable)")
    p.add_argument("-q", "--quiet", action="store_true", help="errors only")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return p


def main(
    argv: Optional[list[str]] = None, before_op: Optional[Callable[[str], None]] = None
) -> int:
    """``before_op`` is called before every filesystem change (``run.run``'s seam): the
    test suite's fault runner passes one; the shipped entry point never does."""
    _open_standard_fds()
    p = parser()
    args = p.parse_args(argv)  # exits 2 on a usage error, as argparse does
    from .audit import Console

    console = Console(sys.stderr)
    try:
        settings = _action_settings() if args.rootfs is None else None
    except PacketNetworkingError as exc:
        print(f"packet-networking: {printable(str(exc))}", file=console)
        return exc.exit_code
    if args.rootfs is None and settings is None:
        p.error(
            "the following arguments are required: -t/--rootfs "
            "(or BLOCK_DEVICE, as the Tinkerbell action)"
        )
    origins = _merge(args, settings)
    fmt = args.log_format or ("console" if console.isatty() else "json")
    verbosity = -1 if args.quiet else args.verbose
    try:
        return _run(args, fmt, verbosity, before_op, console, settings, origins)
    except PacketNetworkingError as exc:
        print(f"packet-networking: {printable(str(exc))}", file=console)
        return exc.exit_code
    except KeyboardInterrupt:
        print("packet-networking: interrupted", file=console)
        return 130
    except Exception as exc:  # a bug of ours: still one line, the traceback under -v
        if verbosity > 0:
            raise
        print(
            f"packet-networking: internal error: {printable(repr(exc))} (rerun with -v)",
            file=console,
        )
        return 1


def _open_standard_fds() -> None:
    """A standard fd the caller closed (``2>&-``) gets /dev/null. Otherwise the run's first
    open file would take its number, and a write to "stderr" (a child's, or the C
    library's) would land in that file: a file of the target, perhaps. Python leaves
    ``sys.stderr`` None for a closed fd 2, which Console takes as stderr lost."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            opened = os.open(os.devnull, os.O_RDWR)  # the lowest free fd: this one
            if opened != fd:  # a lower one was free too: it is handled in its turn
                os.dup2(opened, fd)
                os.close(opened)


def _action_settings() -> Optional[action.Settings]:
    """The action's variables when BLOCK_DEVICE is set (checked: exit 2 naming one). Not
    asked when --rootfs is given: that run is not the action, whatever its environment."""
    if not os.environ.get("BLOCK_DEVICE"):
        return None
    from . import action

    return action.settings(os.environ)


def _merge(args: argparse.Namespace, settings: Optional[action.Settings]) -> dict[str, str]:
    """Fill the options the command line left out from the action's variables: an option
    given on the command line wins. Returns where --resolvers and --audit-log came from,
    for messages."""
    origins = {"resolvers": "--resolvers", "audit_log": "--audit-log"}
    if settings is None:
        return origins
    if args.operating_system is None:
        args.operating_system = settings.operating_system
    if args.backend is None:
        args.backend = settings.backend
    if args.resolvers is None and settings.resolvers is not None:
        args.resolvers, origins["resolvers"] = settings.resolvers, "RESOLVERS"
    if args.audit_log is None and settings.audit_log is not None:
        args.audit_log, origins["audit_log"] = settings.audit_log, "AUDIT_LOG"
    # --dry-run can only say yes: given, it wins over DRY_RUN=false.
    args.dry_run = args.dry_run or bool(settings.dry_run)
    if not args.verbose and not args.quiet and settings.verbose is not None:
        args.verbose = settings.verbose
    if args.log_format is None:
        args.log_format = settings.log_format
    return origins


def _run(
    args: argparse.Namespace,
    fmt: str,
    verbosity: int,
    before_op: Optional[Callable[[str], None]],
    console: audit.Console,
    settings: Optional[action.Settings] = None,
    origins: Optional[dict[str, str]] = None,
) -> int:
    # Imported here so --help and --version stay fast.
    from . import audit, run, source
    from .resolvers import resolvers_option

    origins = origins or {"resolvers": "--resolvers", "audit_log": "--audit-log"}
    with contextlib.ExitStack() as stack:
        sink = None
        if args.audit_log is not None:
            target = settings.block_device if settings is not None else args.rootfs
            sink = audit.open_sink(
                stack, args.audit_log, target, args.dry_run, origins["audit_log"]
            )
        log = audit.configure(fmt, verbosity, sink, console)
        rootfs = args.rootfs
        if settings is not None:  # the action (no --rootfs): mount the partition
            from . import action

            rootfs = stack.enter_context(
                action.mounted(settings.block_device, settings.fs_type, log, read_only=args.dry_run)
            )
        if args.resolvers is not None:
            resolvers, origin = args.resolvers, origins["resolvers"]
        else:
            resolvers, origin = resolvers_option(None)
        options = run.Options(
            rootfs=rootfs,
            metadata_file=args.metadata_file,
            metadata_url=args.metadata_url,
            hardware=source.from_environment(),
            retry=source.Retry(args.max_attempts, args.timeout, args.retry_delay),
            operating_system=args.operating_system,
            resolvers=resolvers,
            resolvers_origin=origin,
            nics_file=args.nics,
            dry_run=args.dry_run,
            diff=args.diff,
            backend=args.backend,
            audit_check=(
                functools.partial(audit.check_intact, sink, args.audit_log, origins["audit_log"])
                if sink
                else functools.partial(_check_console, console)
            ),
            hold_signals=True,  # this process's exit code says what is on disk
        )
        run.run(options, log, before_op)
        done = "dry run, nothing written" if args.dry_run else "the rootfs is configured"
        if sink is not None and sink.error is not None:
            raise AuditIncomplete(
                f"{done}, but the audit log {args.audit_log!r} could not be completed: "
                f"{sink.error.strerror or sink.error}"
            )
        if sink is None and console.error is not None:
            raise AuditIncomplete(
                f"{done}, but stderr, the run's only log, could not be completed: "
                f"{console.error.strerror or console.error}"
            )
    return 0


def _check_console(console: audit.Console, _changes: object) -> None:
    """Without --audit-log, stderr is the run's only record: lost before the first change
    (a closed pipe), the run stops with nothing changed. With --audit-log it is only the
    console, and the file is the record."""
    if console.error is not None:
        raise UsageError(
            f"stderr, the run's only log (no --audit-log), cannot be written: "
            f"{console.error.strerror or console.error}; nothing was changed"
        )


def _backend(text: str) -> str:
    # Imported only when the option is given, so --help and --version stay fast.
    from .backends import NAMES

    if text not in NAMES:
        raise argparse.ArgumentTypeError(f"unknown backend; one of: {', '.join(NAMES)}")
    return text


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= MAX_ATTEMPTS:
        raise argparse.ArgumentTypeError(f"{text!r}: must be from 1 to {MAX_ATTEMPTS}")
    return value


def _seconds(text: str, limit: float) -> float:
    """A finite number of seconds: inf, nan or 1e300 would overflow the clocks and
    threads that use it (an internal error, not a usage error)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value <= limit:  # False for nan too
        raise argparse.ArgumentTypeError(f"{text!r}: must be more than 0 and at most {limit:g}")
    return value


if __name__ == "__main__":
    sys.exit(main())
