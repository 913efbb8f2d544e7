"""NetworkManager's ifcfg-rh plugin reads every ifcfg file the RHEL-family builder writes.

The plugin is what reads these files on RHEL 8-9, Rocky and Alma (and on 7 once
NetworkManager is switched on). Debian ships NetworkManager without it, so
support/networkmanager.py builds it from Debian's source package, and support/nm_run.py
runs it as at boot, in throw-away namespaces, with the written files bind-mounted
read-only where it looks for them. For every RHEL-family name and version and every
case: each ifcfg file becomes one connection, the plugin logs no warning and no unknown
key beyond the legacy-only ones (support/nm_check.LEGACY_ONLY_KEYS), and the values it
parsed equal the plan's. Many names give byte-identical files: NetworkManager reads each
distinct set once, every (name, version, case) is asserted. Mutated files prove the
comparison fails where NetworkManager itself stays silent.
"""

from __future__ import annotations

from collections.abc import Iterator

import nm_cases
import pytest
from nm_cases import CASES, plan_of
from support import networkmanager, nm_check, nm_run

from packetnetworking import registry
from packetnetworking.distros import rhel

IMAGE = f"networkmanager-{networkmanager.VERSION.split('-')[0]} ifcfg-rh"


def _targets() -> list[str]:
    """Every name the RHEL-family ifcfg builder is registered under, at each major version."""
    out = []
    for reg in registry.builders():
        if reg.func is not rhel.ifcfg_scripts:
            continue
        low, high = reg.versions.low, reg.versions.high
        assert low is not None and high is not None, reg  # a closed range of majors
        out += [f"{name} {major}" for name in reg.names for major in range(low[0], high[0] + 1)]
    return out


TARGETS = _targets()
# The matrix table shows each family at each major version (its other names write the
# same bytes, and are asserted all the same).
FAMILIES = ("centos", "rhel", "rocky", "almalinux", "scientific")
MATRIX_TARGETS = {t for t in TARGETS if t.split()[0] in FAMILIES}


def sysconfig_files(os_name: str, case: str) -> dict[str, str]:
    """What the tool writes under etc/sysconfig (network-scripts/..., network)."""
    return nm_cases.files(os_name, case, "etc/sysconfig")


@pytest.fixture(scope="module")
def read() -> Iterator[nm_run.Reader]:
    """One NetworkManager with ifcfg-rh for the whole module."""
    networkmanager.require()
    with nm_run.running(nm_run.IFCFG_RH) as daemon:
        yield nm_run.Reader(daemon)


def _cells() -> list:
    return [
        pytest.param(
            os_name, case,
            marks=[pytest.mark.matrix(image=IMAGE, os=os_name, mode=case, check="read")]
            if os_name in MATRIX_TARGETS else [],
        )
        for os_name in TARGETS
        for case in CASES
    ]  # fmt: skip


@pytest.mark.parametrize(("os_name", "case"), _cells())
def test_networkmanager_reads_what_the_plan_says(os_name, case, read, request):
    files = sysconfig_files(os_name, case)
    parsed = read(files)
    assert not nm_check.problems(plan_of(case), files, parsed)
    ids = ", ".join(sorted(c.id for c in parsed.connections))
    request.node.user_properties.append(("matrix_detail", f"ifcfg-rh read {ids}"))


def test_every_family_and_version_is_covered():
    # CentOS Stream 9 is configured as RHEL 9 (ifcfg); Stream 10 writes keyfiles.
    majors = {"centos": (7, 8, 9), "rhel": (7, 8, 9), "rocky": (8, 9), "almalinux": (8, 9),
              "scientific": (7,)}  # fmt: skip
    assert {f"{name} {v}" for name, versions in majors.items() for v in versions} == MATRIX_TARGETS
    assert {"redhatenterprise 9", "alma 8", "scientificcernslc 7"} <= set(TARGETS)


# ---------------------------------------------------------------------------- the check fails


def _replace(files: dict[str, str], name: str, old: str, new: str) -> dict[str, str]:
    path = f"network-scripts/{name}"
    assert old in files[path], (old, files[path])
    return {**files, path: files[path].replace(old, new)}


def _add(files: dict[str, str], name: str, line: str) -> dict[str, str]:
    path = f"network-scripts/{name}"
    return {**files, path: files[path] + line + "\n"}


# What NetworkManager accepts, often silently, and the comparison must still catch.
MUTATIONS = {
    "non-contiguous NETMASK": (
        lambda fs: _replace(fs, "ifcfg-bond0", 'PREFIX="31"', 'NETMASK="255.0.255.0"'),
        "ipv4.addresses",
    ),
    "MASTER= a missing bond": (
        lambda fs: _replace(fs, "ifcfg-enp1s0f1", 'MASTER="bond0"', 'MASTER="bond9"'),
        "connection.master",
    ),
    "GATEWAY in an alias file": (
        lambda fs: _add(fs, "ifcfg-bond0:0", 'GATEWAY="10.70.17.8"'),
        "GATEWAY",
    ),
    "wrong BONDING_OPTS mode": (
        lambda fs: _replace(fs, "ifcfg-bond0", "mode=4 ", "mode=1 "),
        "bond.options",
    ),
    "a misspelt key": (
        lambda fs: _replace(fs, "ifcfg-bond0", "IPV6_DEFAULTGW=", "IPV6_DEFAULT_GW="),
        "IPV6_DEFAULT_GW",
    ),
    "port MAC of another NIC": (
        lambda fs: _replace(fs, "ifcfg-enp1s0f1", "b4:96:91:7a:01:11", "b4:96:91:7a:01:12"),
        "mac-address",
    ),
    "bond MAC lost": (
        lambda fs: _replace(fs, "ifcfg-bond0", 'MACADDR="b4:96:91:7a:01:10"\n', ""),
        "cloned-mac-address",
    ),
    "route via another gateway": (
        lambda fs: _replace(fs, "route-bond0", 'GATEWAY0="10.70.17.8"', 'GATEWAY0="10.70.17.6"'),
        "ipv4.routes",
    ),
    "resolvers reversed": (
        lambda fs: _replace(fs, "ifcfg-bond0", "DNS1=\"147.75.207.207\"\nDNS2=\"147.75.207.208\"",
                            "DNS1=\"147.75.207.208\"\nDNS2=\"147.75.207.207\""),
        "ipv4.dns",
    ),
    "alias file lost": (
        lambda fs: {k: v for k, v in fs.items() if not k.endswith("ifcfg-bond0:0")},
        "10.70.17.9/31",
    ),
    "IPv6 off": (
        lambda fs: _replace(fs, "ifcfg-bond0", 'IPV6INIT="yes"', 'IPV6INIT="no"'),
        "ipv6.method",
    ),
    "alias DEVICE not its file's": (
        lambda fs: _replace(fs, "ifcfg-bond0:0", 'DEVICE="bond0:0"', 'DEVICE="bond0:1"'),
        "NetworkManager: ",
    ),
    "a port file lost": (
        lambda fs: {k: v for k, v in fs.items() if not k.endswith("ifcfg-enp1s0f1")},
        "'enp1s0f1': missing",
    ),
}  # fmt: skip


@pytest.mark.parametrize("mutation", MUTATIONS)
def test_a_wrong_file_fails_the_check(mutation, read):
    mutate, expected = MUTATIONS[mutation]
    files = sysconfig_files("rhel 9", "bonded")
    assert not nm_check.problems(plan_of("bonded"), files, read(files))  # the unmutated set passes
    found = nm_check.problems(plan_of("bonded"), mutate(files), read(mutate(files)))
    assert any(expected in p for p in found), found
