"""The sandbox Taskotron runner: real checks, results in the real sandbox ResultsDB, triggers from the real bus."""

from __future__ import annotations

import dataclasses
import hashlib
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import koji
import pytest
import requests
from resultsdb_api import ResultsDBapi

from relengotron_sandbox.koji import KojiHub
from relengotron_sandbox.resultsdb import ResultsDBService
from relengotron_sandbox.service import SandboxContext
from relengotron_sandbox.taskotron import CHECKS, TaskotronRunner
from relengotron_sandbox.taskotron.depcheck import depcheck
from relengotron_sandbox.taskotron.kojirepo import HeaderReader, RpmRef
from relengotron_sandbox.testing import wait_for
from relengotron_sandbox.web import App, HTTPService, Response
from relengotron_sandbox.world import ForcedResult

pytestmark = pytest.mark.integration

ARTIFACT_TOPIC = "org.fedoraproject.dev.relengotron.artifact.composed"
TAG_TOPIC = "org.fedoraproject.dev.buildsys.tag"
REF = "fedora/24/x86_64/atomic-host"


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
def ostree_repo(tmp_path: Path) -> tuple[Path, str]:
    """A real small archive-mode ostree repo with one commit on REF."""
    tree = tmp_path / "tree"
    (tree / "usr" / "bin").mkdir(parents=True)
    (tree / "usr" / "bin" / "atomic").write_text("#!/bin/sh\necho atomic\n")
    (tree / "etc").mkdir()
    (tree / "etc" / "os-release").write_text("NAME=Fedora\nVERSION_ID=24\n")
    repo = tmp_path / "repo"
    subprocess.run(["ostree", "init", f"--repo={repo}", "--mode=archive"], check=True)
    subprocess.run(
        ["ostree", "commit", f"--repo={repo}", f"--branch={REF}", f"--tree=dir={tree}", "-s", "Fedora 24 Atomic"],
        check=True,
        capture_output=True,
    )
    commit = subprocess.run(
        ["ostree", "rev-parse", f"--repo={repo}", REF], check=True, capture_output=True, text=True
    ).stdout.strip()
    return repo, commit


def ostree_body(repo: Path, commit: str | None, item: str = "atomic-host-24-x86_64") -> dict[str, Any]:
    spec: dict[str, Any] = {"repo": str(repo), "ref": REF}
    if commit:
        spec["commit"] = commit
    return {"item": item, "kind": "ostree", "release": "f24", "arch": "x86_64", "ostree": spec}


@pytest.fixture
def image_server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """An HTTP server for one image file: (its URL, its sha256). Anything else is a 404."""
    image = tmp_path / "Fedora-Cloud-Base-24.x86_64.raw.xz"
    image.write_bytes(b"\xfd7zXZ\x00" + bytes(range(256)) * 64)
    app = App("images")
    app.add("GET", f"/{image.name}", lambda _req: Response(200, image.read_bytes()))
    app.add("GET", "/broken", lambda _req: Response(503, b"try later"))
    server = HTTPService(app).start()
    yield f"{server.url}/{image.name}", hashlib.sha256(image.read_bytes()).hexdigest()
    server.stop()


def image_body(url: str, sha256: str, item: str = "cloud-base-ami-24-x86_64", kind: str = "ami") -> dict[str, Any]:
    return {"item": item, "kind": kind, "release": "f24", "arch": "x86_64", "image": {"url": url, "sha256": sha256}}


# ---------------------------------------------------------------- compose artifacts, through handle()


def test_ostree_fsck_passes_on_a_sound_repo_and_fails_on_a_corrupt_object(runner, resultsdb, ostree_repo) -> None:
    repo, commit = ostree_repo
    (posted,) = runner.handle(ARTIFACT_TOPIC, ostree_body(repo, commit))
    assert posted["testcase"]["name"] == "compose.ostree.fsck"
    assert posted["outcome"] == "PASSED", posted["note"]
    assert posted["data"] == {
        "item": ["atomic-host-24-x86_64"],
        "type": ["compose-artifact"],
        "arch": ["x86_64"],
        "release": ["f24"],
    }
    assert commit in posted["note"]

    victim = next((repo / "objects").rglob("*.filez"))
    victim.write_bytes(b"not what the checksum says")
    (failed,) = runner.handle(ARTIFACT_TOPIC, ostree_body(repo, commit))
    assert failed["outcome"] == "FAILED"
    assert "fsck" in failed["note"] and victim.parent.name + victim.stem in failed["note"]
    latest = resultsdb.get_results(item="atomic-host-24-x86_64", type="compose-artifact")["data"]
    assert [r["outcome"] for r in latest] == ["FAILED", "PASSED"]


def test_ostree_ref_only_and_missing_commit(runner, ostree_repo, tmp_path: Path) -> None:
    repo, commit = ostree_repo
    (by_ref,) = runner.handle(ARTIFACT_TOPIC, ostree_body(repo, None))
    assert by_ref["outcome"] == "PASSED" and commit in by_ref["note"]
    (missing,) = runner.handle(ARTIFACT_TOPIC, ostree_body(repo, "0" * 64))
    assert missing["outcome"] == "FAILED" and "not found" in missing["note"]
    (no_repo,) = runner.handle(ARTIFACT_TOPIC, ostree_body(tmp_path / "nowhere", commit))
    assert no_repo["outcome"] == "FAILED" and "not an ostree repository" in no_repo["note"]


def test_image_checksum_over_http_and_from_a_path(runner, image_server, tmp_path: Path) -> None:
    url, sha = image_server
    (ok,) = runner.handle(ARTIFACT_TOPIC, image_body(url, sha, item="installer-iso-24-x86_64"))
    assert ok["testcase"]["name"] == "compose.image.checksum" and ok["outcome"] == "PASSED"
    (bad,) = runner.handle(ARTIFACT_TOPIC, image_body(url, "0" * 64, item="installer-iso-24-x86_64"))
    assert bad["outcome"] == "FAILED" and "sha256 mismatch" in bad["note"] and sha in bad["note"]
    (gone,) = runner.handle(ARTIFACT_TOPIC, image_body(url + ".missing", sha, item="installer-iso-24-x86_64"))
    assert gone["outcome"] == "FAILED" and "HTTP 404" in gone["note"]
    local = tmp_path / "local.iso"
    local.write_bytes(b"iso")
    digest = hashlib.sha256(b"iso").hexdigest()
    (from_path,) = runner.handle(ARTIFACT_TOPIC, image_body(str(local), digest, item="pxe2live-24-x86_64"))
    assert from_path["outcome"] == "PASSED"
    (from_file_url,) = runner.handle(ARTIFACT_TOPIC, image_body(local.as_uri(), digest, item="pxe2live-24-x86_64"))
    assert from_file_url["outcome"] == "PASSED"


def test_a_check_that_cannot_run_posts_nothing(runner, resultsdb, image_server, ostree_repo) -> None:
    url, sha = image_server
    broken = url.rsplit("/", 1)[0] + "/broken"
    assert runner.handle(ARTIFACT_TOPIC, image_body(broken, sha, item="installer-iso-24-x86_64")) == []
    assert runner.handle(ARTIFACT_TOPIC, {"item": "atomic-host-24-x86_64", "kind": "ostree"}) == []
    assert runner.handle(ARTIFACT_TOPIC, {"kind": "ostree"}) == []
    assert resultsdb.get_results()["data"] == []
    assert len(runner.errors) == 3 and "HTTP 503" in runner.errors[0]


def test_forced_outcomes_replace_the_check_and_stand_in_for_other_tests(
    runner, recording_ctx, resultsdb, image_server, ostree_repo
) -> None:
    url, sha = image_server
    # the default world forces compose.cloud.boot FAILED for this item: posted next to the real checksum
    posted = runner.handle(ARTIFACT_TOPIC, image_body(url, sha))
    assert [(r["testcase"]["name"], r["outcome"]) for r in posted] == [
        ("compose.image.checksum", "PASSED"),
        ("compose.cloud.boot", "FAILED"),
    ]
    assert "forced" in posted[1]["note"] and posted[1]["data"]["item"] == ["cloud-base-ami-24-x86_64"]

    repo, commit = ostree_repo
    recording_ctx.world = dataclasses.replace(
        recording_ctx.world,
        forced_results=(ForcedResult("atomic-host-24-x86_64", "compose.ostree.fsck", "NEEDS_INSPECTION"),),
    )
    (forced,) = runner.handle(ARTIFACT_TOPIC, ostree_body(repo, commit))
    assert forced["outcome"] == "NEEDS_INSPECTION" and "forced" in forced["note"]


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
    # but a forced depcheck outcome needs no Koji
    recording_ctx.world = dataclasses.replace(
        recording_ctx.world, forced_results=(ForcedResult("etcd-3.0.15-1.fc26", "dist.depcheck", "FAILED"),)
    )
    (forced,) = runner.handle(TAG_TOPIC, dict(body, tag="rawhide-pending"))
    assert forced["outcome"] == "FAILED" and forced["data"]["type"] == ["koji_build"]
    assert forced["data"]["arch"] == ["noarch"] and "forced" in forced["note"]


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
    repo, commit = ostree_repo
    ctx.publish("relengotron", "artifact.composed", ostree_body(repo, commit))
    ctx.publish("relengotron", "artifact.uninteresting", {"item": "x"})
    found = wait_for("the result posted", lambda: api.get_results(item="atomic-host-24-x86_64")["data"], 15, every=0.05)
    assert [(r["testcase"]["name"], r["outcome"]) for r in found] == [("compose.ostree.fsck", "PASSED")]
    assert runner.wait_idle(5) and runner.errors == []

    def archived(topic: str) -> list[dict]:
        url = ctx.endpoints["bus"]["datagrepper"] + "raw"
        return requests.get(url, params={"topic": topic, "order": "asc"}, timeout=10).json()["raw_messages"]

    # ResultsDB announced the result on the same bus, in both shapes
    (new,) = wait_for("result.new archived", lambda: archived("org.fedoraproject.dev.resultsdb.result.new"), 15)
    assert new["msg"]["id"] == found[0]["id"] and new["msg"]["outcome"] == "PASSED"
    (legacy,) = wait_for("the legacy message", lambda: archived("org.fedoraproject.dev.taskotron.result.new"), 15)
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
