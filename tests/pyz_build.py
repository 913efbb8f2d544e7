"""The zipapp built from a copy of this checkout, for the tests of what it holds and how it
starts (test_packaging.py, test_pyz_startup.py), and the helpers they share.

Each build makes its own venv with the build tools of packaging/build-tools.lock, from
PyPI or the indexes pip's configuration names (PIP_NO_INDEX=1 with PIP_FIND_LINKS works
offline). It is session-scoped: the two builds (the reproducibility check compares them)
happen once.
Registered as a pytest plugin in conftest.py.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import factories
import pytest
from conftest import require
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
BUILD_INPUTS = (
    "pyproject.toml",
    "README.md",
    "LICENSE",
    "requirements.lock",
    "packaging",
    "packetnetworking",
    "distros",
    "hooks",
)


def skip_or_fail(reason: str) -> None:
    require("a buildable zipapp", reason, present=False)


def locked(lock: Path) -> dict[str, str]:
    """name -> version pinned in a lock file."""
    pins = {}
    for line in lock.read_text().splitlines():
        if "==" in line and not line[0].isspace() and not line.startswith("#"):
            name, _, rest = line.partition("==")
            pins[canonicalize_name(name)] = rest.split()[0]
    return pins


def copy_build_inputs(dest: Path, copy=shutil.copy2) -> Path:
    """The files a build reads, as a clone of this checkout has them (copy=shutil.copy:
    fresh timestamps, as a clone's are)."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in BUILD_INPUTS:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, dest / name, ignore=ignore, copy_function=copy)
        elif (ROOT / name).exists():
            dest.mkdir(parents=True, exist_ok=True)
            copy(ROOT / name, dest / name)
    return dest


def build_venv(tree: Path) -> Path:
    """tree/.venv with the pinned build tools, as ``make pyz`` makes it: its python."""
    venv = tree / ".venv"
    python = venv / "bin" / "python"
    steps = [
        [sys.executable, "-m", "venv", str(venv)],
        [
            str(python),
            "-m",
            "pip",
            "install",
            "-q",
            "--require-hashes",
            "--no-deps",
            "-r",
            str(tree / "packaging" / "build-tools.lock"),
        ],
    ]
    for argv in steps:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return python


@pytest.fixture(scope="session")
def builds(tmp_path_factory) -> tuple[Path, Path]:
    """Two builds of the same sources as two clones would make them: in directories whose
    paths differ in length, with files of different timestamps, each with its own venv
    (so the build interpreter's path differs too)."""
    base = tmp_path_factory.mktemp("builds")
    trees = [
        copy_build_inputs(base / "one"),
        copy_build_inputs(base / "two" / "a-longer-path", copy=shutil.copy),
    ]
    pythons = [build_venv(tree) for tree in trees]
    procs = [
        subprocess.Popen(
            [str(python), "packaging/build_pyz.py", "--output", "out.pyz"],
            cwd=tree,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for tree, python in zip(trees, pythons)
    ]
    for proc in procs:
        output, _ = proc.communicate(timeout=900)
        assert proc.returncode == 0, output[-3000:]
    return trees[0] / "out.pyz", trees[1] / "out.pyz"


@pytest.fixture(scope="session")
def pyz(builds) -> Path:
    return builds[0]


@pytest.fixture(scope="session")
def example(tmp_path_factory) -> list[str]:
    work = tmp_path_factory.mktemp("example")
    (work / "metadata.json").write_text(json.dumps(factories.metadata(nics=4)))
    (work / "nics.json").write_text(factories.nics_json(4))
    (work / "rootfs").mkdir()
    return [
        "-M",
        str(work / "metadata.json"),
        "--nics",
        str(work / "nics.json"),
        "-o",
        "debian 12",
        "--rootfs",
        str(work / "rootfs"),
        "--resolvers",
        "147.75.207.207",
        "--dry-run",
        "-q",
    ]


def run(argv: list[str], shiv_root: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        env={"PATH": os.environ["PATH"], "SHIV_ROOT": str(shiv_root), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def shipped_names(pyz: Path) -> set[str]:
    """Every name in the pyz, the inner site-packages archive's (see build_pyz.py) too."""
    with zipfile.ZipFile(pyz) as outer, site_packages_zip(pyz) as inner:
        return set(outer.namelist()) | set(inner.namelist())


def site_packages_zip(pyz: Path) -> zipfile.ZipFile:
    with zipfile.ZipFile(pyz) as outer:
        return zipfile.ZipFile(io.BytesIO(outer.read("site-packages.zip")))
