"""What the target root filesystem shows about its network tools.

Only looking: paths are resolved inside ``--rootfs`` as the target would see them
(``sbin -> usr/sbin`` and the like) and tested for existence; nothing from the rootfs is
ever executed or read beyond a symlink's target. A service counts as enabled when an
enablement link (``*.wants/NAME.service``) exists, which is what ``systemctl enable``
and presets leave in an image.
"""

from __future__ import annotations

import os
import posixpath
from typing import Optional

from . import fileio, rootfs
from .errors import WriteFailed

IFUPDOWN, NETPLAN, NETWORKMANAGER = "ifupdown", "netplan", "NetworkManager"
NETWORK_SCRIPTS, NETWORKD, WICKED = "network-scripts", "systemd-networkd", "wicked"

# Each tool and the paths (any one suffices) that show it installed.
PROBES: dict[str, tuple[str, ...]] = {
    # ifquery: ifupdown, ifupdown2 and ifupdown-ng all ship it (Debian's ifupdown-ng only
    # as ifquery-ng, with its own ifparse); RHEL's network-scripts ship an ifup too, so
    # ifup alone would not tell the two apart.
    IFUPDOWN: ("usr/sbin/ifquery", "sbin/ifquery", "usr/sbin/ifparse", "sbin/ifparse"),
    NETPLAN: (
        "usr/sbin/netplan",
        "usr/lib/systemd/system-generators/netplan",
        "lib/systemd/system-generators/netplan",
    ),
    NETWORKMANAGER: ("usr/sbin/NetworkManager",),
    NETWORK_SCRIPTS: ("etc/rc.d/init.d/network", "etc/sysconfig/network-scripts/ifup-eth"),
    NETWORKD: ("usr/lib/systemd/systemd-networkd", "lib/systemd/systemd-networkd"),
    WICKED: ("usr/sbin/wicked", "sbin/wicked"),
}

# Tools that do nothing unless their service is enabled, and that service.
SERVICES = {NETWORKMANAGER: "NetworkManager.service", NETWORKD: "systemd-networkd.service"}
_UNIT_DIRS = ("etc/systemd/system", "usr/lib/systemd/system", "lib/systemd/system")

# Where systemd-resolved keeps the files an etc/resolv.conf symlink points at.
RESOLVED_FILES = (
    "/run/systemd/resolve/stub-resolv.conf",
    "/run/systemd/resolve/resolv.conf",
    "/usr/lib/systemd/resolv.conf",
    "/lib/systemd/resolv.conf",
)


class Findings:
    """``installed``: (tool, the path that shows it), in PROBES order; ``enabled``: (tool,
    its enablement link); ``resolv_conf_link``: where etc/resolv.conf points, if it is a
    symlink."""

    __slots__ = ("installed", "enabled", "resolv_conf_link")

    def __init__(
        self,
        installed: tuple[tuple[str, str], ...],
        enabled: tuple[tuple[str, str], ...],
        resolv_conf_link: Optional[str],
    ) -> None:
        self.installed, self.enabled, self.resolv_conf_link = installed, enabled, resolv_conf_link

    def has(self, tool: str) -> bool:
        return tool in dict(self.installed)

    def found(self, tool: str) -> Optional[str]:
        """The path that shows ``tool`` installed (the first of its PROBES there)."""
        return dict(self.installed).get(tool)

    def is_enabled(self, tool: str) -> bool:
        return tool in dict(self.enabled)

    @property
    def resolved_stub(self) -> bool:
        """etc/resolv.conf is systemd-resolved's: writing through it would be lost."""
        if self.resolv_conf_link is None:
            return False
        return posixpath.normpath(posixpath.join("/etc", self.resolv_conf_link)) in RESOLVED_FILES

    def summary(self) -> str:
        """One line for the log: what was found, where."""
        enabled = dict(self.enabled)
        parts = []
        for tool, path in self.installed:
            state = ""
            if tool in SERVICES:
                state = f", enabled by /{enabled[tool]}" if tool in enabled else ", not enabled"
            parts.append(f"{tool} (/{path}{state})")
        if self.resolv_conf_link is not None:
            parts.append(f"/etc/resolv.conf -> {self.resolv_conf_link}")
        return "; ".join(parts) or "no network tool"


def look(root: fileio.StrPath) -> Findings:
    try:
        fs = rootfs.Root(root)
    except WriteFailed:
        return Findings((), (), None)  # no rootfs (a dry run into nothing): nothing found
    with fs:
        installed = []
        for tool, paths in PROBES.items():
            found = next((p for p in paths if _exists(fs, p)), None)
            if found is not None:
                installed.append((tool, found))
        enabled = []
        for tool, service in SERVICES.items():
            link = _enablement_link(fs, service)
            if link is not None:
                enabled.append((tool, link))
        return Findings(tuple(installed), tuple(enabled), _resolv_conf_link(fs))


def _exists(fs: rootfs.Root, relpath: str) -> bool:
    try:
        return fs.kind(relpath) is not None
    except (WriteFailed, OSError):  # a link that climbs out or loops shows nothing
        return False


def _enablement_link(fs: rootfs.Root, service: str) -> Optional[str]:
    """The first ``*.wants/SERVICE`` link in the target's unit directories."""
    for unit_dir in _UNIT_DIRS:
        try:
            directory = fs.directory(unit_dir)
            if directory is None:
                continue
            wants = sorted(d for d in os.listdir(directory) if d.endswith(".wants"))
        except (WriteFailed, OSError):
            continue
        # The link itself is the evidence. Its target is a path inside the target, so it
        # must not be followed from here (glob would, and look on this host instead):
        # the .wants directory is resolved inside the rootfs, the link only lstat'ed.
        for name in wants:
            try:
                where = fs.locate(f"{unit_dir}/{name}/{service}", follow=False)
                if not where.missing and fileio.lexists(fs.dir_fd(where.dir), where.name):
                    return f"{unit_dir}/{name}/{service}"
            except (WriteFailed, OSError):
                continue
    return None


def _resolv_conf_link(fs: rootfs.Root) -> Optional[str]:
    try:
        where = fs.locate("etc/resolv.conf", follow=False)
        if where.missing:
            return None
        return os.readlink(where.name, dir_fd=fs.dir_fd(where.dir))
    except (WriteFailed, OSError):  # missing, or not a symlink (EINVAL)
        return None
