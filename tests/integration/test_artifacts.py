"""Artifact plugins against the sandbox (Koji hub, ResultsDB, the real bus) and the real tools: the f24
atomic-host composed from the f24 tag (local backend) into the shared repository and the staging tree, the
f24 cloud-base-ami built by a Koji image task — composed twice, synced, read back, announced to the Taskotron
stand-in — and composes that fail, naming the artifact and leaving the staging tree alone."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from test_adapters_support import koji_of, sandbox_config

from relengotron.artifacts import (
    COMPOSED_TOPIC,
    ArtifactError,
    ArtifactKind,
    ComposeContext,
    Published,
    for_target,
)
from relengotron.config import ReleaseConfig
from relengotron.kojiclient import KojiClient
from relengotron.manifest import Manifest
from relengotron.ostree.repo import OSTreeRepo
from relengotron.planning import Target
from relengotron.sandbox.koji.imagefile import read_manifest
from relengotron.sandbox.service import SandboxContext
from relengotron.sandbox.taskotron import TaskotronRunner
from relengotron.signing import LocalGpgSigner
from relengotron.sync import MirrorSync
from relengotron.sync.mirror import Mirror

pytestmark = pytest.mark.integration

TOPIC = f"org.fedoraproject.dev.{COMPOSED_TOPIC}"


@dataclass
class Setup:
    ctx: SandboxContext
    config: ReleaseConfig
    koji: KojiClient
    compose: ComposeContext
    published: Published

    def plugin(self, name: str, release: str = "f24", arch: str = "x86_64") -> ArtifactKind:
        artifact = next(a for a in self.config.artifacts_of(release) if a.name == name)
        return for_target(Target(artifact, self.config.release(release), arch))

    def packages(self, name: str, release: str = "f24") -> tuple[str, ...]:
        return next(a for a in self.ctx.world.artifacts if a.name == name and a.release == release).packages

    def sync(self, plugin: ArtifactKind) -> None:
        roots = sorted(
            {
                p if p == self.config.mirror.ostree else p.rsplit("/", 1)[0]
                for p in plugin.mirror_paths(self.config.mirror)
            }
        )
        MirrorSync(
            self.config.mirror.staging, Mirror.from_location(self.config.mirror.master), roots=roots, website=None
        ).sync()


@pytest.fixture
def setup(services: SandboxContext, tmp_path: Path) -> Iterator[Setup]:
    built = services.built
    config = sandbox_config(tmp_path / "cfg", services.world, built)
    koji = koji_of(services.endpoints)
    compose = ComposeContext(
        koji=koji,
        layout=config.mirror,
        ostree=config.ostree,
        workdir=tmp_path / "work",
        signer=LocalGpgSigner(built.gnupghome, built.key_id),
        rpm_keys=(built.public_key,),
    )
    published = Published.from_config(config)
    yield Setup(services, config, koji, compose, published)
    koji.close()


def test_ostree_compose_merge_stage_announce_and_read_back(setup: Setup) -> None:
    plugin = setup.plugin("atomic-host")
    manifest = plugin.manifest(setup.koji, setup.packages("atomic-host"), "f24")
    assert "glibc-2.23.1-7.fc24" in manifest.nvrs  # the f24 tag's build, not the update in f24-updates
    assert plugin.released(setup.published) is None

    first = plugin.compose(setup.compose, manifest)
    shared = OSTreeRepo(setup.config.ostree.repo)
    staging = OSTreeRepo(setup.config.mirror.staging / setup.config.mirror.ostree)
    ref = "fedora/24/x86_64/atomic-host"
    assert first.changed and first.ostree is not None and first.ostree.previous is None
    assert shared.refs() == staging.refs() == {ref: first.ostree.commit}
    assert Manifest.from_metadata(shared.show(ref).metadata, source=ref) == manifest
    assert setup.compose.signer is not None
    assert setup.compose.signer.commit_signed(staging.path, first.ostree.commit)
    assert setup.compose.signer.summary_signed(staging.path)
    assert plugin.released(setup.published) == manifest

    before = (shared.refs(), shared.object_count(), staging.object_count())
    again = plugin.compose(setup.compose, manifest)
    assert not again.changed and again.ostree is not None and again.ostree.commit == first.ostree.commit
    assert again.ostree.steps == ()
    assert (shared.refs(), shared.object_count(), staging.object_count()) == before

    body = plugin.announcement(first)
    assert body["item"] == "atomic-host-24-x86_64" and body["ostree"]["commit"] == first.ostree.commit
    [posted] = TaskotronRunner(setup.ctx).handle(TOPIC, body)
    assert (posted["testcase"]["name"], posted["outcome"]) == ("compose.ostree.fsck", "PASSED")
    assert posted["data"]["item"] == [plugin.test_item().item] and posted["data"]["type"] == ["compose-artifact"]

    setup.sync(plugin)
    mirror_repo = OSTreeRepo(Path(setup.config.mirror.master) / setup.config.mirror.ostree)
    assert mirror_repo.refs() == {ref: first.ostree.commit}

    # A crash after the merge, before the staging copy: the next compose finishes it (and commits nothing).
    shutil.rmtree(staging.path)
    redone = plugin.compose(setup.compose, manifest)
    assert redone.changed and redone.ostree is not None and redone.ostree.steps == ("stage", "summary")
    assert staging.refs() == {ref: first.ostree.commit} and shared.refs() == before[0]

    # One changed package (the glibc update of f24-updates): exactly one new commit, child of the old head.
    updated = plugin.manifest(setup.koji, setup.packages("atomic-host"), "f24-updates")
    second = plugin.compose(setup.compose, updated)
    assert second.changed and second.ostree is not None and second.ostree.previous == first.ostree.commit
    assert shared.show(ref).parent == first.ostree.commit and staging.rev_parse(ref) == second.ostree.commit
    assert f"{first.ostree.commit}-{second.ostree.commit}" in staging.static_deltas()
    assert plugin.released(setup.published) == updated


def test_image_compose_through_a_koji_image_task(setup: Setup) -> None:
    plugin = setup.plugin("cloud-base-ami")
    manifest = plugin.manifest(setup.koji, setup.packages("cloud-base-ami"), "f24")
    out = plugin.compose(setup.compose, manifest)
    assert out.changed and out.image is not None and out.image.koji_build == "Fedora-Cloud-Base-24-1"
    staging = setup.config.mirror.staging
    image = staging / "releases/24/ami/x86_64/Fedora-Cloud-Base-24.x86_64.raw.xz"
    assert out.image.path == str(image)
    assert sorted(out.paths) == sorted(str(p.relative_to(staging)) for p in image.parent.iterdir())
    assert read_manifest(image) == sorted(f"{nvr}.noarch" for nvr in manifest.nvrs)
    checksum = image.with_name(image.name + "-CHECKSUM")
    assert checksum.read_text().startswith("-----BEGIN PGP SIGNED MESSAGE-----")
    assert f"SHA256 ({image.name}) = {out.image.sha256}" in checksum.read_text()
    assert _gpg_verify(setup.ctx.built.public_key, checksum, setup.compose.workdir / "gpg")
    assert Manifest.from_json(Path(out.image.manifest_file).read_text(), source="staged") == manifest

    tasks = setup.koji.session.listTasks(opts={"method": "image"})
    stamp = image.stat().st_mtime_ns
    again = plugin.compose(setup.compose, manifest)
    assert not again.changed and again.image is not None and again.image.sha256 == out.image.sha256
    assert setup.koji.session.listTasks(opts={"method": "image"}) == tasks  # no second image task
    assert image.stat().st_mtime_ns == stamp

    posted = TaskotronRunner(setup.ctx).handle(TOPIC, plugin.announcement(out))
    outcomes = {p["testcase"]["name"]: p["outcome"] for p in posted}
    assert outcomes == {"compose.image.checksum": "PASSED", "compose.cloud.boot": "FAILED"}  # boot forced by world
    assert set(outcomes) == set(plugin.test_cases())

    assert plugin.released(setup.published) is None  # staged is not released
    setup.sync(plugin)
    assert plugin.released(setup.published) == manifest


def test_image_from_an_updates_tag_signed_afterwards(setup: Setup) -> None:
    """Built from the tag its manifest came from (a build target is made for it), signed in a later step."""
    plugin = setup.plugin("cloud-base-gce")
    manifest = plugin.manifest(setup.koji, setup.packages("cloud-base-gce"), "f24-updates")
    assert "glibc-2.23.1-8.fc24" in manifest.nvrs
    assert setup.koji.build_target_for("f24-updates") is None
    unsigned_ctx = replace(setup.compose, signer=None, image_tag="f24-updates")
    out = plugin.compose(unsigned_ctx, manifest)
    assert setup.koji.build_target_for("f24-updates") == "f24-updates-image"
    assert out.image is not None and read_manifest(Path(out.image.path)) == sorted(f"{n}.noarch" for n in manifest.nvrs)
    checksum = Path(out.image.checksum_file)
    assert checksum.read_text().startswith("# Fedora-Cloud-Base-GCE-24.x86_64.tar.gz: ")  # plain until signed
    signer = setup.compose.signer
    assert signer is not None
    assert [r.action for r in plugin.sign(signer, out)] == ["signed"]
    assert [r.action for r in plugin.sign(signer, out)] == ["already-signed"]
    assert not plugin.compose(unsigned_ctx, manifest).changed  # the signed CHECKSUM still lists this image

    # The tag the image task installs from must hold the manifest: f24's glibc is not f24-updates' one.
    older = plugin.manifest(setup.koji, setup.packages("cloud-base-gce"), "f24")
    image = Path(out.image.path)
    stamp = (image.read_bytes(), checksum.read_bytes(), Path(out.image.manifest_file).read_bytes())
    tasks = setup.koji.session.listTasks(opts={"method": "image"})
    with pytest.raises(ArtifactError, match=r"tag f24-updates does not hold .* glibc-2\.23\.1-8\.fc24 instead of "):
        plugin.compose(unsigned_ctx, older)
    assert setup.koji.session.listTasks(opts={"method": "image"}) == tasks  # refused before any task
    assert (image.read_bytes(), checksum.read_bytes(), Path(out.image.manifest_file).read_bytes()) == stamp


def test_failed_composes_name_the_artifact_and_leave_staging_alone(setup: Setup) -> None:
    gce = setup.plugin("cloud-base-gce")
    manifest = gce.manifest(setup.koji, setup.packages("cloud-base-gce"), "f24")
    with pytest.raises(
        ArtifactError, match=r"Fedora-Cloud-Base-GCE-24\.x86_64\.tar\.gz: no build of nosuchpkg in Koji tag f24"
    ):
        gce.manifest(setup.koji, [*setup.packages("cloud-base-gce"), "nosuchpkg"], "f24")
    broken = Manifest.of([*manifest.nvrs, "nosuchpkg-1.0-1.fc24"])
    with pytest.raises(ArtifactError) as caught:
        gce.compose(setup.compose, broken)
    assert caught.value.label == "Fedora-Cloud-Base-GCE-24.x86_64.tar.gz"
    assert "no build of nosuchpkg in Koji tag f24" in str(caught.value)  # refused before any image task
    # A Koji image task that fails: the f24 build tag has no aarch64.
    aarch64 = setup.plugin("cloud-base-gce", arch="aarch64")
    with pytest.raises(
        ArtifactError, match=r"^Fedora-Cloud-Base-GCE-24\.aarch64\.tar\.gz: Koji image task: task \d+ failed"
    ) as failed:
        aarch64.compose(setup.compose, manifest)
    assert "Invalid arch for build tag: aarch64" in str(failed.value)
    assert not (setup.config.mirror.staging / "releases/24/gce").exists()

    atomic = setup.plugin("atomic-host")
    unsigned = Manifest.of(["bash-4.3.42-6.fc24", "filesystem-3.2-37.fc24"])
    with pytest.raises(
        ArtifactError, match=r"fedora/24/x86_64/atomic-host: bash-4.3.42-6.fc24.noarch.rpm is not signed"
    ):
        atomic.compose(setup.compose, unsigned)
    assert not OSTreeRepo(setup.config.ostree.repo).exists() or not OSTreeRepo(setup.config.ostree.repo).refs()
    assert not (setup.config.mirror.staging / setup.config.mirror.ostree).exists()


def _gpg_verify(public_key: Path, signed: Path, home: Path) -> bool:
    home.mkdir(parents=True, mode=0o700)
    env = {"GNUPGHOME": str(home), "PATH": "/usr/bin:/bin"}
    subprocess.run(["gpg", "--batch", "--import", str(public_key)], env=env, check=True, capture_output=True)
    result = subprocess.run(["gpg", "--batch", "--verify", str(signed)], env=env, capture_output=True, text=True)
    subprocess.run(["gpgconf", "--kill", "all"], env=env, check=False, capture_output=True)
    return result.returncode == 0 and "Good signature" in result.stderr
