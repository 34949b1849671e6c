"""The sensors' triggers: serialize round trips, and run() against fakes of ResultsDB and of a Koji session."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import koji
import pytest

from relengotron.adapters.errors import AdapterError, TransientError
from relengotron.airflow.triggers import KojiTaskTrigger, ResultsTrigger
from relengotron.kojiclient import KojiClient

ETCD = "etcd-3.0.15-1.fc26"
REQUESTS = "python3-requests-2.12.1-1.fc26"
SUBJECTS = [
    {"type": "koji_build", "item": ETCD, "name": "etcd", "testcases": ["dist.depcheck"]},
    {"type": "koji_build", "item": REQUESTS, "testcases": ["dist.depcheck", ["dist.boot", "uefi"]]},
]


def first_event(trigger: Any) -> dict[str, Any]:
    async def run() -> Any:
        agen = trigger.run()
        try:
            return await anext(agen)
        finally:
            await agen.aclose()

    return asyncio.run(asyncio.wait_for(run(), timeout=10)).payload


def round_trip(trigger: Any) -> Any:
    """What the triggerer does: store (class path, kwargs) as JSON, import the class, rebuild."""
    from airflow.sdk._shared.module_loading import import_string
    from airflow.sdk.serde import deserialize, serialize

    classpath, kwargs = trigger.serialize()
    stored = json.loads(json.dumps(kwargs))  # JSON-able only
    rebuilt = import_string(classpath)(**deserialize(serialize(stored)))
    assert rebuilt.serialize() == (classpath, kwargs)
    return rebuilt


def result(item: str, testcase: str, outcome: str, rid: int = 1, **data: str) -> dict[str, Any]:
    return {
        "id": rid,
        "testcase": {"name": testcase, "href": "http://x"},
        "outcome": outcome,
        "data": {"item": [item], "type": ["koji_build"], **{k: [v] for k, v in data.items()}},
        "groups": [],
        "submit_time": f"2016-11-20T10:00:0{rid}",
    }


class FakeResultsDB:
    """Answers ``latest_for`` from a script: one entry per poll, each a list of results or an exception."""

    def __init__(self, script: list[Any]) -> None:
        self.script = script
        self.polls: list[tuple[list[str], list[str]]] = []
        self.closed = False

    def latest_for(self, subjects: Any, testcases: Any) -> list[dict[str, Any]]:
        self.polls.append(([s.item for s in subjects], list(testcases)))
        step = self.script[min(len(self.polls), len(self.script)) - 1]
        if isinstance(step, Exception):
            raise step
        return step

    def close(self) -> None:
        self.closed = True


def with_client(monkeypatch: pytest.MonkeyPatch, cls: type, client: Any) -> None:
    async def fake(self: Any) -> Any:
        return client

    monkeypatch.setattr(cls, "_client", fake)


# --- ResultsTrigger ---------------------------------------------------------------------------------------


def test_results_trigger_round_trip() -> None:
    trigger = ResultsTrigger(subjects=SUBJECTS, deadline=1_900_000_000.5, poll_interval=30, conn_id="rdb")
    rebuilt = round_trip(trigger)
    assert rebuilt.subjects == [SUBJECTS[0], {**SUBJECTS[1], "name": "python3-requests"}]
    assert rebuilt.deadline == 1_900_000_000.5 and rebuilt.conn_id == "rdb"


def test_results_trigger_round_trip_with_since() -> None:
    trigger = ResultsTrigger(subjects=SUBJECTS, since="2016-11-20T10:00:02+00:00", clock_skew=1.5)
    rebuilt = round_trip(trigger)
    assert (rebuilt.since, rebuilt.clock_skew) == ("2016-11-20T10:00:02+00:00", 1.5)
    with pytest.raises(ValueError, match="since: 'yesterday' is not an ISO date and time"):
        ResultsTrigger(subjects=SUBJECTS, since="yesterday")
    with pytest.raises(ValueError, match="clock_skew"):
        ResultsTrigger(subjects=SUBJECTS, clock_skew=-1)


def test_results_of_an_earlier_compose_do_not_count(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same item's results from before ``since`` (an earlier compose) leave the wait open; once results
    submitted since then are in, they are the ones returned."""
    one = [{**SUBJECTS[0]}]
    old = result(ETCD, "dist.depcheck", "PASSED", 1)  # submitted 10:00:01
    new = {**result(ETCD, "dist.depcheck", "FAILED", 2), "submit_time": "2016-11-20T10:05:00"}
    fake = FakeResultsDB([[old], [old], [new]])
    with_client(monkeypatch, ResultsTrigger, fake)
    since = "2016-11-20T10:04:00+00:00"
    event = first_event(ResultsTrigger(subjects=one, since=since, deadline=time.time() + 30, poll_interval=0.01))
    assert event["status"] == "present" and len(fake.polls) == 3
    assert [(r["id"], r["outcome"]) for r in event["results"]] == [(2, "FAILED")]

    stale = FakeResultsDB([[old]])
    with_client(monkeypatch, ResultsTrigger, stale)
    event = first_event(ResultsTrigger(subjects=one, since=since, deadline=time.time() + 0.2, poll_interval=0.05))
    assert event["status"] == "missing" and f"{ETCD} (koji_build): dist.depcheck: no result" in event["message"]
    # the skew allowed for ResultsDB's clock: a result 4 minutes "early" counts with 300 s of skew
    with_client(monkeypatch, ResultsTrigger, FakeResultsDB([[old]]))
    event = first_event(ResultsTrigger(subjects=one, since=since, clock_skew=300, deadline=time.time() + 5))
    assert event["status"] == "present"


def test_results_trigger_refuses_malformed_subjects_when_built() -> None:
    with pytest.raises(ValueError, match="bad test case"):
        ResultsTrigger(subjects=[{"type": "koji_build", "item": ETCD, "testcases": [3]}])
    with pytest.raises(ValueError, match="poll_interval"):
        ResultsTrigger(subjects=SUBJECTS, poll_interval=0)


def test_results_present_after_some_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    done = [
        result(ETCD, "dist.depcheck", "PASSED"),
        result(REQUESTS, "dist.depcheck", "FAILED", 2),
        result(REQUESTS, "dist.boot", "PASSED", 3, scenario="uefi"),
    ]
    fake = FakeResultsDB([[], [done[0], {**done[1], "outcome": "RUNNING"}], done])
    with_client(monkeypatch, ResultsTrigger, fake)
    event = first_event(ResultsTrigger(subjects=SUBJECTS, deadline=time.time() + 30, poll_interval=0.01))
    assert event["status"] == "present"
    assert {(r["data"]["item"][0], r["testcase"]["name"], r["outcome"]) for r in event["results"]} == {
        (ETCD, "dist.depcheck", "PASSED"),
        (REQUESTS, "dist.depcheck", "FAILED"),  # a failed test is a present result: deciding is not our job
        (REQUESTS, "dist.boot", "PASSED"),
    }
    assert all("groups" not in r for r in event["results"])  # slim results in the event
    assert len(fake.polls) == 3 and fake.polls[0] == ([ETCD, REQUESTS], ["dist.boot", "dist.depcheck"])
    assert fake.closed


def test_results_missing_at_the_deadline_name_what_is_missing_and_never_say_failed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = FakeResultsDB([[result(ETCD, "dist.depcheck", "FAILED"), result(REQUESTS, "dist.depcheck", "QUEUED")]])
    with_client(monkeypatch, ResultsTrigger, fake)
    started = time.monotonic()
    event = first_event(ResultsTrigger(subjects=SUBJECTS, deadline=time.time() + 0.3, poll_interval=0.05))
    assert 0.25 < time.monotonic() - started < 5
    assert event["status"] == "missing"
    assert event["message"].startswith("results missing: ")
    assert f"{REQUESTS} (koji_build): dist.depcheck: QUEUED" in event["message"]
    assert f"{REQUESTS} (koji_build): dist.boot [uefi]: no result" in event["message"]
    assert ETCD not in event["message"] and "FAILED" not in event["message"]
    assert [(m["item"], m["testcase"]) for m in event["missing"]] == [
        (REQUESTS, "dist.depcheck"),
        (REQUESTS, "dist.boot"),
    ]
    assert len(fake.polls) >= 3


def test_transient_errors_are_polled_again(monkeypatch: pytest.MonkeyPatch) -> None:
    busy = TransientError("resultsdb", "latest results", "HTTP 503")
    fake = FakeResultsDB([busy, busy, [result(ETCD, "dist.depcheck", "PASSED")]])
    with_client(monkeypatch, ResultsTrigger, fake)
    event = first_event(ResultsTrigger(subjects=SUBJECTS[:1], deadline=time.time() + 30, poll_interval=0.01))
    assert event["status"] == "present" and len(fake.polls) == 3


def test_a_permanent_error_ends_the_wait_with_an_error_event(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeResultsDB([AdapterError("resultsdb", "latest results", "HTTP 400: bad testcases")])
    with_client(monkeypatch, ResultsTrigger, fake)
    event = first_event(ResultsTrigger(subjects=SUBJECTS, deadline=None, poll_interval=0.01))
    assert event == {"status": "error", "message": "resultsdb: latest results: HTTP 400: bad testcases"}
    assert fake.closed


def test_an_unreachable_resultsdb_until_the_deadline_is_missing_with_the_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No fake client: the real adapter, built from the connection, against a closed port on 127.0.0.1."""
    from relengotron.airflow.hooks import ResultsDBHook

    async def fields(cls: Any, conn_id: str) -> dict[str, Any]:
        assert conn_id == "rdb"
        return {"host": "http://127.0.0.1:9/api/v2.0", "max_retries": 0, "timeout": 2}

    monkeypatch.setattr(ResultsDBHook, "afields", classmethod(fields))
    event = first_event(
        ResultsTrigger(subjects=SUBJECTS[:1], deadline=time.time() + 0.3, poll_interval=0.05, conn_id="rdb")
    )
    assert event["status"] == "missing"
    assert "results missing" in event["message"] and "cannot reach resultsdb" in event["message"]


def test_a_bad_connection_is_an_error_event(monkeypatch: pytest.MonkeyPatch) -> None:
    from relengotron.airflow.hooks import ResultsDBHook

    async def fields(cls: Any, conn_id: str) -> dict[str, Any]:
        return {"host": "http://127.0.0.1:9/", "colour": "blue"}

    monkeypatch.setattr(ResultsDBHook, "afields", classmethod(fields))
    event = first_event(ResultsTrigger(subjects=SUBJECTS, poll_interval=0.05))
    assert event["status"] == "error" and "unknown field(s) colour" in event["message"]


def test_nothing_required_is_present_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeResultsDB([])
    with_client(monkeypatch, ResultsTrigger, fake)
    event = first_event(ResultsTrigger(subjects=[{"type": "koji_build", "item": ETCD}], poll_interval=1))
    assert event == {"status": "present", "results": []} and fake.polls == []


# --- KojiTaskTrigger --------------------------------------------------------------------------------------


class FakeSession:
    """The part of ``koji.ClientSession`` a task watcher uses; each task's states advance one per poll."""

    def __init__(self, tasks: dict[int, list[Any]], results: dict[int, Callable[[], Any]]) -> None:
        self.tasks = tasks
        self.results = results
        self.polls = 0

    def getTaskInfo(self, task_id: int, strict: bool = False) -> dict[str, Any]:
        if task_id not in self.tasks:
            raise koji.GenericError(f"No such task: {task_id}")
        self.polls += 1
        states = self.tasks[task_id]
        step = states.pop(0) if len(states) > 1 else states[0]
        if isinstance(step, Exception):
            raise step
        return {"id": task_id, "state": koji.TASK_STATES[step]}

    def getTaskResult(self, task_id: int) -> Any:
        return self.results[task_id]()


def raise_(exc: Exception) -> Callable[[], Any]:
    def fail() -> Any:
        raise exc

    return fail


def koji_client(session: FakeSession) -> KojiClient:
    return KojiClient(session, "http://127.0.0.1/kojifiles", poll_interval=0.01)


def test_koji_task_trigger_round_trip() -> None:
    rebuilt = round_trip(KojiTaskTrigger(task_id=42, deadline=None, poll_interval=5, conn_id="koji_prod"))
    assert (rebuilt.koji_task_id, rebuilt.conn_id, rebuilt.poll_interval) == (42, "koji_prod", 5.0)
    # the triggerer gives a trigger its task instance, which sets BaseTrigger.task_id to the Airflow task's id
    rebuilt.task_instance = SimpleNamespace(task_id="ami.compose")
    assert rebuilt.koji_task_id == 42 and rebuilt.serialize()[1]["task_id"] == 42
    with pytest.raises(ValueError, match="task_id"):
        KojiTaskTrigger(task_id=0)


def test_a_closed_task_is_a_success_with_its_result(monkeypatch: pytest.MonkeyPatch) -> None:
    session = FakeSession({7: ["FREE", "OPEN", "CLOSED"]}, {7: lambda: {"files": ["x.raw.xz"], "arch": "x86_64"}})
    with_client(monkeypatch, KojiTaskTrigger, koji_client(session))
    event = first_event(KojiTaskTrigger(task_id=7, poll_interval=0.01))
    assert event == {"status": "success", "task_id": 7, "result": {"files": ["x.raw.xz"], "arch": "x86_64"}}
    assert session.polls == 3


@pytest.mark.parametrize("state", ["FAILED", "CANCELED"])
def test_a_failed_or_canceled_task_carries_kojis_fault_text(monkeypatch: pytest.MonkeyPatch, state: str) -> None:
    fault = koji.GenericError("BuildError: image build failed: no space left on device")
    session = FakeSession({8: ["OPEN", state]}, {8: raise_(fault)})
    with_client(monkeypatch, KojiTaskTrigger, koji_client(session))
    event = first_event(KojiTaskTrigger(task_id=8, poll_interval=0.01))
    assert event["status"] == "failed" and event["state"] == state
    assert "no space left on device" in event["message"]


def test_koji_offline_is_polled_again(monkeypatch: pytest.MonkeyPatch) -> None:
    offline = koji.ServerOffline("hub in maintenance")
    session = FakeSession({9: [offline, offline, "CLOSED"]}, {9: lambda: "ok"})
    with_client(monkeypatch, KojiTaskTrigger, koji_client(session))
    assert first_event(KojiTaskTrigger(task_id=9, poll_interval=0.01))["status"] == "success"


def test_no_such_task_is_an_error_event(monkeypatch: pytest.MonkeyPatch) -> None:
    with_client(monkeypatch, KojiTaskTrigger, koji_client(FakeSession({}, {})))
    event = first_event(KojiTaskTrigger(task_id=404, poll_interval=0.01))
    assert event["status"] == "error" and "No such task" in event["message"]


def test_a_task_still_open_at_the_deadline_times_out(monkeypatch: pytest.MonkeyPatch) -> None:
    with_client(monkeypatch, KojiTaskTrigger, koji_client(FakeSession({5: ["OPEN"]}, {})))
    event = first_event(KojiTaskTrigger(task_id=5, deadline=time.time() + 0.2, poll_interval=0.05))
    assert event["status"] == "timeout" and event["state"] == "OPEN" and "still OPEN" in event["message"]
