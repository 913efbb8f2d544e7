"""The methods attrs writes for our classes, compiled once at build time.

attrs builds each class by writing the source of its ``__init__``, ``__eq__``,
``__hash__`` and so on, and compiling it: about 0.3 ms a class, every run. The source
depends only on the class definition, so the build (build_pyz.py, with the staged
site-packages importable) imports every module of ours with attrs' ``compile``
recording, and writes what it compiled to ``SITE_PACKAGES/ATTRS_CODE``:

    importlib.util.MAGIC_NUMBER + marshal.dumps({(filename, key): code object})

The zipapp's bootstrap (packaging/pyz_main.py, ``_use_attrs_code``) hands attrs a
``compile`` that looks the source up there. The key is the source text exactly, but
for one number: a class's ``__hash__`` hashes its fields with a salt, ``hash()`` of a
string naming the class, which differs from one process to the next (string hashing
is randomised). The key has the salt replaced by SALT_MARK, the code is compiled with
SALT in its place (a fixed number, so that two builds give the same bytes), and the
bootstrap puts the run's own salt into the code's constants instead: a hit is the very
code attrs would have compiled. Anything else (another attrs, a class defined at run
time) misses and is compiled as usual. Another Python version (another magic number)
ignores the file, as it ignores the shipped bytecode.
"""

from __future__ import annotations

import builtins
import importlib
import importlib.util
import marshal
from pathlib import Path
from types import CodeType

ATTRS_CODE = "attrs-code.marshal"
SALT_MARK = "@TYPE_HASH@"
SALT = 0x5A175A175A175A17  # stands for the salt in the stored code; no other constant is it
PACKAGES = ("packetnetworking",)  # distros and hooks are in it, in the wheel


def salt(filename: str) -> int:
    """The salt attrs puts in the __hash__ of the class whose methods are in filename:
    ``<attrs generated methods MODULE.QUALNAME>`` -> hash("<attrs generated hash ...>")."""
    return hash(f"<attrs generated hash {filename[:-1].rsplit(' ', 1)[-1]}>")


def record(site: Path) -> dict[tuple[str, str], CodeType]:
    """Import every module of ours from site, returning what attrs compiled."""
    import attr._make

    codes: dict[tuple[str, str], CodeType] = {}

    def recording_compile(source, filename, mode, *args, **kwargs):
        if mode == "exec" and not args and not kwargs:
            key = source.replace(str(salt(filename)), SALT_MARK)
            if str(SALT) in key:
                raise SystemExit(f"{filename}: holds {SALT}, which stands for the salt")
            codes[(filename, key)] = builtins.compile(
                key.replace(SALT_MARK, str(SALT)), filename, mode)
        return builtins.compile(source, filename, mode, *args, **kwargs)

    attr._make.compile = recording_compile  # type: ignore[attr-defined]
    for name in _modules(site):
        importlib.import_module(name)
    return codes


def _modules(site: Path) -> list[str]:
    names = []
    for package in PACKAGES:
        for path in sorted((site / package).rglob("*.py")):
            parts = path.relative_to(site).with_suffix("").parts
            if parts[-1] == "__main__":  # runs the CLI
                continue
            names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def write(site_packages: str) -> int:
    """Write SITE/ATTRS_CODE; returns how many classes' methods it holds."""
    site = Path(site_packages)
    codes = record(site)
    if not codes:
        raise SystemExit("attrs compiled nothing: has attrs stopped using compile()?")
    # Sorted: the same classes give the same bytes (build_pyz.py is reproducible).
    data = marshal.dumps(dict(sorted(codes.items())))
    (site / ATTRS_CODE).write_bytes(importlib.util.MAGIC_NUMBER + data)
    return len(codes)
