"""Compose operators of the ``updates_push`` DAG: one artifact target's CANDIDATE, from the push plan's item.

Composing is the artifact plugins' (:mod:`relengotron.artifacts`); the push's services come from
:func:`relengotron.airflow.push.push_task`. Each operator returns the candidate (``ComposeOutput.as_dict()``)
and pushes three more XComs for the steps after it (:func:`relengotron.airflow.push.candidate_xcoms`):
``announcement`` (the ``relengotron.artifact.composed`` body that asks the test system for its tests),
``subject`` (the ResultsDB subject those tests report on) and ``since`` (when their results start to count).

A target the plan skipped (its manifest did not change) skips the task, and so everything after it in its
map index. One operator serves every kind: the DAG has a task group per registered kind. Nothing a compose
writes is synced: OSTree candidates go to the shared repository, image candidates to the staging tree's private
area; only the promotion, after the tests, releases them.

Failures: transient ones (Koji or the compose host unreachable) are raised for Airflow's retries; anything
else fails the task at once naming the artifact.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

if TYPE_CHECKING:
    from relengotron.airflow.push import RemoteCompose
    from relengotron.artifacts import ArtifactKind, ComposeOutput
    from relengotron.config import TranslatePaths


class ArtifactComposeOperator(BaseOperator):
    """Compose one artifact target of kind ``kind`` (the task group's; the item must be of it) into its candidate.

    How depends on the kind (:mod:`relengotron.artifacts`): a kind whose compose waits for a Koji task
    (``koji_task_compose``: the image kinds) submits that task and waits for it DEFERRED, in the triggerer
    (:class:`relengotron.airflow.triggers.KojiTaskTrigger`), holding no worker slot, then downloads and checks
    the image into the candidate area; any other kind composes in this task (OSTree: locally, or on the
    compose host over the SSH provider's hook — connection ``compose_ssh_conn_id`` — when the artifact says
    ``compose: remote``, merged into the shared repository only if the tree changed).

    Idempotent, and a retry never builds twice: the same manifest again makes no new OSTree commit and returns
    the same candidate; a Koji task's id is recorded beside the candidate, so running again (after a crash, a
    retry, a cleared task) resumes waiting on the same Koji task, and a complete candidate (or a released
    image) of the manifest is reused without any task. Only a FAILED or canceled Koji task is replaced by a
    new one when the task is run again. A failed Koji task fails this task at once with Koji's words; the
    wait running past ``task_timeout`` is retried (the same task is waited on).
    """

    template_fields: Sequence[str] = ("item", "poll_interval")
    ui_color = "#fff4dd"

    def __init__(
        self,
        *,
        kind: str,
        item: Any,
        koji_conn_id: str = "koji_default",
        signing_conn_id: str = "signing_default",
        compose_ssh_conn_id: str = "compose_ssh",
        compose_host_workdir: str = "/var/tmp/relengotron-compose",
        compose_fetch_from: str | None = None,
        poll_interval: float | str = 30.0,
        task_timeout: float = 3 * 3600.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.kind = kind
        self.item = item
        self.koji_conn_id = koji_conn_id
        self.signing_conn_id = signing_conn_id
        self.compose_ssh_conn_id = compose_ssh_conn_id
        self.compose_host_workdir = compose_host_workdir
        self.compose_fetch_from = compose_fetch_from
        self.poll_interval = poll_interval
        self.task_timeout = task_timeout

    def remote(self) -> RemoteCompose:
        from relengotron.airflow.push import RemoteCompose

        return RemoteCompose(host_workdir=self.compose_host_workdir, fetch_from=self.compose_fetch_from)

    def done(self, context: Any, plugin: ArtifactKind, output: ComposeOutput, served: TranslatePaths) -> dict[str, Any]:
        """Push the XComs the next steps read; return the candidate."""
        from relengotron.airflow.push import candidate_xcoms

        for key, value in candidate_xcoms(plugin, output, served).items():
            context["ti"].xcom_push(key=key, value=value)
        self.log.info(
            "%s: candidate %s (%s)",
            plugin.label,
            output.identity,
            "to test and release" if output.changed else "already the released one",
        )
        return output.as_dict()

    def execute(self, context: Any) -> dict[str, Any]:
        from relengotron.airflow.connections import Connections
        from relengotron.airflow.errors import permanent_failures
        from relengotron.airflow.push import check_item, push_task
        from relengotron.airflow.triggers import KojiTaskTrigger
        from relengotron.manifest import Manifest
        from relengotron.push_run import plugin_for

        item = check_item(self.item, self.kind)
        with permanent_failures(), push_task(context, Connections.of(self)) as task:
            plugin = plugin_for(task.config, item)
            manifest = Manifest.of(item["manifest"], item=item["label"])
            with task.compose_context(plugin, self.remote()) as ctx:
                if not plugin.koji_task_compose:
                    return self.done(context, plugin, plugin.compose(ctx, manifest), task.config.translate_paths)
                output = plugin.prepare(ctx, manifest)  # type: ignore[attr-defined]
                if output is not None:
                    return self.done(context, plugin, output, task.config.translate_paths)
                koji_task = plugin.submit(ctx, manifest)  # type: ignore[attr-defined]
        self.log.info("%s: waiting for Koji image task %d", item["label"], koji_task)
        self.defer(
            trigger=KojiTaskTrigger(
                task_id=koji_task,
                deadline=time.time() + self.task_timeout,
                poll_interval=float(self.poll_interval),
                conn_id=self.koji_conn_id,
            ),
            method_name="execute_complete",
            kwargs={"koji_task": koji_task},
            timeout=timedelta(seconds=self.task_timeout + 300),
        )

    def execute_complete(self, context: Any, event: Mapping[str, Any], koji_task: int | None = None) -> dict[str, Any]:
        """Finish the candidate from the Koji task the trigger saw end (the event names it)."""
        from relengotron.airflow.connections import Connections
        from relengotron.airflow.errors import permanent_failures
        from relengotron.airflow.push import check_item, push_task
        from relengotron.airflow.triggers import SUCCESS, TIMEOUT, KojiTaskEnd
        from relengotron.kojiclient import KojiTransientError
        from relengotron.manifest import Manifest
        from relengotron.push_run import plugin_for

        item = check_item(self.item, self.kind)
        with permanent_failures():
            end = KojiTaskEnd.of(event, koji_task)
        if end.status == TIMEOUT:
            raise KojiTransientError(item["label"], f"Koji image task {end.task_id} did not end in time; waiting again")
        if end.status != SUCCESS:
            raise AirflowFailException(
                f"{item['label']}: {end.describe('Koji image task')} (run this task again to submit a new one)"
            )
        with permanent_failures(), push_task(context, Connections.of(self)) as task:
            plugin = plugin_for(task.config, item)
            manifest = Manifest.of(item["manifest"], item=item["label"])
            with task.compose_context(plugin, self.remote()) as ctx:
                output = plugin.finish(ctx, manifest, end.task_id)  # type: ignore[attr-defined]
            return self.done(context, plugin, output, task.config.translate_paths)
