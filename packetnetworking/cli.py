"""The command line: options in, one line on stderr and an exit code out."""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import sys
from typing import TYPE_CHECKING, Callable, Optional

from .errors import AuditIncomplete, PacketNetworkingError, UsageError, printable
from .options import parser

if TYPE_CHECKING:
    from . import action, audit


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


if __name__ == "__main__":
    sys.exit(main())
