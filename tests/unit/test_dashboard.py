"""The release dashboard's view models and pages, from recorded facts to what the page says (incl. the reasons)."""

from __future__ import annotations

from dashboard_facts import AMI, ATOMIC, ATOMIC_BUILD, COREUTILS, GCE, PUSH_RUN, REQUESTS, gating_run, push_run

from relengotron.dashboard import render
from relengotron.dashboard.gate import gate_view
from relengotron.dashboard.links import result_link, task_links
from relengotron.dashboard.pushes import push_view
from relengotron.dashboard.testing import candidates
from relengotron.dashboard.views import Views

RDB = "http://resultsdb.test/api/v2.0/"


def by_label(view: dict) -> dict:
    return {a["label"]: a for a in view["artifacts"]}


def test_a_reported_push_shows_each_artifact_state_with_its_reason_and_task() -> None:
    view = push_view(push_run())
    arts = by_label(view)
    assert {label: a["state"] for label, a in arts.items()} == {
        ATOMIC: "released",
        AMI: "held-back",
        GCE: "unchanged",
    }
    # the held-back reason is the report's, with the failing test the tests task recorded
    assert arts[AMI]["reason"] == "its tests failed: f24-ami-x86_64: failed (cloud.boot FAILED (result 42): no ssh)"
    assert arts[GCE]["reason"] == "unchanged: no build of the push is in it"
    # links go to the task instance that says so (mapped: its map index), relative to the mount point
    assert (
        arts[AMI]["links"]["log"]
        == f"../dags/updates_push/runs/{PUSH_RUN.replace(':', '%3A').replace('+', '%2B')}/tasks/ami.tests/mapped/0"
    )
    assert arts[AMI]["links"]["task"].endswith("/tasks/ami.tests/mapped/0/details")
    assert arts[GCE]["links"]["task_id"] == "plan"
    assert view["status"] == "held-back" and view["release"] == "f24" and view["repo"] == "f24-updates"
    [update] = view["updates"]
    assert update["status"] == "held-back" and update["held_back"] == [{"label": AMI, "reason": "its tests failed"}]


def test_a_push_in_progress_says_what_each_artifact_waits_for() -> None:
    view = push_view(push_run(reported=False, ami_tests="deferred"))
    arts = by_label(view)
    assert arts[AMI]["state"] == "under test"
    assert arts[AMI]["reason"] == "announced to the test system; waiting for its results"
    # promoted but not synced yet: not released
    assert arts[ATOMIC]["state"] == "signed" and "waiting for the sync" in arts[ATOMIC]["reason"]
    assert view["status"] == "in progress"
    assert view["updates"][0]["status"] == "in progress"


def test_a_failed_step_before_the_report_holds_the_artifact_back_naming_the_step() -> None:
    view = push_view(push_run(reported=False, ami_tests="failed"))
    ami = by_label(view)[AMI]
    assert ami["state"] == "held-back"
    assert ami["reason"].startswith("its tests failed: ") and "cloud.boot FAILED" in ami["reason"]
    assert view["updates"][0]["held_back"][0]["label"] == AMI


def test_the_gate_shows_quarantined_promoted_and_pending_builds_with_failing_check_and_packager() -> None:
    gate = gate_view([gating_run()], RDB)
    sections = {name: [b["nvr"] for b in builds] for name, builds in gate["sections"].items()}
    assert sections == {"pending": [ATOMIC_BUILD], "quarantined": [REQUESTS], "promoted": [COREUTILS], "error": []}
    [quarantined] = gate["sections"]["quarantined"]
    assert quarantined["packager"] == "ralph" and quarantined["tag"] == "rawhide-badnewsbears"
    assert quarantined["failing"] == [
        {
            "test_case": "dist.depcheck",
            "outcome": "FAILED",
            "scenario": None,
            "note": "nothing provides python3-urllib3 >= 1.19",
            "result": "http://resultsdb.test/api/v2.0/results/7",
        }
    ]
    assert quarantined["decided"] == "2016-06-01 12:00:00 UTC"
    assert gate["sections"]["pending"][0]["links"]["log"].endswith("/tasks/gate.wait_for_checks/mapped/0")


def test_a_newer_run_that_found_the_build_gated_does_not_hide_the_older_decision() -> None:
    newer = gating_run("gating_2")
    gone = {**newer.xcoms, ("gate.decide", 2, "return_value"): {"verdict": None, "moved": False}}
    newer = type(newer)(**{**newer.__dict__, "xcoms": gone})
    gate = gate_view([newer, gating_run("gating_1")])
    [quarantined] = gate["sections"]["quarantined"]
    assert quarantined["run_id"] == "gating_1"


def test_excuses_of_an_artifact_list_every_check_with_links() -> None:
    views = Views(lambda dag_id: [push_run()] if dag_id == "updates_push" else [gating_run()], RDB)
    [ami] = views.excuses(AMI)
    checks = [(c["check"], c["verdict"]) for c in ami["checks"]]
    assert checks == [
        ("manifest", "changed"),
        ("gating policy", "failed"),
        ("test", "failed"),
        ("signature", "pending"),
    ]
    failed = ami["checks"][2]
    assert failed["detail"] == "cloud.boot FAILED: no ssh" and failed["link"] == f"{RDB}results/42"
    [atomic] = views.excuses(ATOMIC)
    passed = [c for c in atomic["checks"] if c["check"] == "test"]
    assert passed == [
        {"check": "test", "verdict": "passed", "detail": "atomic.smoke PASSED", "link": f"{RDB}results/41"}
    ]
    assert ("signature", "signed") in [(c["check"], c["verdict"]) for c in atomic["checks"]]
    [gce] = views.excuses(GCE)
    assert [(c["check"], c["verdict"]) for c in gce["checks"]] == [("manifest", "unchanged")]


def test_excuses_of_an_update_and_of_a_build() -> None:
    views = Views(lambda dag_id: [push_run()] if dag_id == "updates_push" else [gating_run()], RDB)
    [update] = views.excuses("FEDORA-2016-1")
    assert update["state"] == "held-back"
    assert update["reason"] == f"held back by {AMI} (its tests failed)"
    assert [a["item"] for a in update["artifacts"]] == [ATOMIC, AMI]
    [build] = views.excuses(REQUESTS)
    assert build["packager"] == "ralph" and build["state"] == "quarantined"
    assert ("test", "failed") in [(c["check"], c["verdict"]) for c in build["checks"]]
    assert views.excuses("nothing-1-1.fc26") == []


def test_community_testing_lists_candidates_with_download_and_checksum() -> None:
    [ami] = candidates([push_view(push_run(reported=False, ami_tests="deferred"))])
    assert ami["label"] == AMI and ami["state"] == "under test"
    assert ami["download"] == "http://127.0.0.1:1/candidates/ami.raw.xz" and ami["sha256"] == "ab" * 32
    assert ami["results"] == [] and ami["composed_at"] == "2016-06-01 12:10:00 UTC"  # as every time on the page
    # released and unchanged targets are not candidates; the held-back one is, with its failing results
    [held] = candidates([push_view(push_run())])
    assert held["state"] == "held-back" and held["results"][0]["verdict"] == "failed"


def test_the_overview_page_says_why_escapes_and_links_relatively() -> None:
    views = Views(lambda dag_id: [push_run()] if dag_id == "updates_push" else [gating_run()], RDB)
    html = render.overview(views.pushes_by_release(), views.gate(), views.testing(), "2016-06-01 13:00:00 UTC")
    assert "its tests failed: f24-ami-x86_64: failed (cloud.boot FAILED (result 42): no ssh)" in html
    assert "nothing provides python3-urllib3 &gt;= 1.19" in html  # escaped
    assert 'href="http://resultsdb.test/api/v2.0/results/7"' in html
    assert 'href="../dags/rawhide_gating/runs/gating_1/tasks/gate.decide/mapped/2" target="_top"' in html
    assert 'href="excuses?item=python3-requests-2.12.1-1.fc26"' in html
    assert "Generated 2016-06-01 13:00:00 UTC" in html and "<script" not in html
    page = render.excuses(AMI, views.excuses(AMI), "now")
    assert "cloud.boot FAILED: no ssh" in page and 'href="http://resultsdb.test/api/v2.0/results/42"' in page


def test_links() -> None:
    assert task_links("d", "r 1", "t", 3)["log"] == "../dags/d/runs/r%201/tasks/t/mapped/3"
    assert task_links("d", "r", "t")["task"] == "../dags/d/runs/r/tasks/t/details"
    assert result_link(None, 3) is None and result_link("http://x/api/v2.0", None) is None
