#!/usr/bin/env python3
"""In-process render time: a bonded plan of 2, 16 and 64 NICs through one builder.

    .venv/bin/python bench/render.py [--os 'debian 12'] [--site-packages DIR]

Times ``builder(context)``: every file the builder writes, rendered from the Plan (the
Plan itself is built once, outside the timing). Prints the median of repeated calls,
the first call (which loads the templates) separately, and the cost of each NIC added
between sizes (about equal when the growth is linear). --site-packages runs it against an
extracted pyz (precompiled templates) instead of the checkout. Target: linear, and
under 20 ms for 64 NICs. Benchmarks print figures; nothing here asserts.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIZES = (2, 16, 64)
TARGET_MS = 20.0


def main() -> int:
    args = _parser().parse_args()
    if args.site_packages:
        sys.path.insert(0, str(args.site_packages))
    sys.path.insert(1 if args.site_packages else 0, str(ROOT / "tests"))
    import factories

    from packetnetworking import render, selection
    from packetnetworking.target import from_option

    target = from_option(args.os)
    print(f"{args.os}, templates: {type(render.environment().loader).__name__}, "
          f"Python {sys.version.split()[0]}, {args.repeat} calls each")
    print(f"{'NICs':>5} {'first call':>11} {'median':>9} {'best':>9} {'bytes':>7}")
    medians, best = {}, {}
    for size in SIZES:
        # Two bonds, as on the larger plans: bond0 and bond1 alternate over the NICs.
        doc = factories.metadata(nics=size, bonds=[f"bond{i % 2}" for i in range(size)])
        plan = factories.build_plan(doc)
        chosen = selection.select(target, plan.mode, Path("/nonexistent"))
        builder, context = chosen.builder, chosen.context(plan)
        first, times = _time(functools.partial(builder.func, context), args.repeat)
        medians[size], best[size] = statistics.median(times), min(times)
        size_bytes = sum(len(getattr(t, "content", "") or "") for t in builder.func(context))
        print(f"{size:>5} {first:8.2f} ms {medians[size]:6.2f} ms {best[size]:6.2f} ms "
              f"{size_bytes:>7}")
    # A fixed part (hostname, hosts, resolvers) plus a part per NIC: linear growth shows as
    # the same cost for each NIC added, whatever the size.
    # From the best runs: per-NIC costs are microseconds, below a median's noise.
    small, mid = (best[16] - best[2]) / 14, (best[64] - best[16]) / 48
    print(f"each NIC added: {1000 * small:.0f} us (2 -> 16), {1000 * mid:.0f} us (16 -> 64); "
          f"64 NICs: {medians[64]:.2f} ms "
          f"(target < {TARGET_MS:.0f} ms: {'met' if medians[64] < TARGET_MS else 'NOT met'})")
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--os", default="debian 12", help="target (default %(default)s)")
    p.add_argument("--repeat", type=int, default=50, help="calls per size (default %(default)s)")
    p.add_argument("--site-packages", type=Path, help="an extracted pyz's site-packages")
    return p


def _time(func, repeat: int) -> tuple[float, list[float]]:
    started = time.perf_counter()
    func()
    first = (time.perf_counter() - started) * 1000
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        func()
        times.append((time.perf_counter() - started) * 1000)
    return first, times


if __name__ == "__main__":
    sys.exit(main())
