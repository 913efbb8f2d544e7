"""The zipapp as shipped: reproducible, pure Python, pinned for Python 3.9, and isolated
from the host. How it starts (extraction, build-time work for start-up) is in
test_pyz_startup.py; the build itself is tests/pyz_build.py.
"""

from __future__ import annotations

import http.server
import json
import shutil
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import factories
import pytest
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from pyz_build import ROOT, locked, run, sha256, shipped_names, site_packages_zip, skip_or_fail
from support import images

COMPILED_SUFFIXES = (".so", ".pyd", ".dylib", ".dll")


def test_two_builds_in_different_directories_are_identical(builds):
    """Two clones at paths of different lengths, each with its own venv (pyz_build.py)."""
    assert sha256(builds[0]) == sha256(builds[1])


def test_nothing_shipped_names_a_path_outside_site_packages(pyz):
    """RECORD lines of console scripts (../../bin/...) carried the build venv's path in
    their hashes; the scripts are not shipped, so neither are their lines."""
    with site_packages_zip(pyz) as archive:
        records = {
            n: archive.read(n).decode()
            for n in archive.namelist()
            if n.endswith(".dist-info/RECORD")
        }
    assert records
    outside = {
        n: [line for line in text.splitlines() if line.startswith("../")]
        for n, text in records.items()
    }
    assert not any(outside.values()), outside


def test_the_license_ships_in_the_pyz(pyz):
    text = (ROOT / "LICENSE").read_text()
    assert text.split()[:4] == ["Apache", "License", "Version", "2.0,"]
    assert "END OF TERMS AND CONDITIONS" in text  # the full text, not a notice
    with site_packages_zip(pyz) as archive:
        (name,) = [
            n
            for n in archive.namelist()
            if n.startswith("site-packages/packet_networking-") and n.endswith("/LICENSE")
        ]
        assert archive.read(name).decode() == text
        (metadata,) = [
            n
            for n in archive.namelist()
            if n.startswith("site-packages/packet_networking-") and n.endswith("/METADATA")
        ]
        assert "\nLicense-Expression: Apache-2.0\n" in archive.read(metadata).decode()


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
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-c", probe, str(site_packages)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr


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
    argv = {
        "shebang": [str(pyz)],
        "python3": [str(interpreter), str(pyz)],
        "python3 -I": [str(interpreter), "-I", str(pyz)],
    }[how]
    proc = run(
        [*argv, *example[:-1]], tmp_path / "root", PYTHONPATH=str(fake), PYTHONDONTWRITEBYTECODE="1"
    )
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
        argv = [
            "/tmp/pn/pn.pyz",
            "-M",
            "/tmp/pn/metadata.json",
            "--nics",
            "/tmp/pn/nics.json",
            "-o",
            "debian 11",
            "--rootfs",
            "/tmp/pn/rootfs",
            "--resolvers",
            ",".join(factories.RESOLVERS),
        ]
        for _ in range(2):  # cold (extract, compile), then warm
            proc = images.run_in(root, argv)
            assert proc.returncode == 0, proc.stderr
        written = (work / "rootfs" / "etc" / "network" / "interfaces").read_text()
    assert written == factories.files("debian 11", doc)["etc/network/interfaces"]
