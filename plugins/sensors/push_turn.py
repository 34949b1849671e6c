"""PushTurnSensor: one updates push per release and request at a time (a lease in the staging tree)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow.sdk import BaseSensorOperator

FINISHED_RUN_STATES = ("success", "failed")


class PushTurnSensor(BaseSensorOperator):
    """Wait for the push's turn on its release and request, and take it (:func:`relengotron.push_run.take_turn`):
    a lease held by this DAG run until the teardown gives it back. Pushes of other releases (or the other
    request) hold other leases and run side by side.

    A lease whose run has finished (success or failed — e.g. a run marked failed by hand before its teardown
    ran) or no longer exists (deleted in the UI or through the API: Airflow answers 404 for it) is stale and
    taken over; a lease whose run's state cannot be read for another reason waits (never guessed stale).
    Meant to run in ``reschedule`` mode: waiting holds no worker slot.

    Idempotent: a run that already holds the turn (a retry, a cleared task) gets it again at once.
    """

    ui_color = "#eeeeee"

    def poke(self, context: Any) -> bool:
        from relengotron.airflow.errors import permanent_failures
        from relengotron.airflow.push import load_push, push_params
        from relengotron.push_run import take_turn

        ti = context["ti"]
        with permanent_failures():
            config, push = load_push(push_params(context))
            holder = take_turn(
                push, config, run_id=str(context["run_id"]), dag_id=ti.dag_id, is_stale=lambda h: self._ended(ti, h)
            )
        if holder is None:
            self.log.info("push %s has the turn on %s", push.push_id, push.lock_name)
            return True
        self.log.info(
            "waiting: push %s (run %s of %s) holds the turn on %s since %s",
            holder.get("push_id"),
            holder.get("run_id"),
            holder.get("dag_id"),
            push.lock_name,
            holder.get("since"),
        )
        return False

    def _ended(self, ti: Any, held: Mapping[str, Any]) -> bool:
        """Whether the run holding the lease has finished (its lease is stale)."""
        dag_id, run_id = held.get("dag_id"), held.get("run_id")
        if not dag_id or not run_id:
            return False  # not ours to judge: an unreadable or foreign lease waits for on-call
        try:
            return str(ti.get_dagrun_state(dag_id=str(dag_id), run_id=str(run_id))) in FINISHED_RUN_STATES
        except Exception as exc:
            if run_not_found(exc):
                self.log.info("run %s of %s no longer exists (deleted): its turn is taken over", run_id, dag_id)
                return True
            self.log.warning("cannot read the state of run %s of %s: %s", run_id, dag_id, exc)
            return False


def run_not_found(exc: BaseException) -> bool:
    """Whether reading a DAG run's state failed because the run does not exist: the Execution API's 404. It
    reaches a task run by a supervisor as an ``AirflowRuntimeError`` whose detail carries the status code, and
    one run in-process (``dag.test()``) as the API client's ``ServerResponseError``."""
    from airflow.sdk.api.client import ServerResponseError
    from airflow.sdk.exceptions import AirflowRuntimeError

    if isinstance(exc, ServerResponseError):
        return exc.response is not None and exc.response.status_code == 404
    if not isinstance(exc, AirflowRuntimeError):
        return False
    detail = getattr(exc.error, "detail", None)
    return isinstance(detail, Mapping) and detail.get("status_code") == 404
