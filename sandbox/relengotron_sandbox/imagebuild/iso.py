"""The installer ISO: a DVD as Pungi's createiso makes it from a variant's os tree.

The tree (Pungi's ``compose/<Variant>/<arch>/os``, with lorax's buildinstall output in it):

- ``Packages/<first letter>/<rpm>``: the RPM files as given — signed — of exactly the packages installed in the
  root (Fedora's pungi config sets ``hashed_directories = True``); ``repodata/`` by ``createrepo_c --database
  --checksum sha256`` over the tree;
- ``images/install.img``: the installer's stage2 as lorax makes it (treebuilder.py ``create_ext4_runtime``): a
  squashfs holding ``LiveOS/rootfs.img``, ext4 of the root labelled ``Anaconda``; ``images/pxeboot/vmlinuz`` and
  ``initrd.img`` when the root's /boot has a kernel and its initrd;
- ``.treeinfo`` and ``.discinfo`` written with productmd as Pungi's metadata.py ``write_tree_info``/
  ``write_discinfo`` do, tweaked for the medium as createiso's ``load_and_tweak_treeinfo``/``prepare_iso`` do
  (``[media] discnum = totaldiscs = 1``, ``.discinfo`` disc numbers ``[1]``).

The ISO is written by :func:`~relengotron_sandbox.imagebuild.isofs.write_iso9660` (xorrisofs with Pungi's
mkisofs options, then ``implantisomd5 --supported-iso`` as createiso runs it; no El Torito boot record, see
there). The volume id is Pungi's ``get_volid`` with Fedora's configuration
(``image_volid_formats``, ``volume_id_substitutions``; pungi doc/examples.rst): ``Fedora-S-dvd-x86_64-24``.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import productmd.discinfo
import productmd.treeinfo

from relengotron_sandbox.imagebuild.common import ImageBuildError, staged, tool
from relengotron_sandbox.imagebuild.isofs import VOLID_MAX, write_iso9660
from relengotron_sandbox.imagebuild.live import make_live_squashfs
from relengotron_sandbox.imagebuild.rootfs import NVRA_QUERYFORMAT, find_kernels, root_packages

# Fedora's pungi configuration (pungi doc/examples.rst, "Fedora Rawhide compose"): the ISO volume id format and the
# substitutions that keep it within ISO 9660's 32 characters.
FEDORA_VOLID_FORMATS = ("%(release_short)s-%(variant)s-%(disc_type)s-%(arch)s-%(version)s",)
FEDORA_VOLID_SUBSTITUTIONS = {
    "Beta": "B",
    "Rawhide": "rawh",
    "Silverblue": "SB",
    "Cinnamon": "Cinn",
    "Cloud": "C",
    "Design_suite": "Dsgn",
    "Electronic_Lab": "Elec",
    "Everything": "E",
    "Scientific_KDE": "SciK",
    "Security": "Sec",
    "Server": "S",
    "Workstation": "WS",
}
STAGE2 = "images/install.img"
STAGE2_LABEL = "Anaconda"
PXEBOOT_KERNEL = "images/pxeboot/vmlinuz"
PXEBOOT_INITRD = "images/pxeboot/initrd.img"
PACKAGES_DIR = "Packages"


@dataclass(frozen=True)
class Product:
    """What Pungi's configuration says of the release and the variant (release_name, release_short, …)."""

    name: str = "Fedora"
    short: str = "Fedora"
    version: str = "24"
    variant: str = "Server"
    arch: str = "x86_64"
    disc_type: str = "dvd"


@dataclass(frozen=True)
class InstallerISO:
    path: Path
    volume_id: str
    packages: frozenset[str]  # NVRAs in the ISO's repository = those installed in the root


def volume_id(
    product: Product,
    formats: Iterable[str] = FEDORA_VOLID_FORMATS,
    substitutions: Mapping[str, str] = FEDORA_VOLID_SUBSTITUTIONS,
) -> str:
    """Pungi's ``get_volid``: the first format that, substituted (longest pattern first), fits in 32 characters."""
    values = {
        "release_short": product.short,
        "variant": product.variant,
        "disc_type": product.disc_type,
        "arch": product.arch,
        "version": product.version,
    }
    volid = ""
    for fmt in formats:
        volid = fmt % values
        for old, new in sorted(substitutions.items(), key=lambda kv: len(kv[0]), reverse=True):
            volid = volid.replace(old, new)
        if len(volid) <= VOLID_MAX:
            return volid
    raise ImageBuildError(f"{volid!r}: could not create a volume ID of at most {VOLID_MAX} characters")


def packages_path(filename: str) -> str:
    """Where an RPM goes in the tree: ``Packages/<first letter, lowercased>/<file>`` (hashed directories)."""
    return f"{PACKAGES_DIR}/{filename[0].lower()}/{filename}"


def treeinfo(product: Product, timestamp: int, *, has_pxeboot: bool) -> productmd.treeinfo.TreeInfo:
    """The medium's .treeinfo, checksums not yet added (they need the files)."""
    ti = productmd.treeinfo.TreeInfo()
    ti.release.name = product.name
    ti.release.short = product.short
    ti.release.version = product.version
    ti.release.is_layered = False
    ti.tree.arch = product.arch
    ti.tree.build_timestamp = timestamp
    variant = productmd.treeinfo.Variant(ti)
    variant.id = variant.uid = variant.name = product.variant
    variant.type = "variant"
    variant.paths.packages = PACKAGES_DIR
    variant.paths.repository = "."
    ti.variants.add(variant)
    ti.stage2.mainimage = STAGE2
    if has_pxeboot:
        ti.tree.platforms.add(product.arch)
        ti.images.images[product.arch] = {"kernel": PXEBOOT_KERNEL, "initrd": PXEBOOT_INITRD}
    ti.media.discnum = 1
    ti.media.totaldiscs = 1
    return ti


def discinfo(product: Product, timestamp: float) -> productmd.discinfo.DiscInfo:
    """The medium's .discinfo: Pungi's description ``"<release name> <version>"``, disc numbers [1]."""
    di = productmd.discinfo.DiscInfo()
    di.timestamp = timestamp
    di.description = f"{product.name} {product.version}"
    di.arch = product.arch
    di.disc_numbers = [1]
    return di


def select_rpms(rpms: Iterable[Path], wanted: frozenset[str], *, item: str) -> dict[str, Path]:
    """NVRA → RPM file for every package of ``wanted``, read from the files' headers (``rpm -qp``). The first file
    of an NVRA wins; files of other packages are left out. ImageBuildError naming the packages no file carries."""
    files = [Path(p) for p in rpms]
    found: dict[str, Path] = {}
    if files:
        out = tool(
            ["rpm", "-qp", "--nosignature", "--nodigest", "--qf", NVRA_QUERYFORMAT, *files], item=f"{item}: RPMs"
        )
        nvras = out.splitlines()
        if len(nvras) != len(files):
            raise ImageBuildError(f"{item}: rpm -qp read {len(nvras)} headers from {len(files)} files")
        for nvra, path in zip(nvras, files, strict=True):
            if nvra in wanted:
                found.setdefault(nvra, path)
    missing = sorted(wanted - set(found))
    if missing:
        raise ImageBuildError(f"{item}: no RPM file given for {', '.join(missing)} (installed in the root)")
    return found


def write_installer_iso(
    root: Path,
    dest: Path,
    *,
    rpms: Iterable[Path],
    product: Product = Product(),
    groupfile: Path | None = None,
    timestamp: float | None = None,
    volid: str | None = None,
) -> InstallerISO:
    """Write the installer ISO of ``root`` to ``dest``, its repository made of the ``rpms`` files of the packages
    installed in ``root`` (``groupfile``: comps for createrepo_c, optional; ``volid``: the volume id when the
    caller decides it — kojid's livemedia ``opts['volid']`` — else Pungi's :func:`volume_id` of ``product``).

    Not idempotent: an existing ``dest`` is refused; a root without an rpmdb, or an installed package no file
    carries, is an ImageBuildError naming it; the ISO is built beside ``dest`` and renamed into place when complete.
    """
    root = Path(root)
    packages = root_packages(root)
    chosen = select_rpms(rpms, packages, item=str(root))
    if volid is not None and not 0 < len(volid) <= VOLID_MAX:
        raise ImageBuildError(f"{dest}: volume id {volid!r} is not 1 to {VOLID_MAX} characters")
    volid = volume_id(product) if volid is None else volid
    stamp = time.time() if timestamp is None else timestamp
    kernels = [k for k in find_kernels(root) if k.initrd is not None]
    with staged({"iso": dest}) as (work, temps):
        tree = work / "tree"
        for path in chosen.values():
            target = tree / packages_path(path.name)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
        createrepo = ["createrepo_c", "--quiet", "--database", "--checksum", "sha256"]
        if groupfile is not None:
            createrepo += ["--groupfile", Path(groupfile).absolute()]
        tool([*createrepo, tree], item=f"{dest}: repository")
        scratch = work / "scratch"
        scratch.mkdir()
        (tree / STAGE2).parent.mkdir(parents=True)
        make_live_squashfs(root, tree / STAGE2, scratch, label=STAGE2_LABEL, arch=product.arch)
        if kernels:
            (tree / PXEBOOT_KERNEL).parent.mkdir(parents=True)
            shutil.copyfile(root / kernels[0].vmlinuz, tree / PXEBOOT_KERNEL)
            shutil.copyfile(root / str(kernels[0].initrd), tree / PXEBOOT_INITRD)
        ti = treeinfo(product, int(stamp), has_pxeboot=bool(kernels))
        checksummed = ["repodata/repomd.xml", STAGE2] + ([PXEBOOT_KERNEL, PXEBOOT_INITRD] if kernels else [])
        for relpath in checksummed:
            ti.checksums.add(relpath, "sha256", root_dir=str(tree))
        ti.dump(str(tree / ".treeinfo"))
        discinfo(product, stamp).dump(str(tree / ".discinfo"))
        write_iso9660(tree, temps["iso"], volid=volid, item=str(dest))
    return InstallerISO(path=Path(dest).absolute(), volume_id=volid, packages=packages)
