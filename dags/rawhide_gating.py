"""
### Rawhide gating

Builds land in the release's **pending** tag (Rawhide: `rawhide-pending`); Taskotron checks them and posts
results to ResultsDB. This DAG moves each build on according to the gating policy (decision context
`rawhide_gating`, product version the release's `pdc_release`, the policy file named by the release
configuration):

* **passes** → moved into the release's build tag (`rawhide`) — *promoted*;
* **fails** → moved into the **quarantine** tag (`rawhide-badnewsbears`) — *quarantined*;
* **results missing** → stays where it is — *waiting*, reported.

With `include_quarantined` (the default) the quarantine's builds are gated again, so a quarantined build
whose checks later pass is promoted. A quarantined build that still fails stays there silently (its packager
was told when it went in). Tag names come from the release configuration (roles `pending`, `quarantine`,
`build`; without the first two: `<build>-pending`, `<build>-badnewsbears`).

**Trigger** per tag event (`{"builds": ["nvr"]}`) or per batch (`{}`: every build at the gate). Conf:
`release` (default `rawhide`), `builds` (NVRs; empty: all), `include_quarantined` (default true),
`checks_timeout` (seconds to wait for results; default 2 h), `checks_poll_interval` (seconds). A bad conf
fails the run at once, naming the field. One run at a time: each run lists the gate when it starts.

**Tasks**

1. `list_builds` — the builds at the gate, with each one's package, Koji owner and current tag.
2. `wait_for_checks` — mapped per build, each map index named by its NVR: a deferrable
   `TaskotronResultSensor` waits (in the triggerer) until ResultsDB has the required results. It returns the
   answers even when a test failed (`fail_on_failed=False`); past `checks_timeout` it fails saying
   "results missing" and which — the build is then *waiting*, never counted as failed.
3. `decide` — runs when every sensor is done (even failed ones): decides about all builds from the results
   ResultsDB holds now (one batched query); returns the moves, and the whole plan as the XCom `plan`.
4. `move_builds` — `KojiTagOperator(action="move")`, mapped per *(from tag, to tag)* group, each group one
   batch: pending → build tag, quarantine → build tag, pending → quarantine. Batched rather than one task
   per build because a Koji tag operation is cheap, one login serves the whole group, a batch of hundreds of
   builds does not become hundreds of task instances, and the operator is idempotent per build — a build
   already in its target tag counts as done, a move interrupted half-way is finished — so rerunning a group
   redoes only what is missing.
5. `announce` → `publish` — one fedmsg message per outcome with builds (`relengotron.<release>.gating.promoted`
   / `.quarantined` / `.waiting`), `publish` mapped and each map index named by its topic. Each message names
   the builds with their `packages` and the packagers' `usernames` (Koji owners), so that FMN notifies them.
   Runs only after every move succeeded (nothing is announced that did not happen). Messages carry the run
   id, so consumers can drop a duplicate.

**Reruns (on-call)**

* *One build* (e.g. its results arrived after the sensor gave up): clear `wait_for_checks` at that build's
  map index (its NVR) with downstream; `decide` decides again from the newest results and the moves finish
  what is left. Or trigger a new run with `{"builds": ["<nvr>"]}` — the simplest.
* *A failed move*: clear `move_builds` (the failed group's map index) with downstream. Builds already moved
  are left alone. Rerunning a move of a finished run changes nothing and publishes nothing (publishing is a
  separate task; clearing `publish` publishes again — delivery is at least once).
* *The whole run*: trigger a new run with the same conf. It lists the gate again: builds already promoted or
  quarantined are no longer pending, so nothing happens to them twice.

Transient failures (Koji, ResultsDB or the bus unreachable, 5xx) are retried with exponential backoff;
permanent ones (unknown release or build, a Koji refusal) fail the task at once with a message naming it.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import DAG, Param, TriggerRule, task
from operators.fedmsg_publish import FedmsgPublishOperator
from operators.gating_steps import GatingDecideOperator, GatingListOperator
from operators.koji_tag import KojiTagOperator
from sensors.taskotron import TaskotronResultSensor

from relengotron.airflow.dag_defaults import NVR, RELEASE_ID, retry_defaults

with DAG(
    dag_id="rawhide_gating",
    description="Move builds from the pending tag to the release or to quarantine, as their checks say",
    schedule=None,
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["releng", "gating", "rawhide"],
    default_args=retry_defaults(),
    render_template_as_native_obj=True,
    params={
        "release": Param("rawhide", **RELEASE_ID, description="Release id in the release configuration"),
        "builds": Param(
            [],
            type="array",
            items=NVR,
            uniqueItems=True,
            description="NVRs to gate; empty: every build at the gate",
        ),
        "include_quarantined": Param(
            True, type="boolean", description="Gate the quarantine tag's builds again (promote those that pass now)"
        ),
        "checks_timeout": Param(
            7200, type="integer", minimum=1, description="Seconds to wait for each build's results"
        ),
        "checks_poll_interval": Param(
            60, type="number", exclusiveMinimum=0, description="Seconds between ResultsDB polls"
        ),
    },
) as dag:

    @task(trigger_rule=TriggerRule.NONE_FAILED)
    def announce(plan: dict[str, Any]) -> list[dict[str, Any]]:
        """Glue: the plan's messages, one per outcome with builds (only once every move succeeded)."""
        return plan["messages"]

    candidates = GatingListOperator(
        task_id="list_builds",
        release="{{ params.release }}",
        builds="{{ params.builds }}",
        include_quarantined="{{ params.include_quarantined }}",
    )
    checks = TaskotronResultSensor.partial(
        task_id="wait_for_checks",
        decision_context="rawhide_gating",
        release="{{ params.release }}",
        fail_on_failed=False,
        wait_timeout="{{ params.checks_timeout }}",
        poll_interval="{{ params.checks_poll_interval }}",
        map_index_template="{{ task.subjects['item'] }}",
    ).expand(subjects=candidates.output)
    moves = GatingDecideOperator(
        task_id="decide",
        release="{{ params.release }}",
        candidates=candidates.output,
        trigger_rule=TriggerRule.ALL_DONE,
    )
    checks >> moves
    moved = KojiTagOperator.partial(
        task_id="move_builds",
        action="move",
        map_index_template="{{ task.from_tag }} → {{ task.tag }}",
    ).expand_kwargs(moves.output)
    messages = announce(moves.output["plan"])
    moved >> messages
    FedmsgPublishOperator.partial(task_id="publish", map_index_template="{{ task.topic }}").expand_kwargs(messages)
