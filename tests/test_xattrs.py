"""A replaced file keeps every extended attribute; a new one gets its SELinux label.

Extended attributes (``user.*``, ``security.selinux``, the POSIX ACL in
``system.posix_acl_access``) are compared byte for byte after a successful run, after a
rollback (which restores from the journal) and after a recovery from a crash. POSIX ACLs
are also read back with ``getfacl``. New files and directories on a target with SELinux
enabled are labelled as libselinux's own ``selabel_lookup`` (selinux-utils) labels them
from Debian's ``selinux-policy-default`` file_contexts, copied into the rootfs.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import safety
import structlog
from structlog.testing import capture_logs

from packetnetworking import selinux
from packetnetworking.errors import WriteFailed
from packetnetworking.rootfs import Root
from packetnetworking.tasks import EnsureLine, Write
from packetnetworking.transaction import JOURNAL, Transaction

POLICY = Path("/etc/selinux/default")  # selinux-policy-default
LABEL = b"system_u:object_r:net_conf_t:s0\0"
ATTRS = {
    "user.origin": b"\x00\xffimage build 7\n",  # binary, NUL and all
    "security.selinux": LABEL,
}
TASKS = [Write("etc/hosts", "127.0.0.1 localhost\n"), EnsureLine("etc/modules", "bonding")]


def _xattrs(path: Path) -> dict[str, bytes]:
    return {n: os.getxattr(path, n, follow_symlinks=False) for n in sorted(os.listxattr(path))}


def _getfacl(path: Path) -> str:
    return subprocess.run(
        ["getfacl", "-cp", str(path)], capture_output=True, text=True, check=True
    ).stdout


def _rootfs(tmp_path: Path) -> Path:
    safety.require("root", "security.* attributes and ACLs for other users")
    safety.require("setfacl", "POSIX ACLs (Debian package acl)")
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    for rel, content in (("etc/hosts", b"old hosts\n"), ("etc/modules", b"loop\n")):
        path = root / rel
        path.write_bytes(content)
        for name, value in ATTRS.items():
            os.setxattr(path, name, value)
        subprocess.run(["setfacl", "-m", "u:1234:rw,g:2345:r", str(path)], check=True)
    return root


def _state(root: Path) -> dict:
    return {
        rel: ((root / rel).read_bytes(), _xattrs(root / rel), _getfacl(root / rel))
        for rel in ("etc/hosts", "etc/modules")
    }


def test_kept_after_success(tmp_path: Path):
    root = _rootfs(tmp_path)
    before = _state(root)
    with capture_logs():
        tx = Transaction(root, structlog.get_logger())
        tx.apply(tx.prepare(TASKS))
    after = _state(root)
    for rel in before:
        assert after[rel][0] != before[rel][0], f"{rel} was not rewritten"
        assert after[rel][1] == before[rel][1], f"{rel}: attributes changed"
        assert after[rel][2] == before[rel][2], f"{rel}: getfacl differs"
    assert "user:1234:rw-" in after["etc/hosts"][2]


class _Crash(BaseException):
    """Not an OSError: no rollback, as after a SIGKILL."""


@pytest.mark.parametrize("how", ["rollback", "recovery"])
def test_restored_from_the_journal(tmp_path: Path, how: str):
    """Fail (or crash) at the commit, with every file already switched: the prior
    content and every attribute come back from the journal, byte for byte."""
    root = _rootfs(tmp_path)
    before = _state(root)

    def at_commit(op: str) -> None:
        if op.startswith("unlink") and op.endswith(JOURNAL):
            if how == "rollback":
                raise OSError(errno.EIO, "injected fault before the commit")
            raise _Crash(op)

    with capture_logs():
        tx = Transaction(root, structlog.get_logger(), at_commit)
        changes = tx.prepare(TASKS)
        if how == "rollback":
            with pytest.raises(WriteFailed, match="every change rolled back"):
                tx.apply(changes)
        else:
            with pytest.raises(_Crash):
                tx.apply(changes)
            assert (root / JOURNAL).exists()
            Transaction(root, structlog.get_logger()).recover()
    assert _state(root) == before
    assert not (root / JOURNAL).exists()


def _selinux_rootfs(tmp_path: Path, config: str) -> Path:
    safety.require("selabel_lookup", "libselinux's own lookup (Debian package selinux-utils)")
    policy = (POLICY / "contexts/files/file_contexts").exists()
    safety.require("selinux-policy-default", "the Debian package's policy", policy)
    root = tmp_path / "root"
    (root / "etc/selinux").mkdir(parents=True)
    (root / "etc/selinux/config").write_text(config)
    shutil.copytree(POLICY, root / "etc/selinux/default", symlinks=True)
    return root


def _selabel(root: Path, path: str, mode: int) -> bytes | None:
    """What libselinux says, from the file_contexts inside the rootfs (None: no label)."""
    fc = root / "etc/selinux/default/contexts/files/file_contexts"
    proc = subprocess.run(
        ["selabel_lookup", "-b", "file", "-k", path, "-t", str(mode), "-f", str(fc)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        assert "failed to find a valid context" in proc.stdout + proc.stderr, proc
        return None
    out = proc.stdout
    prefix = "Default context: "
    assert out.startswith(prefix), out
    return out[len(prefix) :].strip().encode() + b"\0"


NEW = [
    Write("etc/sysconfig/network-scripts/ifcfg-bond0", "DEVICE=bond0\n"),
    Write("etc/systemd/network/10-packet-bond0.network", "[Match]\n"),
    Write("etc/NetworkManager/system-connections/bond0.nmconnection", "[x]\n", mode=0o600),
    Write("etc/resolv.conf", "nameserver 147.75.207.207\n"),
    Write("etc/hosts", "127.0.0.1 localhost\n"),
    Write("etc/udev/rules.d/70-persistent-net.rules", "# x\n"),
    Write("sbin/ifup-pre-local", "#!/bin/sh\n", mode=0o755),
    Write("etc/network/interfaces", "auto lo\n"),
]


def test_new_files_get_the_policy_label(tmp_path: Path):
    root = _selinux_rootfs(tmp_path, "SELINUX=enforcing\nSELINUXTYPE=default\n")
    with capture_logs() as logs:
        tx = Transaction(root, structlog.get_logger())
        tx.apply(tx.prepare(NEW))
    for task in NEW:
        path = root / task.path
        assert os.getxattr(path, selinux.XATTR) == _selabel(root, f"/{task.path}", 0o100000)
        parent = path.parent
        while parent != root / "etc" and parent != root:  # the directories we made
            rel = "/" + str(parent.relative_to(root))
            assert os.getxattr(parent, selinux.XATTR) == _selabel(root, rel, 0o040000), rel
            parent = parent.parent
    assert not (root / selinux.AUTORELABEL).exists()
    assert not [e for e in logs if e["log_level"] == "warning"]
    labels = {os.getxattr(root / t.path, selinux.XATTR) for t in NEW}
    assert len(labels) > 2, labels  # not one label for everything: the policy was read


def test_lookup_agrees_with_libselinux(tmp_path: Path):
    """Our reading of file_contexts against selabel_lookup's, on paths chosen to hit the
    rules' corners: file-type fields, literal entries that must win over regexes, the
    subs_dist aliases, optional parts, nothing specific at all."""
    root = _selinux_rootfs(tmp_path, "SELINUX=permissive\nSELINUXTYPE=default\n")
    paths = [
        "/etc/hosts", "/etc/hosts.deny", "/etc/resolv.conf", "/etc/xen/foo", "/etc/quota.user",
        "/etc/aquota.group", "/etc/ppp/peers", "/etc/sysconfig/network-scripts/ifup-eth",
        "/etc/sysconfig/network-scripts/ifcfg-eth0", "/etc/network/if-up.d/x", "/etc/shadow",
        "/usr/lib64/systemd/system/systemd-networkd.service", "/lib/systemd/systemd-networkd",
        "/sbin/ifup", "/usr/sbin/NetworkManager", "/var/lib/NetworkManager/x", "/srv/x",
        "/opt/x/y", "/etc/systemd/network/10-x.link", "/etc/netplan/90-packet.yaml",
        "/etc/NetworkManager/system-connections/a", "/etc/mactab", "/etc/mdev.conf",
        "/etc/modprobe.d/bonding.conf", "/etc/sysconfig/network/ifroute-bond0", "/root/.ssh",
    ]  # fmt: skip
    with capture_logs(), Root(root) as fs:
        labels = selinux.Labels(fs, structlog.get_logger())
        for path in paths:
            for kind, mode in (("--", 0o100000), ("-d", 0o040000)):
                ours = labels.lookup(path, kind)
                assert ours is not None
                assert ours.encode() + b"\0" == _selabel(root, path, mode), (path, kind)


def test_no_policy_files_means_a_relabel_at_boot(tmp_path: Path):
    root = _selinux_rootfs(tmp_path, "SELINUX=enforcing\nSELINUXTYPE=mls\n")  # not shipped
    with capture_logs() as logs:
        tx = Transaction(root, structlog.get_logger())
        tx.apply(tx.prepare(NEW[:2]))
    assert (root / selinux.AUTORELABEL).read_bytes() == b""
    warning = [e for e in logs if e["log_level"] == "warning"]
    assert len(warning) == 1 and "/etc/sysconfig/network-scripts/ifcfg-bond0" in warning[0]["paths"]
    assert "file_contexts" in warning[0]["reason"]
    assert selinux.XATTR not in os.listxattr(root / NEW[0].path)


def test_selinux_disabled_labels_nothing(tmp_path: Path):
    root = _selinux_rootfs(tmp_path, "SELINUX=disabled\nSELINUXTYPE=default\n")
    with capture_logs():
        tx = Transaction(root, structlog.get_logger())
        tx.apply(tx.prepare(NEW[:2]))
    assert not (root / selinux.AUTORELABEL).exists()
    assert selinux.XATTR not in os.listxattr(root / NEW[0].path)


CORNERS = """\
# comments and blank lines are skipped

/srv(/.*)?\tsystem_u:object_r:srv_t:s0
/srv/exact\tsystem_u:object_r:exact_t:s0
/srv/[a-z]+\tsystem_u:object_r:later_regex_t:s0
/srv/d(/.*)?\t-d\tsystem_u:object_r:dir_only_t:s0
/srv/none/.*\t<<none>>
/srv/alt|/opt/alt\tsystem_u:object_r:alt_t:s0
/etc/a?quota\\.conf\t--\tsystem_u:object_r:quota_t:s0
"""


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/srv/exact", "--"),  # a literal entry goes last, so it wins over a later regex
        ("/srv/other", "--"),  # the last matching regex wins over an earlier one
        ("/srv/d/x", "-d"),  # a file-type field applies to its type only ...
        ("/srv/d/x", "--"),  # ... and other types fall through to earlier entries
        ("/srv/Upper", "--"),
        ("/srv/alt", "--"),  # alternation at the top level: no common prefix
        ("/opt/alt", "--"),  # ... though the regex matches: its stem is /srv
        ("/opt/x", "--"),  # nothing matches: no label on either side
        ("/srv/none/x", "--"),  # <<none>>: no label on either side
        ("/etc/quota.conf", "--"),  # "a?" makes the a optional
        ("/etc/aquota.conf", "--"),
    ],
)
def test_rule_corners_agree_with_libselinux(tmp_path: Path, path: str, kind: str):
    root = _selinux_rootfs(tmp_path, "SELINUX=enforcing\nSELINUXTYPE=default\n")
    (root / "etc/selinux/default/contexts/files/file_contexts").write_text(CORNERS)
    for extra in ("file_contexts.homedirs", "file_contexts.local", "file_contexts.subs_dist"):
        (root / "etc/selinux/default/contexts/files" / extra).unlink(missing_ok=True)
    mode = 0o040000 if kind == "-d" else 0o100000
    with capture_logs(), Root(root) as fs:
        try:
            context = selinux.Labels(fs, structlog.get_logger()).lookup(path, kind)
            ours = None if context is None else context.encode() + b"\0"
        except selinux.NoLabel:
            ours = None
    assert ours == _selabel(root, path, mode)


def test_none_and_no_match(tmp_path: Path):
    """``<<none>>``: no label and no relabel (restorecon leaves it alone too); no
    matching entry: no label, and ``/.autorelabel`` with a warning."""
    root = _selinux_rootfs(tmp_path, "SELINUX=enforcing\nSELINUXTYPE=default\n")
    (root / "etc/selinux/default/contexts/files/file_contexts").write_text(CORNERS)
    (root / "srv/none").mkdir(parents=True)
    with capture_logs() as logs:
        tx = Transaction(root, structlog.get_logger())
        tx.apply(tx.prepare([Write("srv/none/x", "x\n")]))
    assert selinux.XATTR not in os.listxattr(root / "srv/none/x")
    assert not (root / selinux.AUTORELABEL).exists() and not logs[:-1]
    with capture_logs() as logs:
        tx = Transaction(root, structlog.get_logger())
        tx.apply(tx.prepare([Write("var/lib/x", "x\n")]))
    assert selinux.XATTR not in os.listxattr(root / "var/lib/x")
    assert (root / selinux.AUTORELABEL).exists()
    warnings = [e for e in logs if e["log_level"] == "warning"]
    assert [e["reason"] for e in warnings] == ["no entry matches /var/lib/x"]
    assert warnings[0]["paths"] == ["/var/lib/x", "/var", "/var/lib"]
