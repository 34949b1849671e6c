"""What an image task makes: the root installed from the task's signed repositories, then the image files.

kojid's ``createImage`` has ImageFactory/Oz install the kickstart into a VM's disk and convert that disk per
``format``; its ``createLiveMedia`` has livemedia-creator install the kickstart (``--no-virt``) and make the
media. The sandbox's builder does the same two steps without a VM:

1. **the root** — exactly the packages the kickstart selects (:func:`relengotron_sandbox.koji.imagecontent.resolve`:
   ``%packages`` and their dependencies), installed with the product's own installer,
   :func:`relengotron.tools.rootfs.install_root` (``dnf --installroot``, dependencies resolved within the set),
   from the task's repositories (``opts['repo']`` as ``koji-override-N``, the names kojid's ``prepareKickstart``
   gives them; over HTTP from the hub's topurl), gpgcheck on with the key the sandbox's Koji signs with (the
   built world's public key). An unsigned package, a package no repository has, a dependency nothing provides:
   the task fails naming it. The result's ``rpmlist`` is what the root's rpmdb holds.
2. **the files**, with :mod:`relengotron_sandbox.imagebuild`:

   - image-build: one partitioned disk of the root written in each ``format`` asked (``raw``, ``raw-xz``,
     ``qcow2``, ``tar-gz``: :func:`~relengotron_sandbox.imagebuild.disk.write_disk_images`). The disk's size is
     the kickstart's ``part / --size`` (MiB, read with pykickstart) plus the MiB before the partition; without
     one (``--grow``) a size fitted to the root. ``opts['disk_size']`` (Oz's disk in GiB; the koji CLI sends 10)
     is not honoured: a sparse 10 GiB disk costs nothing to store but minutes to compress and check, and the
     sandbox keeps its images small;
   - live media: always an ``.iso``, the only file kojid's LiveMediaTask uploads; which one is read from the
     request as livemedia-creator reads its command line — kojid adds ``--squashfs-only`` when
     ``opts['squashfs_only']`` is set: the live ISO of a plain squashfs root
     (:func:`~relengotron_sandbox.imagebuild.liveiso.write_live_iso`, labelled with kojid's ``--volid``:
     ``opts['volid']`` or :func:`shorten_volid`), which the pxe2live kind asks for
     (:class:`relengotron.artifacts.images.Pxe2Live` derives its PXE tarball from it); without it, the installer
     ISO (:func:`~relengotron_sandbox.imagebuild.iso.write_installer_iso`; this project's proposal), its
     repository the distRepo's signed RPM files of exactly the installed packages. The sandbox's dist repos carry
     no comps (its tags have no groups: koji/tags.py), so the ISO's repository has no group data either.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import koji
from pykickstart.parser import KickstartParser

from relengotron.tools.rootfs import DBPATH, InstalledPackage, RootfsError, YumRepo, install_root
from relengotron.tools.run import ToolError, run
from relengotron_sandbox.imagebuild.common import ImageBuildError
from relengotron_sandbox.imagebuild.disk import FORMATS as DISK_FORMATS
from relengotron_sandbox.imagebuild.disk import PARTITION_OFFSET, write_disk_images
from relengotron_sandbox.imagebuild.ext4 import MIB
from relengotron_sandbox.imagebuild.iso import Product, write_installer_iso
from relengotron_sandbox.imagebuild.liveiso import write_live_iso
from relengotron_sandbox.koji.imagecontent import RepoPackage, download

__all__ = [
    "DISK_FORMATS",
    "install",
    "iso_product",
    "lose_package",
    "root_size_mib",
    "shorten_volid",
    "write_disks",
    "write_livemedia",
]

BUILD_FAILURES = (RootfsError, ToolError, ImageBuildError)  # what a failing install or writer raises
# kojid's LiveMediaTask._shortenVolID substitutions ("Duplicated with pungi-fedora fedora.conf")
KOJID_VOLID_SUBSTITUTIONS = {
    "Beta": "B",
    "Rawhide": "rawh",
    "Astronomy_KDE": "AstK",
    "Atomic": "AH",
    "Cinnamon": "Cinn",
    "Cloud": "C",
    "Design_suite": "Dsgn",
    "Electronic_Lab": "Elec",
    "Everything": "E",
    "Games": "Game",
    "Images": "img",
    "Jam_KDE": "Jam",
    "MATE_Compiz": "MATE",
    "Python-Classroom": "Clss",
    "Python_Classroom": "Clss",
    "Robotics": "Robo",
    "Scientific_KDE": "SciK",
    "Security": "Sec",
    "Server": "S",
    "Workstation": "WS",
    "WorkstationOstree": "WS",
}


def shorten_volid(name: str, version: str, release: str) -> str:
    """kojid's ``_shortenVolID``: the volume id livemedia-creator gets when ``opts['volid']`` is not set —
    ``<name>-<version>-<release>`` after the substitutions (longest first), cut to 32 characters. Pure."""
    for old, new in sorted(KOJID_VOLID_SUBSTITUTIONS.items(), key=lambda kv: len(kv[0]), reverse=True):
        name, version, release = (part.replace(old, new) for part in (name, version, release))
    return f"{name}-{version}-{release}"[:32]


def install(
    chosen: Sequence[RepoPackage],
    urls: Sequence[str],
    gpgkey: Path,
    dest: Path,
    *,
    releasever: str,
    item: str,
) -> tuple[InstalledPackage, ...]:
    """Install exactly ``chosen`` (by NVRA) from the yum repositories at ``urls`` into the new directory ``dest``,
    gpgcheck on with ``gpgkey``; what the root's rpmdb holds. Not idempotent (``dest`` must not exist); raises
    one of :data:`BUILD_FAILURES` naming ``item`` and the package."""
    key = Path(gpgkey).absolute().as_uri()
    repos = [YumRepo(f"koji-override-{index}", url, (key,)) for index, url in enumerate(urls)]
    return install_root(dest, [pkg.nvra for pkg in chosen], repos, releasever=releasever, item=item)


def lose_package(root: Path, name: str, *, item: str) -> None:
    """Remove the package ``name`` from the installed ``root`` (its files and its rpmdb entry, no scriptlets, no
    dependency check): the world's scenario of a broken image (:class:`relengotron_sandbox.world.BrokenImage`).
    Never part of a sound build."""
    run(["rpm", f"--root={root}", f"--dbpath={DBPATH}", "-e", "--nodeps", "--noscripts", name], item=item)


def root_size_mib(parser: KickstartParser) -> int | None:
    """The size (MiB) the kickstart gives its ``/`` partition (``part / --size N``), or None (``--grow`` alone)."""
    for part in parser.handler.partition.partitions:
        if part.mountpoint == "/" and part.size:
            return int(part.size)
    return None


def write_disks(root: Path, outputs: dict[str, Path], parser: KickstartParser) -> None:
    """Write the disk of ``root`` in each format of ``outputs`` (format → file); the kickstart's ``/`` size or
    one fitted to the root. Not idempotent: the files must not exist."""
    size = root_size_mib(parser)
    write_disk_images(root, outputs, size_mib=None if size is None else size + PARTITION_OFFSET // MIB)


def iso_product(name: str, version: str, arch: str) -> Product:
    """The release, variant and disc type of an installer ISO read from its image name, the inverse of Pungi's
    ISO naming (``image_name_format``: ``<release_short>-<variant>-<disc_type>-<arch>-<version>.iso``; the Koji
    name is that without arch and version, e.g. ``Fedora-Server-dvd``). This project's rule: livemedia-creator
    only gets ``--project`` (the name) and ``--releasever``. LiveCDError when the name has another shape."""
    parts = name.split("-")
    if len(parts) != 3 or not all(parts):
        raise koji.LiveCDError(
            f"{name}: an installer ISO's name is <release_short>-<variant>-<disc_type> (Pungi's ISO names, "
            "e.g. Fedora-Server-dvd)"
        )
    short, variant, disc_type = parts
    return Product(name=short, short=short, version=version, variant=variant, arch=arch, disc_type=disc_type)


def write_livemedia(
    root: Path,
    dest: Path,
    *,
    squashfs_only: bool,
    chosen: Sequence[RepoPackage],
    downloads: Path,
    name: str,
    version: str,
    release: str,
    arch: str,
    volid: str | None,
) -> None:
    """Write the live media ISO to ``dest``: the squashfs-only live ISO with ``squashfs_only`` (volume id
    ``volid`` or kojid's :func:`shorten_volid`), else the installer ISO (its repository: ``chosen``'s RPM files,
    downloaded into ``downloads``). Not idempotent: ``dest`` must not exist."""
    if squashfs_only:
        write_live_iso(root, dest, volid=volid or shorten_volid(name, version, release), arch=arch)
        return
    product = iso_product(name, version, arch)
    rpms = [download(pkg, downloads) for pkg in chosen]
    write_installer_iso(root, dest, rpms=rpms, product=product, volid=volid)
