"""OSTree artifacts (Atomic Host): a ref per release and arch in the shared repository.

Compose (:meth:`OSTreeArtifact.compose`):

1. the tree is composed from nothing into a scratch repository — ``compose: local``: the manifest's RPMs
   (the copies Koji signed with the release's key, checked against ``ComposeContext.rpm_keys``) are
   downloaded from Koji's topurl into the work directory and their payloads committed
   (:class:`relengotron.ostree.compose.LocalBackend`); ``compose: remote``: ``rpm-ostree compose tree`` on
   the compose host (``ComposeContext.remote``);
2. it is merged into the shared repository (``OSTreeSettings.repo``) only if its tree changed
   (:func:`relengotron.ostree.merge.merge_if_changed`: a child of the head carrying the manifest, signed,
   with a static delta and a signed summary) — "unchanged" writes no commit;
3. the staging copy. The shared repository may itself be the staging repository (``ostree.repo`` set to
   ``<mirror.staging>/<mirror.ostree>``): then the sync carries it to the mirror as it is, and this step
   does nothing. When it lies elsewhere (the sandbox's configuration), the head is copied into the staging
   repository (``pull-local`` of the commit with its signatures, the ref moved, then its static delta and
   signed summary there), so the staging tree holds exactly what the mirror gets.

What is released is read back from the head commit of the ref in the shared repository. Its tests run on
the staging repository the announcement names.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from relengotron.adapters.released import ostree_released
from relengotron.artifacts.base import (
    ArtifactError,
    ArtifactKind,
    ComposeContext,
    ComposeOutput,
    OSTreeOutput,
    Published,
)
from relengotron.artifacts.errors import COMPOSE_FAILURES, wrap
from relengotron.config import MirrorLayout
from relengotron.kojiclient import KojiTransientError, rpm_url
from relengotron.manifest import Manifest
from relengotron.mash.errors import MashError, MashTransientError
from relengotron.mash.plan import PlannedRPM
from relengotron.mash.repo import fetch_rpms
from relengotron.ostree import publish
from relengotron.ostree.compose import ComposeRequest, ComposeResult, LocalBackend
from relengotron.ostree.merge import MERGED, merge_if_changed
from relengotron.ostree.repo import OSTreeRepo
from relengotron.signing.base import Signer, SignResult

STEP_STAGE = "stage"


class OSTreeArtifact(ArtifactKind):
    """An OSTree ref (``fedora/24/x86_64/atomic-host``) composed locally or on the compose host."""

    kind = "ostree"
    template_key = "ref"
    compose_backends = ("local", "remote")
    default_compose = "local"

    @property
    def ref(self) -> str:
        return self.artifact.ostree_ref(self.release, self.arch)

    @staticmethod
    def staging_repo(layout: MirrorLayout) -> OSTreeRepo:
        """The repository in the staging tree that the sync carries to the mirror."""
        return OSTreeRepo(Path(layout.staging) / layout.ostree.strip("/"))

    def mirror_paths(self, layout: MirrorLayout) -> list[str]:
        """The repository directory (shared by every OSTree artifact)."""
        return [layout.ostree.strip("/")]

    def released(self, published: Published) -> Manifest | None:
        """The manifest in the head commit of the ref in the shared repository (read-only)."""
        return ostree_released(published.ostree_repo, self.ref)

    # --- compose ------------------------------------------------------------------------------------------

    def compose(self, ctx: ComposeContext, manifest: Manifest) -> ComposeOutput:
        """Compose, merge if changed, stage (module docstring).

        Idempotent: the same manifest again gives the same tree, so the merge is "unchanged" (no commit) and
        the staging copy is already there (``changed`` False); a rerun after a crash completes the signature,
        delta, summary and staging copy. A failure raises :class:`ArtifactError` naming the ref (Koji being
        unreachable: KojiTransientError); the shared and staging repositories are then as they were, but for
        unreferenced objects the next prune removes.
        """
        if ctx.signer is not None:
            ctx.signer.check()
        try:
            composed = self._compose_tree(ctx, manifest)
            try:
                merged = merge_if_changed(
                    ctx.shared_repo,
                    composed,
                    version_prefix=self.release.version,
                    signer=ctx.signer,
                    static_deltas=ctx.ostree.static_deltas,
                    now=ctx.now(),
                )
            finally:
                composed.discard()
            staging = self.staging_repo(ctx.layout)
            staged = self._stage(ctx, staging, merged.head)
        except (KojiTransientError, ArtifactError):
            raise
        except COMPOSE_FAILURES as exc:
            raise wrap(self.label, exc) from exc
        return ComposeOutput(
            target=self.id,
            kind=self.kind,
            label=self.label,
            manifest=manifest,
            changed=merged.status == MERGED or STEP_STAGE in staged,
            paths=tuple(self.mirror_paths(ctx.layout)),
            ostree=OSTreeOutput(
                repo=str(staging.path),
                shared=str(ctx.shared_repo.path),
                ref=self.ref,
                commit=merged.head,
                previous=merged.previous,
                version=merged.version,
                steps=(*merged.steps, *staged),
            ),
        )

    def _compose_tree(self, ctx: ComposeContext, manifest: Manifest) -> ComposeResult:
        if self.artifact.compose == "remote":
            if ctx.remote is None:
                raise ArtifactError(self.label, "compose: remote needs the compose host (ComposeContext.remote)")
            return ctx.remote.compose(ComposeRequest(ref=self.ref, manifest=manifest, repos=ctx.yum_repos))
        rpm_dir = ctx.workdir / "rpms" / self.id
        try:
            rpms = self._fetch(ctx, manifest, rpm_dir)
            backend = LocalBackend(ctx.workdir / "compose", public_keys=ctx.rpm_keys)
            return backend.compose(ComposeRequest(ref=self.ref, manifest=manifest, rpms=rpms))
        finally:
            shutil.rmtree(rpm_dir, ignore_errors=True)

    def _fetch(self, ctx: ComposeContext, manifest: Manifest, rpm_dir: Path) -> tuple[Path, ...]:
        """Download the binary RPMs (this arch and noarch) of the manifest's builds: the copies signed with
        the release's key, refusing — before any download — an RPM Koji has no such signature of."""
        koji = ctx.koji
        builds = koji.builds(manifest.nvrs)
        rpms = koji.rpms_of(builds.values())
        sigkey = self.release.signing_key
        chosen = {nvr: [r for r in rpms[builds[nvr].id] if r.arch in (self.arch, "noarch")] for nvr in manifest.nvrs}
        for nvr, found in chosen.items():
            if not found:
                raise ArtifactError(self.label, f"build {nvr} has no {self.arch} or noarch RPM")
        sighashes: dict[int, dict[str, str]] = {}
        if sigkey:
            sighashes = koji.rpm_sigkeys(r for found in chosen.values() for r in found)
            for found in chosen.values():
                for rpm in found:
                    if sigkey not in sighashes[rpm.id]:
                        raise ArtifactError(self.label, f"{rpm.filename} is not signed with key {sigkey}")
        planned = [
            PlannedRPM(
                build=builds[nvr],
                rpm=rpm,
                url=rpm_url(koji.topurl, builds[nvr], rpm, sigkey),
                sigkey=sigkey,
                sighash=sighashes.get(rpm.id, {}).get(sigkey or "", ""),
            )
            for nvr, found in chosen.items()
            for rpm in found
        ]
        try:
            return tuple(fetched.path for fetched in fetch_rpms(planned, rpm_dir))
        except MashTransientError as exc:
            raise KojiTransientError(self.label, str(exc)) from exc
        except MashError as exc:
            raise ArtifactError(self.label, str(exc)) from exc

    def _stage(self, ctx: ComposeContext, staging: OSTreeRepo, commit: str) -> tuple[str, ...]:
        """Make the staging repository's ref point at ``commit`` of the shared repository, with its delta and
        signed summary. Idempotent: nothing is written when it already does (and all is published)."""
        shared = ctx.shared_repo
        if staging.path == shared.path:
            return ()
        staging.init("archive")
        steps: list[str] = []
        with staging.locked():
            if staging.rev_parse(self.ref) != commit:
                staging.pull_local(shared.path, [commit])
                staging.set_ref(self.ref, commit)
                steps.append(STEP_STAGE)
            steps += publish.finish(staging, self.ref, signer=ctx.signer, static_deltas=ctx.ostree.static_deltas)
        return tuple(steps)

    # --- signing and tests --------------------------------------------------------------------------------

    def sign(self, signer: Signer, output: ComposeOutput) -> list[SignResult]:
        """Sign the head commit and the summary, in the shared and in the staging repository.

        Idempotent: a commit or a current summary already signed by this key is left untouched.
        """
        self._check(output)
        assert output.ostree is not None
        results: list[SignResult] = []
        for path in dict.fromkeys((output.ostree.shared, output.ostree.repo)):
            repo = OSTreeRepo(path)
            with repo.locked():
                results.append(signer.sign_ostree_commit(repo.path, output.ostree.commit))
                results.append(signer.sign_ostree_summary(repo.path))
        return results

    def _announce(self, output: ComposeOutput) -> dict[str, Any]:
        assert output.ostree is not None
        tree = output.ostree
        return {"ostree": {"repo": tree.repo, "ref": tree.ref, "commit": tree.commit, "version": tree.version}}
