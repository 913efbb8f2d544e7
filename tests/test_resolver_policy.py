"""The resolver policy (docs/systems.md "Which config format", last paragraph) in every family.

A plain etc/resolv.conf (or none) is written. A symlinked one belongs to its owner and
nothing is written through it (it would land in the image's /run, gone at boot): for
systemd-resolved's stub the servers go into the backend's own DNS keys, or else into
etc/systemd/resolved.conf; any other owner gets them from the backend's keys (ENI's
dns-nameservers for resolvconf, ifcfg's DNSn, NetworkManager's dns=, netplan's
nameservers, networkd's DNS=, netconfig's NETCONFIG_DNS_STATIC_SERVERS); Alpine's
ifupdown-ng has no DNS keys, so its resolvconf (openresolv) gets ``name_servers``.

Each case is a real run of the CLI on a rootfs whose etc/resolv.conf is a link into its
own /run: the link must still be there, unchanged, nothing may exist under /run, and the
servers must be where the policy says. Where a consumer can read the result here, it
does: openresolv's config and the ifcfg files are shell, sourced by a real shell.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Optional

import backend_cases as cases
import factories as f
import pytest

STUB = "../run/systemd/resolve/stub-resolv.conf"
OTHER = "../run/resolvconf/resolv.conf"  # resolvconf's; NetworkManager's is alike
SERVERS = " ".join(f.RESOLVERS)
RESOLVED = "etc/systemd/resolved.conf"
IFCFG_BOND = "etc/sysconfig/network-scripts/ifcfg-bond0"
NM_BOND = "etc/NetworkManager/system-connections/bond0.nmconnection"
NETPLAN = "etc/netplan/90-packet.yaml"
NETWORKD_BOND = "etc/systemd/network/10-packet-bond0.network"
ENI = "etc/network/interfaces"
SUSE_CONFIG = "etc/sysconfig/network/config"
OPENRESOLV = "etc/resolvconf.conf"

# (-o, --backend, {link: (the file that must carry the servers, resolver files written)})
# "resolver files": every written path with "resolv" in it; the link itself is never one.
POLICY = [
    ("debian 12", "eni", {STUB: (RESOLVED, {RESOLVED}), OTHER: (ENI, set())}),
    ("debian 12", "netplan", {STUB: (NETPLAN, set()), OTHER: (NETPLAN, set())}),
    ("debian 12", "networkmanager", {STUB: (NM_BOND, set()), OTHER: (NM_BOND, set())}),
    ("debian 12", "networkd", {STUB: (NETWORKD_BOND, set()), OTHER: (NETWORKD_BOND, set())}),
    ("ubuntu 22.04", "eni", {STUB: (RESOLVED, {RESOLVED}), OTHER: (RESOLVED, {RESOLVED})}),
    ("ubuntu 22.04", "netplan", {STUB: (NETPLAN, set()), OTHER: (NETPLAN, set())}),
    ("rhel 7", None, {STUB: (RESOLVED, {RESOLVED}), OTHER: (IFCFG_BOND, set())}),
    ("rhel 8", "ifcfg", {STUB: (RESOLVED, {RESOLVED}), OTHER: (IFCFG_BOND, set())}),
    ("rhel 8", "networkmanager", {STUB: (NM_BOND, set()), OTHER: (NM_BOND, set())}),
    ("rocky 9", "ifcfg", {STUB: (RESOLVED, {RESOLVED}), OTHER: (IFCFG_BOND, set())}),
    ("almalinux 9", "networkmanager", {STUB: (NM_BOND, set()), OTHER: (NM_BOND, set())}),
    ("centos 7", None, {STUB: (RESOLVED, {RESOLVED}), OTHER: (IFCFG_BOND, set())}),
    ("rhel 10", None, {STUB: (NM_BOND, set()), OTHER: (NM_BOND, set())}),
    ("fedora 40", None, {STUB: (NM_BOND, set()), OTHER: (NM_BOND, set())}),
    ("alpine 3.20", None, {STUB: (RESOLVED, {RESOLVED}), OTHER: (OPENRESOLV, {OPENRESOLV})}),
    ("sles 15", None, {STUB: (SUSE_CONFIG, set()), OTHER: (SUSE_CONFIG, set())}),
    ("opensuse 15", None, {STUB: (SUSE_CONFIG, set()), OTHER: (SUSE_CONFIG, set())}),
    ("flatcar stable", None, {STUB: (NETWORKD_BOND, set()), OTHER: (NETWORKD_BOND, set())}),
    ("archlinux", None, {STUB: (NETWORKD_BOND, set()), OTHER: (NETWORKD_BOND, set())}),
]
CASES = [
    pytest.param(system, backend, link, *where, id=f"{system}-{backend}-{link.split('/')[2]}")
    for system, backend, links in POLICY
    for link, where in links.items()
]


def _written(root: Path) -> dict[str, bytes]:
    out = {}
    for directory, _, names in os.walk(root):
        for name in names:
            path = Path(directory, name)
            if not path.is_symlink():
                out[str(path.relative_to(root))] = path.read_bytes()
    return out


@pytest.mark.parametrize("system, backend, link, carrier, resolver_files", CASES)
def test_a_symlinked_resolv_conf_is_never_written_through(
    tmp_path: Path, system: str, backend: Optional[str], link: str, carrier: str,
    resolver_files: set,
):  # fmt: skip
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    os.symlink(link, root / "etc/resolv.conf")
    extra = ("--backend", backend) if backend else ()
    proc, _ = cases.run_cli(tmp_path, root, system, *extra)
    assert proc.returncode == 0, proc.stderr
    assert os.readlink(root / "etc/resolv.conf") == link, "the link was replaced"
    assert not (root / "run").exists(), "something was written through the link"
    written = _written(root)
    assert {p for p in written if "resolv" in p} == resolver_files
    for server in f.RESOLVERS:
        assert server.encode() in written[carrier], f"{server} is not in /{carrier}"


@pytest.mark.parametrize("system, backend", [(s, b) for s, b, _ in POLICY])
def test_a_plain_resolv_conf_is_written(tmp_path: Path, system: str, backend: Optional[str]):
    """The other half of the policy: no link, and the distro's resolv.conf is written
    (Ubuntu with ifupdown and SUSE never write it: resolved's and netconfig's)."""
    never = (system.startswith("ubuntu") and backend == "eni") or system.startswith(
        ("sles", "opensuse")
    )
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    extra = ("--backend", backend) if backend else ()
    proc, _ = cases.run_cli(tmp_path, root, system, *extra)
    assert proc.returncode == 0, proc.stderr
    resolv = root / "etc/resolv.conf"
    if never:
        assert not resolv.exists()
    else:
        assert resolv.read_text().endswith(
            "".join(f"nameserver {server}\n" for server in f.RESOLVERS)
        )


def _sourced(path: Path, variable: str, *shell: str) -> str:
    """What a shell makes of ``variable`` after sourcing ``path``, as openresolv and the
    network scripts do."""
    proc = subprocess.run(
        ["env", "-i", *shell, "-c", f'. "$1" && printf %s "${variable}"', "sh", str(path)],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    return proc.stdout


def test_openresolv_reads_the_alpine_servers(tmp_path: Path):
    """Sourced by busybox sh, as Alpine's openresolv sources etc/resolvconf.conf; an
    existing setting is replaced in place, the rest of the file kept."""
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    os.symlink(OTHER, root / "etc/resolv.conf")
    (root / OPENRESOLV).write_text('# the image\'s own\nname_servers="9.9.9.9"\nsearch_domains=x\n')
    proc, _ = cases.run_cli(tmp_path, root, "alpine 3.20")
    assert proc.returncode == 0, proc.stderr
    conf = root / OPENRESOLV
    assert _sourced(conf, "name_servers", "/bin/busybox", "sh") == SERVERS
    assert conf.read_text() == (f'# the image\'s own\nname_servers="{SERVERS}"\nsearch_domains=x\n')


def test_the_network_scripts_read_the_ifcfg_servers(tmp_path: Path):
    """With a link to another owner, RHEL's servers are the ifcfg file's DNSn, which
    the network scripts (bash) and NetworkManager's ifcfg-rh read."""
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    os.symlink(OTHER, root / "etc/resolv.conf")
    proc, _ = cases.run_cli(tmp_path, root, "rhel 8", "--backend", "ifcfg")
    assert proc.returncode == 0, proc.stderr
    read = [_sourced(root / IFCFG_BOND, f"DNS{i}", "/bin/bash") for i in (1, 2)]
    assert read == list(f.RESOLVERS)
