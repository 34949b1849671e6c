"""
### Rawhide gating

Builds land in the release's **pending** tag (Rawhide: `rawhide-pending`); Taskotron checks them and posts
results to ResultsDB. This DAG moves each build on according to the gating policy (decision context
`rawhide_gating`, product version the release's `pdc_release`, the policy file named by the release
configuration):

* **passes** → moved into the release's build tag (`rawhide`) — *promoted*;
* **fails** → moved into the **quarantine** tag (`rawhide-badnewsbears`) — *quarantined*;
* **results missing** → stays where it is — *waiting*, reported.

Every build is gated **on its own**: as soon as its own results are in it is decided, moved and announced,
whatever the other builds of the run (or other runs) still wait for — one build whose results never come holds
up nobody. Runs do not wait for each other either (up to 16 at a time): a build listed by two runs is gated by
the first that gets to it; the other finds it gated and announces nothing.

With `include_quarantined` (the default) the quarantine's builds are gated again, so a quarantined build
whose checks later pass is promoted. A quarantined build that still fails stays there silently (its packager
was told when it went in). Tag names come from the release configuration (roles `pending`, `quarantine`,
`build`; without the first two: `<build>-pending`, `<build>-badnewsbears`).

**Trigger** per tag event (`{"builds": ["nvr"]}`) or per batch (`{}`: every build at the gate). Conf:
`release` (default `rawhide`), `builds` (NVRs; empty: all), `include_quarantined` (default true),
`checks_timeout` (seconds to wait for a build's results; default 2 h), `checks_poll_interval` (seconds). A bad
conf fails the run at once, naming the field.

**Tasks**

1. `list_builds` — the builds at the gate, with each one's package, Koji owner and current tag.
2. `gate` — a mapped task group, one map index per build, named by its NVR:
   `wait_for_checks` (a deferrable `TaskotronResultSensor`: waits in the triggerer until ResultsDB has the
   build's required results; past `checks_timeout` it fails saying "results missing" — the build is then
   *waiting*, never counted as failed) → `decide` (runs however the wait ended: where the build is now, its
   verdict from the newest results, its move — idempotent) → `publish` (one fedmsg message for its outcome,
   `relengotron.<release>.gating.promoted` / `.quarantined` / `.waiting`, naming the build with its package
   and its packager's username so that FMN notifies them; skipped when there is nothing to announce).

**Reruns (on-call)**

* *One build* (e.g. its results arrived after its wait gave up): clear its `gate` map index (its NVR) with
  downstream — or trigger a new run with `{"builds": ["<nvr>"]}`, the simplest.
* *A failed move*: clear `decide` at that build's map index with downstream. A build already moved is left
  alone and nothing is announced twice (clearing `publish` publishes again — delivery is at least once;
  messages carry the run id).
* *The whole run*: trigger a new run with the same conf. It lists the gate again: builds already promoted or
  quarantined are no longer pending, so nothing happens to them twice.

Transient failures (Koji, ResultsDB or the bus unreachable, 5xx) are retried with exponential backoff;
permanent ones (unknown release or build, a Koji refusal) fail the task at once with a message naming it.
"""

from __future__ import annotations

from airflow.sdk import DAG, Param, TriggerRule, task_group
from operators.bus_publish import BusPublishOperator
from operators.gating_steps import GateBuildOperator, GatingListOperator
from sensors.taskotron import TaskotronResultSensor

from relengotron.airflow.dag_defaults import NVR, RELEASE_ID, retry_defaults

NVR_LABEL = "{{ task.candidate['nvr'] }}"

with DAG(
    dag_id="rawhide_gating",
    description="Move builds from the pending tag to the release or to quarantine, each as soon as its checks say",
    schedule=None,
    catchup=False,
    max_active_runs=16,  # runs never queue behind one whose builds wait for results
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
    candidates = GatingListOperator(
        task_id="list_builds",
        release="{{ params.release }}",
        builds="{{ params.builds }}",
        include_quarantined="{{ params.include_quarantined }}",
    )

    @task_group(group_id="gate")
    def gate(candidate):
        checks = TaskotronResultSensor(
            task_id="wait_for_checks",
            subjects=candidate,
            decision_context="rawhide_gating",
            release="{{ params.release }}",
            fail_on_failed=False,
            wait_timeout="{{ params.checks_timeout }}",
            poll_interval="{{ params.checks_poll_interval }}",
            map_index_template="{{ task.subjects['item'] }}",
        )
        decided = GateBuildOperator(
            task_id="decide",
            release="{{ params.release }}",
            candidate=candidate,
            trigger_rule=TriggerRule.ALL_DONE,  # a wait that gave up still decides: "waiting"
            map_index_template=NVR_LABEL,
        )
        publish = BusPublishOperator(
            task_id="publish",
            topic=decided.output["topic"],
            body=decided.output["body"],
            map_index_template="{{ task.topic }}",
        )
        checks >> decided >> publish

    gate.expand(candidate=candidates.output)
