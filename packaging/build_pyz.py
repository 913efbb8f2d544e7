#!/usr/bin/env python3
"""Build packet-networking.pyz: pure Python, pinned, precompiled, reproducible.

    python packaging/build_pyz.py [--output packet-networking.pyz] [--python '/usr/bin/python3 -IS']

Steps, each in the work directory (default build/pyz, wiped first):

1. The locked dependencies (requirements.lock, hashes required) as pure wheels. MarkupSafe
   publishes no pure wheel: its sdist is built with the C compiler disabled, so its
   setup.py takes its own plain-Python fallback. Compiled extensions would tie the pyz to
   one libc and one Python version; the installer images use musl and glibc alike.
2. This project, as a wheel built from a clean copy of its sources (no stale build/lib).
3. The Jinja2 templates compiled to Python modules (``packetnetworking.render.compile_into``).
4. Every module compiled to unchecked-hash bytecode for the interpreter running this
   script: an extraction is then importable at once (timestamp bytecode would be stale,
   since extraction does not keep mtimes). Other Python versions ignore these files and
   compile the sources on first import, as usual.
5. shiv, which leaves bytecode out of the archive; the archive is then rewritten with the
   bytecode added, entries sorted and timestamps fixed, so that two builds of the same
   sources give the same bytes (the test suite checks it).

Build backends fetched by pip are pinned in packaging/build-constraints.txt.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENTRY_POINT = "packetnetworking.cli:main"
DEFAULT_SHEBANG = "/usr/bin/python3 -IS"
# Packages that publish no pure-Python wheel: built from their sdist without a compiler.
SDIST_ONLY = ("markupsafe",)
# What of the source tree goes into our own wheel (pyproject.toml maps these directories).
PROJECT_FILES = ("pyproject.toml", "README.md", "LICENSE", "packetnetworking", "distros", "hooks")
# 1980-01-01, the earliest date a zip file can hold; shiv's own --reproducible default.
ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    work = args.work.resolve()
    if work.exists():
        shutil.rmtree(work)
    site = work / "site-packages"
    site.mkdir(parents=True)
    env = _build_env()
    install_dependencies(args.lock, site, work, env)
    install_project(site, work, env)
    compile_templates(site)
    compile_bytecode(site)
    shiv_archive = work / "shiv.pyz"
    run_shiv(site, shiv_archive, args.python, env)
    finish_archive(shiv_archive, site, args.output.resolve(), args.python)
    print(f"built {args.output}", file=sys.stderr)
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--output", type=Path, default=ROOT / "packet-networking.pyz")
    p.add_argument("--python", default=DEFAULT_SHEBANG, help="the shebang's interpreter and flags")
    p.add_argument("--lock", type=Path, default=ROOT / "requirements.lock")
    p.add_argument("--work", type=Path, default=ROOT / "build" / "pyz")
    return p


def _build_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PIP_CONSTRAINT"] = str(ROOT / "packaging" / "build-constraints.txt")
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PYTHONHASHSEED"] = "0"  # set and frozenset constants are marshalled in hash order
    env["SOURCE_DATE_EPOCH"] = "315532800"  # 1980-01-01: wheels built here get fixed dates
    return env


def _pip(*args: str, env: dict[str, str]) -> None:
    # Quiet unless it fails: build backends print pages of warnings on success.
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "--quiet", *args],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout)
        raise SystemExit(f"pip {args[0]} failed (exit {proc.returncode})")


def split_lock(lock: Path, work: Path) -> tuple[Path, Path]:
    """The lock as two files: packages with a pure wheel, and the SDIST_ONLY ones."""
    pure: list[str] = []
    sdist: list[str] = []
    current = pure
    for line in lock.read_text().splitlines():
        if line and not line[0].isspace() and not line.startswith("#"):
            name = line.split("==")[0].strip().lower().replace("_", "-")
            current = sdist if name in SDIST_ONLY else pure
        current.append(line)
    paths = work / "pure.lock", work / "sdist.lock"
    for path, lines in zip(paths, (pure, sdist)):
        path.write_text("\n".join(lines) + "\n")
    return paths


def install_dependencies(lock: Path, site: Path, work: Path, env: dict[str, str]) -> None:
    pure, sdist = split_lock(lock, work)
    _pip(
        "install", "--no-deps", "--require-hashes", "--target", str(site),
        "--only-binary", ":all:", "--platform", "any", "--implementation", "py",
        "--abi", "none", "--python-version", "3.9", "-r", str(pure),
        env=env,
    )
    wheels = work / "sdist-wheels"
    # CC=false: the extension's compile step fails at once and setup.py falls back.
    _pip(
        "wheel", "--no-deps", "--require-hashes", "--no-binary", ":all:",
        "--wheel-dir", str(wheels), "-r", str(sdist),
        env={**env, "CC": "false", "CXX": "false"},
    )
    built = sorted(wheels.glob("*.whl"))
    impure = [w.name for w in built if not w.name.endswith("-py3-none-any.whl")]
    if impure:
        raise SystemExit(f"not pure-Python wheels: {impure}")
    if built:
        _pip("install", "--no-deps", "--target", str(site), *map(str, built), env=env)


def install_project(site: Path, work: Path, env: dict[str, str]) -> None:
    src = work / "src"
    for name in PROJECT_FILES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif path.exists():
            src.mkdir(exist_ok=True)
            shutil.copy2(path, src / name)
    _pip("install", "--no-deps", "--target", str(site), str(src), env=env)
    # Console scripts: shiv runs the entry point itself, nothing uses them.
    shutil.rmtree(site / "bin", ignore_errors=True)


def _staged_python(site: Path, code: str) -> None:
    """Run code with only the staged site-packages importable (-I -S), writing no bytecode."""
    subprocess.run(
        [sys.executable, "-I", "-S", "-B", "-c", f"import sys; sys.path.insert(0, {str(site)!r}); {code}"],
        check=True,
        env={"PYTHONHASHSEED": "0", "PATH": os.environ.get("PATH", "")},
    )


def compile_templates(site: Path) -> None:
    # The staged packetnetworking and Jinja2 do it: compiled templates are tied to the
    # Jinja2 version that made them, and to the environment's settings in render.py.
    _staged_python(site, "from packetnetworking.render import compile_into; compile_into()")


def compile_bytecode(site: Path) -> None:
    # ddir: the path recorded in the code objects is "site-packages/...", not this build
    # directory (the import system replaces it with the real path when loading).
    _staged_python(
        site,
        "import compileall, py_compile; ok = compileall.compile_dir("
        f"{str(site)!r}, ddir='site-packages', force=True, quiet=1, "
        "invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH); sys.exit(not ok)",
    )


def run_shiv(site: Path, output: Path, python: str, env: dict[str, str]) -> None:
    shiv = Path(sys.executable).with_name("shiv")
    subprocess.run(
        [str(shiv), "--reproducible", "--compressed", "--site-packages", str(site),
         "-p", python, "-e", ENTRY_POINT, "-o", str(output)],
        check=True,
        env=env,
    )


def main_py(build_id: str) -> bytes:
    """Our __main__.py (packaging/pyz_main.py) with this build's values filled in."""
    module, _, function = ENTRY_POINT.partition(":")
    text = (ROOT / "packaging" / "pyz_main.py").read_text()
    for key, value in (("BUILD_ID", build_id), ("ENTRY_MODULE", module), ("ENTRY_FUNCTION", function)):
        text = text.replace(f'"@{key}@"', repr(value))
    if '"@' in text:
        raise SystemExit("packaging/pyz_main.py: a placeholder was left unfilled")
    return text.encode()


def finish_archive(shiv_archive: Path, site: Path, output: Path, python: str) -> None:
    """Rewrite shiv's archive: our __main__.py, site-packages' bytecode, sorted entries."""
    entries: dict[str, tuple[bytes, int]] = {}
    with zipfile.ZipFile(shiv_archive) as src:
        for info in src.infolist():
            entries[info.filename] = (src.read(info), info.external_attr)
    build_id = json.loads(entries["environment.json"][0])["build_id"]
    entries["__main__.py"] = (main_py(build_id), 0o100644 << 16)
    for path in sorted(site.rglob("*.pyc")):
        name = "site-packages/" + path.relative_to(site).as_posix()
        entries[name] = (path.read_bytes(), 0o100644 << 16)
    with tempfile.NamedTemporaryFile(dir=output.parent, prefix=".pyz-", delete=False) as tmp:
        tmp.write(b"#!" + python.encode() + b"\n")
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
            for name in sorted(entries):
                data, attr = entries[name]
                info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = attr
                archive.writestr(info, data, compresslevel=9)
    os.chmod(tmp.name, 0o755)
    os.replace(tmp.name, output)


if __name__ == "__main__":
    sys.exit(main())
