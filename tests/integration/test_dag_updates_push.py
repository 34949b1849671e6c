"""The ``updates_push`` DAG end to end with dag.test() against a whole sandbox.

- An f24 stable push of the glibc update (already in f24-updates in the world): the updates repository is
  mashed and synced; every f24 artifact target is composed (none was ever released), tested by the sandbox
  Taskotron, signed and released — except the cloud AMI, whose cloud boot test the world forces to FAIL: it is
  held back, never synced, and the push-complete message says which update it holds back. The mirror's
  Atomic Host repository is pulled over HTTP with GPG verification; the website lists what was released.
  Rerunning the finished run's sync and promote tasks changes nothing.
- An f23 push whose builds are already released in every f23 artifact: nothing is composed, only the updates
  repository changes on the mirror, and the push completes.
- Bad conf fails at once, naming the field.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pushcheck import (
    GLIBC,
    HELD_BACK_PUSH_ID,
    TOPIC,
    PushWorld,
    TaskRun,
    assert_held_back_push,
    bus,
    conf,
    open_push_world,
    runs_of_dag_run,
    snapshot,
    states,
)
from test_adapters_support import koji_of

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def push_world(airflow_connections: dict[str, Any], airflow_db: Path) -> Iterator[PushWorld]:
    with open_push_world(airflow_connections) as world:
        yield world


def run(conf: dict[str, Any]) -> tuple[Any, dict[str, list[TaskRun]]]:
    """One dag.test() run of updates_push; its DagRun and each task's instances (by task id, map index order)."""
    from airflow.models import DagBag

    dag = DagBag(dag_folder=str(REPO_ROOT / "dags"), safe_mode=False).get_dag("updates_push")
    dag_run = dag.test(run_conf=conf)
    return dag_run, runs_of_dag_run(dag_run)


def xcom(dag_run: Any, task_id: str, key: str = "return_value", map_index: int = -1) -> Any:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.scalars(
            XComModel.get_many(
                run_id=dag_run.run_id, dag_ids="updates_push", task_ids=task_id, key=key, map_indexes=map_index
            )
        ).first()
        return None if row is None else XComModel.deserialize_value(row)


# --- the tests -------------------------------------------------------------------------------------------


def test_a_failed_artifact_is_held_back_and_the_rest_is_released(push_world: PushWorld, tmp_path: Path) -> None:
    world = push_world
    koji = koji_of(world.endpoints)
    try:
        dag_run, tis = run(conf(HELD_BACK_PUSH_ID, "f24", [GLIBC]))
        image_tasks = koji.session.listTasks(opts={"method": "image"})
    finally:
        koji.close()
    assert_held_back_push(world, str(dag_run.state), tis, image_tasks, tmp_path)

    # rerunning the finished run's promote and sync tasks changes nothing
    from operators.push import PromoteArtifactOperator, SyncOperator  # plugins/ is on sys.path once a DagBag loaded

    before = snapshot(world)
    rerun_context = {"params": conf(HELD_BACK_PUSH_ID, "f24", [GLIBC]), "run_id": dag_run.run_id, "ti": None}
    plan = xcom(dag_run, "plan")
    items = {item["label"]: item for item in plan["items"]}
    for group, indexes in (("ostree", tis["ostree.promote"]), ("images", tis["images.promote"])):
        for ti in indexes:
            candidate = xcom(dag_run, f"{group}.compose", map_index=ti.map_index)
            if ti.state != "success":
                continue
            task = PromoteArtifactOperator(
                task_id=f"rerun_{group}_{ti.map_index}", item=items[candidate["label"]], candidate=candidate
            )
            assert task.execute(rerun_context)["changed"] is False
    promoted = [xcom(dag_run, "ostree.promote", map_index=0)] + [
        xcom(dag_run, "images.promote", map_index=ti.map_index) for ti in tis["images.promote"] if ti.state == "success"
    ]
    sync = SyncOperator(task_id="rerun_sync", plan=plan, promoted=[promoted])
    done = sync.execute(rerun_context)
    assert not any(done["changes"].values()), done
    assert snapshot(world) == before


def test_a_push_that_changes_no_artifact_composes_nothing(push_world: PushWorld) -> None:
    world = push_world
    sudo = {"alias": "FEDORA-2016-f1e2d3c4b5", "builds": ["sudo-1.8.15-2.fc23"], "type": "security", "bugs": []}
    first, first_tis = run(conf("2016-06-01.0", "f23", [sudo]))
    assert str(first.state) == "success", states(first_tis)
    assert set(states(first_tis)["images.promote"]) == {"success"}  # f23's images all pass their tests
    before = snapshot(world)
    koji = koji_of(world.endpoints)
    try:
        tasks = koji.session.listTasks(opts={"method": "image"})
        again, tis = run(conf("2016-06-02.0", "f23", [sudo]))
        assert koji.session.listTasks(opts={"method": "image"}) == tasks
    finally:
        koji.close()
    got = states(tis)
    assert str(again.state) == "success", got
    for group in ("ostree", "images"):
        for step in ("compose", "announce", "tests", "sign", "promote"):
            assert set(got[f"{group}.{step}"]) == {"skipped"}, (group, step, got)
    plan = xcom(again, "plan")
    assert {i["decision"] for i in plan["items"]} == {"skip"} and len(plan["items"]) == 5
    after = snapshot(world)
    changed = {
        p for p in set(before["master"]) | set(after["master"]) if before["master"].get(p) != after["master"].get(p)
    }
    assert changed and all(p.startswith("updates/23/x86_64/") for p in changed), sorted(changed)
    messages = bus(world)
    [complete] = [
        m["msg"] for m in messages if m["topic"] == TOPIC + "push.complete" and m["msg"]["push_id"] == "2016-06-02.0"
    ]
    assert complete["status"] == "complete" and complete["updates"][0]["status"] == "complete"
    assert complete["artifacts"]["released"] == [] and len(complete["artifacts"]["unchanged"]) == 5
    assert not [
        m for m in messages if m["topic"] == TOPIC + "artifact.released" and m["msg"]["push_id"] == "2016-06-02.0"
    ]


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"request": "oldstable"}, "request"),
        ({"updates": []}, "updates"),
        ({"updates": [{"alias": "FEDORA-2016-1", "builds": ["not an nvr"], "type": "bugfix"}]}, "updates"),
        ({"push_id": None}, "push_id"),
    ],
)
def test_bad_conf_fails_at_once_naming_the_field(airflow_db: Path, bad: dict[str, Any], field: str) -> None:
    from airflow.models import DagBag
    from airflow.sdk.exceptions import ParamValidationError

    dag = DagBag(dag_folder=str(REPO_ROOT / "dags"), safe_mode=False).get_dag("updates_push")
    good = conf("2016-06-14.9", "f24", [GLIBC])
    with pytest.raises(ParamValidationError, match=field):
        dag.test(run_conf={**good, **bad})
