"""NetworkManager's own readers on the VLAN cases: ifcfg-rh (the ifcfg files of RHEL 8-9)
and keyfile (RHEL 10+, Fedora, SUSE 16), each in the daemon as at boot (support/nm_run).

What the daemon parsed must equal the plan (support/nm_check.differences): the VLAN a
``vlan`` connection with the plan's id and parent and all the link's addresses, the
parent up with none. A mutated file proves the comparison fails where NetworkManager
stays silent. Nothing is activated: no VLAN device can be created on this kernel.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import vlan_cases as v
from support import networkmanager, nm_check, nm_run, nm_terse

KEYFILES = "etc/NetworkManager/system-connections"


def _ifcfg(case: str) -> dict[str, str]:
    return v.files("rocky 9", case, "etc/sysconfig")


def _keyfiles(case: str) -> dict[str, str]:
    return v.files("rhel 10", case, KEYFILES)


@pytest.fixture(scope="module")
def ifcfg_rh() -> Iterator[nm_run.Reader]:
    networkmanager.require()
    with nm_run.running(nm_run.IFCFG_RH) as daemon:
        yield nm_run.Reader(daemon)


@pytest.fixture(scope="module")
def keyfile() -> Iterator[nm_run.Reader]:
    networkmanager.require()
    with nm_run.running(nm_run.KEYFILE) as daemon:
        yield nm_run.Reader(daemon)


def _vlan_connection(parsed: nm_run.Parsed, name: str) -> nm_terse.Connection:
    return next(c for c in parsed.connections if c.id == name)


@pytest.mark.parametrize("case", v.CASES)
def test_ifcfg_rh_reads_the_vlan(case, ifcfg_rh):
    plan, files = v.plan_of(case), _ifcfg(case)
    parsed = ifcfg_rh(files)
    assert nm_check.problems(plan, files, parsed) == []
    vlan = _vlan_connection(parsed, plan.vlan.name)
    assert (vlan["vlan.id"], vlan["vlan.parent"]) == (str(plan.vlan.id), plan.vlan.parent)


@pytest.mark.parametrize("case", v.CASES)
def test_keyfile_plugin_reads_the_vlan(case, keyfile):
    plan, files = v.plan_of(case), _keyfiles(case)
    parsed = keyfile(files)
    assert nm_check.problems(plan, files, parsed) == []
    vlan = _vlan_connection(parsed, plan.vlan.name)
    assert (vlan["vlan.id"], vlan["vlan.parent"]) == (str(plan.vlan.id), plan.vlan.parent)


@pytest.mark.parametrize(
    "path, old, new",
    [
        ("network-scripts/ifcfg-bond0.100", 'VLAN_ID="100"', 'VLAN_ID="101"'),
        ("network-scripts/ifcfg-bond0.100", 'PHYSDEV="bond0"', 'PHYSDEV="bond1"'),
        ("network-scripts/ifcfg-bond0", 'BOOTPROTO="none"', 'BOOTPROTO="dhcp"'),
    ],
)
def test_a_wrong_ifcfg_vlan_fails_the_check(path, old, new, ifcfg_rh):
    files = _ifcfg("vlan-bond")
    assert old in files[path]
    files[path] = files[path].replace(old, new)
    assert nm_check.problems(v.plan_of("vlan-bond"), files, ifcfg_rh(files))


def test_a_wrong_keyfile_vlan_fails_the_check(keyfile):
    files = _keyfiles("vlan-nic")
    files["vlan4094.nmconnection"] = files["vlan4094.nmconnection"].replace("id=4094", "id=4093")
    assert nm_check.problems(v.plan_of("vlan-nic"), files, keyfile(files))
