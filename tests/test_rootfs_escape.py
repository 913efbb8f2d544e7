"""Symlinks in a customer's image can never make us write outside ``--rootfs``.

Each case plants links in the rootfs, runs the real CLI, and checks a canary directory
beside the rootfs (and everything else around it) byte for byte. Absolute link targets
resolve inside the rootfs, as the booted target will see them: those runs succeed and
write inside. A link that climbs above the root, a loop, or a link to a directory where
a file is due is refused before any change: exit 80, one line, the rootfs unchanged.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Callable

import pytest
import safety
from treehash import snapshot

from packetnetworking.errors import printable
from packetnetworking.transaction import JOURNAL

Setup = Callable[[Path, Path], None]


def _link(root: Path, rel: str, target: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, path)


def _climb(canary: Path) -> str:
    """A relative target with enough ``..`` to reach the host's root, then the canary."""
    return "../" * (len(canary.parts) + 3) + str(canary).lstrip("/")


def _journal(root: Path, path: str) -> None:
    entry = {"path": path, "existed": True, "content": base64.b64encode(b"pwned").decode(),
             "mode": 0o644, "uid": 0, "gid": 0, "link": None}  # fmt: skip
    (root / JOURNAL).write_text(json.dumps({"version": 2, "dirs": [], "files": [entry]}))


def _chain(root: Path, hops: int) -> None:
    for i in range(hops):
        _link(root, f"etc/l{i}", f"l{i + 1}")
    _link(root, "etc/hostname", "l0")


def _newline(root: Path, _canary: Path) -> None:
    """A link target with a newline, shown in the error: still one line."""
    _link(root, "etc/network", "/x\ny")
    (root / "x\ny").mkdir()
    (root / "x\ny/.interfaces.pn-new").write_text("left over")


# name -> (setup(root, canary), exit code, the words the one error line holds)
REFUSED: dict[str, tuple[Setup, int, str]] = {
    "relative climb": (lambda r, c: _link(r, "etc/network", _climb(c)), 80, "climbs out"),
    "absolute then up": (lambda r, c: _link(r, "etc/network", "/../.." + str(c)), 80, "climbs out"),
    "climb to proc": (lambda r, c: _link(r, "etc/network", "../../../../proc/self"), 80, "climbs"),
    "loop of two": (
        lambda r, c: (_link(r, "etc/network", "net2"), _link(r, "etc/net2", "network")),
        80,
        "too many levels of symbolic links",
    ),
    "self loop": (lambda r, c: _link(r, "etc/hostname", "hostname"), 80, "too many levels"),
    "long chain": (lambda r, c: _chain(r, 45), 80, "too many levels"),
    "link to a directory": (lambda r, c: _link(r, "etc/hostname", "/etc"), 80, "not a regular"),
    "planted temp file": (
        lambda r, c: _link(r, "etc/.hostname.pn-new", str(c / "hostname")),
        80,
        "stale temp file",
    ),
    "journal climbs out": (lambda r, c: _journal(r, "../canary/x"), 80, "unreadable journal"),
    "journal through a link": (
        lambda r, c: (_link(r, "etc", str(c)), _journal(r, "etc/hostname")),
        80,
        "leads through a symlink",
    ),
    "journal is a link": (
        lambda r, c: _link(r, JOURNAL, str(c / "hostname")),
        80,
        "unreadable journal",
    ),
    "newline in a link": (_newline, 80, "/x\\ny/.interfaces.pn-new: a stale temp file"),
}

# name -> (setup, where the file lands inside the rootfs, what stays a symlink)
INSIDE: dict[str, tuple[Setup, Callable[[Path, Path], Path], str]] = {
    "etc is an absolute link": (
        lambda r, c: _link(r, "etc", str(c)),
        lambda r, c: r / str(c).lstrip("/") / "network/interfaces",
        "etc",
    ),
    "file is an absolute link": (
        lambda r, c: _link(r, "etc/hostname", str(c / "hostname")),
        lambda r, c: r / str(c).lstrip("/") / "hostname",
        "etc/hostname",
    ),
    "link to /proc": (
        lambda r, c: _link(r, "etc/network", "/proc/self"),
        lambda r, c: r / "proc/self/interfaces",
        "etc/network",
    ),
    "dangling link": (
        lambda r, c: _link(r, "etc/hosts", "/srv/net/hosts"),
        lambda r, c: r / "srv/net/hosts",
        "etc/hosts",
    ),
    "relative link inside": (
        lambda r, c: _link(r, "etc/network", "../usr/share/network"),
        lambda r, c: r / "usr/share/network/interfaces",
        "etc/network",
    ),
}


@pytest.fixture
def layout(tmp_path: Path):
    """rootfs, a canary beside it holding files the links aim at, and the CLI inputs."""
    root, canary = tmp_path / "root", tmp_path / "canary"
    root.mkdir()
    (canary / "network").mkdir(parents=True)
    for name in ("hostname", "hosts", "resolv.conf", "network/interfaces"):
        (canary / name).write_text(f"canary {name}\n")
    inputs = tmp_path / "in"
    inputs.mkdir()
    meta, nics = safety.inputs(inputs)
    return root, canary, safety.default_args(meta, nics, root)


def _outside(tmp_path: Path) -> dict:
    return {k: v for k, v in snapshot(tmp_path).items() if not k.startswith("root")}


@pytest.mark.parametrize("name", REFUSED)
def test_refused_before_any_change(tmp_path: Path, layout, name):
    root, canary, argv = layout
    setup, code, words = REFUSED[name]
    setup(root, canary)
    outside, inside = _outside(tmp_path), snapshot(root)
    proc = safety.cli_subprocess(argv)
    assert proc.returncode == code, proc.stderr
    line = safety.one_line(proc.stderr, progress=True)
    assert words in line, line
    assert _outside(tmp_path) == outside, "something outside the rootfs changed"
    assert snapshot(root) == inside, "a refused run changed the rootfs"


@pytest.mark.parametrize("name", INSIDE)
def test_absolute_and_dangling_links_resolve_inside(tmp_path: Path, layout, name):
    root, canary, argv = layout
    setup, landing, link = INSIDE[name]
    setup(root, canary)
    outside = _outside(tmp_path)
    proc = safety.cli_subprocess(argv)
    assert proc.returncode == 0, proc.stderr
    assert _outside(tmp_path) == outside, "something outside the rootfs changed"
    assert landing(root, canary).read_text().startswith(("# Written by packet-networking", "web-1"))
    assert (root / link).is_symlink(), "the image's own link was replaced"


@pytest.mark.parametrize(
    ("relpath", "expected", "followed"),
    [
        ("etc/hostname", "etc/hostname", False),
        ("./etc/../etc//hosts", "etc/hosts", False),
        ("etc/net/hosts", "etc/usr/share/net/hosts", True),  # relative: from its directory
        ("etc/abs/hosts", "srv/net/hosts", True),  # absolute: from the rootfs
        ("etc/up/hosts", "srv/hosts", True),  # "net/.." pops a name: the kernel never sees it
        ("etc/file-link", "etc/hostname", True),  # a final link is followed when asked
        ("etc/missing/deeper/x", "etc/missing/deeper/x", False),  # missing parts as named
    ],
)
def test_locate_resolves_inside(tmp_path: Path, relpath: str, expected: str, followed: bool):
    """The descriptor walk lands where the target would look; a symlink followed on the
    way is reported (the mount check needs it), missing directories are listed."""
    from packetnetworking import rootfs

    root = tmp_path / "root"
    (root / "etc/usr/share/net").mkdir(parents=True)
    (root / "srv/net").mkdir(parents=True)
    (root / "etc/hostname").write_text("x\n")
    _link(root, "etc/net", "usr/share/net")
    _link(root, "etc/abs", "/srv/net")
    _link(root, "etc/up", "/srv/net/..")
    _link(root, "etc/file-link", "/etc/hostname")
    with rootfs.Root(root) as fs:
        where = fs.locate(relpath)
        assert where.rel == expected
        assert where.followed == followed
        missing = ("etc/missing", "etc/missing/deeper") if "missing" in relpath else ()
        assert where.missing == missing


@pytest.mark.parametrize(
    ("root", "path"),
    [
        ("/srv/rootfs", "/srv/rootfs/etc/hostname"),
        ("/srv/rootfs", "/srv/rootfs/etc/.hostname.pn-new"),
        ("/srv/rootfs", "/srv/rootfs2/etc/hostname"),  # a sibling sharing the prefix
        ("/srv/rootfs", "/srv/rootfs"),
        ("/srv/rootfs", "/srv"),
        ("/", "/etc/hosts"),
        ("/srv/rootfs/", "/srv//rootfs/./etc/hosts"),
        ("rel/root", "rel/root/etc/hosts"),
        ("rel/root", "/rel/root/etc/hosts"),  # absolute is not under a relative root
        ("/srv/rootfs", "/srv/rootfs/etc/line\nbreak"),
    ],
)
def test_display_names_paths_as_relative_to_does(root: str, path: str):
    """display() on strings means what it meant on pathlib: the path as the target names
    it when under the root (part by part, not by string prefix), else the whole path."""
    from packetnetworking import rootfs

    try:
        expected = "/" + printable(str(Path(path).relative_to(root)))
    except ValueError:
        expected = printable(str(Path(path)))
    assert rootfs.display(root, path) == expected
    assert rootfs.display(Path(root), Path(path)) == expected


@pytest.mark.parametrize("path", ["/srv/rootfs/etc/hostname", "/hostname", "hostname", "a/b"])
def test_temp_path_is_a_dot_file_beside(path: str):
    from packetnetworking import fileio

    expected = Path(path).with_name(f".{Path(path).name}{fileio.TEMP_SUFFIX}")
    assert fileio.temp_path(path) == str(expected)
    assert fileio.temp_path(Path(path)) == str(expected)
