"""The triggers against the sandbox's Koji hub and ResultsDB, through their real clients and Airflow Connections."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import koji
import pytest
from resultsdb_api import ResultsDBapi

from relengotron.airflow.triggers import KojiTaskTrigger, ResultsTrigger
from relengotron_sandbox.service import SandboxContext

pytestmark = pytest.mark.integration

ETCD = "etcd-3.0.15-1.fc26"


@pytest.fixture
def connections(services: SandboxContext, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    endpoints = services.endpoints
    koji_conn = {"conn_type": "generic", "host": endpoints["koji"]["hub"], "extra": {"topurl": "http://x"}}
    rdb_conn = {"conn_type": "generic", "host": endpoints["resultsdb"]["url"], "extra": {"max_retries": 0}}
    monkeypatch.setenv("AIRFLOW_CONN_KOJI_DEFAULT", json.dumps(koji_conn))
    monkeypatch.setenv("AIRFLOW_CONN_RESULTSDB_DEFAULT", json.dumps(rdb_conn))
    return endpoints


def first_event(trigger: Any) -> dict[str, Any]:
    async def run() -> Any:
        agen = trigger.run()
        try:
            return await anext(agen)
        finally:
            await agen.aclose()

    return asyncio.run(asyncio.wait_for(run(), timeout=30)).payload


def test_koji_task_trigger_sees_a_real_task_close_and_fail(connections: dict[str, Any]) -> None:
    session = koji.ClientSession(connections["koji"]["hub"], opts={"user": "releng", "password": "x"})
    session.login()
    try:
        closed = session.tagBuild("rawhide-badnewsbears", ETCD)
        event = first_event(KojiTaskTrigger(task_id=closed, poll_interval=0.05))
        assert event["status"] == "success" and event["task_id"] == closed
        again = session.tagBuild("rawhide-badnewsbears", ETCD)  # already tagged: Koji fails the task
        event = first_event(KojiTaskTrigger(task_id=again, poll_interval=0.05))
        assert event["status"] == "failed" and event["state"] == "FAILED"
        assert f"build {ETCD} already tagged (rawhide-badnewsbears)" in event["message"]
        event = first_event(KojiTaskTrigger(task_id=99999, poll_interval=0.05))
        assert event["status"] == "error" and "No such task" in event["message"]
    finally:
        session.logout()


def test_results_trigger_waits_for_a_result_posted_meanwhile(connections: dict[str, Any]) -> None:
    api = ResultsDBapi(connections["resultsdb"]["url"])
    subjects = [{"type": "koji_build", "item": ETCD, "testcases": ["dist.depcheck"]}]

    async def post_later() -> None:
        await asyncio.sleep(0.5)
        await asyncio.to_thread(api.create_result, "FAILED", "dist.depcheck", item=ETCD, type="koji_build")

    async def run() -> dict[str, Any]:
        trigger = ResultsTrigger(subjects=subjects, deadline=time.time() + 20, poll_interval=0.1)
        poster = asyncio.create_task(post_later())
        agen = trigger.run()
        try:
            event = await anext(agen)
        finally:
            await agen.aclose()
        await poster
        return event.payload

    started = time.monotonic()
    event = asyncio.run(run())
    assert 0.4 < time.monotonic() - started < 10
    assert event["status"] == "present"
    assert [(r["testcase"]["name"], r["outcome"]) for r in event["results"]] == [("dist.depcheck", "FAILED")]

    missing = first_event(
        ResultsTrigger(
            subjects=[{"type": "koji_build", "item": "coreutils-8.25-15.fc26", "testcases": ["dist.depcheck"]}],
            deadline=time.time() + 0.3,
            poll_interval=0.1,
        )
    )
    assert missing["status"] == "missing"
    assert missing["message"] == "results missing: coreutils-8.25-15.fc26 (koji_build): dist.depcheck: no result"
