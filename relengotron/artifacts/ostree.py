"""OSTree artifacts (Atomic Host): a ref per release and arch, composed into the shared repository as a
candidate, released into the staging repository only after its tests passed.

Compose (:meth:`OSTreeArtifact.compose`) — writes only to the shared repository (``OSTreeSettings.repo``),
which is never synced:

1. the tree is composed from nothing into a scratch repository, from an rpm-ostree treefile (the artifact's own
   treefile — ``Artifact.treefile`` — its package names pinned to the binary RPMs of the manifest's builds, each
   of which must ship one, and its other keys): ``compose: local``: the manifest's RPMs (the copies Koji signed
   with the release's key) are downloaded from Koji's topurl into the work directory, made a yum repository,
   and installed from it by dnf with gpgcheck on against ``ComposeContext.rpm_keys``, then committed with
   rpm-ostree's layout (:class:`relengotron.ostree.compose.LocalBackend`); ``compose: remote``:
   ``rpm-ostree compose tree`` on the compose host (``ComposeContext.remote``) from a Koji dist-repo of the tag
   (the copies signed with the release's key only). Either way the tree's rpmdb must hold exactly the
   manifest's builds;
2. it is merged into the shared repository only if its tree changed
   (:func:`relengotron.ostree.merge.merge_if_changed`: a child of the head carrying the manifest, signed,
   with a static delta and a signed summary) — "unchanged" writes no commit. The shared ref's head is the
   candidate the tests check (the announcement names the shared repository).

Release (:meth:`OSTreeArtifact.promote`), once the tests passed and the commit is signed — writes the staging
repository (``<mirror.staging>/<mirror.ostree>``), which the sync carries to the mirror: the candidate commit
is pulled in with its signatures, the static delta from the released head is generated, the ref is moved
compare-and-swap from the head the compose saw (refused if another push moved it meanwhile), and the summary
is regenerated and signed. A candidate whose tests failed stays in the shared repository only.

The shared repository must therefore not be the staging repository (a candidate would be synced before its
tests): such a configuration is refused. What is released is read back from the head commit of the ref in the
staging repository (:meth:`OSTreeArtifact.released`).
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
    PromoteContext,
    PromoteResult,
    Published,
    staging_lock,
    staging_ostree_repo,
)
from relengotron.artifacts.errors import COMPOSE_FAILURES, wrap
from relengotron.config import MirrorLayout, TranslatePaths
from relengotron.kojiclient import KojiBuild, KojiRPM, KojiTransientError, rpm_url
from relengotron.manifest import Manifest
from relengotron.mash.errors import MashError, MashTransientError
from relengotron.mash.plan import PlannedRPM, is_debug
from relengotron.mash.repo import createrepo, fetch_rpms
from relengotron.ostree import publish
from relengotron.ostree.compose import ComposeRequest, ComposeResult, LocalBackend
from relengotron.ostree.merge import merge_if_changed
from relengotron.ostree.repo import OSTreeRepo
from relengotron.ostree.treefile import TreefileError, YumRepo, load_base, pinned_packages
from relengotron.signing.base import Signer, SignResult

# A manifest's builds (by NVR) with the binary RPMs a tree may install of each (OSTreeArtifact._manifest_rpms).
_ManifestRPMs = dict[str, tuple[KojiBuild, list[KojiRPM]]]

STEP_REF = "ref"
STEP_DELTA = "static-delta"


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
        """The repository in the staging tree: what is released, and what the sync carries to the mirror."""
        return staging_ostree_repo(layout)

    def mirror_paths(self, layout: MirrorLayout) -> list[str]:
        """The repository directory (shared by every OSTree artifact)."""
        return [layout.ostree.strip("/")]

    def released(self, published: Published) -> Manifest | None:
        """The manifest in the head commit of the ref in the staging (released) repository (read-only)."""
        return ostree_released(published.ostree_repo, self.ref)

    # --- compose ------------------------------------------------------------------------------------------

    def compose(self, ctx: ComposeContext, manifest: Manifest) -> ComposeOutput:
        """Compose and merge into the shared repository if changed (module docstring); nothing is released.

        Idempotent: the same manifest again gives the same tree, so the merge is "unchanged" (no commit) and
        the candidate is the head already there; a rerun after a crash completes its signature, delta and
        summary. ``changed`` says whether the candidate differs from the released head. A failure raises
        :class:`ArtifactError` naming the ref (Koji unreachable: KojiTransientError); the shared repository
        is then as it was, but for unreferenced objects the next prune removes. The staging repository is
        never written.
        """
        staging = self.staging_repo(ctx.layout)
        if staging.path == ctx.shared_repo.path:
            raise ArtifactError(
                self.label,
                f"the shared repository {staging.path} is the staging repository: a candidate would be synced "
                "before its tests (configure ostree.repo outside mirror.staging)",
            )
        if ctx.signer is not None:
            ctx.signer.check()
        composed_at = ctx.now().isoformat()
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
            released = staging.rev_parse(self.ref) if staging.exists() else None
        except (KojiTransientError, ArtifactError):
            raise
        except COMPOSE_FAILURES as exc:
            raise wrap(self.label, exc) from exc
        return ComposeOutput(
            target=self.id,
            kind=self.kind,
            label=self.label,
            manifest=manifest,
            changed=merged.head != released,
            paths=tuple(self.mirror_paths(ctx.layout)),
            ostree=OSTreeOutput(
                repo=str(ctx.shared_repo.path),
                staging=str(staging.path),
                ref=self.ref,
                commit=merged.head,
                previous=released,
                version=merged.version,
                steps=merged.steps,
            ),
            composed_at=composed_at,
        )

    def _compose_tree(self, ctx: ComposeContext, manifest: Manifest) -> ComposeResult:
        releasever = str(self.release.version)
        if self.artifact.compose == "remote":
            if ctx.remote is None:
                raise ArtifactError(self.label, "compose: remote needs the compose host (ComposeContext.remote)")
            base, packages = self._treefile_packages(ctx, manifest)
            repos = (self._signed_repository(ctx),)
            return ctx.remote.compose(
                ComposeRequest(
                    ref=self.ref,
                    manifest=manifest,
                    packages=packages,
                    repos=repos,
                    releasever=releasever,
                    treefile_base=base,
                )
            )
        if not ctx.rpm_keys:
            raise ArtifactError(
                self.label,
                "no public key of the release to check the packages against: an OSTree is never "
                "composed from unchecked packages",
            )
        rpms = self._manifest_rpms(ctx, manifest)
        base, packages = self._treefile_packages(ctx, manifest, rpms)
        rpm_dir = ctx.workdir / "rpms" / self.id
        try:
            self._fetch(ctx, rpms, rpm_dir)
            createrepo(rpm_dir, 0, item=f"{self.label}: yum repository of the manifest")
            repo = YumRepo(
                id=self.id, baseurl=rpm_dir.as_uri(), gpgkey=tuple(k.absolute().as_uri() for k in ctx.rpm_keys)
            )
            request = ComposeRequest(
                ref=self.ref,
                manifest=manifest,
                packages=packages,
                repos=(repo,),
                releasever=releasever,
                treefile_base=base,
            )
            return LocalBackend(ctx.workdir / "compose").compose(request)
        finally:
            shutil.rmtree(rpm_dir, ignore_errors=True)

    def _signed_repository(self, ctx: ComposeContext) -> YumRepo:
        """What the compose host installs from: :meth:`signed_repository` of the tag the manifest came from,
        checked against the release's key copied to the host (gpgcheck on). Not idempotent (a new dist-repo)."""
        assert ctx.remote is not None
        if not ctx.rpm_keys:
            raise ArtifactError(self.label, "no public key of the release to check the packages against")
        tag = ctx.image_tag or self.release.tag("build")
        url = self.signed_repository(ctx, tag)
        keys = tuple(ctx.remote.key_url(k) for k in ctx.rpm_keys)
        return YumRepo(id=tag, baseurl=f"{url}/{self.arch}/", gpgkey=keys)

    def _treefile_packages(
        self, ctx: ComposeContext, manifest: Manifest, rpms: _ManifestRPMs | None = None
    ) -> tuple[dict[str, Any], tuple[str, ...]]:
        """The artifact's own treefile's keys besides the packages, and the compose's package specs: the names it
        lists (all the manifest's binaries without a treefile) pinned to the binary RPMs of the manifest's builds
        (:func:`relengotron.ostree.treefile.pinned_packages`; a name none of them ships is an ArtifactError
        naming the treefile). Read-only (asks Koji for the builds' RPMs unless given ``rpms``)."""
        rpms = self._manifest_rpms(ctx, manifest) if rpms is None else rpms
        binaries = {rpm.name: rpm.nvr for _build, found in rpms.values() for rpm in found}
        base: dict[str, Any] = {}
        names: tuple[str, ...] | None = None
        if self.artifact.treefile is not None:
            base, names = load_base(self.artifact.treefile)
        source = f"the treefile {self.artifact.treefile}" if names is not None else "the manifest"
        try:
            return base, pinned_packages(names, binaries, source=source)
        except TreefileError as exc:
            raise ArtifactError(self.label, str(exc)) from exc

    def _manifest_rpms(self, ctx: ComposeContext, manifest: Manifest) -> _ManifestRPMs:
        """The manifest's builds with their binary RPMs a tree may install: this arch and noarch, but their
        debuginfo and debugsource (a tree installs packages, as rpm-ostree does, never their debugging data).
        A build without any is an ArtifactError naming it. Read-only."""
        koji = ctx.koji
        builds = koji.builds(manifest.nvrs)
        rpms = koji.rpms_of(builds.values())
        chosen = {
            nvr: (
                builds[nvr],
                [r for r in rpms[builds[nvr].id] if r.arch in (self.arch, "noarch") and not is_debug(r.name)],
            )
            for nvr in manifest.nvrs
        }
        for nvr, (_build, found) in chosen.items():
            if not found:
                raise ArtifactError(self.label, f"build {nvr} has no {self.arch} or noarch RPM")
        return chosen

    def _fetch(self, ctx: ComposeContext, rpms: _ManifestRPMs, rpm_dir: Path) -> tuple[Path, ...]:
        """Download ``rpms`` (:meth:`_manifest_rpms`): the copies signed with the release's key, refusing —
        before any download — an RPM Koji has no such signature of."""
        koji = ctx.koji
        sigkey = self.release.signing_key
        sighashes: dict[int, dict[str, str]] = {}
        if sigkey:
            sighashes = koji.rpm_sigkeys(r for _build, found in rpms.values() for r in found)
            for _build, found in rpms.values():
                for rpm in found:
                    if sigkey not in sighashes[rpm.id]:
                        raise ArtifactError(self.label, f"{rpm.filename} is not signed with key {sigkey}")
        planned = [
            PlannedRPM(
                build=build,
                rpm=rpm,
                url=rpm_url(koji.topurl, build, rpm, sigkey),
                sigkey=sigkey,
                sighash=sighashes.get(rpm.id, {}).get(sigkey or "", ""),
            )
            for build, found in rpms.values()
            for rpm in found
        ]
        try:
            return tuple(fetched.path for fetched in fetch_rpms(planned, rpm_dir))
        except MashTransientError as exc:
            raise KojiTransientError(self.label, str(exc)) from exc
        except MashError as exc:
            raise ArtifactError(self.label, str(exc)) from exc

    # --- signing and tests --------------------------------------------------------------------------------

    def sign(self, signer: Signer, output: ComposeOutput) -> list[SignResult]:
        """Sign the candidate commit in the shared repository (the release pulls the signature along); when it
        is already the released head, the staging repository's commit and summary too.

        Idempotent: a commit or a current summary already signed by this key is left untouched.
        """
        self._check(output)
        assert output.ostree is not None
        tree = output.ostree
        shared = OSTreeRepo(tree.repo)
        with shared.locked():
            results = [signer.sign_ostree_commit(shared.path, tree.commit)]
        staging = OSTreeRepo(tree.staging)
        if staging.exists() and staging.rev_parse(tree.ref) == tree.commit:
            with staging.locked():
                results.append(signer.sign_ostree_commit(staging.path, tree.commit))
                results.append(signer.sign_ostree_summary(staging.path))
        return results

    def promote(self, ctx: PromoteContext, output: ComposeOutput) -> PromoteResult:
        """Pull the tested candidate into the staging repository and move the public ref to it, compare-and-swap
        from the released head the compose saw; then the static delta from that head and the signed summary.

        Idempotent: a ref already at the candidate only gets a missing delta, signature or summary completed
        (``changed`` False). Refused (:class:`ArtifactError`): the candidate is not in the shared repository
        or not signed by ``ctx.signer``; the released ref is neither the head the compose saw nor the
        candidate (another push released meanwhile: compose again). The ref moves last (an atomic rename):
        a crash before leaves unreferenced objects only.
        """
        self._check(output)
        assert output.ostree is not None
        tree = output.ostree
        shared, staging = OSTreeRepo(tree.repo), self.staging_repo(ctx.layout)
        if str(staging.path) != tree.staging:
            raise ArtifactError(self.label, f"composed for staging repository {tree.staging}, not {staging.path}")
        try:
            if not shared.has_commit(tree.commit):
                raise ArtifactError(
                    self.label, f"candidate commit {tree.commit} is not in {shared.path}: compose again"
                )
            if ctx.signer is not None:
                ctx.signer.check()
                if not ctx.signer.commit_signed(shared.path, tree.commit):
                    raise ArtifactError(
                        self.label, f"candidate commit {tree.commit} is not signed with key {ctx.signer.key_id}"
                    )
            steps: list[str] = []
            with staging_lock(ctx.layout):
                staging.init("archive")
                with staging.locked():
                    head = staging.rev_parse(self.ref)
                    if head != tree.commit:
                        if head != tree.previous:
                            raise ArtifactError(
                                self.label,
                                f"the released ref moved from {tree.previous or '(none)'} to {head} since this "
                                f"candidate was composed (another push released it): compose again",
                            )
                        staging.pull_local(shared.path, [tree.commit])
                        if ctx.static_deltas and head and staging.generate_static_delta(head, tree.commit):
                            steps.append(STEP_DELTA)
                        staging.set_ref(self.ref, tree.commit)
                        steps.append(STEP_REF)
                    steps += publish.finish(staging, self.ref, signer=ctx.signer, static_deltas=ctx.static_deltas)
        except ArtifactError:
            raise
        except COMPOSE_FAILURES as exc:
            raise wrap(self.label, exc) from exc
        return PromoteResult(
            target=self.id,
            kind=self.kind,
            label=self.label,
            manifest=output.manifest,
            identity=tree.commit,
            changed=STEP_REF in steps,
            steps=tuple(steps),
            paths=tuple(self.mirror_paths(ctx.layout)),
        )

    def _announce(self, output: ComposeOutput, served: TranslatePaths) -> dict[str, Any]:
        assert output.ostree is not None
        tree = output.ostree
        url = self._served_url(served, tree.repo, "shared OSTree repository")
        return {"ostree": {"url": url, "ref": tree.ref, "commit": tree.commit, "version": tree.version}}
