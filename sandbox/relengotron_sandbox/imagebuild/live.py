"""The squashfs'd roots lorax makes, in its two forms (treebuilder.py ``RuntimeBuilder``):

- ``create_ext4_runtime``: ``LiveOS/rootfs.img`` (an ext4 filesystem of the root) inside a squashfs — dracut's
  dmsquash-live module boots it (the ext4 image must be named ``LiveOS/rootfs.img``, treebuilder.py says); the
  installer's stage2 (``images/install.img``, label ``Anaconda``) and livemedia-creator's default runtime;
- ``create_squashfs_runtime``: the root itself as a plain squashfs — livemedia-creator ``--squashfs-only``
  (creator.py ``make_runtime``), which the live ISO carries as ``LiveOS/squashfs.img``; dracut's
  dmsquash-live-root.sh mounts a squashfs without ``LiveOS/`` as the root itself.

Compression as lorax's default: ``-comp xz`` with the architecture's BCJ filter (``-Xbcj x86`` on x86_64,
``powerpc`` on ppc64le; pylorax ``ArchData.bcj_arch``).
"""

from __future__ import annotations

from pathlib import Path

from relengotron_sandbox.imagebuild.common import tool
from relengotron_sandbox.imagebuild.ext4 import MIB, fitted_size_mib, make_ext4

ROOTFS_IMG = "LiveOS/rootfs.img"
BCJ_ARCH = {"x86_64": "x86", "ppc64le": "powerpc"}


def _compress(arch: str) -> list[str]:
    return ["-comp", "xz"] + (["-Xbcj", BCJ_ARCH[arch]] if arch in BCJ_ARCH else [])


def make_squashfs_root(root: Path, dest: Path, *, arch: str = "x86_64") -> None:
    """Write ``root`` as a plain squashfs to ``dest`` (``--squashfs-only``). Not idempotent: ``dest`` must not
    exist."""
    tool(
        ["mksquashfs", root, dest, *_compress(arch), "-noappend", "-quiet", "-no-progress"],
        item=f"{dest}: squashfs of {root}",
    )


def make_live_squashfs(root: Path, dest: Path, work: Path, *, label: str, arch: str = "x86_64") -> None:
    """Write the squashfs holding ``LiveOS/rootfs.img`` (ext4 of ``root``, labelled ``label``) to ``dest``, using
    ``work`` (an empty scratch directory) for the ext4 image. Not idempotent: ``dest`` must not exist."""
    squashfs_root = work / "squashfs_root"
    rootfs = squashfs_root / ROOTFS_IMG
    rootfs.parent.mkdir(parents=True)
    make_ext4(root, rootfs, fitted_size_mib(root) * MIB, label=label)
    tool(
        ["mksquashfs", squashfs_root, dest, *_compress(arch), "-noappend", "-quiet", "-no-progress"],
        item=f"{dest}: squashfs of {ROOTFS_IMG}",
    )
    rootfs.unlink()
