"""What the build does so that the zipapp starts fast, and that it changes nothing: one
extraction with the shipped bytecode, templates compiled to modules that render exactly
as the sources do, the plugin index, attrs and gettext as they are, the cycle collector
off, and the exit without the interpreter's teardown (docs/performance.md).
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import factories
import jinja2
import pytest
from pyz_build import run, shipped_names
from support import images

from packetnetworking import registry, render, selection
from packetnetworking.target import Target


def test_extracts_once_under_shiv_root_and_uses_the_shipped_bytecode(pyz, example, tmp_path):
    first = run([str(pyz), *example], tmp_path)
    assert first.returncode == 0, first.stderr
    (extracted,) = tmp_path.glob(f"{pyz.name}_*")
    files = _files(extracted)
    # Exactly the archive's site-packages: no bytecode written, so the shipped bytecode
    # was accepted by this interpreter (-I -S ignores PYTHONDONTWRITEBYTECODE).
    shipped = {n for n in shipped_names(pyz) if n.startswith("site-packages/")}
    assert files == shipped
    again = run([str(pyz), *example], tmp_path)
    assert again.returncode == 0, again.stderr
    assert _files(extracted) == files


def _files(tree: Path) -> set[str]:
    return {p.relative_to(tree).as_posix() for p in tree.rglob("*") if p.is_file()}


def _target_for(reg: registry.Registration) -> Target:
    low = reg.versions.low
    return Target(reg.family, ".".join(map(str, low)) if low else None)


def _documents() -> dict[str, dict]:
    return {
        "bonded": factories.metadata(nics=4, bonds=["bond0", "bond1", "bond0", "bond1"]),
        "individual": factories.metadata(nics=2, aggregation="individual"),
        "dhcp": factories.metadata(nics=2, dhcp=True),
    }


def test_compiled_templates_render_exactly_like_the_sources(tmp_path, monkeypatch):
    """Every builder, in every mode it takes, through both loaders: the same tasks."""
    names = render.compile_into(tmp_path)
    assert names and len(list(tmp_path.glob("tmpl_*.py"))) == len(names)
    compiled = render._new_environment(jinja2.ModuleLoader(str(tmp_path)))
    source = render.source_environment()
    compared = 0
    for reg in registry.builders():
        target = _target_for(reg)
        for mode, doc in _documents().items():
            plan = factories.build_plan(doc)
            if mode not in reg.modes:
                continue
            assert plan.mode == mode  # the document really is of this mode
            context = selection.for_builder(reg, target, Path("/nonexistent")).context(plan)
            results = []
            for env in (source, compiled):
                monkeypatch.setattr(render, "_env", env)
                results.append(reg.func(context))
            assert results[0] == results[1], f"{reg} {mode}"
            compared += 1
    assert compared >= len(registry.builders())


# Run in the pyz's extracted site-packages: imports the modules named by argv[2] (JSON;
# null: every plugin, as a checkout does) and prints what registered, with the index.

_INDEX_PROBE = """\
import importlib, json, sys
sys.path.insert(0, sys.argv[1])
from packetnetworking import _plugin_index as index, plugins, registry
modules = json.loads(sys.argv[2])
if modules is None:
    plugins.load_plugins()
else:
    for module in modules:
        importlib.import_module(module)
print(json.dumps({
    "builders": sorted([r.family, r.id, r.versions.text, sorted(r.names)]
                       for r in registry._builders),
    "hook_modules": sorted({h.func.__module__ for h in registry._hooks}),
    "families": index.FAMILIES,
    "hooks": list(index.HOOKS),
}))
"""


def _probe_index(site_packages: Path, modules: list[str] | None) -> dict:
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-c", _INDEX_PROBE, str(site_packages), json.dumps(modules)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_plugin_index_names_every_registration(pyz, example, tmp_path):
    """A run from the pyz imports only the distro modules its index names for the OS: an
    index that missed a module would hide a distro. Against a full import of the same
    site-packages, each name's modules, imported alone, register all of its family."""
    assert run([str(pyz), *example], tmp_path).returncode == 0
    (site_packages,) = tmp_path.glob("*/site-packages")
    full = _probe_index(site_packages, None)
    families = full["families"]
    assert set(families) == {name for b in full["builders"] for name in b[3]}
    assert full["hook_modules"] and set(full["hook_modules"]) <= set(full["hooks"])
    hooks_dir = site_packages / "packetnetworking" / "hooks"
    assert full["hooks"] == sorted(
        f"packetnetworking.hooks.{p.stem}" for p in hooks_dir.glob("[!_]*.py")
    )
    family_of = {name: b[0] for b in full["builders"] for name in b[3]}
    for family, modules in {(family_of[n], tuple(m)) for n, m in families.items()}:
        alone = _probe_index(site_packages, list(modules))["builders"]
        expected = [b for b in full["builders"] if b[0] == family]
        assert [b for b in alone if b[0] == family] == expected, (family, modules)


_PROBE = """\
import atexit, gc, json, os, runpy, sys
sys.argv = sys.argv[1:]
seen = {"atexit_ran": False}
atexit.register(lambda: seen.update(atexit_ran=True))
def _exit(code):  # the pyz ends with os._exit: here it returns to the probe instead
    seen.update(os_exit=code, atexit_before_exit=seen["atexit_ran"])
    raise SystemExit(code)
os._exit = _exit
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
except SystemExit as exc:
    assert not exc.code, exc.code
import attr._make
print(json.dumps({"collector": gc.isenabled(),
                  "attrs_patched": sorted({"compile"} & set(vars(attr._make))),
                  "gettext_file": getattr(sys.modules.get("gettext"), "__file__", None),
                  **seen}))
"""


@pytest.fixture(scope="module")
def probed(pyz, example, tmp_path_factory) -> dict:
    """What a warm run of the pyz did, seen from inside its process (_PROBE)."""
    root = tmp_path_factory.mktemp("probe")
    assert run([str(pyz), *example], root).returncode == 0
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-c", _PROBE, str(pyz), *example],
        env={"SHIV_ROOT": str(root)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_start_up_patches_no_library(probed):
    """The bootstrap hands attrs no compile of its own, and argparse imported the real
    gettext (a module from the standard library's file, not a stand-in)."""
    assert probed["attrs_patched"] == [], probed
    assert (probed["gettext_file"] or "").endswith("gettext.py"), probed


def test_runs_with_the_cycle_collector_off(probed):
    """packaging/pyz_main.py turns the collector off for the short life of a run."""
    assert probed["collector"] is False, probed


def test_ends_with_os_exit_after_the_atexit_callbacks(probed):
    """After the entry point returns, packaging/pyz_main.py ends the process with
    os._exit (no teardown of every object), having run the atexit callbacks first."""
    assert probed.get("os_exit") == 0, probed
    assert probed["atexit_before_exit"] is True, probed


def test_output_is_flushed_at_exit_and_a_failed_flush_reported(pyz, example, tmp_path):
    """The exit flushes what the run printed; stdout that cannot take it (a full device)
    is reported as the interpreter's own exit reports it: its one line, exit 120."""
    diff = run([str(pyz), *example, "--diff"], tmp_path)
    assert diff.returncode == 0, diff.stderr
    assert diff.stdout.startswith("--- /dev/null\n+++ b/etc/"), diff.stdout[:200]
    assert diff.stdout.endswith("\n") and diff.stdout.count("+++ b/") == 6, diff.stdout
    with open("/dev/full", "w") as full:
        proc = subprocess.run(
            [str(pyz), *example, "--diff"],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            env={"SHIV_ROOT": str(tmp_path)},
        )
    assert proc.returncode == 120, proc.stderr
    assert "No space left on device" in proc.stderr, proc.stderr


# ---------------------------------------------------------------------------- cold starts
# An extraction root that cannot take the extraction: one line naming SHIV_ROOT and the
# reason, exit 91 (README.md "Exit codes"), nothing written. Read-only and full roots are
# tmpfs mounts in a mount namespace of the run's own, so nothing outlives the test.

EXIT_SHIV_ROOT = 91


def _in_mounts(mounts: list[str], argv: list[str], shiv_root: Path) -> subprocess.CompletedProcess:
    """argv run after the shell commands mounts, in a private mount namespace."""
    images.require_root_tools()
    script = " && ".join([*mounts, 'exec "$@"'])
    return run(
        ["unshare", "--mount", "--propagation", "private", "/bin/sh", "-ec", script, "sh", *argv],
        shiv_root,
    )


def _real_run(example: list[str], tmp_path: Path) -> tuple[list[str], Path]:
    """The example as a real run (no --dry-run) into an empty rootfs of its own."""
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    argv = [a for a in example if a != "--dry-run"]
    argv[argv.index("--rootfs") + 1] = str(rootfs)
    return argv, rootfs


@pytest.mark.parametrize("how", ["not a directory", "read-only", "full"])
def test_an_unusable_shiv_root_is_one_line_and_nothing_written(pyz, example, tmp_path, how):
    argv, rootfs = _real_run(example, tmp_path)
    root = tmp_path / "shiv"
    if how == "not a directory":
        root.write_text("")
        proc = run([str(pyz), *argv], root)
        reason = "not a directory"
    else:
        root.mkdir()
        options = "ro,size=1m" if how == "read-only" else "size=64k"
        proc = _in_mounts([f"mount -t tmpfs -o {options} pn-test {root}"], [str(pyz), *argv], root)
        reason = "Read-only file system" if how == "read-only" else "No space left on device"
        assert not list(root.iterdir())  # the mount is gone with its namespace
    assert proc.returncode == EXIT_SHIV_ROOT, proc.stderr
    assert proc.stdout == ""
    prefix = f"packet-networking: SHIV_ROOT={root}: cannot extract the dependencies there: "
    assert proc.stderr.startswith(prefix) and proc.stderr.count("\n") == 1, proc.stderr
    assert reason in proc.stderr
    assert not list(rootfs.iterdir())


def _leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if ".tmp-" in p.name)


def test_an_extraction_that_failed_half_way_is_not_trusted(pyz, example, tmp_path):
    """A disk that fills up half-way through: refused, nothing under the extraction's
    name. With room again (the same tmpfs, grown), the next run extracts all of it."""
    argv, rootfs = _real_run(example, tmp_path)
    root = tmp_path / "shiv"
    root.mkdir()
    shipped = {n for n in shipped_names(pyz) if n.startswith("site-packages/")}
    listing = f"find {root} -type f | sed 's|^{root}/||' | sort"
    script = [
        # 2 MB: room for the lock file and some of the tree (~7 MB), not all of it.
        f"mount -t tmpfs -o size=2m pn-test {root}",
        f'if "$@" 2>{tmp_path}/first.err; then exit 3; fi',  # must fail: no space
        f"ls -A {root} >{tmp_path}/after-failure",
        f"mount -o remount,size=64m {root}",
        f'"$@" 2>{tmp_path}/second.err',
        f"{listing} >{tmp_path}/files",
    ]
    proc = _in_mounts(script, [str(pyz), *argv], root)
    assert proc.returncode == 0, proc.stderr + (tmp_path / "first.err").read_text()
    assert "No space left on device" in (tmp_path / "first.err").read_text()
    # No temporary directory, no tree: only the lock file.
    lock = f".{pyz.name}_{_build_id(pyz)}.lock"
    assert (tmp_path / "after-failure").read_text().split() == [lock]
    files = (tmp_path / "files").read_text().split()
    (extraction,) = {f.split("/")[0] for f in files if not f.startswith(".")}
    assert {f.split("/", 1)[1] for f in files if f.startswith(extraction)} == shipped
    assert not [f for f in files if ".tmp-" in f]
    assert sorted((rootfs / "etc").iterdir())  # the second run did its work


def test_an_extraction_killed_half_way_is_not_trusted(pyz, example, tmp_path):
    """SIGKILL while files are being extracted: the next run starts again from nothing
    (removing what the killed one left) instead of using a partial tree."""
    root = tmp_path / "shiv"
    for _attempt in range(20):
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir()
        proc = subprocess.Popen(
            [str(pyz), *example],
            env={"SHIV_ROOT": str(root)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        killed = _kill_once_extracting(proc, root)
        proc.wait(timeout=60)
        if killed:
            break
    else:
        pytest.fail("the extraction always finished before it could be killed")
    left = _leftovers(root)
    assert left, "the killed run left no temporary directory: was it extracting?"
    assert not [p for p in root.iterdir() if p.is_dir() and ".tmp-" not in p.name]
    again = run([str(pyz), *example], root)
    assert again.returncode == 0, again.stderr
    assert _leftovers(root) == []
    (extraction,) = root.glob(f"{pyz.name}_*")
    shipped = {n for n in shipped_names(pyz) if n.startswith("site-packages/")}
    assert _files(extraction) == shipped


def _build_id(pyz: Path) -> str:
    with zipfile.ZipFile(pyz) as archive:
        return json.loads(archive.read("environment.json"))["build_id"]


def _kill_once_extracting(proc: subprocess.Popen, root: Path) -> bool:
    """SIGKILL proc as soon as its temporary directory holds a file; False if it ended first."""
    while proc.poll() is None:
        for tree in root.glob("*/site-packages"):  # pathlib's * matches dot names too
            if any(p.is_file() for p in tree.rglob("*")):
                proc.send_signal(signal.SIGKILL)
                return True
        time.sleep(0.001)
    return False
