"""
# updates_push — push a batch of Bodhi updates to a release

Triggered by Bodhi (through the listener) once it has tagged the updates' builds into the request's Koji tag.
Mashes the updates repository, recomposes exactly the artifacts whose package manifest the push changes,
tests, signs and releases each one on its own, syncs what passed to the master mirror in one go, tells the
bus what happened and refreshes the download website. An artifact whose test fails is **held back**: never
synced, reported, and the rest of the push goes on.

## Conf (checked by the Params when the run is created: bad conf fails at once, naming the field)
`{"push_id": "2016-06-14.0", "release": "f24", "request": "stable" | "testing",
  "updates": [{"alias": "FEDORA-2016-1a2b3c", "builds": ["glibc-2.23.1-8.fc24"], "type": "bugfix",
               "severity": "low", "bugs": [1234]}]}`
Optional: `dry_run` (default false: the sync and the website sync only list what they would change, and no
release message is published — everything up to the staging tree still happens), `poll_interval` (seconds
between looks at Koji and ResultsDB; default 30).

## Tasks
1. `wait_turn` — one push per release and request at a time: takes the lease of this release and request
   (`<staging>/.relengotron/locks/updates_push-<release>-<request>.json`), waiting (reschedule mode, no worker
   slot held) while another run holds it. Pushes of other releases, or of the other request, hold other
   leases and run in parallel. `end_turn` (a teardown) gives the lease back however the run ends; a lease
   whose run has finished is taken over.
2. `mash` — the request's Koji tag (signed RPMs only) into `updates/[testing/]<version>/<arch>` in staging,
   with updateinfo; repomd.xml signed.
3. `plan` — ONE task: which artifact targets the push changes (PDC's package lists in pages, Koji's latest
   builds, what was released), and why the others are skipped. Testing pushes compose no artifacts.
4. `ostree` and `images` — a mapped task group each, one map index per artifact target, named by the target
   (`fedora/24/x86_64/atomic-host`, `Fedora-Cloud-Base-24.x86_64.raw.xz`):
   `compose` (skipped when the plan says unchanged; writes a candidate only — the shared ostree repository,
   or `<staging>/.relengotron/candidates` — never anything synced; images wait for their Koji task
   deferred) → `announce` (`relengotron.artifact.composed`: the test system runs its tests) → `tests`
   (TaskotronResultSensor, counting only results submitted since this compose; a FAILED test fails it: the
   artifact is held back) → `sign` → `promote` (the
   candidate becomes the released artifact in the staging tree, only if the results are about this
   compose).
5. `sync` — ONE sync of the updates repositories and of every released artifact of the release to the master
   mirror (content, metadata, indexes, deletions, verification), under the staging lock. Candidates are never
   in the synced tree.
6. `report` → `publish_released` (one `relengotron.artifact.released` per artifact released) and
   `publish_complete` (`relengotron.push.complete`: each update's outcome — `complete`, or `held-back` with
   the artifacts that hold its builds back; Bodhi finishes its push with it).
7. `website` — productmd `images.json` and the release's download page (checksums, signature links) from
   the public staging tree, synced.
8. `check` — fails naming every held-back artifact (so the run shows red when something needs on-call),
   succeeds when everything the push touched is released.

## When something fails
Transient failures (Koji, PDC, ResultsDB, the bus, the compose host unreachable; results of this compose
not in yet) are retried with exponential backoff; anything else fails the task at once naming the item.
- **Rerun one held-back or failed artifact** once it is fixed (a waiver given, a new build pushed, a flaky
  test rerun): in the grid open the group (`ostree` or `images`), pick the map index named by the artifact,
  and *Clear* the failed task with *Downstream* checked. Its later steps, `sync`, `report`, the messages,
  `website` and `check` run again (the lease is taken again by the same run). Every task is idempotent: the
  other artifacts are not redone, an image task is not submitted twice (its id is recorded beside the
  candidate; only a FAILED Koji task is replaced), what was synced is not copied again; the messages are
  published again (at least once: they carry `push_id` and `run_id`).
- **Rerun the whole push**: trigger a new run with the same conf. It plans again from what is released now, so
  released artifacts come out "unchanged" and only the rest is done.
- **A lease left behind** (a run deleted before `end_turn` ran): delete the lease file named in the waiting
  `wait_turn`'s log.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, Param, TriggerRule, XComArg, task, task_group
from operators.compose import ImageComposeOperator, OSTreeComposeOperator
from operators.fedmsg_publish import FedmsgPublishOperator
from operators.mash import MashOperator
from operators.push import (
    PromoteArtifactOperator,
    PushCheckOperator,
    PushPlanOperator,
    PushReportOperator,
    PushTurnReleaseOperator,
    SignArtifactOperator,
    SyncOperator,
)
from operators.website import WebsiteOperator
from sensors.push_turn import PushTurnSensor
from sensors.taskotron import TaskotronResultSensor

from relengotron.airflow.dag_defaults import PUSH_ID, RELEASE_ID, REQUEST, UPDATE, retry_defaults

ITEM_LABEL = "{{ task.item['label'] }}"

with DAG(
    dag_id="updates_push",
    description="Mash a push's updates, recompose/test/sign/release the artifacts it changes, sync, announce",
    doc_md=__doc__,
    schedule=None,
    start_date=datetime(2016, 1, 1),
    catchup=False,
    max_active_runs=8,  # pushes of different releases in parallel; one per release and request (wait_turn)
    render_template_as_native_obj=True,
    tags=["releng", "push"],
    default_args=retry_defaults(),
    params={
        "push_id": Param(**PUSH_ID, title="Push id", description="Bodhi's id of this push."),
        "release": Param(**RELEASE_ID, title="Release", description="e.g. f24"),
        "request": Param(**REQUEST, title="Request"),
        "updates": Param(
            type="array",
            minItems=1,
            items=UPDATE,
            title="Updates",
            description="[{alias, builds: [NVR], type, severity, bugs}], already tagged into the request's tag.",
        ),
        "dry_run": Param(False, type="boolean", title="Dry run of the syncs (no release message)"),
        "poll_interval": Param(30, type="number", minimum=0.1, title="Seconds between looks at Koji/ResultsDB"),
    },
) as dag:
    turn = PushTurnSensor(task_id="wait_turn", mode="reschedule", poke_interval=30, timeout=12 * 3600, retries=0)
    mash = MashOperator(task_id="mash")
    plan = PushPlanOperator(task_id="plan")

    def artifact_steps(item, compose):
        announce = FedmsgPublishOperator(
            task_id="announce",
            modname="relengotron",
            topic="artifact.composed",
            body=compose.output["announcement"],
            map_index_template="{{ task.body['label'] }}",
        )
        tests = TaskotronResultSensor(
            task_id="tests",
            subjects=compose.output["subject"],
            since=compose.output["since"],  # an earlier compose's results (the same item) do not count
            decision_context="artifact_release",
            release="{{ params.release }}",
            poll_interval="{{ params.poll_interval }}",
            wait_timeout=6 * 3600,
            # A failed test (AirflowFailException) and "results missing" (AirflowSensorTimeout) are never retried;
            # these retries are for the deferral itself: Airflow 3.3 can fail a deferred task as "killed
            # externally" when its trigger fires before the scheduler processed the deferral (apache/airflow#72716).
            retries=2,
            map_index_template="{{ task.subjects['label'] }}",
        )
        sign = SignArtifactOperator(task_id="sign", item=item, candidate=compose.output, map_index_template=ITEM_LABEL)
        promote = PromoteArtifactOperator(
            task_id="promote", item=item, candidate=compose.output, retries=8, map_index_template=ITEM_LABEL
        )
        compose >> announce >> tests >> sign >> promote

    @task_group(group_id="ostree")
    def ostree(item):
        artifact_steps(item, OSTreeComposeOperator(task_id="compose", item=item, map_index_template=ITEM_LABEL))

    @task_group(group_id="images")
    def images(item):
        compose = ImageComposeOperator(
            task_id="compose", item=item, poll_interval="{{ params.poll_interval }}", map_index_template=ITEM_LABEL
        )
        artifact_steps(item, compose)

    @task(task_id="ostree_targets", retries=0)
    def ostree_targets(planned: dict) -> list:
        """The plan's OSTree targets (the ``ostree`` group's map indexes)."""
        from relengotron.push import split_by_kind

        return split_by_kind(planned["items"])["ostree"]

    @task(task_id="image_targets", retries=0)
    def image_targets(planned: dict) -> list:
        """The plan's image targets (the ``images`` group's map indexes)."""
        from relengotron.push import split_by_kind

        return split_by_kind(planned["items"])["images"]

    groups = [ostree.expand(item=ostree_targets(plan.output)), images.expand(item=image_targets(plan.output))]
    promoted = [XComArg(dag.get_task("ostree.promote")), XComArg(dag.get_task("images.promote"))]

    sync = SyncOperator(
        task_id="sync",
        plan=plan.output,
        promoted=promoted,
        dry_run="{{ params.dry_run }}",
        trigger_rule=TriggerRule.ALL_DONE,  # held-back artifacts do not stop the rest of the push
    )
    report = PushReportOperator(
        task_id="report",
        plan=plan.output,
        promoted=promoted,
        mash=mash.output,
        sync=sync.output,
        trigger_rule=TriggerRule.ALL_DONE,  # runs after a held-back artifact too; needs the sync's result
    )
    publish_released = FedmsgPublishOperator.partial(
        task_id="publish_released",
        modname="relengotron",
        topic="artifact.released",
        map_index_template="{{ task.body['label'] }}",
    ).expand(body=report.output)
    publish_complete = FedmsgPublishOperator(
        task_id="publish_complete", modname="relengotron", topic="push.complete", body=report.output["complete"]
    )
    website = WebsiteOperator(task_id="website", dry_run="{{ params.dry_run }}", trigger_rule=TriggerRule.NONE_FAILED)
    check = PushCheckOperator(task_id="check", report=report.output["outcome"], trigger_rule=TriggerRule.NONE_FAILED)
    end_turn = PushTurnReleaseOperator(task_id="end_turn")

    turn >> mash >> plan >> groups >> sync
    mash >> sync
    [publish_released, publish_complete] >> website >> check
    check >> end_turn.as_teardown(setups=turn)
