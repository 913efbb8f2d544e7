"""The command line's options: what each one means, its limits, and --help's text."""

from __future__ import annotations

import argparse
import functools
import os
import shutil
from typing import TYPE_CHECKING, NoReturn, Optional

from . import __version__
from .errors import EXIT_CODES, printable, to_devnull

if TYPE_CHECKING:
    from _typeshed import SupportsWrite

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
