"""One run, start to end: metadata -> Plan -> hooks -> builder -> Transaction.

The CLI parses options into ``Options`` and calls ``run``; tests and other programs
can call ``run`` directly. Errors are raised, never printed: see ``errors``.
"""

from __future__ import annotations

import os
import sys
import time
from typing import TYPE_CHECKING, Callable, Optional, Union

from . import interrupts, metadata, nics, registry, resolvers, selection, source
from .changes import Change, event_fields
from .errors import (
    InvalidMetadata,
    MalformedOS,
    NoMetadataSource,
    NothingToDo,
    UsageError,
)
from .journal import JOURNAL
from .metadata import documents
from .planner import build as build_plan
from .target import Target, from_metadata, from_option, from_os_release
from .transaction import Transaction

if TYPE_CHECKING:
    from structlog.typing import FilteringBoundLogger as Log


class Options:
    """What to do, as the CLI's options say it. ``resolvers``: "a,b" from --resolvers;
    ``backend``: a config format asked for by name (--backend), else one is chosen;
    ``hardware``: the document's bytes from the ``HARDWARE`` variable, the source used
    when neither a file nor a URL is given."""

    __slots__ = (
        "rootfs",
        "metadata_file",
        "metadata_url",
        "hardware",
        "retry",
        "operating_system",
        "resolvers",
        "resolvers_origin",
        "nics_file",
        "dry_run",
        "diff",
        "backend",
        "audit_check",
        "hold_signals",
    )

    def __init__(
        self,
        rootfs: Union[str, os.PathLike[str]],
        *,
        metadata_file: Optional[str] = None,
        metadata_url: str = "",
        hardware: Optional[bytes] = None,
        retry: Optional[source.Retry] = None,
        operating_system: Optional[str] = None,
        resolvers: Optional[str] = None,
        resolvers_origin: str = "--resolvers",
        nics_file: Optional[str] = None,
        dry_run: bool = False,
        diff: bool = False,
        backend: Optional[str] = None,
        audit_check: Optional[Callable[[list[Change]], None]] = None,
        hold_signals: bool = False,
    ) -> None:
        self.rootfs = rootfs
        self.metadata_file, self.metadata_url = metadata_file, metadata_url
        self.hardware = hardware
        self.retry = retry or source.Retry()
        self.operating_system = operating_system
        self.resolvers, self.resolvers_origin = resolvers, resolvers_origin
        self.nics_file = nics_file
        self.dry_run, self.diff, self.backend = dry_run, diff, backend
        # Raises if the audit log can no longer be written: called before the first change.
        self.audit_check = audit_check
        # After the commit, SIGINT, SIGTERM and SIGHUP are only remembered, to the end of the
        # process: the CLI's exit code must say the rootfs is configured. A library
        # caller (False) gets the signal delivered once the run is complete.
        self.hold_signals = hold_signals


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
    try:
        return _run(options, log, transaction, root, started)
    finally:
        # Its descriptors go now, not when the garbage collector gets to them: the
        # action unmounts the rootfs next, and an open directory would hold it busy.
        transaction.close()


def _run(options: Options, log: Log, transaction: Transaction, root: str, started: float) -> Result:
    if not options.dry_run and os.path.isdir(root):
        transaction.recover()  # a run killed half-way is undone before anything else
    host_nics = _host_nics(options.nics_file)
    # The host's NICs are looked at before the metadata only when a choice among several
    # Hardware needs them; otherwise the order of the checks is as it always was.
    document = _load_metadata(options, log, host_nics)
    _warn_ignored(document, log)
    target = _choose_target(options.operating_system, document, root, log)
    plan_nics = _plan_nics(host_nics(), document, log)
    plan = build_plan(
        document,
        plan_nics,
        resolvers.choose(options.resolvers, options.resolvers_origin, document, log),
    )
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
        if transaction.journal_present():
            log.warning(
                "journal present",
                journal=f"/{JOURNAL}",
                why="a run is under way or died half-way; a real run restores the prior state "
                "first, this dry run reports against the tree as it stands",
            )
        for change in changes:
            log.info("task", dry_run=True, **event_fields(change))
        return _complete(changes, builder.id, str(target), plan.mode, options, started, log)
    if options.audit_check is not None:
        options.audit_check(changes)
    # The window covers the report too: a signal during the commit or after it waits
    # until the audit log says what is on disk (see ``interrupts``).
    with interrupts.Window(hold=options.hold_signals) as window:
        transaction.apply(changes, window)
        if window.after_commit is not None:
            log.warning(
                "signal after the commit",
                signal=window.after_commit,
                outcome="the rootfs is configured; the run completes",
            )
        return _complete(changes, builder.id, str(target), plan.mode, options, started, log)


def _complete(
    changes: list[Change],
    builder: str,
    target: str,
    mode: str,
    options: Options,
    started: float,
    log: Log,
) -> Result:
    result = Result(tuple(changes), builder, target, time.monotonic() - started)
    log.info(
        "run complete",
        target=result.target,
        builder=result.builder,
        mode=mode,
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
    """The first source given: -M, then --metadata-url, then ``HARDWARE``."""
    if options.metadata_file:
        log.debug(
            "metadata from file; --metadata-url and HARDWARE ignored", file=options.metadata_file
        )
        body = source.read_file(options.metadata_file)
    elif options.metadata_url:
        log.debug("metadata from the URL; HARDWARE ignored", url=options.metadata_url)
        body = source.fetch(options.metadata_url, options.retry, log)
    elif options.hardware is not None:
        log.debug(
            "metadata from the environment", variable=source.HARDWARE, bytes=len(options.hardware)
        )
        body = options.hardware
    else:
        raise NoMetadataSource(source.NO_SOURCE)
    return load_document(body, host_nics)


def load_document(
    body: bytes, host_nics: Callable[[], tuple[nics.HostNic, ...]] = tuple
) -> metadata.Metadata:
    """One document's bytes, whichever way they came (a file, stdin, a URL, ``HARDWARE``):
    the one place a document is turned into the Metadata model."""
    if len(body) > source.MAX_BYTES:
        raise InvalidMetadata("metadata", f"{len(body)} bytes", "is too large")
    return documents.parse(body, host_nics)


def _plan_nics(
    found: tuple[nics.HostNic, ...], document: metadata.Metadata, log: Log
) -> tuple[nics.HostNic, ...]:
    """The NICs the plan is made over: --nics, else the host's own; when none is visible
    (an action's container has no NIC but ``lo``), the document's interfaces stand in for
    them, each named as ``nics.from_document`` says, and the audit log says so."""
    if found:
        return found
    found = nics.from_document(document.interfaces)
    log.info(
        "nics from document",
        reason="no host NIC is visible",
        nics={nic.name: nic.mac for nic in found},
    )
    return found


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
