# The zipapp's __main__.py: a fast front for shiv's layout. build_pyz.py fills in
# BUILD_ID and ENTRY_MODULE and puts this file in the archive in place of shiv's own.
#
# Old interpreters first: any Python can be pointed at the pyz (`python3.8 x.pyz`), and
# this is the first code that runs, compiled from source by an interpreter whose version
# the build's bytecode is not for. So the file is written in syntax every Python 3 (and
# 2.7) can compile: no f-strings, annotations only in type comments, no unpacking in
# displays. The first thing it does is refuse anything older than 3.9 in one line, exit
# EXIT_OLD_PYTHON (README.md "Exit codes"), before anything is extracted or imported.
#
# shiv's bootstrap imports zipfile, compileall, pathlib, runpy and more on every run,
# and reads the archive's directory with zipfile. A warm start needs none of that:
# the extraction directory's name is known (shiv's scheme, so both share a cache), and
# if it exists, the entry point is imported from it directly. A cold start (no
# extraction yet, or SHIV_FORCE_EXTRACT) extracts the inner site-packages zip that
# build_pyz.py packs into the archive (_extract says how).
#
# Isolation: the host's site-packages, PYTHONPATH and user site must not leak in (a
# host's `rich` changes structlog's output, for one). The shebang runs the interpreter
# with -I -S; started any other way (`python3 packet-networking.pyz`), the process
# re-executes itself with those flags, keeping -X and -W options.
#
# The exit: once the entry point has returned, the process ends with os._exit after doing
# what the interpreter's exit would do that anyone can see (_exit_now), without tearing
# down every module and object first: that teardown was ~40 M instructions of a ~446 M
# warm run (docs/performance.md).
#
# ruff: noqa: UP031, UP036 - %-formatting is what Python 2.7 to 3.5 can compile; the version
# check is the point (pyproject's 3.9 is what it enforces)
import gc
import os
import sys

BUILD_ID = "@BUILD_ID@"
ENTRY_MODULE = "@ENTRY_MODULE@"
ENTRY_FUNCTION = "@ENTRY_FUNCTION@"
SITE_PACKAGES_ZIP = "@SITE_PACKAGES_ZIP@"
# Exit codes of the start-up itself (README.md "Exit codes"; the CLI's own are below 90).
EXIT_OLD_PYTHON = 90
EXIT_SHIV_ROOT = 91
PROG = "packet-networking"


def _refuse_old_python():
    # type: () -> None
    if sys.version_info < (3, 9):
        sys.stderr.write("%s: needs Python 3.9 or later; this is %d.%d.%d\n"
                         % ((PROG,) + tuple(sys.version_info[:3])))
        sys.exit(EXIT_OLD_PYTHON)


def _isolate():
    # type: () -> None
    if (sys.flags.isolated and sys.flags.no_site) or not sys.executable:
        return
    argv = [sys.executable, "-I", "-S"]
    for key, value in sys._xoptions.items():
        argv.append("-X" + key if value is True else "-X%s=%s" % (key, value))
    argv.extend("-W" + option for option in sys.warnoptions)
    argv.extend(sys.argv)
    os.execv(sys.executable, argv)


def _shiv_root():
    # type: () -> str
    return os.environ.get("SHIV_ROOT") or os.path.expanduser("~/.shiv")


def _extraction(archive, root):
    # type: (str, str) -> str
    name = os.path.basename(os.path.realpath(archive))
    return os.path.join(root, "%s_%s" % (name, BUILD_ID))


def _extract(archive, root, extraction, force):
    # type: (str, str, str, bool) -> None
    """site-packages from the archive into extraction/site-packages.

    The files go into a fresh temporary directory beside it, which is renamed into
    place once complete: the extraction's name only ever points at a whole tree, so a
    run killed or failing half-way (a full disk) leaves nothing a later run would trust.
    A lock file serialises extractions; whoever holds it removes temporary directories
    that killed runs left behind."""
    import fcntl
    import shutil
    import tempfile

    os.makedirs(root, exist_ok=True)
    stem = "." + os.path.basename(extraction)
    with open(os.path.join(root, stem + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not force and os.path.isdir(os.path.join(extraction, "site-packages")):
            return  # another run extracted it while this one waited
        for entry in os.listdir(root):
            if entry.startswith(stem + ".tmp-"):
                shutil.rmtree(os.path.join(root, entry), ignore_errors=True)
        tmp = tempfile.mkdtemp(prefix=stem + ".tmp-", dir=root)
        try:
            _unpack_site_packages(archive, tmp)
            os.chmod(tmp, 0o755)  # mkdtemp's is 0700
            old = None
            if os.path.exists(extraction):  # forced: move the old tree out of the way first
                old = tempfile.mkdtemp(prefix=stem + ".tmp-", dir=root)
                os.rename(extraction, os.path.join(old, "tree"))
            os.rename(tmp, extraction)
            if old:
                shutil.rmtree(old, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


def _unpack_site_packages(archive, dest):
    # type: (str, str) -> None
    # site-packages is a zip inside the archive (SITE_PACKAGES_ZIP), its names starting
    # "site-packages/": the archive's own directory stays short, and it is read on every
    # start (build_pyz.py's finish_archive says why).
    import io
    import zipfile

    with zipfile.ZipFile(archive) as outer:
        inner = io.BytesIO(outer.read(SITE_PACKAGES_ZIP))
    with zipfile.ZipFile(inner) as zf:
        for info in zf.infolist():
            path = zf.extract(info, dest)
            mode = info.external_attr >> 16
            if mode:
                os.chmod(path, mode)


def _refuse_shiv_root(root, exc):
    # type: (str, OSError) -> None
    """One line naming SHIV_ROOT and why it cannot take the extraction, then exit."""
    if os.path.exists(root) and not os.path.isdir(root):
        reason = "not a directory"
    else:
        reason = exc.strerror or str(exc)
        if exc.filename:
            reason = "%s: %s" % (reason, exc.filename)
    where = "SHIV_ROOT=%s" % root if os.environ.get("SHIV_ROOT") else "SHIV_ROOT (unset: %s)" % root
    sys.stderr.write("%s: %s: cannot extract the dependencies there: %s\n" % (PROG, where, reason))
    sys.exit(EXIT_SHIV_ROOT)


def _exit_now(code):
    # type: (object) -> None
    """End the process with ``code`` the way the interpreter's exit would, minus the
    teardown: freeing every module and object of a process about to end is work the
    kernel does anyway, and with the collector off it walks the whole heap (~40 M
    instructions, as much as all of our own modules' imports take without attrs).

    What the exit does that can be seen is done first, in the interpreter's order:
    wait for non-daemon threads (here: leave the exit to the interpreter, which does),
    run the atexit callbacks, flush stdout and stderr. A flush that fails (a full disk,
    a closed pipe) returns, and the interpreter's own exit reports it as it always has
    (its one line, exit 120). Files are closed by the run itself (with-blocks; the audit
    log is unbuffered), and the kernel closes descriptors and drops flocks at exit."""
    if type(code) is not int:  # None or a message: sys.exit's own handling
        return
    threading = sys.modules.get("threading")
    if threading is not None:
        main_thread = threading.main_thread()
        for thread in threading.enumerate():
            if thread is not main_thread and not thread.daemon and thread.is_alive():
                return
    import atexit

    atexit._run_exitfuncs()  # runs each callback once and clears them
    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
    except Exception:  # whatever it is, the interpreter reports it
        return
    os._exit(code & 0xFF)


def main():
    # type: () -> None
    _refuse_old_python()
    _isolate()
    gc.disable()  # a short run frees by exiting (docs/performance.md: ~20 M instructions)
    archive = sys.argv[0]
    root = _shiv_root()
    extraction = _extraction(archive, root)
    site_packages = os.path.join(extraction, "site-packages")
    force = os.environ.get("SHIV_FORCE_EXTRACT", "").lower() in ("1", "yes", "true", "t")
    if force or not os.path.isdir(site_packages):
        try:
            _extract(archive, root, extraction, force)
        except OSError as exc:
            _refuse_shiv_root(root, exc)
    sys.path.append(site_packages)
    module = __import__(ENTRY_MODULE, fromlist=[ENTRY_FUNCTION])
    code = getattr(module, ENTRY_FUNCTION)()
    _exit_now(code)  # returns only when the interpreter's own exit is needed
    sys.exit(code)


main()
