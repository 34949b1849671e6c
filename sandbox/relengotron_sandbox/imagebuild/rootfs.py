"""Reading an installed root: where its rpmdb is, which packages it holds, which kernels its /boot carries.

The rpmdb of a root is wherever the rpm that installed it put it (its ``%_dbpath`` under the root):

- ``var/lib/rpm`` — Fedora up to 35 (Fedora 24: Berkeley DB ``Packages``; sqlite ``rpmdb.sqlite`` from Fedora 33);
- ``usr/lib/sysimage/rpm`` — Fedora 36 and later (rpm's upstream default since 4.17);
- ``root/.rpmdb`` — Debian's rpm, whose ``%_dbpath`` is ``%(bash -c 'echo ~/.rpmdb')`` (/usr/lib/rpm/macros): the
  invoking user's home, so ``dnf --installroot R`` run as root here leaves the rpmdb in ``R/root/.rpmdb``.

A backend is recognised by its file: ``rpmdb.sqlite`` (sqlite), ``Packages.db`` (ndb), ``Packages`` (bdb). An
rpmdb is always queried from a copy (``rpm --dbpath COPY``): rpm may write a lock or sqlite's shared-memory file
even for a query, and pointing ``--dbpath`` at a directory without a database would silently create an empty one.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from relengotron.tools.rootfs import InstalledPackage, read_rpmdb
from relengotron.tools.run import ToolError
from relengotron_sandbox.imagebuild.common import ImageBuildError

RPMDB_LOCATIONS = ("var/lib/rpm", "usr/lib/sysimage/rpm", "root/.rpmdb")
RPMDB_FILES = {"rpmdb.sqlite": "sqlite", "Packages.db": "ndb", "Packages": "bdb"}
# rpm -qa's own default format (name-version-release.arch), the form of Koji's nvra and of the image manifest.
NVRA_QUERYFORMAT = "%{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}\\n"

# lorax's findkernels (src/pylorax/treebuilder.py): vmlinuz-<version>.<arch>[.<flavor>] in /boot, the initrd being
# the file of that version ending in .img, "initramfs-" as the modern name of "initrd-".
_KERNEL_FLAVORS = ("debug", "PAE", "PAEdebug", "smp", "xen", "lpae", "64k")
_KERNEL_RE = re.compile(
    r"vmlinuz-(?P<version>.+?\.(?P<arch>[a-z0-9_]+)(.(?P<flavor>{}))?)$".format("|".join(_KERNEL_FLAVORS))
)


@dataclass(frozen=True)
class Kernel:
    version: str  # e.g. 4.5.7-300.fc24.x86_64
    arch: str
    vmlinuz: PurePosixPath  # relative to the root, e.g. boot/vmlinuz-4.5.7-300.fc24.x86_64
    initrd: PurePosixPath | None  # boot/initramfs-<version>.img when the root has one


def find_rpmdb(root: Path) -> tuple[PurePosixPath, str]:
    """(the rpmdb's directory relative to ``root``, its backend). :class:`ImageBuildError` naming ``root`` and the
    places looked at when it has none."""
    root = Path(root)
    if not root.is_dir():
        raise ImageBuildError(f"{root}: not a directory (an installed root is expected)")
    for location in RPMDB_LOCATIONS:
        for filename, backend in RPMDB_FILES.items():
            if (root / location / filename).is_file():
                return PurePosixPath(location), backend
    looked = ", ".join(f"/{loc}" for loc in RPMDB_LOCATIONS)
    raise ImageBuildError(f"{root}: no rpmdb in the root (looked in {looked}): not an installed root")


def query_installed(dbdir: Path, *, item: str) -> tuple[InstalledPackage, ...]:
    """The packages in the rpmdb directory ``dbdir`` with their source RPMs (queried from a copy, with the product's
    reader: :func:`relengotron.tools.rootfs.read_rpmdb`), gpg-pubkey entries left out.

    :class:`ImageBuildError` naming ``item`` when there is no database there or rpm cannot read it.
    """
    dbdir = Path(dbdir)
    if not any((dbdir / name).is_file() for name in RPMDB_FILES):
        raise ImageBuildError(f"{item}: no rpmdb in {dbdir}")
    with tempfile.TemporaryDirectory(prefix="rpmdb-") as tmp:
        copy = Path(tmp) / "db"
        shutil.copytree(dbdir, copy, symlinks=True)
        try:
            return read_rpmdb(copy, item=item)
        except ToolError as exc:
            raise ImageBuildError(str(exc)) from exc


def query_packages(dbdir: Path, *, item: str) -> frozenset[str]:
    """The NVRAs in the rpmdb directory ``dbdir`` (:func:`query_installed`)."""
    return nvras(query_installed(dbdir, item=item))


def nvras(installed: Iterable[InstalledPackage]) -> frozenset[str]:
    """``name-version-release.arch`` of each package (rpm -qa's default form)."""
    return frozenset(f"{package.nvr}.{package.arch}" for package in installed)


def root_packages(root: Path) -> frozenset[str]:
    """The NVRAs installed in ``root`` (its rpmdb, wherever it is). Raises naming ``root`` when it has none."""
    location, _ = find_rpmdb(root)
    packages = query_packages(Path(root) / location, item=str(root))
    if not packages:
        raise ImageBuildError(f"{root}: the rpmdb at /{location} lists no package")
    return packages


def find_kernels(root: Path) -> list[Kernel]:
    """The kernels in ``root``/boot, as lorax's findkernels finds them, sorted by file name."""
    boot = Path(root) / "boot"
    if not boot.is_dir():
        return []
    names = sorted(p.name for p in boot.iterdir() if p.is_file())
    kernels = []
    for name in names:
        match = _KERNEL_RE.match(name)
        if not match:
            continue
        version = match.group("version")
        initrd = next(
            (f for f in names if f.endswith(f"-{version}.img") and f.split("-", 1)[0] in ("initramfs", "initrd")),
            None,
        )
        kernels.append(
            Kernel(
                version=version,
                arch=match.group("arch"),
                vmlinuz=PurePosixPath("boot", name),
                initrd=PurePosixPath("boot", initrd) if initrd else None,
            )
        )
    return kernels


def tree_size(root: Path) -> int:
    """Bytes the files of ``root`` take (apparent sizes, each rounded up to 4 KiB blocks), symlinks not followed."""
    total = 0
    for path in Path(root).rglob("*"):
        if path.is_file() and not path.is_symlink():
            total += (path.lstat().st_size + 4095) // 4096 * 4096
        else:
            total += 4096
    return total
