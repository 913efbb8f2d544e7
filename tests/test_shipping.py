"""How the zipapp ships: the Containerfile (linted, built from a local Debian base, run
warm) and flake.nix (parsed, evaluated offline), and the pinned inputs they build from.

Alpine's registry is not reachable from the machines this runs on, so the image test
builds the Containerfile on a Debian base made with mmdebstrap (BASE is an ARG).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import factories
from packaging.utils import canonicalize_name
from pyz_build import copy_build_inputs, skip_or_fail
from support import images

from packetnetworking import __version__

ROOT = Path(__file__).resolve().parents[1]
NIX = ("--extra-experimental-features", "nix-command flakes", "--option", "build-users-group", "")
# A base with what the image needs already in it: its build then needs no network.
CONTAINER_BASE = images.ImageSpec(
    "bookworm-container-base", "bookworm", ("python3", "python3-venv", "udev")
)


def tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        skip_or_fail(f"{name} is not installed (see APT_PACKAGES and the test extra)")
    return found


def lock_entries(lock: Path) -> dict[str, tuple[str, set[str]]]:
    """name -> (version, sha256 hashes) of each requirement in a hashed lock file."""
    entries: dict[str, tuple[str, set[str]]] = {}
    name = None
    for line in lock.read_text().splitlines():
        if "==" in line and not line[0].isspace() and not line.startswith("#"):
            raw, _, rest = line.partition("==")
            name = canonicalize_name(raw)
            entries[name] = (rest.split()[0], set())
        elif name and "--hash=sha256:" in line:
            entries[name][1].add(line.split("--hash=sha256:")[1].split()[0])
    return entries


def test_pyz_inputs_are_exactly_the_locked_files():
    """packaging/pyz-inputs.json (what flake.nix fetches) matches both locks: one file
    per pinned package, of the pinned version, with a hash the lock allows."""
    inputs = json.loads((ROOT / "packaging" / "pyz-inputs.json").read_text())
    for build_tool, lock in (
        (False, ROOT / "requirements.lock"),
        (True, ROOT / "packaging" / "build-tools.lock"),
    ):
        pinned = lock_entries(lock)
        ours = [i for i in inputs if i["build_tool"] is build_tool]
        assert sorted(i["name"] for i in ours) == sorted(pinned), lock.name
        for item in ours:
            version, hashes = pinned[item["name"]]
            assert item["version"] == version and item["sha256"] in hashes, item
            assert item["url"].startswith("https://files.pythonhosted.org/"), item
            pure = item["url"].endswith("-none-any.whl") or item["url"].endswith(".tar.gz")
            assert pure, f"{item['url']}: not a pure wheel or an sdist"


def test_containerfile_lints_clean():
    proc = subprocess.run(
        [tool("hadolint"), str(ROOT / "Containerfile")], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_flake_parses():
    proc = subprocess.run(
        [tool("nix-instantiate"), "--parse", str(ROOT / "flake.nix")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr


# Just enough of nixpkgs for flake.nix to evaluate: every function it calls returns a
# derivation (never built). A name flake.nix uses that is missing here fails evaluation.
STUB_NIXPKGS = """
{
  outputs = { self }:
    let
      lib = {
        genAttrs = names: f: builtins.listToAttrs (map (n: { name = n; value = f n; }) names);
        licenses.asl20 = { };
        platforms.linux = [ ];
      };
      pkgsFor = system:
        let
          drv = name: attrs: derivation ({
            inherit name system; builder = "/bin/sh"; args = [ "-c" "exit 1" ];
          } // attrs);
          tool = name: drv name { };
          pythonPackages = lib.genAttrs [ "attrs" "jinja2" "pyyaml" "requests" "structlog" "pytest"
            "hypothesis" "packaging" "pip" "setuptools" "shiv" ] tool;
          python3 = (tool "python3") // {
            interpreter = "/stub/bin/python3";
            sitePackages = "lib/python3/site-packages";
            withPackages = f: builtins.deepSeq (map (p: p.name) (f pythonPackages))
              (tool "python3-env");
          };
        in {
          inherit system python3;
          fetchurl = { url, sha256 }: drv (baseNameOf url) {
            outputHashMode = "flat"; outputHashAlgo = "sha256"; outputHash = sha256;
          };
          linkFarm = name: entries: drv name { paths = map (e: e.path) entries; };
          stdenvNoCC.mkDerivation = a: drv "${a.pname}-${a.version}" {
            inherit (a) buildPhase installPhase;
          };
          mkShell = a: drv "shell" { inherit (a) packages PIP_FIND_LINKS; };
          runCommand = name: env: script: drv name (env // { inherit script; });
          ruff = tool "ruff"; hadolint = tool "hadolint";
          gnumake = tool "gnumake"; iproute2 = tool "iproute2";
        };
    in {
      inherit lib;
      legacyPackages = lib.genAttrs [ "x86_64-linux" "aarch64-linux" ] pkgsFor;
    };
}
"""


def test_flake_evaluates_offline(tmp_path):
    """`nix flake check --no-build` with nixpkgs replaced by a stub: every output
    evaluates and has the shape flakes require; no input is fetched."""
    nix = tool("nix")
    source = copy_build_inputs(tmp_path / "src")
    shutil.copy2(ROOT / "flake.nix", source / "flake.nix")
    (tmp_path / "stub").mkdir()
    (tmp_path / "stub" / "flake.nix").write_text(STUB_NIXPKGS)
    options = [*NIX, "--store", str(tmp_path / "store")]
    flags = [
        "--offline",
        "--no-write-lock-file",
        "--override-input",
        "nixpkgs",
        f"path:{tmp_path / 'stub'}",
    ]

    def nix_run(*args: str) -> str:
        proc = subprocess.run(
            [nix, *options, *args, *flags], capture_output=True, text=True, timeout=300
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    nix_run("flake", "check", f"path:{source}", "--no-build")

    def evaluate(attr: str):
        return json.loads(nix_run("eval", "--json", f"path:{source}#{attr}"))

    system = "x86_64-linux"
    app = evaluate(f"apps.{system}.default")
    assert app["type"] == "app" and app["program"].endswith("/bin/packet-networking")
    assert evaluate(f"packages.{system}.default.name") == f"packet-networking-{__version__}"
    assert set(evaluate(f"checks.{system}")) >= {"tests", "package"}
    assert evaluate(f"devShells.{system}.default.PIP_FIND_LINKS").startswith("/")


def _podman(args: list[str], conf: Path, storage: Path, timeout: float = 900):
    proc = subprocess.run(
        ["podman", "--root", str(storage / "root"), "--runroot", str(storage / "run"), *args],
        env={**os.environ, "CONTAINERS_CONF": str(conf)},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, f"podman {args[0]}: {proc.stdout[-3000:]}{proc.stderr[-3000:]}"
    return proc


def test_container_image_builds_offline_and_runs_warm(tmp_path):
    """Both stages on a local Debian base (Alpine's registry is unreachable here), no
    network: the build stage installs from a wheelhouse. The image then configures a
    mounted rootfs from a read-only root filesystem: no extraction is left to do."""
    images.require_root_tools()
    tool("podman")
    base_tree = images.build_spec(CONTAINER_BASE)
    context = copy_build_inputs(tmp_path / "context")
    for name in ("Containerfile", ".dockerignore"):
        shutil.copy2(ROOT / name, context / name)
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "packaging" / "build_pyz.py"),
            "wheelhouse",
            str(context / "build" / "wheelhouse"),
        ],
        check=True,
        timeout=600,
    )
    conf = tmp_path / "containers.conf"
    conf.write_text(images.PODMAN_CONF)
    # podman refuses a run root path of more than 50 characters: pytest's are longer.
    storage = Path(tempfile.mkdtemp(prefix="pn-podman-", dir="/tmp"))
    try:
        _build_and_run(context, base_tree, conf, storage, tmp_path / "work")
    finally:
        # Images only: `system reset` would also drop the host's network definitions.
        subprocess.run(
            [
                "podman",
                "--root",
                str(storage / "root"),
                "--runroot",
                str(storage / "run"),
                "rmi",
                "--all",
                "--force",
            ],
            env={**os.environ, "CONTAINERS_CONF": str(conf)},
            capture_output=True,
            timeout=300,
        )
        shutil.rmtree(storage, ignore_errors=True)


def _build_and_run(context: Path, base_tree: Path, conf: Path, storage: Path, work: Path):
    tarball = storage / "base.tar"
    subprocess.run(["tar", "-C", str(base_tree), "-cf", str(tarball), "."], check=True)
    _podman(["import", str(tarball), "localhost/pn-test-base:bookworm"], conf, storage)
    tarball.unlink()
    _podman(
        [
            "build",
            "--network",
            "none",
            "-f",
            "Containerfile",
            "--build-arg",
            "BASE=localhost/pn-test-base:bookworm",
            "-t",
            "localhost/pn-test:latest",
            str(context),
        ],
        conf,
        storage,
    )
    (work / "rootfs").mkdir(parents=True)
    doc = factories.metadata(nics=4)
    (work / "metadata.json").write_text(json.dumps(doc))
    (work / "nics.json").write_text(factories.nics_json(4))
    _podman(
        [
            "run",
            "--rm",
            "--read-only",
            "--network",
            "none",
            "-v",
            f"{work}:/work",
            "localhost/pn-test:latest",
            "-M",
            "/work/metadata.json",
            "--nics",
            "/work/nics.json",
            "-o",
            "debian 12",
            "--rootfs",
            "/work/rootfs",
            "--resolvers",
            ",".join(factories.RESOLVERS),
        ],
        conf,
        storage,
        timeout=120,
    )
    for path, content in factories.files("debian 12", doc).items():
        assert (work / "rootfs" / path).read_text() == content, path
    # The discovery tool is there, and nothing of the build stage came along.
    _podman(
        [
            "run",
            "--rm",
            "--entrypoint",
            "/bin/sh",
            "localhost/pn-test:latest",
            "-c",
            "command -v udevadm && test ! -e /src && test ! -e /tmp/venv",
        ],
        conf,
        storage,
        120,
    )
