"""The action image, end to end, started as tink-worker starts an action: privileged, the
host's /dev bound in, the Template's environment, and no network but ``lo`` (podman's
``--network none``: an action's container does not see the host's NICs).

Its target is what image2disk leaves: a disk with a partition table whose partition holds
a Debian root (a loop device over an image file, tests/support/partition.py). The image
is built from the Containerfile's ``action`` target on a local Debian base, as
tests/test_shipping.py builds the installer image (Alpine's registry is unreachable here).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import factories as f
from conftest import require
from pyz_build import copy_build_inputs
from support import images, partition
from test_shipping import CONTAINER_BASE, _podman, tool

ROOT = Path(__file__).resolve().parents[1]
IMAGE = "localhost/pn-action:test"
DOC = f.metadata(nics=2, os=("debian", "12"))
# The wrapper a second run uses to look at the container's own mount table once the
# action is done: the partition was never mounted where the container could see it.
LOOK_AFTER = (
    "/usr/local/bin/packet-networking; rc=$?; "
    "if grep -q packet-networking-target /proc/self/mountinfo; then "
    'echo "left mounted"; exit 99; fi; exit $rc'
)


def test_the_action_image_as_tink_worker_starts_it(tmp_path):
    images.require_root_tools()
    tool("podman")
    missing = partition.missing_tool()
    require(missing or "partition tools", "APT_PACKAGES", missing is None)
    base_tree = images.build_spec(CONTAINER_BASE)
    debian = images.build("bookworm-ifupdown")
    context = copy_build_inputs(tmp_path / "context")
    for name in ("Containerfile", ".dockerignore"):
        shutil.copy2(ROOT / name, context / name)
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "packaging" / "build_pyz.py"),
            "wheelhouse",
            str(context / "build" / "wheelhouse"),
        ],
        check=True,
        timeout=600,
    )
    conf = tmp_path / "containers.conf"
    conf.write_text(images.PODMAN_CONF)
    # podman refuses a run root path of more than 50 characters: pytest's are longer.
    storage = Path(tempfile.mkdtemp(prefix="pn-podman-", dir="/tmp"))
    try:
        _build(context, base_tree, conf, storage)
        with partition.ext4_partition(debian, tmp_path / "disk.img") as device:
            _run_as_tink_worker(device, conf, storage)
    finally:
        subprocess.run(
            [
                "podman",
                "--root",
                str(storage / "root"),
                "--runroot",
                str(storage / "run"),
                "rmi",
                "--all",
                "--force",
            ],
            env={**os.environ, "CONTAINERS_CONF": str(conf)},
            capture_output=True,
            timeout=300,
        )
        shutil.rmtree(storage, ignore_errors=True)


def _build(context: Path, base_tree: Path, conf: Path, storage: Path) -> None:
    tarball = storage / "base.tar"
    subprocess.run(["tar", "-C", str(base_tree), "-cf", str(tarball), "."], check=True)
    _podman(["import", str(tarball), "localhost/pn-test-base:bookworm"], conf, storage)
    tarball.unlink()
    _podman(
        [
            "build",
            "--network",
            "none",
            "-f",
            "Containerfile",
            "--target",
            "action",
            "--build-arg",
            "BASE=localhost/pn-test-base:bookworm",
            "-t",
            IMAGE,
            str(context),
        ],
        conf,
        storage,
    )


def _tink_worker(
    conf: Path, storage: Path, env: dict[str, str], *extra: str, privileged: bool = True
):
    """``podman run`` as tink-worker's docker run of an action: privileged, /dev bound,
    the environment, no NIC. Not asserted here: each caller checks its own exit code."""
    flags = [f"--env={name}={value}" for name, value in env.items()]
    flags += ["--privileged"] if privileged else []
    return subprocess.run(
        [
            "podman",
            "--root",
            str(storage / "root"),
            "--runroot",
            str(storage / "run"),
            "run",
            "--rm",
            "--network",
            "none",
            "-v",
            "/dev:/dev",
            *flags,
            *extra,
        ],
        env={**os.environ, "CONTAINERS_CONF": str(conf)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _run_as_tink_worker(device: str, conf: Path, storage: Path) -> None:
    env = {
        "BLOCK_DEVICE": device,
        "FS_TYPE": "ext4",
        "HARDWARE": json.dumps(DOC),
        "OS": "debian 12",
        "RESOLVERS": ",".join(f.RESOLVERS),
        "DRY_RUN": "",
        "AUDIT_LOG": "/dev/stderr",
    }
    # Not privileged (a Template's mistake): no mount namespace, exit 15, nothing mounted.
    denied = _tink_worker(conf, storage, env, IMAGE, privileged=False)
    errors = [line for line in denied.stderr.splitlines() if not line.startswith("{")]
    assert denied.returncode == 15, denied.stderr
    assert len(errors) == 1 and "privileged container" in errors[0], denied.stderr
    _nothing_mounted(device)
    # A bad document: exit 50, nothing written, nothing left mounted.
    before = partition.etc_digest(device)
    bad = _tink_worker(
        conf, storage, {**env, "HARDWARE": json.dumps({**DOC, "hostname": "-x"})}, IMAGE
    )
    errors = [line for line in bad.stderr.splitlines() if not line.startswith("{")]
    assert bad.returncode == 50, bad.stderr
    assert len(errors) == 1 and "invalid metadata: hostname='-x'" in errors[0], bad.stderr
    assert partition.etc_digest(device) == before
    _nothing_mounted(device)

    started = time.monotonic()
    good = _tink_worker(conf, storage, env, IMAGE)
    elapsed = time.monotonic() - started
    assert good.returncode == 0, good.stderr
    print(f"\naction image, end to end (podman run to exit): {elapsed:.2f} s")
    events = [json.loads(line) for line in good.stderr.splitlines() if line.startswith("{")]
    names = [e["event"] for e in events]
    for name in (
        "run started",
        "target mounted",
        "nics from document",
        "run complete",
        "target unmounted",
    ):
        assert name in names, names
    _nothing_mounted(device)
    check = partition.in_target(
        device,
        'chroot "$ROOT" ifquery -i /etc/network/interfaces --list --allow=auto && '
        'chroot "$ROOT" ifquery -i /etc/network/interfaces bond0 && '
        'chroot "$ROOT" ifquery -i /etc/network/interfaces enxb496917a0111 && '
        'cat "$ROOT/etc/udev/rules.d/70-persistent-net.rules" "$ROOT/etc/hostname"',
    )
    assert check.returncode == 0, check.stderr
    for line in (
        "bond0",
        "bond-slaves: enxb496917a0110 enxb496917a0111",
        "bond-master: bond0",
        f'ATTR{{address}}=="{f.mac(1)}", NAME="enxb496917a0111"',
        "web-1",
    ):
        assert line in check.stdout, check.stdout

    # Again, looking at the container's own mount table after the action: nothing there
    # either, and a rerun changes nothing.
    after = partition.etc_digest(device)
    again = _tink_worker(conf, storage, env, "--entrypoint", "/bin/sh", IMAGE, "-c", LOOK_AFTER)
    assert again.returncode == 0, again.stdout + again.stderr
    tasks = [json.loads(line) for line in again.stderr.splitlines() if '"event": "task"' in line]
    assert tasks and all(t["action"] == "unchanged" for t in tasks), tasks
    assert partition.etc_digest(device) == after
    _nothing_mounted(device)


def _nothing_mounted(device: str) -> None:
    found = subprocess.run(
        ["findmnt", "-rn", "-S", device], capture_output=True, text=True, check=False, timeout=30
    )
    assert found.returncode == 1 and not found.stdout, found.stdout
    assert partition.mounted_anywhere_here(device) == []
    clean, why = partition.cleanly_unmounted(device)
    assert clean, why
