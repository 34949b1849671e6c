"""The live ISO livemedia-creator ``--make-iso --squashfs-only`` makes: what kojid's createLiveMedia uploads.

kojid's LiveMediaTask (builder/kojid) runs ``livemedia-creator --no-virt --make-iso --iso-only --volid V
[--squashfs-only]`` and keeps only the ``.iso`` of its results. lorax makes the runtime (creator.py
``make_runtime``: with ``--squashfs-only`` treebuilder.py ``create_squashfs_runtime``, the root as a plain
squashfs) and lays the ISO out with its live template (share/templates.d/99-generic/live/x86.tmpl):

- ``LiveOS/squashfs.img``: the runtime (``install ${runtime_img} ${LIVEDIR}/squashfs.img``);
- ``images/pxeboot/vmlinuz`` and ``images/pxeboot/initrd.img``: the root's kernel and initrd
  (``KERNELDIR=PXEBOOTDIR``), hardlinked into ``isolinux/`` as the template did (lorax-24.22 of Fedora 24 has
  it) until "Remove syslinux support" (lorax-37.3);
- the volume label: the ``--volid`` kojid passes, every character but letters, digits and ``_`` made ``-``
  (x86.tmpl ``valid_label``).

Where this differs, forced by where it runs: lorax rebuilds the initrd with dracut inside the root
(``TreeBuilder.rebuild_initrds``: dmsquash-live), which needs the root's own dracut and a chroot — here the root's
/boot/initramfs-<kver>.img is taken as it is; and the ISO carries no bootloader (isolinux.bin, EFI images): see
:mod:`relengotron_sandbox.imagebuild.isofs`. Where the product takes the PXE files from is its own constants
(:mod:`relengotron.tools.livepxe`), the paths above.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from relengotron.tools.livepxe import ISO_INITRD, ISO_KERNEL, ISO_SQUASHFS
from relengotron_sandbox.imagebuild.common import ImageBuildError, staged
from relengotron_sandbox.imagebuild.isofs import write_iso9660
from relengotron_sandbox.imagebuild.live import make_squashfs_root
from relengotron_sandbox.imagebuild.rootfs import Kernel, find_kernels, root_packages

ISOLINUX_DIR = "isolinux"  # lorax's BOOTDIR, where the kernel and initrd are hardlinked too


@dataclass(frozen=True)
class LiveISO:
    path: Path
    volume_id: str
    kernel: Kernel
    packages: frozenset[str]  # the root's NVRAs: what the squashfs root's rpmdb lists


def iso_label(volid: str) -> str:
    """lorax x86.tmpl's isolabel: letters, digits and ``_`` kept, every other character made ``-``. Pure."""
    return "".join(ch if ch.isalnum() or ch == "_" else "-" for ch in volid)


def pick_kernel(root: Path) -> Kernel:
    """The root's kernel with its initrd (lorax takes the first findkernels finds); ImageBuildError naming the root
    and the missing file otherwise."""
    kernels = find_kernels(root)
    if not kernels:
        raise ImageBuildError(
            f"{root}: no kernel in /boot (vmlinuz-<version>.<arch>, as the kernel package installs it): "
            "a live ISO needs the root's kernel"
        )
    kernel = kernels[0]
    if kernel.initrd is None:
        raise ImageBuildError(
            f"{root}: /boot/initramfs-{kernel.version}.img is missing (the initrd dracut makes for /{kernel.vmlinuz})"
        )
    return kernel


def write_live_iso(root: Path, dest: Path, *, volid: str, arch: str = "x86_64") -> LiveISO:
    """Write the squashfs-only live ISO of ``root`` to ``dest``, labelled :func:`iso_label` of ``volid``.

    Not idempotent: an existing ``dest`` is refused; a root without an rpmdb, or without a kernel and its initrd,
    is an ImageBuildError naming it; the ISO is built beside ``dest`` and renamed into place when complete.
    """
    root = Path(root)
    packages = root_packages(root)
    kernel = pick_kernel(root)
    assert kernel.initrd is not None
    label = iso_label(volid)
    with staged({"iso": dest}) as (work, temps):
        tree = work / "tree"
        squashfs = tree / ISO_SQUASHFS.lstrip("/")
        squashfs.parent.mkdir(parents=True)
        make_squashfs_root(root, squashfs, arch=arch)
        isolinux = tree / ISOLINUX_DIR
        isolinux.mkdir()
        for source, target in ((kernel.vmlinuz, ISO_KERNEL), (kernel.initrd, ISO_INITRD)):
            placed = tree / target.lstrip("/")
            placed.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(root / source, placed)
            os.link(placed, isolinux / placed.name)
        write_iso9660(tree, temps["iso"], volid=label, item=str(dest))
    return LiveISO(path=Path(dest).absolute(), volume_id=label, kernel=kernel, packages=packages)
