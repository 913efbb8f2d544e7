"""pytest plugin: the image matrix at a glance (image x mode x check -> pass/fail/skip).

A test joins the matrix with ``@pytest.mark.matrix(image=..., os=..., mode=..., check=...)``
(support.matrix.cells() marks each cell). At the end of the run the plugin prints the
table and writes it, with each cell's reason or detail, to build/image-matrix.json.
A detail is what a test put in ``request.node.user_properties`` as ("matrix_detail", text).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

KEYS = ("image", "os", "mode", "check")
CHECK_ORDER = ("run", "read", "apply", "rerun", "boot")
JSON_PATH = Path("build") / "image-matrix.json"
_RANK = {"passed": 0, "skipped": 1, "failed": 2}
_SHOWN = {"passed": "pass", "skipped": "skip", "failed": "FAIL"}

_results: dict[str, dict[str, Any]] = {}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "matrix(image, os, mode, check): a cell of the image matrix report"
    )
    _results.clear()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        marker = item.get_closest_marker("matrix")
        if marker is not None:
            item.user_properties.append(("matrix", {k: str(marker.kwargs[k]) for k in KEYS}))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    props = dict(report.user_properties)
    if "matrix" not in props:
        return
    cell = _results.setdefault(
        report.nodeid, {**props["matrix"], "outcome": "passed", "reason": "", "seconds": 0.0}
    )
    cell["seconds"] = round(cell["seconds"] + report.duration, 2)
    if "matrix_detail" in props:
        cell["detail"] = props["matrix_detail"]
    cell.update(props.get("matrix_fields", {}))  # a measurement's own fields (VM timings)
    if _RANK[report.outcome] > _RANK[cell["outcome"]]:
        cell["outcome"] = report.outcome
        cell["reason"] = _reason(report)


def _reason(report: pytest.TestReport) -> str:
    if hasattr(report, "wasxfail"):  # a known failure (xfail, strict): say which
        return f"known failure: {report.wasxfail}"
    longrepr = report.longrepr
    if isinstance(longrepr, tuple):  # a skip: (file, line, "Skipped: reason")
        return str(longrepr[2]).removeprefix("Skipped: ")
    crash = getattr(longrepr, "reprcrash", None)
    text = crash.message if crash is not None else str(longrepr)
    return " ".join(text.split())[:600]


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if not _results:
        return
    cells = list(_results.values())
    counts = {shown: sum(c["outcome"] == o for c in cells) for o, shown in _SHOWN.items()}
    document = {
        "generated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "checks": list(CHECK_ORDER),
        "counts": counts,
        "cells": cells,
    }
    path = config.rootpath / JSON_PATH
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(document, indent=1) + "\n")
        written = f"written to {path}"
    except OSError as exc:  # a read-only checkout: the table is still printed
        written = f"not written to {path}: {exc.strerror}"
    write = terminalreporter.write_line
    terminalreporter.section("image matrix")
    for line in table(cells):
        write(line)
    for c in cells:
        if c["outcome"] != "passed":
            where = " ".join(c[k] for k in KEYS)
            write(f"{_SHOWN[c['outcome']]} {where}: {c['reason']}")
    summary = ", ".join(f"{n} {shown}" for shown, n in counts.items())
    write(f"{summary}; {written}")


REACHABLE = "to reachable"  # the column of a VM cell's seconds_to_reachable


def table(cells: list[dict[str, Any]]) -> list[str]:
    """One row per image, os and mode; one column per check; '-' where a check does not apply."""
    checks = [c for c in CHECK_ORDER if any(x["check"] == c for x in cells)]
    checks += sorted({x["check"] for x in cells} - set(checks))
    rows: dict[tuple[str, str, str], dict[str, str]] = {}
    for c in cells:
        row = rows.setdefault((c["image"], c["os"], c["mode"]), {})
        row[c["check"]] = _SHOWN[c["outcome"]]
        if c.get("seconds_to_reachable") is not None:  # a VM cell's, from its guest's clock
            row[REACHABLE] = f"{c['seconds_to_reachable']} s"
    if any(REACHABLE in row for row in rows.values()):
        checks.append(REACHABLE)
    head = ("image", "os", "mode", *checks)
    body = [(*key, *(row.get(check, "-") for check in checks)) for key, row in rows.items()]
    widths = [max(len(r[i]) for r in (head, *body)) for i in range(len(head))]
    return ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in (head, *body)]
