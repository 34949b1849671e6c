"""A frozen release's stable push waits for a release engineer (``updates_push``'s ``approve``), end to end with
dag.test() against a whole sandbox, answered through Airflow's REST API (tests/integration/hitl_harness.py).

The sandbox's release configuration is put in the state a release engineer would during a freeze: Fedora 23
``state: frozen`` and ``approvals.frozen_stable_pushes: true`` (relengotron/config.py; docs/operations.md,
"Approval of stable pushes during a freeze"). Then the f23 stable push of sudo:

- waits in ``awaiting_input`` after its artifacts are promoted in staging, with nothing synced to the master
  mirror meanwhile; **rejected**, it ends with the master mirror exactly as it was, ``sync`` and ``website``
  skipped, a green run whose ``check`` says who rejected it, and Bodhi told the push failed with that reason
  (its ``relengotron.push.complete`` message, and Bodhi's comment on the update, whose request is kept);
- the same push again, **approved**: it goes on, the mirror gets the updates repository and the artifacts, and
  Bodhi is told the push is complete (the update goes stable).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hitl_harness import Answerer, api_server
from pushcheck import IMAGE_KINDS, TOPIC, PushWorld, bus, conf, open_push_world, states, tree
from test_dag_updates_push import SUDO, bodhi_update, run, xcom

from relengotron.artifacts import load_release_config
from relengotron.ostree.repo import OSTreeRepo
from relengotron_sandbox.testing import wait_for

pytestmark = pytest.mark.integration

PUSH_ID = "2016-06-20.0"  # one Bodhi compose: rejected once, then pushed again (Bodhi resumes a failed compose)
SUDO_PUSH = conf(PUSH_ID, "f23-updates", ["sudo-1.8.15-2.fc23"])
ATOMIC_F23 = "fedora/23/x86_64/atomic-host"


def freeze(world: PushWorld, release: str) -> PushWorld:
    """Edit the sandbox's release configuration (the file the ``relengotron_config`` Variable names) as releng
    would in a freeze: ``release``'s ``state: frozen`` and ``approvals: {frozen_stable_pushes: true}``; written
    beside and renamed into place. The world with the configuration as now loaded."""
    path = Path(world.endpoints["releng"]["config"])
    data = yaml.safe_load(path.read_text())
    data["releases"][release]["state"] = "frozen"
    data["approvals"] = {"frozen_stable_pushes": True}
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(yaml.safe_dump(data, sort_keys=False))
    tmp.replace(path)
    config = load_release_config(path)
    assert config.release(release).state == "frozen" and config.approvals.frozen_stable_pushes
    return PushWorld(world.endpoints, config, world.publisher)


@pytest.fixture
def frozen_world(airflow_connections: dict[str, Any], airflow_db: Path) -> Iterator[PushWorld]:
    with open_push_world(airflow_connections) as world:
        yield freeze(world, "f23")


@pytest.fixture
def airflow_api(airflow_db: Path) -> Iterator[Any]:
    """An api-server on the session's metadata database: where the release engineer answers."""
    with api_server() as airflow:
        yield airflow


def answered_run(answer: Answerer) -> tuple[Any, dict[str, list[Any]]]:
    """The sudo push, with ``answer`` answering its approval through the API meanwhile."""
    answer.start()
    try:
        return run(SUDO_PUSH)
    finally:
        answer.join()


def completes(world: PushWorld) -> list[dict[str, Any]]:
    """The ``relengotron.push.complete`` bodies of this push on the bus, oldest first."""
    return [m["msg"] for m in bus(world) if m["topic"] == TOPIC + "push.complete" and m["msg"]["push_id"] == PUSH_ID]


@pytest.mark.timeout(1800)
def test_a_frozen_stable_push_waits_rejected_changes_no_mirror_then_approved_is_published(
    frozen_world: PushWorld, airflow_api: Any
) -> None:
    world = frozen_world
    master_before = tree(world.master)
    assert not (world.master / "linux/updates/23").exists()

    # --- rejected ---------------------------------------------------------------------------------------------
    reject = Answerer(airflow_api, "updates_push", "approve", "Reject", look=lambda: tree(world.master), timeout=1500)
    rejected, tis = answered_run(reject)
    got = states(tis)
    # the question came while the run waited, with nothing on the mirror; it named the push and why it asked
    question = reject.question
    assert question is not None and question["task_instance"]["state"] == "awaiting_input"
    assert reject.looked == master_before
    assert question["subject"] == f"Push {PUSH_ID} of f23-updates: sync it to the master mirror?"
    assert question["options"] == ["Approve", "Reject"] and question["defaults"] == ["Reject"]
    body = question["body"]
    assert f"Push {PUSH_ID} of Fedora 23 (f23), stable request" in body and "sudo-1.8.15-2.fc23" in body
    assert "Fedora 23 (f23) is frozen and approvals.frozen_stable_pushes is on" in body
    plan = xcom(rejected, "plan")
    assert len(plan["items"]) == 5 and all(f"  - {i['label']}: {i['decision']}" in body for i in plan["items"])

    # a release engineer's rejection is a decision carried out: the run is green, and check says what happened
    assert str(rejected.state) == "success", got
    assert got["approve"] == ["success"] and got["sync"] == got["website"] == ["skipped"], got
    assert got["report"] == got["publish_complete"] == got["check"] == got["end_turn"] == ["success"], got
    assert got.get("publish_released", []) in ([], ["skipped"]), got
    decision = xcom(rejected, "approve", "decision")
    assert (decision["approved"], decision["by"]) == (False, "admin")
    said = xcom(rejected, "check")
    assert said.startswith(f"The push was {decision['text']}: nothing reached the master mirror")

    # nothing reached the master mirror: not the updates repository, not an artifact, not a file list
    assert tree(world.master) == master_before

    # Bodhi was told the push failed, and who refused it; the update keeps its request for the next push
    [told] = completes(world)
    assert (told["status"], told["synced"]) == ("failed", False)
    assert told["reason"] == (
        f"the push waited for a release engineer's approval before its sync and was {decision['text']}"
    )
    assert [(u["alias"], u["status"], u["reason"]) for u in told["updates"]] == [(SUDO, "failed", told["reason"])]
    assert told["artifacts"]["released"] == [] and len(told["artifacts"]["failed"]) == 5
    assert not [m for m in bus(world) if m["topic"] == TOPIC + "artifact.released"]

    def commented() -> dict[str, Any] | None:  # once Bodhi has read the message: a failed push only gets a comment
        found = bodhi_update(world, SUDO)
        return found if found["comments"] and "rejected by admin" in found["comments"][-1]["text"] else None

    update = wait_for("Bodhi to comment on the refused push", commented, 30)
    assert (update["status"], update["request"]) == ("testing", "stable")
    assert update["comments"][-1]["text"].startswith("This update could not be pushed to stable: the push waited")

    # --- the same push again, approved ------------------------------------------------------------------------
    before = tree(world.master)
    approve = Answerer(airflow_api, "updates_push", "approve", "Approve", look=lambda: tree(world.master), timeout=1500)
    approved, tis = answered_run(approve)
    got = states(tis)
    assert approve.question is not None and approve.question["task_instance"]["state"] == "awaiting_input"
    assert approve.looked == before  # asked again, and nothing synced while it waited
    assert str(approved.state) == "success", got
    assert got["approve"] == got["sync"] == got["website"] == got["check"] == ["success"], got
    assert xcom(approved, "approve", "decision")["text"].startswith("approved by admin at ")
    assert xcom(approved, "check") == "every artifact the push touched is released"

    # published: the updates repository, every f23 artifact on the master mirror
    assert (world.master / "linux/updates/23/x86_64/repodata/repomd.xml").is_file()
    assert (world.master / "linux/updates/23/x86_64/Packages/s/sudo-1.8.15-2.fc23.x86_64.rpm").is_file()
    images = {i["label"]: i["kind"] for i in plan["items"] if i["kind"] in IMAGE_KINDS}
    assert len(images) == 4
    for label, kind in images.items():
        assert (world.master / f"linux/releases/23/{kind}/x86_64/{label}").is_file(), label
    assert ATOMIC_F23 in OSTreeRepo(world.master / world.config.mirror.ostree).refs()

    # each image announced released once, now that it reached the mirror: the rejected run promoted them in
    # staging (this run's promotions moved nothing) and announced nothing
    announced = [m["msg"] for m in bus(world) if m["topic"] == TOPIC + "artifact.released"]
    assert sorted(m["label"] for m in announced) == sorted(images) and {m["push_id"] for m in announced} == {PUSH_ID}
    assert completes(world)[-1]["artifacts"]["released"] == [i["label"] for i in plan["items"] if i["label"] in images]
    # Bodhi was told the push is complete, and finished it
    assert [c["status"] for c in completes(world)] == ["failed", "complete"]
    assert completes(world)[-1]["updates"][0]["status"] == "pushed"
    update = wait_for(
        "Bodhi to finish the push", lambda: (u := bodhi_update(world, SUDO))["status"] == "stable" and u, 30
    )
    assert (update["status"], update["request"], update["pushed"]) == ("stable", None, True)
