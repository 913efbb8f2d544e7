"""The image matrix (issue 4): the built zipapp inside distro root filesystems.

For each case (an image and the ``-o`` whose format that image reads) and each network
mode, the tool runs with the image's own Python on a copy of the image; the image's own
tools then read what it wrote, an individual-mode config is brought up for real in a
network namespace, and a second run must change nothing. support/matrix.py lists the
cases; support/matrix_report.py prints the table at the end and writes
build/image-matrix.json. Images of other distros join through PN_EXTRA_IMAGES.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import images, matrix
from support.matrix_checks import CHECKS


@pytest.fixture(scope="module")
def workspace(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[matrix.Workspace]:
    selected = [
        item.callspec.params["cell"]
        for item in request.session.items
        if "cell" in getattr(getattr(item, "callspec", None), "params", {})
    ]
    lag = matrix.pyz_staleness()
    if selected and lag is not None:
        stale = f"{matrix.PYZ.name} is {lag:.0f} s older than the sources: `make pyz`"
        warnings.warn(stale, stacklevel=1)
    matrix.prebuild(cell.case.image for cell in selected)
    ws = matrix.Workspace(tmp_path_factory.mktemp("matrix"))
    yield ws
    ws.close()


@pytest.mark.parametrize("cell", matrix.cells())
def test_image_matrix(
    cell: matrix.Cell, workspace: matrix.Workspace, request: pytest.FixtureRequest
) -> None:
    images.require_root_tools()
    matrix.require_pyz()
    prepared = workspace.get(cell.case, cell.mode)
    detail = CHECKS[cell.check](prepared)
    request.node.user_properties.append(("matrix_detail", detail))


# ---------------------------------------------------------------------------- the harness


def test_every_image_has_a_case() -> None:
    assert {case.image for case in matrix.BUILTIN_CASES} == set(images.IMAGES)


def test_cells_are_grouped_by_case_and_mode() -> None:
    """The workspace makes one copy per case and mode: their cells must be consecutive."""
    keys = [(p.values[0].case, p.values[0].mode) for p in matrix.cells()]
    seen = [k for i, k in enumerate(keys) if i == 0 or keys[i - 1] != k]
    assert len(seen) == len(set(seen))


def test_apply_cells() -> None:
    every = [p.values[0] for p in matrix.cells()]
    applied = {(c.case.image, c.mode) for c in every if c.check == "apply"}
    assert ("trixie-ifupdown-ng", "individual") in applied
    assert ("bookworm-ifupdown", "bonded") in applied  # skipped at run time where bonds fail
    assert not {(i, m) for i, m in applied if m == "dhcp" or i in ("bookworm-nm", "trixie-netplan")}


def test_extra_images_join_the_matrix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PN_EXTRA_IMAGES", f"mine={tmp_path / 'root.tar'}")
    extra = [c for c in matrix.cases() if c.image == "mine"]
    assert extra == [matrix.Case("mine", None, None)]
    assert matrix.checks_for(extra[0], "individual") == matrix.CHECKS
    assert matrix.checks_for(extra[0], "dhcp") == ("run", "read", "rerun")


def test_missing_pyz_fails_under_ci(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(matrix, "PYZ", tmp_path / "packet-networking.pyz")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="make pyz"):
        matrix.require_pyz()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="make pyz"):
        matrix.require_pyz()


# ---------------------------------------------------------------------------- checks can fail


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[matrix.Workspace]:
    """A workspace of its own: these tests break the files the tool wrote."""
    images.require_root_tools()
    matrix.require_pyz()
    ws = matrix.Workspace(tmp_path)
    yield ws
    ws.close()


def _tamper(p: matrix.Prepared, suffix: str, old: str, new: str) -> None:
    """Replace `old` (empty: prepend) in the first file the tool wrote ending in `suffix`."""
    path = p.root / next(w for w in p.first.written() if w.endswith(suffix)).lstrip("/")
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


_CASE = {(c.image, c.os): c for c in matrix.BUILTIN_CASES}


@pytest.mark.parametrize(
    "image, os, suffix, old, new, complaint",
    [
        ("bookworm-ifupdown", "debian 12", "/interfaces", "", "address 192.0.2.1\n", "misplaced"),
        ("trixie-ifupdown-ng", "alpine 3.20", "/interfaces", "", "address 192.0.2.1\n", "without"),
        ("trixie-netplan", "ubuntu 24.04", ".yaml", '"802.3ad"', '"802.3adx"', "802.3adx"),
        ("trixie-netplan", "arch", ".netdev", "MIIMonitorSec=100ms", "MIIMonitorSec=abc", "abc"),
        ("trixie-netplan", "arch", "enp1s0f1.link", "[Link]\n", "[Link]\nBogusKey=1\n", "Bogus"),
        ("bookworm-nm", "fedora 40", "bond0.nmconnection", "miimon=", "miimoon=", "miimoon"),
    ],
)
def test_read_fails_on_what_the_image_rejects(
    fresh: matrix.Workspace, image: str, os: str, suffix: str, old: str, new: str, complaint: str
) -> None:
    p = fresh.get(_CASE[(image, os)], "bonded")
    _tamper(p, suffix, old, new)
    with pytest.raises(AssertionError, match=complaint):
        CHECKS["read"](p)


def test_run_fails_on_the_wrong_backend(fresh: matrix.Workspace) -> None:
    case = matrix.Case("bookworm-ifupdown", "debian 12", matrix.IFUPDOWN, backend="netplan")
    with pytest.raises(AssertionError, match="eni: the rootfs has ifupdown"):
        CHECKS["run"](fresh.get(case, "dhcp"))


def test_run_fails_when_an_untested_release_has_nothing_to_go_by(fresh: matrix.Workspace) -> None:
    """The forward policy on a tree with neither netplan nor ifupdown: exit 40."""
    case = matrix.Case("bookworm-nm", "ubuntu 28.04", matrix.NETPLAN, "netplan", untested=True)
    with pytest.raises(AssertionError, match="exit 40: .*ubuntu 28.04 is configured with eni"):
        CHECKS["run"](fresh.get(case, "dhcp"))


def test_run_fails_when_the_untested_warning_is_missing(fresh: matrix.Workspace) -> None:
    """A known release logs no forward-policy warning, so expecting one fails."""
    case = matrix.Case("trixie-netplan", "ubuntu 24.04", matrix.NETPLAN, "netplan", untested=True)
    with pytest.raises(AssertionError, match="the tool warned: \\[\\]"):
        CHECKS["run"](fresh.get(case, "dhcp"))


def test_apply_fails_without_the_default_route(fresh: matrix.Workspace) -> None:
    p = fresh.get(_CASE[("bookworm-ifupdown", "debian 12")], "individual")
    _tamper(p, "/interfaces", "    gateway 147.75.84.130\n", "")
    with pytest.raises(AssertionError, match="IPv4 routes"):
        CHECKS["apply"](p)


def test_rerun_fails_when_a_file_changed(fresh: matrix.Workspace) -> None:
    p = fresh.get(_CASE[("bookworm-ifupdown", "debian 12")], "dhcp")
    _tamper(p, "/hostname", "web-1", "web-2")
    with pytest.raises(AssertionError, match="/etc/hostname"):
        CHECKS["rerun"](p)


def test_extra_image_path(fresh: matrix.Workspace) -> None:
    """What an extra image gets: no -o (its os-release), the reader from what was written."""
    p = fresh.get(matrix.Case("bookworm-ifupdown", None, None), "individual")
    assert "debian 12, backend eni" in CHECKS["run"](p)
    assert CHECKS["read"](p).startswith("ifquery")
    assert "ifdown -a left nothing" in CHECKS["apply"](p)
    assert CHECKS["rerun"](p).endswith("all unchanged")


def test_ifcfg_reader_catches_an_unquoted_value(fresh: matrix.Workspace) -> None:
    """The reader a Rocky or Alma extra image gets, run with this image's bash."""
    scripts = "mkdir -p /etc/sysconfig/network-scripts; : >/etc/sysconfig/network-scripts/ifup-eth"
    case = matrix.Case("bookworm-ifupdown", "rocky 9", None, setup=(("sh", "-c", scripts),))
    p = fresh.get(case, "bonded")
    assert CHECKS["read"](p).startswith("bash sourced")
    _tamper(p, "/ifcfg-bond0", 'BONDING_OPTS="mode=4 miimon=100', "BONDING_OPTS=mode=4 miimon=100")
    _tamper(p, "/ifcfg-bond0", 'lacp_rate=fast"', "lacp_rate=fast")
    with pytest.raises(AssertionError, match="miimon"):
        CHECKS["read"](p)
