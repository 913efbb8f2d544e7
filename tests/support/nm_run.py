"""The built NetworkManager (support.networkmanager), running as at boot in throw-away namespaces.

`NMDaemon` starts, under `unshare --net --mount --uts --pid`, a private `dbus-daemon` and
`NetworkManager --debug` (TRACE logging to a file) with only the plugin asked for
(`ifcfg-rh` or `keyfile`) and `no-auto-default=*`. In that mount namespace:

* a tmpfs on /run holds NetworkManager's state (its LOCALSTATEDIR is under /run), so
  nothing of the host's /run is seen or written;
* the staged configuration (a directory of this process's) is bind-mounted read-only at
  the compiled-in path: PREFIX/etc/sysconfig for ifcfg-rh (network-scripts and
  sysconfig/network), PREFIX/etc/NetworkManager/system-connections for keyfiles;
* sysfs is mounted read-only from inside the new network namespace, so it shows only
  that namespace's devices, and NetworkManager, finding /sys read-only as in a container,
  does not wait for a udev that is not running there (nm_linux_platform_new: use_udev).

Commands (nmcli, ip) run in the same namespaces through nsenter. `load()` swaps the staged
files and has the daemon re-read them with `nmcli connection reload`, so one daemon serves
many configurations. Everything ends with the PID namespace, even when the test process is
killed: the namespaces go with it.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from . import networkmanager as build
from .nm_terse import Connection, split_terse

IFCFG_RH, KEYFILE = "ifcfg-rh", "keyfile"
START_TIMEOUT = 60.0  # seconds for the daemon to answer on D-Bus (slow under load)
COMMAND_TIMEOUT = 60

_DBUS_CONFIG = """\
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
"""

# As NetworkManager runs on a RHEL-family host, minus what would reach outside the
# namespace: no resolv.conf, no hostname, no connectivity checks.
_NM_CONFIG = """\
[main]
plugins={plugins}
no-auto-default=*
dns=none
rc-manager=unmanaged
hostname-mode=none

[logging]
level=TRACE
domains=ALL

[connectivity]
enabled=false
"""


class NMDaemon:
    """A running NetworkManager in its own namespaces (use `running()`)."""

    def __init__(self, prefix: Path, plugin: str, workdir: Path) -> None:
        if plugin not in (IFCFG_RH, KEYFILE):
            raise ValueError(f"unknown plugin {plugin!r}")
        self.prefix, self.plugin, self.workdir = prefix, plugin, workdir
        self.staged = workdir / "staged"
        self.log_path = workdir / "NetworkManager.log"
        self.socket = workdir / "bus"
        self._proc: Optional[subprocess.Popen[str]] = None
        self._ns_pid = 0

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self.staged.mkdir(mode=0o755)
        conf, bus_conf = self.workdir / "NetworkManager.conf", self.workdir / "bus.conf"
        conf.write_text(_NM_CONFIG.format(plugins=self.plugin))
        bus_conf.write_text(_DBUS_CONFIG.format(socket=self.socket))
        # unshare's own complaints land in the log too (the child keeps its copy of the fd).
        with open(self.workdir / "namespace.log", "w") as errors:
            # A PID namespace too, whose init is the script: when the test process dies
            # (even by SIGKILL, through the parent-death signal) unshare dies, takes the
            # script with it (--kill-child), and the kernel ends everything in it.
            self._proc = subprocess.Popen(
                ["unshare", "--net", "--mount", "--uts", "--pid", "--fork", "--kill-child",
                 "--propagation", "private", "sh", "-c", self._script(conf, bus_conf)],
                env=self._env(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=errors, text=True, start_new_session=True,
                preexec_fn=_die_with_parent,
            )  # fmt: skip
        deadline = time.monotonic() + START_TIMEOUT
        self._ns_pid = self._script_pid(deadline)
        while True:
            if self._proc.poll() is not None:
                raise RuntimeError(f"NetworkManager's namespace exited:\n{self._tail()}")
            done = self.nsenter([str(build.nmcli(self.prefix)), "-t", "-f", "RUNNING", "general"])
            if done.returncode == 0 and done.stdout.strip() == "running":
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"NetworkManager did not start:\n{self._tail()}")
            time.sleep(0.2)

    def _script_pid(self, deadline: float) -> int:
        """The script's pid (init of the new PID namespace), unshare's only child.

        Commands join its namespaces, the PID one included: NetworkManager judges a D-Bus
        caller by its pid, and one from outside its PID namespace is shown nothing."""
        assert self._proc is not None
        children = Path(f"/proc/{self._proc.pid}/task/{self._proc.pid}/children")
        while time.monotonic() < deadline and self._proc.poll() is None:
            found = children.read_text().split() if children.exists() else []
            if found:
                return int(found[0])
            time.sleep(0.02)
        raise RuntimeError(f"NetworkManager's namespace did not start:\n{self._tail()}")

    def stop(self) -> None:
        if self._proc is None:
            return
        if self._proc.poll() is None:
            os.killpg(self._proc.pid, signal.SIGKILL)
        self._proc.wait()
        self._proc = None

    def _script(self, conf: Path, bus_conf: Path) -> str:
        q = shlex.quote
        # ifcfg-rh: all of sysconfig (network-scripts/ and the global `network` file).
        target = self.mounted_dir().parent if self.plugin == IFCFG_RH else self.mounted_dir()
        return "\n".join([
            "set -eu",
            "mount -t tmpfs -o mode=0755 pn-nm-run /run",
            f"mkdir -p {build.STATE_DIR}/run {build.STATE_DIR}/lib/NetworkManager",
            "mount -t sysfs -o ro pn-nm-sys /sys",
            f"mount --bind {q(str(self.staged))} {q(str(target))}",
            f"mount -o remount,bind,ro {q(str(target))}",
            "ip link set lo up",
            # Nobody else on these links: addresses need no duplicate detection.
            # (/proc/sys/net shows the writer's network namespace; no procps needed.)
            "for c in all default; do echo 0 >/proc/sys/net/ipv6/conf/$c/accept_dad; done",
            f"dbus-daemon --nofork --nopidfile --config-file={q(str(bus_conf))} &",
            f"while [ ! -S {q(str(self.socket))} ]; do sleep 0.05; done",
            f"{q(str(build.daemon(self.prefix)))} --debug --config={q(str(conf))} "
            f">{q(str(self.log_path))} 2>&1 &",
            "wait",
        ]) + "\n"  # fmt: skip

    def _env(self) -> dict[str, str]:
        return {
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
            "LC_ALL": "C.UTF-8",
            "DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={self.socket}",
            # The build's own libnm, not the host's.
            "LD_LIBRARY_PATH": str(self.prefix / "lib"),
        }

    def _tail(self) -> str:
        logs = (self.workdir / "namespace.log", self.log_path)
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in logs if p.exists())

    # ------------------------------------------------------------------ commands

    def nsenter(
        self, argv: list[str], timeout: float = COMMAND_TIMEOUT
    ) -> subprocess.CompletedProcess[str]:
        """argv inside the daemon's network, mount, UTS and PID namespaces."""
        assert self._proc is not None, "not started"
        return subprocess.run(
            # --root: entering a mount namespace resets the root to the namespace's own,
            # which is not ours when this runs chrooted (a fresh tree in a test of CI).
            ["nsenter", "-t", str(self._ns_pid), "--net", "--mount", "--uts", "--pid",
             "--root", "--wd", *argv],
            env=self._env(), capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip

    def nmcli(self, *args: str) -> str:
        done = self.nsenter([str(build.nmcli(self.prefix)), *args])
        if done.returncode != 0:
            raise RuntimeError(f"nmcli {' '.join(args)} exited {done.returncode}: {done.stderr}")
        return done.stdout

    def ip(self, *args: str) -> str:
        done = self.nsenter(["ip", *args])
        if done.returncode != 0:
            raise RuntimeError(f"ip {' '.join(args)} exited {done.returncode}: {done.stderr}")
        return done.stdout

    # ------------------------------------------------------------------ configurations

    def load(self, files: Mapping[str, str]) -> str:
        """Replace the staged files (path relative to the mounted directory -> content),
        have the daemon re-read them all, and return what it logged meanwhile."""
        for entry in self.staged.iterdir():
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        for rel, content in files.items():
            path = self.staged / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
            path.chmod(0o600 if self.plugin == KEYFILE else 0o644)
        start = self.log_path.stat().st_size
        self.nmcli("connection", "reload")
        with open(self.log_path, errors="replace") as log:
            log.seek(start)
            return log.read()

    def connections(self) -> list[Connection]:
        """Every profile the daemon holds, with all its properties."""
        result = []
        for line in self.nmcli("-t", "-f", "UUID,FILENAME", "connection", "show").splitlines():
            uuid, filename = split_terse(line, 2)
            props: dict[str, str] = {"_filename": filename}
            shown = self.nmcli("-t", "-f", "all", "connection", "show", "uuid", uuid)
            for prop in shown.splitlines():
                key, value = split_terse(prop, 2)
                props[key] = value
            result.append(Connection(props))
        return result

    def state(self) -> dict[str, list[dict[str, Any]]]:
        """`ip -j addr`, `ip -j route` and `ip -6 -j route` in the namespace."""
        return {
            "addr": json.loads(self.ip("-j", "addr") or "[]"),
            "route4": json.loads(self.ip("-j", "route") or "[]"),
            "route6": json.loads(self.ip("-6", "-j", "route") or "[]"),
        }

    def mounted_dir(self) -> Path:
        """Where the daemon reads the profiles from (staged files appear there)."""
        if self.plugin == IFCFG_RH:
            return build.ifcfg_dir(self.prefix)
        return build.keyfile_dir(self.prefix)

    def add_veth(self, name: str, mac: str, peer: str) -> None:
        """A NIC for NetworkManager to manage: the metadata's name and MAC, carrier up."""
        self.ip("link", "add", name, "address", mac, "type", "veth", "peer", "name", peer)
        self.ip("link", "set", peer, "up")

    def wait_connected(self, devices: list[str], timeout: float = COMMAND_TIMEOUT) -> None:
        """Until NetworkManager reports each device connected (activated by autoconnect)."""
        deadline = time.monotonic() + timeout
        while True:
            states = dict(
                split_terse(line, 2)
                for line in self.nmcli("-t", "-f", "DEVICE,STATE", "device").splitlines()
            )
            if all(states.get(d) == "connected" for d in devices):
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"not connected after {timeout} s: {states}\n{self._tail()}")
            time.sleep(0.2)


@dataclass(frozen=True)
class Parsed:
    """The profiles NetworkManager made of one set of files, and what it logged reading them."""

    connections: list[Connection]
    log: str


class Reader:
    """files -> Parsed, through one daemon; each distinct set of files is loaded once."""

    def __init__(self, daemon: NMDaemon) -> None:
        self.daemon = daemon
        self._seen: dict[str, Parsed] = {}

    def __call__(self, files: Mapping[str, str]) -> Parsed:
        key = hashlib.sha256(json.dumps(dict(files), sort_keys=True).encode()).hexdigest()
        if key not in self._seen:
            log = self.daemon.load(files)
            mounted = f"{self.daemon.mounted_dir()}/"
            # Only profiles from the staged files (not NetworkManager's own, such as lo).
            conns = [c for c in self.daemon.connections() if c.filename.startswith(mounted)]
            self._seen[key] = Parsed(conns, log)
        return self._seen[key]


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL when the process that started it dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG)")


_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


@contextmanager
def running(plugin: str, workdir: Optional[Path] = None) -> Iterator[NMDaemon]:
    """A started NMDaemon for the `with`, built first if needed; stopped afterwards."""
    prefix = build.build_networkmanager()
    with tempfile.TemporaryDirectory(prefix="pn-nm-") as tmp:
        daemon = NMDaemon(prefix, plugin, workdir or Path(tmp))
        try:
            daemon.start()
            yield daemon
        finally:
            daemon.stop()
