"""NetworkManager keyfiles: exact output (golden files), and libnm reading it back.

libnm's own keyfile reader (NM.keyfile_read, then normalize()) parses every profile on
this host (NetworkManager 1.42) and, in the image matrix, inside a bookworm image with
NetworkManager enabled, after a whole run chose keyfiles by looking at that image. A
reader warning, an unknown key or a profile normalize() rejects is a failure.
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

from packetnetworking import tasks
from packetnetworking.renderers import networkmanager

DIRECTORY = "etc/NetworkManager/system-connections"


def _profiles(case: str) -> dict[str, str]:
    out = {}
    for write in networkmanager.tasks(f.build_plan(CASES[case])):
        if write.path == networkmanager.UNMANAGED:  # configuration, not a secret
            assert write.mode == 0o644
            out["conf.d/" + write.path.rsplit("/", 1)[1]] = write.content
            continue
        assert write.path.startswith(DIRECTORY + "/") and write.mode == tasks.SECRET
        out[write.path[len(DIRECTORY) + 1 :]] = write.content
    return out


@pytest.mark.parametrize("case", CASES)
def test_golden(case):
    golden.check_all(f"nm/{case}", _profiles(case))


@pytest.mark.parametrize("os", ["fedora 40", "rhel 10", "rocky 10", "almalinux 10", "debian 12"])
def test_distros_write_the_same_profiles(os):
    backend = "networkmanager" if os == "debian 12" else None
    out = cases.files(os, CASES["bonded"], backend=backend)
    assert backend_files(out, DIRECTORY) == _profiles("bonded")


@pytest.mark.parametrize("case", CASES)
def test_libnm_reads_it(case):
    readback.require_libnm()
    # conf.d is NetworkManager.conf's, which the daemon reads (test_nm_keyfile.py).
    profiles = {k: v for k, v in _profiles(case).items() if not k.startswith("conf.d/")}
    read = {Path(r["path"]).name: r for r in readback.nm_read(profiles)}
    plan = f.build_plan(CASES[case])
    for bond in plan.bonds:
        profile = read[f"{bond.name}.nmconnection"]
        assert (profile["type"], profile["interface_name"]) == ("bond", bond.name)
        assert profile["cloned_mac"].lower() == bond.mac
        for member in bond.members:
            port = read[f"{member}.nmconnection"]
            assert (port["master"], port["slave_type"], port["ipv4"]) == (bond.name, "bond", None)
    for nic in plan.dhcp_nics:
        assert read[f"{nic.name}.nmconnection"]["ipv4"]["method"] == "auto"
    uuids = [r["uuid"] for r in read.values()]
    assert len(set(uuids)) == len(uuids)


def test_libnm_catches_a_bad_profile():
    """The check can fail: an address libnm cannot parse is a warning."""
    readback.require_libnm()
    bad = _profiles("bonded")
    bond = bad["bond0.nmconnection"]
    bad["bond0.nmconnection"] = bond.replace("10.70.17.9/31", "10.70.17.999/31")
    with pytest.raises(AssertionError, match="10.70.17.999"):
        readback.nm_read(bad)


def test_unknown_keys_are_caught():
    """libnm drops keys it does not know without a word; the reader script does not."""
    readback.require_libnm()
    bad = _profiles("bonded")
    bad["bond0.nmconnection"] = bad["bond0.nmconnection"].replace("[bond]\n", "[bond]\nmiimom=1\n")
    with pytest.raises(AssertionError, match="miimom"):
        readback.nm_read(bad)


def test_image_run_chooses_keyfiles_and_libnm_reads_them(tmp_path: Path):
    """A whole run on a bookworm tree with NetworkManager enabled and no ifupdown:
    keyfiles are chosen, land 0600, and the image's own libnm reads them in place."""
    from support import images

    images.require_root_tools()
    with images.overlay_copy("bookworm-nm", tmp_path / "image") as root:
        proc, events = cases.run_cli(tmp_path, root, "debian 12")
        assert proc.returncode == 0, proc.stderr
        event = cases.backend_event(events)
        assert event["backend"] == "networkmanager" and event["detected"] is True
        assert "multi-user.target.wants/NetworkManager.service" in event["reason"]
        written = sorted((root / DIRECTORY).iterdir())
        assert [p.name for p in written] == sorted(_profiles("bonded"))
        for path in written:
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
        read = readback.nm_read({p.name: p.read_text() for p in written}, image=root)
        assert {r["id"] for r in read} == {"bond0", "enp1s0f0", "enp1s0f1"}
