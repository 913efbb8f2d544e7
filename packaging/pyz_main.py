# The zipapp's __main__.py: a fast front for shiv's bootstrap. build_pyz.py fills in
# BUILD_ID and ENTRY_MODULE and puts this file in the archive in place of shiv's own.
#
# shiv's bootstrap imports zipfile, compileall, pathlib, runpy and more on every run,
# and reads the archive's directory with zipfile. A warm start needs none of that:
# the extraction directory's name is known (shiv's scheme, so both share a cache), and
# if it exists, the entry point is imported from it directly. Only a cold start (no
# extraction yet, or SHIV_FORCE_EXTRACT) hands over to shiv's own extraction code,
# given the inner site-packages zip that build_pyz.py packs into the archive.
#
# Isolation: the host's site-packages, PYTHONPATH and user site must not leak in (a
# host's `rich` changes structlog's output, for one). The shebang runs the interpreter
# with -I -S; started any other way (`python3 packet-networking.pyz`), the process
# re-executes itself with those flags, keeping -X and -W options.
#
# The cycle collector is off: a run is one short process that allocates a few MB and
# frees them by exiting, and collecting while it imports (ours and the dependencies'
# modules, attrs classes) is ~20M instructions, 8 ms or so. Nothing we do relies on a
# collection: files are closed explicitly, and memory held by cycles goes at exit.
import gc
import os
import sys

BUILD_ID = "@BUILD_ID@"
ENTRY_MODULE = "@ENTRY_MODULE@"
ENTRY_FUNCTION = "@ENTRY_FUNCTION@"
SITE_PACKAGES_ZIP = "@SITE_PACKAGES_ZIP@"
ATTRS_CODE = "@ATTRS_CODE@"
SALT_MARK = "@SALT_MARK@"
SALT = "@SALT@"  # an int, once build_pyz.py has filled it in


def _isolate() -> None:
    if (sys.flags.isolated and sys.flags.no_site) or not sys.executable:
        return
    xopts = [
        f"-X{key}" if value is True else f"-X{key}={value}"
        for key, value in sys._xoptions.items()
    ]
    warnings = [f"-W{option}" for option in sys.warnoptions]
    os.execv(sys.executable, [sys.executable, "-I", "-S", *xopts, *warnings, *sys.argv])


def _site_packages(archive: str) -> str:
    root = os.environ.get("SHIV_ROOT") or os.path.expanduser("~/.shiv")
    name = os.path.basename(os.path.realpath(archive))
    return os.path.join(root, f"{name}_{BUILD_ID}", "site-packages")


def _extract(archive: str, site_packages: str, force: bool) -> None:
    # site-packages is a zip inside the archive (SITE_PACKAGES_ZIP), with the names
    # shiv's extraction expects: the archive's own directory stays short, and it is
    # read on every start (build_pyz.py's finish_archive says why).
    import io
    import zipfile
    from pathlib import Path

    from _bootstrap import extract_site_packages

    with zipfile.ZipFile(archive) as zf:
        inner = io.BytesIO(zf.read(SITE_PACKAGES_ZIP))
    with zipfile.ZipFile(inner) as zf:
        extract_site_packages(zf, Path(site_packages).parent, force=force)


def _use_attrs_code(site_packages: str) -> None:
    # The methods attrs would write and compile for each of our classes, compiled at
    # build time: looked up by their source, with the per-process __hash__ salt taken
    # out of the key and put back into the code (packaging/attrs_code.py says why), so
    # a hit is what attrs would have compiled, and a miss is compiled as usual.
    try:
        with open(os.path.join(site_packages, ATTRS_CODE), "rb") as f:
            data = f.read()
    except OSError:
        return
    from importlib.util import MAGIC_NUMBER

    if data[:4] != MAGIC_NUMBER:  # another Python version
        return
    import builtins
    import marshal

    import attr._make

    codes = marshal.loads(data[4:])

    def compile(source, filename, mode, *args, **kwargs):  # noqa: A001 - attrs calls it so
        salt = hash(f"<attrs generated hash {filename[:-1].rsplit(' ', 1)[-1]}>")
        hit = codes.get((filename, source.replace(str(salt), SALT_MARK)))
        if hit is None or mode != "exec" or args or kwargs:
            return builtins.compile(source, filename, mode, *args, **kwargs)
        return _resalted(hit, SALT, salt)

    attr._make.compile = compile


def _resalted(code, old: int, new: int):
    """code with the int constant old replaced by new, in it and the code nested in it."""
    consts = tuple(
        _resalted(c, old, new) if isinstance(c, type(code))
        else new if type(c) is int and c == old else c
        for c in code.co_consts
    )
    return code.replace(co_consts=consts)


def main() -> None:
    _isolate()
    gc.disable()
    archive = sys.argv[0]
    site_packages = _site_packages(archive)
    force = os.environ.get("SHIV_FORCE_EXTRACT", "").lower() in ("1", "yes", "true", "t")
    if force or not os.path.isdir(site_packages):
        _extract(archive, site_packages, force)
    sys.path.append(site_packages)
    _use_attrs_code(site_packages)
    module = __import__(ENTRY_MODULE, fromlist=[ENTRY_FUNCTION])
    sys.exit(getattr(module, ENTRY_FUNCTION)())


main()
