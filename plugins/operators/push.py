"""Operators of the ``updates_push`` DAG around the artifacts: plan, sign, promote, sync, report, check.

Thin adapters over :mod:`relengotron.push` (pure decisions), :mod:`relengotron.push_run` (the plan's I/O),
the artifact plugins (:mod:`relengotron.artifacts`) and :mod:`relengotron.sync`; the services come from
:mod:`relengotron.airflow.push`. Constructors only store their arguments.

Failures: transient ones (a service unreachable, 5xx, Koji busy, test results of this compose not in yet)
are raised for Airflow's retries with backoff; anything else fails the task at once, naming the item.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from operators.compose import check_item, push_params
from relengotron.airflow.services import permanent_failures


def _connections(op: Any) -> Any:
    from relengotron.airflow.push import PushConnections

    return PushConnections(
        koji=getattr(op, "koji_conn_id", "koji_default"),
        pdc=getattr(op, "pdc_conn_id", "pdc_default"),
        resultsdb=getattr(op, "resultsdb_conn_id", "resultsdb_default"),
        signing=getattr(op, "signing_conn_id", "signing_default"),
        mirror_ssh=getattr(op, "mirror_ssh_conn_id", "mirror_ssh"),
    )


def _values(value: Any) -> list[Any]:
    """A mapped task's XCom (a lazy sequence, a list, None) as a list without the Nones."""
    if value is None:
        return []
    if isinstance(value, Mapping):
        return [value]
    return [v for v in value if v is not None]


class PushPlanOperator(BaseOperator):
    """Decide which artifact targets of the release the push recomposes, and why the others are skipped
    (:func:`relengotron.push_run.plan_push`: PDC's package lists, Koji's latest builds of the push's tag, what
    was released). Returns ``{"push_id", "release", "request", "items": [...]}`` — one item per target, the
    mapped groups' input (:func:`relengotron.push.split_by_kind` gives each group its own).

    Read-only: rerunning it plans again from what the services hold now (after a release, the released
    targets come out "unchanged, skipped").
    """

    ui_color = "#e8f4fa"

    def __init__(
        self,
        *,
        koji_conn_id: str = "koji_default",
        pdc_conn_id: str = "pdc_default",
        mirror_ssh_conn_id: str = "mirror_ssh",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.koji_conn_id = koji_conn_id
        self.pdc_conn_id = pdc_conn_id
        self.mirror_ssh_conn_id = mirror_ssh_conn_id

    def execute(self, context: Any) -> dict[str, Any]:
        from relengotron.airflow.hooks import KojiHook, PDCHook
        from relengotron.airflow.push import load_push, published
        from relengotron.push import plan_items
        from relengotron.push_run import plan_push

        connections = _connections(self)
        with permanent_failures(), ExitStack() as stack:
            config, push = load_push(push_params(context))
            plan = None
            if push.composes_artifacts:
                pdc = PDCHook(connections.pdc).client
                stack.callback(pdc.close)
                koji = KojiHook(connections.koji).client
                stack.callback(koji.close)
                plan = plan_push(push, config, pdc=pdc, koji=koji, published=published(config, connections, stack))
                self.log.info("%s", plan.render())
            items = plan_items(push, plan, config.artifacts_of(push.release.id))
        for item in items:
            self.log.info("%s: %s (%s)", item["label"], item["decision"], item["reason"])
        return {"push_id": push.push_id, "release": push.release.id, "request": push.request, "items": items}


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

    def _output(self) -> Any:
        from relengotron.artifacts import ComposeOutput

        if not isinstance(self.candidate, Mapping):
            raise AirflowFailException(f"candidate: not a compose output: {self.candidate!r}")
        return ComposeOutput.from_dict(self.candidate)


class SignArtifactOperator(_ArtifactStepOperator):
    """Sign the tested candidate with the release's key (OSTree: the commit; images: the CHECKSUM file).
    Skipped when the release has no signing key. Idempotent: what this key signed is left alone."""

    ui_color = "#fdf0e0"

    def execute(self, context: Any) -> list[dict[str, Any]]:
        from dataclasses import asdict

        from relengotron.airflow.push import load_push, plugin_for, release_signer

        item = check_item(self.item)
        with permanent_failures():
            config, push = load_push(push_params(context))
            signer = release_signer(config, push.release.id, _connections(self))
            if signer is None:
                raise AirflowSkipException(f"{push.release.id} has no signing key: {item['label']} goes unsigned")
            plugin = plugin_for(config, item)
            results = plugin.sign(signer, self._output())
        for result in results:
            self.log.info("%s: %s", result.item, result.action)
        return [asdict(r) for r in results]


class PromoteArtifactOperator(_ArtifactStepOperator):
    """Release the tested, signed candidate: move it into the public staging tree (the only step that makes
    an artifact visible to the sync; :meth:`relengotron.artifacts.ArtifactKind.promote`).

    First it makes sure the passing results are about THIS compose: only results submitted since the compose
    count (ResultsDB keeps one item per artifact, so an earlier compose's results look the same), decided with
    the gating policies. Not all in yet: retried (transient); failed: the task fails at once and the candidate
    is held back.

    Idempotent: promoting what is released already changes nothing; a rerun after a crash finishes the moves.
    Returns the promotion's result (``PromoteResult.as_dict()``).
    """

    ui_color = "#e8faf0"

    def __init__(self, *, decision_context: str = "artifact_release", clock_skew: float = 5.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.decision_context = decision_context
        self.clock_skew = clock_skew  # seconds ResultsDB's clock may lag the workers'

    def execute(self, context: Any) -> dict[str, Any]:
        from relengotron.airflow.push import load_push, plugin_for, release_signer
        from relengotron.artifacts import PromoteContext

        item = check_item(self.item)
        with permanent_failures():
            config, push = load_push(push_params(context))
            plugin = plugin_for(config, item)
            output = self._output()
            if output.changed:
                self._check_results(config, push, plugin, output)
            signer = release_signer(config, push.release.id, _connections(self))
            ctx = PromoteContext(layout=config.mirror, signer=signer, static_deltas=config.ostree.static_deltas)
            result = plugin.promote(ctx, output)
        self.log.info("%s: %s %s", item["label"], "released" if result.changed else "already released", result.steps)
        return result.as_dict()

    def _check_results(self, config: Any, push: Any, plugin: Any, output: Any) -> None:
        from relengotron.adapters.errors import TransientError
        from relengotron.airflow.hooks import ResultsDBHook
        from relengotron.gating import decide_one, load_policies
        from relengotron.gating.decision import Verdict
        from relengotron.push import fresh_results

        if not output.composed_at:
            raise AirflowFailException(f"{plugin.label}: the compose output does not say when it was composed")
        subject = plugin.test_item()
        client = ResultsDBHook(self.resultsdb_conn_id).client
        try:
            found = client.latest_for([subject], plugin.test_cases())
        finally:
            client.close()
        fresh = fresh_results(found, output.composed_at, skew=timedelta(seconds=self.clock_skew))
        answer = decide_one(
            load_policies(config.gating_policies),
            subject,
            fresh,
            decision_context=self.decision_context,
            product_version=push.release.pdc_release,
        )
        self.log.info("results of this compose: %s", answer.summary())
        if answer.verdict is Verdict.WAITING:
            raise TransientError(
                "resultsdb", plugin.label, f"results of this compose not all in yet: {answer.summary()}"
            )
        if not answer.passes:
            raise AirflowFailException(f"{plugin.label}: held back: {answer.summary()}")


class SyncOperator(BaseOperator):
    """One sync of the push to the master mirror (:class:`relengotron.sync.MirrorSync`: content, metadata,
    indexes, then deletions, then verification) of the updates repositories of its stream and every released
    artifact output of the release in the staging tree — never a candidate (they are not there). Held under
    the staging lock, so no promotion changes the tree meanwhile.

    ``promoted``: the promote tasks' results, one XCom per task group (a held-back artifact has none).
    ``dry_run``: only list what would change. Fails at once (nothing synced) when the plan did not finish.

    Idempotent: a second sync transfers and deletes nothing; one after a sync killed half-way completes it.
    Returns ``{"roots", "dry_run", "changes": {pass: [paths]}}``.
    """

    template_fields: Sequence[str] = ("plan", "promoted", "dry_run")
    ui_color = "#f3e8fa"

    def __init__(
        self,
        *,
        plan: Any,
        promoted: Any = (),
        dry_run: Any = False,
        mirror_ssh_conn_id: str = "mirror_ssh",
        bwlimit: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.plan = plan
        self.promoted = promoted
        self.dry_run = dry_run
        self.mirror_ssh_conn_id = mirror_ssh_conn_id
        self.bwlimit = bwlimit

    def execute(self, context: Any) -> dict[str, Any]:
        from relengotron.airflow.push import load_push, plugin_for
        from relengotron.airflow.services import flag
        from relengotron.push import sync_roots

        if not isinstance(self.plan, Mapping) or "items" not in self.plan:
            raise AirflowFailException("the plan did not finish: nothing is synced")
        with permanent_failures():
            dry_run = flag(self.dry_run, "dry_run")
            config, push = load_push(push_params(context))
            staging = Path(config.mirror.staging)
            released: list[str] = [p for r in flatten(self.promoted) for p in r.get("paths", ())]
            for item in self.plan["items"]:
                released += [p for p in plugin_for(config, item).mirror_paths(config.mirror) if (staging / p).exists()]
            roots = [r for r in sync_roots(push, config.mirror, released) if (staging / r).is_dir()]
            changes = self._sync(config, roots, dry_run)
        for name, paths in changes.items():
            self.log.info("%s pass: %d change(s)", name, len(paths))
        return {"roots": roots, "dry_run": dry_run, "changes": changes}

    def _sync(self, config: Any, roots: list[str], dry_run: bool) -> dict[str, list[str]]:
        from relengotron.airflow.services import sync_staging

        return sync_staging(config, roots, dry_run=dry_run, mirror_ssh=self.mirror_ssh_conn_id, bwlimit=self.bwlimit)


class PushReportOperator(BaseOperator):
    """What became of every artifact and update, after the sync. Returns the bodies of the
    ``relengotron.artifact.released`` messages (one per artifact released by this run: the publish task maps
    over them) and pushes the ``relengotron.push.complete`` body (XCom ``complete``: each update's outcome)
    and the outcome (XCom ``outcome``). Why an artifact was held back is read from its task states (the first
    of compose, announce, tests, sign, promote that failed). After a dry run (or no sync) it announces
    nothing. Read-only.
    """

    template_fields: Sequence[str] = ("plan", "promoted", "mash", "sync")
    ui_color = "#e8faf0"

    def __init__(self, *, plan: Any, promoted: Any = (), mash: Any = None, sync: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.plan = plan
        self.promoted = promoted
        self.mash = mash
        self.sync = sync

    def execute(self, context: Any) -> list[dict[str, Any]]:
        from relengotron.airflow.push import load_push
        from relengotron.push import complete_message, held_back_reason, outcome, released_message

        if not isinstance(self.plan, Mapping) or "items" not in self.plan:
            raise AirflowFailException("the plan did not finish: there is nothing to report")
        with permanent_failures():
            _, push = load_push(push_params(context))
        items = list(self.plan["items"])
        promoted = {r["target"]: r for r in flatten(self.promoted)}
        reasons = {target: held_back_reason(states) for target, states in self._step_states(context, items).items()}
        result = outcome(push, items, promoted, reasons)
        run_id = str(context.get("run_id", ""))
        by_id = {item["id"]: item for item in items}
        released = [
            released_message(push, by_id[target], done, run_id)
            for target, done in sorted(promoted.items())
            if done.get("changed") and target in by_id
        ]
        repos = [m["path"] for m in _values(self.mash)] if self.mash is not None else []
        synced = isinstance(self.sync, Mapping) and not self.sync.get("dry_run")
        complete = complete_message(push, result, repos, run_id, synced=synced)
        if not synced:  # a dry run, or a sync that did not finish: nothing is announced as released
            self.log.info("not synced: no message is published; would be: %s", complete)
        context["ti"].xcom_push(key="complete", value=complete if synced else None)
        context["ti"].xcom_push(
            key="outcome",
            value={**result, "status": complete["status"], "held_back": complete["artifacts"]["held_back"]},
        )
        for update in result["updates"]:
            self.log.info("%s: %s %s", update["alias"], update["status"], update["held_back"] or "")
        return released if synced else []

    def _step_states(self, context: Any, items: list[dict[str, Any]]) -> dict[str, dict[str, str | None]]:
        """Target id → step → task state, for the recomposed targets (from the task instances of this run)."""
        from relengotron.push import STEPS, split_by_kind

        ti = context["ti"]
        run_id = context.get("run_id")
        try:
            states = ti.get_task_states(dag_id=ti.dag_id, run_ids=[run_id]).get(run_id, {})
        except Exception as exc:  # the reasons are a courtesy: never fail the report for them
            self.log.warning("cannot read the task states: %s", exc)
            states = {}
        out: dict[str, dict[str, str | None]] = {}
        for group, found in split_by_kind(items).items():
            for index, item in enumerate(found):
                if item["decision"] != "skip":
                    out[item["id"]] = {step: states.get(f"{group}.{step}_{index}") for step in STEPS}
        return out


class PushCheckOperator(BaseOperator):
    """The run's verdict, last: fails (at once, no retry) naming every artifact held back, so that the run
    shows on-call what needs them; succeeds when everything the push touched was released. Read-only."""

    template_fields: Sequence[str] = ("report",)
    ui_color = "#fdf6e3"

    def __init__(self, *, report: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.report = report

    def execute(self, context: Any) -> None:
        if not isinstance(self.report, Mapping):
            raise AirflowFailException("the push was not reported")
        held = self.report.get("held_back") or []
        if held:
            names = "; ".join(f"{h['label']} ({h['reason']})" for h in held)
            raise AirflowFailException(
                f"held back, not synced: {names}. The rest of the push is released; rerun a held-back artifact "
                "by clearing its map index (with downstream) once it is fixed"
            )
        self.log.info("every artifact the push touched is released")


class PushTurnReleaseOperator(BaseOperator):
    """Give back the push's turn on its release and request (the lease :class:`sensors.push_turn.PushTurnSensor`
    took). A teardown: it runs however the run went. Idempotent: a turn not held is left alone."""

    ui_color = "#eeeeee"

    def execute(self, context: Any) -> bool:
        from relengotron.airflow.push import load_push
        from relengotron.push_run import PushLock

        with permanent_failures():
            config, push = load_push(push_params(context))
            released = PushLock(config.mirror.staging, push.lock_name).release(str(context["run_id"]))
        self.log.info("turn on %s %s", push.lock_name, "given back" if released else "was not held")
        return released


def flatten(groups: Any) -> list[Any]:
    """The values of several mapped tasks' XComs (one lazy sequence per task), or of one, in one list."""
    if groups is None:
        return []
    if isinstance(groups, Mapping):
        return [groups]
    return [v for group in groups for v in _values(group)]
