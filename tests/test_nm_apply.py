"""Applied for real: the built NetworkManager activates what the tool wrote, on veths.

In its own namespaces (support/nm_run.py), veths carry the metadata's NIC names and MACs;
NetworkManager loads the written profiles (ifcfg-rh for the RHEL family, keyfile for RHEL
10, Fedora and Debian 12's NetworkManager backend) and brings them up by itself, as at
boot (autoconnect). Then `ip -j addr` / `ip -j route` must show exactly the plan's
addresses (the private one labelled as the ifcfg alias), the default routes and the
private-subnet routes, and nothing on the NIC the plan leaves alone. Bonded mode needs the
kernel's bonding driver: where /sys/module/bonding is missing the test says so and skips.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Optional

import nm_cases
import pytest
from support import networkmanager, nm_run

from packetnetworking.plan import Plan

IFCFG_TARGETS = ("centos 7", "centos 8", "rhel 7", "rhel 8", "rhel 9", "rocky 8", "rocky 9",
                 "almalinux 8", "almalinux 9", "scientific 7")  # fmt: skip
KEYFILE_TARGETS = {"rhel 10": None, "fedora 40": None, "debian 12": "networkmanager"}
VERSION = networkmanager.VERSION.split("-")[0]
SETTLE = 10  # seconds


def _files(os_name: str, case: str) -> tuple[str, dict[str, str]]:
    if os_name in KEYFILE_TARGETS:
        directory, backend = "etc/NetworkManager/system-connections", KEYFILE_TARGETS[os_name]
        return nm_run.KEYFILE, nm_cases.files(os_name, case, directory, backend=backend)
    return nm_run.IFCFG_RH, nm_cases.files(os_name, case, "etc/sysconfig")


def _cells() -> list:
    out = []
    for os_name in (*IFCFG_TARGETS, *KEYFILE_TARGETS):
        plugin = nm_run.KEYFILE if os_name in KEYFILE_TARGETS else nm_run.IFCFG_RH
        image = f"networkmanager-{VERSION} {plugin}"
        for case in ("individual", "bonded"):
            mark = pytest.mark.matrix(image=image, os=os_name, mode=case, check="apply")
            out.append(pytest.param(os_name, case, marks=mark))
    return out


def require_bonding(case: str) -> None:
    if nm_cases.plan_of(case).bonds and not Path("/sys/module/bonding").exists():
        # Not a missing package: this kernel has no bonding driver, in CI too.
        pytest.skip("bonds cannot be created here: this kernel has no bonding driver "
                    "(/sys/module/bonding is missing)")  # fmt: skip


_applied: dict[tuple[str, str], dict[str, Any]] = {}


def apply(os_name: str, case: str) -> dict[str, Any]:
    """The namespace's `ip` state once NetworkManager has activated the written files
    (one activation per distinct set of files: many names write the same bytes)."""
    plugin, files = _files(os_name, case)
    key = (plugin, repr(sorted(files.items())))
    if key not in _applied:
        plan = nm_cases.plan_of(case)
        with nm_run.running(plugin) as daemon:
            for i, nic in enumerate(plan.nics):
                daemon.add_veth(nic.name, nic.mac, f"pnpeer{i}")
            daemon.load(files)
            daemon.wait_connected([plan.link] if plan.link else [])
            _applied[key] = _settled(daemon, plan, label_alias=plugin == nm_run.IFCFG_RH)
    return _applied[key]


def _settled(daemon: nm_run.NMDaemon, plan: Plan, label_alias: bool) -> dict[str, Any]:
    """The state once it matches the plan, or after SETTLE seconds: "connected" can come
    before the last route is in (IPv6 may complete after IPv4)."""
    deadline = time.monotonic() + SETTLE
    while True:
        state = daemon.state()
        if not differences(plan, state, label_alias) or time.monotonic() > deadline:
            return state
        time.sleep(0.2)


@pytest.mark.parametrize(("os_name", "case"), _cells())
def test_networkmanager_brings_up_exactly_the_plan(os_name, case, request):
    networkmanager.require()
    require_bonding(case)
    plan = nm_cases.plan_of(case)
    state = apply(os_name, case)
    assert not differences(plan, state, label_alias=_files(os_name, case)[0] == nm_run.IFCFG_RH)
    shown = sorted(a for link in state["addr"] for a in _global(link))
    request.node.user_properties.append(("matrix_detail", f"up: {', '.join(shown)}"))


# ---------------------------------------------------------------------------- the comparison


def _global(link: dict[str, Any]) -> set[str]:
    return {f"{a['local']}/{a['prefixlen']}" for a in link.get("addr_info", [])
            if a.get("scope") == "global"}  # fmt: skip


def differences(plan: Plan, state: dict[str, Any], label_alias: bool) -> list[str]:
    """How the namespace's addresses and routes differ from the plan (empty: they agree)."""
    out = []
    links = {link["ifname"]: link for link in state["addr"]}
    wanted = {ip.cidr for ip in plan.addresses}
    for name, link in links.items():
        got = _global(link)
        expect = wanted if name == plan.link else set()
        if got != expect:
            out.append(f"{name}: addresses {sorted(got)} != {sorted(expect)}")
    if plan.link not in links:
        return [*out, f"{plan.link}: no such link"]
    for bond in plan.bonds:  # each port enslaved to its bond
        for member in bond.members:
            if links.get(member, {}).get("master") != bond.name:
                out.append(f"{member}: master {links.get(member, {}).get('master')!r}")
    alias = plan.alias4
    if alias and label_alias:  # ifcfg-rh labels the address of `link:0` as the alias
        labels = {a["local"]: a.get("label") for a in links[plan.link].get("addr_info", [])}
        if labels.get(str(alias.address)) != f"{plan.link}:0":
            out.append(f"{alias.address}: label {labels.get(str(alias.address))!r}")
    routes4 = {(r["dst"], r.get("gateway"), r.get("dev")) for r in state["route4"]
               if "gateway" in r}  # fmt: skip
    expect4 = {(str(r.destination), str(r.gateway), plan.link) for r in plan.routes}
    if plan.primary4 and plan.primary4.gateway:
        expect4.add(("default", str(plan.primary4.gateway), plan.link))
    if routes4 != expect4:
        out.append(f"IPv4 routes via a gateway {sorted(routes4)} != {sorted(expect4)}")
    routes6 = {(r["dst"], r.get("gateway"), r.get("dev")) for r in state["route6"]
               if "gateway" in r}  # fmt: skip
    expect6 = set()
    if plan.public6 and plan.public6.gateway:
        expect6.add(("default", str(plan.public6.gateway), plan.link))
    if routes6 != expect6:
        out.append(f"IPv6 routes via a gateway {sorted(routes6)} != {sorted(expect6)}")
    return out


def _state_of(plan: Plan, addresses: Optional[dict[str, list[str]]] = None) -> dict[str, Any]:
    """An `ip -j` state built by hand: what the plan's config looks like once up."""
    addresses = addresses or {plan.link: [ip.cidr for ip in plan.addresses]}
    addr = []
    for nic in plan.nics:
        infos = []
        for cidr in addresses.get(nic.name, []):
            local, prefix = cidr.split("/")
            alias = plan.alias4 and local == str(plan.alias4.address)
            label = f"{nic.name}:0" if alias else nic.name
            infos.append({"local": local, "prefixlen": int(prefix), "scope": "global",
                          "label": label})  # fmt: skip
        addr.append({"ifname": nic.name, "addr_info": infos})
    route4 = [{"dst": "default", "gateway": str(plan.primary4.gateway), "dev": plan.link}]
    route4 += [{"dst": str(r.destination), "gateway": str(r.gateway), "dev": plan.link}
               for r in plan.routes]  # fmt: skip
    route6 = [{"dst": "default", "gateway": str(plan.public6.gateway), "dev": plan.link}]
    return {"addr": addr, "route4": route4, "route6": route6}


def test_the_comparison_fails_on_a_wrong_state():
    """The hand-built state passes; each wrong variant of it fails."""
    plan = nm_cases.plan_of("individual")
    assert not differences(plan, _state_of(plan), label_alias=True)
    link = plan.link
    missing_alias = {link: [plan.primary4.cidr, plan.public6.cidr]}
    assert differences(plan, _state_of(plan, missing_alias), label_alias=True)
    on_both = {link: [ip.cidr for ip in plan.addresses], "enp1s0f1": ["10.70.17.9/31"]}
    assert differences(plan, _state_of(plan, on_both), label_alias=True)
    no_route = _state_of(plan)
    no_route["route4"] = no_route["route4"][:1]
    assert differences(plan, no_route, label_alias=True)
    no_default6 = {**_state_of(plan), "route6": []}
    assert differences(plan, no_default6, label_alias=True)
    unlabelled = _state_of(plan)
    for info in unlabelled["addr"][0]["addr_info"]:
        info["label"] = link
    assert differences(plan, unlabelled, label_alias=True)
    assert not differences(plan, unlabelled, label_alias=False)


def test_bonding_skip_names_the_driver(monkeypatch):
    if os.path.exists("/sys/module/bonding"):
        pytest.skip("this kernel has the bonding driver: bonded mode is applied for real")
    with pytest.raises(pytest.skip.Exception, match="no bonding driver"):
        require_bonding("bonded")
