"""Compose an OSTree from an rpm-ostree treefile into a scratch repository: locally, or on a compose host over SSH.

Both backends take a :class:`ComposeRequest` (the ref, the manifest, the package specs the tree is made of, the
signed yum repositories to install from and the release version) and return a :class:`ComposeResult`: a commit
in a fresh scratch repository under the backend's work directory. Nothing here touches the shared repository;
:mod:`relengotron.ostree.merge` decides whether the result goes there. Both write the same treefile
(:class:`relengotron.ostree.treefile.Treefile`: the request's package specs — the artifact's package names
pinned to the manifest's binary RPMs, :func:`relengotron.ostree.treefile.pinned_packages` — with their
dependencies resolved from the repositories as rpm-ostree does, ``recommends: false``, the base treefile's
other keys) and both check that the tree holds exactly the manifest's builds.

- :class:`LocalBackend` composes the treefile on this machine (:func:`compose_treefile`): the root installed
  by dnf with gpgcheck on (:func:`relengotron.tools.rootfs.install_root`), rpm-ostree's layout conventions
  applied (:mod:`relengotron.ostree.postprocess`) and committed with rpm-ostree's package list metadata.
- :class:`RemoteBackend` writes the treefile, its ``.repo`` files and the release's public keys into a
  per-compose directory on the compose host, runs ``rpm-ostree compose tree --write-commitid-to`` there and
  pulls exactly that commit into the scratch repository. The host's result is reached either through a shared
  filesystem (``fetch_from`` a local path: ``ostree pull-local``, Fedora's /mnt/koji arrangement) or over HTTP
  (``fetch_from`` an http(s) URL under which the host serves its compose directories: ``ostree pull``). Either
  way the pull asks for the commit checksum learned over the authenticated SSH channel and ostree checks every
  object against it; then the commit's rpmdb is read to check it holds the manifest.

Idempotency: composing the same request again replaces the scratch repository with an identical tree (same
content checksum); on the compose host the per-compose directory is recreated and removed after the pull.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from relengotron.manifest import Manifest
from relengotron.ostree.postprocess import KEY_PKGLIST, RPMDB, pkglist, prepare_rootfs
from relengotron.ostree.repo import OSTreeRepo, check_ref, is_checksum
from relengotron.ostree.treefile import TREEFILE, Treefile, TreefileError, YumRepo
from relengotron.tools.remote import CommandRunner, run_checked
from relengotron.tools.rootfs import InstalledPackage, install_root, read_rpmdb
from relengotron.tools.run import ToolError, run


class ComposeError(RuntimeError):
    """A compose could not produce a tree; the message names the ref (and the host, remotely)."""


@dataclass(frozen=True)
class ComposeRequest:
    ref: str  # e.g. fedora/24/x86_64/atomic-host
    manifest: Manifest
    packages: tuple[str, ...]  # the treefile's package specs (binary NVRs: pinned_packages)
    repos: tuple[YumRepo, ...]  # the release's signed yum repositories (URLs as the composer reaches them)
    releasever: str  # the release's version: dnf's and rpm-ostree's $releasever
    treefile_base: Mapping[str, Any] = field(default_factory=dict)  # the artifact's own treefile keys

    def __post_init__(self) -> None:
        check_ref(self.ref)

    def treefile(self, base: Mapping[str, Any]) -> Treefile:
        """The treefile of this compose (pure): the request's packages from the repositories, the backend's
        ``base`` keys overridden by the artifact's own (``treefile_base``)."""
        if not self.repos:
            raise ComposeError(f"{self.ref}: a compose needs the yum repositories to install from")
        if not self.packages:
            raise ComposeError(f"{self.ref}: a compose needs the packages the tree holds")
        extra = {**base, **self.treefile_base, "releasever": self.releasever}
        return Treefile(ref=self.ref, packages=self.packages, repos=self.repos, extra=extra)


@dataclass(frozen=True)
class ComposeResult:
    ref: str
    repo: Path  # the scratch repository holding the commit
    commit: str
    content_checksum: str
    manifest: Manifest
    backend: str  # "local" or "remote <user@host:port>"

    def discard(self) -> None:
        """Remove the scratch repository (idempotent)."""
        shutil.rmtree(self.repo, ignore_errors=True)


class ComposeBackend(Protocol):
    def compose(self, request: ComposeRequest) -> ComposeResult: ...


class RemoteComposeBackend(ComposeBackend, Protocol):
    """A backend composing on another host: where the release keys it was given lie there."""

    def key_url(self, key: str | Path) -> str: ...


def _safe(ref: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", ref)


def fresh_scratch(workdir: Path, ref: str) -> OSTreeRepo:
    """An empty archive repository at ``workdir/<ref>.scratch``, replacing whatever was there.

    The new repository is initialised beside its final place and renamed into it, so a crash never leaves a
    half-initialised scratch repository that a later compose would mistake for a fresh one.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    final = workdir / f"{_safe(ref)}.scratch"
    tmp = Path(tempfile.mkdtemp(prefix=f".{_safe(ref)}.", dir=workdir))
    OSTreeRepo(tmp / "repo").init("archive")
    if final.exists():
        old = Path(tempfile.mkdtemp(prefix=".old.", dir=workdir))
        os.replace(final, old / "repo")
        shutil.rmtree(old, ignore_errors=True)
    os.replace(tmp / "repo", final)
    shutil.rmtree(tmp, ignore_errors=True)
    return OSTreeRepo(final)


def _result(scratch: OSTreeRepo, request: ComposeRequest, commit: str, backend: str) -> ComposeResult:
    info = scratch.show(commit)
    return ComposeResult(
        ref=request.ref,
        repo=scratch.path,
        commit=commit,
        content_checksum=info.content_checksum,
        manifest=request.manifest,
        backend=backend,
    )


class LocalBackend:
    """Compose on this machine from the request's signed yum repositories (:func:`compose_treefile`).

    ``base_treefile`` holds treefile keys besides ref/repos/packages for every compose of this backend. Work
    files and the scratch repository live under ``workdir``. Needs root privileges (dnf installs a root).
    """

    def __init__(self, workdir: str | Path, *, base_treefile: Mapping[str, Any] | None = None) -> None:
        self.workdir = Path(workdir).absolute()
        self.base_treefile = dict(base_treefile or {})

    def compose(self, request: ComposeRequest) -> ComposeResult:
        """Write the request's treefile, compose it and commit the tree into a fresh scratch repository.

        Raises :class:`ComposeError` naming the ref and the package (no repository has it, unsigned, a
        dependency outside the manifest, a tree that differs from the manifest) before anything is committed.
        """
        treefile = request.treefile(self.base_treefile)
        self.workdir.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix=f".{_safe(request.ref)}.", suffix=".treefile", dir=self.workdir))
        try:
            for name, content in treefile.files().items():
                (folder / name).write_bytes(content)
            scratch = fresh_scratch(self.workdir, request.ref)
            commit = compose_treefile(
                folder / TREEFILE, scratch, workdir=self.workdir, manifest=request.manifest, branch=request.ref
            )
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return _result(scratch, request, commit, "local")


def compose_treefile(
    treefile_path: str | Path,
    repo: OSTreeRepo,
    *,
    workdir: Path,
    manifest: Manifest | None = None,
    branch: str | None = None,
    source_date_epoch: int | None = None,
) -> str:
    """Compose a treefile into ``repo`` (created, archive mode, if missing); the commit's checksum.

    What ``rpm-ostree compose tree`` does, on this machine: the treefile's packages and the dependencies they
    need installed from its repositories with dnf (gpgcheck on, scriptlets run), rpm-ostree's layout conventions
    applied, the tree
    committed with ``rpmostree.rpmdb.pkglist``. With ``manifest`` the installed builds must be exactly its NVRs.
    An orphan commit without ``branch``. Composing the same treefile again writes a commit with the same
    content checksum: rpm records ``source_date_epoch`` (default: the ``SOURCE_DATE_EPOCH`` environment
    variable, as rpm-ostree's ``rpmdb-normalize`` takes it, else 0) as the install time, so equal packages
    give a byte-identical rpmdb (merge-if-changed compares trees). Errors (:class:`ComposeError`,
    :class:`TreefileError`) name the ref and the package; the repository is then as it was.
    """
    treefile_path = Path(treefile_path)
    treefile = Treefile.load(treefile_path)
    if treefile.releasever is None:
        raise TreefileError(f"{treefile_path}: key 'releasever' is missing (dnf's $releasever)")
    workdir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{_safe(treefile.ref)}.", suffix=".compose", dir=workdir))
    try:
        try:
            installed = install_root(
                work / "install",
                treefile.packages,
                treefile.repos,
                releasever=treefile.releasever,
                item=treefile.ref,
                with_dependencies=True,
                source_date_epoch=_source_date_epoch(source_date_epoch),
            )
        except RuntimeError as exc:
            raise ComposeError(str(exc)) from exc
        if manifest is not None:
            check_manifest(treefile.ref, installed, manifest)
        prepare_rootfs(work / "install", work / "tree", treefile.extra, treefile_path.read_bytes())
        repo.init("archive")
        return repo.commit(
            trees=[f"dir={work / 'tree'}"],
            subject=f"{treefile.ref} compose",
            branch=branch,
            metadata={KEY_PKGLIST: pkglist(installed)},
            item=f"{treefile.ref}: committing the composed tree into {repo.path}",
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _source_date_epoch(given: int | None) -> int:
    if given is not None:
        return given
    value = os.environ.get("SOURCE_DATE_EPOCH", "0")
    if not value.isdigit():
        raise ComposeError(f"SOURCE_DATE_EPOCH={value!r} is not a number of seconds")
    return int(value)


def check_manifest(ref: str, installed: Sequence[InstalledPackage], manifest: Manifest) -> None:
    """The tree's packages come from exactly the manifest's builds (pure); :class:`ComposeError` names the
    first build too many or missing."""
    builds = {p.build for p in installed}
    extra = sorted(builds - set(manifest.nvrs))
    missing = sorted(set(manifest.nvrs) - builds)
    if extra:
        raise ComposeError(f"{ref}: the tree holds {extra[0]}, which is not in the manifest" + _more(extra))
    if missing:
        raise ComposeError(f"{ref}: the tree lacks {missing[0]}, which the manifest holds" + _more(missing))


def commit_packages(repo: OSTreeRepo, commit: str, workdir: Path, *, item: str) -> tuple[InstalledPackage, ...]:
    """The packages a commit's rpmdb (``usr/share/rpm``) records, read with stock rpm from a checkout of that
    directory alone (read-only on the repository; the checkout under ``workdir`` is removed)."""
    workdir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".rpmdb-", dir=workdir))
    try:
        run(
            [
                "ostree",
                f"--repo={repo.path}",
                "checkout",
                "--user-mode",
                f"--subpath=/{RPMDB}",
                commit,
                str(tmp / "db"),
            ],
            item=item,
        )
        return read_rpmdb(tmp / "db", item=item)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _more(items: Sequence[str]) -> str:
    return f" (and {len(items) - 1} more: {', '.join(items[1:4])})" if len(items) > 1 else ""


class RemoteBackend:
    """Compose with ``rpm-ostree compose tree`` on a compose host reached through ``runner``.

    ``host_workdir`` is a directory on the host under which each compose gets its own directory
    (``<ref>-<input hash>``); ``fetch_from`` says how this machine reaches that same directory: None (the
    same path, a shared filesystem), another local path (a mount of it), or an http(s) URL serving it.
    ``base_treefile`` holds the treefile keys besides ref/repos/packages (selinux, boot-location, ...).
    ``keys``: the release's public key files, copied to ``<host_workdir>/keys/`` on the host before each
    compose; a repository names them there with :meth:`key_url`.
    """

    def __init__(
        self,
        runner: CommandRunner,
        *,
        host_workdir: str,
        workdir: str | Path,
        fetch_from: str | None = None,
        base_treefile: Mapping[str, Any] | None = None,
        keys: Sequence[str | Path] = (),
        rpm_ostree: str = "rpm-ostree",
        ostree: str = "ostree",
        timeout: float = 3 * 3600.0,
    ) -> None:
        self.runner = runner
        self.host_workdir = host_workdir.rstrip("/")
        self.workdir = Path(workdir).absolute()
        self.fetch_from = fetch_from.rstrip("/") if fetch_from else None
        self.base_treefile = dict(base_treefile or {})
        self.keys = tuple(Path(k) for k in keys)
        self.rpm_ostree = rpm_ostree
        self.ostree = ostree
        self.timeout = timeout

    def key_url(self, key: str | Path) -> str:
        """Where a key of ``keys`` is on the compose host, as a yum repository's ``gpgkey`` names it."""
        return f"file://{self.host_workdir}/keys/{Path(key).name}"

    def compose(self, request: ComposeRequest) -> ComposeResult:
        """Compose on the host, pull the commit into a fresh scratch repository here, check its rpmdb holds
        exactly the manifest.

        Raises :class:`ComposeError` (or the ToolError of the failing step) naming the ref and the host.
        The host's compose directory is removed once the commit is here; after a failure it is left for
        inspection and recreated by the next attempt.
        """
        treefile = request.treefile(self.base_treefile)
        name = f"{_safe(request.ref)}-{request.manifest.input_hash[:16]}"
        host_dir = f"{self.host_workdir}/{name}"
        item = request.ref
        self._run(["rm", "-rf", host_dir], item)
        self._run(["mkdir", "-p", host_dir, f"{self.host_workdir}/keys"], item)
        for key in self.keys:
            target = self.key_url(key).removeprefix("file://")
            self._run(["sh", "-c", 'cat > "$1"', "sh", target], item, input=key.read_bytes())
        for filename, content in treefile.files().items():
            self._run(["sh", "-c", 'cat > "$1"', "sh", f"{host_dir}/{filename}"], item, input=content)
        self._run([self.ostree, "init", f"--repo={host_dir}/repo", "--mode=archive"], item)
        self._run(
            [
                self.rpm_ostree,
                "compose",
                "tree",
                f"--repo={host_dir}/repo",
                f"--write-commitid-to={host_dir}/commitid",
                f"{host_dir}/{TREEFILE}",
            ],
            item,
            timeout=self.timeout,
        )
        commit = self._run(["cat", f"{host_dir}/commitid"], item).decode(errors="replace").strip()
        if not is_checksum(commit):
            raise ComposeError(
                f"{item} on {self.runner.name}: rpm-ostree wrote {commit[:80]!r} as the commit id, not a checksum"
            )
        scratch = fresh_scratch(self.workdir, request.ref)
        if self.fetch_from and re.match(r"^https?://", self.fetch_from):
            scratch.pull_url("composehost", f"{self.fetch_from}/{name}/repo", [commit], timeout=self.timeout)
        else:
            base = self.fetch_from or self.host_workdir
            scratch.pull_local(f"{base}/{name}/repo", [commit])
        scratch.set_ref(request.ref, commit)
        result = _result(scratch, request, commit, f"remote {self.runner.name}")
        try:
            check_manifest(item, commit_packages(scratch, commit, self.workdir, item=item), request.manifest)
        except BaseException:
            result.discard()
            raise
        self._run(["rm", "-rf", host_dir], item)
        return result

    def _run(self, args: Sequence[str], item: str, *, input: bytes | None = None, timeout: float = 600.0) -> bytes:
        """Run one step on the host; a failing tool is a ToolError naming ``item`` and the host."""
        try:
            return run_checked(self.runner, args, item=item, input=input, timeout=timeout)
        except ToolError:
            raise
        except Exception as exc:  # a dropped connection, an SSH protocol error, a timeout
            raise ComposeError(f"{item} on {self.runner.name}: {shlex.join(args)} failed: {exc}") from exc
