"""
### Autosign

A packager's update builds wait in the release's **signing-pending** tag (`f24-signing-pending`) until they
are signed with the release's key; the mash refuses unsigned RPMs, so Bodhi cannot push them before. This DAG
signs them and moves them along the release's **signing chain** (release configuration: `signing_key`,
`signing_chain`, e.g. `f24-signing-pending → f24-updates-testing-pending`). Signing goes through the
`signing_default` connection: local GPG, or sigul on the signing bridge over SSH.

**Trigger** by the listener when builds are tagged into a signing-pending tag (tag events coalesced into one
run per tag and short window), or by hand to sweep a release. Conf: `{"release": "f24", "builds": ["nvr",
...]}`. `builds` empty or missing: every build waiting in the release's signing-pending tag (at most 1000
per run; a sweep leaves the rest for the next run and says so). Named builds must be waiting there or done
already; a bad conf fails at once, naming the field. One run at a time, so a build is never signed by two
runs at once.

**Tasks**

1. `list_builds` — the builds to sign, each with the chain step it is on (read-only). An unknown release or
   build fails it at once.
2. `sign_build` — mapped per build, each map index named by its NVR: downloads the unsigned RPMs Koji has no
   signature of the release key for, signs them, imports each signature into Koji (`addRPMSig`), has Koji
   write every signed copy (`writeSignedRPM` with the key id), downloads the copies Koji now serves and checks
   them (`rpmkeys -K` with the release's public key, Koji's digests), then moves the build to the next tag.
   **Refused** — the task fails with the reason and the build stays where it is: no key configured for the
   release, an RPM signed with a different key, the key not available to the signer, a named build that is
   neither waiting nor signed.
3. `announce` → `publish` — one message per build signed (`relengotron.<release>.autosign.signed`: NVR, key
   id, from tag, to tag, number of RPMs signed, package and packager), `publish` mapped and named by NVR.
   Runs after every `sign_build`, refused ones too: builds signed are announced either way.
4. `summarize` — the run in numbers (listed, signed, already done, not done, left for the next run); fails
   naming the builds not done, so that the run shows red.

**Idempotent.** RPMs Koji already has a signature of the key for are not signed again, a build already in the
next tag is done (nothing sent, no message), and a run interrupted between signing and moving finishes the
move.

**Reruns (on-call)**

* *One build* (e.g. its refusal was fixed: the wrong signature removed, the key made available): clear
  `sign_build` at that build's map index (its NVR) with downstream — or trigger a new run with
  `{"release": "f24", "builds": ["<nvr>"]}`, the simplest.
* *The whole run*: trigger a new run with the same conf. Builds signed already are reported done and
  announced no second time.
* Clearing `publish` publishes again (delivery is at least once; messages carry the run id).

Transient failures (Koji, the signing host or the bus unreachable, 5xx) are retried with exponential backoff;
permanent ones fail the task at once with a message naming the build.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import DAG, Param, TriggerRule, task
from operators.autosign_steps import AutosignBuildOperator, AutosignListOperator, AutosignSummaryOperator
from operators.bus_publish import BusPublishOperator

from relengotron.airflow.dag_defaults import NVR, RELEASE_ID, retry_defaults
from relengotron.autosign import MAX_BUILDS

with DAG(
    dag_id="autosign",
    description="Sign the builds waiting in a release's signing-pending tag and move them along the chain",
    schedule=None,
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["releng", "signing"],
    default_args=retry_defaults(),
    render_template_as_native_obj=True,
    params={
        "release": Param(**RELEASE_ID, description="Release id in the release configuration, e.g. f24"),
        "builds": Param(
            [],
            type="array",
            items=NVR,
            uniqueItems=True,
            maxItems=MAX_BUILDS,
            description="NVRs to sign; empty: every build waiting in the release's signing-pending tag",
        ),
    },
) as dag:

    @task(trigger_rule=TriggerRule.ALL_DONE)
    def announce(outcomes: Any, **context: Any) -> list[dict[str, Any]]:
        """Glue: the messages to publish, one per build signed (a build whose task failed has none). Pure."""
        from relengotron.airflow.arguments import xcom_list
        from relengotron.autosign import messages

        return messages(xcom_list(outcomes), run_id=context["run_id"])

    builds = AutosignListOperator(task_id="list_builds", release="{{ params.release }}", builds="{{ params.builds }}")
    signed = AutosignBuildOperator.partial(task_id="sign_build", map_index_template="{{ task.nvr }}").expand_kwargs(
        builds.output
    )
    BusPublishOperator.partial(task_id="publish", map_index_template="{{ task.body['nvr'] }}").expand_kwargs(
        announce(signed.output)
    )
    AutosignSummaryOperator(
        task_id="summarize",
        items=builds.output,
        outcomes=signed.output,
        left_over=builds.output["left_over"],
        trigger_rule=TriggerRule.ALL_DONE,
        retries=0,
    )
