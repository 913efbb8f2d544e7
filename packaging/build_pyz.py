#!/usr/bin/env python3
"""Build packet-networking.pyz: pure Python, pinned, precompiled, reproducible.

    python packaging/build_pyz.py [build] [--output FILE] [--python '/usr/bin/python3 -IS']
    python packaging/build_pyz.py wheelhouse DIR   # every file a build needs, for offline builds
    python packaging/build_pyz.py inputs           # rewrite packaging/pyz-inputs.json

The interpreter running this needs the build tools: pip install --require-hashes
--no-deps -r packaging/build-tools.lock (``make pyz`` does it). A build, in the work
directory (default build/pyz, wiped first):

1. The locked dependencies (requirements.lock, hashes required) as pure wheels. MarkupSafe
   and PyYAML publish no pure wheel: their sdists are built with the C compiler disabled
   (CC=false), so MarkupSafe's setup.py takes its own plain-Python fallback, and with
   PYYAML_FORCE_LIBYAML=0, so PyYAML's leaves its libyaml extension out and tags the
   wheel py3-none-any (a failed optional build alone would still tag it for the
   platform). Compiled extensions would tie the pyz to one libc and one Python version;
   installer images use musl and glibc alike.
2. This project, as a wheel built from a clean copy of its sources (no stale build/lib).
   Local wheels are installed by name from a find-links directory: installed by path,
   pip would record the build directory in direct_url.json.
3. The Jinja2 templates compiled to Python modules (``packetnetworking.render.compile_into``),
   and the plugin index (``packetnetworking.plugins.write_index``): which distro modules
   a run for a given OS imports, instead of all of them.
4. Every module compiled to unchecked-hash bytecode for the interpreter running this
   script: an extraction is importable at once (timestamp bytecode would be stale, since
   extraction does not keep mtimes). Other Python versions ignore these files and compile
   the sources on first import, as usual.
5. shiv. It leaves bytecode out of the archive, so the archive is rewritten with the
   bytecode and our __main__.py (packaging/pyz_main.py, with its bytecode beside it) in
   it, site-packages packed as one inner zip (``pyz_archive.finish_archive`` says why), entries
   sorted and timestamps fixed: two builds of the same sources give the same bytes.

Offline: PIP_NO_INDEX=1 PIP_FIND_LINKS=DIR, with DIR made by the wheelhouse command.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pyz_archive  # packaging/, beside this script

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"
TOOLS_LOCK = ROOT / "packaging" / "build-tools.lock"
INPUTS = ROOT / "packaging" / "pyz-inputs.json"
DEFAULT_SHEBANG = "/usr/bin/python3 -IS"
# Packages that publish no pure-Python wheel: built from their sdist without a compiler.
SDIST_ONLY = ("markupsafe", "pyyaml")
# Pure wheels only, whatever the running interpreter: the pyz runs on Python 3.9+.
PURE = ("--only-binary", ":all:", "--platform", "any", "--implementation", "py",
        "--abi", "none", "--python-version", "3.9")
# What of the source tree our own wheel is built from (pyproject.toml maps these).
PROJECT_FILES = ("pyproject.toml", "README.md", "LICENSE", "packetnetworking", "distros", "hooks")
SOURCE_DATE_EPOCH = "315532800"  # the same instant, for shiv's built_at


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "wheelhouse":
        wheelhouse(args.dir.resolve())
    elif args.command == "inputs":
        write_inputs(INPUTS)
    else:
        build(args.output.resolve(), args.python, args.work.resolve())
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--output", type=Path, default=ROOT / "packet-networking.pyz")
    p.add_argument("--python", default=DEFAULT_SHEBANG, help="shebang: interpreter and flags")
    p.add_argument("--work", type=Path, default=ROOT / "build" / "pyz")
    sub = p.add_subparsers(dest="command")
    sub.add_parser("build", help="build the pyz (the default)")
    wh = sub.add_parser("wheelhouse", help="download every file a build needs into DIR")
    wh.add_argument("dir", type=Path)
    sub.add_parser("inputs", help=f"rewrite {INPUTS.relative_to(ROOT)} (for flake.nix)")
    return p


# ---------------------------------------------------------------------------- build


def build(output: Path, python: str, work: Path) -> None:
    _require_build_tools()
    work.parent.mkdir(parents=True, exist_ok=True)
    # Two builds in one work directory (make pyz run twice at once) would trample on
    # each other: the second waits.
    with open(work.parent / f".{work.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _build(output, python, work)


def _build(output: Path, python: str, work: Path) -> None:
    if work.exists():
        shutil.rmtree(work)
    site = work / "site-packages"
    stage(site, work)
    shiv_archive = work / "shiv.pyz"
    subprocess.run(
        [str(Path(sys.executable).with_name("shiv")), "--reproducible", "--compressed",
         "--site-packages", str(site), "-p", python, "-e", pyz_archive.ENTRY_POINT,
         "-o", str(shiv_archive)],
        check=True,
        env=_env(),
    )
    pyz_archive.finish_archive(shiv_archive, site, output, python, main_pyc)
    print(f"built {output}", file=sys.stderr)


def stage(site: Path, work: Path) -> None:
    """Steps 1-4: site-packages as the pyz will hold it."""
    site.mkdir(parents=True)
    wheels = work / "wheels"
    pure, sdist = split_lock(work)
    _pip("install", "--no-deps", "--require-hashes", "--target", str(site), *PURE, "-r", str(pure))
    # CC=false: the extension's compile step fails at once and setup.py falls back.
    # --no-cache-dir: pip's wheel cache may hold a wheel built another way (with speedups).
    _pip("wheel", "--no-deps", "--require-hashes", "--no-binary", ":all:", "--no-build-isolation",
         "--no-cache-dir", "--wheel-dir", str(wheels), "-r", str(sdist),
         extra_env={"CC": "false", "CXX": "false", "PYYAML_FORCE_LIBYAML": "0"})
    _pip("wheel", "--no-deps", "--no-build-isolation", "--wheel-dir", str(wheels),
         str(_copy_project(work / "src")))
    _install_local_wheels(wheels, site)
    _drop_console_scripts(site)
    # pyz_main.py puts site-packages on sys.path without processing .pth files, and
    # compiled code is what this build exists to keep out.
    unwanted = [p.name for p in site.rglob("*") if p.suffix in (".pth", ".so", ".pyd")]
    if unwanted:
        raise SystemExit(f"unexpected in site-packages: {unwanted}")
    _staged_python(site, "from packetnetworking.render import compile_into; compile_into()")
    _staged_python(site, "from packetnetworking import plugins, registry; "
                         "plugins.write_index(registry.builders(), registry.overlaps())")
    _staged_python(
        site,
        # ddir: code objects record "site-packages/...", not this build directory (the
        # import system puts the real path in when it loads them).
        "import compileall, py_compile; sys.exit(not compileall.compile_dir("
        f"{str(site)!r}, ddir='site-packages', force=True, quiet=1, "
        "invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH))",
    )


def _require_build_tools() -> None:
    for module in ("setuptools", "shiv"):
        try:
            __import__(module)
        except ImportError:
            raise SystemExit(
                f"{module} is missing: pip install --require-hashes --no-deps -r {TOOLS_LOCK}"
            ) from None


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PYTHONHASHSEED="0",  # set and frozenset constants are marshalled in hash order
        SOURCE_DATE_EPOCH=SOURCE_DATE_EPOCH,
        **extra,
    )
    return env


def _pip(*args: str, extra_env: dict[str, str] | None = None) -> None:
    # Quiet unless it fails: build backends print pages of warnings on success.
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "--quiet", *args],
        env=_env(**(extra_env or {})), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout)
        raise SystemExit(f"pip {args[0]} failed (exit {proc.returncode})")


def split_lock(work: Path) -> tuple[Path, Path]:
    """requirements.lock as two files: packages with a pure wheel, and SDIST_ONLY ones."""
    pure: list[str] = []
    sdist: list[str] = []
    current = pure
    for line in LOCK.read_text().splitlines():
        if line and not line[0].isspace() and not line.startswith("#"):
            current = sdist if _name(line.split("==")[0]) in SDIST_ONLY else pure
        current.append(line)
    work.mkdir(parents=True, exist_ok=True)
    paths = work / "pure.lock", work / "sdist.lock"
    for path, lines in zip(paths, (pure, sdist)):
        path.write_text("\n".join(lines) + "\n")
    return paths


def _name(text: str) -> str:
    return text.strip().lower().replace("_", "-")


def _copy_project(dest: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "_compiled_templates")
    for name in PROJECT_FILES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, dest / name, ignore=ignore)
        elif path.exists():
            dest.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dest / name)
    return dest


def _install_local_wheels(wheels: Path, site: Path) -> None:
    built = sorted(wheels.glob("*.whl"))
    impure = [w.name for w in built if not w.name.endswith("-none-any.whl")]
    if impure:
        raise SystemExit(f"not pure-Python wheels: {impure}")
    wanted = ["==".join(w.name.split("-")[:2]) for w in built]
    _pip("install", "--no-deps", "--no-index", "--find-links", str(wheels),
         "--target", str(site), *wanted)


def _drop_console_scripts(site: Path) -> None:
    """Remove the console scripts pip wrote, and their lines in the RECORD files.

    shiv runs the entry point itself. A script's shebang is the build interpreter's
    absolute path, so its hash in RECORD would make the archive depend on where the
    build ran. pip --target puts them in bin/ beside site-packages: RECORD names them
    ../../bin/..., outside site-packages, where the pyz has nothing."""
    shutil.rmtree(site / "bin", ignore_errors=True)
    for record in sorted(site.glob("*.dist-info/RECORD")):
        lines = record.read_text().splitlines(keepends=True)
        kept = [line for line in lines if not line.startswith("../")]
        if kept != lines:
            record.write_text("".join(kept))


def _staged_python(site: Path, code: str) -> None:
    """Run code with only the staged site-packages importable, writing no bytecode."""
    subprocess.run(
        [sys.executable, "-I", "-S", "-B", "-c",
         f"import sys; sys.path.insert(0, {str(site)!r}); {code}"],
        check=True,
        env={"PYTHONHASHSEED": "0", "PATH": os.environ.get("PATH", "")},
    )


def main_pyc(source: bytes, work: Path) -> bytes:
    """__main__.py compiled (unchecked-hash bytecode) for the interpreter running this.

    zipimport takes __main__.pyc beside __main__.py in the archive's root when its
    magic number is this interpreter's, and compiles the source otherwise (another
    Python version): a start saves compiling it every time."""
    src, pyc = work / "__main__.py", work / "__main__.pyc"
    src.write_bytes(source)
    _staged_python(
        work,
        "import py_compile; py_compile.compile("
        f"{str(src)!r}, cfile={str(pyc)!r}, dfile='__main__.py', doraise=True, "
        "invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)",
    )
    return pyc.read_bytes()


# ---------------------------------------------------------------------------- inputs


def _requirement_sets(work: Path) -> list[tuple[Path, tuple[str, ...]]]:
    """Each lock file with the pip options that pick the files a build uses from it."""
    pure, sdist = split_lock(work)
    return [
        (pure, PURE),
        (sdist, ("--no-binary", ":all:", "--no-build-isolation")),
        (TOOLS_LOCK, PURE),
    ]


def wheelhouse(dest: Path) -> None:
    """Download (hash-checked) every file a build needs, for PIP_FIND_LINKS."""
    with tempfile.TemporaryDirectory() as work:
        for lock, options in _requirement_sets(Path(work)):
            _pip("download", "--no-deps", "--require-hashes", *options, "-d", str(dest),
                 "-r", str(lock))
    print(f"wheelhouse in {dest}", file=sys.stderr)


def write_inputs(path: Path) -> None:
    """Name, version, URL and sha256 of every file a build uses: flake.nix fetches them."""
    entries = []
    with tempfile.TemporaryDirectory() as work:
        for i, (lock, options) in enumerate(_requirement_sets(Path(work))):
            report = Path(work) / f"report-{i}.json"
            _pip("install", "--isolated", "--dry-run", "--ignore-installed", "--no-deps",
                 "--require-hashes", "--index-url", "https://pypi.org/simple",
                 "--target", str(Path(work) / "t"), *options, "--report", str(report),
                 "-r", str(lock))
            for item in json.loads(report.read_text())["install"]:
                info = item["download_info"]
                entries.append({
                    "name": _name(item["metadata"]["name"]),
                    "version": item["metadata"]["version"],
                    "url": info["url"],
                    "sha256": info["archive_info"]["hashes"]["sha256"],
                    "build_tool": lock == TOOLS_LOCK,
                })
    entries.sort(key=lambda e: (e["build_tool"], e["name"]))
    path.write_text(json.dumps(entries, indent=2) + "\n")
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
