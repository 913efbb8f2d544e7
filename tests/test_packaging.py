"""The zipapp as shipped: reproducible, pure Python, pinned for Python 3.9, isolated
from the host, extracted once, and rendering exactly what the checkout renders.

The builds need the build tools of packaging/build-tools.lock in this interpreter
(``make pyz`` installs them) and PyPI, or PIP_NO_INDEX=1 with PIP_FIND_LINKS.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import os
import shutil
import subprocess
import sys
import threading
import zipfile
from importlib import metadata as importlib_metadata
from pathlib import Path

import factories
import jinja2
import pytest
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from support import images

from packetnetworking import registry, render
from packetnetworking.target import Target

ROOT = Path(__file__).resolve().parents[1]
BUILD_INPUTS = ("pyproject.toml", "README.md", "LICENSE", "requirements.lock", "packaging",
                "packetnetworking", "distros", "hooks")
COMPILED_SUFFIXES = (".so", ".pyd", ".dylib", ".dll")


def skip_or_fail(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but {reason}")
    pytest.skip(reason)


def locked(lock: Path) -> dict[str, str]:
    """name -> version pinned in a lock file."""
    pins = {}
    for line in lock.read_text().splitlines():
        if "==" in line and not line[0].isspace() and not line.startswith("#"):
            name, _, rest = line.partition("==")
            pins[canonicalize_name(name)] = rest.split()[0]
    return pins


def _missing_build_tools() -> str | None:
    for name, version in locked(ROOT / "packaging" / "build-tools.lock").items():
        try:
            found = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            found = None
        if found != version:
            return f"{name}=={version} is not installed here (make pyz installs the build tools)"
    return None


def copy_build_inputs(dest: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in BUILD_INPUTS:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, dest / name, ignore=ignore)
        elif (ROOT / name).exists():
            dest.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
    return dest


@pytest.fixture(scope="module")
def builds(tmp_path_factory) -> tuple[Path, Path]:
    """Two builds of the same sources, side by side, in directories of different depth."""
    reason = _missing_build_tools()
    if reason:
        skip_or_fail(reason)
    base = tmp_path_factory.mktemp("builds")
    trees = [copy_build_inputs(base / "one"), copy_build_inputs(base / "two" / "deeper")]
    procs = [
        subprocess.Popen(
            [sys.executable, "packaging/build_pyz.py", "--output", "out.pyz"],
            cwd=tree, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        for tree in trees
    ]
    for proc in procs:
        output, _ = proc.communicate(timeout=900)
        assert proc.returncode == 0, output[-3000:]
    return trees[0] / "out.pyz", trees[1] / "out.pyz"


@pytest.fixture(scope="module")
def pyz(builds) -> Path:
    return builds[0]


@pytest.fixture(scope="module")
def example(tmp_path_factory) -> list[str]:
    work = tmp_path_factory.mktemp("example")
    (work / "metadata.json").write_text(json.dumps(factories.metadata(nics=4)))
    (work / "nics.json").write_text(factories.nics_json(4))
    (work / "rootfs").mkdir()
    return ["-M", str(work / "metadata.json"), "--nics", str(work / "nics.json"), "-o",
            "debian 12", "--rootfs", str(work / "rootfs"), "--resolvers", "147.75.207.207",
            "--dry-run", "-q"]


def run(argv: list[str], shiv_root: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, env={"PATH": os.environ["PATH"], "SHIV_ROOT": str(shiv_root), **env},
        capture_output=True, text=True, timeout=120,
    )


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_two_builds_in_different_directories_are_identical(builds):
    assert sha256(builds[0]) == sha256(builds[1])


def shipped_names(pyz: Path) -> set[str]:
    """Every name in the pyz, the inner site-packages archive's (see build_pyz.py) too."""
    with zipfile.ZipFile(pyz) as outer, site_packages_zip(pyz) as inner:
        return set(outer.namelist()) | set(inner.namelist())


def site_packages_zip(pyz: Path) -> zipfile.ZipFile:
    with zipfile.ZipFile(pyz) as outer:
        return zipfile.ZipFile(io.BytesIO(outer.read("site-packages.zip")))


def test_archive_holds_no_compiled_extension_and_no_bytecode_without_source(pyz):
    names = shipped_names(pyz)
    assert not [n for n in names if n.endswith(COMPILED_SUFFIXES) or ".so." in n]
    pycs = [n for n in names if n.endswith(".pyc")]
    assert pycs, "the bytecode shiv leaves out was not added back"
    # site-packages/pkg/__pycache__/mod.cpython-311.pyc needs site-packages/pkg/mod.py,
    # and the root's __main__.pyc (zipimport's layout) __main__.py, or another Python
    # version could not import it.
    for name in pycs:
        package, _, filename = name.rpartition("/__pycache__/")
        source = f"{package}/{filename.split('.')[0]}.py" if package else name[:-1]
        assert source in names, name
    assert "__main__.pyc" in names
    # site-packages is one member: zipimport reads every name of the archive on each start.
    outer = zipfile.ZipFile(pyz).namelist()
    assert len(outer) < 20 and not [n for n in outer if n.startswith("site-packages/")]


def test_locked_versions_are_what_ships_and_all_support_python39(pyz):
    shipped = {}
    with site_packages_zip(pyz) as archive:
        for name in archive.namelist():
            if name.endswith(".dist-info/METADATA"):
                headers = archive.read(name).decode().split("\n\n", 1)[0].splitlines()
                fields = dict(h.split(": ", 1) for h in headers if ": " in h)
                shipped[canonicalize_name(fields["Name"])] = fields
    ours = shipped.pop("packet-networking")
    assert {n: f["Version"] for n, f in shipped.items()} == locked(ROOT / "requirements.lock")
    for name, fields in [*shipped.items(), ("packet-networking", ours)]:
        spec = SpecifierSet(fields.get("Requires-Python", ""))
        assert spec.contains("3.9.0"), f"{name} {fields['Version']} requires Python {spec}"


def test_pure_python_fallbacks_are_what_runs(pyz, tmp_path):
    assert run([str(pyz), "--version"], tmp_path).returncode == 0
    (site_packages,) = tmp_path.glob("*/site-packages")
    probe = (
        "import sys, importlib.util as u; sys.path.append(sys.argv[1]); import markupsafe\n"
        "assert markupsafe._escape_inner.__module__ == 'markupsafe._native'\n"
        "assert u.find_spec('markupsafe._speedups') is None\n"
        "if u.find_spec('charset_normalizer'):\n"
        "    import charset_normalizer.md as md; assert md.__file__.endswith('.py'), md.__file__\n"
        "    assert u.find_spec('charset_normalizer.md__mypyc') is None\n"
    )
    proc = subprocess.run([sys.executable, "-I", "-S", "-c", probe, str(site_packages)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


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


def test_fetches_metadata_over_http_with_the_shipped_requests(pyz, example, tmp_path):
    """The URL path imports requests, urllib3 and charset_normalizer from the pyz (as
    pure Python under -I -S). A server on the loopback address, nothing else."""
    body = json.dumps(factories.metadata(nics=4)).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/metadata"
        argv = [str(pyz), "--metadata-url", url, *example[2:]]  # example without -M FILE
        proc = run(argv, tmp_path)
    finally:
        server.shutdown()
        server.server_close()
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("how", ["shebang", "python3", "python3 -I"])
def test_host_packages_and_environment_do_not_leak_in(pyz, example, tmp_path, how):
    """A PYTHONPATH entry shadowing a dependency (attrs) or offering an optional one
    that structlog would pick up (rich) must not be imported, however the pyz starts."""
    interpreter = Path(pyz.read_bytes().split(b"\n", 1)[0][2:].split()[0].decode())
    if not interpreter.exists():
        skip_or_fail(f"the shebang's {interpreter} does not exist here")
    fake = tmp_path / "fake"
    for module in ("attrs", "rich"):
        (fake / module).mkdir(parents=True)
        (fake / module / "__init__.py").write_text(f"raise SystemExit('leaked: {module}')\n")
    argv = {"shebang": [str(pyz)], "python3": [str(interpreter), str(pyz)],
            "python3 -I": [str(interpreter), "-I", str(pyz)]}[how]
    proc = run([*argv, *example[:-1]], tmp_path / "root", PYTHONPATH=str(fake),
               PYTHONDONTWRITEBYTECODE="1")
    assert proc.returncode == 0, proc.stderr
    assert '"run complete"' in proc.stderr


def test_runs_under_python39(pyz, tmp_path):
    """bullseye's python3 is 3.9: the oldest the pyz supports (its bytecode is for the
    build's Python, so 3.9 compiles the sources on first use and writes its own)."""
    images.require_root_tools()
    doc = factories.metadata(nics=4)
    with images.overlay_copy("bullseye-ifupdown", tmp_path) as root:
        work = root / "tmp" / "pn"
        (work / "rootfs").mkdir(parents=True)
        shutil.copy2(pyz, work / "pn.pyz")
        (work / "metadata.json").write_text(json.dumps(doc))
        (work / "nics.json").write_text(factories.nics_json(4))
        version = images.run_in(root, ["python3", "-c", "import sys; print(sys.version_info[:2])"])
        assert version.stdout.strip() == "(3, 9)"
        argv = ["/tmp/pn/pn.pyz", "-M", "/tmp/pn/metadata.json", "--nics", "/tmp/pn/nics.json",
                "-o", "debian 11", "--rootfs", "/tmp/pn/rootfs",
                "--resolvers", ",".join(factories.RESOLVERS)]
        for _ in range(2):  # cold (extract, compile), then warm
            proc = images.run_in(root, argv)
            assert proc.returncode == 0, proc.stderr
        written = (work / "rootfs" / "etc" / "network" / "interfaces").read_text()
    assert written == factories.files("debian 11", doc)["etc/network/interfaces"]


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
            context = registry.Context(plan, target, Path("/nonexistent"))
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
from packetnetworking import _plugin_index as index, registry
modules = json.loads(sys.argv[2])
if modules is None:
    registry.load_plugins()
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
        capture_output=True, text=True, timeout=60,
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


_ATTRS_PROBE = """\
import builtins, gc, json, runpy, sys
compiled = []
real_compile = builtins.compile
def spy(source, filename, *args, **kwargs):
    compiled.append(filename)
    return real_compile(source, filename, *args, **kwargs)
builtins.compile = spy
sys.argv = sys.argv[1:]
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
except SystemExit as exc:
    assert not exc.code, exc.code
ours = [n for n in compiled if n.startswith("<attrs generated") and "packetnetworking" in n]
classes = [c for m, module in sorted(sys.modules.items()) if m.startswith("packetnetworking")
           for c in vars(module).values() if getattr(c, "__module__", None) == m
           and hasattr(c, "__attrs_attrs__")]
nic = sys.modules["packetnetworking.plan"].Nic
salt = hash("<attrs generated hash packetnetworking.plan.Nic>")
print(json.dumps({"classes": len(classes), "compiled": ours,
                  "salted": salt in nic.__hash__.__code__.co_consts,
                  "collector": gc.isenabled()}))
"""


@pytest.fixture(scope="module")
def probed(pyz, example, tmp_path_factory) -> dict:
    """What a warm run of the pyz did, seen from inside its process (_ATTRS_PROBE)."""
    root = tmp_path_factory.mktemp("probe")
    assert run([str(pyz), *example], root).returncode == 0
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-c", _ATTRS_PROBE, str(pyz), *example],
        env={"SHIV_ROOT": str(root)}, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_attrs_methods_come_compiled_from_the_build(probed):
    """A warm run compiles none of the methods attrs generates for our classes: the
    build's (packaging/attrs_code.py) are used, with this process's __hash__ salt put in."""
    assert probed["classes"] >= 10 and probed["compiled"] == [] and probed["salted"], probed


def test_runs_with_the_cycle_collector_off(probed):
    """packaging/pyz_main.py turns the collector off for the short life of a run."""
    assert probed["collector"] is False, probed
