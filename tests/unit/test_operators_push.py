"""The updates_push operators around the artifacts, at the client seam: the plan (fake PDC and Koji, a real
staging/mirror tree for what was released), sign (a fake signer), promote (fake ResultsDB; the real promotion
of an image in a temporary staging tree), the sync (the real rsync between temporary trees), the report and
the check, and the one-push-per-release-and-request turn. Each asserts outcomes on the trees and fakes, and
that running the task again changes nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from push_support import GCE, GCE_MANIFEST, PARAMS, UPDATES, FakeSigner, FakeTI, context, put_image

from relengotron.adapters.errors import TransientError
from relengotron.artifacts import ComposeOutput, ImageOutput
from relengotron.config import ReleaseConfig
from relengotron.kojiclient import KojiBuild
from relengotron_sandbox.releng import render_release_config
from relengotron_sandbox.world import World

GCE_ID = "cloud-base-gce-24-x86_64"


@pytest.fixture
def config(tmp_path: Path, world: World, monkeypatch: pytest.MonkeyPatch) -> ReleaseConfig:
    """The sandbox's release configuration, as the relengotron_config Variable gives it to the tasks."""
    rendered = render_release_config(world, "0123abcd", tmp_path)
    monkeypatch.setattr("relengotron.airflow.hooks.release_config", lambda path=None: rendered)
    return rendered


def gce_item(decision: str = "recompose") -> dict[str, Any]:
    return {
        "id": GCE_ID,
        "artifact": "cloud-base-gce",
        "kind": "gce",
        "release": "f24",
        "arch": "x86_64",
        "label": "Fedora-Cloud-Base-GCE-24.x86_64.tar.gz",
        "decision": decision,
        "reason": "packages changed" if decision == "recompose" else "unchanged, skipped: no pushed package is in it",
        "manifest": list(GCE_MANIFEST.nvrs),
        "updates": ["FEDORA-2016-aaaa"],
    }


def gce_candidate(config: ReleaseConfig, composed_at: str = "2016-06-14T12:00:00+00:00") -> dict[str, Any]:
    top = Path(config.mirror.staging) / ".relengotron/candidates"
    digest = put_image(top, GCE)
    image = top / GCE
    output = ImageOutput(
        str(image), digest, image.stat().st_size, f"{image}-CHECKSUM", f"{image}.manifest.json", "b-1", 7
    )
    item = gce_item()
    return ComposeOutput(
        GCE_ID, "gce", item["label"], GCE_MANIFEST, True, (), image=output, composed_at=composed_at
    ).as_dict()


# --- plan -------------------------------------------------------------------------------------------------


class FakePDC:
    def __init__(self, packages: dict[str, tuple[str, ...]]) -> None:
        self.packages = packages
        self.asked = 0
        self.closed = False

    def batch_packages(self, updates: Any, releases: Any, artifacts: Any) -> dict[str, dict[str, tuple[str, ...]]]:
        self.asked += 1
        return {"f24": {a.name: self.packages[a.name] for a in artifacts}}

    def close(self) -> None:
        self.closed = True


class FakeKoji:
    topurl = "http://koji.test/kojifiles"

    def __init__(self, latest: list[str]) -> None:
        self.latest = latest
        self.closed = False

    def latest_tagged(self, tag: str, *, inherit: bool = False) -> list[KojiBuild]:
        assert (tag, inherit) == ("f24-updates", True)
        out = []
        for n, nvr in enumerate(self.latest, 1):
            name, version, release = nvr.rsplit("-", 2)
            out.append(KojiBuild(n, nvr, name, version, release, None))
        return out

    def close(self) -> None:
        self.closed = True


def test_plan_recomposes_what_changed_and_says_why_the_rest_is_skipped(
    config: ReleaseConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    from operators.push import PushPlanOperator

    from relengotron.adapters.released import write_image_manifest

    packages = dict.fromkeys(
        ("atomic-host", "installer-iso", "pxe2live", "cloud-base-ami", "cloud-base-gce"), ("bash", "glibc")
    )
    packages["pxe2live"] = ("bash",)
    pdc = FakePDC(packages)
    koji = FakeKoji(["bash-4.3.42-5.fc24", "glibc-2.23.1-8.fc24"])
    monkeypatch.setattr("relengotron.airflow.hooks.PDCHook.client", property(lambda self: pdc))
    monkeypatch.setattr("relengotron.airflow.hooks.KojiHook.client", property(lambda self: koji))
    iso = next(a for a in config.artifacts_of("f24") if a.name == "installer-iso")
    pxe = next(a for a in config.artifacts_of("f24") if a.name == "pxe2live")
    master = Path(config.mirror.master)
    f24 = config.release("f24")
    write_image_manifest(master, config.mirror, iso, f24, "x86_64", GCE_MANIFEST)  # released: the same builds
    write_image_manifest(master, config.mirror, pxe, f24, "x86_64", GCE_MANIFEST.of(["bash-4.3.42-5.fc24"]))

    plan = PushPlanOperator(task_id="plan", updates=UPDATES).execute(context())
    decided = {i["label"]: (i["decision"], i["reason"]) for i in plan["items"]}
    assert decided == {
        "fedora/24/x86_64/atomic-host": ("recompose", "never released"),
        "Fedora-Server-dvd-x86_64-24.iso": (
            "skip",
            "unchanged, skipped: the pushed builds are already in its released manifest (or older)",
        ),
        "Fedora-Atomic-pxe2live-x86_64-24.tar.gz": ("skip", "unchanged, skipped: no pushed package is in it"),
        "Fedora-Cloud-Base-24.x86_64.raw.xz": ("recompose", "never released"),
        "Fedora-Cloud-Base-GCE-24.x86_64.tar.gz": ("recompose", "never released"),
    }
    assert pdc.asked == 1 and pdc.closed and koji.closed
    assert PushPlanOperator(task_id="plan", updates=UPDATES).execute(context()) == plan  # read-only: the same again

    # a testing push composes no artifacts and asks neither PDC nor Koji
    monkeypatch.setattr("relengotron.airflow.hooks.PDCHook.client", property(lambda self: pytest.fail("PDC asked")))
    testing_conf = {**PARAMS, "repo": "f24-updates-testing"}
    testing = PushPlanOperator(task_id="plan", updates=UPDATES).execute(context(testing_conf))
    assert {i["decision"] for i in testing["items"]} == {"skip"} and len(testing["items"]) == 5


def test_plan_fails_at_once_on_a_repo_the_configuration_lacks(config: ReleaseConfig) -> None:
    from airflow.sdk.exceptions import AirflowFailException
    from operators.push import PushPlanOperator

    with pytest.raises(AirflowFailException, match=r"repo: 'f99-updates' is not the testing or stable tag"):
        PushPlanOperator(task_id="plan", updates=UPDATES).execute(context({**PARAMS, "repo": "f99-updates"}))
    with pytest.raises(AirflowFailException, match=r"updates: Bodhi's updates are not the compose's"):
        PushPlanOperator(task_id="plan", updates=[{**UPDATES[0], "builds": ["glibc-2.23.1-9.fc24"]}]).execute(context())


# --- sign and promote -------------------------------------------------------------------------------------


def test_sign_signs_the_candidate_checksum(config: ReleaseConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk.exceptions import AirflowSkipException
    from operators.push import SignArtifactOperator

    signer = FakeSigner()
    monkeypatch.setattr("relengotron.airflow.connections.release_signer", lambda *a: signer)
    candidate = gce_candidate(config)
    task = SignArtifactOperator(task_id="sign", item=gce_item(), candidate=candidate)
    assert [r["action"] for r in task.execute(context())] == ["signed"]
    checksum = Path(config.mirror.staging) / ".relengotron/candidates" / f"{GCE}-CHECKSUM"
    assert signer.signed == [("images", str(checksum))]
    monkeypatch.setattr("relengotron.airflow.connections.release_signer", lambda *a: None)
    with pytest.raises(AirflowSkipException, match="no signing key"):
        task.execute(context())
    with pytest.raises(AirflowSkipException, match="unchanged, skipped"):
        SignArtifactOperator(task_id="sign", item=gce_item("skip"), candidate=candidate).execute(context())


class FakeResultsDB:
    def __init__(self, results: list[dict[str, Any]]) -> None:
        self.results = results
        self.closed = False

    def latest_for(self, subjects: Any, testcases: Any = ()) -> list[dict[str, Any]]:
        assert [s.item for s in subjects] == [GCE_ID] and tuple(testcases) == TESTS
        return self.results

    def close(self) -> None:
        self.closed = True


TESTS = ("compose.image.checksum", "compose.image.content")


def result(outcome: str, submit_time: str, testcase: str = TESTS[0]) -> dict[str, Any]:
    data = {"item": [GCE_ID], "type": ["compose-artifact"]}
    return {
        "id": 1,
        "testcase": {"name": testcase},
        "outcome": outcome,
        "data": data,
        "submit_time": submit_time,
    }


def test_promote_releases_only_on_results_of_this_compose(
    config: ReleaseConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.sdk.exceptions import AirflowFailException
    from operators.push import PromoteArtifactOperator

    monkeypatch.setattr("relengotron.airflow.connections.release_signer", lambda *a: None)
    candidate = gce_candidate(config)
    public = Path(config.mirror.staging) / GCE
    content = result("PASSED", "2016-06-14T12:00:03.000000", TESTS[1])
    resultsdb = FakeResultsDB([result("PASSED", "2016-06-13T08:00:00.000000"), content])  # an earlier compose's
    monkeypatch.setattr("relengotron.airflow.hooks.ResultsDBHook.client", property(lambda self: resultsdb))
    task = PromoteArtifactOperator(task_id="promote", item=gce_item(), candidate=candidate)
    with pytest.raises(TransientError, match="results of this compose not all in yet"):
        task.execute(context())
    assert not public.exists() and resultsdb.closed

    resultsdb.results = [result("FAILED", "2016-06-14T12:00:03.000000"), content]
    with pytest.raises(AirflowFailException, match=r"held back: .*compose.image.checksum FAILED"):
        task.execute(context())
    assert not public.exists()

    resultsdb.results = [result("PASSED", "2016-06-14T12:00:03.000000"), content]
    done = task.execute(context())
    assert done["changed"] and done["steps"] == ["image", "manifest", "checksum"] and public.is_file()
    assert not (Path(config.mirror.staging) / ".relengotron/candidates" / GCE).exists()
    again = task.execute(context())  # rerun after success: nothing moves
    assert not again["changed"] and again["steps"] == []


# --- sync, report, check ----------------------------------------------------------------------------------


def test_sync_carries_the_updates_and_what_was_released_never_a_candidate(config: ReleaseConfig) -> None:
    from operators.push import SyncOperator

    staging, master = Path(config.mirror.staging), Path(config.mirror.master)
    (staging / "linux/updates/24/x86_64/Packages/g").mkdir(parents=True)
    (staging / "linux/updates/24/x86_64/Packages/g/glibc-2.23.1-8.fc24.noarch.rpm").write_bytes(b"RPM")
    put_image(staging, GCE)
    put_image(staging / ".relengotron/candidates", "linux/releases/24/ami/x86_64/Fedora-Cloud-Base-24.x86_64.raw.xz")
    (staging / "linux/updates/24/x86_64/Packages/g/unrelated-1-1.fc24.noarch.rpm").write_bytes(b"RPM")  # not changed
    plan = {"items": [gce_item()]}
    promoted = [[], [{"target": GCE_ID, "paths": [GCE, f"{GCE}-CHECKSUM", f"{GCE}.manifest.json"]}]]
    rpm = "linux/updates/24/x86_64/Packages/g/glibc-2.23.1-8.fc24.noarch.rpm"
    # the mash's record of the repository: what the sync compares with the mirror's copy (none yet)
    record = {"rpms": [{"relpath": "Packages/g/glibc-2.23.1-8.fc24.noarch.rpm", "sha256": "1"}], "repodata": []}
    (staging / "linux/updates/24/x86_64/.mash.json").write_text(json.dumps(record))
    mash = [{"arch": "x86_64", "path": "linux/updates/24/x86_64", "changed": True}]

    rehearsal = SyncOperator(task_id="sync", plan=plan, mash=mash, promoted=promoted, dry_run=True).execute(context())
    assert rehearsal["dry_run"] and rehearsal["changes"]["planned"] and not any(master.iterdir())

    done = SyncOperator(task_id="sync", plan=plan, mash=mash, promoted=promoted).execute(context())
    record_path = "linux/updates/24/x86_64/.mash.json"
    assert done["changeset"]["written"] == sorted([rpm, record_path, GCE, f"{GCE}-CHECKSUM", f"{GCE}.manifest.json"])
    synced = {p.relative_to(master).as_posix() for p in master.rglob("*") if p.is_file()}
    assert synced == {
        rpm,
        record_path,
        GCE,
        f"{GCE}-CHECKSUM",
        f"{GCE}.manifest.json",
        "fullfiletimelist-fedora",
        "imagelist-fedora",
    }
    assert (master / "imagelist-fedora").read_text() == f"./{GCE}\n"  # productmd's tar.gz is an image format
    again = SyncOperator(task_id="sync", plan=plan, mash=mash, promoted=promoted).execute(context())
    assert not any(again["changes"].values())  # rerun: nothing transferred or deleted


def test_sync_refuses_a_mashed_repository_staging_has_no_record_of(config: ReleaseConfig) -> None:
    from airflow.sdk.exceptions import AirflowFailException
    from operators.push import SyncOperator

    put_image(Path(config.mirror.staging), GCE)
    mash = [{"arch": "x86_64", "path": "linux/updates/24/x86_64", "changed": True}]  # no record there: never a walk
    with pytest.raises(AirflowFailException, match=r"mash item 0 \(linux/updates/24/x86_64\): staging holds no mashed"):
        SyncOperator(task_id="sync", plan={"items": [gce_item()]}, mash=mash).execute(context(ti=FakeTI()))
    assert not Path(config.mirror.master).exists() or not any(Path(config.mirror.master).iterdir())


def test_sync_refuses_without_a_plan(config: ReleaseConfig) -> None:
    from airflow.sdk.exceptions import AirflowFailException
    from operators.push import SyncOperator

    with pytest.raises(AirflowFailException, match="the plan did not finish"):
        SyncOperator(task_id="sync", plan=None, mash=[]).execute(context())


def test_report_says_which_update_is_held_back_and_check_fails_naming_it(config: ReleaseConfig) -> None:
    from airflow.sdk.exceptions import AirflowFailException
    from operators.push import PushCheckOperator, PushReportOperator

    ami = {**gce_item(), "id": "cloud-base-ami-24-x86_64", "artifact": "cloud-base-ami", "kind": "ami"}
    ami["label"] = "Fedora-Cloud-Base-24.x86_64.raw.xz"
    items = [ami, gce_item()]
    promoted = [
        [{"target": GCE_ID, "identity": "d" * 64, "input_hash": "h", "manifest": [], "paths": [], "changed": True}]
    ]
    ti = FakeTI(task_states={"ami.compose_0": "success", "ami.tests_0": "failed", "ami.promote_0": "upstream_failed"})
    sync = {"changeset": {"written": [], "removed": []}, "dry_run": False, "changes": {}}
    mash = [{"path": "linux/updates/24/x86_64"}]
    task = PushReportOperator(
        task_id="report", updates=UPDATES, plan={"items": items}, promoted=promoted, mash=mash, sync=sync
    )
    released = task.execute(context(ti=ti))
    assert [m["label"] for m in released] == [gce_item()["label"]]
    complete = ti.xcoms["complete"]
    assert complete["status"] == "held-back" and complete["repos"] == ["linux/updates/24/x86_64"]
    assert complete["updates"][0]["held_back"] == [{"label": ami["label"], "reason": "its tests failed"}]
    outcome = ti.xcoms["outcome"]
    with pytest.raises(
        AirflowFailException, match=r"held back, not synced: Fedora-Cloud-Base-24\.x86_64\.raw\.xz \(its tests failed\)"
    ):
        PushCheckOperator(task_id="check", report=outcome).execute(context())

    dry = FakeTI(task_states=ti.task_states)
    dry_task = PushReportOperator(
        task_id="report",
        updates=UPDATES,
        plan={"items": items},
        promoted=promoted,
        mash=mash,
        sync={**sync, "dry_run": True},
    )
    assert dry_task.execute(context(ti=dry)) == [] and dry.xcoms["complete"] is None  # a dry run announces nothing

    # the sync failed: nothing is claimed released, every update failed, and why
    failed = FakeTI(task_states={**ti.task_states, "sync": "failed"})
    failed.upstream[("sync", "failure")] = "the sync to the master mirror failed: rsync exited 12"
    broken = PushReportOperator(
        task_id="report", updates=UPDATES, plan={"items": items}, promoted=promoted, mash=mash, sync=None
    )
    assert broken.execute(context(ti=failed)) == []
    told = failed.xcoms["complete"]
    assert (told["status"], told["synced"], told["reason"]) == (
        "failed",
        False,
        "the sync to the master mirror failed: rsync exited 12",
    )
    assert [u["status"] for u in told["updates"]] == ["failed"] and told["artifacts"]["failed"][0][
        "label"
    ] == gce_item()["label"]
    plain = FakeTI(task_states={"mash": "failed", "plan": "upstream_failed", "sync": "upstream_failed"})
    PushReportOperator(task_id="report", updates=UPDATES, plan=None, mash=None, sync=None).execute(context(ti=plain))
    assert plain.xcoms["complete"]["reason"].startswith("the push failed at its mash step")
    with pytest.raises(AirflowFailException, match="the updates were not read from Bodhi"):
        PushReportOperator(task_id="report", updates=None, plan=None).execute(context(ti=FakeTI()))

    fine = {**outcome, "held_back": [], "status": "complete", "reason": None}
    assert PushCheckOperator(task_id="check", report=fine).execute(context()) == (
        "every artifact the push touched is released"
    )


# --- one push per release and request ---------------------------------------------------------------------


def test_one_push_per_release_and_request_at_a_time(config: ReleaseConfig) -> None:
    from operators.push import PushTurnReleaseOperator
    from sensors.push_turn import PushTurnSensor

    first, second = FakeTI(), FakeTI()
    sensor = PushTurnSensor(task_id="wait_turn")
    assert sensor.poke(context(ti=first, run_id="run-1")) is True
    assert sensor.poke(context(ti=first, run_id="run-1")) is True  # a retry of the holder: still its turn
    assert sensor.poke(context(ti=second, run_id="run-2")) is False  # the same release and request: waits
    f23 = {**PARAMS, "repo": "f23-updates", "updates": ["sudo-1.8.15-2.fc23"]}
    assert sensor.poke(context(f23, ti=second, run_id="run-2")) is True  # f23: its own turn
    assert PushTurnReleaseOperator(task_id="end_turn").execute(context(run_id="run-1")) is True
    assert PushTurnReleaseOperator(task_id="end_turn").execute(context(run_id="run-1")) is False  # rerun: no-op
    assert sensor.poke(context(ti=second, run_id="run-2")) is True

    # a holder whose run ended without giving the turn back (marked failed by hand) is taken over
    stale = FakeTI(run_states={"run-2": "failed"})
    assert sensor.poke(context(ti=stale, run_id="run-3")) is True
    # a holder whose state cannot be read waits; one whose run was deleted (404) is taken over
    assert sensor.poke(context(ti=FakeTI(run_states={"run-3": "unreachable"}), run_id="run-4")) is False
    assert sensor.poke(context(ti=FakeTI(run_states={"run-3": "deleted"}), run_id="run-4")) is True
    assert sensor.poke(context(ti=FakeTI(), run_id="run-5")) is False  # run-4 holds it now
    assert sensor.poke(context(ti=FakeTI(run_states={"run-4": "deleted-in-process"}), run_id="run-5")) is True


# --- approval before the sync (frozen releases) ---------------------------------------------------------------


def test_the_approval_asks_nothing_unless_a_frozen_release_pushes_stable_with_the_switch_on(
    config: ReleaseConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dataclasses

    from airflow.sdk.exceptions import AirflowSkipException
    from operators.push import PushApprovalOperator

    from relengotron.config import Approvals

    plan, mash = {"items": [gce_item()]}, [{"path": "linux/updates/24/x86_64"}]
    task = PushApprovalOperator(task_id="approve", plan=plan, mash=mash)
    with pytest.raises(AirflowSkipException, match="no approval needed: f24 is active, stable push"):
        task.execute(context())
    with pytest.raises(AirflowSkipException, match="did not get to its sync"):
        PushApprovalOperator(task_id="approve", plan=None, mash=mash).execute(context())

    # frozen, switch on: it asks (the provider's ApprovalOperator.execute, here recording the question)
    frozen = dataclasses.replace(
        config,
        releases={**config.releases, "f24": dataclasses.replace(config.release("f24"), state="frozen")},
        approvals=Approvals(frozen_stable_pushes=True),
    )
    monkeypatch.setattr("relengotron.airflow.hooks.release_config", lambda path=None: frozen)
    asked: list[str] = []
    monkeypatch.setattr("operators.push.ApprovalOperator.execute", lambda self, ctx: asked.append(self.body))
    task.execute(context())
    assert len(asked) == 1
    assert "Push " in asked[0] and "stable request" in asked[0] and gce_item()["label"] in asked[0]
    assert "Fedora 24 (f24) is frozen" in asked[0] and "- **Reject**: nothing reaches the mirror" in asked[0]


def test_a_refused_approval_is_why_the_report_says_the_push_failed(config: ReleaseConfig) -> None:
    from operators.push import PushReportOperator

    items = [gce_item()]
    ti = FakeTI(task_states={"approve": "success", "sync": "skipped"})
    ti.upstream[("approve", "decision")] = {
        "approved": False,
        "by": "admin",
        "at": "2016-06-14T12:00:00+00:00",
        "text": "rejected by admin at 2016-06-14T12:00:00+00:00",
    }
    task = PushReportOperator(task_id="report", updates=UPDATES, plan={"items": items}, mash=[], sync=None)
    assert task.execute(context(ti=ti)) == []
    told = ti.xcoms["complete"]
    assert (told["status"], told["synced"]) == ("failed", False)
    assert told["reason"] == (
        "the push waited for a release engineer's approval before its sync and was rejected by admin at "
        "2016-06-14T12:00:00+00:00"
    )


REJECTED = {
    "approved": False,
    "by": "admin",
    "at": "2016-06-14T12:00:00+00:00",
    "text": "rejected by admin at 2016-06-14T12:00:00+00:00",
}


def refused_outcome(decision: dict[str, Any], items: list[dict[str, Any]], task_states: dict[str, str]) -> Any:
    """The report's outcome of a push whose approval answered ``decision`` (sync skipped), as the check gets it."""
    from operators.push import PushReportOperator

    ti = FakeTI(task_states={**task_states, "approve": "success", "sync": "skipped"})
    ti.upstream[("approve", "decision")] = decision
    promoted = [
        {"target": GCE_ID, "identity": "d" * 64, "input_hash": "h", "manifest": [], "paths": [], "changed": True}
    ]
    task = PushReportOperator(
        task_id="report", updates=UPDATES, plan={"items": items}, promoted=[promoted], mash=[], sync=None
    )
    task.execute(context(ti=ti))
    return ti.xcoms["outcome"]


def test_check_after_a_refused_push_says_so_and_fails_only_when_nobody_answered(config: ReleaseConfig) -> None:
    from airflow.sdk.exceptions import AirflowFailException
    from operators.push import PushCheckOperator

    def check(outcome: Any, decision: dict[str, Any]) -> str:
        ti = FakeTI()
        ti.upstream[("approve", "decision")] = decision
        return PushCheckOperator(task_id="check", report=outcome).execute(context(ti=ti))

    # a release engineer rejected it: a decision carried out, the run ends green, and the check says what happened
    outcome = refused_outcome(REJECTED, [gce_item()], {})
    assert outcome["status"] == "failed" and outcome["reason"].endswith(
        "rejected by admin at 2016-06-14T12:00:00+00:00"
    )
    said = check(outcome, REJECTED)
    assert said == (
        "The push was rejected by admin at 2016-06-14T12:00:00+00:00: nothing reached the master mirror, and "
        "Bodhi was told the push failed (its updates keep their request for the next push)"
    )
    assert "released" not in said.replace("nothing reached", "")

    # nobody answered before the timeout (the default, Reject, answered): nobody decided, so the run shows red
    timed_out = {"approved": False, "by": None, "at": "2016-06-15T12:00:00+00:00"}
    timed_out["text"] = f"rejected by default: nobody answered before the timeout ({timed_out['at']})"
    with pytest.raises(AirflowFailException, match=r"^nobody answered the approval: the push was rejected by default"):
        check(refused_outcome(timed_out, [gce_item()], {}), timed_out)

    # held back AND rejected: the held-back artifact is named (it needs fixing), and so is the refusal
    ami = {**gce_item(), "id": "cloud-base-ami-24-x86_64", "artifact": "cloud-base-ami", "kind": "ami"}
    ami["label"] = "Fedora-Cloud-Base-24.x86_64.raw.xz"
    held = refused_outcome(REJECTED, [ami, gce_item()], {"ami.tests_0": "failed", "ami.promote_0": "upstream_failed"})
    with pytest.raises(
        AirflowFailException, match=r"held back, not synced: Fedora-Cloud-Base-24.*Besides, the push was"
    ):
        check(held, REJECTED)

    # approved (or never asked): the usual verdict
    approved = {**REJECTED, "approved": True, "text": "approved by admin at 2016-06-14T12:00:00+00:00"}
    released = {"status": "complete", "held_back": [], "reason": None}
    assert check(released, approved) == "every artifact the push touched is released"
    with pytest.raises(AirflowFailException, match="the push failed: the sync to the master mirror failed"):
        check({**released, "status": "failed", "reason": "the sync to the master mirror failed: rsync exited 12"}, {})
