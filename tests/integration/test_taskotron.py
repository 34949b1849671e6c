"""The sandbox Taskotron runner: real checks, results in the real sandbox ResultsDB, triggers from the real bus.

Candidates are reached by URL from the sandbox's compose file server on 127.0.0.1, as test systems reach them.
Images and commits are made of the built world's signed RPMs (roots installed with install_root, images written
by the sandbox's image builder), one of them lacking a package on purpose."""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import koji
import pytest
import requests
import test_imagebuild
from resultsdb_api import ResultsDBapi

from relengotron.config import TranslatePaths
from relengotron.manifest import Manifest
from relengotron.ostree.metadata import KEY_PKGLIST
from relengotron.ostree.postprocess import pkglist
from relengotron.ostree.repo import OSTreeRepo
from relengotron.tools.livepxe import pxe_tarball_from_live_iso
from relengotron.tools.rootfs import YumRepo, install_root, read_rpmdb
from relengotron_sandbox.composefiles import ComposeFiles
from relengotron_sandbox.imagebuild.disk import write_disk_images
from relengotron_sandbox.imagebuild.liveiso import write_live_iso
from relengotron_sandbox.koji import KojiHub
from relengotron_sandbox.koji.imageoutput import lose_package
from relengotron_sandbox.resultsdb import ResultsDBService
from relengotron_sandbox.service import SandboxContext
from relengotron_sandbox.taskotron import CHECKS, TaskotronRunner
from relengotron_sandbox.taskotron.depcheck import depcheck
from relengotron_sandbox.taskotron.kojirepo import HeaderReader, RpmRef
from relengotron_sandbox.testing import wait_for
from relengotron_sandbox.world import StandIn

pytestmark = pytest.mark.integration

ARTIFACT_TOPIC = "org.fedoraproject.dev.relengotron.artifact.composed"
TAG_TOPIC = "org.fedoraproject.dev.buildsys.tag"
REF = "fedora/24/x86_64/atomic-host"
IMAGE = "Fedora-Cloud-Base-24.x86_64.raw.xz"


@pytest.fixture
def resultsdb(recording_ctx: SandboxContext) -> Iterator[ResultsDBapi]:
    svc = ResultsDBService(recording_ctx)
    recording_ctx.endpoints["resultsdb"] = svc.start()
    yield ResultsDBapi(recording_ctx.endpoints["resultsdb"]["url"], max_retries=0)
    svc.stop()


@pytest.fixture
def runner(recording_ctx: SandboxContext, resultsdb: ResultsDBapi) -> TaskotronRunner:
    """A runner whose handle() is called directly (no subscription)."""
    return TaskotronRunner(recording_ctx)


@pytest.fixture
def compose(tmp_path: Path) -> Iterator[tuple[Path, str, ComposeFiles]]:
    """The sandbox's compose file server on 127.0.0.1 serving ``<tmp>/compose`` (as kojipkgs serves
    /mnt/koji/compose): (that tree, its URL, the server). Stopped after the test."""
    top = tmp_path / "compose"
    top.mkdir()
    server = ComposeFiles()
    server.serve(TranslatePaths(((top, f"{server.url}/compose"),)))
    server.start()
    yield top, f"{server.url}/compose", server
    server.stop()


@pytest.fixture
def ostree_repo(compose: tuple[Path, str, ComposeFiles]) -> tuple[Path, str, str]:
    """A real small archive-mode ostree repo with one commit on REF (no rpmdb), served: (repo, URL, commit)."""
    top, base, _ = compose
    tree = top.parent / "tree"
    (tree / "usr" / "bin").mkdir(parents=True)
    (tree / "usr" / "bin" / "atomic").write_text("#!/bin/sh\necho atomic\n")
    (tree / "etc").mkdir()
    (tree / "etc" / "os-release").write_text("NAME=Fedora\nVERSION_ID=24\n")
    repo = OSTreeRepo(top / "ostree" / "repo").init()
    commit = repo.commit(trees=[f"dir={tree}"], subject="Fedora 24 Atomic", branch=REF)
    return repo.path, f"{base}/ostree/repo", commit


def ostree_body(url: str, commit: str, item: str = "atomic-host-24-x86_64", **extra: Any) -> dict[str, Any]:
    spec = {"url": url, "ref": REF, "commit": commit}
    return {"item": item, "kind": "ostree", "release": "f24", "arch": "x86_64", "ostree": spec, **extra}


def image_body(url: str, sha256: str, item: str = "cloud-base-ami-24-x86_64", kind: str = "ami", **extra: Any) -> dict:
    spec = {"url": url, "sha256": sha256, "format": "raw-xz", "manifest_url": url + ".manifest.json"}
    return {"item": item, "kind": kind, "release": "f24", "arch": "x86_64", "image": spec, **extra}


def outcomes(posted: list[dict[str, Any]]) -> dict[str, str]:
    return {r["testcase"]["name"]: r["outcome"] for r in posted}


def notes(posted: list[dict[str, Any]]) -> dict[str, str]:
    return {r["testcase"]["name"]: r["note"] for r in posted}


# ---------------------------------------------------------------- roots and images of the built world's RPMs

# f24 builds of the world whose binary packages make a small root (dependencies included: install_root installs
# exactly these): the image tests' root, without python3; the manifest of the images and commits below.
BUILDS = tuple(nvr for nvr in test_imagebuild.BUILDS if not nvr.startswith("python3-"))
MANIFEST = Manifest.of(BUILDS)
DROPPED = "dracut-044-22.fc24"  # what the broken root lacks (nothing requires it)


@pytest.fixture(scope="module")
def roots(tmp_path_factory: pytest.TempPathFactory, built_world) -> dict[str, Path]:
    """Roots installed with relengotron.tools.rootfs.install_root from the built world's SIGNED RPMs (gpgcheck
    on): "full" holds every build of MANIFEST, "short" all but DROPPED."""
    repo = tmp_path_factory.mktemp("repo")
    for nvr in BUILDS:
        for rpm in built_world.rpms[nvr]:
            if rpm.arch != "src" and not rpm.name.endswith(("-debuginfo", "-debugsource")):
                shutil.copy(built_world.topdir / rpm.signed_relpath, repo)
    subprocess.run(["createrepo_c", "--quiet", str(repo)], check=True)
    source = YumRepo("world", repo.as_uri(), (Path(built_world.public_key).as_uri(),))
    top = tmp_path_factory.mktemp("roots")
    out = {}
    for name, builds in (("full", BUILDS), ("short", tuple(b for b in BUILDS if b != DROPPED))):
        install_root(top / name, builds, [source], releasever="24", item=f"{name} root")
        out[name] = top / name
    return out


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory, roots: dict[str, Path]) -> dict[str, Path]:
    """AMI disk images (raw-xz) of the two roots, written by the sandbox's image builder."""
    out = tmp_path_factory.mktemp("images")
    return {
        name: write_disk_images(root, {"raw-xz": out / f"{name}.raw.xz"}).files["raw-xz"]
        for name, root in roots.items()
    }


def place_image(
    top: Path,
    base: str,
    source: Path,
    manifest: Manifest = MANIFEST,
    *,
    size: int | None = None,
    rel: str = f"linux/releases/24/ami/x86_64/{IMAGE}",
) -> tuple[str, str]:
    """Put ``source`` (its first ``size`` bytes) and its manifest JSON in the served candidate area at ``rel``, as
    the compose does: (the image's URL, its sha256)."""
    rel = f"staging/.relengotron/candidates/{rel}"
    dest = top / rel
    dest.parent.mkdir(parents=True, exist_ok=True)
    data = source.read_bytes()
    dest.write_bytes(data if size is None else data[:size])
    dest.with_name(dest.name + ".manifest.json").write_text(manifest.to_json())
    return f"{base}/{rel}", hashlib.sha256(dest.read_bytes()).hexdigest()


def test_an_image_announced_by_url_is_downloaded_opened_and_its_builds_compared(
    runner, resultsdb, compose, images
) -> None:
    top, base, _ = compose
    url, sha = place_image(top, base, images["full"])
    posted = runner.handle(ARTIFACT_TOPIC, image_body(url, sha, item="cloud-base-ami-23-x86_64"))
    assert outcomes(posted) == {"compose.image.checksum": "PASSED", "compose.image.content": "PASSED"}, notes(posted)
    assert f"{len(BUILDS)} packages of the manifest's {len(BUILDS)} builds" in notes(posted)["compose.image.content"]
    assert posted[1]["data"] == {
        "item": ["cloud-base-ami-23-x86_64"],
        "type": ["compose-artifact"],
        "arch": ["x86_64"],
        "release": ["f24"],
    }
    # the announced sha256 is what the download is compared with
    (bad, _) = runner.handle(ARTIFACT_TOPIC, image_body(url, "0" * 64, item="cloud-base-ami-23-x86_64"))
    assert bad["outcome"] == "FAILED" and "sha256 mismatch" in bad["note"] and sha in bad["note"]
    # a manifest that is not this compose's (another input hash) fails the content check
    posted = runner.handle(ARTIFACT_TOPIC, image_body(url, sha, item="cloud-base-ami-23-x86_64", input_hash="f" * 64))
    assert (
        outcomes(posted)["compose.image.content"] == "FAILED"
        and "not the announced" in notes(posted)["compose.image.content"]
    )


def test_an_image_missing_a_package_fails_its_content_check_naming_it(runner, compose, images) -> None:
    top, base, _ = compose
    url, sha = place_image(top, base, images["short"])  # the manifest still lists dracut
    posted = runner.handle(ARTIFACT_TOPIC, image_body(url, sha, item="cloud-base-ami-23-x86_64"))
    assert outcomes(posted) == {"compose.image.checksum": "PASSED", "compose.image.content": "FAILED"}
    note = notes(posted)["compose.image.content"]
    assert f"missing {DROPPED}" in note and "extra" not in note and url in note


def test_a_truncated_image_is_malformed(runner, compose, images) -> None:
    top, base, _ = compose
    url, sha = place_image(top, base, images["full"], size=images["full"].stat().st_size // 2)
    posted = runner.handle(ARTIFACT_TOPIC, image_body(url, sha, item="cloud-base-ami-23-x86_64"))
    # the checksum is the truncated file's (announced so): only opening it shows it is broken
    assert outcomes(posted) == {"compose.image.checksum": "PASSED", "compose.image.content": "FAILED"}
    assert "is malformed" in notes(posted)["compose.image.content"] and "xz" in notes(posted)["compose.image.content"]


def test_an_image_not_there_fails_and_a_path_is_never_read(runner, resultsdb, compose, images, tmp_path: Path) -> None:
    top, base, _ = compose
    url, sha = place_image(top, base, images["full"])
    posted = runner.handle(ARTIFACT_TOPIC, image_body(url + ".gone", sha, item="cloud-base-ami-23-x86_64"))
    assert outcomes(posted) == {"compose.image.checksum": "FAILED", "compose.image.content": "FAILED"}
    assert all("HTTP 404" in note for note in notes(posted).values())
    # a path (or file://) in the announcement: test systems fetch candidates by URL only — the check cannot run
    local = top / "staging/.relengotron/candidates/linux/releases/24/ami/x86_64" / IMAGE
    for where in (str(local), local.as_uri()):
        assert runner.handle(ARTIFACT_TOPIC, image_body(where, sha, item="cloud-base-ami-23-x86_64")) == []
    assert "is not an http(s) URL" in runner.errors[-1]


def test_a_pxe2live_is_opened_from_its_tarball_and_a_lost_package_fails_it(
    runner, resultsdb, compose, roots, tmp_path: Path
) -> None:
    """pxe2live as the product publishes it: the tarball derived from the live ISO the sandbox Koji writes. The
    world's ``broken_images`` knob (lose_package, as the sandbox Koji applies it after the install) removes a
    package from the root: the squashfs lacks it, and the content check fails naming its build."""
    top, base, _ = compose
    rel = "linux/releases/24/pxe2live/x86_64/Fedora-Atomic-pxe2live-x86_64-24.tar.gz"
    broken = tmp_path / "broken-root"
    shutil.copytree(roots["full"], broken, symlinks=True)
    lose_package(broken, "coreutils", item="broken root")
    for name, root, expected in (("good", roots["full"], "PASSED"), ("broken", broken, "FAILED")):
        iso = write_live_iso(root, tmp_path / f"{name}.iso", volid="Fedora-AH-pxe2live-24-1").path
        tarball = pxe_tarball_from_live_iso(iso, tmp_path / name / "pxe.tar.gz", item="pxe2live")
        url, sha = place_image(top, base, tarball, rel=rel)
        body = image_body(url, sha, item="pxe2live-24-x86_64", kind="pxe2live")
        body["image"]["format"] = "tar-gz"  # what Pxe2Live announces (its published format)
        posted = runner.handle(ARTIFACT_TOPIC, body)
        assert outcomes(posted) == {"compose.image.checksum": "PASSED", "compose.image.content": expected}, notes(
            posted
        )
    note = notes(posted)["compose.image.content"]
    assert "missing coreutils-8.25-6.fc24" in note and "extra" not in note


def ostree_commit(repo: OSTreeRepo, root: Path, tmp: Path, manifest: Manifest = MANIFEST) -> str:
    """A commit in rpm-ostree's layout of ``root``'s rpmdb: the rpmdb at usr/share/rpm, the commit's metadata
    ``rpmostree.rpmdb.pkglist`` of it and the ``manifest`` (as the local compose and the merge write them)."""
    tree = tmp / "tree"
    shutil.copytree(root / "var" / "lib" / "rpm", tree / "usr" / "share" / "rpm")
    installed = read_rpmdb(root / "var" / "lib" / "rpm", item="root")
    metadata = {KEY_PKGLIST: pkglist(installed), **manifest.metadata()}
    commit = repo.commit(trees=[f"dir={tree}"], subject="Fedora 24 Atomic", branch=REF, metadata=metadata)
    shutil.rmtree(tree)
    return commit


def test_an_ostree_commit_served_over_http_is_pulled_fscked_and_its_packages_compared(
    runner, resultsdb, compose, roots, tmp_path: Path
) -> None:
    top, base, _ = compose
    repo = OSTreeRepo(top / "ostree" / "repo").init()
    url = f"{base}/ostree/repo"
    good = ostree_commit(repo, roots["full"], tmp_path)
    posted = runner.handle(ARTIFACT_TOPIC, ostree_body(url, good, input_hash=MANIFEST.input_hash))
    assert outcomes(posted) == {"compose.ostree.fsck": "PASSED", "compose.ostree.content": "PASSED"}, notes(posted)
    assert good in notes(posted)["compose.ostree.fsck"] and "GPG" in notes(posted)["compose.ostree.fsck"]

    short = ostree_commit(repo, roots["short"], tmp_path)  # records the full manifest, lacks dracut
    posted = runner.handle(ARTIFACT_TOPIC, ostree_body(url, short, input_hash=MANIFEST.input_hash))
    assert outcomes(posted) == {"compose.ostree.fsck": "PASSED", "compose.ostree.content": "FAILED"}
    assert f"missing {DROPPED}" in notes(posted)["compose.ostree.content"]

    posted = runner.handle(ARTIFACT_TOPIC, ostree_body(url, good, input_hash="f" * 64))  # another compose's
    assert outcomes(posted)["compose.ostree.content"] == "FAILED"


def test_ostree_commits_not_there_and_corrupt_objects_fail(runner, compose, ostree_repo) -> None:
    _, base, _ = compose
    repo, url, commit = ostree_repo
    posted = runner.handle(ARTIFACT_TOPIC, ostree_body(url, commit))
    assert outcomes(posted) == {"compose.ostree.fsck": "PASSED", "compose.ostree.content": "FAILED"}
    assert "records no manifest" in notes(posted)["compose.ostree.content"]
    posted = runner.handle(ARTIFACT_TOPIC, ostree_body(url, "0" * 64))
    assert outcomes(posted) == {"compose.ostree.fsck": "FAILED", "compose.ostree.content": "FAILED"}
    posted = runner.handle(ARTIFACT_TOPIC, ostree_body(f"{base}/nowhere", commit))
    assert outcomes(posted)["compose.ostree.fsck"] == "FAILED" and "no OSTree repository" in posted[0]["note"]
    victim = next((repo / "objects").rglob("*.filez"))
    victim.write_bytes(b"not what the checksum says")
    posted = runner.handle(ARTIFACT_TOPIC, ostree_body(url, commit))
    assert outcomes(posted)["compose.ostree.fsck"] == "FAILED", notes(posted)


def test_a_check_that_cannot_run_posts_nothing(runner, resultsdb, compose, ostree_repo, images) -> None:
    top, base, server = compose
    url, sha = place_image(top, base, images["full"])
    _, repo_url, commit = ostree_repo
    server.stop()  # the server is down: nothing can be fetched
    assert runner.handle(ARTIFACT_TOPIC, image_body(url, sha, item="cloud-base-ami-23-x86_64")) == []
    assert runner.handle(ARTIFACT_TOPIC, ostree_body(repo_url, commit)) == []
    assert runner.handle(ARTIFACT_TOPIC, {"item": "atomic-host-24-x86_64", "kind": "ostree"}) == []
    assert runner.handle(ARTIFACT_TOPIC, {"kind": "ostree"}) == []
    assert resultsdb.get_results()["data"] == []
    assert "cannot download" in runner.errors[0] and len(runner.errors) == 7


def test_stand_ins_are_posted_with_their_reason_and_never_replace_a_real_check(
    runner, recording_ctx, compose, images
) -> None:
    top, base, _ = compose
    url, sha = place_image(top, base, images["full"])
    # the default world's scenario: compose.cloud.boot FAILED for the F24 AMI, next to the real checks
    posted = runner.handle(ARTIFACT_TOPIC, image_body(url, sha))
    assert outcomes(posted) == {
        "compose.image.checksum": "PASSED",
        "compose.image.content": "PASSED",
        "compose.cloud.boot": "FAILED",
    }
    boot = notes(posted)["compose.cloud.boot"]
    assert "forced by the world's scenario" in boot and "the demo's failing AMI" in boot
    assert posted[2]["data"]["item"] == ["cloud-base-ami-24-x86_64"]
    # a scenario may not force what the sandbox really checks
    for testcase, item in (("compose.ostree.fsck", "atomic-host-24-x86_64"), ("dist.depcheck", "etcd-3.0.15-1.fc26")):
        world = dataclasses.replace(recording_ctx.world, stand_ins=(StandIn(item, testcase, "PASSED", "why not"),))
        with pytest.raises(ValueError, match=f"forces {testcase} .* a real check's outcome is never forced"):
            TaskotronRunner(dataclasses.replace(recording_ctx, world=world))


# ---------------------------------------------------------------- dist.depcheck


def test_rpm_headers_of_the_built_world_drive_depcheck(recording_ctx: SandboxContext, tmp_path: Path) -> None:
    """The header reader on the world's real RPMs (one rpm -qp per batch, cached by payloadhash)."""
    built = recording_ctx.built

    def refs(nvrs: list[str]) -> list[RpmRef]:
        return [
            RpmRef(
                url=str(built.topdir / r.relpath), payloadhash=r.payloadhash, package=nvr.rsplit("-", 2)[0], nvra=r.nvra
            )
            for nvr in nvrs
            for r in built.rpms[nvr]
            if r.arch != "src"
        ]

    rawhide = [b.nvr for b in recording_ctx.world.builds() if "rawhide" in b.tags]
    reader = HeaderReader(tmp_path / "headers")
    repo = reader.headers(refs(rawhide))
    binaries = sum(
        1 for nvr in rawhide for r in recording_ctx.built.rpms[nvr] if r.arch != "src"
    )  # + sudo, kernel debug
    assert len(repo) == binaries == len(rawhide) + 4
    assert len(list((tmp_path / "headers").glob("*.json"))) == binaries
    bash = next(h for h in repo if h.name == "bash")
    assert "libc.so.6" in bash.requires and "/bin/sh" in bash.files and "bash = 4.4.5-1.fc26" in bash.provides

    assert depcheck(reader.headers(refs(["etcd-3.0.15-1.fc26"])), repo).passed
    verdict = depcheck(reader.headers(refs(["python3-requests-2.12.1-1.fc26"])), repo)
    assert not verdict.passed
    assert [u.requirement for u in verdict.unresolved] == ["python3-urllib3 >= 1.19"]

    # cached: the files are no longer needed
    cached = HeaderReader(tmp_path / "headers")
    moved = [dataclasses.replace(r, url=str(tmp_path / "gone.rpm")) for r in refs(["bash-4.4.5-1.fc26"])]
    assert cached.headers(moved)[0].provides == bash.provides


def test_depcheck_triggers_only_on_gate_tags(runner, recording_ctx, resultsdb) -> None:
    body = {"tag": "rawhide", "name": "etcd", "version": "3.0.15", "release": "1.fc26", "build_id": 1}
    assert runner.handle(TAG_TOPIC, body) == []  # the build tag itself: nothing to check
    assert runner.handle(TAG_TOPIC, dict(body, tag="rawhide-badnewsbears")) == []
    assert runner.handle(TAG_TOPIC, dict(body, tag="not-a-tag")) == []
    assert runner.errors == []
    # a gate tag with no Koji hub running: the check cannot run, nothing is posted
    assert runner.handle(TAG_TOPIC, dict(body, tag="rawhide-pending")) == []
    assert runner.errors and "Koji hub is not started" in runner.errors[0]


@pytest.fixture
def koji_hub(recording_ctx: SandboxContext) -> Iterator[dict[str, str]]:
    hub = KojiHub(recording_ctx)
    recording_ctx.endpoints["koji"] = hub.start()
    yield recording_ctx.endpoints["koji"]
    hub.stop()


def test_depcheck_against_the_koji_hub(runner, resultsdb, koji_hub, recording_ctx: SandboxContext) -> None:
    def tagged(nvr: str, tag: str = "rawhide-pending") -> list[dict]:
        name, version, release = nvr.rsplit("-", 2)
        return runner.handle(TAG_TOPIC, {"tag": tag, "name": name, "version": version, "release": release})

    (ok,) = tagged("etcd-3.0.15-1.fc26")
    assert (ok["testcase"]["name"], ok["outcome"]) == ("dist.depcheck", "PASSED"), ok["note"]
    assert ok["data"] == {"item": ["etcd-3.0.15-1.fc26"], "type": ["koji_build"], "arch": ["noarch"]}

    (broken,) = tagged("python3-requests-2.12.1-1.fc26")
    assert broken["outcome"] == "FAILED"
    assert "python3-urllib3 >= 1.19" in broken["note"] and "python3-urllib3 = 1.15.1-3.fc26" in broken["note"]

    # a stable release's gate: f24-updates-testing against f24 (kernel 4.6.4 needs systemd-units: f24 has it)
    (stable,) = tagged("kernel-4.6.4-301.fc24", tag="f24-updates-testing")
    assert stable["outcome"] == "PASSED", stable["note"]

    # headers were read once and cached by payloadhash
    cache = recording_ctx.state_dir / "taskotron" / "headers"
    cached = len(list(cache.glob("*.json")))
    assert cached >= len([b for b in recording_ctx.world.builds() if "rawhide" in b.tags])
    tagged("etcd-3.0.15-1.fc26")
    assert len(list(cache.glob("*.json"))) == cached

    assert tagged("no-such-build-1-1.fc26") == []  # Koji does not know it: the check cannot run
    assert "no build no-such-build-1-1.fc26" in runner.errors[-1]
    latest = resultsdb.session.get(f"{resultsdb.url}/results/latest", params={"item": "etcd-3.0.15-1.fc26"}).json()
    assert [r["outcome"] for r in latest["data"]] == ["PASSED"]


# ---------------------------------------------------------------- through the real bus


@pytest.fixture
def bus_runner(bus_ctx: SandboxContext) -> Iterator[tuple[SandboxContext, ResultsDBapi, TaskotronRunner]]:
    rdb = ResultsDBService(bus_ctx)
    bus_ctx.endpoints["resultsdb"] = rdb.start()
    runner = TaskotronRunner(bus_ctx)
    bus_ctx.endpoints["taskotron"] = runner.start()
    yield bus_ctx, ResultsDBapi(bus_ctx.endpoints["resultsdb"]["url"], max_retries=0), runner
    runner.stop()
    rdb.stop()


def test_artifact_announced_on_the_bus_is_checked(bus_runner, ostree_repo) -> None:
    ctx, api, runner = bus_runner
    assert ctx.endpoints["taskotron"] == {"checks": list(CHECKS)}
    _, url, commit = ostree_repo
    ctx.publish("relengotron", "artifact.composed", ostree_body(url, commit))
    ctx.publish("relengotron", "artifact.uninteresting", {"item": "x"})

    def both() -> list[dict[str, Any]]:
        found = api.get_results(item="atomic-host-24-x86_64", testcases="compose.ostree.fsck")["data"]
        return found if found and len(api.get_results(item="atomic-host-24-x86_64")["data"]) == 2 else []

    found = wait_for("the results posted", both, 15, every=0.05)
    assert [(r["testcase"]["name"], r["outcome"]) for r in found] == [("compose.ostree.fsck", "PASSED")]
    assert runner.wait_idle(5) and runner.errors == []

    def archived(topic: str) -> list[dict]:
        url = ctx.endpoints["bus"]["datagrepper"] + "raw"
        return requests.get(url, params={"topic": topic, "order": "asc"}, timeout=10).json()["raw_messages"]

    # ResultsDB announced the result on the same bus, in both shapes
    new = wait_for("result.new archived", lambda: archived("org.fedoraproject.dev.resultsdb.result.new"), 15)[0]
    assert new["msg"]["id"] == found[0]["id"] and new["msg"]["outcome"] == "PASSED"
    legacy = wait_for("the legacy message", lambda: archived("org.fedoraproject.dev.taskotron.result.new"), 15)[0]
    assert legacy["msg"]["task"] == {
        "item": "atomic-host-24-x86_64",
        "type": "compose-artifact",
        "name": "compose.ostree.fsck",
    }
    threads = [t for t in threading.enumerate() if t.name.startswith("taskotron-")]
    assert len(threads) == 2
    runner.stop()
    assert not any(t.is_alive() for t in threads)  # stop() ends the subscriber and the worker


def test_runner_needs_the_bus(recording_ctx: SandboxContext) -> None:
    with pytest.raises(RuntimeError, match="needs the bus"):
        TaskotronRunner(recording_ctx).start()


def test_tagging_a_build_in_koji_gets_it_depchecked(bus_ctx: SandboxContext) -> None:
    """Koji tags (real client, real hub task) → buildsys.tag on the bus → runner → ResultsDB."""
    services = []
    try:
        for key, service in (
            ("koji", KojiHub(bus_ctx)),
            ("resultsdb", ResultsDBService(bus_ctx)),
            ("taskotron", TaskotronRunner(bus_ctx)),
        ):
            bus_ctx.endpoints[key] = service.start()
            services.append(service)
        api = ResultsDBapi(bus_ctx.endpoints["resultsdb"]["url"], max_retries=0)
        session = koji.ClientSession(bus_ctx.endpoints["koji"]["hub"], opts={"user": "releng", "password": "x"})
        session.login()
        for nvr in ("python3-requests-2.12.1-1.fc26", "etcd-3.0.15-1.fc26"):
            session.untagBuild("rawhide-pending", nvr)  # buildsys.untag: no check
            task = session.tagBuild("rawhide-pending", nvr)
            closed = lambda task=task: session.getTaskInfo(task)["state"] == koji.TASK_STATES["CLOSED"]  # noqa: E731
            wait_for(f"task {task} closed", closed, 15, every=0.05)

        def outcomes() -> dict[str, str]:
            found = api.get_results(testcases="dist.depcheck", type="koji_build")["data"]
            return {r["data"]["item"][0]: r["outcome"] for r in found} if len(found) == 2 else {}

        assert wait_for("the outcomes", outcomes, 15, every=0.05) == {
            "python3-requests-2.12.1-1.fc26": "FAILED",
            "etcd-3.0.15-1.fc26": "PASSED",
        }
        failed = api.get_results(item="python3-requests-2.12.1-1.fc26")["data"][0]
        assert "nothing provides python3-urllib3 >= 1.19" in failed["note"]
        session.logout()
    finally:
        for service in reversed(services):
            service.stop()
