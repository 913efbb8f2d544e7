"""Plan quirks carried over from the old installer, keyed by plan slug."""

from __future__ import annotations

import attrs

from packetnetworking.plan import Plan
from packetnetworking.registry import hook


@hook("plan", plans=("baremetal_1e", "x1.small.x86"))
def first_nic_only(plan: Plan) -> Plan:
    """These plans cable one NIC only: a bond over the others would never come up."""
    return plan.with_nics(plan.nics[:1])


@hook("plan", plans=("baremetal_hua",))
def kernel_names(plan: Plan) -> Plan:
    """These machines keep the kernel's names (eth0): udev's predictable names are off."""
    return plan.with_nics(
        tuple(attrs.evolve(nic, name=nic.kernel_name or nic.name) for nic in plan.nics)
    )
