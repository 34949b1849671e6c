"""KojiTaskSensor: wait (deferred, in the triggerer) until a Koji task finishes; return its result.

The waiting is :class:`relengotron.airflow.triggers.KojiTaskTrigger`'s, which watches the task anonymously
through the Koji connection.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from airflow.sdk import BaseSensorOperator
from airflow.sdk.exceptions import AirflowFailException, AirflowSensorTimeout

DEFERRAL_GRACE = 300.0  # the trigger reports its own deadline; the deferral timeout is only a backstop


class KojiTaskSensor(BaseSensorOperator):
    """Wait for Koji task ``koji_task_id`` (templated: usually the XCom of the task that submitted it).

    Returns the task's result (``getTaskResult``) when it is CLOSED. A FAILED or CANCELED task fails this
    task at once with Koji's fault text (the Koji task is over; retrying the wait cannot change it — rerun
    the submitting task). No end within ``wait_timeout`` seconds (default: the sensor's ``timeout``) fails
    as a sensor timeout. Read-only: rerunning it just reads the task's end again.
    """

    template_fields: Sequence[str] = ("koji_task_id", "wait_timeout", "poll_interval")
    ui_color = "#e3f1dc"

    def __init__(
        self,
        *,
        koji_task_id: int | str,
        wait_timeout: float | str | None = None,
        poll_interval: float | str | None = None,
        koji_conn_id: str = "koji_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.koji_task_id = koji_task_id
        self.wait_timeout = wait_timeout
        self.poll_interval = poll_interval
        self.koji_conn_id = koji_conn_id

    def _task(self) -> int:
        value = self.koji_task_id
        try:
            task = int(str(value).strip()) if not isinstance(value, bool) else 0
        except ValueError:
            task = 0
        if task < 1:
            raise AirflowFailException(f"koji_task_id: {value!r} is not a Koji task id")
        return task

    def execute(self, context: Any) -> Any:
        from relengotron.airflow.arguments import seconds
        from relengotron.airflow.errors import permanent_failures
        from relengotron.airflow.triggers import KojiTaskTrigger

        task = self._task()
        with permanent_failures():
            timeout = seconds(self.wait_timeout, self.timeout, "wait_timeout")
            interval = seconds(self.poll_interval, self.poke_interval, "poll_interval")
        self.log.info("waiting up to %.0f s for Koji task %d", timeout, task)
        self.defer(
            trigger=KojiTaskTrigger(
                task_id=task,
                deadline=time.time() + timeout,
                poll_interval=interval,
                conn_id=self.koji_conn_id,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=timeout + DEFERRAL_GRACE),
        )

    def execute_complete(self, context: Any, event: Mapping[str, Any]) -> Any:
        from relengotron.airflow.errors import permanent_failures
        from relengotron.airflow.triggers import SUCCESS, TIMEOUT, KojiTaskEnd

        with permanent_failures():
            end = KojiTaskEnd.of(event, self.koji_task_id)
        if end.status == SUCCESS:
            self.log.info("%s", end.describe())
            return end.result
        if end.status == TIMEOUT:
            raise AirflowSensorTimeout(end.describe())
        raise AirflowFailException(end.describe())
