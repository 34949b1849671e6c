"""Partitioned disk images of a root — what ImageFactory/Oz leave for kojid's ``createImage``, in kojid's formats.

The disk follows Fedora's cloud kickstart (fedora-kickstarts ``fedora-cloud-base.ks`` of the Fedora 22 to 24 era:
``zerombr``, ``clearpart --all``, ``part / --size 3000 --fstype ext4``): an MBR (``dos``) label with one Linux
partition (type 83) starting at sector 2048 (1 MiB, where anaconda/parted align the first partition) and filling
the disk, holding an ext4 filesystem of the whole root. The filesystem is made by ``mkfs.ext4 -d ROOT -E
offset=1048576`` straight into the disk file: no mounting, no loop device. No bootloader is installed: the world's
packages carry no boot code, so these disks are well-formed but do not boot (said here rather than faked).

Formats (names and conversions as kojid's ``BaseImageTask``, builder/kojid):

- ``raw``: the disk itself (``<name>.raw``), sparse;
- ``raw-xz``: ``xz -z6T0`` of it (kojid's default ``xz_options``), ``<name>.raw.xz``;
- ``qcow2``: ``qemu-img convert -f raw -O qcow2 -c -o compat=0.10`` (ImageFactory's ``qemu_convert_cmd``, which
  kojid uses so qcow2 stays version 2 whatever qemu-img's default), ``<name>.qcow2``;
- ``tar-gz``: the GCE import format — a gzipped GNU tar whose only member is ``disk.raw``, stored sparse (Google's
  "Import existing image" documentation: ``tar --format=oldgnu -Sczf compressed-image.tar.gz disk.raw``; kojid's
  ``_buildTarGZ`` runs ``tar -Sczvf``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from relengotron_sandbox.imagebuild.common import ImageBuildError, staged, tool, tool_to_file
from relengotron_sandbox.imagebuild.ext4 import MIB, fitted_size_mib, make_ext4
from relengotron_sandbox.imagebuild.rootfs import root_packages

SECTOR = 512
PARTITION_START = 2048  # sectors: 1 MiB
PARTITION_OFFSET = PARTITION_START * SECTOR
LINUX_PARTITION_TYPE = "83"
GCE_MEMBER = "disk.raw"
FORMATS = ("raw", "raw-xz", "qcow2", "tar-gz")
XZ_OPTIONS = "-z6T0"  # kojid.conf's default xz_options


@dataclass(frozen=True)
class DiskImages:
    files: dict[str, Path]  # format → the file written
    packages: frozenset[str]  # the root's NVRAs: what the disk's rpmdb lists
    disk_bytes: int  # the raw disk's size
    partition_offset: int  # where the ext4 filesystem starts, in bytes


def sfdisk_script(disk_bytes: int) -> str:
    """sfdisk's input for the disk: a dos label, one Linux partition from sector 2048 to the end of the disk."""
    sectors = disk_bytes // SECTOR - PARTITION_START
    if disk_bytes % MIB or sectors <= 0:
        raise ImageBuildError(f"disk size {disk_bytes} is not a positive whole number of MiB above 1 MiB")
    return f"label: dos\nunit: sectors\n\nstart={PARTITION_START}, size={sectors}, type={LINUX_PARTITION_TYPE}\n"


def make_raw_disk(root: Path, disk: Path, size_mib: int) -> int:
    """Write the partitioned raw disk of ``root`` into the new file ``disk`` (``size_mib`` MiB in all); its size.

    Not idempotent: ``disk`` must not exist (the caller stages it)."""
    disk_bytes = size_mib * MIB
    script = sfdisk_script(disk_bytes)
    with open(disk, "xb") as handle:
        handle.truncate(disk_bytes)
    tool(["sfdisk", "--quiet", disk], item=f"{disk}: partition table", input=script.encode())
    make_ext4(root, disk, disk_bytes - PARTITION_OFFSET, offset=PARTITION_OFFSET)
    return disk_bytes


def write_disk_images(root: Path, targets: Mapping[str, Path], *, size_mib: int | None = None) -> DiskImages:
    """Write one disk of ``root`` in each format of ``targets`` (format → destination, all in one directory).

    ``size_mib`` is the whole disk's size (the kickstart's ``part / --size`` plus the 1 MiB before the partition);
    by default one fitted to the root. All files are built beside their destinations and renamed into place
    together once all are complete. Not idempotent: an existing destination is refused (ImageBuildError naming
    it), as is a root without an rpmdb or an unknown format; nothing is left behind on failure.
    """
    unknown = sorted(set(targets) - set(FORMATS))
    if unknown:
        raise ImageBuildError(f"{', '.join(unknown)}: not a disk image format (known: {', '.join(FORMATS)})")
    root = Path(root)
    packages = root_packages(root)
    size = size_mib if size_mib is not None else fitted_size_mib(root) + 1
    with staged(targets) as (work, temps):
        raw = temps["raw"] if "raw" in temps else work / "disk.raw"
        disk_bytes = make_raw_disk(root, raw, size)
        if "qcow2" in temps:
            tool(
                ["qemu-img", "convert", "-f", "raw", "-O", "qcow2", "-c", "-o", "compat=0.10", raw, temps["qcow2"]],
                item=f"{targets['qcow2']}: qcow2",
            )
        if "tar-gz" in temps:
            member = work / "gce" / GCE_MEMBER
            member.parent.mkdir()
            member.hardlink_to(raw)  # the member must be named disk.raw, whatever the raw output is called
            tool(
                ["tar", "--format=oldgnu", "-Sczf", temps["tar-gz"], "-C", member.parent, GCE_MEMBER],
                item=f"{targets['tar-gz']}: GCE tarball",
            )
        if "raw-xz" in temps:
            tool_to_file(["xz", XZ_OPTIONS, "-c", raw], temps["raw-xz"], item=f"{targets['raw-xz']}: xz")
    return DiskImages(
        files={fmt: Path(dest).absolute() for fmt, dest in targets.items()},
        packages=packages,
        disk_bytes=disk_bytes,
        partition_offset=PARTITION_OFFSET,
    )
