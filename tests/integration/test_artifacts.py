"""Artifact plugins against the sandbox (Koji hub, ResultsDB, the real bus) and the real tools.

Compose writes only a CANDIDATE — the f24 atomic-host into the shared ostree repository, the f24 images under
the staging tree's private ``.relengotron/candidates`` — which a sync never carries; promotion (after the
tests) moves it into the public staging tree. Covered: the candidate tested by the Taskotron stand-in, a
candidate that is never promoted never reaches the mirror (even with a sync of the whole staging tree),
promotion compare-and-swap from the released head with a static delta and signed summary, idempotent reruns,
an image task recorded and reused instead of submitted twice, and composes that fail naming the artifact."""

from __future__ import annotations

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
    PromoteContext,
    Published,
    for_target,
)
from relengotron.config import ReleaseConfig
from relengotron.kojiclient import KojiClient
from relengotron.manifest import Manifest
from relengotron.ostree.repo import OSTreeRepo
from relengotron.planning import Target
from relengotron.signing import LocalGpgSigner
from relengotron.sync import MirrorSync
from relengotron.sync.mirror import Mirror
from relengotron_sandbox.composefiles import ComposeFiles
from relengotron_sandbox.imagebuild.openers import open_image
from relengotron_sandbox.service import SandboxContext
from relengotron_sandbox.taskotron import TaskotronRunner

pytestmark = pytest.mark.integration

TOPIC = f"org.fedoraproject.dev.{COMPOSED_TOPIC}"
REF = "fedora/24/x86_64/atomic-host"
AMI = "linux/releases/24/ami/x86_64/Fedora-Cloud-Base-24.x86_64.raw.xz"


@dataclass
class Setup:
    ctx: SandboxContext
    config: ReleaseConfig
    koji: KojiClient
    compose: ComposeContext
    promote: PromoteContext
    published: Published
    signer: LocalGpgSigner

    def plugin(self, name: str, release: str = "f24", arch: str = "x86_64") -> ArtifactKind:
        artifact = next(a for a in self.config.artifacts_of(release) if a.name == name)
        return for_target(Target(artifact, self.config.release(release), arch))

    def packages(self, name: str, release: str = "f24") -> tuple[str, ...]:
        return next(a for a in self.ctx.world.artifacts if a.name == name and a.release == release).packages

    @property
    def staging(self) -> Path:
        return Path(self.config.mirror.staging)

    @property
    def master(self) -> Path:
        return Path(self.config.mirror.master)

    def sync_all(self) -> None:
        """A sync of the WHOLE staging tree (roots ""): the harshest case for what must stay private."""
        MirrorSync(self.staging, Mirror.from_location(str(self.master)), roots=("",), website=None).sync()

    def image_tasks(self) -> list[int]:
        return sorted(t["id"] for m in ("image", "livemedia") for t in self.koji.session.listTasks(opts={"method": m}))


@pytest.fixture
def setup(services: SandboxContext, tmp_path: Path) -> Iterator[Setup]:
    built = services.built
    files = ComposeFiles()  # test systems fetch the candidates by URL from it (translate_paths)
    config = sandbox_config(tmp_path / "cfg", services.world, built, compose_url=files.url)
    files.serve(config.translate_paths)
    files.start()
    koji = koji_of(services.endpoints)
    signer = LocalGpgSigner(built.gnupghome, built.key_id)
    compose = ComposeContext(
        koji=koji,
        layout=config.mirror,
        ostree=config.ostree,
        workdir=tmp_path / "work",
        signer=signer,
        rpm_keys=(built.public_key,),
    )
    promote = PromoteContext(layout=config.mirror, signer=signer, static_deltas=True)
    yield Setup(services, config, koji, compose, promote, Published.from_config(config), signer)
    koji.close()
    files.stop()


def mirror_files(top: Path) -> set[str]:
    return {p.relative_to(top).as_posix() for p in top.rglob("*") if p.is_file()} if top.exists() else set()


def test_ostree_candidate_is_tested_then_promoted_compare_and_swap(setup: Setup) -> None:
    plugin = setup.plugin("atomic-host")
    manifest = plugin.manifest(setup.koji, setup.packages("atomic-host"), "f24")
    assert "glibc-2.23.1-7.fc24" in manifest.nvrs  # the f24 tag's build, not the update in f24-updates
    assert plugin.released(setup.published) is None

    first = plugin.compose(setup.compose, manifest)
    shared = OSTreeRepo(setup.config.ostree.repo)
    staging = OSTreeRepo(setup.staging / setup.config.mirror.ostree)
    assert first.changed and first.ostree is not None and first.ostree.previous is None
    assert first.ostree.repo == str(shared.path) and first.ostree.staging == str(staging.path)
    assert shared.refs() == {REF: first.ostree.commit}
    assert not staging.exists()  # a candidate only: nothing in the tree the sync carries
    assert plugin.released(setup.published) is None

    # the tests run on the candidate in the shared repository
    body = plugin.announcement(first, setup.config.translate_paths)
    assert body["ostree"]["url"].startswith("http://127.0.0.1:") and body["ostree"]["commit"] == first.ostree.commit
    posted = TaskotronRunner(setup.ctx).handle(TOPIC, body)
    outcomes = {p["testcase"]["name"]: p["outcome"] for p in posted}
    assert outcomes == {"compose.ostree.fsck": "PASSED", "compose.ostree.content": "PASSED"}, posted

    assert [r.action for r in plugin.sign(setup.signer, first)] == ["already-signed"]  # merge signed it
    done = plugin.promote(setup.promote, first)
    assert done.changed and done.steps == ("ref", "summary") and done.identity == first.ostree.commit
    assert staging.refs() == {REF: first.ostree.commit}
    assert setup.signer.commit_signed(staging.path, first.ostree.commit) and setup.signer.summary_signed(staging.path)
    assert plugin.released(setup.published) == manifest
    again = plugin.promote(setup.promote, first)
    assert not again.changed and again.steps == ()

    # composing the released manifest again: no commit, nothing to promote
    before = (shared.refs(), shared.object_count(), staging.object_count())
    same = plugin.compose(setup.compose, manifest)
    assert not same.changed and same.ostree is not None and same.ostree.commit == first.ostree.commit
    assert same.ostree.steps == () and (shared.refs(), shared.object_count(), staging.object_count()) == before

    # one changed package: one new candidate commit, child of the old head; the staging ref stays until promoted
    updated = plugin.manifest(setup.koji, setup.packages("atomic-host"), "f24-updates")
    second = plugin.compose(setup.compose, updated)
    assert second.changed and second.ostree is not None and second.ostree.previous == first.ostree.commit
    assert shared.show(REF).parent == first.ostree.commit
    assert staging.refs() == {REF: first.ostree.commit} and plugin.released(setup.published) == manifest
    setup.sync_all()
    mirror_repo = OSTreeRepo(setup.master / setup.config.mirror.ostree)
    assert mirror_repo.refs() == {REF: first.ostree.commit}
    assert not mirror_repo.has_commit(second.ostree.commit)  # the untested candidate is nowhere on the mirror

    promoted = plugin.promote(setup.promote, second)
    assert promoted.steps == ("static-delta", "ref", "summary")
    assert staging.rev_parse(REF) == second.ostree.commit
    assert f"{first.ostree.commit}-{second.ostree.commit}" in staging.static_deltas()
    assert plugin.released(setup.published) == updated

    # a candidate composed against the old released head is refused once the ref moved (another push)
    stale = replace(first, ostree=replace(first.ostree, commit=shared.rev_parse(REF + "^") or "", previous=None))
    with pytest.raises(ArtifactError, match=r"released ref moved from \(none\) to .*compose again"):
        plugin.promote(setup.promote, stale)
    assert staging.rev_parse(REF) == second.ostree.commit

    # the shared repository may not be the staging repository: candidates would be synced before their tests
    same_repo = replace(setup.compose, ostree=replace(setup.config.ostree, repo=staging.path))
    with pytest.raises(ArtifactError, match="is the staging repository"):
        plugin.compose(same_repo, updated)


def test_image_candidate_is_never_synced_until_promoted(setup: Setup) -> None:
    plugin = setup.plugin("cloud-base-ami")
    manifest = plugin.manifest(setup.koji, setup.packages("cloud-base-ami"), "f24")
    out = plugin.compose(setup.compose, manifest)
    assert out.changed and out.image is not None and out.image.koji_build == "Fedora-Cloud-Base-24-1"
    candidate = setup.staging / ".relengotron/candidates" / AMI
    assert out.image.path == str(candidate) and not out.image.released
    # a real disk whose rpmdb lists every package, in its arch (sudo and kernel are x86_64 builds), never a
    # debuginfo or debugsource
    arch = {"sudo": "x86_64", "kernel": "x86_64"}
    opened = open_image(candidate, "raw-xz")
    assert opened.well_formed, opened.message
    assert opened.packages == {f"{nvr}.{arch.get(nvr.rsplit('-', 2)[0], 'noarch')}" for nvr in manifest.nvrs}
    checksum = candidate.with_name(candidate.name + "-CHECKSUM")
    assert checksum.read_text().startswith("-----BEGIN PGP SIGNED MESSAGE-----")
    assert f"SHA256 ({candidate.name}) = {out.image.sha256}" in checksum.read_text()
    assert _gpg_verify(setup.ctx.built.public_key, checksum, setup.compose.workdir / "gpg")
    assert not (setup.staging / AMI).exists()

    # tested by URL where it is; the world's scenario fails the cloud boot stand-in: the candidate is held back
    posted = TaskotronRunner(setup.ctx).handle(TOPIC, plugin.announcement(out, setup.config.translate_paths))
    outcomes = {p["testcase"]["name"]: p["outcome"] for p in posted}
    assert outcomes == {
        "compose.image.checksum": "PASSED",
        "compose.image.content": "PASSED",
        "compose.cloud.boot": "FAILED",
    }, posted
    setup.sync_all()
    assert mirror_files(setup.master) == set()  # nothing of the candidate (nor the private area) is synced
    assert plugin.released(setup.published) is None

    # composing again reuses the candidate: no second image task
    tasks = setup.image_tasks()
    again = plugin.compose(setup.compose, manifest)
    assert again.changed and again.image is not None and again.image.sha256 == out.image.sha256
    assert setup.image_tasks() == tasks

    # promoted (as if its tests had passed): the three files move; the candidate area is emptied
    done = plugin.promote(setup.promote, out)
    assert done.changed and done.steps == ("image", "manifest", "checksum") and done.identity == out.image.sha256
    assert sorted(done.paths) == sorted(
        str(p.relative_to(setup.staging)) for p in (setup.staging / AMI).parent.iterdir()
    )
    assert not (setup.staging / ".relengotron/candidates/linux").exists()
    assert not plugin.promote(setup.promote, out).changed  # a rerun moves nothing
    setup.sync_all()
    assert mirror_files(setup.master) == set(done.paths)
    assert plugin.released(setup.published) == manifest
    released = plugin.compose(setup.compose, manifest)  # the public copy is this manifest's: nothing to do
    assert not released.changed and released.image is not None and released.image.released
    assert setup.image_tasks() == tasks


def test_a_pxe2live_is_kojis_live_iso_made_into_a_pxe_tarball_the_same_each_time(setup: Setup) -> None:
    """Koji's livemedia task (squashfs_only) leaves an ISO, as kojid's does; the candidate is the PXE tarball
    derived from it, which holds the manifest's builds and is byte-identical when the same task is finished again."""
    pxe = setup.plugin("pxe2live")
    manifest = pxe.manifest(setup.koji, setup.packages("pxe2live"), "f24")
    ctx = replace(setup.compose, signer=None)
    task = pxe.submit(ctx, manifest)
    setup.koji.wait_task(task, item="test", timeout=120)
    [built] = setup.koji.image_result(task, item="test")
    assert built.filename.endswith(".iso") and built.rpms == ()  # kojid's LiveMediaTask: the ISO, no rpmlist
    out = pxe.finish(ctx, manifest, task)
    assert out.image is not None and out.image.path.endswith("/Fedora-Atomic-pxe2live-x86_64-24.tar.gz")
    candidate = Path(out.image.path)
    assert sorted(p.name for p in candidate.parent.iterdir()) == sorted(
        [
            candidate.name,
            f"{candidate.name}.manifest.json",
            f"{candidate.name}-CHECKSUM",
            f"{candidate.name}.koji-task.json",
        ]
    )
    assert f"SHA256 ({candidate.name}) = {out.image.sha256}" in Path(out.image.checksum_file).read_text()
    opened = open_image(candidate, "pxe2live")
    assert opened.well_formed, opened.message
    assert opened.installed is not None and {p.build for p in opened.installed} == set(manifest.nvrs)
    data = candidate.read_bytes()
    again = pxe.finish(ctx, manifest, task)  # the same task again: the same bytes
    assert again.image == out.image and candidate.read_bytes() == data


def test_an_image_task_is_submitted_once_and_a_failed_one_again(setup: Setup) -> None:
    """The task id is recorded beside the candidate: a retry resumes waiting on it; only a failed task is redone."""
    gce = setup.plugin("cloud-base-gce")
    manifest = gce.manifest(setup.koji, setup.packages("cloud-base-gce"), "f24-updates")
    ctx = replace(setup.compose, signer=None, image_tag="f24-updates")
    assert gce.prepare(ctx, manifest) is None
    task = gce.submit(ctx, manifest)
    assert gce.submit(ctx, manifest) == task and setup.koji.build_target_for("f24-updates") == "f24-updates-image"
    setup.koji.wait_task(task, item="test", timeout=30)
    out = gce.finish(ctx, manifest, task)
    assert out.image is not None and Path(out.image.checksum_file).read_text().startswith("# Fedora-Cloud-Base-GCE")
    assert gce.finish(ctx, manifest, task).image == out.image  # the same task again: the same files
    assert setup.image_tasks() == [task]

    # with a signer, promotion refuses the plain CHECKSUM; signed, it goes through
    with pytest.raises(ArtifactError, match=r"does not list the image .* and signed with key"):
        gce.promote(setup.promote, out)
    assert not (setup.staging / gce.mirror_paths(setup.config.mirror)[0]).exists()
    assert [r.action for r in gce.sign(setup.signer, out)] == ["signed"]
    assert gce.promote(setup.promote, out).changed

    # a failed image task (the f24 build tag has no aarch64) is submitted again, never waited on forever
    aarch64 = setup.plugin("cloud-base-gce", arch="aarch64")
    failed = aarch64.submit(ctx, manifest)
    with pytest.raises(Exception, match="Invalid arch"):
        setup.koji.wait_task(failed, item="test", timeout=30)
    with pytest.raises(ArtifactError, match=r"Koji image task: task (\d+) failed") as caught:
        aarch64.compose(ctx, manifest)
    assert f"task {failed} " not in str(caught.value)  # the FAILED task recorded was not waited on again
    assert setup.image_tasks()[-1] > failed


def test_failed_composes_name_the_artifact_and_leave_the_trees_alone(setup: Setup) -> None:
    gce = setup.plugin("cloud-base-gce")
    manifest = gce.manifest(setup.koji, setup.packages("cloud-base-gce"), "f24")
    with pytest.raises(
        ArtifactError, match=r"Fedora-Cloud-Base-GCE-24\.x86_64\.tar\.gz: no build of nosuchpkg in Koji tag f24"
    ):
        gce.manifest(setup.koji, [*setup.packages("cloud-base-gce"), "nosuchpkg"], "f24")
    broken = Manifest.of([*manifest.nvrs, "nosuchpkg-1.0-1.fc24"])
    tasks = setup.image_tasks()
    with pytest.raises(ArtifactError) as caught:
        gce.compose(setup.compose, broken)
    assert caught.value.label == "Fedora-Cloud-Base-GCE-24.x86_64.tar.gz"
    assert "no build of nosuchpkg in Koji tag f24" in str(caught.value)
    assert setup.image_tasks() == tasks  # refused before any image task
    aarch64 = setup.plugin("cloud-base-gce", arch="aarch64")
    with pytest.raises(
        ArtifactError, match=r"^Fedora-Cloud-Base-GCE-24\.aarch64\.tar\.gz: Koji image task: task \d+ failed"
    ) as failed:
        aarch64.compose(setup.compose, manifest)
    assert "Invalid arch for build tag: aarch64" in str(failed.value)
    assert not (setup.staging / "linux").exists()
    assert not list((setup.staging / ".relengotron/candidates").rglob("*.tar.gz"))

    atomic = setup.plugin("atomic-host")
    partial = Manifest.of(["bash-4.3.42-5.fc24", "filesystem-3.2-37.fc24"])
    with pytest.raises(
        ArtifactError,
        match=r"^fedora/24/x86_64/atomic-host: the treefile .*atomic-host\.yaml names setup, which no build of the "
        r"manifest ships \(and 18 more: glibc, coreutils, kernel\)$",
    ):
        atomic.compose(setup.compose, partial)  # each name of its treefile must be a binary of a manifest build
    full = atomic.manifest(setup.koji, setup.packages("atomic-host"), "f24")
    unsigned = Manifest.of(["bash-4.3.42-6.fc24" if n.startswith("bash-") else n for n in full.nvrs])
    with pytest.raises(
        ArtifactError, match=r"fedora/24/x86_64/atomic-host: bash-4.3.42-6.fc24.noarch.rpm is not signed"
    ):
        atomic.compose(setup.compose, unsigned)
    assert not OSTreeRepo(setup.config.ostree.repo).exists() or not OSTreeRepo(setup.config.ostree.repo).refs()
    assert not (setup.staging / setup.config.mirror.ostree).exists()


def _gpg_verify(public_key: Path, signed: Path, home: Path) -> bool:
    home.mkdir(parents=True, mode=0o700)
    env = {"GNUPGHOME": str(home), "PATH": "/usr/bin:/bin"}
    subprocess.run(["gpg", "--batch", "--import", str(public_key)], env=env, check=True, capture_output=True)
    result = subprocess.run(["gpg", "--batch", "--verify", str(signed)], env=env, capture_output=True, text=True)
    subprocess.run(["gpgconf", "--kill", "all"], env=env, check=False, capture_output=True)
    return result.returncode == 0 and "Good signature" in result.stderr


def test_a_remote_ostree_compose_installs_from_a_koji_dist_repo_of_signed_copies(
    setup: Setup, sshd_server, tmp_path: Path
) -> None:
    """``compose: remote`` (config/fedora.yaml's Atomic Host): the compose host installs from a Koji dist-repo of
    the tag — the copies signed with the release's key, checked against it (gpgcheck on) — never from Koji's
    unsigned build repository; the tree it commits holds exactly the manifest."""
    import sys

    from test_ostree_remote import STANDIN

    from relengotron.ostree.compose import RemoteBackend
    from relengotron.tools.remote import SSHRunner
    from relengotron.tools.rootfs import read_rpmdb

    standin = sshd_server.bin / "rpm-ostree"
    standin.write_text(STANDIN.format(python=sys.executable, repo=str(Path(__file__).resolve().parents[2])))
    standin.chmod(0o755)
    server = sshd_server
    runner = SSHRunner(server.host, server.port, server.user, server.client_key, server.host_key)
    try:
        backend = RemoteBackend(
            runner, host_workdir=str(tmp_path / "host"), workdir=tmp_path / "remote", keys=setup.compose.rpm_keys
        )
        local = setup.plugin("atomic-host")
        plugin = for_target(Target(replace(local.artifact, compose="remote"), local.release, local.arch))
        manifest = plugin.manifest(setup.koji, setup.packages("atomic-host"), "f24")
        before = setup.koji.session.listTasks(opts={"method": "distRepo"})
        out = plugin.compose(replace(setup.compose, remote=backend, image_tag="f24"), manifest)
    finally:
        runner.close()
    [dist] = [t for t in setup.koji.session.listTasks(opts={"method": "distRepo"}) if t not in before]
    request = setup.koji.session.getTaskRequest(dist["id"])  # [tag, repo id, keys, opts]
    assert (request[0], request[2]) == ("f24", [setup.ctx.built.key_id.lower()])
    assert koji_task_state(setup.koji, dist["id"]) == "CLOSED"
    assert out.changed and out.ostree is not None
    checkout = tmp_path / "checkout"
    subprocess.run(
        ["ostree", f"--repo={setup.config.ostree.repo}", "checkout", "--user-mode", out.ostree.commit, str(checkout)],
        check=True,
    )
    assert {p.build for p in read_rpmdb(checkout / "usr/share/rpm", item="checkout")} == set(manifest.nvrs)


def koji_task_state(koji: KojiClient, task_id: int) -> str:
    import koji as kojilib

    return kojilib.TASK_STATES[koji.session.getTaskInfo(task_id)["state"]]
