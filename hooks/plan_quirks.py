"""Plan quirks carried over from the old installer: by plan slug, or for every plan."""

from __future__ import annotations

import attrs

from packetnetworking import planner
from packetnetworking.plan import Plan
from packetnetworking.registry import hook


@hook("plan", plans=("baremetal_1e", "x1.small.x86"))
def first_nic_only(plan: Plan) -> Plan:
    """These plans cable one NIC only: a bond over the others would never come up."""
    return planner.with_nics(plan, plan.nics[:1])


@hook("plan", plans=("baremetal_hua",))
def kernel_names(plan: Plan) -> Plan:
    """These machines keep the kernel's names (eth0): udev's predictable names are off."""
    return planner.with_nics(
        plan, tuple(attrs.evolve(nic, name=nic.kernel_name or nic.name) for nic in plan.nics)
    )


# The old tool's delay, in seconds, before each bond member but the first comes up.
MEMBER_DELAY = 4


@hook("plan")
def bond_member_delay(plan: Plan) -> Plan:
    """Every plan: bond members after the first join their bond 4 s late.

    The old installer did so from its first version (``pre-up sleep 4`` in ENI, ``sleep
    4`` in RHEL's ifup-pre-local), learned on the real switches; nothing here can prove it
    unnecessary. Removing this hook drops it everywhere at once.
    """
    return attrs.evolve(plan, member_delay=MEMBER_DELAY)
