"""Choosing the backend from what the target rootfs shows, and ``--backend``.

Trees are built here with just the paths detection looks at (laid out as merged-/usr
distros lay them out, with their symlinks); nothing in them is ever run.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import backend_cases as cases
import pytest
from backend_cases import CASES

from packetnetworking import backends, cli, detect, options, registry, selection
from packetnetworking.errors import NoBuilder
from packetnetworking.target import from_option

TOOLS = {
    "ifupdown": ["usr/sbin/ifquery"],
    "netplan": ["usr/sbin/netplan", "usr/lib/systemd/system-generators/netplan"],
    "nm": ["usr/sbin/NetworkManager"],
    "nm-enabled": ["usr/sbin/NetworkManager", "@multi-user.target.wants/NetworkManager.service"],
    "networkd": ["usr/lib/systemd/systemd-networkd"],
    "networkd-enabled": [
        "usr/lib/systemd/systemd-networkd",
        "@multi-user.target.wants/systemd-networkd.service",
    ],
    "network-scripts": ["etc/rc.d/init.d/network"],
}


def tree(root: Path, *tools: str) -> Path:
    """A rootfs showing ``tools``; ``@x.wants/unit`` is an enablement link, as systemctl
    enable makes it (absolute, pointing at a unit this host does not have)."""
    root.mkdir(exist_ok=True)
    (root / "sbin").symlink_to("usr/sbin")  # merged /usr: probes through it must work
    for tool in tools:
        for path in TOOLS[tool]:
            if path.startswith("@"):
                link = root / "etc/systemd/system" / path[1:]
                link.parent.mkdir(parents=True, exist_ok=True)
                link.symlink_to(f"/usr/lib/systemd/system/{link.name}")
            else:
                (root / path).parent.mkdir(parents=True, exist_ok=True)
                (root / path).write_text("#!/bin/sh\ntouch /tmp/packet-networking-ran-it\n")
                (root / path).chmod(0o755)
    return root


def choose(os: str, root: Path, backend=None) -> backends.Choice:
    target = from_option(os)
    plan = cases.f.build_plan(CASES["bonded"])
    chosen = selection.select(target, plan.mode, root, backend)
    assert chosen.choice is not None, f"{chosen.builder.id} declares no backends"
    return chosen.choice


# The table: what a tree showing no tool gets.
DEFAULTS = [
    ("debian 10", "eni"),
    ("debian 12", "eni"),
    ("debian 13", "eni"),
    ("ubuntu 18.04", "eni"),
    ("ubuntu 24.04", "eni"),
    ("fedora 40", "networkmanager"),
    ("rhel 10", "networkmanager"),
    ("rocky 10.0", "networkmanager"),
    ("almalinux 10", "networkmanager"),
    ("flatcar stable", "networkd"),
    ("archlinux", "networkd"),
]


@pytest.mark.parametrize("os, backend", DEFAULTS)
def test_an_empty_tree_gets_the_default_and_says_so(os, backend, tmp_path: Path):
    choice = choose(os, tmp_path)
    assert (choice.backend, choice.detected) == (backend, False)
    assert choice.reason.startswith(f"the default for {from_option(os)}")


DETECTED = [
    ("ubuntu 22.04", ("netplan",), "netplan"),
    ("ubuntu 22.04", ("netplan", "ifupdown"), "eni"),
    ("ubuntu 20.04", ("ifupdown",), "eni"),
    ("debian 12", ("netplan",), "netplan"),
    ("debian 12", ("nm-enabled",), "networkmanager"),
    ("debian 12", ("networkd-enabled",), "networkd"),
    ("debian 12", ("ifupdown", "nm-enabled"), "eni"),
    ("debian 13", ("netplan", "networkd"), "netplan"),
    ("fedora 41", ("nm-enabled", "networkd"), "networkmanager"),
    ("flatcar stable", ("networkd-enabled",), "networkd"),
]


@pytest.mark.parametrize("os, tools, backend", DETECTED)
def test_the_first_preferred_tool_found_wins(os, tools, backend, tmp_path: Path):
    choice = choose(os, tree(tmp_path / "root", *tools))
    assert (choice.backend, choice.detected) == (backend, True)
    assert choice.reason.startswith("the rootfs has ")
    assert not Path("/tmp/packet-networking-ran-it").exists()  # looked at, never run


def test_networkd_that_is_only_installed_shows_nothing(tmp_path: Path):
    """Every systemd ships networkd: installed but not enabled is no evidence."""
    choice = choose("debian 12", tree(tmp_path / "root", "networkd"))
    assert (choice.backend, choice.detected) == ("eni", False)


@pytest.mark.parametrize(
    "os, tools, words",
    [
        ("debian 12", ("nm",), ["NetworkManager (/usr/sbin/NetworkManager, not enabled)"]),
        ("fedora 40", ("netplan",), ["netplan (/usr/sbin/netplan)", "networkmanager (needs"]),
        ("ubuntu 22.04", ("nm-enabled",), ["eni (needs ifupdown) or netplan (needs netplan)"]),
    ],
)
def test_tools_that_contradict_the_distro_are_exit_40(os, tools, words, tmp_path: Path):
    with pytest.raises(NoBuilder) as caught:
        choose(os, tree(tmp_path / "root", *tools))
    assert caught.value.exit_code == 40
    for word in words:
        assert word in str(caught.value)


def test_backend_option_wins_when_its_tool_is_there(tmp_path: Path):
    choice = choose("debian 12", tree(tmp_path / "root", "ifupdown", "netplan"), "netplan")
    assert (choice.backend, choice.detected) == ("netplan", True)
    assert choice.reason.startswith("requested with --backend")


def test_backend_option_on_an_empty_tree_is_taken_unchecked(tmp_path: Path):
    choice = choose("debian 12", tmp_path, "networkd")
    assert (choice.backend, choice.detected) == ("networkd", False)
    assert "no network tool to check it against" in choice.reason


@pytest.mark.parametrize(
    "os, tools, backend, words",
    [
        ("debian 12", ("ifupdown",), "netplan", ["no netplan", "/usr/sbin/netplan", "ifupdown"]),
        ("debian 12", ("nm",), "networkmanager", ["not enabled", "NetworkManager.service"]),
        ("fedora 40", (), "netplan", ["fedora 40 is configured with networkmanager only"]),
        ("debian 11", (), "netplan", ["debian 11 is configured with eni only"]),
    ],
)
def test_backend_option_contradicted_is_exit_40(os, tools, backend, words, tmp_path: Path):
    with pytest.raises(NoBuilder) as caught:
        choose(os, tree(tmp_path / "root", *tools), backend)
    assert caught.value.exit_code == 40
    for word in words:
        assert word in str(caught.value)


def test_registrations_reject_unknown_backends():
    with registry.scoped(), pytest.raises(ValueError, match="ipfw"):
        registry.distro("testos", backends=("ipfw",))


UNMANAGED = {"custom_ipxe", "windows", "vmware"}  # they configure their own network


def test_every_builder_that_writes_declares_its_formats():
    """Only the OSes that configure their own network register no format."""
    for reg in registry.builders():
        assert bool(reg.backends) == (reg.family not in UNMANAGED), reg


@pytest.mark.parametrize(
    "link, stub",
    [
        ("../run/systemd/resolve/stub-resolv.conf", True),
        ("/run/systemd/resolve/resolv.conf", True),
        ("/usr/lib/systemd/resolv.conf", True),
        ("../run/resolvconf/resolv.conf", False),
        ("/run/NetworkManager/resolv.conf", False),
    ],
)
def test_resolv_conf_links_are_read_not_followed(link, stub, tmp_path: Path):
    (tmp_path / "etc").mkdir()
    os.symlink(link, tmp_path / "etc/resolv.conf")
    findings = detect.look(tmp_path)
    assert (findings.resolv_conf_link, findings.resolved_stub) == (link, stub)


def test_probes_do_not_escape_the_rootfs(tmp_path: Path):
    """A link to a host path that exists here (but not in the tree) shows nothing."""
    (tmp_path / "usr/sbin").mkdir(parents=True)
    os.symlink("/usr/bin/env", tmp_path / "usr/sbin/NetworkManager")
    os.symlink("../../../../../../usr/bin/env", tmp_path / "usr/sbin/ifquery")
    assert detect.look(tmp_path).installed == ()


def test_cli_rejects_an_unknown_backend(capsys):
    with pytest.raises(SystemExit) as caught:
        cli.main(["--rootfs", "/nonexistent", "--backend", "ipfw"])
    assert caught.value.code == 2
    assert "eni, ifcfg, netplan, networkmanager, networkd, wicked" in capsys.readouterr().err


def test_cli_help_lists_every_backend():
    text = " ".join(options.parser().format_help().split())  # argparse wraps lines
    assert "eni, ifcfg, netplan, networkmanager, networkd or wicked" in text
    assert backends.NAMES == ("eni", "ifcfg", "netplan", "networkmanager", "networkd", "wicked")


def test_the_run_logs_the_choice_as_an_audit_event(tmp_path: Path):
    root = tree(tmp_path / "root", "nm-enabled")
    proc, events = cases.run_cli(tmp_path, root, "debian 12", "-v")
    assert proc.returncode == 0, proc.stderr
    event = cases.backend_event(events)
    assert event["backend"] == "networkmanager" and event["detected"] is True
    assert event["found"].startswith("NetworkManager (/usr/sbin/NetworkManager, enabled by ")
    assert any(json.loads(line)["event"] == "backend" for line in proc.stderr.splitlines())
    assert (root / "etc/NetworkManager/system-connections/bond0.nmconnection").exists()


def test_the_run_stops_at_exit_40_before_writing(tmp_path: Path):
    root = tree(tmp_path / "root", "ifupdown")
    proc, _ = cases.run_cli(tmp_path, root, "debian 12", "--backend", "netplan")
    assert proc.returncode == 40
    assert proc.stderr.startswith("packet-networking: --backend netplan: the rootfs has no netplan")
    assert not (root / "etc").exists()


def test_backend_option_on_a_single_format_builder_is_exit_40(tmp_path: Path):
    (tmp_path / "root").mkdir()
    proc, _ = cases.run_cli(tmp_path, tmp_path / "root", "rhel 9", "--backend", "eni")
    assert proc.returncode == 40, proc.stderr


STUB = "../run/systemd/resolve/stub-resolv.conf"
RESOLVERS = [
    # (os, --backend, case, etc/resolv.conf link or None, the resolver files written)
    ("debian 12", None, "bonded", None, {"etc/resolv.conf"}),
    ("debian 12", None, "bonded", STUB, {"etc/systemd/resolved.conf"}),
    ("debian 12", None, "bonded", "../run/resolvconf/resolv.conf", set()),
    ("debian 12", "netplan", "bonded", STUB, set()),
    ("debian 12", "netplan", "dhcp", STUB, {"etc/systemd/resolved.conf"}),
    ("debian 12", "networkmanager", "bonded", None, {"etc/resolv.conf"}),
    ("ubuntu 22.04", None, "bonded", None, {"etc/systemd/resolved.conf"}),
    ("ubuntu 22.04", "netplan", "bonded", STUB, set()),
    ("fedora 40", None, "bonded", None, {"etc/resolv.conf"}),
    ("fedora 40", None, "bonded", STUB, set()),
    ("flatcar stable", None, "individual", "../run/systemd/resolve/resolv.conf", set()),
    (
        "flatcar stable",
        None,
        "dhcp",
        "../run/systemd/resolve/resolv.conf",
        {"etc/systemd/resolved.conf"},
    ),
]


@pytest.mark.parametrize("system, backend, case, link, expected", RESOLVERS)
def test_resolvers_never_go_through_a_resolv_conf_link(
    system, backend, case, link, expected, tmp_path: Path
):
    """A symlinked resolv.conf belongs to its owner: written through, it would land in
    /run and vanish at boot. resolved gets resolved.conf when the backend does not
    already hand it the servers; other owners take them from the backend's keys."""
    (tmp_path / "etc").mkdir()
    if link is not None:
        os.symlink(link, tmp_path / "etc/resolv.conf")
    out = cases.files(system, CASES[case], backend=backend, root=tmp_path)
    assert {p for p in out if "resolv" in p} == expected


@pytest.mark.parametrize(
    "image, system, backend",
    [
        ("bullseye-ifupdown", "debian 11", "eni"),
        ("bookworm-ifupdown", "ubuntu 22.04", "eni"),
        ("trixie-ifupdown-ng", "debian 13", "eni"),
        ("trixie-netplan", "ubuntu 24.04", "netplan"),
        ("trixie-netplan", "debian 13", "netplan"),
        ("bookworm-nm", "debian 12", "networkmanager"),
        ("bookworm-nm", "fedora 40", "networkmanager"),
    ],
)
def test_real_images_are_recognised(image, system, backend):
    """Detection on real trees as mmdebstrap built them (only looked at, never written)."""
    from support import images

    images.require_root_tools()
    choice = choose(system, images.build(image))
    assert (choice.backend, choice.detected) == (backend, True)


def test_the_rootfs_is_looked_at_once_and_the_builder_gets_that_choice(tmp_path, monkeypatch):
    looks = []
    real_look = detect.look
    monkeypatch.setattr(detect, "look", lambda root: looks.append(root) or real_look(root))
    root = tree(tmp_path / "root", "netplan")
    plan = cases.f.build_plan(CASES["bonded"])
    chosen = selection.select(from_option("debian 12"), plan.mode, root)
    context = chosen.context(plan)
    assert context.choice is chosen.choice and context.choice.backend == "netplan"
    tasks = chosen.builder.func(context)
    assert looks == [root], "a builder looked at the rootfs again"
    assert any(t.path == "etc/netplan/90-packet.yaml" for t in tasks)


def test_a_builder_with_no_format_has_no_choice_to_read():
    plan = cases.f.build_plan(CASES["bonded"])
    chosen = selection.select(from_option("windows"), plan.mode, Path("/nonexistent"))
    assert chosen.choice is None and chosen.builder.func(chosen.context(plan)) == []
    with pytest.raises(ValueError, match="declares no config format"):
        chosen.context(plan).choice  # noqa: B018
