"""Files that nearly every distro writes the same way: the tasks for them.

Builders pick what they need; a distro that differs writes its own version instead.
"""

from __future__ import annotations

from .plan import Plan
from .render import render
from .tasks import EnsureLine, Task, Write


def hostname(plan: Plan) -> Task:
    return Write("etc/hostname", plan.hostname + "\n")


def hosts(plan: Plan) -> Task:
    return Write("etc/hosts", render("hosts.j2", plan=plan))


def resolv_conf(plan: Plan) -> Task:
    return Write("etc/resolv.conf", render("resolv.conf.j2", plan=plan))


def resolved_conf(plan: Plan) -> Task:
    """systemd-resolved's own file, for targets whose resolv.conf is its stub."""
    return Write("etc/systemd/resolved.conf", render("resolved.conf.j2", plan=plan))


def udev_names(plan: Plan) -> Task:
    """Pin each NIC's OS name to its MAC, so a kernel or firmware update keeps the names."""
    return Write(
        "etc/udev/rules.d/70-persistent-net.rules",
        render("persistent-net.rules.j2", plan=plan),
    )


def bonding_module(plan: Plan, path: str = "etc/modules") -> list[Task]:
    """Load the bonding driver at boot; one line, however often we run."""
    return [EnsureLine(path, "bonding")] if plan.bonds else []
