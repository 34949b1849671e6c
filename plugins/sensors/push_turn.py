"""PushTurnSensor: one updates push per release and request at a time (a lease in the staging tree)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from airflow.sdk import BaseSensorOperator
from operators.compose import push_params

from relengotron.airflow.services import permanent_failures

FINISHED_RUN_STATES = ("success", "failed")


class PushTurnSensor(BaseSensorOperator):
    """Wait for the push's turn on its release and request, and take it: the lease of
    :class:`relengotron.push_run.PushLock`, held by this DAG run until the teardown gives it back. Pushes of
    other releases (or the other request) hold other leases and run side by side.

    A lease whose run has finished (success or failed — e.g. a run marked failed by hand before its teardown
    ran) is stale and taken over. Meant to run in ``reschedule`` mode: waiting holds no worker slot.

    Idempotent: a run that already holds the turn (a retry, a cleared task) gets it again at once.
    """

    ui_color = "#eeeeee"

    def poke(self, context: Any) -> bool:
        from relengotron.airflow.push import load_push
        from relengotron.push_run import PushLock

        with permanent_failures():
            config, push = load_push(push_params(context))
            ti = context["ti"]
            run_id = str(context["run_id"])
            info = {
                "push_id": push.push_id,
                "dag_id": ti.dag_id,
                "run_id": run_id,
                "since": datetime.now(UTC).isoformat(),
            }
            holder = PushLock(config.mirror.staging, push.lock_name).acquire(
                run_id, info, is_stale=lambda held: self._ended(ti, held)
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
            self.log.warning("cannot read the state of run %s of %s: %s", run_id, dag_id, exc)
            return False
