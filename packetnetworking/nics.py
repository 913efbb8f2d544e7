"""The host's NICs: discovered from sysfs and udev, or read from a ``--nics`` file.

The metadata names NICs ``eth0``, ``eth1``...; the target OS names them after their
slot or path. The only link between the two is the MAC address.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Callable, Optional, Union

import attrs

from . import inputs
from .errors import InvalidMetadata, InvalidOption, UsageError
from .validators import IFNAME, MAC

if TYPE_CHECKING:
    from .metadata import Interface

# udev's names in order of preference: the same order systemd's 99-default.link uses.
_UDEV_NAME_KEYS = ("ID_NET_NAME_ONBOARD", "ID_NET_NAME_SLOT", "ID_NET_NAME_PATH", "ID_NET_NAME_MAC")
# Names the kernel gives virtual devices: as a "host NIC" such a name would be written
# as a bond member (a bond enslaving lo or another bond) and the server never comes up.
NOT_PHYSICAL = re.compile(r"lo|(bond|team|br|dummy|tun|tap|virbr|vlan)[0-9]*|veth.*")
# A real list is a few hundred bytes a NIC.
MAX_NICS_BYTES = 2**20
# SIOCETHTOOL and ETHTOOL_GPERMADDR (linux/sockios.h, linux/ethtool.h).
_SIOCETHTOOL = 0x8946
_ETHTOOL_GPERMADDR = 0x20
_MAX_ADDR_LEN = 32


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
        with open(inputs.open_regular(path), "rb") as f:
            body = f.read(MAX_NICS_BYTES + 1)  # a sparse file must not eat the memory
        if len(body) > MAX_NICS_BYTES:
            raise InvalidOption("--nics", path, f"is over {MAX_NICS_BYTES} bytes")
        raw = json.loads(body)
    except inputs.NotRegular as exc:
        raise UsageError(f"--nics {path!r}: is {exc.what}, not a file") from None
    except OSError as exc:
        raise UsageError(f"--nics {path!r}: {exc.strerror}") from None
    except RecursionError:
        raise InvalidOption("--nics", path, "nests too deeply to be a list of NICs") from None
    except ValueError as exc:
        raise InvalidOption("--nics", path, f"is not JSON ({exc})") from None
    if not isinstance(raw, list):
        raise InvalidOption("--nics", path, "must be a JSON list of NICs")
    found = tuple(_nic(item, f"--nics[{i}]") for i, item in enumerate(raw))
    named = ((f"--nics[{i}] {nic.name}", nic.mac) for i, nic in enumerate(found))
    unique_macs(named, InvalidOption)
    by_mac = ((f"--nics[{i}]", nic.name, nic.mac) for i, nic in enumerate(found))
    unique_names(by_mac, "name", InvalidOption)
    return found


def from_document(interfaces: Iterable[Interface]) -> tuple[HostNic, ...]:
    """The NICs the document describes, for a host whose own cannot be seen (a Tinkerbell
    action's container sees only ``lo``). Each is named by the document
    (``Interface.os_name``: a Hardware's ``dhcp.iface_name``), else ``document_name``.
    Every format then pins that name to the NIC's MAC, so it is the NIC's name at the
    target's first boot. The document's interface names (``eth0``) are not used: they lie
    in the kernel's own namespace, where udev's rename races the kernel's next NIC."""
    found: list[HostNic] = []
    names: dict[str, int] = {}
    for i, iface in enumerate(interfaces):
        field = f"interfaces[{i}].os_name"
        name = iface.os_name or document_name(iface.mac)
        if NOT_PHYSICAL.fullmatch(name):
            raise InvalidMetadata(field, name, "is a virtual device's name, not a NIC's")
        if name in names:
            raise InvalidMetadata(field, name, f"is also the name of interfaces[{names[name]}]")
        names[name] = i
        found.append(HostNic(name=name, mac=iface.mac))
    return tuple(found)


def document_name(mac: str) -> str:
    """``enx`` and the MAC's twelve hex digits: udev's own MAC-based name
    (``ID_NET_NAME_MAC``), unique to the NIC, outside the kernel's ``ethN`` namespace and
    exactly 15 characters, the kernel's limit."""
    return "enx" + mac.lower().replace(":", "")


def unique_macs(
    named: Iterable[tuple[str, str]],
    error: type[Union[InvalidMetadata, InvalidOption]] = InvalidMetadata,
) -> None:
    """Refuse two NICs with one MAC: matching by MAC would pin it to whichever came last
    and leave the other out of its bond. ``error``: whose input it is (the host's sysfs,
    or the operator's ``--nics`` file)."""
    seen: dict[str, str] = {}
    for where, mac in named:
        if mac in seen:
            raise error(f"{where}.mac", mac, f"is also the MAC of {seen[mac]}")
        seen[mac] = where


def unique_names(
    named: Iterable[tuple[str, str, str]],
    what: str,
    error: type[Union[InvalidMetadata, InvalidOption]] = InvalidMetadata,
) -> None:
    """Refuse two NICs with one OS name: the udev rules would give both MACs that name,
    a bond would enslave it twice and one ifcfg file would overwrite the other. Each
    item is (where it came from, its name, what else tells it apart)."""
    seen: dict[str, str] = {}
    for where, name, other in named:
        if name in seen:
            raise error(f"{where}.name", name, f"is also the {what} of {seen[name]}")
        seen[name] = f"{where} {other}" if other else where


def _nic(item: object, path: str) -> HostNic:
    if not isinstance(item, dict):
        raise InvalidOption(path, item, "must be an object with name and mac")
    name, mac, driver = item.get("name"), item.get("mac"), item.get("driver")
    if not isinstance(name, str) or not IFNAME.fullmatch(name):
        raise InvalidOption(f"{path}.name", name, "is not an interface name")
    if NOT_PHYSICAL.fullmatch(name):
        raise InvalidOption(f"{path}.name", name, "is a virtual device's name, not a NIC's")
    if not isinstance(mac, str) or not MAC.fullmatch(mac.lower()):
        raise InvalidOption(f"{path}.mac", mac, "is not a MAC address")
    if driver is not None and (not isinstance(driver, str) or not IFNAME.fullmatch(driver)):
        raise InvalidOption(f"{path}.driver", driver, "is not a driver name")
    kernel = item.get("kernel_name", name)
    if not isinstance(kernel, str) or not IFNAME.fullmatch(kernel):
        raise InvalidOption(f"{path}.kernel_name", kernel, "is not an interface name")
    if NOT_PHYSICAL.fullmatch(kernel):
        raise InvalidOption(
            f"{path}.kernel_name", kernel, "is a virtual device's name, not a NIC's"
        )
    return HostNic(name=name, mac=mac.lower(), driver=driver, kernel_name=kernel)


def discover(
    sysfs: Union[str, os.PathLike[str]] = "/sys/class/net",
    ethtool: Optional[Callable[[str], Optional[bytes]]] = None,
) -> tuple[HostNic, ...]:
    """Physical NICs of this host: those with a ``device`` link (no bridge, veth, bond).
    ``ethtool`` asks the kernel for a NIC's permanent address by name (a test with a
    fake ``sysfs`` passes its own: the live interfaces are not the fake tree's)."""
    ethtool = ethtool or ethtool_permanent_address
    found = []
    for name in sorted(os.listdir(sysfs)):
        entry = os.path.join(sysfs, name)
        # A kernel name that is not a plain interface name never reaches a config file.
        if not os.path.exists(os.path.join(entry, "device")) or not IFNAME.fullmatch(name):
            continue
        mac = permanent_mac(entry, ethtool(name))
        if mac is None:
            continue
        driver_link = os.path.join(entry, "device", "driver")
        driver = os.path.basename(os.readlink(driver_link)) if os.path.islink(driver_link) else None
        found.append(HostNic(name=_os_name(name), mac=mac, driver=driver, kernel_name=name))
    unique_macs((os.path.join(os.fspath(sysfs), str(n.kernel_name)), n.mac) for n in found)
    where = (os.path.join(os.fspath(sysfs), str(n.kernel_name)) for n in found)
    unique_names(((w, n.name, "") for w, n in zip(where, found)), "OS name")
    return tuple(found)


def permanent_mac(entry: str, from_ethtool: Optional[bytes]) -> Optional[str]:
    """The MAC burnt into the NIC, which the metadata lists. ``address`` is the current
    one: every port the installer has already bonded shows the bond's MAC there. The
    bonding driver keeps a port's own in ``bonding_slave/perm_hwaddr``; otherwise the
    ethtool ioctl asks the driver; ``address`` is the last resort (devices without a
    permanent address, such as veths, report zeros)."""
    for source in (
        _read_mac(os.path.join(entry, "bonding_slave", "perm_hwaddr")),
        _mac_text(from_ethtool),
    ):
        if source is not None and source != "00:00:00:00:00:00":
            return source
    return _read_mac(os.path.join(entry, "address"))


def _read_mac(path: str) -> Optional[str]:
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            mac = f.read(64).strip().lower()
    except OSError:
        return None
    return mac if MAC.fullmatch(mac) else None


def _mac_text(raw: Optional[bytes]) -> Optional[str]:
    return ":".join(f"{b:02x}" for b in raw) if raw is not None and len(raw) == 6 else None


def ethtool_permanent_address(name: str) -> Optional[bytes]:
    """ETHTOOL_GPERMADDR for interface ``name`` in this network namespace: the raw
    address (all zeros when the device has none), or None if the ioctl fails."""
    import array
    import fcntl
    import socket
    import struct

    # struct ethtool_perm_addr { __u32 cmd; __u32 size; __u8 data[]; }
    request = array.array("B", struct.pack("=II", _ETHTOOL_GPERMADDR, _MAX_ADDR_LEN))
    request.extend(bytes(_MAX_ADDR_LEN))
    address, _ = request.buffer_info()
    # struct ifreq: the name (16 bytes), then ifr_data, a pointer to the request.
    ifreq = struct.pack("16sP", name.encode(), address).ljust(40, b"\0")
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            fcntl.ioctl(sock.fileno(), _SIOCETHTOOL, ifreq)
    except OSError:
        return None
    size = struct.unpack_from("=I", request, 4)[0]
    return bytes(request[8 : 8 + min(size, _MAX_ADDR_LEN)])


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
