"""One run, start to end: metadata -> Plan -> hooks -> builder -> Transaction.

The CLI parses options into ``Options`` and calls ``run``; tests and other programs
can call ``run`` directly. Errors are raised, never printed: see ``errors``.
"""

from __future__ import annotations

import os
import sys
import time
from typing import TYPE_CHECKING, Callable, Optional, Union

from . import documents, metadata, nics, registry, selection, source
from .changes import Change, event_fields
from .errors import InvalidMetadata, InvalidOption, MalformedOS, NothingToDo, UsageError
from .metadata import IPAddress
from .plan import build as build_plan
from .target import Target, from_metadata, from_option, from_os_release
from .transaction import Transaction

if TYPE_CHECKING:
    from structlog.typing import FilteringBoundLogger as Log

# Equinix Metal's public resolvers: the last resort when nothing else names any.
FALLBACK_RESOLVERS = ("147.75.207.207", "147.75.207.208")


class Options:
    """What to do, as the CLI's options say it. ``resolvers``: "a,b" from --resolvers;
    ``backend``: a config format asked for by name (--backend), else one is chosen."""

    __slots__ = ("rootfs", "metadata_file", "metadata_url", "retry", "operating_system",
                 "resolvers", "resolvers_origin", "nics_file", "dry_run", "diff", "backend",
                 "audit_check")

    def __init__(
        self,
        rootfs: Union[str, os.PathLike[str]],
        *,
        metadata_file: Optional[str] = None,
        metadata_url: str = source.DEFAULT_URL,
        retry: Optional[source.Retry] = None,
        operating_system: Optional[str] = None,
        resolvers: Optional[str] = None,
        resolvers_origin: str = "--resolvers",
        nics_file: Optional[str] = None,
        dry_run: bool = False,
        diff: bool = False,
        backend: Optional[str] = None,
        audit_check: Optional[Callable[[], None]] = None,
    ) -> None:
        self.rootfs = rootfs
        self.metadata_file, self.metadata_url = metadata_file, metadata_url
        self.retry = retry or source.Retry()
        self.operating_system = operating_system
        self.resolvers, self.resolvers_origin = resolvers, resolvers_origin
        self.nics_file = nics_file
        self.dry_run, self.diff, self.backend = dry_run, diff, backend
        # Raises if the audit log can no longer be written: called before the first change.
        self.audit_check = audit_check


class Result:
    __slots__ = ("changes", "builder", "target", "duration")

    def __init__(
        self, changes: tuple[Change, ...], builder: str, target: str, duration: float
    ) -> None:
        self.changes, self.builder, self.target, self.duration = changes, builder, target, duration

    def count(self, action: str) -> int:
        return sum(1 for c in self.changes if c.action == action)


def run(options: Options, log: Log, before_op: Optional[Callable[[str], None]] = None) -> Result:
    started = time.monotonic()
    root = os.fspath(options.rootfs)
    _not_empty(root)
    transaction = Transaction(root, log, before_op)
    if not options.dry_run and os.path.isdir(root):
        transaction.recover()  # a run killed half-way is undone before anything else
    host_nics = _host_nics(options.nics_file)
    # The host's NICs are looked at before the metadata only when a choice among several
    # Hardware needs them; otherwise the order of the checks is as it always was.
    document = _load_metadata(options, log, host_nics)
    _warn_ignored(document, log)
    target = _choose_target(options.operating_system, document, root, log)
    plan = build_plan(document, host_nics(), _resolvers(options, document, log))
    for hook in registry.hooks("plan", plan.plan_slug):
        plan = hook.func(plan)
        log.debug("hook applied", hook=hook.func.__name__, plan=plan.plan_slug)
    # The rootfs is looked at once, builder and format are chosen once, and logged once.
    chosen = selection.select(target, plan.mode, root, options.backend)
    _log_selection(chosen, log)
    builder, context = chosen.builder, chosen.context(plan)
    tasks = builder.func(context)
    for hook in registry.hooks("tasks", plan.plan_slug):
        tasks = hook.func(tasks, context)
    if not tasks:
        raise NothingToDo(f"nothing to do: {target} configures its own network")
    log.debug("builder selected", builder=builder.id, target=str(target), mode=plan.mode)
    changes = transaction.prepare(tasks)
    if options.diff:
        _print_diffs(changes)
    if options.dry_run:
        for change in changes:
            log.info("task", dry_run=True, **event_fields(change))
    else:
        if options.audit_check is not None:
            options.audit_check()
        transaction.apply(changes)
    result = Result(tuple(changes), builder.id, str(target), time.monotonic() - started)
    log.info(
        "run complete",
        target=result.target,
        builder=result.builder,
        mode=plan.mode,
        dry_run=options.dry_run,
        tasks=len(changes),
        written=result.count("write") + result.count("append"),
        deleted=result.count("delete"),
        unchanged=result.count("unchanged"),
        duration_ms=round(result.duration * 1000, 1),
    )
    return result


def _not_empty(root: str) -> None:
    """An empty --rootfs would be taken as the working directory."""
    if not root:
        raise UsageError("--rootfs '': an empty path; pass where the target is mounted")


def _log_selection(chosen: selection.Selection, log: Log) -> None:
    """Say which config format the builder will write and why (an audit event), and
    warn of a version served untested."""
    choice = chosen.choice
    if choice is None:
        return
    if chosen.untested:
        builder = chosen.builder
        log.warning(
            "untested version",
            target=str(chosen.target),
            newest_known=f"{builder.family} {registry.span(builder)}",
            builder=builder.id,
            backend=choice.backend,
            went_by=choice.reason,
        )
    log.info(
        "backend",
        backend=choice.backend,
        reason=choice.reason,
        detected=choice.detected,
        found=choice.findings.summary(),
    )


def _host_nics(nics_file: Optional[str]) -> Callable[[], tuple[nics.HostNic, ...]]:
    """The host's NICs, found on first use and kept."""
    found: list[tuple[nics.HostNic, ...]] = []

    def get() -> tuple[nics.HostNic, ...]:
        if not found:
            found.append(nics.load(nics_file) if nics_file else nics.discover())
        return found[0]

    return get


def _load_metadata(
    options: Options, log: Log, host_nics: Callable[[], tuple[nics.HostNic, ...]]
) -> metadata.Metadata:
    if options.metadata_file:
        log.debug("metadata from file; --metadata-url ignored", file=options.metadata_file)
        body = source.read_file(options.metadata_file)
    else:
        body = source.fetch(options.metadata_url, options.retry, log)
    if len(body) > source.MAX_BYTES:
        raise InvalidMetadata("metadata", f"{len(body)} bytes", "is too large")
    return documents.parse(body, host_nics)


def _warn_ignored(document: metadata.Metadata, log: Log) -> None:
    """An address the tool does not configure may be inconsistent (an elastic /31 with a
    gateway outside it): nothing of it is written, so it is a warning, not a refusal."""
    for address, (field, value, reason) in document.ignored_problems:
        log.warning(
            "metadata inconsistency ignored",
            field=field,
            value=value,
            reason=reason,
            address=str(address.interface),
            why="the address is not configured",
        )


def _choose_target(
    option: Optional[str], document: metadata.Metadata, root: str, log: Log
) -> Target:
    if option is not None:
        return from_option(option)
    found = from_metadata(document.operating_system)
    origin = "metadata operating_system"
    if found is None:
        found, origin = from_os_release(root), "the rootfs os-release"
    if found is None:
        raise MalformedOS(
            "no operating system: pass -o 'DISTRO VERSION' (the metadata and the rootfs name none)"
        )
    log.debug("operating system chosen", target=str(found), origin=origin)
    return found


def _resolvers(
    options: Options, document: metadata.Metadata, log: Log
) -> tuple[IPAddress, ...]:
    """--resolvers (or PACKET_RESOLVERS), else the document's own, else the host's."""
    if options.resolvers is not None:
        values = [v.strip(" ") for v in options.resolvers.split(",") if v.strip(" ")]
        if not values:  # "," or " ": a list given on purpose, with nothing in it
            raise InvalidOption(options.resolvers_origin, options.resolvers, "names no resolver")
        try:
            return metadata.parse_resolvers(values, options.resolvers_origin)
        except InvalidMetadata as exc:  # the operator's input, not the metadata's
            raise InvalidOption(exc.field, exc.value, exc.reason) from None
    if document.resolvers:
        return document.resolvers
    values = source.resolvers_from_host()
    if not values:
        log.info("no resolvers given or found on this host; using Equinix Metal's")
        values = list(FALLBACK_RESOLVERS)
    return metadata.parse_resolvers(values, "/etc/resolv.conf")


def _print_diffs(changes: list[Change]) -> None:
    import difflib  # only --diff needs it

    for change in changes:
        if change.action == "unchanged":
            continue
        old = change.before.content.decode(errors="replace") if change.before.exists else ""
        new = change.content.decode(errors="replace") if change.content is not None else ""
        sys.stdout.writelines(
            difflib.unified_diff(
                old.splitlines(keepends=True),
                new.splitlines(keepends=True),
                fromfile=f"a{change.display}" if change.before.exists else "/dev/null",
                tofile=f"b{change.display}" if change.content is not None else "/dev/null",
            )
        )


def resolvers_option(cli_value: Optional[str]) -> tuple[Optional[str], str]:
    """--resolvers wins over PACKET_RESOLVERS; both are checked the same way."""
    if cli_value is not None:
        return cli_value, "--resolvers"
    env = os.environ.get("PACKET_RESOLVERS")
    return (env, "PACKET_RESOLVERS") if env else (None, "--resolvers")
