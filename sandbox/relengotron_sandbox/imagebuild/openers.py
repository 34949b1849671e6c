"""Opening an image with stock tools, the way a test system checks an artifact: is it well-formed for its format,
and which packages does the rpmdb inside it list.

Each opener returns an :class:`Opened`; a malformed image is not an exception but ``well_formed=False`` with the
message of the tool that refused it (and ``packages`` None). What each format is opened with:

- ``raw``: ``qemu-img info`` (must say raw), ``sfdisk --json`` (a dos label with one Linux partition), ``e2fsck -fn``
  of the partition at its offset, its rpmdb copied out with ``debugfs -R rdump`` (never mounted);
- ``raw-xz``: ``xz -t``, then decompressed and opened as ``raw``;
- ``qcow2``: ``qemu-img check`` and ``qemu-img info`` (must say qcow2), converted to raw and opened as ``raw``;
- ``tar-gz`` (GCE): ``tar -tzf`` must list exactly ``disk.raw``, extracted (sparse) and opened as ``raw``;
- ``pxe2live``: ``tar -tzf`` lists exactly kernel, initrd, squashfs and PXE_CONFIG (which must name the three:
  :mod:`relengotron.tools.livepxe`), ``unsquashfs -l`` lists the root itself at the squashfs's top (``usr/``; no
  ``LiveOS/rootfs.img``: squashfs-only), its rpmdb extracted with ``unsquashfs`` and read;
- ``iso``: ``xorriso -indev … -find`` lists it, ``checkisomd5`` verifies the implanted checksum, its files are
  extracted (``xorriso -osirrox``), ``.treeinfo`` (productmd) checksums verified, and every package of its
  repository installed with ``dnf --installroot`` — gpgcheck on with the given key — into a scratch root whose rpmdb
  gives the package set.

Openers only read the image; their scratch space is a temporary directory, removed afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import productmd.discinfo
import productmd.treeinfo
from productmd.treeinfo import compute_checksum

from relengotron.tools.livepxe import LIVE_IMAGE, MEMBERS, PXE_CONFIG, PXE_INITRD, PXE_KERNEL
from relengotron.tools.rootfs import InstalledPackage, RootfsError, YumRepo, install_root
from relengotron.tools.run import ToolError
from relengotron_sandbox.imagebuild import ext4
from relengotron_sandbox.imagebuild.common import ImageBuildError, tool, tool_to_file
from relengotron_sandbox.imagebuild.disk import GCE_MEMBER, LINUX_PARTITION_TYPE
from relengotron_sandbox.imagebuild.live import ROOTFS_IMG
from relengotron_sandbox.imagebuild.rootfs import RPMDB_FILES, RPMDB_LOCATIONS, find_rpmdb, nvras, query_installed


@dataclass(frozen=True)
class Opened:
    path: Path
    format: str
    well_formed: bool
    message: str  # the refusing tool's message, or a summary of what was read
    packages: frozenset[str] | None  # the rpmdb's NVRAs (gpg-pubkey left out); None when not well-formed
    facts: dict[str, str] = field(default_factory=dict)  # what the tools reported (volume id, members, sizes…)
    # the rpmdb's packages with their source RPMs (InstalledPackage.build: the Koji build each came from)
    installed: tuple[InstalledPackage, ...] | None = None


class _Malformed(Exception):
    """Raised inside an opener: the image is not well-formed; the message says why."""


@contextmanager
def _scratch() -> Iterator[Path]:
    """A temporary directory, removed even when extracted files are read-only (ISO contents are r-x)."""
    tmp = Path(tempfile.mkdtemp(prefix="image-open-"))
    try:
        yield tmp
    finally:

        def _writable(func: Callable[..., object], path: str, _exc: object) -> None:
            os.chmod(os.path.dirname(path), stat.S_IRWXU)
            func(path)

        for dirpath, dirnames, _ in os.walk(tmp):
            for name in dirnames:
                os.chmod(os.path.join(dirpath, name), stat.S_IRWXU)
        shutil.rmtree(tmp, onerror=_writable)


def _check(args: list[str | Path], *, item: str) -> str:
    try:
        return tool(args, item=item)
    except ImageBuildError as exc:
        raise _Malformed(str(exc)) from exc


Installed = tuple[InstalledPackage, ...]


def _filesystem_packages(image: Path, offset: int, scratch: Path) -> Installed:
    """The package set of the rpmdb in the ext4 filesystem at ``offset`` of ``image`` (copied out with debugfs)."""
    for index, location in enumerate(RPMDB_LOCATIONS):
        dest = scratch / f"rpmdb-{index}"
        dest.mkdir()
        copied = ext4.copy_out(image, PurePosixPath("/", location), dest, offset)
        if copied is not None and any((copied / name).is_file() for name in RPMDB_FILES):
            return query_installed(copied, item=f"{image}: /{location}")
    looked = ", ".join(f"/{loc}" for loc in RPMDB_LOCATIONS)
    raise _Malformed(f"{image}: no rpmdb in the filesystem at offset {offset} (looked in {looked})")


def _open_raw(path: Path, scratch: Path, facts: dict[str, str]) -> Installed:
    info = json.loads(_check(["qemu-img", "info", "--output=json", path], item=f"{path}: qemu-img info"))
    if info.get("format") != "raw":
        raise _Malformed(f"{path}: qemu-img info reads format {info.get('format')!r}, not raw")
    facts["virtual-size"] = str(info.get("virtual-size"))
    table = json.loads(_check(["sfdisk", "--json", path], item=f"{path}: sfdisk"))["partitiontable"]
    parts = table.get("partitions", [])
    if table.get("label") != "dos" or len(parts) != 1 or parts[0].get("type") != LINUX_PARTITION_TYPE:
        raise _Malformed(f"{path}: expected a dos label with one Linux (83) partition, sfdisk reads {table}")
    offset = int(parts[0]["start"]) * int(table.get("sectorsize", 512))
    facts["partition-offset"] = str(offset)
    facts["e2fsck"] = _fsck(path, offset)
    return _filesystem_packages(path, offset, scratch)


def _fsck(image: Path, offset: int) -> str:
    try:
        return ext4.fsck(image, offset)
    except ImageBuildError as exc:
        raise _Malformed(str(exc)) from exc


def _open_raw_xz(path: Path, scratch: Path, facts: dict[str, str]) -> Installed:
    _check(["xz", "-t", path], item=f"{path}: xz -t")
    raw = scratch / "disk.raw"
    try:
        tool_to_file(["xz", "-dc", path], raw, item=f"{path}: xz -d")
    except ImageBuildError as exc:
        raise _Malformed(str(exc)) from exc
    return _open_raw(raw, scratch, facts)


def _open_qcow2(path: Path, scratch: Path, facts: dict[str, str]) -> Installed:
    facts["qemu-img check"] = _check(["qemu-img", "check", "-f", "qcow2", path], item=f"{path}: qemu-img check")
    info = json.loads(_check(["qemu-img", "info", "--output=json", path], item=f"{path}: qemu-img info"))
    if info.get("format") != "qcow2":
        raise _Malformed(f"{path}: qemu-img info reads format {info.get('format')!r}, not qcow2")
    facts["compat"] = str(info.get("format-specific", {}).get("data", {}).get("compat"))
    raw = scratch / "disk.raw"
    _check(["qemu-img", "convert", "-f", "qcow2", "-O", "raw", path, raw], item=f"{path}: qemu-img convert")
    return _open_raw(raw, scratch, facts)


def _tar_members(path: Path) -> list[str]:
    return [m for m in _check(["tar", "-tzf", path], item=f"{path}: tar -tzf").splitlines() if m]


def _open_gce(path: Path, scratch: Path, facts: dict[str, str]) -> Installed:
    members = _tar_members(path)
    facts["members"] = " ".join(members)
    if members != [GCE_MEMBER]:
        raise _Malformed(f"{path}: a GCE image holds {GCE_MEMBER} only; tar lists {members}")
    out = scratch / "gce"
    out.mkdir()
    _check(["tar", "-xSzf", path, "-C", out, GCE_MEMBER], item=f"{path}: tar -x")
    return _open_raw(out / GCE_MEMBER, scratch, facts)


def _open_pxe2live(path: Path, scratch: Path, facts: dict[str, str]) -> Installed:
    members = _tar_members(path)
    facts["members"] = " ".join(members)
    if sorted(members) != list(MEMBERS):
        raise _Malformed(f"{path}: expected exactly {', '.join(MEMBERS)}; tar lists {members}")
    out = scratch / "pxe"
    out.mkdir()
    _check(["tar", "-xzf", path, "-C", out], item=f"{path}: tar -x")
    # PXE_CONFIG (lorax's pxe-config.tmpl): "kernel <PXE_DIR>K" and "append initrd=<PXE_DIR>I root=live:<URL>/S ..."
    lines = [line.split() for line in (out / PXE_CONFIG).read_text(errors="replace").splitlines()]
    words = {line[0]: line[1:] for line in lines if line and not line[0].startswith("#")}
    append = words.get("append", [])
    for needed, where in (
        (PXE_KERNEL, words.get("kernel", [])[:1]),
        (PXE_INITRD, [w for w in append if w.startswith("initrd=")]),
        (LIVE_IMAGE, [w for w in append if w.startswith("root=live:")]),
    ):
        if not any(word.endswith(needed) for word in where):
            raise _Malformed(f"{path}: {PXE_CONFIG} does not name {needed}")
    squashfs = out / LIVE_IMAGE
    listing = _check(["unsquashfs", "-l", squashfs], item=f"{path}: unsquashfs -l {LIVE_IMAGE}").split()
    facts["squashfs-top"] = " ".join(p for p in listing if p.count("/") == 1)
    if f"squashfs-root/{ROOTFS_IMG}" in listing or "squashfs-root/usr" not in listing:
        raise _Malformed(f"{path}: {LIVE_IMAGE} is not the root as a plain squashfs (unsquashfs -l: {listing[:12]})")
    rpmdb = [f"/{location}" for location in RPMDB_LOCATIONS if f"squashfs-root/{location}" in listing]
    if not rpmdb:
        raise _Malformed(f"{path}: {LIVE_IMAGE} holds no rpmdb (looked in {', '.join(RPMDB_LOCATIONS)})")
    live = out / "live"
    _check(["unsquashfs", "-q", "-n", "-d", live, squashfs, *rpmdb], item=f"{path}: unsquashfs -d")
    location, _ = find_rpmdb(live)
    return query_installed(live / location, item=f"{path}: {LIVE_IMAGE} /{location}")


def _open_iso(path: Path, scratch: Path, facts: dict[str, str], gpg_key: Path | None) -> Installed:
    if gpg_key is None or not Path(gpg_key).is_file():
        raise ValueError(f"{path}: opening an installer ISO needs the public key its packages are signed with")
    listing = _check(["xorriso", "-indev", path, "-find", "/"], item=f"{path}: xorriso -find")
    files = [line.strip().strip("'") for line in listing.splitlines() if line.startswith("'")]
    for needed in ("/.treeinfo", "/.discinfo", "/repodata/repomd.xml"):
        if needed not in files:
            raise _Malformed(f"{path}: the ISO has no {needed} (xorriso lists {len(files)} paths)")
    facts["files"] = str(len(files))
    pvd = _check(["xorriso", "-indev", path, "-pvd_info"], item=f"{path}: xorriso -pvd_info")
    facts["volume-id"] = next(
        (line.split(":", 1)[1].strip() for line in pvd.splitlines() if line.startswith("Volume Id")), ""
    )
    _check(["checkisomd5", path], item=f"{path}: checkisomd5")  # exit 0 only when the implanted MD5 matches
    facts["checkisomd5"] = "PASS"
    tree = scratch / "iso"
    _check(["xorriso", "-osirrox", "on", "-indev", path, "-extract", "/", tree], item=f"{path}: xorriso -extract")
    ti = productmd.treeinfo.TreeInfo()
    try:
        ti.load(str(tree / ".treeinfo"))
        productmd.discinfo.DiscInfo().load(str(tree / ".discinfo"))
    except Exception as exc:  # productmd raises ValueError, TypeError, configparser errors…
        raise _Malformed(f"{path}: productmd cannot read the tree metadata: {exc}") from exc
    for relpath, (kind, value) in sorted(ti.checksums.checksums.items()):
        target = tree / relpath
        if not target.is_file() or compute_checksum(str(target), kind) != value:
            raise _Malformed(f"{path}: {relpath} does not match its {kind} checksum in .treeinfo")
    facts["release"] = f"{ti.release.short}-{ti.release.version}"
    variant = next(iter(ti.variants.variants.values()))
    repo = (tree / variant.paths.repository).resolve()
    # every package of the medium's repository, installed as the release's roots are (the product's installer:
    # exactly these packages, dependencies within them, gpgcheck on with the key)
    packages = sorted(rpm.name.rsplit(".", 2)[0] for rpm in repo.rglob("*.rpm"))
    source = YumRepo("iso", repo.as_uri(), (Path(gpg_key).absolute().as_uri(),))
    try:
        installed = install_root(
            scratch / "installroot", packages, [source], releasever=ti.release.version, item=f"{path}: dnf install"
        )
    except (RootfsError, ToolError) as exc:
        raise _Malformed(f"{path}: its repository does not install with dnf: {exc}") from exc
    return tuple(installed)


_OPENERS: dict[str, Callable[[Path, Path, dict[str, str]], Installed]] = {
    "raw": _open_raw,
    "raw-xz": _open_raw_xz,
    "qcow2": _open_qcow2,
    "tar-gz": _open_gce,
    "pxe2live": _open_pxe2live,
}
FORMATS = (*_OPENERS, "iso")


def open_image(path: Path, fmt: str, *, gpg_key: Path | None = None) -> Opened:
    """Open ``path`` as ``fmt`` (one of FORMATS; ``iso`` needs ``gpg_key``, the packages' public key) and report.

    Read-only and repeatable: the same file gives the same answer. An unknown format or a missing key is a
    ValueError (a caller's mistake); a missing, truncated or malformed file is ``well_formed=False``.
    """
    if fmt not in FORMATS:
        raise ValueError(f"{fmt}: not an image format (known: {', '.join(FORMATS)})")
    path = Path(path).absolute()
    facts: dict[str, str] = {}
    if not path.is_file():
        return Opened(path, fmt, False, f"{path}: no such file", None, facts)
    with _scratch() as scratch:
        try:
            opener = _OPENERS.get(fmt)
            installed = opener(path, scratch, facts) if opener else _open_iso(path, scratch, facts, gpg_key)
        except (_Malformed, ImageBuildError) as exc:  # ImageBuildError: the rpmdb inside could not be read
            message = str(exc) if str(exc).startswith(str(path)) else f"{path} ({fmt}): {exc}"
            return Opened(path, fmt, False, message, None, facts)
    packages = nvras(installed)
    message = f"{path}: well-formed {fmt}, {len(packages)} packages"
    return Opened(path, fmt, True, message, packages, facts, installed)
