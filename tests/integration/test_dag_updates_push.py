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

import functools
import hashlib
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from test_adapters_support import koji_of

from relengotron.config import ReleaseConfig, load_config
from relengotron.messaging import FedmsgPublisher, load_fedmsg_config
from relengotron.ostree.repo import OSTreeRepo
from relengotron.website import iter_image_paths, read_images_json

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
TOPIC = "org.fedoraproject.dev.relengotron."
SENTINEL = "org.fedoraproject.dev.test.sentinel"
ATOMIC = "fedora/24/x86_64/atomic-host"
AMI = "Fedora-Cloud-Base-24.x86_64.raw.xz"
F24_IMAGES = {
    "installer-iso": "releases/24/installer-iso/x86_64/Fedora-Server-dvd-x86_64-24.iso",
    "pxe2live": "releases/24/pxe2live/x86_64/Fedora-Atomic-pxe2live-x86_64-24.tar.gz",
    "cloud-base-gce": "releases/24/gce/x86_64/Fedora-Cloud-Base-GCE-24.x86_64.tar.gz",
}
GLIBC = {
    "alias": "FEDORA-2016-a1b2c3d4e5",
    "builds": ["glibc-2.23.1-8.fc24"],
    "type": "bugfix",
    "severity": "low",
    "bugs": [1300105],
}


def conf(push_id: str, release: str, updates: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "push_id": push_id,
        "release": release,
        "request": "stable",
        "updates": updates,
        "poll_interval": 0.2,
        **extra,
    }


@dataclass
class World:
    endpoints: dict[str, Any]
    config: ReleaseConfig
    publisher: FedmsgPublisher

    @property
    def staging(self) -> Path:
        return Path(self.config.mirror.staging)

    @property
    def master(self) -> Path:
        return Path(self.config.mirror.master)


@pytest.fixture
def push_world(airflow_connections: dict[str, Any], airflow_db: Path) -> Iterator[World]:
    endpoints = airflow_connections
    publisher = FedmsgPublisher(load_fedmsg_config(endpoints["bus"]["fedmsg_config"]))
    yield World(endpoints, load_config(endpoints["releng"]["config"]), publisher)
    publisher.close()


def run(conf: dict[str, Any]) -> tuple[Any, dict[str, list[Any]]]:
    """One dag.test() run of updates_push; its DagRun and each task's instances (by task id, map index order)."""
    from airflow.models import DagBag

    dag = DagBag(dag_folder=str(REPO_ROOT / "dags"), safe_mode=False).get_dag("updates_push")
    dag_run = dag.test(run_conf=conf)
    tis: dict[str, list[Any]] = {}
    for ti in sorted(dag_run.get_task_instances(), key=lambda t: (t.task_id, t.map_index)):
        tis.setdefault(ti.task_id, []).append(ti)
    return dag_run, tis


def states(tis: dict[str, list[Any]]) -> dict[str, list[str]]:
    return {task: [str(ti.state) for ti in found] for task, found in tis.items()}


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


def bus(world: World) -> list[dict[str, Any]]:
    """Every archived message but the sentinels, once a fresh sentinel came through."""
    marker = time.monotonic_ns()
    world.publisher.publish("test", "sentinel", {"n": marker})
    url = world.endpoints["bus"]["datagrepper"] + "raw"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        messages: list[dict[str, Any]] = []
        page = 1
        while True:
            answer = requests.get(url, params={"order": "asc", "rows_per_page": 100, "page": page}, timeout=10).json()
            messages += answer["raw_messages"]
            if page >= answer["pages"]:
                break
            page += 1
        if any(m["topic"] == SENTINEL and m["msg"].get("n") == marker for m in messages):
            return [m for m in messages if m["topic"] != SENTINEL]
        time.sleep(0.05)
    raise AssertionError("the sentinel message never reached the bus archive")


def tree(top: Path) -> dict[str, str]:
    """Every file under ``top`` with its SHA256 (directories as "dir")."""
    if not top.exists():
        return {}
    return {
        p.relative_to(top).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        for p in sorted(top.rglob("*"))
        if not p.is_symlink()
    }


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def pull_over_http(repo_dir: Path, ref: str, public_key: Path, work: Path) -> str:
    """Pull ``ref`` from the repository served over HTTP on 127.0.0.1, GPG-verifying commit and summary;
    the commit pulled."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(repo_dir)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = work / "client"

        def ostree(*args: str) -> str:
            out = subprocess.run(["ostree", *args, f"--repo={client}"], capture_output=True, text=True, check=False)
            assert out.returncode == 0, out.stderr
            return out.stdout

        ostree("init", "--mode=bare-user")
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        ostree("remote", "add", "--set=gpg-verify=true", "--set=gpg-verify-summary=true", "fedora", url)
        ostree("remote", "gpg-import", "-k", str(public_key), "fedora")
        ostree("pull", "fedora", ref)
        return ostree("rev-parse", f"fedora:{ref}").strip()
    finally:
        server.shutdown()
        server.server_close()


# --- the tests -------------------------------------------------------------------------------------------


def by_label(tis: dict[str, list[Any]], group: str, step: str) -> dict[str, str]:
    """A group's step states by artifact label (the compose task's rendered map index of the same index)."""
    names = {ti.map_index: ti.rendered_map_index for ti in tis[f"{group}.compose"]}
    return {names[ti.map_index]: str(ti.state) for ti in tis[f"{group}.{step}"]}


def snapshot(world: World) -> dict[str, Any]:
    return {"staging": tree(world.staging), "master": tree(world.master)}


def test_a_failed_artifact_is_held_back_and_the_rest_is_released(push_world: World, tmp_path: Path) -> None:
    world = push_world
    koji = koji_of(world.endpoints)
    try:
        dag_run, tis = run(conf("2016-06-14.0", "f24", [GLIBC]))
        image_tasks = koji.session.listTasks(opts={"method": "image"})
    finally:
        koji.close()
    got = states(tis)
    assert str(dag_run.state) == "failed", got  # the check names what was held back
    for task in ("wait_turn", "mash", "plan", "sync", "report", "publish_complete", "website", "end_turn"):
        assert got[task] == ["success"], (task, got)
    assert got["check"] == ["failed"]
    assert by_label(tis, "ostree", "promote") == {ATOMIC: "success"}
    assert by_label(tis, "images", "compose") == dict.fromkeys(
        [AMI, *(Path(p).name for p in F24_IMAGES.values())], "success"
    )
    assert by_label(tis, "images", "tests")[AMI] == "failed"
    assert by_label(tis, "images", "promote") == {
        **{Path(p).name: "success" for p in F24_IMAGES.values()},
        AMI: "upstream_failed",
    }
    assert len(image_tasks) == 4  # one Koji image task per image target: none submitted twice

    # the mirror: the updates repository, the Atomic Host ref, three images — and nothing of the AMI
    master = tree(world.master)
    assert "updates/24/x86_64/repodata/repomd.xml.asc" in master
    assert "updates/24/x86_64/Packages/g/glibc-2.23.1-8.fc24.noarch.rpm" in master
    for path in F24_IMAGES.values():
        assert {path, f"{path}-CHECKSUM", f"{path}.manifest.json"} <= set(master)
    assert not [p for p in master if AMI in p or ".relengotron" in p]
    assert (world.staging / ".relengotron/candidates/releases/24/ami/x86_64" / AMI).is_file()  # held back here
    mirror_repo = OSTreeRepo(world.master / "atomic/repo")
    commit = mirror_repo.rev_parse(ATOMIC)
    assert commit is not None
    assert not (world.staging / ".relengotron/locks/updates_push-f24-stable.json").exists()  # the turn given back
    key = Path(world.endpoints["signing"]["public_key"])
    assert pull_over_http(world.master / "atomic/repo", ATOMIC, key, tmp_path) == commit

    # the bus: five composed, four released (not the AMI), one push-complete naming the held-back update
    messages = bus(world)
    composed = [m["msg"]["label"] for m in messages if m["topic"] == TOPIC + "artifact.composed"]
    assert sorted(composed) == sorted([ATOMIC, AMI, *(Path(p).name for p in F24_IMAGES.values())])
    released = {m["msg"]["label"]: m["msg"] for m in messages if m["topic"] == TOPIC + "artifact.released"}
    assert set(released) == {ATOMIC, *(Path(p).name for p in F24_IMAGES.values())}
    assert released[ATOMIC]["identity"] == commit and released[ATOMIC]["updates"] == [GLIBC["alias"]]
    [complete] = [m["msg"] for m in messages if m["topic"] == TOPIC + "push.complete"]
    assert (complete["push_id"], complete["status"], complete["synced"]) == ("2016-06-14.0", "held-back", True)
    [update] = complete["updates"]
    assert (update["alias"], update["status"]) == (GLIBC["alias"], "held-back")
    assert update["held_back"] == [{"label": AMI, "reason": "its tests failed"}]
    assert sorted(update["artifacts"]) == sorted(released)
    assert complete["artifacts"]["held_back"] == [{"label": AMI, "reason": "its tests failed"}]
    assert complete["repos"] == ["updates/24/x86_64"]

    # the website: productmd images.json and the page, from what was released only
    images = read_images_json(world.master / "website/24/images.json")
    assert sorted(iter_image_paths(images)) == sorted(F24_IMAGES.values())
    page = (world.master / "website/24/index.html").read_text()
    assert ATOMIC in page and commit in page and AMI not in page
    assert "website/index.html" in master

    # rerunning the finished run's promote and sync tasks changes nothing
    from operators.push import PromoteArtifactOperator, SyncOperator  # plugins/ is on sys.path once a DagBag loaded

    before = snapshot(world)
    rerun_context = {"params": conf("2016-06-14.0", "f24", [GLIBC]), "run_id": dag_run.run_id, "ti": None}
    plan = xcom(dag_run, "plan")
    items = {item["label"]: item for item in plan["items"]}
    for group, indexes in (("ostree", tis["ostree.promote"]), ("images", tis["images.promote"])):
        for ti in indexes:
            candidate = xcom(dag_run, f"{group}.compose", map_index=ti.map_index)
            if str(ti.state) != "success":
                continue
            task = PromoteArtifactOperator(
                task_id=f"rerun_{group}_{ti.map_index}", item=items[candidate["label"]], candidate=candidate
            )
            assert task.execute(rerun_context)["changed"] is False
    promoted = [xcom(dag_run, "ostree.promote", map_index=0)] + [
        xcom(dag_run, "images.promote", map_index=ti.map_index)
        for ti in tis["images.promote"]
        if str(ti.state) == "success"
    ]
    sync = SyncOperator(task_id="rerun_sync", plan=plan, promoted=[promoted])
    done = sync.execute(rerun_context)
    assert not any(done["changes"].values()), done
    assert snapshot(world) == before


def test_a_push_that_changes_no_artifact_composes_nothing(push_world: World) -> None:
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
