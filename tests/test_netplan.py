"""netplan: exact output (golden files), and netplan itself reading it back.

``netplan generate`` runs on the YAML on this host (netplan.io 0.106) and, in the image
matrix, inside a trixie image (netplan 1.1) after a whole run chose netplan by looking
at that image; the networkd files it generates go to systemd-networkd's parser too.
"""

from __future__ import annotations

import stat
from pathlib import Path

import backend_cases as cases
import factories as f
import golden
import pytest
import readback
from backend_cases import CASES, backend_files
from support import images

from packetnetworking import tasks
from packetnetworking.renderers import netplan

YAML = "90-packet.yaml"


@pytest.mark.parametrize("case", CASES)
def test_golden(case):
    golden.check(f"netplan/{case}/{YAML}", _netplan(case))


def _netplan(case: str, legacy: bool = False) -> str:
    (write,) = netplan.tasks(f.build_plan(CASES[case]), legacy_routes=legacy)
    assert write.path == f"etc/netplan/{YAML}" and write.mode == tasks.SECRET
    return write.content


def test_legacy_routes_golden():
    """Ubuntu before 22.04 ships netplan without ``to: default``."""
    golden.check(f"netplan/legacy-routes/{YAML}", _netplan("bonded", legacy=True))


@pytest.mark.parametrize(
    "os, legacy",
    [
        ("ubuntu 18.04", True),
        ("ubuntu 20.04", True),
        ("ubuntu 22.04", False),
        ("ubuntu 24.04", False),
        ("debian 12", False),
    ],
)
def test_distros_pick_the_route_spelling(os, legacy):
    out = backend_files(cases.files(os, CASES["bonded"], backend="netplan"), "etc/netplan")
    assert out == {YAML: _netplan("bonded", legacy)}


@pytest.mark.parametrize("case", CASES)
def test_netplan_reads_it(case):
    readback.require_netplan()
    generated = readback.netplan_generate({YAML: _netplan(case)})
    plan = f.build_plan(CASES[case])
    configured = {m for b in plan.bonds for m in b.members} | {n.name for n in plan.dhcp_nics}
    if plan.mode == "individual":
        configured.add(plan.link)
    expected = {f"10-netplan-{name}.network" for name in configured}
    expected |= {f"10-netplan-{name}.link" for name in configured}  # set-name
    expected |= {f"10-netplan-{b.name}.{ext}" for b in plan.bonds for ext in ("netdev", "network")}
    assert set(generated) == expected
    if plan.link and plan.addresses:  # the static link: no router discovery to wait for
        assert "IPv6AcceptRA=no" in generated[f"10-netplan-{plan.link}.network"]


def test_netplan_reads_legacy_routes():
    readback.require_netplan()
    generated = readback.netplan_generate({YAML: _netplan("bonded", legacy=True)})
    assert "Destination=0.0.0.0/0" in generated["10-netplan-bond0.network"]


def test_netplan_catches_a_bad_file():
    """The check can fail: a bond mode netplan does not know is a complaint."""
    readback.require_netplan()
    bad = _netplan("bonded").replace('mode: "802.3ad"', 'mode: "802.3adx"')
    with pytest.raises(AssertionError, match="802.3adx"):
        readback.netplan_generate({YAML: bad})


@pytest.mark.parametrize("case", ["bonded", "two-bonds", "individual", "dhcp"])
def test_networkd_reads_what_netplan_generated(case, tmp_path: Path):
    readback.require_netplan()
    readback.require_networkd()
    for name, text in readback.netplan_generate({YAML: _netplan(case)}).items():
        if not name.endswith(".link"):  # udev's, not networkd's
            (tmp_path / name).write_text(text)
    _, complaints = readback.networkd_read(tmp_path)
    assert complaints == []


def test_image_run_chooses_netplan_and_netplan_reads_it(tmp_path: Path):
    """A whole run on a trixie tree with netplan (and no ifupdown): netplan is chosen,
    the file lands 0600, and the image's own netplan and networkd read it."""
    images.require_root_tools()
    with images.overlay_copy("trixie-netplan", tmp_path / "image") as root:
        proc, events = cases.run_cli(tmp_path, root, "debian 13")
        assert proc.returncode == 0, proc.stderr
        event = cases.backend_event(events)
        assert event["backend"] == "netplan" and event["detected"] is True
        assert "netplan (/usr/sbin/netplan)" in event["reason"]
        path = root / "etc/netplan" / YAML
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        generated = readback.netplan_generate({YAML: path.read_text()}, image=root)
        conf = tmp_path / "generated"
        conf.mkdir()
        for name, text in generated.items():
            if not name.endswith(".link"):
                (conf / name).write_text(text)
        loaded, complaints = readback.networkd_read(conf, image=root)
        assert complaints == []
        assert sorted(p.rsplit("/", 1)[1] for p in loaded) == sorted(p.name for p in conf.iterdir())
