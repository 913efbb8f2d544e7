"""The zipapp's archive, as build_pyz.py finishes it from shiv's: our __main__.py
(packaging/pyz_main.py, this build's values filled in) and its bytecode, site-packages'
bytecode, site-packages packed as one inner zip, entries sorted and timestamps fixed:
two builds of the same sources give the same bytes.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import IO, Callable

ROOT = Path(__file__).resolve().parents[1]
ENTRY_POINT = "packetnetworking.cli:main"
# The member of the pyz holding site-packages (see finish_archive); pyz_main.py extracts it.
SITE_PACKAGES_ZIP = "site-packages.zip"
ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest a zip can hold


def main_py(build_id: str) -> bytes:
    """Our __main__.py (packaging/pyz_main.py) with this build's values filled in."""
    module, _, function = ENTRY_POINT.partition(":")
    text = (ROOT / "packaging" / "pyz_main.py").read_text()
    for key, value in (
        ("BUILD_ID", build_id),
        ("ENTRY_MODULE", module),
        ("ENTRY_FUNCTION", function),
        ("SITE_PACKAGES_ZIP", SITE_PACKAGES_ZIP),
    ):
        text = text.replace(f'"@{key}@"', repr(value))
    if '"@' in text:
        raise SystemExit("packaging/pyz_main.py: an @KEY@ field has no value in main_py()")
    return text.encode()


def finish_archive(
    shiv_archive: Path, site: Path, output: Path, python: str,
    compile_main: Callable[[bytes, Path], bytes],
) -> None:  # fmt: skip
    """Rewrite shiv's archive: our __main__.py, site-packages' bytecode, sorted entries.

    site-packages goes in as one stored member (SITE_PACKAGES_ZIP), a zip of its own:
    zipimport reads the whole directory of the archive on every start, warm or cold, and
    reading ten entries instead of five hundred saves a warm run a few milliseconds.
    Only an extraction (pyz_main.py) opens the inner one."""
    entries: dict[str, tuple[bytes, int]] = {}
    with zipfile.ZipFile(shiv_archive) as src:
        for info in src.infolist():
            entries[info.filename] = (src.read(info), info.external_attr)
    build_id = json.loads(entries["environment.json"][0])["build_id"]
    entries["__main__.py"] = (main_py(build_id), 0o100644 << 16)
    entries["__main__.pyc"] = (
        compile_main(entries["__main__.py"][0], shiv_archive.parent),
        0o100644 << 16,
    )
    for path in sorted(site.rglob("*.pyc")):
        entries["site-packages/" + path.relative_to(site).as_posix()] = (
            path.read_bytes(),
            0o100644 << 16,
        )
    inner = {name: entry for name, entry in entries.items() if name.startswith("site-packages/")}
    outer = {name: entry for name, entry in entries.items() if name not in inner}
    outer[SITE_PACKAGES_ZIP] = (_zip_bytes(inner, zipfile.ZIP_DEFLATED), 0o100644 << 16)
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=output.parent, prefix=".pyz-", delete=False) as tmp:
        tmp.write(b"#!" + python.encode() + b"\n")
        # Stored: the inner archive is compressed already.
        _write_zip(tmp, outer, {SITE_PACKAGES_ZIP: zipfile.ZIP_STORED})
    os.chmod(tmp.name, 0o755)
    os.replace(tmp.name, output)


def _zip_bytes(entries: dict[str, tuple[bytes, int]], compression: int) -> bytes:
    buffer = io.BytesIO()
    _write_zip(buffer, entries, {}, compression)
    return buffer.getvalue()


def _write_zip(
    file: IO[bytes],
    entries: dict[str, tuple[bytes, int]],
    compression_of: dict[str, int],
    compression: int = zipfile.ZIP_DEFLATED,
) -> None:
    """Entries sorted, timestamps fixed: the same entries give the same bytes."""
    with zipfile.ZipFile(file, "w", compression) as archive:
        for name in sorted(entries):
            data, attr = entries[name]
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.compress_type = compression_of.get(name, compression)
            info.external_attr = attr
            archive.writestr(info, data, compresslevel=9)
