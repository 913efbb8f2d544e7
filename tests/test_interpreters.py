"""The built pyz under every Python this machine has: 3.9 to 3.13 give the same output, byte
for byte, and anything older is refused in one line before anything is extracted or written.

Interpreters: the system python3, and each ~/.pyenv/versions/X.Y.Z (pyenv's layout) where
it exists. Those absent are skipped; under CI=true the system python3 must be there.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import zipfile
from pathlib import Path

import factories
import pytest
from pyz_build import run, skip_or_fail

SYSTEM_PYTHON = Path("/usr/bin/python3")
PYENV = Path.home() / ".pyenv" / "versions"
SUPPORTED = [(3, minor) for minor in range(9, 14)]
TOO_OLD = [(2, 7), (3, 6), (3, 7), (3, 8)]
EXIT_OLD_PYTHON = 90  # README.md "Exit codes"
# Log fields that differ from one run to the next, whatever the interpreter.
PER_RUN = ("timestamp", "duration_ms")


def _version(python: Path) -> tuple[int, int, int]:
    out = subprocess.run(
        [str(python), "-c", "import sys; print(sys.version_info[:3])"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    return tuple(int(n) for n in re.findall(r"\d+", out))  # type: ignore[return-value]


def _pyenv(minor: tuple[int, int]) -> Path | None:
    """The newest pyenv install of that minor version, if any."""
    found = sorted(
        (p for p in PYENV.glob(f"{minor[0]}.{minor[1]}.*") if (p / "bin" / "python").exists()),
        key=lambda p: [int(n) for n in re.findall(r"\d+", p.name)],
    )
    return found[-1] / "bin" / "python" if found else None


def _interpreters(minors: list[tuple[int, int]]) -> list[pytest.param]:
    params = [pytest.param(_pyenv(m), id=f"{m[0]}.{m[1]}") for m in minors]
    return [
        p
        if p.values[0]
        else pytest.param(
            None, id=p.id, marks=pytest.mark.skip(reason=f"no Python {p.id} in {PYENV}")
        )
        for p in params
    ]


def _argv(pyz: Path, work: Path, *extra: str) -> list[str]:
    work.mkdir(parents=True, exist_ok=True)
    doc = factories.metadata(nics=4)
    (work / "metadata.json").write_text(json.dumps(doc))
    (work / "nics.json").write_text(factories.nics_json(4))
    (work / "rootfs").mkdir(exist_ok=True)
    return [
        str(pyz),
        "-M",
        str(work / "metadata.json"),
        "--nics",
        str(work / "nics.json"),
        "-o",
        "debian 12",
        "--rootfs",
        str(work / "rootfs"),
        "--resolvers",
        ",".join(factories.RESOLVERS),
        "--log-format",
        "json",
        *extra,
    ]


def _events(stderr: str) -> list[dict]:
    """The log lines of a run, without what differs from one run to the next."""
    events = [json.loads(line) for line in stderr.splitlines()]
    for event in events:
        for key in PER_RUN:
            event.pop(key, None)
    return events


def _tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _outputs(python: Path, pyz: Path, work: Path) -> dict:
    """What a dry run prints and what a real run writes, run by this interpreter."""
    dry = run([str(python), *_argv(pyz, work / "dry", "--dry-run")], work / "shiv")
    assert dry.returncode == 0, dry.stderr
    real = run([str(python), *_argv(pyz, work / "real")], work / "shiv")
    assert real.returncode == 0, real.stderr
    return {
        "dry stdout": dry.stdout,
        "dry events": _events(dry.stderr),
        "real stdout": real.stdout,
        "files": _tree(work / "real" / "rootfs"),
    }


@pytest.fixture(scope="module")
def reference(pyz, tmp_path_factory) -> dict:
    """The system python3's outputs: what every other version must match."""
    if not SYSTEM_PYTHON.exists():
        skip_or_fail(f"{SYSTEM_PYTHON} is missing")
    outputs = _outputs(SYSTEM_PYTHON, pyz, tmp_path_factory.mktemp("system"))
    assert outputs["files"], "a real run wrote nothing"
    assert [e for e in outputs["dry events"] if e.get("dry_run")], "the dry run planned nothing"
    return outputs


@pytest.mark.parametrize("python", _interpreters(SUPPORTED))
def test_every_supported_python_gives_the_same_bytes(python, pyz, reference, tmp_path):
    assert _version(python)[:2] >= (3, 9)
    outputs = _outputs(python, pyz, tmp_path)
    for key in reference:
        assert outputs[key] == reference[key], f"{python}: {key} differs from {SYSTEM_PYTHON}'s"


def _assert_refused(
    proc: subprocess.CompletedProcess[str], version: tuple[int, ...], work: Path
) -> None:
    assert proc.returncode == EXIT_OLD_PYTHON, proc.stderr
    assert proc.stdout == ""
    this = ".".join(map(str, version[:3]))
    line = f"packet-networking: needs Python 3.9 or later; this is {this}\n"
    assert proc.stderr == line
    assert not (work / "shiv").exists(), "extracted before refusing"
    assert not any((work / "rootfs").iterdir()), "wrote before refusing"


@pytest.mark.parametrize("python", _interpreters(TOO_OLD))
def test_older_python_is_refused_in_one_line(python, pyz, tmp_path):
    proc = run([str(python), *_argv(pyz, tmp_path)], tmp_path / "shiv")
    _assert_refused(proc, _version(python), tmp_path)


def test_the_refusal_without_an_old_python(pyz, tmp_path):
    """The same check on any machine: the pyz's __main__.py run by this interpreter with
    sys.version_info saying 3.8.18."""
    with zipfile.ZipFile(pyz) as archive:
        source = archive.read("__main__.py").decode()
    probe = (
        "import sys; sys.version_info = (3, 8, 18, 'final', 0); sys.argv = sys.argv[1:]; "
        "exec(compile(sys.stdin.read(), '__main__.py', 'exec'), {'__name__': '__main__'})"
    )
    argv = _argv(pyz, tmp_path)
    proc = subprocess.run(
        [str(SYSTEM_PYTHON), "-I", "-S", "-c", probe, *argv],
        input=source,
        env={"SHIV_ROOT": str(tmp_path / "shiv")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    _assert_refused(proc, (3, 8, 18), tmp_path)


def test_the_bootstrap_parses_as_old_python(pyz):
    """__main__.py is compiled from source by whatever Python runs the pyz: no syntax
    newer than Python 3.4's (ast's oldest grammar) may come before its version check."""
    with zipfile.ZipFile(pyz) as archive:
        source = archive.read("__main__.py").decode()
    ast.parse(source, feature_version=(3, 4))
    tree = ast.parse(source)
    newer = [
        n
        for n in ast.walk(tree)
        if isinstance(n, (ast.JoinedStr, ast.NamedExpr))
        or (isinstance(n, (ast.FunctionDef, ast.arg)) and _annotated(n))
    ]
    assert not newer, [ast.dump(n)[:80] for n in newer]


def _annotated(node: ast.AST) -> bool:
    if isinstance(node, ast.FunctionDef):
        return node.returns is not None
    return getattr(node, "annotation", None) is not None
