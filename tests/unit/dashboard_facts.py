"""Recorded facts for the dashboard's unit tests: an ``updates_push`` run and ``rawhide_gating`` runs shaped as
their tasks record them (the XComs of dags/updates_push.py and dags/rawhide_gating.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from relengotron.dashboard.facts import RunFacts, TaskFact

PUSH_RUN = "manual__2016-06-01T12:00:00+00:00"
AMI, ATOMIC, GCE = "Fedora-Cloud-Base-24-AMI x86_64", "fedora-atomic/24/x86_64/docker-host", "Fedora-Cloud-Base-24-GCE"
FAILED_ANSWER = {
    "subject": {"type": "compose_artifact", "item": "f24-ami-x86_64", "name": None},
    "policies": ["f24-artifacts"],
    "verdict": "failed",
    "failures": [{"test_case": "cloud.boot", "outcome": "FAILED", "scenario": None, "result_id": 42, "note": "no ssh"}],
    "missing": [],
    "waivers": [],
    "summary": "f24-ami-x86_64: failed (cloud.boot FAILED (result 42): no ssh)",
}
PASSED_ANSWER = {
    "subject": {"type": "compose_artifact", "item": "f24-atomic", "name": None},
    "policies": ["f24-artifacts"],
    "verdict": "passed",
    "failures": [],
    "missing": [],
    "waivers": [],
    "summary": "f24-atomic: passed",
}


def item(target: str, label: str, kind: str, decision: str, reason: str) -> dict[str, Any]:
    return {
        "id": target,
        "artifact": target,
        "kind": kind,
        "release": "f24",
        "arch": "x86_64",
        "label": label,
        "decision": decision,
        "reason": reason,
        "updates": ["FEDORA-2016-1"] if decision != "skip" else [],
    }


ITEMS = [
    item("f24-atomic", ATOMIC, "ostree", "compose", "glibc-2.23.1-8.fc24 changes its manifest"),
    item("f24-ami-x86_64", AMI, "ami", "compose", "glibc-2.23.1-8.fc24 changes its manifest"),
    item("f24-gce-x86_64", GCE, "gce", "skip", "unchanged: no build of the push is in it"),
]
T0 = datetime(2016, 6, 1, 12, 0, tzinfo=UTC)


def steps(kind: str, **states: str) -> dict[tuple[str, int], TaskFact]:
    return {(f"{kind}.{step}", 0): TaskFact(state) for step, state in states.items()}


def push_run(*, reported: bool = True, ami_tests: str = "failed") -> RunFacts:
    """f24-updates push: the Atomic Host released, the AMI held back by its failed cloud boot test, the GCE
    image unchanged. ``reported`` False: the run stopped before its report (the AMI's tests ``ami_tests``)."""
    tasks = {
        ("plan", -1): TaskFact("success"),
        ("sync", -1): TaskFact("success" if reported else None),
        ("report", -1): TaskFact("success" if reported else None),
        **steps("ostree", compose="success", announce="success", tests="success", sign="success", promote="success"),
        **steps("ami", compose="success", announce="success", tests=ami_tests),
        **(steps("ami", sign="upstream_failed", promote="upstream_failed") if ami_tests == "failed" else {}),
        **steps("gce", compose="skipped", announce="skipped", tests="skipped", sign="skipped", promote="skipped"),
    }
    xcoms: dict[tuple[str, int, str], Any] = {
        ("plan", -1, "return_value"): {"push_id": "2016-abc", "release": "f24", "request": "stable", "items": ITEMS},
        ("updates", -1, "return_value"): [{"alias": "FEDORA-2016-1", "builds": ["glibc-2.23.1-8.fc24"]}],
        ("ostree.tests", 0, "return_value"): [PASSED_ANSWER],
        ("ostree.tests", 0, "results"): [{"id": 41, "testcase": "atomic.smoke", "outcome": "PASSED"}],
        ("ami.compose", 0, "return_value"): {
            "target": "f24-ami-x86_64",
            "changed": True,
            "composed_at": "2016-06-01T12:10:00+00:00",
            "paths": ["linux/updates/24/CloudImages/x86_64/images/ami.raw.xz"],
            "image": {"sha256": "ab" * 32},
            "ostree": None,
        },
        ("ami.compose", 0, "announcement"): {
            "image": {
                "url": "http://127.0.0.1:1/candidates/ami.raw.xz",
                "sha256": "ab" * 32,
                "size": 1024,
                "manifest_url": "http://127.0.0.1:1/candidates/ami.manifest.json",
            }
        },
    }
    if ami_tests == "failed":
        xcoms[("ami.tests", 0, "answers")] = [FAILED_ANSWER]
    if reported:
        xcoms[("report", -1, "outcome")] = {
            "targets": [
                {"id": "f24-atomic", "label": ATOMIC, "state": "released", "reason": "released"},
                {"id": "f24-ami-x86_64", "label": AMI, "state": "held-back", "reason": "its tests failed"},
                {"id": "f24-gce-x86_64", "label": GCE, "state": "unchanged", "reason": ITEMS[2]["reason"]},
            ],
            "updates": [
                {
                    "alias": "FEDORA-2016-1",
                    "builds": ["glibc-2.23.1-8.fc24"],
                    "status": "held-back",
                    "artifacts": [ATOMIC],
                    "held_back": [{"label": AMI, "reason": "its tests failed"}],
                    "reason": None,
                }
            ],
            "status": "held-back",
            "held_back": [{"label": AMI, "reason": "its tests failed"}],
        }
    return RunFacts(
        "updates_push",
        PUSH_RUN,
        "failed" if reported else "running",
        {"push_id": "2016-abc", "repo": "f24-updates", "agent": "bowlofeggs"},
        T0,
        T0 if reported else None,
        tasks,
        xcoms,
    )


REQUESTS, COREUTILS, ATOMIC_BUILD = "python3-requests-2.12.1-1.fc26", "coreutils-8.25-15.fc26", "atomic-1.13-1.fc26"


def candidate(nvr: str, package: str, owner: str, tag: str = "rawhide-pending") -> dict[str, Any]:
    return {
        "type": "koji_build",
        "item": nvr,
        "name": package,
        "nvr": nvr,
        "package": package,
        "owner": owner,
        "tag": tag,
    }


def verdict(c: dict[str, Any], outcome: str, to_tag: str, summary: str) -> dict[str, Any]:
    return {
        "verdict": {
            "nvr": c["nvr"],
            "package": c["package"],
            "owner": c["owner"],
            "from_tag": c["tag"],
            "to_tag": to_tag,
            "outcome": outcome,
            "summary": summary,
        },
        "moved": True,
    }


def gating_run(run_id: str = "gating_1") -> RunFacts:
    """A run with python3-requests quarantined (dist.depcheck FAILED), coreutils promoted, atomic waiting."""
    builds = [
        candidate(ATOMIC_BUILD, "atomic", "walters"),
        candidate(COREUTILS, "coreutils", "kdudka"),
        candidate(REQUESTS, "python3-requests", "ralph"),
    ]
    failed = {
        **FAILED_ANSWER,
        "subject": {"type": "koji_build", "item": REQUESTS, "name": "python3-requests"},
        "policies": ["rawhide-gating"],
        "failures": [
            {
                "test_case": "dist.depcheck",
                "outcome": "FAILED",
                "scenario": None,
                "result_id": 7,
                "note": "nothing provides python3-urllib3 >= 1.19",
            }
        ],
        "summary": f"{REQUESTS}: failed (dist.depcheck FAILED (result 7))",
    }
    tasks = {
        ("list_builds", -1): TaskFact("success"),
        ("gate.wait_for_checks", 0): TaskFact("deferred"),
        ("gate.wait_for_checks", 1): TaskFact("success"),
        ("gate.wait_for_checks", 2): TaskFact("success"),
        ("gate.decide", 1): TaskFact("success"),
        ("gate.decide", 2): TaskFact("success", ended=T0),
    }
    xcoms = {
        ("list_builds", -1, "return_value"): builds,
        ("gate.wait_for_checks", 2, "return_value"): [failed],
        ("gate.decide", 1, "return_value"): verdict(builds[1], "promoted", "rawhide", f"{COREUTILS}: passed"),
        ("gate.decide", 2, "return_value"): verdict(
            builds[2], "quarantined", "rawhide-badnewsbears", failed["summary"]
        ),
    }
    return RunFacts("rawhide_gating", run_id, "running", {}, T0, None, tasks, xcoms)
