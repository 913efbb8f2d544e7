"""Fedora (38 and later) and RHEL, CentOS Stream, Rocky Linux and AlmaLinux 10: NetworkManager
keyfiles.

These releases have no network scripts at all, and NetworkManager 1.42 or later reads
keyfiles natively. RHEL and its rebuilds 7-9 are in rhel.py; their aliases
(``redhatenterprise``, ``alma``...) are registered there and reach these builders too,
since the registry maps a name to a family and the family to every range of it.
"""

from __future__ import annotations

from packetnetworking import backends
from packetnetworking.registry import Context, distro
from packetnetworking.tasks import Task


@distro("fedora", versions="38+", backends=(backends.NETWORKMANAGER,))
def fedora(ctx: Context) -> list[Task]:
    return backends.native_files(ctx.plan, ctx.choice)


@distro("almalinux", versions="10+", backends=(backends.NETWORKMANAGER,))
@distro("centos", versions="10+", backends=(backends.NETWORKMANAGER,))
@distro("rocky", versions="10+", backends=(backends.NETWORKMANAGER,))
@distro("rhel", versions="10+", backends=(backends.NETWORKMANAGER,))
def rhel10(ctx: Context) -> list[Task]:
    return backends.native_files(ctx.plan, ctx.choice)
