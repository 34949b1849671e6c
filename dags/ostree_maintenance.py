"""
# ostree_maintenance — daily upkeep of the OSTree repositories

Runs every day (no catch-up). Two repositories: the **released** one (the staging tree's `mirror.ostree`,
which the sync carries to the master mirror and clients pull) and the shared **compose** repository
(`ostree.repo`, where composes merge their candidates; clients never pull it).

1. `refs` — lists the refs each configured release owns in the released repository (matched by its
   artifacts' ref templates, any arch and stream) and logs what a prune would delete now. Read-only.
   Skipped, with everything after it, while nothing was released yet.
2. `prune` — deletes what the retention policy (`ostree.retention`: `keep_days`, `keep_last`) lets go, in
   the released repository and then in the compose repository: walking each branch back from its head,
   commits are kept while they are among its last `keep_last` or younger than `keep_days`. A head and a
   tagged commit (`tags/<ref>/<version>`) are never deleted. Static deltas from or to a deleted commit go
   with it.
3. `finish_ref` — one mapped instance per release ref, named by the ref (`fedora/24/x86_64/atomic-host`):
   the head signed by the release's key and the static delta from its parent, where missing.
4. `summary` — the released repository's summary regenerated over every ref and delta and signed by the key
   of the newest maintained release (see `relengotron.ostree.maintenance`).
5. `sync` — the released repository carried to the master mirror (objects and deltas first, refs and
   summary after), so clients see the pruned history, the deltas and the new summary.

Every task looks before it writes: a second run the same day changes nothing. Runs never overlap, and every
write to the released repository holds the staging lock, so maintenance never races a push's promotion or
sync, nor an EOL carve-out.

## Parameters
- **dry_run** (default **false**, so the schedule does the work): when true, each task logs what it would
  do and writes nothing (`sync` lists what it would transfer).

## When a task fails
Transient failures are retried with exponential backoff; anything else (a tool that fails, a signature
that does not verify) fails the task at once, naming the repository and the ref or commit.
- **Rerun one ref:** open `finish_ref`, pick the failed map index (named by the ref), *Clear* it with
  *Downstream* checked so that `summary` and `sync` run again too.
- **Rerun everything:** trigger the DAG (optionally `{"dry_run": true}` first to see what it would do).
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, Param, TriggerRule
from operators.ostree import (
    OSTreeFinishRefOperator,
    OSTreePruneOperator,
    OSTreeRefsOperator,
    OSTreeSummaryOperator,
    OSTreeSyncOperator,
)

from relengotron.airflow.dag_defaults import retry_defaults

with DAG(
    dag_id="ostree_maintenance",
    description="Daily: prune the OSTree repositories by retention, finish each release ref, signed summary, sync",
    doc_md=__doc__,
    schedule="@daily",
    start_date=datetime(2016, 1, 1),
    catchup=False,
    max_active_runs=1,
    render_template_as_native_obj=True,
    tags=["releng", "ostree"],
    default_args=retry_defaults(),
    params={
        "dry_run": Param(
            False,
            type="boolean",
            title="Dry run",
            description="Only log what each task would do; write nothing.",
        ),
    },
) as dag:
    preview = "{{ params.dry_run }}"
    refs = OSTreeRefsOperator(task_id="refs")
    prune = OSTreePruneOperator(task_id="prune", preview=preview)
    finish_ref = OSTreeFinishRefOperator.partial(
        task_id="finish_ref", preview=preview, map_index_template="{{ task.ref }}", max_active_tis_per_dagrun=4
    ).expand_kwargs(refs.output)
    summary = OSTreeSummaryOperator(
        task_id="summary", preview=preview, trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS
    )
    sync = OSTreeSyncOperator(task_id="sync", preview=preview)
    refs >> prune >> finish_ref >> summary >> sync
    prune >> summary
