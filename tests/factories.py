"""Metadata documents and host NICs for tests, shaped like the real ones.

``metadata()`` builds a document like Equinix Metal's (see ../shared/metadata-samples):
public IPv4 /31, public IPv6 /127, private IPv4 /31, NICs eth0..ethN over bond0.
"""

from __future__ import annotations

import copy
import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Optional

from packetnetworking import metadata as md
from packetnetworking import plan as plan_module
from packetnetworking import planner, registry, selection
from packetnetworking.metadata import equinix
from packetnetworking.nics import HostNic
from packetnetworking.target import from_option

# Published metadata documents, verbatim; provenance in SOURCES.txt beside them.
SAMPLES = Path(__file__).parent / "data" / "metadata-samples"

RESOLVERS = ("147.75.207.207", "147.75.207.208")

PUBLIC4 = {
    "address_family": 4,
    "public": True,
    "management": True,
    "enabled": True,
    "address": "147.75.84.131",
    "cidr": 31,
    "netmask": "255.255.255.254",
    "network": "147.75.84.130",
    "gateway": "147.75.84.130",
}
PUBLIC6 = {
    "address_family": 6,
    "public": True,
    "management": True,
    "enabled": True,
    "address": "2604:1380:4641:1f00::9",
    "cidr": 127,
    "netmask": "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe",
    "network": "2604:1380:4641:1f00::8",
    "gateway": "2604:1380:4641:1f00::8",
}
PRIVATE4 = {
    "address_family": 4,
    "public": False,
    "management": True,
    "enabled": True,
    "address": "10.70.17.9",
    "cidr": 31,
    "netmask": "255.255.255.254",
    "network": "10.70.17.8",
    "gateway": "10.70.17.8",
}
ELASTIC4 = {
    "address_family": 4,
    "public": True,
    "management": False,
    "enabled": True,
    "address": "147.75.195.143",
    "cidr": 32,
    "netmask": "255.255.255.255",
    "network": "147.75.195.143",
    "gateway": "147.75.195.143",
}


def mac(i: int) -> str:
    return f"b4:96:91:7a:01:{0x10 + i:02x}"


def metadata(
    nics: int = 2,
    bonds: Optional[list[str]] = None,
    aggregation: Optional[str] = "mlag_ha",
    mode: int = 4,
    public4: bool = True,
    public6: bool = True,
    private4: bool = True,
    dhcp: bool = False,
    hostname: str = "web-1",
    plan: str = "c3.medium.x86",
    os: Optional[tuple[str, str]] = None,
    private_subnets: Optional[list[str]] = None,
) -> dict:
    """A metadata document; ``bonds`` gives each NIC's bond (default all bond0)."""
    bonds = bonds or ["bond0"] * nics
    addresses = [
        copy.deepcopy(a)
        for a, wanted in ((PUBLIC4, public4), (PUBLIC6, public6), (PRIVATE4, private4))
        if wanted
    ]
    interfaces = [{"name": f"eth{i}", "mac": mac(i), "bond": bonds[i]} for i in range(nics)]
    if dhcp:
        for iface in interfaces:
            iface["dhcp"] = True
    doc = {
        "id": "6f2b2ae6-0000-4000-8000-000000000001",
        "hostname": hostname,
        "plan": plan,
        "network": {
            "bonding": {"mode": mode, "link_aggregation": aggregation, "mac": mac(0)},
            "interfaces": interfaces,
            "addresses": addresses,
        },
    }
    if private_subnets is not None:
        doc["private_subnets"] = private_subnets
    if os:
        doc["operating_system"] = {"distro": os[0], "version": os[1], "slug": f"{os[0]}_{os[1]}"}
    return doc


def host_nics(count: int = 2, prefix: str = "enp1s0f") -> tuple[HostNic, ...]:
    return tuple(
        HostNic(name=f"{prefix}{i}", mac=mac(i), driver="ice", kernel_name=f"eth{i}")
        for i in range(count)
    )


def nics_json(count: int = 2) -> str:
    return json.dumps(
        [{"name": n.name, "mac": n.mac, "driver": n.driver} for n in host_nics(count)]
    )


def build_plan(doc: dict, nics: Optional[tuple[HostNic, ...]] = None) -> plan_module.Plan:
    document = equinix.from_dict(doc)
    nics = nics if nics is not None else host_nics(len(doc["network"]["interfaces"]))
    resolvers = md.parse_resolvers(list(RESOLVERS), "--resolvers")
    plan = planner.build(document, nics, resolvers)
    for hook in registry.hooks("plan", plan.plan_slug):
        plan = hook.func(plan)
    return plan


def render(
    os: str,
    doc: dict,
    nics: Optional[tuple[HostNic, ...]] = None,
    root: Path = Path("/nonexistent"),
):
    """The tasks a builder produces for this OS and document (pure: nothing written)."""
    plan = build_plan(doc, nics)
    target = from_option(os)
    chosen = selection.select(target, plan.mode, root)
    return chosen.builder.func(chosen.context(plan))


def files(os: str, doc: dict, nics=None, root: Path = Path("/nonexistent")) -> dict[str, str]:
    """path -> content of every Write task (EnsureLine shown as its line)."""
    out = {}
    for task in render(os, doc, nics, root):
        if hasattr(task, "content"):
            out[task.path] = task.content
        elif hasattr(task, "line"):
            out[task.path] = out.get(task.path, "") + task.line + "\n"
    return out


def _shuffled_two_bonds() -> dict:
    """Four NICs over two bonds, interfaces and addresses listed out of order."""
    doc = metadata(nics=4, bonds=["bond0", "bond1", "bond0", "bond1"])
    random.Random(4).shuffle(doc["network"]["interfaces"])
    random.Random(5).shuffle(doc["network"]["addresses"])
    return doc


# The shapes every distro's golden files cover.
CASES = {
    "bonded": metadata(),
    "two-bonds": _shuffled_two_bonds(),
    "private-only": metadata(public4=False, public6=False),
    "individual": metadata(aggregation="individual"),
    "dhcp": metadata(dhcp=True),
    "no-ipv6": metadata(public6=False, aggregation="bonded", mode=5),
}


def cli_events(tmp_path: Path, rootfs: Path, os: str, doc: Optional[dict] = None) -> list[dict]:
    """Run ``python -m packetnetworking`` on ``doc`` (default: the bonded case) with two
    NICs into ``rootfs``; return its JSON log events. A failed run fails the test."""
    (tmp_path / "md.json").write_text(json.dumps(doc or CASES["bonded"]))
    (tmp_path / "nics.json").write_text(nics_json(2))
    argv = [sys.executable, "-m", "packetnetworking", "-M", str(tmp_path / "md.json"),
            "--nics", str(tmp_path / "nics.json"), "-o", os, "--rootfs", str(rootfs),
            "--resolvers", "147.75.207.207", "--log-format", "json"]  # fmt: skip
    res = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert res.returncode == 0, res.stderr
    return [json.loads(line) for line in res.stderr.splitlines()]
