"""NetworkManager's keyfile plugin, running as at boot, reads every keyfile the tool writes.

tests/test_networkmanager.py reads the profiles with libnm's keyfile reader; here the
daemon itself (the same build as test_nm_ifcfg's, `plugins=keyfile`) loads them from its
compiled-in system-connections directory, and what it parsed must equal the plan, by the
same comparison as ifcfg-rh's (support/nm_check.py): both readers agree with the plan.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import nm_cases
import pytest
from nm_cases import CASES, plan_of
from support import networkmanager, nm_check, nm_run

DIRECTORY = "etc/NetworkManager/system-connections"
IMAGE = f"networkmanager-{networkmanager.VERSION.split('-')[0]} keyfile"

# Each distro that writes keyfiles, with the --backend that makes it (None: its default).
TARGETS = {
    "rhel 10": None,
    "rocky 10": None,
    "almalinux 10": None,
    "fedora 40": None,
    "debian 12": "networkmanager",
    # 8-9 without the network-scripts package write keyfiles (docs/systems.md, backends).
    "rocky 9": "networkmanager",
}


def keyfiles(os_name: str, case: str) -> dict[str, str]:
    return nm_cases.files(os_name, case, DIRECTORY, backend=TARGETS[os_name])


@pytest.fixture(scope="module")
def read() -> Iterator[nm_run.Reader]:
    networkmanager.require()
    with nm_run.running(nm_run.KEYFILE) as daemon:
        yield nm_run.Reader(daemon)


@pytest.mark.parametrize(
    ("os_name", "case"),
    [
        pytest.param(os_name, case, marks=pytest.mark.matrix(
            image=IMAGE, os=os_name, mode=case, check="read"))
        for os_name in TARGETS
        for case in CASES
    ],
)  # fmt: skip
def test_networkmanager_reads_what_the_plan_says(os_name, case, read, request):
    files = keyfiles(os_name, case)
    assert files, "no keyfile written"
    parsed = read(files)
    assert not nm_check.problems(plan_of(case), files, parsed)
    ids = ", ".join(sorted(c.id for c in parsed.connections))
    request.node.user_properties.append(("matrix_detail", f"keyfile plugin read {ids}"))


MUTATIONS = {
    "wrong bond mode": ("bond0.nmconnection", "mode=802.3ad", "mode=balance-rr", "bond.options"),
    "port of another bond": ("enp1s0f1.nmconnection", "master=bond0", "master=bond9", "master"),
    "private address lost": ("bond0.nmconnection", "address2=10.70.17.9/31\n", "", "10.70.17.9"),
    "no route": ("bond0.nmconnection", "route1=10.0.0.0/8,10.70.17.8\n", "", "ipv4.routes"),
    "misspelt key": ("bond0.nmconnection", "cloned-mac-address=", "cloned-mac-adress=", "mac"),
}


@pytest.mark.parametrize("mutation", MUTATIONS)
def test_a_wrong_file_fails_the_check(mutation, read):
    name, old, new, expected = MUTATIONS[mutation]
    files = keyfiles("rhel 10", "bonded")
    assert not nm_check.problems(plan_of("bonded"), files, read(files))
    assert old in files[name]
    mutated = {**files, name: files[name].replace(old, new)}
    found = nm_check.problems(plan_of("bonded"), mutated, read(mutated))
    assert any(expected in p for p in found), found


# ---------------------------------------------------------------------------- unmanaged NICs

CONF_D = "etc/NetworkManager/conf.d"
# What an image's own NetworkManager.conf may already leave unmanaged: it must stay so.
IMAGE_CONF = "[main]\nplugins=keyfile\n\n[keyfile]\nunmanaged-devices=interface-name:eth9\n"
_UNMANAGED_LINE = re.compile(r"^unmanaged-devices=(.*)$", re.M)


def unmanaged_specs(conf_d: dict[str, str], tmp_path: Path) -> list[str]:
    """The daemon's own merge of the image's configuration and the tool's drop-ins
    (`NetworkManager --print-config`, as at start), as the list it will match devices by."""
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "system").mkdir()
    for name, text in conf_d.items():
        (tmp_path / "conf.d" / name).write_text(text)
    (tmp_path / "NetworkManager.conf").write_text(IMAGE_CONF)
    prefix = networkmanager.build_networkmanager()
    done = subprocess.run(
        [str(networkmanager.daemon(prefix)), "--print-config",
         f"--config={tmp_path / 'NetworkManager.conf'}", f"--config-dir={tmp_path / 'conf.d'}",
         f"--system-config-dir={tmp_path / 'system'}",
         f"--intern-config={tmp_path / 'intern.conf'}"],
        capture_output=True, text=True, timeout=60,
        env={"LD_LIBRARY_PATH": str(prefix / "lib"), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr
    found = _UNMANAGED_LINE.findall(done.stdout)
    assert len(found) == 1, done.stdout
    return [spec for spec in re.split("[,;]", found[0]) if spec]


@pytest.mark.parametrize("os_name", TARGETS)
@pytest.mark.parametrize("case", CASES)
def test_networkmanager_leaves_alone_every_nic_without_a_profile(os_name, case, tmp_path):
    """Each host NIC either has a profile that names its MAC or is unmanaged by its MAC,
    never both, and what the image left unmanaged stays so. Otherwise NetworkManager
    gives the NIC its automatic DHCP profile and wait-online waits for it at every boot."""
    networkmanager.require()
    plan = plan_of(case)
    profiles = keyfiles(os_name, case)
    conf_d = nm_cases.files(os_name, case, CONF_D, backend=TARGETS[os_name])
    specs = unmanaged_specs(conf_d, tmp_path)
    assert specs[0] == "interface-name:eth9", specs
    with_profile = {m.lower() for t in profiles.values() for m in _MAC_LINE.findall(t)}
    for nic in (*plan.nics, *plan.spare_nics):
        unmanaged = f"mac:{nic.mac}" in specs
        assert unmanaged != (nic.mac in with_profile), (nic.name, specs, sorted(with_profile))
    assert all(spec.startswith("mac:") for spec in specs[1:]), specs


_MAC_LINE = re.compile(r"^mac-address=(\S+)$", re.M)
