"""rpm-ostree's layout conventions: turn an installed root into the tree an rpm-ostree commit holds.

After rpm-ostree's ``create_rootfs_from_yumroot_content`` and ``migrate_rpm_and_yumdb`` (src/libpriv
rpmostree-postprocess.c of the 2015-2016 releases that composed Fedora 24 Atomic Host):

- the top level: ``dev proc run sys var sysroot`` directories and the symlinks ``opt -> var/opt``,
  ``srv -> var/srv``, ``mnt -> var/mnt``, ``root -> var/roothome``, ``home -> var/home``,
  ``media -> run/media``, ``ostree -> sysroot/ostree``, ``tmp -> sysroot/tmp`` (``init_rootfs``);
- ``/usr`` taken whole, but ``usr/local -> ../var/usrlocal``;
- ``/etc`` moved to ``/usr/etc`` (ostree merges it into each deployment's /etc);
- the rpmdb moved from ``var/lib/rpm`` to ``usr/share/rpm`` (lock files dropped), so
  ``rpm --dbpath <checkout>/usr/share/rpm -qa`` lists the tree's packages;
- ``/var`` is not committed: its directories and symlinks become ``usr/lib/tmpfiles.d/rpm-ostree-autovar.conf``
  lines (regular files in /var are dropped, as rpm-ostree does);
- ``/boot`` placed by the treefile's ``boot-location`` (``legacy``: /boot; ``both``, the default then: /boot and
  a copy in ``usr/lib/ostree-boot``; ``new``: ``usr/lib/ostree-boot`` only);
- the top-level compat entries ``lib lib64 lib32 bin sbin`` carried along. rpm-ostree carries them only as
  symlinks (UsrMove: ``bin -> usr/bin``); the sandbox world's ``filesystem`` predates UsrMove and ships /bin
  as a directory, so this project's proposal carries a directory there too rather than drop its files;
- the treefile itself in ``usr/share/rpm-ostree/treefile.json``.

Not done (nothing in a world without a real kernel or passwd files needs it; say so rather than fake it):
the kernel preparation (depmod, dracut, the boot checksum), the passwd/group migration to /usr/lib, the
nsswitch ``altfiles`` edit, SELinux labelling.

The commit's ``rpmostree.rpmdb.pkglist`` metadata (``a(sssss)``: name, epoch, version, release, arch, sorted;
rpm-ostree's ``rpmostree_create_rpmdb_pkglist_variant``) is :func:`pkglist`.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from relengotron.ostree.metadata import KEY_PKGLIST
from relengotron.tools.rootfs import DBPATH, InstalledPackage

__all__ = ["KEY_PKGLIST", "PostprocessError", "pkglist", "prepare_rootfs"]
RPMDB = "usr/share/rpm"
TREEFILE_COPY = "usr/share/rpm-ostree/treefile.json"
AUTOVAR = "usr/lib/tmpfiles.d/rpm-ostree-autovar.conf"
_TOPLEVEL_DIRS = ("dev", "proc", "run", "sys", "var", "sysroot")
_TOPLEVEL_LINKS = (
    ("opt", "var/opt"),
    ("srv", "var/srv"),
    ("mnt", "var/mnt"),
    ("root", "var/roothome"),
    ("home", "var/home"),
    ("media", "run/media"),
    ("ostree", "sysroot/ostree"),
    ("tmp", "sysroot/tmp"),
)
_COMPAT = ("lib", "lib64", "lib32", "bin", "sbin")
_BOOT_LOCATIONS = ("legacy", "both", "new")


class PostprocessError(RuntimeError):
    """The installed root cannot be turned into a tree (names the path or the treefile key)."""


def pkglist(installed: Iterable[InstalledPackage]) -> list[tuple[str, str, str, str, str]]:
    """rpm-ostree's package list of a tree: (name, epoch, version, release, arch), sorted (pure)."""
    return sorted((p.name, p.epoch, p.version, p.release, p.arch) for p in installed)


def prepare_rootfs(yumroot: Path, target: Path, treefile: Mapping[str, Any], treefile_json: bytes) -> None:
    """Move the installed root ``yumroot`` into a new tree at ``target`` following rpm-ostree's conventions.

    ``treefile`` is the compose's treefile (its ``boot-location`` is read), ``treefile_json`` its serialized form
    (copied into the tree). ``yumroot`` is consumed; ``target`` must not exist. Not idempotent (it moves).
    """
    boot_location = treefile.get("boot-location", treefile.get("boot_location", "both"))
    if boot_location not in _BOOT_LOCATIONS:
        raise PostprocessError(f"treefile key 'boot-location': {boot_location!r} is not one of {_BOOT_LOCATIONS}")
    target.mkdir()
    for name in _TOPLEVEL_DIRS:
        (target / name).mkdir()
    for name, link in _TOPLEVEL_LINKS:
        (target / name).symlink_to(link)
    _move(yumroot / "usr", target / "usr", empty_dir=True)
    usrlocal = target / "usr/local"
    _remove(usrlocal)
    usrlocal.symlink_to("../var/usrlocal")
    _move(yumroot / "etc", target / "usr/etc", empty_dir=True)
    _migrate_rpmdb(yumroot, target)
    _autovar(yumroot, target)
    _boot(yumroot, target, boot_location)
    for name in _COMPAT:
        source = yumroot / name
        if source.is_symlink() or source.is_dir():
            os.replace(source, target / name)
    copy = target / TREEFILE_COPY
    copy.parent.mkdir(parents=True, exist_ok=True)
    copy.write_bytes(treefile_json)


def _move(source: Path, dest: Path, *, empty_dir: bool = False) -> None:
    if source.is_dir() and not source.is_symlink():
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, dest)
    elif empty_dir:
        dest.mkdir(parents=True, exist_ok=True)


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


def _migrate_rpmdb(yumroot: Path, target: Path) -> None:
    legacy = yumroot / DBPATH.lstrip("/")
    if not legacy.is_dir():
        raise PostprocessError(f"{legacy}: the installed root has no rpmdb")
    for child in legacy.iterdir():
        if child.name.startswith("__db.") or child.name in (".dbenv.lock", ".rpm.lock"):
            child.unlink()
    dest = target / RPMDB
    if dest.is_symlink() or (dest.exists() and not dest.is_dir()):
        raise PostprocessError(f"{dest}: a package ships /{RPMDB} as a file; the rpmdb has no place")
    if not dest.exists():
        os.replace(legacy, dest)
        return
    # A package owns the directory (the sandbox world's `rpm` ships /usr/share/rpm/README; rpm-ostree would fail
    # to rename onto it): this project's proposal puts the rpmdb files in beside, refusing a name clash.
    for child in sorted(legacy.iterdir()):
        if (dest / child.name).exists() or (dest / child.name).is_symlink():
            raise PostprocessError(f"{dest / child.name}: a package ships it; the rpmdb file has no place")
        os.replace(child, dest / child.name)


def _autovar(yumroot: Path, target: Path) -> None:
    """tmpfiles.d lines for /var's directories and symlinks, as ``convert_var_to_tmpfiles_d`` writes them."""
    lines: list[str] = []
    var = yumroot / "var"
    if var.is_dir():
        for dirpath, dirnames, filenames in os.walk(var):
            dirnames.sort()
            for name in sorted(dirnames + filenames):
                path = Path(dirpath) / name
                info = path.lstat()
                rel = "/" + path.relative_to(yumroot).as_posix()
                if stat.S_ISDIR(info.st_mode):
                    lines.append(f"d {rel} 0{stat.S_IMODE(info.st_mode):o} {info.st_uid} {info.st_gid} - -")
                elif stat.S_ISLNK(info.st_mode):
                    lines.append(f"L {rel} - - - - {os.readlink(path)}")
    conf = target / AUTOVAR
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def _boot(yumroot: Path, target: Path, location: str) -> None:
    boot = yumroot / "boot"
    if not boot.is_dir():
        return
    ostree_boot = target / "usr/lib/ostree-boot"
    if location == "new":
        _move(boot, ostree_boot)
        return
    os.replace(boot, target / "boot")
    if location == "both":
        shutil.copytree(target / "boot", ostree_boot, symlinks=True)
