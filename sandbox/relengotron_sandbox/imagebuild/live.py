"""The squashfs'd live root lorax makes: ``LiveOS/rootfs.img`` (an ext4 filesystem of the root) inside a squashfs.

dracut's dmsquash-live module boots this layout (the ext4 image must be named ``LiveOS/rootfs.img``, lorax's
treebuilder.py says); lorax makes it for livemedia-creator's ``--make-pxe-live`` (``live-rootfs.squashfs.img``,
label ``LiveOS``, creator.py ``make_live_images``) and for the installer's stage2 (``images/install.img``, label
``Anaconda``, treebuilder.py ``create_ext4_runtime``). Compression as lorax's default: ``-comp xz`` with the
architecture's BCJ filter (``-Xbcj x86`` on x86_64, ``powerpc`` on ppc64le; pylorax ``ArchData.bcj_arch``).
"""

from __future__ import annotations

from pathlib import Path

from relengotron_sandbox.imagebuild.common import tool
from relengotron_sandbox.imagebuild.ext4 import MIB, fitted_size_mib, make_ext4

ROOTFS_IMG = "LiveOS/rootfs.img"
BCJ_ARCH = {"x86_64": "x86", "ppc64le": "powerpc"}


def make_live_squashfs(root: Path, dest: Path, work: Path, *, label: str, arch: str = "x86_64") -> None:
    """Write the squashfs holding ``LiveOS/rootfs.img`` (ext4 of ``root``, labelled ``label``) to ``dest``, using
    ``work`` (an empty scratch directory) for the ext4 image. Not idempotent: ``dest`` must not exist."""
    squashfs_root = work / "squashfs_root"
    rootfs = squashfs_root / ROOTFS_IMG
    rootfs.parent.mkdir(parents=True)
    make_ext4(root, rootfs, fitted_size_mib(root) * MIB, label=label)
    compress = ["-comp", "xz"] + (["-Xbcj", BCJ_ARCH[arch]] if arch in BCJ_ARCH else [])
    tool(
        ["mksquashfs", squashfs_root, dest, *compress, "-noappend", "-quiet", "-no-progress"],
        item=f"{dest}: squashfs of {ROOTFS_IMG}",
    )
    rootfs.unlink()
