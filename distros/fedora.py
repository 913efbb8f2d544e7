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

BACKENDS = backends.Table.of({"*": (backends.NETWORKMANAGER,)})


@distro("fedora", versions="38+")
@backends.offers(BACKENDS)
def fedora(ctx: Context) -> list[Task]:
    return backends.native_files(ctx, backends.choose(ctx, BACKENDS))


@distro("almalinux", versions="10+")
@distro("centos", versions="10+")
@distro("rocky", versions="10+")
@distro("rhel", versions="10+")
@backends.offers(BACKENDS)
def rhel10(ctx: Context) -> list[Task]:
    return backends.native_files(ctx, backends.choose(ctx, BACKENDS))
