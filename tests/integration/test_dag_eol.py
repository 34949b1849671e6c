"""The ``eol`` DAG end to end with dag.test() against a whole sandbox: a dry run changes nothing anywhere and asks
no approval; a real run waits for a release engineer's approval with the plan in its question, changing nothing
while it waits; approved through the REST API, it does every step of the plan (each its own mapped task, named
by its key) and publishes the EOL message last; rejected, it ends with nothing changed anywhere, the steps and
the message skipped and the rejection (by whom) recorded; a second run finds an empty plan, asks nothing and
changes nothing; every step task of the finished run, run again, changes nothing; nothing of Fedora 24 is
touched; an unknown release fails the plan naming it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hitl_harness import Answerer, api_server
from pushcheck import bus, tree
from test_adapters_support import bugzilla_of, koji_of, pdc_of

from relengotron.artifacts import load_release_config, staging_ostree_repo
from relengotron.config import ReleaseConfig
from relengotron.eol import BUG_COMMENT, step_from_dict
from relengotron.messaging import FedmsgPublisher, load_fedmsg_config
from relengotron.ostree.repo import OSTreeRepo
from relengotron.signing import LocalGpgSigner

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
EOL_DAY = "2016-12-20"
EOL_TOPIC = "org.fedoraproject.dev.relengotron.release.eol"
F23_REFS = ("fedora/23/x86_64/atomic-host", "fedora/23/x86_64/updates/atomic-host")
F24_REF = "fedora/24/x86_64/atomic-host"
MIRROR_FILES = (
    "linux/updates/23/x86_64/Packages/b/bash-4.3.42-1.fc23.noarch.rpm",
    "linux/updates/23/x86_64/repodata/repomd.xml",
    "linux/updates/testing/23/x86_64/repodata/repomd.xml",
    "linux/releases/23/installer-iso/x86_64/Fedora-Server-dvd-x86_64-23.iso",
    "linux/updates/24/x86_64/repodata/repomd.xml",
    "linux/updates/testing/24/x86_64/repodata/repomd.xml",
    "linux/releases/24/installer-iso/x86_64/Fedora-Server-dvd-x86_64-24.iso",
    "website/index.html",
)
F23_TREES = ("linux/releases/23", "linux/updates/23", "linux/updates/testing/23")
F23_BUGS = (1300101, 1300102, 1300103)


@dataclass
class World:
    endpoints: dict[str, Any]
    config: ReleaseConfig
    repo: OSTreeRepo
    archive_repo: OSTreeRepo
    master: Path
    archive: Path
    clients: dict[str, Any]
    publisher: FedmsgPublisher
    signer: LocalGpgSigner


@pytest.fixture
def eol_world(airflow_connections: dict[str, Any], airflow_db: Path, tmp_path: Path) -> Iterator[World]:
    """The sandbox, with f23 and f24 refs released (in the staging tree's ostree repository) and content on its
    mirror."""
    endpoints = airflow_connections
    config = load_release_config(endpoints["releng"]["config"])
    signing = endpoints["signing"]
    signer = LocalGpgSigner(signing["gnupghome"], signing["key_id"])
    repo = staging_ostree_repo(config.mirror).init("archive")
    for n, ref in enumerate((*F23_REFS, F24_REF)):
        tree = tmp_path / "trees" / str(n)
        (tree / "usr").mkdir(parents=True)
        (tree / "usr" / "os-release").write_text(f"{ref}\n")
        commit = repo.commit(trees=[f"dir={tree}"], subject=ref, branch=ref, metadata={"version": "1.0"})
        signer.sign_ostree_commit(repo.path, commit)
    repo.update_summary(signer)
    master, archive = Path(config.mirror.master), Path(config.mirror.archive)
    for rel in MIRROR_FILES:
        (master / rel).parent.mkdir(parents=True, exist_ok=True)
        (master / rel).write_text(f"{rel}\n")
    clients = {"koji": koji_of(endpoints), "pdc": pdc_of(endpoints), "bugzilla": bugzilla_of(endpoints)}
    publisher = FedmsgPublisher(load_fedmsg_config(endpoints["bus"]["fedmsg_config"]))
    archive_repo = OSTreeRepo(config.ostree.repo.parent / "archive-repo")
    yield World(endpoints, config, repo, archive_repo, master, archive, clients, publisher, signer)
    publisher.close()
    for client in clients.values():
        client.close()


def snapshot(world: World) -> dict[str, Any]:
    """Everything an EOL may change, read through the real clients and from the trees."""
    koji, pdc, bugzilla = (world.clients[k] for k in ("koji", "pdc", "bugzilla"))
    ids = [1300101, 1300102, 1300103, 1300104, 1300105, 1300106, 1300107]
    comments = bugzilla.client.get_comments(ids)["bugs"]
    return {
        "pdc": {r: pdc.release(r)["active"] for r in ("fedora-23", "fedora-24", "fedora-rawhide")},
        "targets": sorted((t["name"], t["build_tag_name"], t["dest_tag_name"]) for t in koji.session.getBuildTargets()),
        "tags": sorted((t["name"], t["locked"]) for t in koji.session.listTags()),
        "bugs": bugzilla.statuses(ids),
        "comments": {int(i): len(c["comments"]) for i, c in comments.items()},
        "refs": world.repo.refs(),
        "objects": world.repo.object_count(),
        "archive_repo": world.archive_repo.refs() if world.archive_repo.exists() else None,
        "master": tree(world.master),
        "archive": tree(world.archive),
        "bus": [(m["topic"], m["msg_id"]) for m in bus(world)],
    }


def f24_part(snap: dict[str, Any]) -> dict[str, Any]:
    return {
        "pdc": snap["pdc"]["fedora-24"],
        "targets": [t for t in snap["targets"] if "f24" in t[0]],
        "tags": [t for t in snap["tags"] if t[0].startswith("f24")],
        "bugs": {i: s for i, s in snap["bugs"].items() if i in (1300105, 1300106)},
        "ref": snap["refs"][F24_REF],
        # the OSTree repository on the mirror is shared by every release: its f24 ref is "ref" above
        "mirror": {p: h for p, h in snap["master"].items() if "24" in p and not p.startswith("linux/atomic/")},
    }


@pytest.fixture(scope="module")
def airflow_api(airflow_db: Path) -> Iterator[Any]:
    """An api-server on the session's metadata database: where a release engineer answers the approval."""
    with api_server() as airflow:
        yield airflow


def run(conf: dict[str, Any], answer: Answerer | None = None) -> tuple[Any, dict[str, list[Any]]]:
    """One dag.test() run of the eol DAG (``answer`` answering its approval through the API); its state and
    each task's instances (by task id)."""
    from airflow.models import DagBag

    dag = DagBag(dag_folder=str(REPO_ROOT / "dags"), safe_mode=False).get_dag("eol")
    if answer is not None:
        answer.start()
    dag_run = dag.test(run_conf=conf)
    if answer is not None:
        answer.join()
    tis: dict[str, list[Any]] = {}
    for ti in sorted(dag_run.get_task_instances(), key=lambda t: (t.task_id, t.map_index)):
        tis.setdefault(ti.task_id, []).append(ti)
    return dag_run, tis


def states(tis: dict[str, list[Any]]) -> dict[str, list[str]]:
    return {task: [str(ti.state) for ti in found] for task, found in tis.items()}


def plan_of(dag_run: Any) -> list[dict[str, Any]]:
    """The plan task's XCom (the plan as step dicts) of ``dag_run``."""
    return xcom_of(dag_run, "plan")


def xcom_of(dag_run: Any, task_id: str, key: str = "return_value") -> Any:
    """The XCom ``key`` of ``task_id`` in ``dag_run``."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.scalars(
            XComModel.get_many(run_id=dag_run.run_id, dag_ids="eol", task_ids=task_id, key=key)
        ).first()
        return XComModel.deserialize_value(row)


def test_dry_run_shows_the_plan_and_changes_nothing(eol_world: World) -> None:
    world = eol_world
    before = snapshot(world)
    dag_run, tis = run({"release": "f23", "eol_date": EOL_DAY})
    assert str(dag_run.state) == "success", states(tis)
    assert states(tis) == {
        "plan": ["success"],
        "go_ahead": ["skipped"],
        "approve": ["skipped"],
        "step": ["skipped"],
        "publish_eol": ["skipped"],
    }
    plan = plan_of(dag_run)
    assert [s["kind"] for s in plan] == [
        "pdc-release-inactive",
        "koji-delete-target",
        *["koji-lock-tag"] * 7,
        *["bugzilla-close"] * 3,
        *["ostree-carve-out"] * 2,
        *["mirror-archive"] * 3,
        "publish-eol",
    ]
    after = snapshot(world)
    assert after == before
    assert after["pdc"]["fedora-23"] is True and ("f23-candidate", "f23", "f23-updates-candidate") in after["targets"]
    assert not any(locked for name, locked in after["tags"] if name.startswith("f23"))
    assert all(after["bugs"][b][0] != "CLOSED" for b in F23_BUGS)
    assert not any(topic == EOL_TOPIC for topic, _ in after["bus"])


@pytest.mark.timeout(600)
def test_eol_approved_does_every_step_then_a_second_run_changes_nothing(eol_world: World, airflow_api: Any) -> None:
    world = eol_world
    import airflow  # noqa: F401 — puts the plugins folder on sys.path
    from operators.eol_steps import EOLPublishOperator, EOLStepOperator

    config = world.config
    before = snapshot(world)
    answer = Answerer(airflow_api, "eol", "approve", "Approve", look=lambda: snapshot(world))
    dag_run, tis = run({"release": "f23", "dry_run": False, "eol_date": EOL_DAY}, answer)
    assert str(dag_run.state) == "success", states(tis)
    plan = plan_of(dag_run)
    work = [s for s in plan if s["kind"] != "publish-eol"]
    assert len(work) == 17 and plan[-1]["kind"] == "publish-eol"

    # the run waited for the answer, with nothing changed; the question showed the plan, step by step
    question = answer.question
    assert question is not None and question["task_instance"]["state"] == "awaiting_input"
    assert answer.looked == before
    assert question["subject"] == "End of life of f23: carry out this plan?"
    assert question["options"] == ["Approve", "Reject"] and question["defaults"] == ["Reject"]
    for n, step in enumerate(plan, 1):
        assert f"{n:>2}. [{step_from_dict(step).service}] {step_from_dict(step).describe()}" in question["body"]
    assert answer.response is not None and answer.response["responded_by"]["name"] == "admin"
    assert states(tis)["approve"] == ["success"]
    assert xcom_of(dag_run, "approve", "decision")["text"].startswith("approved by admin at ")
    assert states(tis)["step"] == ["success"] * len(work)
    assert [ti.rendered_map_index for ti in tis["step"]] == [key(s) for s in work]
    assert states(tis)["publish_eol"] == ["success"]
    after = snapshot(world)

    # PDC, Koji, Bugzilla
    assert after["pdc"] == {"fedora-23": False, "fedora-24": True, "fedora-rawhide": True}
    assert world.clients["koji"].session.getBuildTarget("f23-candidate") is None
    f23_tags = set(config.release("f23").tags.values())
    assert {name: locked for name, locked in after["tags"] if name in f23_tags} == dict.fromkeys(f23_tags, True)
    comment = BUG_COMMENT.format(name="Fedora 23", date=EOL_DAY)
    for bug in F23_BUGS:
        assert after["bugs"][bug] == ("CLOSED", "EOL")
        assert world.clients["bugzilla"].client.getbug(bug).getcomments()[-1]["text"] == comment
        assert after["comments"][bug] == before["comments"][bug] + 1
    assert after["bugs"][1300104] == ("CLOSED", "ERRATA")

    # ostree: both f23 refs end-of-life (the one with an f24 twin told to rebase), signed, archived
    head = world.repo.show(F23_REFS[0])
    assert head.metadata["ostree.endoflife"].startswith(f"Fedora 23 is end of life (EOL) since {EOL_DAY}")
    assert head.metadata["ostree.endoflife-rebase"] == F24_REF
    assert head.parent == before["refs"][F23_REFS[0]]
    assert world.signer.commit_signed(world.repo.path, head.checksum)
    assert "ostree.endoflife-rebase" not in world.repo.show(F23_REFS[1]).metadata
    assert after["archive_repo"] == {ref: after["refs"][ref] for ref in F23_REFS}
    assert world.repo.summary_current() and world.signer.summary_signed(world.repo.path)

    # mirror: the f23 trees moved whole into the archive, the rest stayed
    for path in F23_TREES:
        assert not (world.master / path).exists()
    moved = {p: h for p, h in before["master"].items() if p.startswith(F23_TREES)}
    assert {p: h for p, h in after["archive"].items() if p in moved} == moved
    ostree = ("linux/atomic", f"{config.mirror.ostree}")  # the shared repository (checked below) and its parent
    lists = ("fullfiletimelist-fedora", "imagelist-fedora")  # the downstream mirrors' file lists, kept by the syncs
    assert {p: h for p, h in after["master"].items() if not p.startswith((*ostree, *lists))} == {
        p: h for p, h in before["master"].items() if not p.startswith((*F23_TREES, *lists))
    }
    listed = (world.master / lists[0]).read_text()
    assert not any(f"\t{path}/" in listed for path in F23_TREES)  # the moved trees are no longer listed
    # the released repository, EOL commits included, carried to the mirror where clients pull it
    assert OSTreeRepo(world.master / config.mirror.ostree).refs() == after["refs"]

    # the bus: one EOL message, after every step, saying what was done
    new = [m for m in bus(world) if (m["topic"], m["msg_id"]) not in set(before["bus"])]
    eol = [m for m in new if m["topic"] == EOL_TOPIC]
    assert len(eol) == 1
    body = eol[0]["msg"]
    assert (body["release"], body["name"], body["date"]) == ("f23", "Fedora 23", EOL_DAY)
    assert body["steps"] == [key(s) for s in work]
    assert new[-1]["topic"] == EOL_TOPIC  # last: after the PDC and Bugzilla change messages
    assert (world.archive / "eol" / "f23.json").is_file()

    # nothing of Fedora 24 touched
    assert f24_part(after) == f24_part(before)

    # a second run: an empty plan, nothing to do, no message
    again, again_tis = run({"release": "f23", "dry_run": False, "eol_date": EOL_DAY})
    assert str(again.state) == "success", states(again_tis)
    assert plan_of(again) == []
    assert states(again_tis) == {
        "plan": ["success"],
        "go_ahead": ["success"],
        "approve": ["skipped"],  # nothing to approve: no question asked
        "step": ["skipped"],
        "publish_eol": ["skipped"],
    }
    assert snapshot(world) == after

    # every task of the finished first run, run again: each step already done, no second message
    for n, step in enumerate(work):
        task = EOLStepOperator(task_id=f"rerun_{n}", release="f23", key=key(step), steps=[step])
        assert [o["changed"] for o in task.execute({})] == [False]
    publish = EOLPublishOperator(task_id="rerun_publish", release="f23", plan=plan)
    assert publish.execute({})["changed"] is False
    assert snapshot(world) == after


@pytest.mark.timeout(600)
def test_eol_rejected_changes_nothing_and_says_who_rejected_it(eol_world: World, airflow_api: Any) -> None:
    world = eol_world
    before = snapshot(world)
    answer = Answerer(airflow_api, "eol", "approve", "Reject", look=lambda: snapshot(world))
    dag_run, tis = run({"release": "f23", "dry_run": False, "eol_date": EOL_DAY}, answer)
    assert str(dag_run.state) == "success", states(tis)
    assert answer.question is not None and answer.question["task_instance"]["state"] == "awaiting_input"
    assert answer.looked == before
    plan = plan_of(dag_run)
    assert len(plan) == 18
    assert states(tis) == {
        "plan": ["success"],
        "go_ahead": ["success"],
        "approve": ["success"],
        "step": ["skipped"],
        "publish_eol": ["skipped"],
    }
    # the rejection, and who made it, as the API and the approve task's XCom record it
    detail = airflow_api.get(f"/api/v2/dags/eol/dagRuns/{dag_run.run_id}/taskInstances/approve/-1/hitlDetails")
    assert detail["chosen_options"] == ["Reject"] and detail["responded_by_user"]["name"] == "admin"
    decision = xcom_of(dag_run, "approve", "decision")
    assert (decision["approved"], decision["by"]) == (False, "admin")
    assert decision["text"].startswith("rejected by admin at ")

    after = snapshot(world)
    assert after == before
    assert after["pdc"]["fedora-23"] is True and ("f23-candidate", "f23", "f23-updates-candidate") in after["targets"]
    assert not any(locked for name, locked in after["tags"] if name.startswith("f23"))
    assert all(after["bugs"][b][0] != "CLOSED" for b in F23_BUGS)
    assert all((world.master / path).is_dir() for path in F23_TREES)
    assert not any(topic == EOL_TOPIC for topic, _ in after["bus"])


def test_an_unknown_release_fails_the_plan_naming_it(eol_world: World) -> None:
    world = eol_world
    before = snapshot(world)
    dag_run, tis = run({"release": "f99", "dry_run": False})
    assert str(dag_run.state) == "failed"
    assert states(tis)["plan"] == ["failed"]
    assert tis["plan"][0].try_number == 1  # permanent: failed at once, not retried
    assert states(tis)["approve"] == ["upstream_failed"] and states(tis)["publish_eol"] == ["upstream_failed"]
    assert snapshot(world) == before


def key(step: dict[str, Any]) -> str:
    return step_from_dict(step).key
