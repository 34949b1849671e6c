"""A release engineer answering a human-in-the-loop question through Airflow's REST API, for DAG tests that run
with dag.test(): an api-server on 127.0.0.1 on the test session's metadata database (dag.test() keeps a run
alive while a task awaits input, until a response recorded by an api-server sharing its database resumes it —
airflow/sdk/definitions/dag.py), and a thread that waits for the question, looks at the world while the run
waits, and answers it as ``admin``.

If the thread cannot answer (the question never comes, the API refuses), it sets the run failed through the API,
so that dag.test() returns instead of waiting forever, and :meth:`Answerer.join` raises what went wrong.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from listener_harness import STOP_GRACE, Airflow

from relengotron_sandbox.testing import airflow_env, free_port, stop


@contextmanager
def api_server() -> Iterator[Airflow]:
    """An Airflow api-server (only) on 127.0.0.1 on this session's AIRFLOW_HOME and its migrated database; a
    user ``admin`` of the simple auth manager. Stopped afterwards."""
    home = Path(os.environ["AIRFLOW_HOME"])
    settings = {"AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin"}
    port = free_port()
    env = airflow_env(
        home, base=dict(os.environ), api_port=port, jwt_secret="relengotron-hitl-tests", settings=settings
    )
    deployment = Airflow(home, port, env)
    (home / "logs").mkdir(exist_ok=True)
    try:
        deployment.start_api()
        yield deployment
    finally:
        stop(*deployment.processes.values(), timeout=STOP_GRACE)


@dataclass
class Answerer:
    """Answers the first unanswered question of ``task_id`` in a run of ``dag_id`` with ``option``; calls
    ``look`` just before answering (the world as the waiting run left it). What it saw is kept: ``question``
    (the HITL detail as the API gave it, the task instance's state in it), ``looked`` (``look``'s result) and
    ``response`` (the API's answer to the PATCH)."""

    airflow: Airflow
    dag_id: str
    task_id: str
    option: str
    look: Callable[[], Any] = lambda: None
    timeout: float = 240.0
    question: dict[str, Any] | None = None
    looked: Any = None
    response: dict[str, Any] | None = None
    error: BaseException | None = None
    _thread: threading.Thread = field(init=False)

    def start(self) -> Answerer:
        self._thread = threading.Thread(target=self._run, name=f"answer-{self.task_id}", daemon=True)
        self._thread.start()
        return self

    def _pending(self) -> dict[str, Any] | None:
        """The unanswered question, or None — also when the API could not answer this time (an api-server on
        SQLite beside a running dag.test() may answer a poll 5xx, "database is locked"): polled again."""
        try:
            found = self.airflow.get(
                f"/api/v2/dags/{self.dag_id}/dagRuns/~/hitlDetails", task_id=self.task_id, response_received="false"
            )["hitl_details"]
        except requests.RequestException as exc:
            if isinstance(exc, requests.HTTPError) and exc.response is not None and exc.response.status_code < 500:
                raise
            return None
        # the question is recorded before its task instance is parked: answer only a question that waits
        waiting = [q for q in found if (q.get("task_instance") or {}).get("state") == "awaiting_input"]
        return waiting[0] if waiting else None

    def _run(self) -> None:
        run_id = None
        try:
            deadline = time.monotonic() + self.timeout
            while (question := self._pending()) is None:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no question of {self.dag_id}.{self.task_id} within {self.timeout} s")
                time.sleep(0.5)
            self.question = question
            ti = question["task_instance"]
            run_id = ti["dag_run_id"]
            self.looked = self.look()
            path = f"/api/v2/dags/{self.dag_id}/dagRuns/{run_id}/taskInstances/{self.task_id}/{ti['map_index']}"
            self.response = self.airflow.call("PATCH", f"{path}/hitlDetails", json={"chosen_options": [self.option]})
        except BaseException as exc:  # handed to join(); the run must not wait forever
            self.error = exc
            self._fail_runs(run_id)

    def _fail_runs(self, run_id: str | None) -> None:
        try:
            runs = [run_id] if run_id else [r["dag_run_id"] for r in self.airflow.runs(self.dag_id, "")]
            for run in runs:
                self.airflow.call("PATCH", f"/api/v2/dags/{self.dag_id}/dagRuns/{run}", json={"state": "failed"})
        except Exception:  # the error above is what the test reports
            pass

    def join(self) -> Answerer:
        self._thread.join(timeout=30)
        if self.error is not None:
            raise AssertionError(f"answering {self.dag_id}.{self.task_id} failed: {self.error!r}") from self.error
        return self
