"""The NetworkManager build the ifcfg-rh and keyfile tests run (support/networkmanager.py)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from support import networkmanager as nm


def test_the_build_has_the_plugin_and_the_compiled_in_paths():
    nm.require()
    prefix = nm.build_networkmanager()
    assert nm.build_networkmanager() == prefix  # cached: the same tree, not rebuilt
    version = subprocess.run([nm.daemon(prefix), "--version"], capture_output=True, text=True,
                             check=True).stdout.strip()  # fmt: skip
    assert version.startswith(nm.VERSION.split("-")[0])
    plugin = nm.plugin_dir(prefix) / "libnm-settings-plugin-ifcfg-rh.so"
    st = plugin.stat()
    # NetworkManager loads a plugin only if root owns it and no one else may write it.
    assert st.st_uid == 0 and st.st_mode & 0o022 == 0, oct(st.st_mode)
    # The paths the tests mount over are the ones compiled in.
    assert str(nm.ifcfg_dir(prefix)).encode() in plugin.read_bytes()
    binary = nm.daemon(prefix).read_bytes()
    assert f"{nm.STATE_DIR}/run".encode() in binary
    assert str(nm.keyfile_dir(prefix)).encode() in binary
    assert nm.keyfile_dir(prefix).is_dir() and nm.build_seconds(prefix) is not None


def test_the_tree_is_made_root_owned_and_not_writable_by_others(tmp_path: Path):
    if os.geteuid() != 0:
        pytest.skip("chown needs root")
    (tmp_path / "lib").mkdir(mode=0o777)
    plugin = tmp_path / "lib" / "plugin.so"
    plugin.write_text("")
    plugin.chmod(0o775)
    os.chown(plugin, 1000, 1000)
    nm._root_owned_not_writable(tmp_path)
    assert (plugin.stat().st_uid, plugin.stat().st_mode & 0o777) == (0, 0o755)
    assert (tmp_path / "lib").stat().st_mode & 0o777 == 0o755


@pytest.mark.parametrize(
    ("text", "url"),
    [
        ("Types: deb\n# http://snapshot.debian.org/archive/debian/20250520T000000Z\n"
         "URIs: http://deb.debian.org/debian\nSuites: bookworm\n", "http://deb.debian.org/debian"),
        ("deb [arch=amd64] https://mirror.example.net/debian/ bookworm main\n",
         "https://mirror.example.net/debian"),
        ("# deb http://commented.example/debian bookworm main\n"
         "deb http://security.debian.org/debian-security bookworm-security main\n",
         "http://deb.debian.org/debian"),
    ],
)  # fmt: skip
def test_the_mirror_is_the_one_apt_already_uses(monkeypatch, tmp_path: Path, text, url):
    (tmp_path / "parts").mkdir()
    (tmp_path / "parts" / "debian.sources").write_text(text)
    monkeypatch.setattr(nm, "_APT_SOURCES", tmp_path / "absent")
    monkeypatch.setattr(nm, "_APT_PARTS", tmp_path / "parts")
    assert nm.debian_mirror() == url
