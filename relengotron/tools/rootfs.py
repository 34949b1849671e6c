"""Install exactly a set of packages from signed yum repositories into an empty root with ``dnf --installroot``.

What the root gets, and why:

- the requested packages, each named by a dnf package spec (an NVR such as ``glibc-2.23.1-7.fc24``), and
  either nothing else (the default: dnf only sees those, ``includepkgs`` = the specs, so dependencies are
  resolved *among them*: a dependency nothing in the set provides is an error naming it, never a silent
  extra package) or, ``with_dependencies``, what dnf resolves they need from the repositories — rpm-ostree's
  semantics for a treefile's ``packages``; the caller then checks the result (an OSTree compose against its
  manifest). Weak dependencies are off (``install_weak_deps=0``): a Recommends would otherwise add a package
  nobody decided on (rpm-ostree's treefile key for the same thing is ``recommends: false``).
- signatures checked: every repository has ``gpgcheck=1`` and the release's public key(s) as ``gpgkey``; an
  unsigned package or one whose signature does not verify is refused by dnf before anything is installed. A
  repository without a key cannot even be described (:class:`YumRepo`).
- scriptlets run (no ``--noscripts``; rpm runs them chrooted into the root, which needs root privileges).
- the host's configuration isolated: a private ``dnf.conf`` (``--config``), private ``reposdir`` and
  ``varsdir``, no plugins, ``--releasever`` given (dnf would otherwise read it from the empty root); dnf's
  cache, logs, history and module state kept out of the root, in the work directory beside it. dnf always
  prefixes ``cachedir``/``logdir``/``persistdir`` with the install root (dnf/cli/cli.py ``_read_conf_file``),
  so they are given as ``/../dnf/...``: relative to the root, that is the work directory.
- the rpmdb at ``/var/lib/rpm`` (Fedora's place; rpm-ostree moves it to ``/usr/share/rpm`` afterwards).
  Debian's rpm puts it at ``~/.rpmdb`` (``%_dbpath %(bash -c 'echo ~/.rpmdb')`` in /usr/lib/rpm/macros), so
  dnf runs with a private ``HOME`` whose ``.rpmmacros`` sets ``%_dbpath``. The backend is the host rpm's
  (sqlite with rpm 4.18; it cannot write Fedora 24's Berkeley DB any more).
- afterwards the root holds the packages only: the ``gpg-pubkey`` entries dnf imported to check signatures
  are erased again, the rpmdb is checkpointed into one file (no ``-wal``/``-shm``/lock leftovers), and the
  empty module-state directory libdnf always creates (``etc/dnf/modules.d``) goes unless a package owns it.

The root is built in a temporary directory beside the destination and renamed into place only when complete;
a failure leaves the destination as it was. Needs root privileges (rpm chroots for scriptlets).
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from relengotron.tools.run import ToolError, run

DNF = "dnf"
RPM = "rpm"
DBPATH = "/var/lib/rpm"  # where the installer puts the rpmdb inside the root
_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]*$")
_QF = "%{NAME}\\t%{EPOCHNUM}\\t%{VERSION}\\t%{RELEASE}\\t%{ARCH}\\t%{SOURCERPM}\\n"


class RootfsError(RuntimeError):
    """A root could not be installed; the message names the item (the artifact) and the offending package."""


@dataclass(frozen=True)
class YumRepo:
    """A yum repository to install from: always checked against ``gpgkey`` (one or more key URLs)."""

    id: str
    baseurl: str
    gpgkey: tuple[str, ...]  # file://, http(s):// URLs of the public keys packages must be signed with

    def __post_init__(self) -> None:
        if not _REPO_ID.match(self.id):
            raise RootfsError(f"bad yum repository id {self.id!r}")
        if not self.gpgkey:
            raise RootfsError(f"yum repository {self.id}: no gpgkey — packages are never installed unchecked")

    def text(self) -> str:
        """The ``.repo`` section (pure): enabled, ``gpgcheck=1``, the keys; metadata is not signed in Fedora."""
        return (
            f"[{self.id}]\nname={self.id}\nbaseurl={self.baseurl}\nenabled=1\n"
            f"gpgcheck=1\nrepo_gpgcheck=0\ngpgkey={' '.join(self.gpgkey)}\n"
        )


@dataclass(frozen=True, order=True)
class InstalledPackage:
    """One package as the root's rpmdb records it."""

    name: str
    epoch: str  # "0" when unset, as rpm-ostree records it
    version: str
    release: str
    arch: str
    sourcerpm: str  # e.g. glibc-2.23.1-7.fc24.src.rpm

    @property
    def nvr(self) -> str:
        return f"{self.name}-{self.version}-{self.release}"

    @property
    def nevra(self) -> str:
        return f"{self.name}-{self.epoch}:{self.version}-{self.release}.{self.arch}"

    @property
    def build(self) -> str:
        """The NVR of the build the package came from (its source RPM's)."""
        return self.sourcerpm.removesuffix(".rpm").removesuffix(".src").removesuffix(".nosrc")


def read_rpmdb(dbpath: str | Path, *, item: str) -> tuple[InstalledPackage, ...]:
    """The packages an rpmdb directory records, sorted, ``gpg-pubkey`` entries left out (read-only)."""
    out = run([RPM, "--dbpath", str(Path(dbpath).absolute()), "-qa", "--qf", _QF], item=item)
    packages = []
    for line in out.stdout.decode(errors="replace").splitlines():
        fields = line.split("\t")
        if len(fields) == 6 and fields[0] != "gpg-pubkey":
            packages.append(InstalledPackage(*fields))
    return tuple(sorted(packages))


def install_root(
    dest: str | Path,
    packages: Sequence[str],
    repos: Sequence[YumRepo],
    *,
    releasever: str,
    item: str,
    with_dependencies: bool = False,
    source_date_epoch: int | None = None,
    timeout: float = 3 * 3600.0,
) -> tuple[InstalledPackage, ...]:
    """Install ``packages`` from ``repos`` into a new root at ``dest``; the installed set (sorted).

    ``dest`` must not exist (an existing directory is refused, never overwritten). Every requested package
    ends up installed and, unless ``with_dependencies``, nothing else (checked against the rpmdb). Raises
    :class:`RootfsError` naming ``item`` and the package: a package no repository has, an unsigned package or
    one whose signature does not verify, a dependency nothing in the set (with ``with_dependencies``: in the
    repositories) provides; nothing is left behind then. Not idempotent by
    itself: callers remove ``dest`` to install again. With ``source_date_epoch`` rpm records that time (plus
    one second per package) as the install time (rpm honours ``SOURCE_DATE_EPOCH``): the same packages give
    a byte-identical rpmdb.
    """
    dest = Path(dest).absolute()
    if dest.exists() or dest.is_symlink():
        raise RootfsError(f"{item}: {dest} already exists: a root is installed into a new directory")
    if not packages:
        raise RootfsError(f"{item}: no packages to install")
    if not repos:
        raise RootfsError(f"{item}: no yum repository to install from")
    dest.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".rootfs", dir=dest.parent))
    try:
        root = work / "root"
        root.mkdir(mode=0o755)
        config = _write_config(work, repos)
        env = {"HOME": str(work / "home"), "LC_ALL": "C.UTF-8"}
        if source_date_epoch is not None:
            env["SOURCE_DATE_EPOCH"] = str(source_date_epoch)
        only = None if with_dependencies else packages
        _dnf_install(root, config, packages, only, env, releasever=releasever, item=item, timeout=timeout)
        _tidy_rpmdb(root, env, item=item)
        _drop_dnf_state(root, item=item)
        installed = read_rpmdb(root / DBPATH.lstrip("/"), item=item)
        _check_installed(installed, packages, item, exact=not with_dependencies)
        os.replace(root, dest)
        return installed
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _write_config(work: Path, repos: Sequence[YumRepo]) -> Path:
    """dnf.conf, the .repo files and an empty vars directory in ``work/conf``; ``HOME/.rpmmacros``."""
    conf = work / "conf"
    (conf / "repos.d").mkdir(parents=True)
    (conf / "vars").mkdir()
    for repo in repos:
        (conf / "repos.d" / f"{repo.id}.repo").write_text(repo.text(), encoding="utf-8")
    (work / "home").mkdir()
    (work / "home" / ".rpmmacros").write_text(f"%_dbpath {DBPATH}\n", encoding="utf-8")
    settings = {
        "gpgcheck": "1",
        "localpkg_gpgcheck": "1",
        "repo_gpgcheck": "0",
        "install_weak_deps": "0",
        "skip_if_unavailable": "0",
        "strict": "1",
        "best": "1",
        "keepcache": "0",
        "plugins": "0",
        "reposdir": str(conf / "repos.d"),
        "varsdir": str(conf / "vars"),
        # prefixed with the install root by dnf: "/../dnf" is work/dnf, beside the root
        "cachedir": "/../dnf/cache",
        "logdir": "/../dnf/log",
        "persistdir": "/../dnf/lib",
        "modulesdir": "/../dnf/modules.d",
    }
    path = conf / "dnf.conf"
    path.write_text("[main]\n" + "".join(f"{k}={v}\n" for k, v in settings.items()), encoding="utf-8")
    return path


def _dnf_install(
    root: Path,
    config: Path,
    packages: Sequence[str],
    only: Sequence[str] | None,
    env: dict[str, str],
    *,
    releasever: str,
    item: str,
    timeout: float,
) -> None:
    """``dnf install`` of ``packages``; dnf sees nothing but ``only`` when given (``includepkgs``)."""
    args = [DNF, "--assumeyes", f"--installroot={root}", f"--config={config}", f"--releasever={releasever}"]
    if only is not None:
        args.append(f"--setopt=includepkgs={','.join(only)}")
    args += ["install", *packages]
    proc = run(args, item=item, env=env, timeout=timeout, check=False)
    if proc.returncode != 0:
        text = (proc.stdout + b"\n" + proc.stderr).decode(errors="replace")
        raise RootfsError(f"{item}: {_explain(text, packages)}") from ToolError(item, args, proc.returncode, text)


def _explain(text: str, packages: Sequence[str]) -> str:
    """The first reason dnf gave, naming the package (pure)."""
    missing = re.findall(r"^No match for argument: (\S+)", text, re.MULTILINE)
    if missing:
        return f"package {missing[0]}: no repository has it" + _more(missing)
    unsigned = re.search(r"^Package (\S+?)(?:\.rpm)? is not signed", text, re.MULTILINE)
    if unsigned:
        return f"package {unsigned.group(1)}: not signed — refused, nothing installed"
    bad = re.search(r"^(?:Public key for|The GPG keys listed for the \S+ repository are) .*$", text, re.MULTILINE)
    if bad or "GPG check FAILED" in text:
        detail = bad.group(0) if bad else "GPG check FAILED"
        return f"signature check failed — refused, nothing installed: {detail}"
    problems = re.findall(r"^\s*(?:Problem(?: \d+)?: |- )((?:package|nothing provides|conflicting).*)$", text, re.M)
    if problems:
        first = next((p for p in problems if "requires" in p or "nothing provides" in p), problems[0])
        return f"dependency cannot be resolved: {first}"
    lines = [line for line in text.splitlines() if line.strip()]
    return "dnf failed: " + " | ".join(lines[-5:])


def _more(items: Sequence[str]) -> str:
    return f" (and {len(items) - 1} more: {', '.join(items[1:4])})" if len(items) > 1 else ""


def _tidy_rpmdb(root: Path, env: dict[str, str], *, item: str) -> None:
    """Erase the gpg-pubkey entries dnf imported, then fold the sqlite rpmdb into its one file.

    The keys were the means of checking, not packages of the root. rpm keeps the database in WAL mode; a
    checkpoint and journal mode DELETE leave ``rpmdb.sqlite`` alone (rpm switches back to WAL when it next
    writes). The lock file goes too, as rpm-ostree removes it before committing the rpmdb.
    """
    dbdir = root / DBPATH.lstrip("/")
    keys = run([RPM, "--root", str(root), "--dbpath", DBPATH, "-q", "gpg-pubkey"], item=item, check=False)
    names = [line for line in keys.stdout.decode(errors="replace").split() if line.startswith("gpg-pubkey-")]
    if names:
        run([RPM, "--root", str(root), "--dbpath", DBPATH, "--erase", "--allmatches", *names], item=item, env=env)
    sqlite = dbdir / "rpmdb.sqlite"
    if sqlite.is_file():
        db = sqlite3.connect(sqlite)
        try:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            db.execute("PRAGMA journal_mode=DELETE")
        finally:
            db.close()
    for leftover in (".rpm.lock", "rpmdb.sqlite-wal", "rpmdb.sqlite-shm"):
        (dbdir / leftover).unlink(missing_ok=True)


def _drop_dnf_state(root: Path, *, item: str) -> None:
    """Remove the empty ``etc/dnf/modules.d`` libdnf creates in every install root (its module state, at a
    fixed place) unless a package owns it: the root holds what its packages put there."""
    for rel in ("etc/dnf/modules.d", "etc/dnf"):
        path = root / rel
        if path.is_dir() and not path.is_symlink() and not any(path.iterdir()):
            owned = run([RPM, "--root", str(root), "--dbpath", DBPATH, "-qf", f"/{rel}"], item=item, check=False)
            if owned.returncode != 0:
                path.rmdir()


def _check_installed(installed: Sequence[InstalledPackage], packages: Sequence[str], item: str, *, exact: bool) -> None:
    """Every requested spec installed and, ``exact``, nothing else (pure). A spec is matched as name, NVR, NEVRA
    or NVRA."""
    names: dict[str, InstalledPackage] = {}
    for pkg in installed:
        for key in (pkg.name, pkg.nvr, f"{pkg.nvr}.{pkg.arch}", pkg.nevra):
            names[key] = pkg
    missing = [spec for spec in packages if spec not in names]
    if missing:
        raise RootfsError(f"{item}: package {missing[0]}: requested but not installed" + _more(missing))
    wanted = {names[spec] for spec in packages}
    extra = [pkg.nvr for pkg in installed if exact and pkg not in wanted]
    if extra:
        raise RootfsError(f"{item}: package {extra[0]}: installed but not requested" + _more(extra))
