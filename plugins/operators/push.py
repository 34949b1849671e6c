"""Operators of the ``updates_push`` DAG around the artifacts: plan, sign, promote, sync, report, check, and the
teardown that gives the push's turn back.

Each ``execute`` calls one step of :mod:`relengotron.push_run` (or a pure function of :mod:`relengotron.push`)
with the services :func:`relengotron.airflow.push.push_task` builds from the connections. Constructors only
store their arguments.

Failures: transient ones (a service unreachable, 5xx, Koji busy, test results of this compose not in yet)
are raised for Airflow's retries with backoff; anything else fails the task at once, naming the item.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException


def _plan(value: Any, what: str) -> list[dict[str, Any]]:
    """The plan task's items; fails at once (nothing done) when the plan did not finish."""
    if not isinstance(value, Mapping) or "items" not in value:
        raise AirflowFailException(f"the plan did not finish: {what}")
    return list(value["items"])


def _mashed(value: Any) -> list[dict[str, Any]]:
    """The mash task's repositories; fails at once (nothing synced) when the mash did not finish."""
    if not isinstance(value, list | tuple) or not all(isinstance(repo, Mapping) for repo in value):
        raise AirflowFailException("the mash did not finish: nothing is synced")
    return [dict(repo) for repo in value]


class PushUpdatesOperator(BaseOperator):
    """Read the compose's updates from Bodhi (:func:`relengotron.push_run.read_updates`: one query per 100
    builds, checked against the compose) and return them as the later steps take them (alias, builds, type,
    severity, bugs, title, notes, Bodhi's status). Read-only, so rerunning it is always safe. An update Bodhi
    does not know, or one that disagrees with the compose, fails the task at once naming it."""

    ui_color = "#e8f4fa"

    def __init__(self, *, bodhi_conn_id: str = "bodhi_default", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.bodhi_conn_id = bodhi_conn_id

    def execute(self, context: Any) -> list[dict[str, Any]]:
        from relengotron.airflow.connections import Connections
        from relengotron.airflow.errors import permanent_failures
        from relengotron.airflow.push import push_task
        from relengotron.push_run import read_updates

        with permanent_failures(), push_task(context, Connections.of(self)) as task:
            updates = read_updates(task.push, task.bodhi)
        for update in updates:
            self.log.info("%s (%s, %s): %s", update["alias"], update["type"], update["status"], update["builds"])
        return updates


class TagUpdatesOperator(BaseOperator):
    """Move the updates' builds into the request's Koji tag and remove their pending tags, as Bodhi's composer
    does (:func:`relengotron.push_run.move_tags`: one multicall each for reading, moving, untagging).

    Idempotent: builds already in place get nothing sent; a rerun after a crash finishes the moves. A build in
    neither its waiting tag nor the request's fails the task at once, naming it, before anything is moved.
    Returns ``{"moves", "untags", "done"}``.
    """

    template_fields: Sequence[str] = ("updates",)
    ui_color = "#fdf0e0"

    def __init__(self, *, updates: Any, koji_conn_id: str = "koji_default", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.updates = updates
        self.koji_conn_id = koji_conn_id

    def execute(self, context: Any) -> dict[str, Any]:
        from relengotron.airflow.connections import Connections
        from relengotron.airflow.errors import permanent_failures
        from relengotron.airflow.push import push_task
        from relengotron.push_run import move_tags

        with permanent_failures(), push_task(context, Connections.of(self), self.updates) as task:
            plan = move_tags(task.push, task.koji)
        self.log.info("%s", plan.render())
        return plan.as_dict()


class PushPlanOperator(BaseOperator):
    """Decide which artifact targets of the release the push recomposes, and why the others are skipped
    (:func:`relengotron.push_run.plan_push`: PDC's package lists, Koji's latest builds of the push's tag, what
    was released). Returns ``{"push_id", "release", "request", "items": [...]}`` — one item per target, the
    mapped groups' input (:func:`relengotron.push.targets_by_kind` gives each kind's group its own).

    Read-only: rerunning it plans again from what the services hold now (after a release, the released
    targets come out "unchanged, skipped").
    """

    template_fields: Sequence[str] = ("updates",)
    ui_color = "#e8f4fa"

    def __init__(
        self,
        *,
        updates: Any,
        koji_conn_id: str = "koji_default",
        pdc_conn_id: str = "pdc_default",
        mirror_ssh_conn_id: str = "mirror_ssh",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.updates = updates
        self.koji_conn_id = koji_conn_id
        self.pdc_conn_id = pdc_conn_id
        self.mirror_ssh_conn_id = mirror_ssh_conn_id

    def execute(self, context: Any) -> dict[str, Any]:
        from relengotron.airflow.connections import Connections
        from relengotron.airflow.errors import permanent_failures
        from relengotron.airflow.push import push_task
        from relengotron.push_run import plan_push

        with permanent_failures(), push_task(context, Connections.of(self), self.updates) as task:
            planned = plan_push(task.push, task.config, task)
        if planned.plan is not None:
            self.log.info("%s", planned.plan.render())
        for item in planned.items:
            self.log.info("%s: %s (%s)", item["label"], item["decision"], item["reason"])
        return planned.as_dict()


class _ArtifactStepOperator(BaseOperator):
    """Base of the steps after a compose: the mapped item and its candidate (the compose task's output)."""

    template_fields: Sequence[str] = ("item", "candidate")

    def __init__(
        self,
        *,
        item: Any,
        candidate: Any,
        signing_conn_id: str = "signing_default",
        resultsdb_conn_id: str = "resultsdb_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.item = item
        self.candidate = candidate
        self.signing_conn_id = signing_conn_id
        self.resultsdb_conn_id = resultsdb_conn_id


class SignArtifactOperator(_ArtifactStepOperator):
    """Sign the tested candidate with the release's key (OSTree: the commit; images: the CHECKSUM file).
    Skipped when the release has no signing key. Idempotent: what this key signed is left alone."""

    ui_color = "#fdf0e0"

    def execute(self, context: Any) -> list[dict[str, Any]]:
        from dataclasses import asdict

        from relengotron.airflow.connections import Connections
        from relengotron.airflow.errors import permanent_failures
        from relengotron.airflow.push import candidate, check_item, push_task
        from relengotron.push_run import plugin_for

        item = check_item(self.item)
        with permanent_failures(), push_task(context, Connections.of(self)) as task:
            if task.signer is None:
                raise AirflowSkipException(f"{task.push.release.id} has no signing key: {item['label']} goes unsigned")
            results = plugin_for(task.config, item).sign(task.signer, candidate(self.candidate))
        for result in results:
            self.log.info("%s: %s", result.item, result.action)
        return [asdict(r) for r in results]


class PromoteArtifactOperator(_ArtifactStepOperator):
    """Release the tested, signed candidate: move it into the public staging tree, the only step that makes an
    artifact visible to the sync (:func:`relengotron.push_run.promote_candidate`), once the passing results
    are about THIS compose (only results submitted since the compose count, less ``clock_skew`` seconds),
    decided with the gating policies. Not all in yet: retried (transient); failed: the task fails at once and
    the candidate is held back.

    Idempotent: promoting what is released already changes nothing; a rerun after a crash finishes the moves.
    Returns the promotion's result (``PromoteResult.as_dict()``).
    """

    ui_color = "#e8faf0"

    def __init__(self, *, decision_context: str = "artifact_release", clock_skew: float = 5.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.decision_context = decision_context
        self.clock_skew = clock_skew

    def execute(self, context: Any) -> dict[str, Any]:
        from relengotron.airflow.connections import Connections
        from relengotron.airflow.errors import permanent_failures
        from relengotron.airflow.push import candidate, check_item, push_task
        from relengotron.push_run import plugin_for, promote_candidate

        item = check_item(self.item)
        with permanent_failures(), push_task(context, Connections.of(self)) as task:
            result = promote_candidate(
                task.push,
                task.config,
                plugin_for(task.config, item),
                candidate(self.candidate),
                results=task.resultsdb,
                signer=task.signer,
                decision_context=self.decision_context,
                clock_skew=timedelta(seconds=self.clock_skew),
            )
        self.log.info("%s: %s %s", item["label"], "released" if result.changed else "already released", result.steps)
        return result.as_dict()


class SyncOperator(BaseOperator):
    """One sync of what the push changed to the master mirror (:func:`relengotron.push_run.sync_push`): what
    the mash wrote and removed, and the released artifacts of the release in the staging tree — never a
    candidate (they are not there) — under the staging lock. Its cost follows the push, not the mirror.

    ``mash``: the mash task's result (its repositories' ``written`` and ``removed`` paths). ``promoted``: the
    promote tasks' results, one XCom per task group (a held-back artifact has none). ``dry_run``: only list
    what would change. Fails at once (nothing synced) when the plan did not finish.

    Idempotent: a second sync transfers and deletes nothing; one after a sync killed half-way completes it.
    Returns ``{"changeset", "ostree_refs", "dry_run", "changes": {pass: [paths]}}``.
    """

    template_fields: Sequence[str] = ("plan", "mash", "promoted", "dry_run")
    ui_color = "#f3e8fa"

    def __init__(
        self,
        *,
        plan: Any,
        mash: Any,
        promoted: Any = (),
        dry_run: Any = False,
        mirror_ssh_conn_id: str = "mirror_ssh",
        bwlimit: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.plan = plan
        self.mash = mash
        self.promoted = promoted
        self.dry_run = dry_run
        self.mirror_ssh_conn_id = mirror_ssh_conn_id
        self.bwlimit = bwlimit

    def execute(self, context: Any) -> dict[str, Any]:
        from relengotron.airflow.arguments import flag, xcom_lists
        from relengotron.airflow.connections import Connections
        from relengotron.airflow.errors import permanent_failures
        from relengotron.airflow.push import push_task
        from relengotron.push_run import sync_push

        items = _plan(self.plan, "nothing is synced")
        with permanent_failures(), push_task(context, Connections.of(self)) as task:
            dry_run = flag(self.dry_run, "dry_run")
            try:
                synced = sync_push(
                    task.push,
                    task.config,
                    items,
                    xcom_lists(self.promoted),
                    task.staging(self.bwlimit),
                    mash=_mashed(self.mash),
                    dry_run=dry_run,
                )
            except Exception as exc:
                context["ti"].xcom_push(key="failure", value=f"the sync to the master mirror failed: {exc}")
                raise
        for name, paths in synced["changes"].items():
            self.log.info("%s pass: %d change(s)", name, len(paths))
        return synced


class PushApprovalOperator(ApprovalOperator):
    """Before the sync: when the release configuration asks for it (:func:`relengotron.approval.
    push_approval_reason`: a stable push of a frozen release, ``approvals.frozen_stable_pushes`` on), wait for a
    release engineer's approval (Airflow's human-in-the-loop ``ApprovalOperator``; the question lists the
    push's updates and what becomes of each artifact target). Otherwise — and when the push did not get this far
    (no plan or mash to sync) — it is skipped, asking nothing, and the sync goes on.

    *Approve*: the sync and everything after it run. *Reject*, or nobody answering within ``response_timeout``
    (default :data:`relengotron.approval.PUSH_TIMEOUT`; the default answer is *Reject*): the tasks right after
    it (``sync``, ``website``) are skipped — nothing reaches the mirror — and the report tells Bodhi the push
    failed, saying who rejected it (XCom ``decision``). Writes nothing itself; clearing it asks again.
    """

    template_fields: Sequence[str] = (*ApprovalOperator.template_fields, "plan", "mash")
    ui_color = "#fff3cd"

    def __init__(self, *, plan: Any, mash: Any, **kwargs: Any) -> None:
        from relengotron.approval import PUSH_TIMEOUT, REJECT

        kwargs.setdefault("response_timeout", PUSH_TIMEOUT)
        super().__init__(
            subject="Push {{ params.push_id }} of {{ params.repo }}: sync it to the master mirror?",
            defaults=REJECT,
            **kwargs,
        )
        self.plan = plan
        self.mash = mash

    def execute(self, context: Any) -> Any:
        from relengotron.airflow.push import load_push, push_params
        from relengotron.approval import push_approval_reason, push_summary, question

        if not isinstance(self.plan, Mapping) or not isinstance(self.mash, list | tuple):
            raise AirflowSkipException("the push did not get to its sync: nothing to approve")
        config, push = load_push(push_params(context))
        reason = push_approval_reason(config, push.release.id, push.request)
        if reason is None:
            raise AirflowSkipException(
                f"no approval needed: {push.release.id} is {push.release.state}, {push.request} push"
            )
        self.log.info("%s", reason)
        self.body = (
            question(
                push_summary(push, _plan(self.plan, "nothing to approve")),
                approve="the sync to the master mirror, the messages and the website go on.",
                reject="nothing reaches the mirror; Bodhi is told the push failed, and why.",
                timeout=self.response_timeout,
            )
            + f"\n\nAsked because {reason}."
        )
        return super().execute(context)

    def execute_complete(self, context: Any, event: dict[str, Any]) -> Any:
        from relengotron.approval import decision_of

        if "error" not in event:
            decision = decision_of(event)
            context["ti"].xcom_push(key="decision", value=decision.as_dict())
            self.log.info("the push was %s", decision.describe())
        return super().execute_complete(context, event)  # on Reject: skips sync and website


class PushReportOperator(BaseOperator):
    """What became of every artifact and update (:func:`relengotron.push_report.report`), however the push went:
    pushes the ``relengotron.push.complete`` body (XCom ``complete``: each update's and artifact's outcome) and
    the outcome (XCom ``outcome``), and returns the ``relengotron.artifact.released`` bodies of the artifacts
    released and not announced before (the publish task maps over them).

    A push whose updates did not reach the master mirror — the sync failed, or a step before it — is reported
    ``failed`` with the first failed step and why, and releases nothing; a dry run announces nothing. Why an
    artifact was held back is read from its task states (the first of compose, announce, tests, sign,
    promote that failed). Read-only.
    """

    template_fields: Sequence[str] = ("updates", "plan", "promoted", "mash", "sync")
    ui_color = "#e8faf0"

    def __init__(
        self,
        *,
        updates: Any,
        plan: Any,
        promoted: Any = (),
        mash: Any = None,
        sync: Any = None,
        sync_task_id: str = "sync",
        approval_task_id: str = "approve",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.updates = updates
        self.plan = plan
        self.promoted = promoted
        self.mash = mash
        self.sync = sync
        self.sync_task_id = sync_task_id  # whose XCom ``failure`` says why a sync failed
        self.approval_task_id = approval_task_id  # whose XCom ``decision`` says who refused the sync, if anyone

    def execute(self, context: Any) -> list[dict[str, Any]]:
        from relengotron.airflow.arguments import xcom_list, xcom_lists
        from relengotron.airflow.errors import permanent_failures
        from relengotron.airflow.push import failed_step, load_push, push_params, step_states
        from relengotron.approval import refusal
        from relengotron.push import STEPS
        from relengotron.push_report import held_back_reason, report
        from relengotron.push_run import announced

        if not self.updates:
            raise AirflowFailException("the updates were not read from Bodhi: there is nothing to report back")
        with permanent_failures():
            config, push = load_push(push_params(context), self.updates)
            items = list(self.plan["items"]) if isinstance(self.plan, Mapping) else []
            reasons = {target: held_back_reason(s) for target, s in step_states(context, items, STEPS).items()}
            synced = isinstance(self.sync, Mapping)
            failure = None
            if not synced:
                ti = context["ti"]
                failure = (
                    ti.xcom_pull(task_ids=self.sync_task_id, key="failure")
                    or refusal(ti.xcom_pull(task_ids=self.approval_task_id, key="decision"))
                    or failed_step(context)
                )
            found = report(
                push,
                items,
                xcom_lists(self.promoted),
                reasons,
                repos=[m["path"] for m in xcom_list(self.mash)],
                run_id=str(context.get("run_id", "")),
                failure=failure,
                dry_run=synced and bool(self.sync.get("dry_run")),
                announced=announced(push, config),
            )
        if found.complete is None:
            self.log.info("dry run: no message is published; would be: %s", found.would_complete)
        context["ti"].xcom_push(key="complete", value=found.complete)
        context["ti"].xcom_push(key="outcome", value=found.outcome)
        for update in found.outcome["updates"]:
            self.log.info("%s: %s %s", update["alias"], update["status"], update["held_back"] or update["reason"] or "")
        return found.released


class AnnounceReleasedOperator(BaseOperator):
    """Publish one ``relengotron.artifact.released`` body (mapped over the report's) unless this push announced
    that release already (:func:`relengotron.push_run.announce_released`): a push rerun in part never
    announces an artifact twice. At least once: published, then recorded. Returns whether it was published."""

    template_fields: Sequence[str] = ("body",)
    ui_color = "#f0e6f6"

    def __init__(self, *, body: Any, bus_conn_id: str = "bus_default", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.body = body
        self.bus_conn_id = bus_conn_id

    def execute(self, context: Any) -> bool:
        from relengotron.airflow.connections import Connections
        from relengotron.airflow.errors import permanent_failures
        from relengotron.airflow.push import push_task
        from relengotron.push_run import announce_released

        if not isinstance(self.body, Mapping) or "item" not in self.body:
            raise AirflowFailException(f"body: not an artifact.released body: {self.body!r}")
        with permanent_failures(), push_task(context, Connections.of(self)) as task:
            published = announce_released(task.push, task.config, task.clients.publisher, self.body)
        self.log.info("%s: %s", self.body["label"], "announced" if published else "announced before: not again")
        return published


class PushCheckOperator(BaseOperator):
    """The run's verdict, last (:func:`relengotron.push_report.verdict` of the report's outcome and the
    approval's XCom ``decision``): fails (at once, no retry) naming every artifact held back, so that the run
    shows on-call what needs them, and when nobody answered the approval before its timeout; succeeds when
    everything the push touched was released, and when a release engineer rejected the push — a decision
    carried out, not a fault: the log and the returned sentence say who rejected it and that nothing reached
    the mirror. Read-only. Returns the verdict's sentence."""

    template_fields: Sequence[str] = ("report",)
    ui_color = "#fdf6e3"

    def __init__(self, *, report: Any, approval_task_id: str = "approve", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.report = report
        self.approval_task_id = approval_task_id  # whose XCom ``decision`` says who refused the sync, if anyone

    def execute(self, context: Any) -> str:
        from relengotron.push_report import verdict

        if not isinstance(self.report, Mapping):
            raise AirflowFailException("the push was not reported")
        found = verdict(self.report, context["ti"].xcom_pull(task_ids=self.approval_task_id, key="decision"))
        if not found.ok:
            raise AirflowFailException(found.text)
        self.log.info("%s", found.text)
        return found.text


class PushTurnReleaseOperator(BaseOperator):
    """Give back the push's turn on its release and request (the lease :class:`sensors.push_turn.PushTurnSensor`
    took; :func:`relengotron.push_run.give_back_turn`). A teardown: it runs however the run went. Idempotent:
    a turn not held is left alone."""

    ui_color = "#eeeeee"

    def execute(self, context: Any) -> bool:
        from relengotron.airflow.errors import permanent_failures
        from relengotron.airflow.push import load_push, push_params
        from relengotron.push_run import give_back_turn

        with permanent_failures():
            config, push = load_push(push_params(context))
            released = give_back_turn(push, config, run_id=str(context["run_id"]))
        self.log.info("turn on %s %s", push.lock_name, "given back" if released else "was not held")
        return released
