"""
# masher_start — Bodhi 2's push request, split into one updates_push run per compose

In 2016 `bodhi-push` published one fedmsg message, **`bodhi.masher.start`**, naming every update of a push by
its title (the builds' NVRs joined by spaces), for every release and request at once:
`{"updates": ["glibc-2.23.1-8.fc24", ...], "resume": false, "agent": "bowlofeggs"}`. Bodhi 2's masher then
made one compose per release and request. This DAG plays that part (docs/bodhi-handshake.md §1): the listener
triggers it with `{"push_id": "<message id>", "updates": [titles], "resume": false, "agent": ...}`.

## Tasks
1. `composes` — each title's update read from Bodhi (`bodhi_default`, read only), grouped per release and
   request: security composes first, then stable before testing. An update Bodhi does not know, or one that is
   not requested for testing or stable of a configured release, fails the run at once naming it.
2. `push` — one `updates_push` run per compose (mapped, named by the compose's repo), with the conf Bodhi's
   `bodhi.compose.composing` would have given it; its run id is derived from this run's.

## Reruns
Read-only until the triggers, and a trigger whose `updates_push` run exists already is skipped: clearing
`push` (or the whole run) never starts a push twice. `resume` is accepted for Bodhi 2's sake: every
`updates_push` run resumes what an earlier run of its compose left, whatever it says.
"""

from __future__ import annotations

from datetime import datetime

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import DAG, Param
from operators.masher import MasherComposesOperator

from relengotron.airflow.dag_defaults import BODHI_UPDATE, PUSH_ID, retry_defaults

with DAG(
    dag_id="masher_start",
    description="Bodhi 2's masher.start: one updates_push run per compose (release and request)",
    doc_md=__doc__,
    schedule=None,
    start_date=datetime(2016, 1, 1),
    catchup=False,
    max_active_runs=4,
    render_template_as_native_obj=True,
    tags=["releng", "push", "bodhi2"],
    default_args=retry_defaults(),
    params={
        "push_id": Param(**PUSH_ID, title="Push id", description="The masher.start message's id."),
        "updates": Param(type="array", minItems=1, items=BODHI_UPDATE, title="Update titles"),
        "resume": Param(False, type="boolean", title="Resume (Bodhi 2's flag)"),
        "agent": Param(None, type=["null", "string"], title="Agent"),
    },
) as dag:
    composes = MasherComposesOperator(
        task_id="composes", push_id="{{ params.push_id }}", titles="{{ params.updates }}", agent="{{ params.agent }}"
    )
    TriggerDagRunOperator.partial(
        task_id="push",
        trigger_dag_id="updates_push",
        skip_when_already_exists=True,
        map_index_template="{{ task.conf['repo'] }}",
    ).expand_kwargs(composes.output)
