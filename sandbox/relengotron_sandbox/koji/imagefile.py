"""Make an image file from RPMs: unpack their payloads into a tree, add a manifest, pack the tree.

The sandbox's images are tar streams (what a filesystem image holds, without a filesystem): ``raw`` is the
plain tar stream, ``raw-xz`` the same xz-compressed (named ``.raw.xz`` like Fedora's cloud images) and
``tar-gz`` a gzipped tar. ``image-manifest.txt`` at the top of the tree lists the installed RPMs, one
``name-version-release.arch`` per line, sorted — the image's content is exactly the payloads of those RPMs.
"""

from __future__ import annotations

import os
import stat
import subprocess
import tarfile
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath

import koji

MANIFEST = "image-manifest.txt"
# format → (file suffix, tarfile write mode)
FORMATS = {"raw": ("raw", "w"), "raw-xz": ("raw.xz", "w:xz"), "tar-gz": ("tar.gz", "w:gz")}
_NEWC = (b"070701", b"070702")
_TRAILER = "TRAILER!!!"


class CpioError(ValueError):
    """The payload is not a newc cpio archive we can read."""


def _align(n: int) -> int:
    return (n + 3) & ~3


def read_newc(data: bytes) -> Iterator[tuple[str, int, bytes]]:
    """Yield (path, mode, content) for each entry of a newc cpio archive (symlink content is its target)."""
    pos = 0
    while True:
        header = data[pos : pos + 110]
        if len(header) < 110 or header[:6] not in _NEWC:
            raise CpioError(f"bad cpio header at offset {pos}")
        fields = [int(header[6 + 8 * i : 14 + 8 * i], 16) for i in range(13)]
        mode, filesize, namesize = fields[1], fields[6], fields[11]
        name_start = pos + 110
        name = data[name_start : name_start + namesize - 1].decode("utf-8", "surrogateescape")
        data_start = _align(name_start + namesize)
        content = data[data_start : data_start + filesize]
        if len(content) != filesize:
            raise CpioError(f"truncated cpio entry {name!r}")
        pos = _align(data_start + filesize)
        if name == _TRAILER:
            return
        yield name, mode, content


def _safe_relpath(name: str) -> PurePosixPath | None:
    """The entry's path inside the tree, or None for paths that would escape it."""
    parts = [p for p in PurePosixPath(name).parts if p not in (".", "/")]
    if not parts or ".." in parts:
        return None
    return PurePosixPath(*parts)


def unpack_rpm(rpm_path: Path, tree: Path) -> int:
    """Extract an RPM's payload (``rpm2cpio``) into ``tree``. Returns the number of entries written."""
    proc = subprocess.run(["rpm2cpio", str(rpm_path)], capture_output=True, check=False)
    if proc.returncode != 0:
        raise koji.BuildError(f"rpm2cpio failed for {rpm_path.name}: {proc.stderr.decode(errors='replace').strip()}")
    payload = proc.stdout
    count = 0
    if not payload:
        return count
    for name, mode, content in read_newc(payload):
        rel = _safe_relpath(name)
        if rel is None:
            continue
        target = tree / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if stat.S_ISDIR(mode):
            target.mkdir(exist_ok=True)
        elif stat.S_ISLNK(mode):
            if target.is_symlink() or target.exists():
                target.unlink()
            os.symlink(content.decode("utf-8", "surrogateescape"), target)
        elif stat.S_ISREG(mode):
            target.write_bytes(content)
            target.chmod(stat.S_IMODE(mode) | 0o200)
        else:
            continue
        count += 1
    return count


def write_manifest(tree: Path, nvras: Iterable[str]) -> Path:
    path = tree / MANIFEST
    path.write_text("".join(f"{nvra}\n" for nvra in sorted(nvras)))
    return path


def _normalize(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.mtime = 0
    return info


def pack_tree(tree: Path, dest: Path, fmt: str) -> Path:
    """Pack ``tree`` into ``dest`` as ``fmt`` (see FORMATS), entries sorted and owned by root."""
    if fmt not in FORMATS:
        raise koji.ApplianceError(f"Invalid format: {fmt}")
    mode = FORMATS[fmt][1]
    with tarfile.open(dest, mode) as tar:  # type: ignore[call-overload]
        for path in sorted(tree.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(tree)), recursive=False, filter=_normalize)
    return dest


def read_manifest(image: Path) -> list[str]:
    """The NVRAs listed in an image made by :func:`pack_tree` (for checks and tests)."""
    with tarfile.open(image, "r:*") as tar:
        member = tar.extractfile(MANIFEST)
        if member is None:
            raise KeyError(MANIFEST)
        return member.read().decode().split()
