"""Compose operators of the ``updates_push`` DAG: one artifact target's CANDIDATE, from the push plan's item.

Thin adapters: composing is the artifact plugins' (:mod:`relengotron.artifacts`), the services come from
:mod:`relengotron.airflow.push`. Each returns the candidate (``ComposeOutput.as_dict()``) and pushes two more
XComs for the steps after it: ``announcement`` (the body of the ``relengotron.artifact.composed`` message that
asks the test system for its tests) and ``subject`` (the ResultsDB subject those tests report on).

A target the plan skipped (its manifest did not change) skips the task, and so everything after it in its
map index. Nothing a compose writes is synced: OSTree candidates go to the shared repository, image
candidates to the staging tree's private area; only the promotion, after the tests, releases them.

Failures: transient ones (Koji or the compose host unreachable) are raised for Airflow's retries; anything
else fails the task at once naming the artifact.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from relengotron.airflow.services import permanent_failures

if TYPE_CHECKING:
    from relengotron.airflow.push import PushConnections, RemoteCompose
    from relengotron.artifacts import ArtifactKind, ComposeOutput

PUSH_PARAMS = ("push_id", "release", "request", "updates")


def push_params(context: Any) -> dict[str, Any]:
    """The push as the run's (validated) params give it."""
    params = context["params"]
    return {key: params[key] for key in PUSH_PARAMS if key in params}


def check_item(item: Any, kind: str | None = None) -> dict[str, Any]:
    """The mapped item (a plan item); skip when the plan skipped the target. Bad input fails at once."""
    if not isinstance(item, Mapping) or not {"id", "label", "decision", "kind", "manifest"} <= set(item):
        raise AirflowFailException(f"item: not an item of the push plan: {item!r}")
    if item["decision"] == "skip":
        raise AirflowSkipException(f"{item['label']}: {item.get('reason', 'skipped by the plan')}")
    if (kind == "ostree" and item["kind"] != "ostree") or (kind == "image" and item["kind"] == "ostree"):
        raise AirflowFailException(f"{item['label']}: a {item['kind']} artifact is not composed by this task")
    return dict(item)


class _ComposeOperator(BaseOperator):
    """Base: the mapped item and the connection ids."""

    template_fields: Sequence[str] = ("item",)
    ui_color = "#fff4dd"
    kind: str = ""

    def __init__(
        self,
        *,
        item: Any,
        koji_conn_id: str = "koji_default",
        signing_conn_id: str = "signing_default",
        compose_ssh_conn_id: str = "compose_ssh",
        compose_host_workdir: str = "/var/tmp/relengotron-compose",
        compose_fetch_from: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.item = item
        self.koji_conn_id = koji_conn_id
        self.signing_conn_id = signing_conn_id
        self.compose_ssh_conn_id = compose_ssh_conn_id
        self.compose_host_workdir = compose_host_workdir
        self.compose_fetch_from = compose_fetch_from

    def connections(self) -> PushConnections:
        from relengotron.airflow.push import PushConnections

        return PushConnections(
            koji=self.koji_conn_id,
            signing=self.signing_conn_id,
            compose_ssh=self.compose_ssh_conn_id,
        )

    def remote(self) -> RemoteCompose:
        from relengotron.airflow.push import RemoteCompose

        return RemoteCompose(host_workdir=self.compose_host_workdir, fetch_from=self.compose_fetch_from)

    def done(self, context: Any, plugin: ArtifactKind, output: ComposeOutput) -> dict[str, Any]:
        """Push the announcement, the test subject and since when its results count (XCom ``since``: the compose
        time of a new candidate; None for the released one, whose results are in already); return the
        candidate."""
        subject = plugin.test_item()
        context["ti"].xcom_push(key="announcement", value=plugin.announcement(output))
        context["ti"].xcom_push(key="since", value=output.composed_at if output.changed else None)
        context["ti"].xcom_push(
            key="subject",
            value={"type": subject.type, "item": subject.item, "name": subject.name, "label": plugin.label},
        )
        self.log.info(
            "%s: candidate %s (%s)",
            plugin.label,
            output.ostree.commit if output.ostree else output.image.sha256 if output.image else "?",
            "to test and release" if output.changed else "already the released one",
        )
        return output.as_dict()


class OSTreeComposeOperator(_ComposeOperator):
    """Compose one OSTree target (``fedora/24/x86_64/atomic-host``) into the shared repository — locally, or on
    the compose host over the SSH provider's hook (connection ``compose_ssh_conn_id``) when the artifact says
    ``compose: remote`` — merged only if the tree changed.

    Idempotent: the same manifest again makes no commit and returns the same candidate; a rerun after a crash
    completes the signature, delta and summary of the shared head.
    """

    kind = "ostree"

    def execute(self, context: Any) -> dict[str, Any]:
        from relengotron.airflow.push import compose_context, load_push, plugin_for
        from relengotron.manifest import Manifest

        item = check_item(self.item, "ostree")
        with permanent_failures():
            config, push = load_push(push_params(context))
            plugin = plugin_for(config, item)
            manifest = Manifest.of(item["manifest"], item=item["label"])
            with compose_context(config, push, plugin, self.connections(), self.remote()) as ctx:
                output = plugin.compose(ctx, manifest)
            return self.done(context, plugin, output)


class ImageComposeOperator(_ComposeOperator):
    """Compose one image target: submit its Koji image task and wait for it DEFERRED (in the triggerer:
    :class:`relengotron.airflow.triggers.KojiTaskTrigger`), then download and check the image into the
    candidate area.

    Idempotent, and a retry never builds twice: the task id is recorded beside the candidate, so running again
    (after a crash, a retry, a cleared task) resumes waiting on the same Koji task; a complete candidate (or a
    released image) of the manifest is reused without any task. Only a FAILED or canceled Koji task is
    replaced by a new one when the task is run again. A failed Koji task fails this task at once with Koji's
    words; the wait running past ``task_timeout`` is retried (the same task is waited on).
    """

    kind = "image"
    template_fields: Sequence[str] = (*_ComposeOperator.template_fields, "poll_interval")

    def __init__(self, *, poll_interval: float | str = 30.0, task_timeout: float = 3 * 3600.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.poll_interval = poll_interval
        self.task_timeout = task_timeout

    def execute(self, context: Any) -> dict[str, Any]:
        from relengotron.airflow.push import compose_context, load_push, plugin_for
        from relengotron.airflow.triggers import KojiTaskTrigger
        from relengotron.manifest import Manifest

        item = check_item(self.item, "image")
        with permanent_failures():
            config, push = load_push(push_params(context))
            plugin = plugin_for(config, item)
            manifest = Manifest.of(item["manifest"], item=item["label"])
            with compose_context(config, push, plugin, self.connections(), self.remote()) as ctx:
                output = plugin.prepare(ctx, manifest)  # type: ignore[attr-defined]
                if output is not None:
                    return self.done(context, plugin, output)
                task = plugin.submit(ctx, manifest)  # type: ignore[attr-defined]
        self.log.info("%s: waiting for Koji image task %d", item["label"], task)
        self.defer(
            trigger=KojiTaskTrigger(
                task_id=task,
                deadline=time.time() + self.task_timeout,
                poll_interval=float(self.poll_interval),
                conn_id=self.koji_conn_id,
            ),
            method_name="execute_complete",
            kwargs={"koji_task": task},
            timeout=timedelta(seconds=self.task_timeout + 300),
        )
        raise AssertionError("not reached: defer() raises")

    def execute_complete(self, context: Any, event: Mapping[str, Any], koji_task: int | None = None) -> dict[str, Any]:
        """Finish the candidate from the Koji task the trigger saw end (the event names it)."""
        from relengotron.airflow.push import compose_context, load_push, plugin_for
        from relengotron.airflow.triggers import FAILED, SUCCESS, TIMEOUT
        from relengotron.kojiclient import KojiTransientError
        from relengotron.manifest import Manifest

        item = check_item(self.item, "image")
        status = event.get("status")
        koji_task = int(event.get("task_id") or koji_task or 0)
        if koji_task < 1:
            raise AirflowFailException(f"{item['label']}: the Koji task's end names no task: {event!r}")
        if status == TIMEOUT:
            raise KojiTransientError(item["label"], f"Koji image task {koji_task} did not end in time; waiting again")
        if status == FAILED:
            raise AirflowFailException(
                f"{item['label']}: Koji image task {koji_task} {str(event.get('state', 'failed')).lower()}: "
                f"{event.get('message')} (run this task again to submit a new one)"
            )
        if status != SUCCESS:
            raise AirflowFailException(f"{item['label']}: waiting for Koji task {koji_task}: {event.get('message')}")
        with permanent_failures():
            config, push = load_push(push_params(context))
            plugin = plugin_for(config, item)
            manifest = Manifest.of(item["manifest"], item=item["label"])
            with compose_context(config, push, plugin, self.connections(), self.remote()) as ctx:
                output = plugin.finish(ctx, manifest, koji_task)  # type: ignore[attr-defined]
            return self.done(context, plugin, output)
