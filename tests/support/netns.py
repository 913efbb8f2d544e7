"""Really apply a rootfs's network config inside a throwaway network namespace.

Everything happens under `unshare -n -m`: a fresh network namespace holding only lo and
the veth pairs made here (the host's interfaces are never seen, let alone touched), and a
private mount namespace whose tmpfs on ROOT/run and proc/sysfs mounts vanish with it.
The rootfs's own tools (ifup, ip, hook scripts) run via chroot.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .images import CHROOT_ENV

STEP_TIMEOUT = 60  # seconds for each of the up and down commands


@dataclass(frozen=True)
class CmdResult:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str


@dataclass(frozen=True)
class NetState:
    """`ip -j addr`, `ip -j route` and `ip -6 -j route` as parsed JSON."""

    addr: list[dict[str, Any]]
    route4: list[dict[str, Any]]
    route6: list[dict[str, Any]]

    def addresses(self, ifname: str | None = None) -> list[dict[str, Any]]:
        """One flat dict per address: ifname, family, local, prefixlen, label (v4 only)."""
        return [
            {"ifname": link["ifname"], **info}
            for link in self.addr
            if ifname is None or link["ifname"] == ifname
            for info in link.get("addr_info", [])
        ]

    def cidrs(self, ifname: str | None = None, scope: str = "global") -> set[str]:
        """'local/prefixlen' of the addresses with that scope (default: global ones)."""
        return {
            f"{a['local']}/{a['prefixlen']}"
            for a in self.addresses(ifname)
            if a.get("scope") == scope
        }


@dataclass(frozen=True)
class NetnsResult:
    up: CmdResult
    down: CmdResult
    after_up: NetState
    after_down: NetState
    setup_log: str = field(repr=False)  # stderr of the namespace script itself


def apply_in_netns(
    root: Path,
    nics: list[str],
    up_cmd: list[str],
    down_cmd: list[str],
    *,
    step_timeout: int = STEP_TIMEOUT,
) -> NetnsResult:
    """Create a veth per NIC, run up_cmd then down_cmd in the rootfs, snapshot after each.

    `root` must be a writable copy (images.overlay_copy or images.fresh_copy): /run is a
    tmpfs here, but the commands may still write under /etc or /var of the tree.
    """
    for nic in nics:
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,15}", nic):
            raise ValueError(f"bad interface name {nic!r}")
    with tempfile.TemporaryDirectory(prefix="pn-netns-") as tmp:
        out = Path(tmp)
        script = _script(root.resolve(), out, nics, up_cmd, down_cmd, step_timeout)
        proc = _run_killing_group(
            ["unshare", "--net", "--mount", "--propagation", "private", "sh", "-c", script],
            timeout=2 * step_timeout + 60,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"netns setup failed ({proc.returncode}):\n{proc.stderr}")
        return NetnsResult(
            up=_cmd_result(out, "up", up_cmd),
            down=_cmd_result(out, "down", down_cmd),
            after_up=_net_state(out, "up"),
            after_down=_net_state(out, "down"),
            setup_log=proc.stderr,
        )


def _script(
    root: Path, out: Path, nics: list[str], up: list[str], down: list[str], timeout: int
) -> str:
    q = shlex.quote
    chroot = f"timeout -k 5 {timeout} chroot {q(str(root))}"
    lines = [
        "set -eu",
        "ip link set lo up",
        # Without this the v6 address stays 'tentative' for a second or so and ifupdown's
        # settle-dad.sh has to wait for it; there is nobody else on the link anyway.
        "sysctl -q -w net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.accept_dad=0",
    ]
    for i, nic in enumerate(nics):
        lines += [
            f"ip link add {q(nic)} type veth peer name pnpeer{i}",
            f"ip link set {q(nic)} up",
            f"ip link set pnpeer{i} up",
        ]
    r = q(str(root))
    lines += [
        # ifupdown keeps its state and lock in /run/network; a tmpfs keeps it off the tree.
        f"mount -t tmpfs -o mode=0755 pn-run {r}/run",
        f"mkdir -p {r}/run/network {r}/run/lock",
        # ifupdown's inet6 method reads /proc/sys/net/ipv6 and the ifenslave hooks read
        # /sys/class/net; mounted from inside the new netns they show only its devices.
        f"mount -t proc pn-proc {r}/proc",
        f"mount -t sysfs pn-sys {r}/sys",
        "set +e",
    ]
    for step, argv in (("up", up), ("down", down)):
        o = q(str(out / step))
        lines += [
            f"{chroot} {shlex.join(argv)} >{o}.out 2>{o}.err </dev/null; echo $? >{o}.rc",
            f"ip -j addr >{o}.addr; ip -j route >{o}.route4; ip -6 -j route >{o}.route6",
        ]
    return "\n".join(lines) + "\n"


def _run_killing_group(argv: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    # In its own process group so a timeout also kills the chroot'ed children.
    with subprocess.Popen(
        argv,
        env=dict(CHROOT_ENV),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as proc:
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise
    return subprocess.CompletedProcess(argv, proc.returncode, stdout, stderr)


def _cmd_result(out: Path, step: str, argv: list[str]) -> CmdResult:
    return CmdResult(
        argv=argv,
        returncode=int((out / f"{step}.rc").read_text().strip()),
        stdout=(out / f"{step}.out").read_text(errors="replace"),
        stderr=(out / f"{step}.err").read_text(errors="replace"),
    )


def _net_state(out: Path, step: str) -> NetState:
    def load(kind: str) -> list[dict[str, Any]]:
        text = (out / f"{step}.{kind}").read_text().strip()
        return json.loads(text) if text else []

    return NetState(addr=load("addr"), route4=load("route4"), route6=load("route6"))
