"""The VMs' kernel: Debian 12's, with an initrd that only mounts a virtio ext4 root and
the subset of modules a guest loads after it (GUEST_MODULES and what they need), built
once into the image cache (image_cache.py) and shared by every guest and the switch.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from . import image_cache, images

KERNEL_SUITE = "bookworm"
KERNEL_PACKAGES = ("linux-image-amd64", "initramfs-tools", "kmod")
# What the initrd needs to mount the root disk (dependencies come along).
INITRD_MODULES = ("virtio_pci", "virtio_blk", "ext4")
# What a guest loads after switching root (bridge: the switch facing a non-LACP bond;
# 8021q: a VLAN on a bond); their dependencies come along (modprobe -D).
GUEST_MODULES = ("bonding", "virtio_net", "bridge", "8021q")
# Bump when the kernel, module or switch recipes change, so old cache entries are not reused.
VM_RECIPE = "2"


@dataclass(frozen=True)
class Kernel:
    vmlinuz: Path
    initrd: Path
    modules: Path  # lib/modules/<release> of the guest modules, with depmod's files
    release: str


def kernel() -> Kernel:
    parts = (*KERNEL_PACKAGES, *INITRD_MODULES, *GUEST_MODULES)
    d = image_cache.cached_tree(cache_name("vm-kernel", *parts), _build_kernel)
    modules = next((d / "lib" / "modules").iterdir())
    return Kernel(d / "vmlinuz", d / "initrd.img", modules, modules.name)


def cache_name(prefix: str, *parts: str) -> str:
    return f"{prefix}-{image_cache.short_hash(VM_RECIPE, *parts)}"


def _build_kernel(dest: Path) -> None:
    spec = images.ImageSpec("vm-kernel", KERNEL_SUITE, KERNEL_PACKAGES)
    tree = dest / "tree"
    tree.mkdir()
    images._mmdebstrap(spec, tree)
    boot = tree / "boot"
    release = next(boot.glob("vmlinuz-*")).name.removeprefix("vmlinuz-")
    _small_initrd(tree, release)
    shutil.copy(boot / f"vmlinuz-{release}", dest / "vmlinuz")
    shutil.copy(boot / f"initrd.img-{release}", dest / "initrd.img")
    src = tree / "lib" / "modules" / release
    # Staged inside the tree so the tree's own depmod (kmod) indexes the subset.
    staged = tree / "pn-modules"
    out = staged / "lib" / "modules" / release
    for ko in _module_closure(tree, release):
        target = out / ko.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ko, target)
    for name in ("modules.builtin", "modules.builtin.modinfo", "modules.order"):
        shutil.copy(src / name, out / name)
    images.run_in(tree, ["depmod", "-b", "/pn-modules", release], check=True)
    (staged / "lib").rename(dest / "lib")
    image_cache.rmtree(tree)


def _small_initrd(tree: Path, release: str) -> None:
    """Rebuild the initrd with only what mounts a virtio ext4 root. MODULES=most makes
    a 35 MB initrd that a TCG guest takes many seconds to unpack at every boot."""
    conf = tree / "etc" / "initramfs-tools"
    text = (conf / "initramfs.conf").read_text()
    (conf / "initramfs.conf").write_text(text.replace("MODULES=most", "MODULES=list"))
    (conf / "modules").write_text("".join(f"{m}\n" for m in INITRD_MODULES))
    images.run_in(tree, ["update-initramfs", "-u", "-k", release], timeout=600, check=True)


def _module_closure(tree: Path, release: str) -> list[Path]:
    """The .ko files of GUEST_MODULES and everything they need, from `modprobe -D`."""
    found: list[Path] = []
    for module in GUEST_MODULES:
        proc = images.run_in(tree, ["modprobe", "-S", release, "-D", module], check=True)
        for line in proc.stdout.splitlines():
            words = line.split()
            if words and words[0] == "insmod":
                path = tree / words[1].lstrip("/")
                if path not in found:
                    found.append(path)
    return found
