"""TaskotronResultSensor: wait (deferred, in the triggerer) until ResultsDB holds the required results, then
answer with the gating decision.

Which results are required is the gating policies' (the release configuration's policy file, or
``policies``), for ``decision_context`` and the release's product version; the waiting happens in
:class:`relengotron.airflow.triggers.ResultsTrigger` and the deciding in :func:`relengotron.gating.decide`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator
from airflow.sdk.exceptions import AirflowFailException, AirflowSensorTimeout

if TYPE_CHECKING:
    from relengotron.gating import BatchDecision, PolicySet, Subject

# The trigger reports its own deadline with what is missing; the task's deferral timeout is only a backstop
# (a triggerer that died) and comes this much later.
DEFERRAL_GRACE = 300.0


class TaskotronResultSensor(BaseSensorOperator):
    """Wait for the results the gating policies require of ``subjects``, then decide about them.

    ``subjects``: one mapping or a list of them, each with ``type`` and ``item`` (ResultsDB's subject) and
    optionally ``name`` (a koji_build's is parsed from its NVR); other keys are ignored, so a DAG can map this
    sensor over build records. The product version is ``product_version``, else the release configuration's
    ``pdc_release`` of ``release``; the policies are the file ``policies``, else the configuration's.

    The sensor defers at once; nothing is required (no policy applies) → it answers without waiting. When
    every required result is there it returns the answers (``Answer.as_dict()``, one per subject). If a
    required test FAILED: with ``fail_on_failed`` (the default) the task fails at once naming the failing
    test cases and subjects (a failed test is permanent: no retry); without it, the answers are returned and
    the caller acts on them (the gating DAG). When ``wait_timeout`` (seconds; default the sensor's
    ``timeout``) passes first, the task fails saying "results missing" and which — never "failed".

    ``since`` (an ISO date and time, e.g. a compose's ``composed_at``): only results submitted since then
    (less ``clock_skew`` seconds) count, so the results of an earlier compose of the same artifact — the same
    ResultsDB item — never satisfy the wait. Empty or None: every result counts.

    Read-only, so rerunning it is always safe: it waits again and decides from the newest results.
    """

    template_fields: Sequence[str] = (
        "subjects",
        "decision_context",
        "release",
        "product_version",
        "policies",
        "wait_timeout",
        "poll_interval",
        "since",
    )
    ui_color = "#e3f1dc"

    def __init__(
        self,
        *,
        subjects: Mapping[str, Any] | Sequence[Mapping[str, Any]],
        decision_context: str,
        release: str | None = None,
        product_version: str | None = None,
        policies: str | None = None,
        fail_on_failed: bool = True,
        wait_timeout: float | str | None = None,
        poll_interval: float | str | None = None,
        since: str | None = None,
        clock_skew: float = 5.0,
        resultsdb_conn_id: str = "resultsdb_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.subjects = subjects
        self.decision_context = decision_context
        self.release = release
        self.product_version = product_version
        self.policies = policies
        self.fail_on_failed = fail_on_failed
        self.wait_timeout = wait_timeout
        self.poll_interval = poll_interval
        self.since = since
        self.clock_skew = clock_skew
        self.resultsdb_conn_id = resultsdb_conn_id

    # --- inputs, checked at run time ---------------------------------------------------------------------

    def _subjects(self) -> list[Subject]:
        from relengotron.gating.waiting import subject_from_mapping

        raw = self.subjects
        items = [raw] if isinstance(raw, Mapping) else raw
        if isinstance(items, str) or not isinstance(items, Sequence) or not items:
            raise AirflowFailException(f"subjects: expected a mapping or a non-empty list of them, not {raw!r}")
        try:
            return [subject_from_mapping(s) for s in items]
        except ValueError as exc:
            raise AirflowFailException(f"subjects: {exc}") from exc

    def _policy(self) -> tuple[PolicySet, str]:
        """The policy set and the product version: the arguments, else the release configuration's."""
        from relengotron.gating import load_policies
        from relengotron.yamlfile import FileError

        try:
            path, product_version = self.policies, self.product_version
            if not (path and product_version):
                from relengotron.airflow.hooks import release_config

                config = release_config()
                path = path or str(config.gating_policies)
                if not product_version:
                    if not self.release:
                        raise ValueError("give release or product_version")
                    product_version = config.release(str(self.release)).pdc_release
            return load_policies(path), str(product_version)
        except (ValueError, KeyError, FileError, OSError) as exc:
            raise AirflowFailException(f"{self.task_id}: {exc}") from exc

    # --- execution ---------------------------------------------------------------------------------------

    def execute(self, context: Any) -> list[dict[str, Any]] | None:
        from relengotron.airflow.arguments import seconds
        from relengotron.airflow.errors import permanent_failures
        from relengotron.airflow.triggers import ResultsTrigger
        from relengotron.gating.waiting import awaited, awaited_to_json

        subjects = self._subjects()
        policy_set, product_version = self._policy()
        with permanent_failures():
            timeout = seconds(self.wait_timeout, self.timeout, "wait_timeout")
            interval = seconds(self.poll_interval, self.poke_interval, "poll_interval")
        waiting_for = awaited(
            policy_set, subjects, decision_context=self.decision_context, product_version=product_version
        )
        if not any(entry.rules for entry in waiting_for):
            self.log.info("no policy requires a result of %s: nothing to wait for", ", ".join(map(str, subjects)))
            return self._answers(self._decide(policy_set, product_version, subjects, []))
        self.log.info(
            "waiting up to %.0f s for %s",
            timeout,
            "; ".join(f"{e.subject}: {', '.join(map(str, e.rules))}" for e in waiting_for if e.rules),
        )
        try:
            trigger = ResultsTrigger(
                subjects=awaited_to_json(waiting_for),
                deadline=time.time() + timeout,
                poll_interval=interval,
                conn_id=self.resultsdb_conn_id,
                since=str(self.since) if self.since else None,
                clock_skew=self.clock_skew,
            )
        except ValueError as exc:
            raise AirflowFailException(f"{self.task_id}: {exc}") from exc
        if trigger.since:
            self.log.info("only results submitted since %s count", trigger.since)
        self.defer(
            trigger=trigger,
            method_name="execute_complete",
            timeout=timedelta(seconds=timeout + DEFERRAL_GRACE),
        )
        return None  # not reached: defer() raises

    def execute_complete(self, context: Any, event: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Act on the trigger's event: decide (present), fail "results missing" (missing), or fail (error)."""
        from relengotron.airflow.triggers import MISSING, PRESENT

        status = event.get("status")
        if status == MISSING:
            raise AirflowSensorTimeout(str(event.get("message") or "results missing"))
        if status != PRESENT:
            raise AirflowFailException(f"waiting for results failed: {event.get('message') or event!r}")
        policy_set, product_version = self._policy()
        results = event.get("results") or []
        batch = self._decide(policy_set, product_version, self._subjects(), results)
        self.log.info("%s", batch.summary())
        # the decision and the results it was made on, recorded before a failure too: the release dashboard's
        # excuses (relengotron/dashboard) show them without deciding again
        context["ti"].xcom_push(key="answers", value=self._answers(batch))
        context["ti"].xcom_push(key="results", value=[compact_result(r) for r in results])
        if batch.failing and self.fail_on_failed:
            failed = "; ".join(
                f"{answer.subject.item}: {', '.join(str(f) for f in answer.failures)}" for answer in batch.failing
            )
            raise AirflowFailException(f"required tests failed: {failed}")
        return self._answers(batch)

    def _decide(
        self, policy_set: PolicySet, product_version: str, subjects: list[Subject], results: list[Any]
    ) -> BatchDecision:
        from relengotron.gating import decide

        return decide(
            policy_set, subjects, results, decision_context=self.decision_context, product_version=product_version
        )

    @staticmethod
    def _answers(batch: BatchDecision) -> list[dict[str, Any]]:
        return [answer.as_dict() for answer in batch.answers]


def compact_result(result: Mapping[str, Any]) -> dict[str, Any]:
    """What the XCom ``results`` keeps of one ResultsDB result (API v2.0 shape): its id, test case name,
    outcome, scenario, submit time and ``ref_url`` — not its whole ``data``. Pure."""
    case = result.get("testcase")
    data = result.get("data") if isinstance(result.get("data"), Mapping) else {}
    scenario = data.get("scenario")
    return {
        "id": result.get("id"),
        "testcase": case.get("name") if isinstance(case, Mapping) else case,
        "outcome": result.get("outcome"),
        "scenario": (scenario[0] if scenario else None) if isinstance(scenario, list) else scenario,
        "submit_time": result.get("submit_time"),
        "ref_url": result.get("ref_url"),
    }
