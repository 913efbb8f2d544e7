"""The host's NICs: discovered from sysfs and udev, or read from a ``--nics`` file.

The metadata names NICs ``eth0``, ``eth1``...; the target OS names them after their
slot or path. The only link between the two is the MAC address.
"""

from __future__ import annotations

import json
import os
from typing import Optional, Union

import attrs

from .errors import InvalidMetadata, UsageError
from .validators import IFNAME, MAC

# udev's names in order of preference: the same order systemd's 99-default.link uses.
_UDEV_NAME_KEYS = ("ID_NET_NAME_ONBOARD", "ID_NET_NAME_SLOT", "ID_NET_NAME_PATH", "ID_NET_NAME_MAC")


@attrs.frozen
class HostNic:
    name: str
    mac: str
    driver: Optional[str] = None
    # The name the installer's kernel gave it (eth0); some plans want that one.
    kernel_name: Optional[str] = None


def load(path: str) -> tuple[HostNic, ...]:
    """Read a ``--nics`` JSON list: ``[{"name": ..., "mac": ..., "driver": ...}]``."""
    try:
        with open(path, encoding="utf-8") as f:
            raw = json.loads(f.read())
    except OSError as exc:
        raise UsageError(f"--nics {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise InvalidMetadata("--nics", path, f"is not JSON ({exc})") from None
    if not isinstance(raw, list):
        raise InvalidMetadata("--nics", path, "must be a JSON list of NICs")
    return tuple(_nic(item, f"--nics[{i}]") for i, item in enumerate(raw))


def _nic(item: object, path: str) -> HostNic:
    if not isinstance(item, dict):
        raise InvalidMetadata(path, item, "must be an object with name and mac")
    name, mac, driver = item.get("name"), item.get("mac"), item.get("driver")
    if not isinstance(name, str) or not IFNAME.fullmatch(name):
        raise InvalidMetadata(f"{path}.name", name, "is not an interface name")
    if not isinstance(mac, str) or not MAC.fullmatch(mac.lower()):
        raise InvalidMetadata(f"{path}.mac", mac, "is not a MAC address")
    if driver is not None and (not isinstance(driver, str) or not IFNAME.fullmatch(driver)):
        raise InvalidMetadata(f"{path}.driver", driver, "is not a driver name")
    kernel = item.get("kernel_name", name)
    if not isinstance(kernel, str) or not IFNAME.fullmatch(kernel):
        raise InvalidMetadata(f"{path}.kernel_name", kernel, "is not an interface name")
    return HostNic(name=name, mac=mac.lower(), driver=driver, kernel_name=kernel)


def discover(sysfs: Union[str, os.PathLike] = "/sys/class/net") -> tuple[HostNic, ...]:
    """Physical NICs of this host: those with a ``device`` link (no bridge, veth, bond)."""
    found = []
    for name in sorted(os.listdir(sysfs)):
        entry = os.path.join(sysfs, name)
        # A kernel name that is not a plain interface name never reaches a config file.
        if not os.path.exists(os.path.join(entry, "device")) or not IFNAME.fullmatch(name):
            continue
        with open(os.path.join(entry, "address"), encoding="utf-8") as f:
            mac = f.read().strip().lower()
        if not MAC.fullmatch(mac):
            continue
        driver_link = os.path.join(entry, "device", "driver")
        driver = os.path.basename(os.readlink(driver_link)) if os.path.islink(driver_link) else None
        found.append(HostNic(name=_os_name(name), mac=mac, driver=driver, kernel_name=name))
    return tuple(found)


def _os_name(kernel_name: str) -> str:
    """The name the target OS will give this NIC, as udev predicts it."""
    import subprocess  # discovery only: a run given --nics needs none of it

    try:
        out = subprocess.run(
            ["udevadm", "info", "--query=property", f"/sys/class/net/{kernel_name}"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return kernel_name
    props = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    for key in _UDEV_NAME_KEYS:
        name = props.get(key)
        if name and IFNAME.fullmatch(name):
            return name
    return kernel_name
