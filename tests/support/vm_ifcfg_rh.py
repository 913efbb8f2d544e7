"""A guest whose NetworkManager reads RHEL's ifcfg files, as RHEL 8-9 do at boot.

Debian's network-manager has no ifcfg-rh plugin; the suite builds the same NetworkManager
(1.42.4) from Debian's source with it (networkmanager.py). ``install`` copies that build
into a Debian 12 guest with Debian's NetworkManager (vm-bookworm-nm) and points Debian's
own NetworkManager.service at it with a drop-in, so D-Bus, its policy and
NetworkManager-wait-online stay Debian's. The build's paths are compiled in relative to
its prefix, so the prefix goes to the same absolute path in the guest, and its
``etc/sysconfig`` is a link to the guest's ``/etc/sysconfig``, where the tool writes.

The guest also gets network-scripts' ``ifup-eth``, an empty stand-in: the evidence the
tool's backend detection takes for "RHEL's network-scripts are installed" (a RHEL 8-9
image with only NetworkManager gets keyfiles instead, which the nm-keyfile cell boots).
Nothing runs it: NetworkManager alone brings the files up.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from . import networkmanager as build

# A RHEL 9 NetworkManager.conf says no more: the ifcfg-rh plugin, the rest its defaults.
NM_CONF = "[main]\nplugins=ifcfg-rh\n"
DROP_IN = "etc/systemd/system/NetworkManager.service.d/pn-ifcfg-rh.conf"
EVIDENCE = "etc/sysconfig/network-scripts/ifup-eth"


def install(root: Path) -> None:
    """Put the ifcfg-rh build into the guest root and make it the guest's NetworkManager."""
    prefix = build.build_networkmanager()
    inside = root / str(prefix).lstrip("/")
    shutil.copytree(prefix, inside, symlinks=True)
    shutil.rmtree(inside / "etc" / "sysconfig")
    (inside / "etc" / "sysconfig").symlink_to("/etc/sysconfig")
    conf = inside / "etc" / "NetworkManager" / "NetworkManager.conf"
    conf.write_text(NM_CONF)
    evidence = root / EVIDENCE
    evidence.parent.mkdir(parents=True, exist_ok=True)
    evidence.write_text("#!/bin/sh\n# Not network-scripts: see tests/support/vm_ifcfg_rh.py.\n")
    evidence.chmod(0o755)
    drop_in = root / DROP_IN
    drop_in.parent.mkdir(parents=True, exist_ok=True)
    drop_in.write_text(
        "[Service]\n"
        f"Environment=LD_LIBRARY_PATH={prefix / 'lib'}\n"
        f"ExecStartPre=/bin/mkdir -p {build.STATE_DIR}/run {build.STATE_DIR}/lib/NetworkManager\n"
        "ExecStart=\n"
        f"ExecStart={build.daemon(prefix)} --no-daemon "
        f"--config={prefix / 'etc/NetworkManager/NetworkManager.conf'}\n"
    )


def expected() -> tuple[str, str]:
    """(the daemon that must run, the directory its connections come from), as the
    guest sees them: the build's NetworkManager, reading ifcfg-rh's directory."""
    prefix = build.build_networkmanager()
    return str(build.daemon(prefix)), str(build.ifcfg_dir(prefix))
