"""The distributed path of the production deployment, proven on this machine: ``updates_push`` on Airflow with
the CeleryExecutor, PostgreSQL and Redis from Debian's packages and two Celery workers, all on 127.0.0.1
(tests/integration/celery_cluster.py), against a whole sandbox.

The run is created through the REST API as on-call would (token, unpause, trigger) and must leave the SAME end
state as the dag.test() run on SQLite in test_dag_updates_push.py — the same assertions (pushcheck.py): the
mirror, Koji's image tasks, the bus, the website — with every task that ran having run on one of the two
workers, and both of them used. Then the REST calls of docs/operations.md are checked: watching a push (the
latest runs, an artifact's map index found by its name, the log of ``check`` naming the held-back artifact),
and rerunning one held-back artifact (clear its map index with its downstream tasks) in dry run — it selects
that artifact's steps and the push's closing tasks, and nothing of the other artifacts.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from celery_cluster import WORKERS, AirflowAPI, celery_airflow
from pushcheck import (
    AMI,
    GLIBC_PUSH,
    HELD_BACK_PUSH_ID,
    assert_held_back_push,
    conf,
    koji_image_tasks,
    open_push_world,
    runs_of_api_rows,
)
from test_adapters_support import koji_of

from relengotron_sandbox.testing import wait_for

pytestmark = pytest.mark.integration

DAG = "updates_push"
RUN_ID = "push-2016-06-14.0"


@pytest.mark.timeout(420)
def test_updates_push_on_two_celery_workers_ends_like_the_sqlite_run(
    airflow_connections: dict[str, Any], tmp_path: Path
) -> None:
    started = time.monotonic()
    with open_push_world(airflow_connections) as world, celery_airflow(tmp_path / "cluster-logs") as cluster:
        api = AirflowAPI(cluster)
        parsed = lambda: api.call("GET", f"dags/{DAG}", ok=(200, 404)).get("dag_id")  # noqa: E731
        wait_for("the DAG parsed", parsed, 90, every=1, watch=cluster.services)
        api.call("PATCH", f"dags/{DAG}", params={"update_mask": "is_paused"}, json={"is_paused": False})
        body = {"dag_run_id": RUN_ID, "logical_date": None, "conf": conf(HELD_BACK_PUSH_ID, "f24-updates", GLIBC_PUSH)}
        api.call("POST", f"dags/{DAG}/dagRuns", json=body)
        ready = time.monotonic()

        def finished() -> str | None:
            state = api.call("GET", f"dags/{DAG}/dagRuns/{RUN_ID}")["state"]
            return state if state in ("success", "failed") else None

        run_state = wait_for("the push finished", finished, 240, every=1, watch=cluster.services)
        ran = time.monotonic()
        rows = api.call("GET", f"dags/{DAG}/dagRuns/{RUN_ID}/taskInstances", params={"limit": 200})
        assert rows["total_entries"] == len(rows["task_instances"])
        tis = runs_of_api_rows(rows["task_instances"])
        koji = koji_of(world.endpoints)
        try:
            image_tasks = koji_image_tasks(koji.session)
        finally:
            koji.close()

        assert_held_back_push(world, run_state, tis, image_tasks, tmp_path)

        # every task that ran, ran on one of the two workers, and both did some
        executed = [ti for found in tis.values() for ti in found if ti.state in ("success", "failed")]
        assert {ti.hostname for ti in executed} == set(WORKERS), sorted((ti.task_id, ti.hostname) for ti in executed)

        # operations.md's calls to watch a push: the latest runs, an artifact's map indexes by name, a task's log
        runs = api.call("GET", f"dags/{DAG}/dagRuns", params={"order_by": "-start_date", "limit": 10})["dag_runs"]
        assert [(r["dag_run_id"], r["state"], r["conf"]["repo"]) for r in runs] == [(RUN_ID, "failed", "f24-updates")]
        mapped = api.call("GET", f"dags/{DAG}/dagRuns/{RUN_ID}/taskInstances/ami.tests/listMapped")
        [ami] = [ti["map_index"] for ti in mapped["task_instances"] if ti["rendered_map_index"] == AMI]
        log = api.call("GET", f"dags/{DAG}/dagRuns/{RUN_ID}/taskInstances/check/logs/1")["content"]
        errors = [e["exc_value"] for line in log if isinstance(line, dict) for e in line.get("error_detail") or []]
        [failure] = errors  # what the jq of operations.md shows
        assert failure.startswith(f"held back, not synced: {AMI} (its tests failed)"), failure

        # operations.md's rerun of one held-back artifact, in dry run: its map index and what follows it
        clear = {
            "dry_run": True,
            "dag_run_id": RUN_ID,
            "task_ids": [["ami.tests", ami]],
            "include_downstream": True,
            "only_failed": False,
        }
        selected = api.call("POST", f"dags/{DAG}/clearTaskInstances", json=clear)["task_instances"]
        picked = {(ti["task_id"], ti["map_index"]) for ti in selected}
        assert {("ami.tests", ami), ("ami.sign", ami), ("ami.promote", ami)} <= picked, picked
        assert {("sync", -1), ("report", -1), ("publish_complete", -1), ("website", -1), ("check", -1)} <= picked
        others = {
            (t, i)
            for t, i in picked
            if "." in t and (t, i) not in {("ami.tests", ami), ("ami.sign", ami), ("ami.promote", ami)}
        }
        assert not others and not picked & {("mash", -1), ("plan", -1)}, picked
        assert api.call("GET", f"dags/{DAG}/dagRuns/{RUN_ID}")["state"] == "failed"  # a dry run changes nothing
    done = time.monotonic()
    print(f"\ncelery cluster up {ready - started:.1f} s, push {ran - ready:.1f} s, checks and stop {done - ran:.1f} s")
