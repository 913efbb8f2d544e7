"""Every program the tests run on this host comes from a Debian package that `make test`
installs (the Makefile's APT_PACKAGES) or that the README's fresh Debian 12 has already.

TOOLS is the list, kept by hand, with why each is needed. It is checked two ways: a scan
of the tests' sources finds the programs they start (argv lists, shell scripts, `which`
and `require` look-ups), and any it finds that TOOLS does not name fails the test; and
each program in TOOLS is mapped to its package with `dpkg -S`, which must be one the
Makefile installs or the fresh root has. Programs run only inside the distro images
(chroot ROOT ifparse, ...) come from those images, not from this host: they are not on
this host's PATH, so the scan does not see them.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from pyz_build import ROOT, skip_or_fail
from support import images, newcomer

# Where Debian packages put programs: nothing of a venv, pyenv or /usr/local.
SYSTEM_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"

TOOLS = {
    # Namespaces, mounts and images
    "unshare": "mount, pid and network namespaces",
    "mount": "tmpfs, overlay and bind mounts",
    "umount": "undoing the overlays",
    "chroot": "running the distro images' tools",
    "mmdebstrap": "building the distro images",
    "tar": "unpacking extra images",
    "cp": "copying images",
    "rm": "removing images",
    "setpriv": "dropping root's capabilities (test_write_faults)",
    "timeout": "bounding ifup in a namespace",
    "dd": "filling a tmpfs (test_write_faults)",
    "git": "cloning the checkout (test_readme)",
    "make": "the README's commands (test_readme)",
    "dpkg-query": "what an image has installed (test_alpine)",
    "dpkg": "mapping programs to packages (this test, which the scan leaves out)",
    # The readers of each format, run on this host
    "ifquery": "ifupdown reading /etc/network/interfaces",
    "ifup": "ifupdown applying a config in a namespace",
    "ifdown": "ifupdown undoing it",
    "ip": "iproute2: ifupdown's methods, namespaces, links",
    "sysctl": "ifupdown's inet6 method (procps)",
    "netplan": "netplan generate",
    "udevadm": "udev's .link loader",
    "systemctl": "systemd in the netplan/networkd checks",
    "busybox": "nameif, as Alpine has it (test_alpine)",
    "python3": "the system Python: libnm's reader (python3-gi), the pyz's shebang",
    # NetworkManager built from Debian's source, and run (support/networkmanager.py, nm_run.py)
    "dpkg-source": "apt-get source unpacks with it (dpkg-dev)",
    "meson": "configuring the NetworkManager build",
    "ninja": "building NetworkManager (ninja-build)",
    "dbus-daemon": "NetworkManager's private system bus",
    "nsenter": "entering the test namespaces (util-linux)",
    # The filesystem-safety tests
    "strace": "holding the real zipapp at a syscall for the signal test",
    "prlimit": "a low file-size limit (util-linux)",
    "chattr": "an append-only directory rollback cannot undo (e2fsprogs)",
    "mke2fs": "a small ext4 for xattrs and chattr (e2fsprogs)",
    # The action's partition (tests/support/partition.py)
    "sfdisk": "the disk image's partition table (fdisk)",
    "losetup": "the disk image as a loop device (mount)",
    "partx": "adding its partitions where the kernel reads no table (util-linux)",
    "mkfs.ext4": "the root filesystem, filled from an image (e2fsprogs)",
    "dumpe2fs": "whether the action left it cleanly unmounted (e2fsprogs)",
    "findmnt": "nothing left mounted by the action image (util-linux)",
    "mktemp": "scripts",
    "rmdir": "scripts",
    "sha256sum": "scripts",
    "getfacl": "POSIX ACLs kept (acl)",
    "setfacl": "POSIX ACLs kept (acl)",
    "selabel_lookup": "libselinux's own label for a path, against ours (selinux-utils)",
    "run-parts": "ifupdown's if-pre-up.d, as ifup runs it (debianutils)",
    # The VM cells (tests/support/vm.py)
    "qemu-system-x86_64": "booting the server and switch VMs (qemu-system-x86)",
    # Shipping
    "podman": "the installer image",
    "runc": "podman's runtime here (started by podman)",
    "nix": "the flake",
    "nix-instantiate": "parsing flake.nix",
    # Shell and coreutils in the tests' scripts
    "sh": "scripts",
    "bash": "sourcing ifcfg files",
    "dash": "sourcing ifcfg files",
    "env": "clean environments",
    "cat": "scripts",
    "echo": "scripts",
    "sort": "scripts",
    "find": "scripts",
    "sed": "scripts",
    "ls": "scripts",
    "mkdir": "scripts",
    "test": "scripts",
    "true": "scripts",
    "sleep": "scripts",
    "head": "scripts",
    "tr": "scripts",
    "grep": "scripts",
    "printf": "scripts",
}

# Names the scan finds that are not programs the tests run on this host: why each is not.
NOT_RUN = {
    "hostname": "a metadata key and a file name",
    "write": "a transaction action",
    "link": "a log event",
    "yes": "a test value",
    "dir": "a test value",
    "nm": "the NetworkManager backend's name",
    "file": "a URL scheme",
    "kill": "a test name",
    "touch": "a hostile value",
    "reboot": "a hostile value",
    "as": "a word in a message",
    "apt-get": "a word in a message",
    "unlink": "a journal operation",
    "route": "an ifcfg file name (route-bond0)",
    "chown": "a word in a message",
    "init": "the VM guests' own",
    "cut": "run inside the VM guests",
    "dmesg": "run inside the VM guests",
    "wc": "run inside the VM guests",
    "seq": "run inside the VM guests",
    "readlink": "run inside the VM guests",
    "pidof": "run inside the VM guests",
    "dnsmasq": "run inside the switch VM",
    "more": "a word in a message",
    "hardlink": "a file name in a hostile journal",
}

# Calls that look a program up by name.
LOOKUPS = {"which", "require", "tool"}
# A word at a command position in shell text.
COMMAND = re.compile(
    r"(?:^|&&|\|\||[;|(`\n]|\$\(|\bthen\b|\bdo\b|\belse\b|\bif\b|!)"
    r"\s*(?:exec\s+)?([A-Za-z0-9_.+/-]+)"
)
SHELL_FLAGS = {"-c", "-ec", "-euc", "-exc"}


def _text(node: ast.AST) -> str | None:
    """A string literal's text; an f-string's with each substitution as X."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "X" for v in node.values)
    return None


def _program(name: str) -> str | None:
    """name (or a path's last part) when it is a program on the system PATH."""
    name = name.rsplit("/", 1)[-1]
    return name if name and shutil.which(name, path=SYSTEM_PATH) else None


def _docstrings(tree: ast.AST) -> set[int]:
    return {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
    }


def scan(source: str) -> set[str]:
    """The programs (on this host) a test module's source starts, as far as its literals
    tell."""
    return {w for w in words(source) if _program(w)}


def words(source: str) -> set[str]:
    """The names a test module's source may start as programs: argv lists' first items,
    words at a shell command's position, names looked up with which() or require()."""
    tree = ast.parse(source)
    docs = _docstrings(tree)
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args:
            func = (
                node.func.attr
                if isinstance(node.func, ast.Attribute)
                else getattr(node.func, "id", None)
            )
            if func in LOOKUPS and _text(node.args[0]):
                found += _text(node.args[0]).split()[:1]  # type: ignore[union-attr]
        if isinstance(node, (ast.List, ast.Tuple)) and node.elts:
            first = _text(node.elts[0])
            # An argv: strings (or expressions), never numbers.
            if first and not any(
                isinstance(e, ast.Constant) and not isinstance(e.value, str) for e in node.elts
            ):
                found.append(first)
        text = _text(node)
        # Shell text has a space or a line break; a lone word is an argv's element.
        if text is not None and id(node) not in docs and re.search(r"\s", text):
            found += COMMAND.findall(text)
    return {w.rsplit("/", 1)[-1] for w in found}


def _sources() -> dict[str, str]:
    """Every test module and helper, but this one (its strings are the scan's test data)."""
    return {
        str(p.relative_to(ROOT)): p.read_text()
        for p in sorted((ROOT / "tests").rglob("*.py"))
        if p != Path(__file__)
    }


def test_the_scan_finds_what_a_test_runs():
    """The scan itself: each way a test starts a program, and a docstring that does not."""
    source = '''
"""ifup is mentioned here, not run."""
import subprocess, shutil
subprocess.run(["ip", "link"])
shutil.which("sysctl")
SCRIPT = "set -e\\nmount -t tmpfs x /y && exec chroot /r udevadm test"
args = ("setpriv", "--bounding-set", "-all")
sh = ["sh", "-c", f"timeout 5 {1}"]
'''
    assert scan(source) == {"ip", "sysctl", "mount", "chroot", "setpriv", "sh", "timeout"}


def test_every_program_the_tests_run_is_listed():
    unlisted: dict[str, list[str]] = {}
    seen: set[str] = set()
    for path, source in _sources().items():
        seen |= words(source)
        for program in scan(source) - set(TOOLS) - set(NOT_RUN):
            unlisted.setdefault(program, []).append(path)
    assert not unlisted, f"add to TOOLS (with its reason) or NOT_RUN: {unlisted}"
    # Whether or not this host has a program of that name.
    assert set(NOT_RUN) <= seen, f"no longer in the tests, remove: {set(NOT_RUN) - seen}"


def apt_packages() -> set[str]:
    """The Makefile's APT_PACKAGES, as make itself expands it."""
    proc = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "-s",
            "-C",
            str(ROOT),
            "-f",
            "Makefile",
            "--eval",
            "print-apt-packages: ; @echo $(APT_PACKAGES)",
            "print-apt-packages",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    packages = set(proc.stdout.split())
    assert packages, "APT_PACKAGES is empty"
    return packages


def package_of(program: str) -> str | None:
    """The Debian package that installed program, by dpkg -S (None: none did)."""
    found = shutil.which(program, path=SYSTEM_PATH)
    if found is None:
        return None
    candidates = [found, os.path.realpath(found)]
    # usrmerge: dpkg may know /bin/x where the PATH finds /usr/bin/x, and the other way.
    for path in list(candidates):
        for a, b in (("/usr/bin/", "/bin/"), ("/usr/sbin/", "/sbin/")):
            if path.startswith(a):
                candidates.append(b + path[len(a) :])
            elif path.startswith(b):
                candidates.append(a + path[len(b) :])
    for path in candidates:
        proc = subprocess.run(["dpkg", "-S", path], capture_output=True, text=True, timeout=60)
        for line in proc.stdout.splitlines():
            owners, sep, owned = line.partition(": ")
            if sep and owned == path and not line.startswith("diversion "):
                return owners.split(",")[0].strip().split(":")[0]
    return None


@pytest.fixture(scope="module")
def fresh_packages() -> set[str]:
    """What the README's fresh Debian 12 (support/newcomer.py) has installed."""
    reason = images.have_root_tools()
    if reason:
        skip_or_fail(reason)
    status = (newcomer.pristine() / "var/lib/dpkg/status").read_text()
    return {
        block.split("\n", 1)[0].split(": ", 1)[1]
        for block in status.split("\n\n")
        if block.startswith("Package: ") and "\nStatus: install ok installed" in block
    }


def test_every_listed_program_comes_from_an_installed_package(fresh_packages):
    if shutil.which("dpkg") is None:
        skip_or_fail("dpkg is missing: this test maps programs to Debian packages")
    wanted = apt_packages() | fresh_packages
    missing = {}
    for program in sorted(TOOLS):
        package = package_of(program)
        if package is None:
            missing[program] = f"not installed here from any package (for {TOOLS[program]})"
        elif package not in wanted:
            missing[program] = f"{package} is not in APT_PACKAGES (for {TOOLS[program]})"
    assert not missing, missing


def test_the_fresh_root_lacks_what_make_test_must_install(fresh_packages):
    """The check above can fail: the fresh root has neither sysctl's nor ip's package."""
    assert package_of("sysctl") == "procps" and "procps" not in fresh_packages
    assert package_of("ip") == "iproute2" and "iproute2" not in fresh_packages
