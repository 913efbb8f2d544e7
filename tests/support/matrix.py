"""The image matrix: which images, OS names and network modes, and one tool run in each.

A cell of the matrix is (case, mode, check). A case is an image (support.images) and
the ``-o`` the tool is run with there, chosen so that the tool writes the format that
image's own tools read. Every mode of a case works on one overlay copy of the image
(``Workspace``): the tool is run once, then each check looks at that copy in turn.

Checks (issue 4): ``run`` the zipapp with the image's Python; ``read`` the files with the
image's own tools (matrix_checks.py); ``apply`` an individual-mode (or, where the kernel
can, bonded) config for real in a network namespace; ``rerun`` changes nothing.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import factories as f
import pytest
from conftest import require

from . import images

PYZ = Path(__file__).resolve().parents[2] / "packet-networking.pyz"
SOURCES = ("packetnetworking", "distros", "hooks")
SOURCE_SUFFIXES = (".py", ".j2")  # not __pycache__: importing the sources rewrites those

# Inside the image: the zipapp, its inputs, and where shiv unpacks it (not the host's ~).
IN_IMAGE = "/tmp"
SHIV_ROOT = "/tmp/.shiv"
NIC_COUNT = 2

# Readers: the tool each image reads its network config with (see matrix_checks.py).
IFUPDOWN, IFUPDOWN_NG, NETPLAN = "ifupdown", "ifupdown-ng", "netplan"
NETWORKMANAGER, NETWORKD, IFCFG = "networkmanager", "networkd", "ifcfg"

MODES = ("bonded", "individual", "dhcp")
CHECKS = ("run", "read", "apply", "rerun")


def metadata(mode: str) -> dict[str, Any]:
    """The metadata document of each mode: the factories' default shapes."""
    if mode == "bonded":
        return f.metadata(nics=NIC_COUNT)
    if mode == "individual":
        return f.metadata(nics=NIC_COUNT, aggregation="individual")
    if mode == "dhcp":
        return f.metadata(nics=NIC_COUNT, dhcp=True)
    raise ValueError(f"unknown mode {mode!r}")


@dataclass(frozen=True)
class Case:
    image: str  # a name support.images knows
    os: Optional[str]  # -o; None: the tool reads the image's own os-release
    reader: Optional[str]  # None: chosen from the files the tool wrote (extra images)
    backend: Optional[str] = None  # the backend the tool must report choosing, if any
    # Commands run in the copy before the tool, as the image's builder would have done.
    setup: tuple[tuple[str, ...], ...] = ()
    # "ID VERSION_ID": the os-release the copy is given before the tool runs, for a
    # release no mirror here serves (a Debian tree saying it is that release, with the
    # network tool that release configures with).
    release: Optional[str] = None
    # The OS is newer than every release the tool knows: the forward policy serves it,
    # and its "untested version" warning is expected (docs/systems.md).
    untested: bool = False

    @property
    def named(self) -> Optional[str]:
        """The target the run must report: -o, else the given os-release (else unknown)."""
        return self.os or self.release

    @property
    def slug(self) -> str:
        name = self.os or (f"os-release:{self.release}" if self.release else "os-release")
        return f"{self.image}-{name.replace(' ', '')}"


BUILTIN_CASES = (
    Case("bullseye-ifupdown", "debian 11", IFUPDOWN, "eni"),
    Case("bookworm-ifupdown", "debian 12", IFUPDOWN, "eni"),
    Case("bookworm-ifupdown", "ubuntu 22.04", IFUPDOWN, "eni"),
    Case("trixie-ifupdown", "debian 13", IFUPDOWN, "eni"),
    # netplan and no ifupdown: Ubuntu's netplan backend.
    Case("trixie-netplan", "ubuntu 24.04", NETPLAN, "netplan"),
    # Debian's ifupdown-ng is the one Alpine ships.
    Case("trixie-ifupdown-ng", "alpine 3.20", IFUPDOWN_NG),
    # No network scripts, NetworkManager enabled: keyfiles, as Fedora and RHEL 9 get them.
    Case("bookworm-nm", "fedora 40", NETWORKMANAGER, "networkmanager"),
    Case("bookworm-nm", "rocky 9", NETWORKMANAGER, "networkmanager"),
    # Issue 15's releases, by their os-release alone, on Debian trees with their tool.
    Case("trixie-netplan", None, NETPLAN, "netplan", release="ubuntu 26.04"),
    Case("trixie-ifupdown", None, IFUPDOWN, "eni", release="ubuntu 26.04"),
    Case("bookworm-nm", None, NETWORKMANAGER, "networkmanager", release="sles 16.0"),
    Case("bookworm-nm", None, NETWORKMANAGER, "networkmanager", release="opensuse-leap 16.0"),
    Case("bookworm-nm", None, NETWORKMANAGER, "networkmanager", release="centos 10"),
    Case("bookworm-nm", "centos 9", NETWORKMANAGER, "networkmanager"),
    # The forward policy: releases newer than any known, served on what the tree shows.
    Case("trixie-netplan", "ubuntu 28.04", NETPLAN, "netplan", untested=True),
    Case("trixie-ifupdown", "debian 14", IFUPDOWN, "eni", untested=True),
    # An image with systemd that enabled networkd, as an Arch image has to.
    Case(
        "trixie-netplan",
        "arch",
        NETWORKD,
        "networkd",
        setup=(("systemctl", "enable", "systemd-networkd.service"),),
    ),
)


def cases() -> list[Case]:
    """The built-in cases, then one per PN_EXTRA_IMAGES entry (its os-release names it)."""
    return [*BUILTIN_CASES, *(Case(name, None, None) for name in images.extra_images())]


def checks_for(case: Case, mode: str) -> tuple[str, ...]:
    """DHCP configs are not applied: there is no DHCP server in the namespace."""
    applies = mode != "dhcp" and case.reader in (IFUPDOWN, IFUPDOWN_NG, None)
    return tuple(c for c in CHECKS if c != "apply" or applies)


@dataclass(frozen=True)
class Cell:
    case: Case
    mode: str
    check: str

    def __str__(self) -> str:
        return f"{self.case.slug}-{self.mode}-{self.check}"


def cells() -> list[Any]:
    """Every cell as a pytest.param, marked for the report plugin (matrix_report.py)."""
    return [
        pytest.param(
            cell,
            id=str(cell),
            marks=pytest.mark.matrix(
                image=case.image,
                os=case.os or f"(os-release{': ' + case.release if case.release else ''})",
                mode=mode,
                check=check,
            ),
        )
        for case in cases()
        for mode in MODES
        for check in checks_for(case, mode)
        for cell in (Cell(case, mode, check),)
    ]


# ---------------------------------------------------------------------------- tool runs


@dataclass(frozen=True)
class ToolRun:
    returncode: int
    stderr: str
    events: list[dict[str, Any]]  # the audit log of this run

    def event(self, name: str) -> Optional[dict[str, Any]]:
        return next((e for e in self.events if e.get("event") == name), None)

    def tasks(self) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("event") == "task"]

    def written(self) -> list[str]:
        """Paths (as the target sees them) the run wrote or appended to."""
        return [t["path"] for t in self.tasks() if t["action"] in ("write", "append")]


def run_tool(root: Path, case: Case, audit_log: str) -> ToolRun:
    """The zipapp as a user runs it, with the image's own python3 and the image as rootfs."""
    argv = [
        "env",
        f"SHIV_ROOT={SHIV_ROOT}",
        "python3",
        f"{IN_IMAGE}/{PYZ.name}",
        "-M",
        f"{IN_IMAGE}/metadata.json",
        "--nics",
        f"{IN_IMAGE}/nics.json",
        *(("-o", case.os) if case.os else ()),
        "--rootfs",
        "/",
        "--resolvers",
        ",".join(f.RESOLVERS),
        "--log-format",
        "json",
        "--audit-log",
        f"{IN_IMAGE}/{audit_log}",
    ]
    proc = images.run_in(root, argv, timeout=180)
    log = root / IN_IMAGE.lstrip("/") / audit_log
    lines = log.read_text().splitlines() if log.exists() else []
    return ToolRun(proc.returncode, proc.stderr, [json.loads(line) for line in lines])


@dataclass
class Prepared:
    """One case and mode: its copy of the image and the tool's first run there."""

    cell_key: tuple[Case, str]
    root: Path
    doc: dict[str, Any]
    first: ToolRun

    @property
    def case(self) -> Case:
        return self.cell_key[0]

    @property
    def mode(self) -> str:
        return self.cell_key[1]

    def nic_names(self) -> list[str]:
        return [nic.name for nic in f.host_nics(NIC_COUNT)]


def require_pyz() -> Path:
    """The zipapp `make pyz` builds; missing is a failure under CI=true, else a skip."""
    require(PYZ.name, "run `make pyz` first", PYZ.is_file())
    return PYZ


def pyz_staleness() -> Optional[float]:
    """Seconds by which the newest source file is newer than the zipapp, if it is."""
    if not PYZ.is_file():
        return None
    root = PYZ.parent
    newest = max(
        (
            p.stat().st_mtime
            for d in SOURCES
            for p in (root / d).rglob("*")
            if p.suffix in SOURCE_SUFFIXES and "__pycache__" not in p.parts
        ),
        default=0.0,
    )
    lag = newest - PYZ.stat().st_mtime
    return lag if lag > 0 else None


def prebuild(names: Iterable[str], workers: int = 3) -> None:
    """Build (or unpack) images a few at a time: a build mostly waits on the mirror, so
    three at once take about two thirds of the time of one after another."""
    if images.have_root_tools() is not None or not PYZ.is_file():
        return  # the cells skip (or fail under CI) on their own, with the reason
    with ThreadPoolExecutor(workers) as pool:
        for future in [pool.submit(images.build, name) for name in sorted(set(names))]:
            future.exception()  # a failed build fails its own cells, with its message


class Workspace:
    """Hands out the prepared copy of one (case, mode) at a time.

    Cells arrive grouped by case and mode, so each copy is made and the tool run there
    once; asking for another pair releases the previous copy. A pair whose preparation
    failed fails again at once with the same message instead of retrying (an image build
    can take minutes).
    """

    def __init__(self, workdir: Path) -> None:
        self._workdir = workdir
        self._stack = ExitStack()
        self._current: Optional[Prepared] = None
        self._failed: dict[tuple[Case, str], str] = {}

    def get(self, case: Case, mode: str) -> Prepared:
        key = (case, mode)
        if self._current is not None and self._current.cell_key == key:
            return self._current
        if key in self._failed:
            pytest.fail(self._failed[key])
        self.close()
        try:
            self._current = self._prepare(key)
        except Exception as exc:
            self._failed[key] = f"preparing {case.slug} {mode} failed: {exc}"
            raise
        return self._current

    def close(self) -> None:
        self._current = None
        self._stack.close()
        self._stack = ExitStack()

    def _prepare(self, key: tuple[Case, str]) -> Prepared:
        case, mode = key
        workdir = self._workdir / f"{case.slug}-{mode}"
        root = self._stack.enter_context(images.overlay_copy(case.image, workdir))
        if case.release is not None:
            _give_os_release(root, case.release)
        for argv in case.setup:
            proc = images.run_in(root, list(argv))
            if proc.returncode != 0:
                raise RuntimeError(f"setup {list(argv)}: exit {proc.returncode}: {proc.stderr}")
        doc = metadata(mode)
        tmp = root / IN_IMAGE.lstrip("/")
        shutil.copy(require_pyz(), tmp / PYZ.name)
        (tmp / "metadata.json").write_text(json.dumps(doc))
        (tmp / "nics.json").write_text(f.nics_json(NIC_COUNT))
        return Prepared(key, root, doc, run_tool(root, case, "audit.jsonl"))


def _give_os_release(root: Path, release: str) -> None:
    """Replace the copy's etc/os-release (Debian's is a link into usr/lib) with one that
    names ``release`` ("ID VERSION_ID") as that distro's own file does."""
    distro, version = release.split()
    path = root / "etc/os-release"
    path.unlink()
    path.write_text(f'ID="{distro}"\nVERSION_ID="{version}"\n')
