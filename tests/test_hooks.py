"""The plan quirks of the old installer, as hooks keyed by plan slug."""

from __future__ import annotations

import factories as f

from packetnetworking import registry


def test_single_nic_plans_keep_only_the_first_nic():
    for slug in ("baremetal_1e", "x1.small.x86"):
        p = f.build_plan(f.metadata(nics=2, plan=slug, mode=5))
        assert [n.name for n in p.nics] == ["enp1s0f0"]
        assert p.bonds[0].members == ("enp1s0f0",) and p.bonds[0].mode == 5


def test_other_plans_keep_every_nic():
    assert len(f.build_plan(f.metadata(nics=2, plan="c3.medium.x86")).nics) == 2


def test_hua_uses_kernel_names():
    p = f.build_plan(f.metadata(nics=2, plan="baremetal_hua"))
    assert [n.name for n in p.nics] == ["eth0", "eth1"]
    assert p.bonds[0].members == ("eth0", "eth1")
    text = f.files("debian 12", f.metadata(plan="baremetal_hua"))["etc/network/interfaces"]
    assert "bond-slaves eth0 eth1" in text and "enp1s0f0" not in text


def test_hooks_register_by_plan():
    names = {h.func.__name__ for h in registry.hooks("plan", "baremetal_hua")}
    assert names == {"kernel_names"}
    assert registry.hooks("plan", "c3.medium.x86") == []
