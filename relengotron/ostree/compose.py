"""Compose an OSTree from an empty tree into a scratch repository: locally, or on a compose host over SSH.

Both backends take a :class:`ComposeRequest` (the ref, the manifest, and where the packages are) and return
a :class:`ComposeResult`: a commit in a fresh scratch repository under the backend's work directory. Nothing
here touches the shared repository; :mod:`relengotron.ostree.merge` decides whether the result goes there.

- :class:`LocalBackend` assembles the root filesystem from the manifest's RPM files (the caller downloaded
  them) with rpm2cpio and commits it (:mod:`relengotron.ostree.payload`).
- :class:`RemoteBackend` writes a treefile into a per-compose directory on the compose host, runs
  ``rpm-ostree compose tree --write-commitid-to`` there and pulls exactly that commit into the scratch
  repository. The host's result is reached either through a shared filesystem (``fetch_from`` a local
  path: ``ostree pull-local``, Fedora's /mnt/koji arrangement) or over HTTP (``fetch_from`` an http(s) URL
  under which the host serves its compose directories: ``ostree pull``). Either way the pull asks for the
  commit checksum learned over the authenticated SSH channel and ostree checks every object against it.

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from relengotron.manifest import Manifest
from relengotron.ostree import payload
from relengotron.ostree.repo import OSTreeRepo, check_ref, is_checksum
from relengotron.ostree.treefile import TREEFILE, Treefile, YumRepo
from relengotron.tools.remote import CommandRunner, run_checked
from relengotron.tools.run import ToolError


class ComposeError(RuntimeError):
    """A compose could not produce a tree; the message names the ref (and the host, remotely)."""


@dataclass(frozen=True)
class ComposeRequest:
    ref: str  # e.g. fedora/24/x86_64/atomic-host
    manifest: Manifest
    rpms: tuple[Path, ...] = ()  # local backend: the payload RPM files, one or more per manifest NVR
    repos: tuple[YumRepo, ...] = ()  # remote backend: the yum repositories the compose host installs from

    def __post_init__(self) -> None:
        check_ref(self.ref)


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
    """Compose on this machine from local RPM files.

    With ``public_keys`` every payload RPM must be signed by one of them (checked before anything is
    unpacked). Work files and the scratch repository live under ``workdir``.
    """

    def __init__(self, workdir: str | Path, *, public_keys: Sequence[str | Path] = ()) -> None:
        self.workdir = Path(workdir).absolute()
        self.public_keys = tuple(public_keys)

    def compose(self, request: ComposeRequest) -> ComposeResult:
        """Check the RPMs against the manifest, then commit their payloads into a fresh scratch repository.

        Raises :class:`payload.PayloadError` naming a missing, damaged, unsigned or unexpected RPM, or a
        ToolError naming the RPM a tool failed on — before the scratch repository is even created.
        """
        rpms = payload.match_manifest(request.manifest, payload.read_rpms(request.rpms))
        if self.public_keys:
            payload.verify_signatures(rpms, self.public_keys)
        scratch = fresh_scratch(self.workdir, request.ref)
        commit = payload.commit_rpms(
            scratch, rpms, workdir=self.workdir, subject=f"{request.ref} compose", branch=request.ref
        )
        return _result(scratch, request, commit, "local")


class RemoteBackend:
    """Compose with ``rpm-ostree compose tree`` on a compose host reached through ``runner``.

    ``host_workdir`` is a directory on the host under which each compose gets its own directory
    (``<ref>-<input hash>``); ``fetch_from`` says how this machine reaches that same directory: None (the
    same path, a shared filesystem), another local path (a mount of it), or an http(s) URL serving it.
    ``base_treefile`` holds the treefile keys besides ref/repos/packages (selinux, boot-location, ...).
    """

    def __init__(
        self,
        runner: CommandRunner,
        *,
        host_workdir: str,
        workdir: str | Path,
        fetch_from: str | None = None,
        base_treefile: Mapping[str, Any] | None = None,
        rpm_ostree: str = "rpm-ostree",
        ostree: str = "ostree",
        timeout: float = 3 * 3600.0,
    ) -> None:
        self.runner = runner
        self.host_workdir = host_workdir.rstrip("/")
        self.workdir = Path(workdir).absolute()
        self.fetch_from = fetch_from.rstrip("/") if fetch_from else None
        self.base_treefile = dict(base_treefile or {})
        self.rpm_ostree = rpm_ostree
        self.ostree = ostree
        self.timeout = timeout

    def compose(self, request: ComposeRequest) -> ComposeResult:
        """Compose on the host, then pull the commit into a fresh scratch repository here.

        Raises :class:`ComposeError` (or the ToolError of the failing step) naming the ref and the host.
        The host's compose directory is removed once the commit is here; after a failure it is left for
        inspection and recreated by the next attempt.
        """
        if not request.repos:
            raise ComposeError(f"{request.ref}: a remote compose needs the yum repositories to install from")
        treefile = Treefile(
            ref=request.ref, packages=request.manifest.nvrs, repos=request.repos, extra=self.base_treefile
        )
        name = f"{_safe(request.ref)}-{request.manifest.input_hash[:16]}"
        host_dir = f"{self.host_workdir}/{name}"
        item = request.ref
        self._run(["rm", "-rf", host_dir], item)
        self._run(["mkdir", "-p", host_dir], item)
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
