"""ext4 filesystems in files, written and read without mounting or loop devices (e2fsprogs only).

Writing: ``mkfs.ext4 -d ROOT`` fills a new filesystem from a directory; ``-E offset=N`` writes it at byte N of the
file, i.e. straight into a partition of a disk image. Reading: e2fsprogs' unix I/O manager takes an
``IMAGE?offset=N`` file name, so ``e2fsck -fn`` checks and ``debugfs -R 'rdump ...'`` copies out a directory of a
filesystem that starts inside a disk image.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from relengotron_sandbox.imagebuild.common import ImageBuildError, tool
from relengotron_sandbox.imagebuild.rootfs import tree_size

MIB = 1024 * 1024
MIN_FS_MIB = 32  # below this mke2fs's "small" profile leaves too little room for the journal and inode tables


def fitted_size_mib(root: Path) -> int:
    """A filesystem size for ``root``'s files: twice their size plus 16 MiB (inodes, journal, directories), at least
    MIN_FS_MIB. This project's rule where no kickstart gives a size (Fedora's cloud kickstart says
    ``part / --size 3000``, which a caller passes instead)."""
    return max(MIN_FS_MIB, -(-2 * tree_size(root) // MIB) + 16)


def make_ext4(root: Path, image: Path, size_bytes: int, *, offset: int = 0, label: str | None = None) -> None:
    """Write an ext4 filesystem of ``size_bytes`` holding ``root``'s tree into ``image`` at byte ``offset`` (the file
    is created or extended as needed; bytes before ``offset`` are left as they are)."""
    if size_bytes % 1024:
        raise ImageBuildError(f"{image}: filesystem size {size_bytes} is not a multiple of 1 KiB")
    argv: list[str | Path] = ["mkfs.ext4", "-q", "-F", "-d", root]
    if label:
        argv += ["-L", label]
    if offset:
        argv += ["-E", f"offset={offset}"]
    argv += [image, f"{size_bytes // 1024}k"]
    tool(argv, item=f"{image}: ext4 filesystem from {root}")


def _device(image: Path, offset: int) -> str:
    return f"{image}?offset={offset}" if offset else str(image)


def fsck(image: Path, offset: int = 0) -> str:
    """``e2fsck -fn`` (forced, read-only) of the filesystem at ``offset``; its summary line. Raises
    :class:`ImageBuildError` with e2fsck's message when the filesystem has errors or is not ext2/3/4."""
    out = tool(["e2fsck", "-fn", _device(image, offset)], item=f"{image}: e2fsck at offset {offset}")
    return out.strip().splitlines()[-1] if out.strip() else ""


def copy_out(image: Path, path: PurePosixPath, dest: Path, offset: int = 0) -> Path | None:
    """Copy the directory ``path`` (absolute in the filesystem) out of ``image`` into ``dest`` (an existing
    directory) with ``debugfs -R 'rdump'``; the copy's path, or None when the filesystem has no such directory.

    debugfs exits 0 even when its command fails, so the outcome is read from what appeared in ``dest``.
    """
    target = dest / path.name
    tool(
        ["debugfs", "-R", f'rdump "{path}" "{dest}"', _device(image, offset)],
        item=f"{image}: debugfs rdump {path} at offset {offset}",
    )
    return target if target.is_dir() else None
