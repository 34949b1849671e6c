"""
# eol — end of life of a Fedora release

Triggered by hand. Makes a release end-of-life everywhere, step by step, after showing what it will do and
once a release engineer approved it:
PDC release inactive → Koji build targets deleted and tags locked → open bugs closed as CLOSED/EOL with
Fedora's comment → the release's OSTree refs carved out (a final commit carrying `ostree.endoflife`, and
`ostree.endoflife-rebase` when the successor has the ref; the ref's history copied to the archive
repository) → the release's trees moved from the master mirror to the archive → the EOL message on the bus.

## Parameters
- **release** (required): the release id in the release configuration (`f23`). Checked when the run starts:
  an unknown id fails the `plan` task naming it and the configured ones.
- **dry_run** (default **true**): show the plan and stop. Nothing changes anywhere, no approval is asked.
- **eol_date** (optional, `YYYY-MM-DD`): the date the bug comments and the message give; default: the day
  the run was triggered.
- **archive** (optional): the mirror's archive tree (a path, or `host:/path` on the mirror host); default:
  `mirror.archive` of the release configuration. The release's trees move there, and the EOL marker that
  records the announcement is written there: use the same archive for every run of one release.
- **ostree_archive** (optional): the archive-mode OSTree repository carved-out refs are copied to; default:
  `archive-repo` beside the shared repository (`<ostree.repo>/../archive-repo`), published to the archive
  tree like the shared one is to the mirror.

## Tasks
1. `plan` — gathers the facts from every service (read-only) and logs the plan, one numbered line per step
   (and the bug comment). Its XCom is the plan as a list of steps.
2. `go_ahead` — skipped in a dry run, and then so is everything after it. Otherwise it hands the plan's
   steps to `step`.
3. `approve` — waits for a release engineer (Airflow's human-in-the-loop `ApprovalOperator`; the task shows
   *awaiting input* and holds no worker slot). Its question shows the plan as `plan` logged it. Answer on the
   task's *Required actions* page (or the UI's *Required actions* list), or through the REST API:
   `PATCH /api/v2/dags/eol/dagRuns/{run_id}/taskInstances/approve/-1/hitlDetails` with
   `{"chosen_options": ["Approve"]}` (or `["Reject"]`).
   - **Approve**: the steps and the message run.
   - **Reject**: every task after it is skipped; nothing changes anywhere. The run ends successfully; the
     `approve` task's log and XCom (and its *Required actions* entry) say who rejected it and when.
   - **Nobody answers within 24 hours**: the same as Reject (the question's default; the scheduler answers it
     when the time is up, and the log says nobody answered). Only one `eol` run is active at a time, so a
     forgotten question blocks the next run for a day at most; trigger a new run to be asked again.
   Skipped, asking nothing, when the plan is empty (the release is end-of-life everywhere already).
4. `step` — one mapped task instance per step, named by the step's key (`koji-lock-tag:f23-updates`,
   `bugzilla-close:1300101`, `ostree-carve-out:fedora/23/x86_64/atomic-host`, ...). Each step touches its
   own item only and looks before it writes, so the instances run side by side and each can be retried or
   rerun on its own. (A release with more open bugs than Airflow maps gets them closed in batches.)
5. `publish_eol` — the EOL message, last: only once every step succeeded. Skipped when the release was
   already announced (the EOL marker in the archive tree says so).

## How to run it
1. Trigger with `{"release": "f23"}` (dry_run stays true). Read the `plan` task's log.
2. Trigger again with `{"release": "f23", "dry_run": false}`. The plan is made again (anything done since
   is left out) and shown in `approve`'s question; once approved it is carried out.
3. A run after a complete one finds an empty plan and changes nothing (no second message).

## When a step fails
Transient failures (a service unreachable, 5xx, Koji busy) are retried with exponential backoff; anything
else fails the step at once with a message naming the item (the target, tag, bug, ref or path).
- **Rerun one failed step:** in the grid, open `step`, pick the failed map index (named by the step's key)
  and *Clear* it with *Downstream* checked (so `publish_eol`, which is waiting on it, runs again too). Every
  step is idempotent: done steps are not redone, the failed one is finished.
- **Rerun the whole EOL:** trigger a new run with `dry_run: false` — it plans again from what the services
  hold now, so only what is left is done.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, Param, TriggerRule, XComArg
from operators.eol_steps import (
    EOLApprovalOperator,
    EOLGateOperator,
    EOLPlanOperator,
    EOLPublishOperator,
    EOLStepOperator,
)

from relengotron.airflow.dag_defaults import LOCATION, RELEASE_ID, retry_defaults

with DAG(
    dag_id="eol",
    description="End of life of a release: show the plan, then (dry_run false, once approved) carry it out",
    doc_md=__doc__,
    schedule=None,
    start_date=datetime(2016, 1, 1),
    catchup=False,
    max_active_runs=1,
    render_template_as_native_obj=True,
    tags=["releng", "eol"],
    default_args=retry_defaults(),
    params={
        "release": Param(
            **RELEASE_ID,
            title="Release",
            description="Release id in the release configuration, e.g. f23 (checked when the run starts).",
        ),
        "dry_run": Param(
            True,
            type="boolean",
            title="Dry run",
            description="Only show the plan; change nothing. Turn off to carry the plan out.",
        ),
        "eol_date": Param(
            None,
            type=["null", "string"],
            format="date",
            title="EOL date",
            description="YYYY-MM-DD for the bug comments and the message; empty: the day of the run.",
        ),
        "archive": Param(
            None,
            **LOCATION,
            title="Mirror archive tree",
            description="Where the release's mirror trees go (path or host:/path); empty: mirror.archive.",
        ),
        "ostree_archive": Param(
            None,
            type=["null", "string"],
            pattern=r"^/",
            title="OSTree archive repository",
            description="Where carved-out refs are copied; empty: archive-repo beside the shared repository.",
        ),
    },
) as dag:
    where = {
        "release": "{{ params.release }}",
        "archive": "{{ params.archive }}",
        "ostree_archive": "{{ params.ostree_archive }}",
    }
    plan = EOLPlanOperator(task_id="plan", eol_date="{{ params.eol_date }}", **where)
    go_ahead = EOLGateOperator(task_id="go_ahead", plan=plan.output, preview="{{ params.dry_run }}")
    approve = EOLApprovalOperator(
        task_id="approve", release="{{ params.release }}", plan=go_ahead.output["plan"], plan_text=XComArg(plan, "text")
    )
    step = EOLStepOperator.partial(
        task_id="step", map_index_template="{{ task.key }}", max_active_tis_per_dagrun=4, **where
    ).expand_kwargs(go_ahead.output)
    publish = EOLPublishOperator(
        task_id="publish_eol",
        plan=go_ahead.output["plan"],
        trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS,
        **where,
    )
    approve >> [step, publish]
    step >> publish
