"""NetworkManager with the ifcfg-rh plugin, built from Debian's source package, for tests.

Debian's `network-manager` binary package has no ifcfg-rh plugin, the reader of RHEL's
`ifcfg-*` files on RHEL 8-9, Rocky and Alma. Debian's *source* package of the same
NetworkManager builds with it. `build_networkmanager()` is the one entry point: it returns
the install prefix of that build, building it first if the cache does not hold it yet.

The prefix holds `sbin/NetworkManager`, `bin/nmcli`, `lib/` (libnm and the plugins) and
`etc/`, and every path the daemon reads is compiled in relative to it:
    PREFIX/etc/sysconfig/network-scripts            ifcfg-rh's directory (IFCFG_DIR)
    PREFIX/etc/sysconfig/network                    ifcfg-rh's global settings
    PREFIX/etc/NetworkManager/system-connections    the keyfile plugin's directory
    STATE_DIR (/run/packet-networking-nm)           state and run directories
so a test bind-mounts its files there inside a private mount namespace (see nm_run.py);
nothing is ever written into the cached tree.

Cache, beside the distro images (image_cache.root(): $PN_IMAGE_CACHE or
~/.cache/packet-networking/images):
    networkmanager-<version>-<hash>/         a finished build (appears only by atomic rename)
    networkmanager-<version>-<hash>.lock     flock'ed while it is being built
    .tmp-networkmanager-<version>-<hash>-*   a build in progress (or a killed one)

The source comes from the same Debian mirror the machine's apt uses, through a private
deb-src list and private apt state directories: the machine's /etc/apt is never changed.
Build dependencies are in the Makefile's APT_PACKAGES.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import tempfile
import time
from pathlib import Path

from . import image_cache

# The Debian source version bookworm ships (1.42.4, with Debian's security fix).
VERSION = "1.42.4-1+deb12u1"
SUITE = "bookworm"
# Bump when the recipe below changes, so an old build is not reused.
RECIPE_VERSION = "1"
BUILD_TIMEOUT = 3600  # seconds; about 2 minutes on 2 idle cores, far more under load

# LOCALSTATEDIR: RUNSTATEDIR is STATE_DIR/run and the state STATE_DIR/lib/NetworkManager.
STATE_DIR = "/run/packet-networking-nm"

# The plugin and the client on, everything optional off (issue 13's set, measured to build
# here with only the Makefile's APT_PACKAGES). crypto=null: no certificates are read.
MESON_OPTIONS = (
    "--buildtype=plain",
    "--libdir=lib",
    # State and run directories outside the (long) cache path: NM_OVSDB_SOCKET, a unix
    # socket path under RUNSTATEDIR, must fit in 108 bytes or the build fails. A test
    # mounts a tmpfs on /run in its own mount namespace, so the host's /run is untouched.
    f"--localstatedir={STATE_DIR}",
    "-Difcfg_rh=true",
    "-Difupdown=false",
    "-Dnmcli=true",
    "-Dnmtui=false",
    "-Dpolkit=false",
    "-Dselinux=false",
    "-Dlibaudit=no",
    "-Dsystemd_journal=false",
    "-Dsession_tracking=no",
    "-Dsuspend_resume=upower",
    "-Dsystemdsystemunitdir=no",
    "-Dudev_dir=no",
    "-Dwifi=false",
    "-Dppp=false",
    "-Dmodem_manager=false",
    "-Dovs=false",
    "-Dteamdctl=false",
    "-Dconcheck=false",
    "-Debpf=false",
    "-Dintrospection=false",
    "-Ddocs=false",
    "-Dtests=no",
    "-Dqt=false",
    "-Dlibpsl=false",
    "-Dcrypto=null",
    "-Ddhclient=no",
    "-Ddhcpcd=no",
    "-Dresolvconf=no",
    "-Dnetconfig=no",
)

# Directories the daemon needs under the prefix; tests mount over them, never write in.
RUNTIME_DIRS = (
    "etc/sysconfig/network-scripts",
    "etc/NetworkManager/system-connections",
    "etc/NetworkManager/conf.d",
)

_APT_SOURCES = Path("/etc/apt/sources.list")
_APT_PARTS = Path("/etc/apt/sources.list.d")
_DEBIAN_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"


def build_networkmanager() -> Path:
    """The install prefix of NetworkManager VERSION with ifcfg-rh (built once, then cached)."""
    dirname = f"networkmanager-{VERSION}-{image_cache.short_hash(RECIPE_VERSION, *MESON_OPTIONS)}"
    final = image_cache.root() / dirname
    return image_cache.cached_tree(dirname, lambda dest: _populate(dest, final))


def build_seconds(prefix: Path) -> float | None:
    """How long the build of this cached prefix took (written by the build itself)."""
    record = prefix / "BUILD-SECONDS"
    return float(record.read_text()) if record.is_file() else None


def daemon(prefix: Path) -> Path:
    return prefix / "sbin" / "NetworkManager"


def nmcli(prefix: Path) -> Path:
    return prefix / "bin" / "nmcli"


def plugin_dir(prefix: Path) -> Path:
    return prefix / "lib" / "NetworkManager" / _version_dir()


def ifcfg_dir(prefix: Path) -> Path:
    return prefix / "etc" / "sysconfig" / "network-scripts"


def keyfile_dir(prefix: Path) -> Path:
    return prefix / "etc" / "NetworkManager" / "system-connections"


def debian_mirror() -> str:
    """The Debian archive URL the machine's own apt sources use (deb.debian.org if none)."""
    texts = []
    if _APT_SOURCES.is_file():
        texts.append(_APT_SOURCES.read_text())
    if _APT_PARTS.is_dir():
        texts += [p.read_text() for p in sorted(_APT_PARTS.glob("*.list"))]
        texts += [p.read_text() for p in sorted(_APT_PARTS.glob("*.sources"))]
    for text in texts:
        text = re.sub(r"#.*", "", text)
        for url in re.findall(r"(?:^|\s)(https?://\S+/debian)/?(?=\s|$)", text, re.M):
            return url
    return "http://deb.debian.org/debian"


# ---------------------------------------------------------------------------- the build


def _version_dir() -> str:
    # NMPLUGINDIR is lib/NetworkManager/<dist_version>; dist_version defaults to the
    # upstream version (meson.build: nm_plugindir).
    return VERSION.split("-")[0]


def _populate(dest: Path, final: Path) -> None:
    """Fetch, configure, build and install into dest, the cache's temp dir for `final`."""
    started = time.monotonic()
    work = dest / ".work"
    source = _fetch_source(work)
    build = work / "build"
    _run(["meson", "setup", str(build), str(source), f"--prefix={final}", *MESON_OPTIONS])
    _run(["ninja", "-C", str(build)])
    stage = work / "stage"
    _run(["meson", "install", "-C", str(build), "--no-rebuild", "--quiet", "--destdir", str(stage)])
    # The install is staged under stage/<final>; its top-level entries move into dest,
    # which the cache then renames to final: every compiled-in path is then valid.
    installed = stage / final.relative_to("/")
    for entry in installed.iterdir():
        os.rename(entry, dest / entry.name)
    shutil.rmtree(work)
    for rel in RUNTIME_DIRS:
        (dest / rel).mkdir(parents=True, exist_ok=True)
    _root_owned_not_writable(dest)
    (dest / "BUILD-SECONDS").write_text(f"{time.monotonic() - started:.1f}\n")


def _fetch_source(work: Path) -> Path:
    """`apt-get source` with a private deb-src list and private apt state; the tree."""
    apt = work / "apt"
    for sub in ("lists/partial", "cache/archives/partial", "src"):
        (apt / sub).mkdir(parents=True)
    mirror = debian_mirror()
    (apt / "sources.list").write_text(
        f"deb-src [signed-by={_DEBIAN_KEYRING}] {mirror} {SUITE} main\n"
        f"deb-src [signed-by={_DEBIAN_KEYRING}] {mirror} {SUITE}-updates main\n"
    )
    options = [
        "-o", f"Dir::Etc::SourceList={apt / 'sources.list'}",
        "-o", "Dir::Etc::SourceParts=-",
        "-o", f"Dir::State::Lists={apt / 'lists'}",
        "-o", f"Dir::Cache={apt / 'cache'}",
        # Private state: the machine's apt lock is neither needed nor taken.
        "-o", "Debug::NoLocking=1",
        # The files land in a root-only temp dir that apt's sandbox user cannot write.
        "-o", "APT::Sandbox::User=root",
    ]  # fmt: skip
    _run(["apt-get", *options, "-q", "update"])
    src = apt / "src"
    try:
        _run(["apt-get", *options, "-q", "source", "--download-only",
              f"network-manager={VERSION}"], cwd=src)  # fmt: skip
    except RuntimeError as exc:
        # A mirror carries only the suite's current version: a newer stable update
        # makes this pin unreachable, and the fix is to move the pin.
        raise RuntimeError(
            f"network-manager {VERSION} could not be fetched from {mirror} {SUITE}; if the "
            f"suite has moved on, set VERSION in {__file__} to its version.\n{exc}"
        ) from exc
    (dsc,) = src.glob("*.dsc")
    tree = work / "source"
    # apt has already checked every file against the signed Sources index; --no-check
    # only skips the uploader's signature, whose keyring (debian-keyring) is not needed.
    _run(["dpkg-source", "--no-check", "-x", str(dsc), str(tree)], cwd=src)
    return tree


def _root_owned_not_writable(root: Path) -> None:
    """NetworkManager loads a plugin only if it is root-owned and not group or world
    writable (nm_utils_validate_plugin); make the whole tree so, whatever the umask."""
    for dirpath, dirnames, filenames in os.walk(root):
        for name in (*dirnames, *filenames):
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                continue
            os.chown(path, 0, 0)
            os.chmod(path, stat.S_IMODE(st.st_mode) & ~0o022)


def _run(argv: list[str], cwd: Path | None = None) -> None:
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.run(
            argv,
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=BUILD_TIMEOUT,
            env={**os.environ, "LC_ALL": "C.UTF-8"},
        )
        if proc.returncode != 0:
            log.seek(0)
            raise RuntimeError(f"{argv[0]} exited {proc.returncode}:\n{log.read()[-6000:]}")


# Programs the build and a run need; each from a Debian package in the Makefile's APT_PACKAGES.
BUILD_TOOLS = ("apt-get", "dpkg-source", "meson", "ninja", "cc", "pkg-config", "xsltproc")
RUN_TOOLS = ("unshare", "nsenter", "dbus-daemon", "ip")


def missing() -> str | None:
    """Why NetworkManager cannot be built and run here, or None when it can."""
    if os.geteuid() != 0:
        return "NetworkManager in a namespace needs root"
    absent = [t for t in (*BUILD_TOOLS, *RUN_TOOLS) if shutil.which(t) is None]
    if absent:
        return f"{', '.join(absent)} not installed (make test installs the Makefile's APT_PACKAGES)"
    return None


def require() -> None:
    """Skip the calling test when NetworkManager cannot be built here; fail under CI=true."""
    from conftest import require as need

    reason = missing()
    need("NetworkManager built from source", reason or "", reason is None)
