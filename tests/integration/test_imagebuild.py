"""The sandbox's image formats on real roots, checked with the stock tools a user would point at them.

The root is installed the way the release's images are: ``dnf --installroot`` from a repository of the built
world's signed RPMs, gpgcheck on with the world's key (dnf rather than ``rpm --root -i``: it resolves the
dependencies, so the root holds what a real install would). The world's ``kernel`` (an x86_64 build) carries
/boot/vmlinuz-<kver> and /boot/initramfs-<kver>.img, what a kernel install leaves there (worldbuild).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import productmd.treeinfo
import pytest
from dnfcheck import dnf

from relengotron.tools.livepxe import pxe_tarball_from_live_iso
from relengotron_sandbox.imagebuild.common import ImageBuildError
from relengotron_sandbox.imagebuild.disk import write_disk_images
from relengotron_sandbox.imagebuild.iso import write_installer_iso
from relengotron_sandbox.imagebuild.liveiso import write_live_iso
from relengotron_sandbox.imagebuild.openers import open_image

pytestmark = pytest.mark.integration

# f24 builds of the world: the root's packages and their dependencies, plus python3 (in the repository, not installed)
BUILDS = (
    "filesystem-3.2-37.fc24",
    "setup-2.10.1-1.fc24",
    "glibc-2.23.1-7.fc24",
    "bash-4.3.42-5.fc24",
    "coreutils-8.25-6.fc24",
    "openssl-libs-1.0.2h-1.fc24",
    "systemd-229-8.fc24",
    "kernel-4.5.7-300.fc24",
    "dracut-044-22.fc24",
    "python3-3.5.1-7.fc24",
)
INSTALL = ("bash", "coreutils", "systemd", "kernel", "dracut")
KVER = "4.5.7-300.fc24.x86_64"
ROOT_NVRAS = frozenset(
    f"{nvr}.{KVER.rsplit('.', 1)[1] if nvr.startswith('kernel-') else 'noarch'}"
    for nvr in BUILDS
    if not nvr.startswith("python3-")
)  # what dnf installs: INSTALL and their dependencies
NO_KERNEL = frozenset(n for n in ROOT_NVRAS if not n.startswith(("kernel-", "dracut-")))


def sh(*args: str | Path, input: bytes | None = None) -> str:
    proc = subprocess.run([str(a) for a in args], capture_output=True, input=input, check=False)
    assert proc.returncode == 0, f"{args[0]} exited {proc.returncode}: {proc.stderr.decode(errors='replace')}"
    return proc.stdout.decode(errors="replace")


def dnf_install(repo: Path, key: Path, root: Path, *names: str) -> None:
    """Stock ``dnf --installroot`` from ``repo`` only, gpgcheck on with ``key``."""
    dnf(repo, root.parent / f"{root.name}-cache", "-y", "install", *names, root=root, gpgkey=key)


def rpm_qa(root: Path) -> frozenset[str]:
    """The root's packages as Debian's rpm reads them (``rpm --root``: its rpmdb is ROOT/root/.rpmdb here)."""
    out = sh("rpm", "--root", root, "-qa", "--qf", "%{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}\\n")
    return frozenset(line for line in out.splitlines() if not line.startswith("gpg-pubkey-"))


@pytest.fixture(scope="module")
def world_rpms(built_world) -> dict[str, tuple[Path, Path]]:
    """NVRA → (signed RPM, unsigned RPM) for the binary RPMs of BUILDS."""
    out = {}
    for nvr in BUILDS:
        for rpm in built_world.rpms[nvr]:
            if rpm.arch != "src" and not rpm.name.endswith(("-debuginfo", "-debugsource")):
                out[rpm.nvra] = (built_world.topdir / rpm.signed_relpath, built_world.topdir / rpm.relpath)
    return out


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory, world_rpms: dict[str, tuple[Path, Path]]) -> Path:
    repo = tmp_path_factory.mktemp("repo")
    for signed, _ in world_rpms.values():
        shutil.copy(signed, repo / signed.name)
    sh("createrepo_c", "--quiet", repo)
    return repo


@pytest.fixture(scope="module")
def key(built_world) -> Path:
    return built_world.public_key


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory, repo: Path, key: Path) -> Path:
    root = tmp_path_factory.mktemp("roots") / "full"
    dnf_install(repo, key, root, *INSTALL)
    assert rpm_qa(root) == ROOT_NVRAS
    assert {p.name for p in (root / "boot").iterdir()} == {f"vmlinuz-{KVER}", f"initramfs-{KVER}.img"}
    return root


@pytest.fixture(scope="module")
def root_without_kernel(tmp_path_factory: pytest.TempPathFactory, repo: Path, key: Path) -> Path:
    root = tmp_path_factory.mktemp("roots") / "no-kernel"
    dnf_install(repo, key, root, *(n for n in INSTALL if n not in ("kernel", "dracut")))
    assert rpm_qa(root) == NO_KERNEL
    return root


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_disk_formats_are_what_file_and_qemu_img_say_and_hold_the_roots_packages(root: Path, tmp_path: Path) -> None:
    out = tmp_path / "images"
    targets = {
        "raw": out / "Fedora-Cloud-Base-24.x86_64.raw",
        "raw-xz": out / "Fedora-Cloud-Base-24.x86_64.raw.xz",
        "qcow2": out / "Fedora-Cloud-Base-24.x86_64.qcow2",
        "tar-gz": out / "Fedora-Cloud-Base-GCE-24.x86_64.tar.gz",
    }
    written = write_disk_images(root, targets)
    assert written.packages == ROOT_NVRAS
    assert sorted(leftovers(out)) == sorted(p.name for p in targets.values())  # no staging directory left

    raw_file = sh("file", targets["raw"])
    assert "DOS/MBR boot sector" in raw_file and "ID=0x83" in raw_file and "startsector 2048" in raw_file
    assert "XZ compressed data" in sh("file", targets["raw-xz"])
    assert "DOS/MBR boot sector" in sh("sh", "-c", f"xz -dc '{targets['raw-xz']}' | file -")
    assert "QEMU QCOW Image (v2)" in sh("file", targets["qcow2"])
    assert "gzip compressed data" in sh("file", targets["tar-gz"])
    assert sh("tar", "-tzf", targets["tar-gz"]).split() == ["disk.raw"]
    assert "file format: raw" in sh("qemu-img", "info", targets["raw"])
    assert "file format: qcow2" in sh("qemu-img", "info", targets["qcow2"])
    assert "No errors were found" in sh("qemu-img", "check", targets["qcow2"])
    layout = sh("sfdisk", "--dump", targets["raw"])
    assert "label: dos" in layout and "start=        2048" in layout and "type=83" in layout

    for fmt, path in targets.items():
        opened = open_image(path, fmt)
        assert opened.well_formed, opened.message
        assert opened.packages == ROOT_NVRAS, fmt
        assert opened.facts["partition-offset"] == str(1024 * 1024)


def test_a_disk_of_a_root_missing_a_package_opens_to_a_different_set(
    root: Path, root_without_kernel: Path, tmp_path: Path
) -> None:
    full = write_disk_images(root, {"raw-xz": tmp_path / "full.raw.xz"})
    short = write_disk_images(root_without_kernel, {"raw-xz": tmp_path / "short.raw.xz"})
    opened_full = open_image(full.files["raw-xz"], "raw-xz")
    opened_short = open_image(short.files["raw-xz"], "raw-xz")
    assert opened_full.well_formed and opened_short.well_formed
    assert opened_full.packages == ROOT_NVRAS
    assert opened_short.packages == NO_KERNEL
    assert opened_short.packages != opened_full.packages  # the check that holds a broken artifact back


def test_installer_iso_lists_with_xorriso_and_dnf_installs_from_its_repository(
    root: Path, world_rpms: dict[str, tuple[Path, Path]], key: Path, tmp_path: Path
) -> None:
    dest = tmp_path / "Fedora-Server-dvd-x86_64-24.iso"
    iso = write_installer_iso(root, dest, rpms=[signed for signed, _ in world_rpms.values()])
    assert iso.volume_id == "Fedora-S-dvd-x86_64-24"
    assert "ISO 9660 CD-ROM filesystem data 'Fedora-S-dvd-x86_64-24'" in sh("file", dest)
    listing = sh("xorriso", "-indev", dest, "-find", "/")
    for path in ("/.treeinfo", "/.discinfo", "/repodata/repomd.xml", "/images/install.img",
                 "/Packages/b/bash-4.3.42-5.fc24.noarch.rpm", "/images/pxeboot/vmlinuz"):  # fmt: skip
        assert f"'{path}'" in listing, path
    assert "python3" not in listing  # given, but not installed in the root: not on the medium
    sh("checkisomd5", dest)

    tree = tmp_path / "tree"
    sh("xorriso", "-osirrox", "on", "-indev", dest, "-extract", "/", tree)
    ti = productmd.treeinfo.TreeInfo()
    ti.load(str(tree / ".treeinfo"))
    assert (ti.release.short, ti.release.version, ti.tree.arch) == ("Fedora", "24", "x86_64")
    assert ti.variants["Server"].paths.repository == "." and ti.stage2.mainimage == "images/install.img"
    assert (ti.media.discnum, ti.media.totaldiscs) == (1, 1)
    assert "squashfs-root/LiveOS/rootfs.img" in sh("unsquashfs", "-l", tree / "images" / "install.img")
    installroot = tmp_path / "installroot"
    dnf_install(tree, key, installroot, "bash")
    assert "bash-4.3.42-5.fc24.noarch" in rpm_qa(installroot)

    opened = open_image(dest, "iso", gpg_key=key)
    assert opened.well_formed, opened.message
    assert opened.packages == ROOT_NVRAS
    assert opened.facts["volume-id"] == "Fedora-S-dvd-x86_64-24" and opened.facts["checkisomd5"] == "PASS"


def test_an_iso_carrying_an_unsigned_package_is_not_installable(
    root: Path, world_rpms: dict[str, tuple[Path, Path]], key: Path, tmp_path: Path
) -> None:
    rpms = [unsigned if nvra.startswith("coreutils-") else signed for nvra, (signed, unsigned) in world_rpms.items()]
    dest = write_installer_iso(root, tmp_path / "unsigned.iso", rpms=rpms).path
    opened = open_image(dest, "iso", gpg_key=key)
    assert not opened.well_formed and opened.packages is None
    assert "dnf" in opened.message


def iso_paths(iso: Path) -> list[str]:
    """The paths ``xorriso -indev ISO -find /`` lists."""
    listing = sh("xorriso", "-indev", iso, "-find", "/")
    return [line.strip("'") for line in listing.splitlines() if line.startswith("'")]


def test_live_iso_holds_the_root_as_a_plain_squashfs_and_the_kernel_where_lorax_puts_it(
    root: Path, tmp_path: Path
) -> None:
    """livemedia-creator --make-iso --squashfs-only, as kojid's createLiveMedia uploads it; then the product's PXE
    tarball made of it, opened as the sandbox Taskotron opens a pxe2live."""
    dest = tmp_path / "Fedora-Atomic-pxe2live-x86_64-24-1.iso"
    written = write_live_iso(root, dest, volid="Fedora-AH-pxe2live-24-1.fc24")
    assert written.volume_id == "Fedora-AH-pxe2live-24-1-fc24"  # lorax's isolabel: '.' is no label character
    described = sh("file", dest)
    assert "ISO 9660 CD-ROM filesystem data" in described and "'Fedora-AH-pxe2live-24-1-fc24'" in described
    paths = iso_paths(dest)
    for needed in (
        "/LiveOS/squashfs.img",
        "/images/pxeboot/vmlinuz",
        "/images/pxeboot/initrd.img",
        "/isolinux/vmlinuz",
        "/isolinux/initrd.img",
    ):
        assert needed in paths, paths
    assert sh("checkisomd5", dest)  # exit 0: the implanted MD5 matches
    out = tmp_path / "out"
    sh("xorriso", "-osirrox", "on", "-indev", dest, "-extract", "/", out)
    assert (out / "images/pxeboot/vmlinuz").read_bytes() == (root / "boot" / f"vmlinuz-{KVER}").read_bytes()
    assert (out / "images/pxeboot/initrd.img").read_bytes() == (root / "boot" / f"initramfs-{KVER}.img").read_bytes()
    squashfs = out / "LiveOS" / "squashfs.img"
    assert "Squashfs filesystem" in sh("file", squashfs)
    listing = sh("unsquashfs", "-l", squashfs).split()
    # squashfs-only: the root's directories at the squashfs's top, no LiveOS/rootfs.img
    assert {"squashfs-root/usr", "squashfs-root/var", "squashfs-root/boot"} <= set(listing)
    assert f"squashfs-root/boot/vmlinuz-{KVER}" in listing and not any("LiveOS" in p for p in listing)

    tarball = pxe_tarball_from_live_iso(dest, tmp_path / "Fedora-Atomic-pxe2live-x86_64-24.tar.gz", item="pxe2live")
    assert sorted(sh("tar", "-tzf", tarball).split()) == [
        "PXE_CONFIG",
        "initrd.img",
        "live-rootfs.squashfs.img",
        "vmlinuz",
    ]
    opened = open_image(tarball, "pxe2live")
    assert opened.well_formed, opened.message
    assert opened.packages == written.packages == ROOT_NVRAS


def test_live_iso_of_a_root_without_kernel_names_it_and_writes_nothing(
    root: Path, root_without_kernel: Path, tmp_path: Path
) -> None:
    with pytest.raises(ImageBuildError, match=r"no kernel in /boot") as err:
        write_live_iso(root_without_kernel, tmp_path / "live.iso", volid="live")
    assert str(root_without_kernel) in str(err.value)
    half = tmp_path / "half-root"
    shutil.copytree(root, half, symlinks=True)
    (half / "boot" / f"initramfs-{KVER}.img").unlink()
    with pytest.raises(ImageBuildError, match=rf"/boot/initramfs-{KVER}\.img is missing"):
        write_live_iso(half, tmp_path / "live.iso", volid="live")
    assert "live.iso" not in leftovers(tmp_path)


def test_a_root_without_rpmdb_is_refused_by_every_writer(
    tmp_path: Path, world_rpms: dict[str, tuple[Path, Path]]
) -> None:
    bare = tmp_path / "bare"
    (bare / "usr" / "bin").mkdir(parents=True)
    (bare / "usr" / "bin" / "sh").write_text("#!/bin/sh\n")
    out = tmp_path / "out"
    calls = [
        lambda: write_disk_images(bare, {"raw-xz": out / "a.raw.xz"}),
        lambda: write_live_iso(bare, out / "live.iso", volid="live"),
        lambda: write_installer_iso(bare, out / "i.iso", rpms=[s for s, _ in world_rpms.values()]),
    ]
    for call in calls:
        with pytest.raises(ImageBuildError, match=rf"{bare}: no rpmdb in the root"):
            call()
    assert not out.exists() or leftovers(out) == []


def test_an_existing_destination_is_refused_and_left_as_it_was(root: Path, tmp_path: Path) -> None:
    dest = tmp_path / "Fedora-Cloud-Base-24.x86_64.raw.xz"
    dest.write_bytes(b"half an image from a killed writer")
    with pytest.raises(ImageBuildError, match=rf"{dest}: destination exists"):
        write_disk_images(root, {"raw-xz": dest, "qcow2": tmp_path / "new.qcow2"})
    assert dest.read_bytes() == b"half an image from a killed writer"
    assert leftovers(tmp_path) == [dest.name]
    opened = open_image(dest, "raw-xz")  # and the opener says what it is: not an xz stream
    assert not opened.well_formed and "xz" in opened.message


def test_a_writer_failing_midway_leaves_nothing_behind(root: Path, tmp_path: Path) -> None:
    big = tmp_path / "big-root"
    shutil.copytree(root, big, symlinks=True)
    (big / "var" / "tmp").mkdir(parents=True, exist_ok=True)
    (big / "var" / "tmp" / "blob").write_bytes(bytes(range(256)) * 16384)  # 4 MiB: more than a 2 MiB disk holds
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(ImageBuildError, match=r"mkfs\.ext4") as err:
        write_disk_images(big, {"raw": out / "tiny.raw", "qcow2": out / "tiny.qcow2"}, size_mib=2)
    assert str(out / "tiny.raw") in str(err.value) or "tiny.raw" in str(err.value)
    assert leftovers(out) == []


def test_openers_report_truncated_and_mislabelled_images_as_malformed(root: Path, tmp_path: Path) -> None:
    written = write_disk_images(root, {"qcow2": tmp_path / "d.qcow2", "tar-gz": tmp_path / "d.tar.gz"})
    qcow2 = written.files["qcow2"]
    truncated = tmp_path / "truncated.qcow2"
    truncated.write_bytes(qcow2.read_bytes()[: qcow2.stat().st_size // 2])
    opened = open_image(truncated, "qcow2")
    # qemu-img check passes a qcow2 cut after its metadata (missing clusters read as zeros): the partition table
    # read from it is what fails
    assert not opened.well_formed and opened.packages is None and str(truncated) in opened.message
    as_raw = open_image(qcow2, "raw")
    assert not as_raw.well_formed and "not raw" in as_raw.message
    as_pxe = open_image(written.files["tar-gz"], "pxe2live")
    assert not as_pxe.well_formed and "tar lists ['disk.raw']" in as_pxe.message
    other = tmp_path / "other.tar.gz"
    sh("tar", "-czf", other, "-C", root / "usr" / "share", "bash")
    gce = open_image(other, "tar-gz")
    assert not gce.well_formed and "holds disk.raw only" in gce.message
    assert not open_image(tmp_path / "missing.qcow2", "qcow2").well_formed
