"""Tests of the rootfs-image test support (tests/support/images.py and netns.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from support import images
from support.images import (
    IMAGES,
    build,
    fresh_copy,
    overlay_copy,
    require_root_tools,
    run_in,
)
from support.netns import apply_in_netns

# ---------------------------------------------------------------------------- no root needed


def test_image_table_has_the_expected_images() -> None:
    assert {
        "bullseye-ifupdown",
        "bookworm-ifupdown",
        "trixie-ifupdown",
        "trixie-netplan",
        "trixie-ifupdown-ng",
        "bookworm-nm",
    } <= set(IMAGES)
    assert "ifupdown" not in IMAGES["trixie-netplan"].packages
    for spec in IMAGES.values():
        assert spec.name.startswith(spec.suite + "-")
        assert "python3" in spec.packages


def test_cache_key_ignores_package_order_but_not_suite() -> None:
    a = images.ImageSpec("a", "bookworm", ("python3", "ifupdown"))
    b = images.ImageSpec("b", "bookworm", ("ifupdown", "python3"))
    c = images.ImageSpec("c", "trixie", ("ifupdown", "python3"))
    assert a.cache_dirname() == b.cache_dirname()
    assert a.cache_dirname() != c.cache_dirname()
    assert a.cache_dirname().startswith("bookworm-")


def test_extra_images_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PN_EXTRA_IMAGES", " mine=/x/root.tar.gz , pod=podman:localhost/deb:12,")
    assert images.extra_images() == {"mine": "/x/root.tar.gz", "pod": "podman:localhost/deb:12"}
    assert images.available_images()[-2:] == ["mine", "pod"]
    monkeypatch.setenv("PN_EXTRA_IMAGES", "no-equals-sign")
    with pytest.raises(ValueError):
        images.extra_images()
    monkeypatch.setenv("PN_EXTRA_IMAGES", "bookworm-nm=/x.tar")
    with pytest.raises(ValueError):
        images.extra_images()


def test_unknown_image_name() -> None:
    with pytest.raises(KeyError):
        build("no-such-image")


def _tiny_tarball(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    (tree / "etc").mkdir(parents=True)
    (tree / "etc" / "os-release").write_text("ID=tiny\n")
    tarball = tmp_path / "tiny.tar.gz"
    subprocess.run(["tar", "-czf", str(tarball), "-C", str(tree), "."], check=True)
    return tarball


def test_tarball_extra_image_is_unpacked_once_and_copied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_root_tools()  # mknod of /dev/null in the unpacked tree
    monkeypatch.setenv("PN_IMAGE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PN_EXTRA_IMAGES", f"tiny={_tiny_tarball(tmp_path)}")
    assert "tiny" in images.available_images()

    pristine = build("tiny")
    assert build("tiny") == pristine
    assert (pristine / "etc" / "os-release").read_text() == "ID=tiny\n"
    assert (pristine / "dev" / "null").is_char_device()
    assert not list((tmp_path / "cache").glob(".tmp-*"))

    copy = fresh_copy("tiny", tmp_path / "copy")
    (copy / "etc" / "os-release").write_text("changed\n")
    assert (pristine / "etc" / "os-release").read_text() == "ID=tiny\n"
    with pytest.raises(FileExistsError):
        fresh_copy("tiny", copy)


def test_interrupted_build_is_not_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PN_IMAGE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PN_EXTRA_IMAGES", f"tiny={_tiny_tarball(tmp_path)}")
    dirname = images._recipe("tiny").dirname
    stale = tmp_path / "cache" / f".tmp-{dirname}-killed"
    stale.mkdir(parents=True)
    monkeypatch.setattr(images, "_populate_dev", lambda root: None)  # no root needed here

    def boom(argv: list[str], timeout: float) -> None:
        raise RuntimeError("interrupted")

    monkeypatch.setattr(images, "_run_checked", boom)
    with pytest.raises(RuntimeError):
        build("tiny")
    cache = tmp_path / "cache"
    assert not (cache / dirname).exists()
    assert not list(cache.glob(".tmp-*"))  # both the stale and the failed build are gone


# ---------------------------------------------------------------------------- real images


@pytest.fixture(scope="module")
def bookworm() -> Path:
    require_root_tools()
    return build("bookworm-ifupdown")


# Where each image's tools are (a failing `command -v` means the package set is wrong).
_TOOLS = {
    "bullseye-ifupdown": ["ifquery", "ifup", "ip"],
    "bookworm-ifupdown": ["ifquery", "ifup", "ip"],
    "trixie-ifupdown": ["ifquery", "ifup", "ip"],
    "trixie-netplan": ["netplan", "ip", "/usr/lib/systemd/systemd-networkd"],
    "trixie-ifupdown-ng": ["ifparse", "ifup-ng", "ifquery-ng", "ip"],
    "bookworm-nm": ["nmcli", "NetworkManager", "ip"],
}


@pytest.mark.parametrize("name", sorted(_TOOLS))
def test_image_has_its_tools(name: str) -> None:
    require_root_tools()
    root = build(name)
    for tool in _TOOLS[name]:
        res = run_in(root, ["sh", "-c", f"command -v {tool} >/dev/null"])
        assert res.returncode == 0, f"{name}: {tool} missing"
    res = run_in(root, ["python3", "-c", "import sys; print(sys.version_info >= (3, 9))"])
    assert res.stdout.strip() == "True", res.stderr
    assert not (root / "dev" / "null").is_file()  # a redirection did not create a plain file


def test_nm_image_has_libnm_bindings() -> None:
    require_root_tools()
    res = run_in(
        build("bookworm-nm"),
        [
            "python3",
            "-c",
            "import gi; gi.require_version('NM', '1.0'); from gi.repository import NM",
        ],
    )
    assert res.returncode == 0, res.stderr


def test_run_in_uses_a_clean_environment(bookworm: Path) -> None:
    res = run_in(bookworm, ["sh", "-c", "env | sort"])
    assert res.stdout.splitlines() == [
        "LANG=C.UTF-8",
        "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
        "PWD=/",
        "PYTHONDONTWRITEBYTECODE=1",
    ]
    res = run_in(bookworm, ["sh", "-c", "cat; exit 3"], input="hello")
    assert (res.returncode, res.stdout) == (3, "hello")


def test_fresh_copy_does_not_touch_the_cache(bookworm: Path, tmp_path: Path) -> None:
    copy = fresh_copy("bookworm-ifupdown", tmp_path / "root")
    (copy / "etc" / "network" / "interfaces").write_text("# test\n")
    assert (bookworm / "etc" / "network" / "interfaces").read_text() != "# test\n"
    assert (copy / "dev" / "null").is_char_device()


def test_overlay_copy_is_writable_and_isolated(bookworm: Path, tmp_path: Path) -> None:
    with overlay_copy("bookworm-ifupdown", tmp_path / "ovl") as root:
        (root / "etc" / "network" / "interfaces").write_text("# test\n")
        (root / "etc" / "hostname").unlink()
        assert run_in(root, ["cat", "/etc/network/interfaces"]).stdout == "# test\n"
        assert run_in(root, ["sh", "-c", "echo x >/dev/null"]).returncode == 0
    assert not os.path.ismount(tmp_path / "ovl" / "root")
    assert (bookworm / "etc" / "hostname").exists()
    assert (bookworm / "etc" / "network" / "interfaces").read_text() != "# test\n"
    assert (tmp_path / "ovl" / "upper" / "etc" / "network" / "interfaces").exists()


def test_podman_extra_image(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    require_root_tools()
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed (only needed for PN_EXTRA_IMAGES=NAME=podman:...)")
    tiny = _tiny_tarball(tmp_path)
    tag = "localhost/pn-test-tiny:latest"
    images._podman(["import", str(tiny), tag])
    try:
        monkeypatch.setenv("PN_IMAGE_CACHE", str(tmp_path / "cache"))
        monkeypatch.setenv("PN_EXTRA_IMAGES", f"pod=podman:{tag}")
        root = build("pod")
        assert (root / "etc" / "os-release").read_text() == "ID=tiny\n"
        assert (root / "dev" / "null").is_char_device()
    finally:
        images._podman(["rmi", "--force", tag])


# ---------------------------------------------------------------------------- netns apply

# An individual (unbonded) NIC with a public /31, a private alias with a subnet route,
# and a public v6 /127: the shape packet-networking writes for individual mode.
ENI = """\
auto lo
iface lo inet loopback

auto enp1s0
iface enp1s0 inet static
    address 203.0.113.11
    netmask 255.255.255.254
    gateway 203.0.113.10

iface enp1s0 inet6 static
    address 2001:db8::3
    netmask 127
    gateway 2001:db8::2

auto enp1s0:0
iface enp1s0:0 inet static
    address 10.1.2.3
    netmask 255.255.255.254
    post-up ip route add 10.0.0.0/8 via 10.1.2.2
    post-down ip route del 10.0.0.0/8 via 10.1.2.2 || true
"""


def _route(routes: list[dict], dst: str) -> dict | None:
    return next((r for r in routes if r["dst"] == dst), None)


def test_apply_individual_eni_in_netns(bookworm: Path, tmp_path: Path) -> None:
    with overlay_copy("bookworm-ifupdown", tmp_path) as root:
        (root / "etc" / "network" / "interfaces").write_text(ENI)
        res = apply_in_netns(root, ["enp1s0"], ["ifup", "-a"], ["ifdown", "-a"])
        # The tmpfs on /run was the namespace's own: ifupdown's state did not land here.
        assert not (root / "run" / "network").exists()

    assert res.up.returncode == 0, res.up.stderr
    up = res.after_up
    assert up.cidrs("enp1s0") == {"203.0.113.11/31", "10.1.2.3/31", "2001:db8::3/127"}
    labels = {a["local"]: a.get("label") for a in up.addresses("enp1s0")}
    assert labels["10.1.2.3"] == "enp1s0:0"
    assert labels["203.0.113.11"] == "enp1s0"
    assert _route(up.route4, "default")["gateway"] == "203.0.113.10"
    assert _route(up.route4, "10.0.0.0/8")["gateway"] == "10.1.2.2"
    assert _route(up.route6, "default")["gateway"] == "2001:db8::2"

    assert res.down.returncode == 0, res.down.stderr
    down = res.after_down
    assert down.cidrs() == set()
    assert down.route4 == []
    assert _route(down.route6, "default") is None
    assert not [r for r in down.route6 if r.get("dev") == "enp1s0"]
    assert (bookworm / "etc" / "network" / "interfaces").read_text() != ENI
