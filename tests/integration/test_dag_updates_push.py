"""The ``updates_push`` DAG end to end with dag.test() against a whole sandbox (its Bodhi included).

- An f24 stable push of the glibc update (Bodhi's: already in f24-updates in the world): the updates repository is
  mashed and synced; every f24 artifact target is composed (none was ever released), tested by the sandbox
  Taskotron, signed and released — except the cloud AMI, whose cloud boot test the world forces to FAIL: it is
  held back, never synced, and the push-complete message says which update it holds back. The mirror's
  Atomic Host repository is pulled over HTTP with GPG verification; the website lists what was released, and in
  a headless Chromium shows every released image with the commands that verify it (which work), not the AMI.
  Rerunning the finished run's sync and promote tasks changes nothing. Then the release dashboard (issue 17's
  acceptance): after a rawhide_gating run that quarantines a build, an api-server with the plugin on the same
  Airflow database shows a logged-in user, in a headless Chromium, the held-back AMI and the quarantined build
  with their reasons (the JSON endpoints' facts) and links that work (dashcheck).
- An f23 push whose builds are already released in every f23 artifact: nothing is composed, only the updates
  repository changes on the mirror, and the push completes — Bodhi then marks the update pushed.
- The gatekeeper: a sync made to fail fails the run, leaves the mirror's updates repository as it was, and the
  push-complete message says every update failed and why (Bodhi only comments); the same push run again once
  the fault is fixed completes, and Bodhi finishes it.
- Bad conf fails at once, naming the field.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import load_dag
from dashboard_harness import api_server
from dashcheck import check_dashboard
from pushcheck import (
    AMI,
    ATOMIC,
    F24_IMAGES,
    GLIBC_PUSH,
    HELD_BACK_PUSH_ID,
    IMAGE_KINDS,
    TOPIC,
    PushWorld,
    TaskRun,
    assert_held_back_push,
    bus,
    by_label,
    conf,
    koji_image_tasks,
    open_push_world,
    runs_of_dag_run,
    snapshot,
    states,
)
from sitecheck import check_download_site
from test_adapters_support import koji_of
from test_dag_rawhide_gating import FAST, PENDING_BUILDS, REQUESTS, retag, wait_for_depcheck

from relengotron.sync.classify import classify_tree
from relengotron_sandbox.testing import wait_for

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


@pytest.mark.timeout(600)  # a push, the download site, a gating run, an api-server and the browser: ~2.5 min
def test_a_failed_artifact_is_held_back_and_the_rest_is_released(
    push_world: PushWorld, koji_session: Any, tmp_path: Path
) -> None:
    world = push_world
    koji = koji_of(world.endpoints)
    try:
        dag_run, tis = run(conf(HELD_BACK_PUSH_ID, "f24-updates", GLIBC_PUSH))
        image_tasks = koji_image_tasks(koji.session)
    finally:
        koji.close()
    assert_held_back_push(world, str(dag_run.state), tis, image_tasks, tmp_path)
    # the download website as a user meets it in a headless Chromium: every released image with its verification
    # commands (run as written), the held-back AMI nowhere, every link 200, the OSTree remote pullable (sitecheck)
    key = Path(world.endpoints["signing"]["public_key"])
    released = list(F24_IMAGES.values())
    check_download_site(world.master, "Fedora 24", released, AMI, key, tmp_path / "site", ostree_refs=[ATOMIC])

    # rerunning the finished run's promote and sync tasks changes nothing
    from operators.push import PromoteArtifactOperator, SyncOperator  # plugins/ is on sys.path once a DagBag loaded

    before = snapshot(world)
    rerun_context = {"params": conf(HELD_BACK_PUSH_ID, "f24-updates", GLIBC_PUSH), "run_id": dag_run.run_id, "ti": None}
    plan = xcom(dag_run, "plan")
    items = {item["label"]: item for item in plan["items"]}
    for group in ("ostree", *IMAGE_KINDS):
        for ti in tis.get(f"{group}.promote", []):
            candidate = xcom(dag_run, f"{group}.compose", map_index=ti.map_index)
            if ti.state != "success":
                continue
            task = PromoteArtifactOperator(
                task_id=f"rerun_{group}_{ti.map_index}", item=items[candidate["label"]], candidate=candidate
            )
            assert task.execute(rerun_context)["changed"] is False
    promoted = [xcom(dag_run, "ostree.promote", map_index=0)] + [
        xcom(dag_run, f"{group}.promote", map_index=ti.map_index)
        for group in IMAGE_KINDS
        for ti in tis.get(f"{group}.promote", [])
        if ti.state == "success"
    ]
    sync = SyncOperator(task_id="rerun_sync", plan=plan, promoted=[promoted], mash=xcom(dag_run, "mash"))
    done = sync.execute(rerun_context)
    # nothing is copied or deleted; the downstream mirrors' time list may be rewritten, and only because this
    # test's own ostree reads of the mirror's repository (a lock file) moved that directory's time
    lists = {"fullfiletimelist-fedora", "imagelist-fedora"}
    assert (
        not any(v for k, v in done["changes"].items() if k != "filelists")
        and set(done["changes"]["filelists"]) <= lists
    )
    after = snapshot(world)
    for side in ("staging", "master"):
        old, new = before[side], after[side]
        assert {p for p in set(old) | set(new) if old.get(p) != new.get(p)} <= lists, side

    # the release dashboard: a gating run quarantines python3-requests (dist.depcheck FAILED), then a user sees
    # it and the held-back AMI on the dashboard of an api-server on this session's Airflow database
    retag(koji_session, PENDING_BUILDS)
    wait_for_depcheck(world.endpoints["resultsdb"]["url"], PENDING_BUILDS)
    gating = load_dag("rawhide_gating").test(run_conf=FAST)
    assert gating.state == "success"
    env = {k: v for k, v in os.environ.items() if k.startswith(("AIRFLOW_CONN_", "AIRFLOW_VAR_"))}
    home = Path(os.environ["AIRFLOW_HOME"])
    with api_server(home, extra_env=env, log=tmp_path / "api-server.log") as server:
        check_dashboard(
            server,
            push_run=dag_run.run_id,
            held_back=AMI,
            gate_run=gating.run_id,
            quarantined=REQUESTS,
            packager="ralph",
            work=tmp_path / "dashboard",
        )


SUDO = "FEDORA-2016-f976b705cc"  # the sandbox Bodhi's f23 sudo update, requested for stable


def bodhi_update(world: PushWorld, alias: str) -> dict[str, Any]:
    """The update as Bodhi serves it now (through the bodhi-client library), once it has caught up with the bus."""
    from relengotron_sandbox.bodhi.api import SandboxBodhi

    return SandboxBodhi(world.endpoints["bodhi"]).update(alias)


def test_a_push_that_changes_no_artifact_composes_nothing(push_world: PushWorld) -> None:
    world = push_world
    sudo = ["sudo-1.8.15-2.fc23"]
    first, first_tis = run(conf("2016-06-01.0", "f23-updates", sudo))
    assert str(first.state) == "success", states(first_tis)
    assert set(by_label(first_tis, IMAGE_KINDS, "promote").values()) == {"success"}  # f23's images pass their tests
    before = snapshot(world)
    koji = koji_of(world.endpoints)
    try:
        tasks = koji_image_tasks(koji.session)
        again, tis = run(conf("2016-06-02.0", "f23-updates", sudo))
        assert koji_image_tasks(koji.session) == tasks
    finally:
        koji.close()
    got = states(tis)
    assert str(again.state) == "success", got
    for group in ("ostree", *IMAGE_KINDS):
        for step in ("compose", "announce", "tests", "sign", "promote"):
            assert set(got[f"{group}.{step}"]) == {"skipped"}, (group, step, got)
    plan = xcom(again, "plan")
    assert {i["decision"] for i in plan["items"]} == {"skip"} and len(plan["items"]) == 5
    after = snapshot(world)
    changed = {
        p for p in set(before["master"]) | set(after["master"]) if before["master"].get(p) != after["master"].get(p)
    }
    # the f23 repositories (the arch's, its debug/, the sources) and the downstream mirrors' time list naming them
    mine = ("linux/updates/23/x86_64/", "linux/updates/23/SRPMS/", "fullfiletimelist-fedora")
    assert changed and all(p.startswith(mine) for p in changed), sorted(changed)
    messages = bus(world)
    [complete] = [
        m["msg"] for m in messages if m["topic"] == TOPIC + "push.complete" and m["msg"]["push_id"] == "2016-06-02.0"
    ]
    assert complete["status"] == "complete" and complete["updates"][0]["status"] == "pushed"
    assert complete["artifacts"]["released"] == [] and len(complete["artifacts"]["unchanged"]) == 5
    assert not [
        m for m in messages if m["topic"] == TOPIC + "artifact.released" and m["msg"]["push_id"] == "2016-06-02.0"
    ]
    update = wait_for(
        "Bodhi to finish the push", lambda: (u := bodhi_update(world, SUDO))["status"] == "stable" and u, 30
    )
    assert (update["status"], update["request"], update["pushed"]) == ("stable", None, True)


def test_a_failed_sync_fails_the_run_claims_nothing_and_a_rerun_completes(push_world: PushWorld) -> None:
    world = push_world
    sudo = conf("2016-06-03.0", "f23-updates", ["sudo-1.8.15-2.fc23"])
    assert not (world.master / "linux/updates/23").exists()  # a fresh sandbox's mirror has no f23 updates yet
    # a non-empty directory on the mirror where the push's sudo RPM goes: rsync will not replace it, so the
    # first pass (content) fails
    blocker = world.master / "linux/updates/23/x86_64/Packages/s/sudo-1.8.15-2.fc23.x86_64.rpm"
    (blocker / "in-the-way").mkdir(parents=True)
    before = snapshot(world)["master"]
    failed, tis = run(sudo)
    got = states(tis)
    assert str(failed.state) == "failed" and got["sync"] == ["failed"], got
    assert got["report"] == got["publish_complete"] == ["success"] and got["website"] == ["upstream_failed"]
    after = snapshot(world)["master"]
    changed = {path for path in set(before) | set(after) if before.get(path) != after.get(path)}
    # the sync copies content first and the indexes that name it last: a failed sync leaves content no index
    # names (new OSTree objects, image files), and not one index, metadata file or directory a client reads
    entries = [(path, "dir" if after.get(path) == "dir" else "file") for path in changed]
    classes = classify_tree(entries, website=world.config.mirror.website).classes
    assert changed and {classes[path] for path in changed} == {"content"}, sorted(changed)
    assert blocker.is_dir() and not [p for p in after if p.startswith("linux/updates/23/") and "/repodata" in p]
    [told] = [
        m["msg"] for m in bus(world) if m["topic"] == TOPIC + "push.complete" and m["msg"]["push_id"] == "2016-06-03.0"
    ]
    assert (told["status"], told["synced"]) == ("failed", False)
    assert told["reason"].startswith("the sync to the master mirror failed")
    assert [u["status"] for u in told["updates"]] == ["failed"] and told["updates"][0]["alias"] == SUDO
    assert not [m for m in bus(world) if m["topic"] == TOPIC + "artifact.released"]
    time.sleep(2)  # Bodhi has read the message by now: a failed push only gets a comment
    update = bodhi_update(world, SUDO)
    assert (update["status"], update["request"]) == ("testing", "stable")  # kept for the next push
    assert "failed" in update["comments"][-1]["text"]

    shutil.rmtree(blocker)  # the fault fixed: the same push again
    done, tis = run(sudo)
    assert str(done.state) == "success", states(tis)
    assert (world.master / "linux/updates/23/x86_64/repodata/repomd.xml").is_file()
    completes = [
        m["msg"] for m in bus(world) if m["topic"] == TOPIC + "push.complete" and m["msg"]["push_id"] == "2016-06-03.0"
    ]
    assert [c["status"] for c in completes] == ["failed", "complete"]
    update = wait_for(
        "Bodhi to finish the push", lambda: (u := bodhi_update(world, SUDO))["status"] == "stable" and u, 30
    )
    assert (update["status"], update["request"], update["pushed"]) == ("stable", None, True)


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"repo": "not a tag"}, "repo"),
        ({"updates": []}, "updates"),
        ({"updates": ["not an nvr"]}, "updates"),
        ({"push_id": None}, "push_id"),
    ],
)
def test_bad_conf_fails_at_once_naming_the_field(airflow_db: Path, bad: dict[str, Any], field: str) -> None:
    from airflow.models import DagBag
    from airflow.sdk.exceptions import ParamValidationError

    dag = DagBag(dag_folder=str(REPO_ROOT / "dags"), safe_mode=False).get_dag("updates_push")
    good = conf("2016-06-14.9", "f24-updates", GLIBC_PUSH)
    with pytest.raises(ParamValidationError, match=field):
        dag.test(run_conf={**good, **bad})
