#!/usr/bin/env python3
"""Start-up of packet-networking.pyz, as medians of repeated whole-process runs.

    .venv/bin/python bench/startup.py [--pyz packet-networking.pyz] [--python /usr/bin/python3]

Prints, in milliseconds (wall clock; CPU = user + system time of the child):
  floor      the bare interpreter running `import attrs, jinja2, structlog` from the
             pyz's own extracted site-packages, with the flags the shebang uses (-I -S),
             the same with the cycle collector off, as the pyz runs (like for like),
             and with default flags (site on) for comparison;
  warm       the pyz on a bonded four-NIC example (--dry-run, so nothing is written),
             its extraction already in place;
  cold       the same with a fresh, empty extraction root (SHIV_ROOT) each run;
  variants   (--variants) ways of starting the same pyz, for the shebang choice.
With --instructions, also the instructions the floor and a warm run execute, counted by
valgrind's callgrind: unlike time, the count does not move with the machine's load.
Then the ratios against the targets: warm <= floor + 25 ms, cold <= 2 x warm.
Commands are run round-robin, so that a burst of load on the machine hits them alike.
Benchmarks print figures; nothing here asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parents[1]
FLOOR_IMPORTS = "import attrs, jinja2, structlog"
WARM_LIMIT_MS = 25.0
COLD_LIMIT_RATIO = 2.0


def main() -> int:
    args = _parser().parse_args()
    pyz = args.pyz.resolve()
    with tempfile.TemporaryDirectory(prefix="pn-bench-", dir=args.tmp) as tmp:
        work = Path(tmp)
        run_args = _example(work)
        env = {**os.environ, "SHIV_ROOT": str(work / "warm-root")}
        _check([args.python, "-I", "-S", str(pyz), *run_args], env, work)  # warm from now on
        site_packages = next((work / "warm-root").glob("*/site-packages"))
        commands = _commands(args.python, pyz, run_args, site_packages, env, args.variants)
        results = measure(commands, args.runs, work)
        counts = _instructions(commands[:2] + commands[3:4], work) if args.instructions else None
    _report(results, args.python, pyz)
    if counts:
        floor, floor_off, warm = (count / 1e6 for count in counts)
        print(f"instructions (callgrind): floor {floor:.1f} M (collector off {floor_off:.1f} M), "
              f"warm {warm:.1f} M; warm - floor {warm - floor:+.1f} M "
              f"(collector off {warm - floor_off:+.1f} M)")
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--pyz", type=Path, default=ROOT / "packet-networking.pyz")
    p.add_argument("--python", default="/usr/bin/python3", help="interpreter (default %(default)s)")
    p.add_argument("--runs", type=int, default=30, help="runs of each (default %(default)s)")
    p.add_argument("--variants", action="store_true", help="also time other ways to start it")
    p.add_argument("--instructions", action="store_true",
                   help="also count the floor's and a warm run's instructions (valgrind)")
    p.add_argument(
        "--tmp",
        default="/dev/shm" if os.path.isdir("/dev/shm") else None,
        help="where the extraction roots go (default %(default)s: a ramdisk, like the "
        "installer's; a slow disk makes extraction, i.e. the cold start, slower)",
    )
    return p


def _example(work: Path) -> list[str]:
    """A bonded four-NIC server: metadata, host NICs, an empty target rootfs."""
    sys.path.insert(0, str(ROOT / "tests"))
    import factories

    (work / "metadata.json").write_text(json.dumps(factories.metadata(nics=4)))
    (work / "nics.json").write_text(factories.nics_json(4))
    (work / "rootfs").mkdir()
    return [
        "-M", str(work / "metadata.json"), "--nics", str(work / "nics.json"),
        "-o", "debian 12", "--rootfs", str(work / "rootfs"),
        "--resolvers", "147.75.207.207", "--dry-run", "-q",
    ]


class Command:
    def __init__(self, label: str, argv: list[str], env: dict[str, str], cold: bool = False):
        self.label, self.argv, self.env, self.cold = label, argv, env, cold
        self.wall: list[float] = []
        self.cpu: list[float] = []


def _commands(python, pyz, run_args, site_packages, env, variants) -> list[Command]:
    floor_isolated = f"import sys; sys.path.insert(0, {str(site_packages)!r}); {FLOOR_IMPORTS}"
    commands = [
        Command("floor (-I -S)", [python, "-I", "-S", "-c", floor_isolated], env),
        # The pyz runs with the cycle collector off (packaging/pyz_main.py says why), which
        # makes importing the dependencies cheaper too: this is the like-for-like floor.
        Command("floor (-I -S, collector off)",
                [python, "-I", "-S", "-c", f"import gc; gc.disable(); {floor_isolated}"], env),
        Command("floor (default flags)", [python, "-c", FLOOR_IMPORTS],
                {**env, "PYTHONPATH": str(site_packages)}),
        Command("warm", [python, "-I", "-S", str(pyz), *run_args], env),
        Command("cold", [python, "-I", "-S", str(pyz), *run_args], env, cold=True),
    ]
    if variants:
        stock = (f"import sys; sys.path.insert(0, {str(pyz)!r}); sys.argv[0] = {str(pyz)!r}; "
                 "import _bootstrap; _bootstrap.bootstrap()")
        commands += [
            Command("warm: ./pyz (shebang)", [str(pyz), *run_args], env),
            Command(f"warm: {python} pyz (re-execs)", [python, str(pyz), *run_args], env),
            Command(f"warm: {python} -I pyz (re-execs)", [python, "-I", str(pyz), *run_args], env),
            Command("warm: /usr/bin/env python3 -IS pyz",
                    ["/usr/bin/env", "python3", "-IS", str(pyz), *run_args], env),
            Command("warm: shiv's own bootstrap, -I -S",
                    [python, "-I", "-S", "-c", stock, *run_args], env),
            Command("warm: shiv's own bootstrap, default flags",
                    [python, "-c", stock, *run_args], env),
        ]
    return commands


def measure(commands: list[Command], runs: int, work: Path) -> list[Command]:
    for i in range(runs):
        for command in commands:
            env = command.env
            if command.cold:
                env = {**env, "SHIV_ROOT": str(work / f"cold-{i}")}
            wall, cpu = _time(command.argv, env, work)
            command.wall.append(wall)
            command.cpu.append(cpu)
            if command.cold:
                shutil.rmtree(work / f"cold-{i}")
    return commands


def _instructions(commands: list[Command], work: Path) -> Optional[tuple[int, ...]]:
    """Instructions each command executes (callgrind's "I refs"), or None without valgrind."""
    if shutil.which("valgrind") is None:
        print("--instructions: valgrind is not installed (apt install valgrind)", file=sys.stderr)
        return None
    counts = []
    for command in commands:
        proc = subprocess.run(
            ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *command.argv],
            env=command.env, cwd=work, capture_output=True, text=True, check=True,
        )
        refs = re.search(r"I\s+refs:\s+([\d,]+)", proc.stderr)
        if refs is None:
            raise SystemExit(f"no instruction count from valgrind: {proc.stderr[-500:]}")
        counts.append(int(refs.group(1).replace(",", "")))
    return tuple(counts)


def _time(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    # cwd: a `python -c` puts it first on sys.path; the checkout's packetnetworking/
    # must not shadow the pyz's.
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{argv} exited {proc.returncode}: {proc.stderr.read().decode()[-2000:]}")
    proc.stderr.close()
    return wall * 1000, (usage.ru_utime + usage.ru_stime) * 1000


def _check(argv: list[str], env: dict[str, str], cwd: Path) -> None:
    subprocess.run(argv, env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL)


def _report(results: list[Command], python: str, pyz: Path) -> None:
    version = subprocess.run([python, "-c", "import sys; print(sys.version.split()[0])"],
                             capture_output=True, text=True).stdout.strip()
    runs = len(results[0].wall)
    print(f"{pyz.name} ({pyz.stat().st_size // 1024} KiB), Python {version} at {python}, "
          f"{runs} runs each, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
    print(f"{'':42} {'median wall':>11} {'median CPU':>11} {'best wall':>11}")
    for c in results:
        wall, cpu = statistics.median(c.wall), statistics.median(c.cpu)
        print(f"{c.label:42} {wall:8.1f} ms {cpu:8.1f} ms {min(c.wall):8.1f} ms")
    # The best run is what an idle machine gives; the median is what the issue asks for.
    for name, pick in (("median", statistics.median), ("best", min)):
        by = {c.label: pick(c.wall) for c in results}
        over = by["warm"] - by["floor (-I -S)"]
        like = by["warm"] - by["floor (-I -S, collector off)"]
        ratio = by["cold"] / by["warm"]
        print(f"{name:>6}: warm - floor (-I -S) {over:+6.1f} ms (target <= {WARM_LIMIT_MS:.0f} ms: "
              f"{_verdict(over <= WARM_LIMIT_MS)}); collector off in both {like:+6.1f} ms; "
              f"cold / warm {ratio:.2f}x "
              f"(target <= {COLD_LIMIT_RATIO:.0f}x: {_verdict(ratio <= COLD_LIMIT_RATIO)})")


def _verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


if __name__ == "__main__":
    sys.exit(main())
