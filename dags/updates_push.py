"""
# updates_push — push one Bodhi compose: its updates' builds to the mirror, and the artifacts they change

Triggered (through the listener) by Bodhi's `bodhi.compose.composing` message — one per compose, that is per
release and request — or by `masher_start` for Bodhi 2's `bodhi.masher.start`. The handshake is
docs/bodhi-handshake.md: releng-o-tron reads the compose's updates from Bodhi, moves their tags as Bodhi's
composer does, mashes the updates repository, recomposes exactly the artifacts whose package manifest the push
changes, tests, signs and releases each one on its own, syncs what passed to the master mirror in one go and
tells Bodhi how it went (`relengotron.push.complete`); Bodhi then finishes the push. An artifact whose test fails
is **held back**: never synced, reported, and the rest of the push goes on. A sync that fails fails the run,
and the report says so: nothing is claimed released that did not reach the mirror.

## Conf (checked by the Params when the run is created: bad conf fails at once, naming the field)
`{"push_id": "<Bodhi's message id>", "repo": "f24-updates" | "f24-updates-testing",
  "updates": ["glibc-2.23.1-8.fc24", "curl-7.47.1-6.fc24 libcurl-7.47.1-6.fc24"], "agent": "bowlofeggs"}` —
the compose as Bodhi names it: its Koji tag (the release's stable or testing tag) and each update's build NVRs
joined by spaces. Optional: `dry_run` (default false: the syncs only list what they would change and no message
is published — everything up to the staging tree still happens), `poll_interval` (seconds between looks at
Koji and ResultsDB; default 30).

## Tasks
1. `wait_turn` — one push per release and request at a time: takes the lease of this release and request
   (`<staging>/.relengotron/locks/updates_push-<release>-<request>.json`), waiting (reschedule mode, no worker
   slot held) while another run holds it. `end_turn` (a teardown) gives the lease back however the run ends; a
   lease whose run has finished is taken over.
2. `updates` — the compose's updates as Bodhi describes them (`bodhi_default`, read only), checked against the
   compose. `tag_updates` — Bodhi's tag moves: each build from the release's candidate (or testing) tag into the
   request's tag, pending tags removed (one Koji multicall; nothing sent when done already).
3. `mash` — the request's Koji tag (signed RPMs only) into the updates repositories in staging, as Fedora's
   mirrors serve them: `updates/[testing/]<version>/<arch>` with its `debug/` repository, and `…/SRPMS`;
   incremental (only RPMs new to the repository are fetched); updateinfo is the repository's (every advisory
   with a build in it: earlier pushes' carried); the release's comps as group metadata; each repomd.xml signed.
4. `plan` — ONE task: which artifact targets the push changes (PDC's package lists in pages, Koji's latest
   builds, what was released), and why the others are skipped. Testing pushes compose no artifacts.
5. One mapped task group per registered artifact kind (`ami`, `gce`, `installer-iso`, `ostree`, `pxe2live`;
   a new kind gets its own: docs/artifact-kinds.md), one map index per artifact target, named by the target
   (`<kind>_targets` hands each group its own): `compose` (skipped when the plan says unchanged; writes a
   candidate only, never anything synced; images wait for their Koji task deferred) → `announce`
   (`relengotron.artifact.composed`: the test system runs its tests) → `tests` (counting only results
   submitted since this compose; a FAILED test fails it: held back) → `sign` → `promote` (the candidate
   becomes the released artifact in the staging tree).
6. `approve` — skipped (asking nothing) unless the release configuration's `approvals.frozen_stable_pushes`
   is on and this is a stable push of a release whose `state` is `frozen`: then it waits for a release
   engineer's approval (Airflow's human-in-the-loop `ApprovalOperator`: the updates and each artifact
   target's decision are in the question; answer on the task's *Required actions* page or with `PATCH
   /api/v2/dags/updates_push/dagRuns/{run_id}/taskInstances/approve/-1/hitlDetails` `{"chosen_options":
   ["Approve"]}`). **Reject**, or nobody answering within 24 hours: `sync` and `website` are skipped, nothing
   reaches the mirror, and the report tells Bodhi the push failed, naming who rejected it (the updates keep
   their request for a later push). See docs/operations.md.
7. `sync` — ONE sync of what the push changed (each repository's difference with the mirror's copy, from
   their mash records; the released artifacts of the release, the new objects of every OSTree ref the mirror
   lacks) to the master mirror (content, metadata, indexes, deletions, the downstream file lists
   `fullfiletimelist-<module>`/`imagelist-<module>`, verification of the touched metadata), under the staging
   lock: its cost follows the push, not the size of the mirror. A failure fails the run (after its retries)
   and leaves the mirror's metadata as it was.
8. `report` → `publish_released` (one `relengotron.artifact.released` per artifact released, never twice for
   one push) and `publish_complete` (`relengotron.push.complete`: each update `pushed`, `held-back` with the
   artifacts that hold it back and why, or `failed` with the reason — Bodhi finishes its push with it). The
   report runs however the push went: a push that did not reach the mirror is reported `failed`.
9. `website` — productmd `images.json` and the release's download page, synced; only after a good sync.
10. `check` — the run's verdict, in its log and XCom: fails naming every held-back artifact (the run shows red
   when something needs on-call). A push a release engineer **rejected** at `approve` ends **green**: the
   rejection is a decision carried out, not a fault of the pipeline, and `check` says so — "The push was rejected
   by NAME at T: nothing reached the master mirror, and Bodhi was told the push failed …". A push rejected
   because **nobody answered** within 24 hours ends **red** ("nobody answered the approval: …"): nobody
   decided, its updates did not go out, someone has to look.

## When something fails — resuming a push
Transient failures (Bodhi, Koji, PDC, ResultsDB, the bus, the compose or mirror host unreachable; results of
this compose not in yet) are retried with exponential backoff; anything else fails the task at once naming the
item.
- **Rerun one held-back or failed artifact** once it is fixed (a waiver given, a flaky test rerun): in the grid
  open the artifact's kind's group (`ostree`, `installer-iso`, `ami`…), pick the map index named by the
  artifact, and *Clear* the failed task with *Downstream* checked. Its later steps, `sync`, `report`, the messages,
  `website` and `check` run again. Every task is idempotent: the other artifacts are not redone, an image task is
  not submitted twice, what was synced is not copied again, an artifact announced before is not announced again;
  `push.complete` is published again with the new outcome, and Bodhi finishes what it had not.
- **Resume a failed sync** (the mirror host was down, the disk full): once fixed, *Clear* `sync` with
  *Downstream*: the sync completes, the report says `complete`, Bodhi finishes the push.
- **Rerun the whole push**: trigger a new run with the same conf. It plans again from what is released now, so
  released artifacts come out "unchanged" and only the rest is done.
- **A lease left behind** (a run deleted before `end_turn` ran): delete the lease file named in the waiting
  `wait_turn`'s log.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, Param, TriggerRule, XComArg, task, task_group
from operators.bus_publish import BusPublishOperator
from operators.compose import ArtifactComposeOperator
from operators.mash import MashOperator
from operators.push import (
    AnnounceReleasedOperator,
    PromoteArtifactOperator,
    PushApprovalOperator,
    PushCheckOperator,
    PushPlanOperator,
    PushReportOperator,
    PushTurnReleaseOperator,
    PushUpdatesOperator,
    SignArtifactOperator,
    SyncOperator,
    TagUpdatesOperator,
)
from operators.website import WebsiteOperator
from sensors.push_turn import PushTurnSensor
from sensors.taskotron import TaskotronResultSensor

from relengotron.airflow.dag_defaults import BODHI_UPDATE, PUSH_ID, RELEASE_ID, artifact_kinds, retry_defaults

ITEM_LABEL = "{{ task.item['label'] }}"
KINDS = artifact_kinds()  # one task group per registered artifact kind (docs/artifact-kinds.md)

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
        "push_id": Param(**PUSH_ID, title="Push id", description="Bodhi's id of this compose (its message's)."),
        "repo": Param(**RELEASE_ID, title="Repo", description="The compose's Koji tag, e.g. f24-updates-testing."),
        "updates": Param(
            type="array",
            minItems=1,
            items=BODHI_UPDATE,
            title="Updates",
            description="Each update of the compose as Bodhi names it: its build NVRs joined by spaces.",
        ),
        "agent": Param(None, type=["null", "string"], title="Agent", description="Who started the push."),
        "dry_run": Param(False, type="boolean", title="Dry run of the syncs (no message)"),
        "poll_interval": Param(30, type="number", minimum=0.1, title="Seconds between looks at Koji/ResultsDB"),
    },
) as dag:
    turn = PushTurnSensor(task_id="wait_turn", mode="reschedule", poke_interval=30, timeout=12 * 3600, retries=0)
    updates = PushUpdatesOperator(task_id="updates")
    tagged = TagUpdatesOperator(task_id="tag_updates", updates=updates.output)
    mash = MashOperator(task_id="mash", updates=updates.output)
    plan = PushPlanOperator(task_id="plan", updates=updates.output)

    def artifact_steps(item, compose):
        announce = BusPublishOperator(
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
            release=compose.output["release"],
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

    def targets_of(kind: str):
        @task(task_id=f"{kind}_targets", retries=0)
        def targets(planned: dict) -> list:
            """The plan's targets of this kind: the map indexes of its task group."""
            from relengotron.push import targets_by_kind

            return targets_by_kind(planned["items"], KINDS)[kind]

        return targets(plan.output)

    def artifact_group(item, kind: str) -> None:
        compose = ArtifactComposeOperator(
            task_id="compose",
            kind=kind,
            item=item,
            poll_interval="{{ params.poll_interval }}",
            map_index_template=ITEM_LABEL,
        )
        artifact_steps(item, compose)

    groups = [
        task_group(group_id=kind)(artifact_group).partial(kind=kind).expand(item=targets_of(kind)) for kind in KINDS
    ]
    promoted = [XComArg(dag.get_task(f"{kind}.promote")) for kind in KINDS]

    approve = PushApprovalOperator(
        task_id="approve",
        plan=plan.output,
        mash=mash.output,
        trigger_rule=TriggerRule.ALL_DONE,  # held-back artifacts do not stop the rest of the push
    )
    sync = SyncOperator(
        task_id="sync",
        plan=plan.output,
        mash=mash.output,
        promoted=promoted,
        dry_run="{{ params.dry_run }}",
        trigger_rule=TriggerRule.ALL_DONE,  # held-back artifacts do not stop the rest of the push
    )
    report = PushReportOperator(
        task_id="report",
        updates=updates.output,
        plan=plan.output,
        promoted=promoted,
        mash=mash.output,
        sync=sync.output,
        trigger_rule=TriggerRule.ALL_DONE,  # however the push went: Bodhi is told
    )
    publish_released = AnnounceReleasedOperator.partial(
        task_id="publish_released", map_index_template="{{ task.body['label'] }}"
    ).expand(body=report.output)
    publish_complete = BusPublishOperator(
        task_id="publish_complete", modname="relengotron", topic="push.complete", body=report.output["complete"]
    )
    website = WebsiteOperator(task_id="website", dry_run="{{ params.dry_run }}", trigger_rule=TriggerRule.NONE_FAILED)
    check = PushCheckOperator(task_id="check", report=report.output["outcome"], trigger_rule=TriggerRule.NONE_FAILED)
    end_turn = PushTurnReleaseOperator(task_id="end_turn")

    turn >> updates >> tagged >> mash >> plan >> groups >> approve >> sync
    mash >> approve
    approve >> website  # a refused push: sync and website skipped, nothing reaches the mirror
    groups >> report
    [publish_released, publish_complete] >> website >> check
    sync >> website  # the website lists what reached the mirror: never after a failed sync
    check >> end_turn.as_teardown(setups=turn)
