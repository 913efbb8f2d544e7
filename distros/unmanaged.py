"""Operating systems whose network we leave alone: the run ends with "nothing to do"."""

from __future__ import annotations

from packetnetworking.registry import Context, distro
from packetnetworking.tasks import Task


@distro("custom_ipxe", names=("ipxe",))
@distro("windows", names=("windows_2019", "windows_2022"))
@distro("vmware", names=("esxi", "vmware_esxi"))
def unmanaged(_ctx: Context) -> list[Task]:
    """A custom iPXE boot, Windows or ESXi configure their own network."""
    return []
