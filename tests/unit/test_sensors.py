"""The deferrable sensors: what they defer to, and how they act on each trigger event."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowSensorTimeout, TaskDeferred
from sensors.koji_task import KojiTaskSensor
from sensors.taskotron import TaskotronResultSensor

from relengotron.airflow.triggers import KojiTaskTrigger, ResultsTrigger
from relengotron_sandbox.world import DEFAULT_WORLD

POLICIES = DEFAULT_WORLD.with_name("policies.yaml")
COREUTILS = "coreutils-8.25-15.fc26"
REQUESTS = "python3-requests-2.12.1-1.fc26"


def sensor(**kwargs: Any) -> TaskotronResultSensor:
    args: dict[str, Any] = {
        "task_id": "wait",
        "subjects": [{"type": "koji_build", "item": COREUTILS}, {"type": "koji_build", "item": REQUESTS}],
        "decision_context": "rawhide_gating",
        "product_version": "fedora-rawhide",
        "policies": str(POLICIES),
        "wait_timeout": 120,
        "poll_interval": 5,
    }
    args.update(kwargs)
    return TaskotronResultSensor(**args)


def depcheck(nvr: str, outcome: str, note: str = "") -> dict[str, Any]:
    return {
        "id": len(nvr),
        "testcase": {"name": "dist.depcheck"},
        "outcome": outcome,
        "note": note,
        "data": {"item": [nvr], "type": ["koji_build"]},
    }


class RecordingTI:
    """A task instance that keeps what the task pushed as XComs (key → value)."""

    def __init__(self) -> None:
        self.xcoms: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value


def context() -> dict[str, Any]:
    return {"ti": RecordingTI()}


def test_it_defers_at_once_to_the_results_trigger() -> None:
    with pytest.raises(TaskDeferred) as deferred:
        sensor(resultsdb_conn_id="rdb").execute({})
    trigger = deferred.value.trigger
    assert isinstance(trigger, ResultsTrigger)
    assert [(s["item"], s["testcases"]) for s in trigger.subjects] == [
        (COREUTILS, ["dist.depcheck"]),
        (REQUESTS, ["dist.depcheck"]),
    ]
    assert trigger.conn_id == "rdb" and trigger.poll_interval == 5
    assert deferred.value.method_name == "execute_complete"
    assert deferred.value.timeout is not None and deferred.value.timeout.total_seconds() > 120


def test_one_subject_mapping_is_a_subject_and_extra_keys_are_ignored() -> None:
    record = {"type": "koji_build", "item": COREUTILS, "owner": "kdudka", "tag": "rawhide-pending"}
    with pytest.raises(TaskDeferred) as deferred:
        sensor(subjects=record, wait_timeout="60", poll_interval="0.5").execute({})
    assert [s["item"] for s in deferred.value.trigger.subjects] == [COREUTILS]
    assert deferred.value.trigger.poll_interval == 0.5


def test_nothing_required_answers_without_waiting() -> None:
    answers = sensor(decision_context="no_such_context").execute({})
    assert [(a["subject"]["item"], a["verdict"]) for a in answers] == [
        (COREUTILS, "no-policy"),
        (REQUESTS, "no-policy"),
    ]


def test_all_present_and_passing_returns_the_answers() -> None:
    event = {"status": "present", "results": [depcheck(COREUTILS, "PASSED"), depcheck(REQUESTS, "PASSED")]}
    answers = sensor().execute_complete(context(), event)
    assert [(a["subject"]["item"], a["verdict"]) for a in answers] == [(COREUTILS, "passed"), (REQUESTS, "passed")]


def test_a_failed_required_test_fails_naming_test_case_and_subject() -> None:
    event = {
        "status": "present",
        "results": [depcheck(COREUTILS, "PASSED"), depcheck(REQUESTS, "FAILED", "nothing provides python3-urllib3")],
    }
    ctx = context()
    with pytest.raises(AirflowFailException) as failed:
        sensor().execute_complete(ctx, event)
    assert f"{REQUESTS}: dist.depcheck FAILED" in str(failed.value) and COREUTILS not in str(failed.value)
    # the decision and its results are recorded before the task fails (the dashboard's excuses read them)
    recorded = ctx["ti"].xcoms
    assert [(a["subject"]["item"], a["verdict"]) for a in recorded["answers"]] == [
        (COREUTILS, "passed"),
        (REQUESTS, "failed"),
    ]
    assert recorded["answers"][1]["failures"][0]["note"] == "nothing provides python3-urllib3"
    assert [(r["id"], r["testcase"], r["outcome"]) for r in recorded["results"]] == [
        (len(COREUTILS), "dist.depcheck", "PASSED"),
        (len(REQUESTS), "dist.depcheck", "FAILED"),
    ]


def test_without_fail_on_failed_the_answers_come_back() -> None:
    event = {"status": "present", "results": [depcheck(COREUTILS, "PASSED"), depcheck(REQUESTS, "FAILED")]}
    answers = sensor(fail_on_failed=False).execute_complete(context(), event)
    verdicts = {a["subject"]["item"]: a["verdict"] for a in answers}
    assert verdicts == {COREUTILS: "passed", REQUESTS: "failed"}
    assert answers[1]["failures"][0]["test_case"] == "dist.depcheck"


@pytest.mark.parametrize("fail_on_failed", [True, False])
def test_timeout_fails_saying_results_missing(fail_on_failed: bool) -> None:
    message = f"results missing: {REQUESTS} (koji_build): dist.depcheck: no result"
    with pytest.raises(AirflowSensorTimeout, match="results missing") as timed_out:
        sensor(fail_on_failed=fail_on_failed).execute_complete({}, {"status": "missing", "message": message})
    assert REQUESTS in str(timed_out.value) and "failed" not in str(timed_out.value).lower()


def test_an_error_event_fails_at_once() -> None:
    with pytest.raises(AirflowFailException, match="HTTP 400"):
        sensor().execute_complete({}, {"status": "error", "message": "resultsdb: HTTP 400"})


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"subjects": []}, "subjects"),
        ({"subjects": "coreutils"}, "subjects"),
        ({"subjects": {"type": "koji_build", "item": "bad"}}, "name-version-release"),
        ({"wait_timeout": "soon"}, "wait_timeout"),
        ({"poll_interval": 0}, "poll_interval"),
        ({"policies": "/nonexistent/policies.yaml"}, "policies.yaml"),
    ],
)
def test_bad_arguments_fail_at_once_naming_them(kwargs: dict[str, Any], error: str) -> None:
    with pytest.raises(AirflowFailException, match=error):
        sensor(**kwargs).execute({})


def test_the_release_configuration_gives_policies_and_product_version(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, world: Any
) -> None:
    import relengotron.airflow.hooks as hooks
    from relengotron_sandbox.releng import render_release_config

    config = render_release_config(world, "0badc0de", tmp_path)
    monkeypatch.setattr(hooks, "release_config", lambda path=None: config)
    with pytest.raises(TaskDeferred) as deferred:
        sensor(policies=None, product_version=None, release="rawhide").execute({})
    assert deferred.value.trigger.subjects[0]["testcases"] == ["dist.depcheck"]
    with pytest.raises(AirflowFailException, match="unknown release 'f99'"):
        sensor(policies=None, product_version=None, release="f99").execute({})


# --- KojiTaskSensor ---------------------------------------------------------------------------------------


def koji_sensor(**kwargs: Any) -> KojiTaskSensor:
    return KojiTaskSensor(**{"task_id": "wait_image", "koji_task_id": "123", "wait_timeout": 600, **kwargs})


def test_koji_task_sensor_defers_to_the_koji_task_trigger() -> None:
    with pytest.raises(TaskDeferred) as deferred:
        koji_sensor(koji_conn_id="koji_prod", poll_interval=2).execute({})
    trigger = deferred.value.trigger
    assert isinstance(trigger, KojiTaskTrigger)
    assert (trigger.koji_task_id, trigger.conn_id, trigger.poll_interval) == (123, "koji_prod", 2.0)


def test_koji_task_sensor_acts_on_each_event() -> None:
    assert koji_sensor().execute_complete({}, {"status": "success", "task_id": 123, "result": {"a": 1}}) == {"a": 1}
    failed = {"status": "failed", "task_id": 123, "state": "FAILED", "message": "BuildError: oz died"}
    with pytest.raises(AirflowFailException, match="Koji task 123 failed: BuildError: oz died"):
        koji_sensor().execute_complete({}, failed)
    with pytest.raises(AirflowSensorTimeout, match="still OPEN"):
        koji_sensor().execute_complete({}, {"status": "timeout", "message": "Koji task 123 still OPEN"})
    with pytest.raises(AirflowFailException, match="No such task"):
        koji_sensor().execute_complete({}, {"status": "error", "message": "No such task: 123"})


@pytest.mark.parametrize("task", ["", "abc", 0, -3, None])
def test_koji_task_sensor_refuses_a_bad_task_id(task: Any) -> None:
    with pytest.raises(AirflowFailException, match="koji_task_id"):
        koji_sensor(koji_task_id=task).execute({})
