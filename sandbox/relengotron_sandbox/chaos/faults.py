"""How each component of the running stack is hurt, and how its recovery is seen.

- Airflow's components (scheduler, triggerer, API server, DAG processor; a Celery worker): SIGKILL to the
  component's main process, whose pid the supervisor's journal gives (``started``/``restarted``); its supervisor
  (:mod:`relengotron_sandbox.supervise`) restarts it. Recovered: the supervisor journalled the restart and the
  API server's ``/api/v2/monitor/health`` shows a heartbeat of the component newer than the restart (a Celery
  worker: it says it is ready again in its log).
- A worker in the middle of a compose or a sync: SIGKILL to the processes running that task instance (the
  LocalExecutor's worker titled ``airflow worker -- LocalExecutor: <ti id>`` and the task ``airflow worker --
  <ti id>``), as a host dies; Airflow fails the attempt once its heartbeat stops and retries it. Recovered: the
  task instance succeeded, or a later attempt of it runs.
- rsync during a sync: SIGKILL to the ``rsync`` writing the master mirror. Recovered: as a worker.
- The listener: SIGKILL; the demo's supervision restarts it. Recovered: a new listener answers ``/healthz``.
- Koji and ResultsDB: the pipeline reaches them through a :class:`relengotron_sandbox.tcpproxy.TcpProxy`
  (the chaos run's connections point at it), and the listener the bus's relay; stopping one refuses
  connections and closes the open ones for the fault's ``down`` seconds (fedmsg's relay drops what is
  published meanwhile: the listener must notice the gap and replay it from datagrepper). Recovered: its port
  accepts connections again.

Each :class:`Strike` keeps what was hit and a probe of its recovery; :meth:`Hurt.strike` waits up to
:data:`MOMENT_WAIT` for its moment (a compose running, an rsync running) and returns None when it never came.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import requests

from relengotron_sandbox import testing
from relengotron_sandbox.chaos.plan import Fault
from relengotron_sandbox.demo import airflow_local
from relengotron_sandbox.demo.airflow_celery import times_ready
from relengotron_sandbox.demo.airflow_embed import AirflowAPI
from relengotron_sandbox.supervise import current_pid, read_journal
from relengotron_sandbox.tcpproxy import TcpProxy

MOMENT_WAIT = 120.0  # seconds a fault waits for its moment (a compose or a sync running) before it is dropped
HEALTH_KEYS = {  # component → its entry in /api/v2/monitor/health and the heartbeat field there
    "airflow scheduler": ("scheduler", "latest_scheduler_heartbeat"),
    "airflow triggerer": ("triggerer", "latest_triggerer_heartbeat"),
    "airflow dag-processor": ("dag_processor", "latest_dag_processor_heartbeat"),
}
DONE_WELL = frozenset({"success", "skipped"})  # a retried compose may find its artifact unchanged after all
ATTEMPT_STARTED = frozenset({"running", "deferred", "up_for_reschedule", *DONE_WELL})


@dataclass
class Strike:
    """A fault that struck: when (epoch), what it hit, and how to tell its component has recovered."""

    at: float
    hit: str
    recovered: Callable[[], bool]


@dataclass
class Stage:
    """What the controller hurts and watches in a running stack."""

    airflow: testing.Process  # the embedded Airflow (its components are in its session)
    airflow_home: Path
    api: AirflowAPI
    airflow_url: str
    listener: Callable[[], testing.Process]  # the listener running now (the demo's supervision replaces it)
    listener_url: str
    fronts: Mapping[str, TcpProxy]  # service → the proxy the pipeline reaches it through
    master: Path  # the master mirror


class Hurt:
    """Strikes faults on a :class:`Stage`. ``stopping``: set when the run ends (a fault waiting for its moment
    gives up). One fault at a time."""

    def __init__(self, stage: Stage, stopping: threading.Event) -> None:
        self.stage = stage
        self.stopping = stopping
        self.since = time.time()
        self.moment_wait: float | None = None  # how long the next strike waits for its moment (None: MOMENT_WAIT)
        self.awaiting = threading.Event()  # set while a strike waits for its moment (the workload must go on)

    def strike(self, fault: Fault) -> Strike | None:
        """Hurt ``fault``'s target now (or once its moment has come); None when it did not come."""
        if fault.target.during is None:
            return self._strike(fault)
        self.awaiting.set()
        try:
            return self._strike(fault)
        finally:
            self.awaiting.clear()

    def _strike(self, fault: Fault) -> Strike | None:
        target = fault.target
        if target.name == "listener":
            return self._listener()
        if target.action == "stop":
            return self._stop(target.component, fault.down)
        if target.name == "rsync":
            return self._rsync()
        if target.during is not None:
            return self._worker(target.during)
        return self._component(target.component)

    # ---- Airflow's components

    def _component(self, component: str) -> Strike | None:
        journal = self.stage.airflow_home / airflow_local.JOURNAL
        pid = current_pid(journal, component)
        if pid is None or not testing.alive(pid):
            return None
        worker = component.removeprefix("airflow ") if component.startswith("airflow celery-") else None
        mark = self._log_size()
        at = time.time()
        kill(pid)

        def recovered() -> bool:
            restarts = [e for e in read_journal(journal)[0] if e.component == component and e.kind == "restarted"]
            restarted = [e.at for e in restarts if e.at >= at]
            if not restarted:
                return False
            if worker is not None:  # a Celery worker has recovered once it says it is ready again
                return times_ready(self._log_since(mark), worker) > 0
            return self._healthy(component, restarted[0])

        return Strike(at, f"{component} pid {pid}", recovered)

    def _log_size(self) -> int:
        try:
            return self.stage.airflow.log.stat().st_size
        except OSError:
            return 0

    def _log_since(self, offset: int) -> str:
        """What the embedded Airflow logged from byte ``offset`` on (not the whole log at every look)."""
        try:
            with self.stage.airflow.log.open("rb") as log:
                log.seek(offset)
                return log.read().decode(errors="replace")
        except OSError:
            return ""

    def _healthy(self, component: str, since: float) -> bool:
        try:
            health = requests.get(f"{self.stage.airflow_url}/api/v2/monitor/health", timeout=5).json()
        except (requests.RequestException, ValueError):
            return False
        if component not in HEALTH_KEYS:
            return True  # the API server answered
        key, field = HEALTH_KEYS[component]
        entry = health.get(key) or {}
        beat = entry.get(field)
        return entry.get("status") == "healthy" and beat is not None and _epoch(beat) > since

    # ---- a worker in the middle of a task, rsync during a sync

    def _worker(self, during: str) -> Strike | None:
        found = self._running(during)
        if found is None:
            return None
        ti, pids = found
        at = time.time()
        for pid in pids:
            kill(pid)
        return Strike(
            at, f"{_ti_name(ti)} try {ti['try_number']} (pids {', '.join(map(str, pids))})", self._retried(ti)
        )

    def _rsync(self) -> Strike | None:
        master = str(self.stage.master)
        deadline = time.monotonic() + (self.moment_wait or MOMENT_WAIT)
        while time.monotonic() < deadline and not self.stopping.is_set():
            pids = [
                pid
                for pid in testing.session_processes(self.stage.airflow.pid)
                if (line := testing.cmdline(pid) or "").startswith("rsync ") and master in line
            ]
            if pids:  # rsync's processes (sender, generator, receiver) die together, as when its host does
                at = time.time()
                for pid in pids:
                    kill(pid)
                hit = f"rsync pids {', '.join(map(str, pids))}"
                syncing = self._instances("sync", {"running"})
                if not syncing:
                    return Strike(at, hit, lambda: True)
                return Strike(at, f"{hit} of {_ti_name(syncing[0])}", self._retried(syncing[0]))
            time.sleep(0.02)
        return None

    def _running(self, during: str) -> tuple[dict[str, Any], list[int]] | None:
        """A running task instance whose task is ``during`` and the processes running it, once there is one."""
        deadline = time.monotonic() + (self.moment_wait or MOMENT_WAIT)
        while time.monotonic() < deadline and not self.stopping.is_set():
            for ti in self._instances(during, {"running"}):
                pids = [
                    pid
                    for pid in testing.session_processes(self.stage.airflow.pid)
                    if str(ti["id"]) in (testing.cmdline(pid) or "")
                ]
                if pids:
                    return ti, pids
            time.sleep(0.5)
        return None

    def _instances(self, during: str, states: set[str]) -> list[dict[str, Any]]:
        try:
            since = datetime.fromtimestamp(self.since).astimezone().isoformat()
            rows = self.stage.api.task_instances(since, states)
        except (requests.RequestException, ValueError):
            return []
        return [t for t in rows if t["task_id"].split(".")[-1] == during and t.get("state") in states]

    def _retried(self, ti: dict[str, Any]) -> Callable[[], bool]:
        """Whether the task instance ``ti`` (as it was when hit) ended well or runs again in a later attempt."""
        dag, run, task, index = ti["dag_id"], ti["dag_run_id"], ti["task_id"], ti.get("map_index", -1)
        tried = int(ti["try_number"])

        def recovered() -> bool:
            try:
                now = self.stage.api.get(
                    f"/api/v2/dags/{dag}/dagRuns/{run}/taskInstances/{task}" + (f"/{index}" if index >= 0 else "")
                )
            except (requests.RequestException, ValueError):
                return False
            state = now.get("state")
            return state in DONE_WELL or (int(now.get("try_number") or 0) > tried and state in ATTEMPT_STARTED)

        return recovered

    # ---- the listener, the services behind fronts

    def _listener(self) -> Strike:
        process = self.stage.listener()
        at = time.time()
        kill(process.pid)

        def recovered() -> bool:
            now = self.stage.listener()
            if now.pid == process.pid:
                return False
            try:
                return requests.get(f"{self.stage.listener_url}/healthz", timeout=5).status_code == 200
            except requests.RequestException:
                return False

        return Strike(at, f"listener pid {process.pid}", recovered)

    def _stop(self, service: str, down: float) -> Strike:
        front = self.stage.fronts[service]
        at = time.time()
        closed = front.down()
        timer = threading.Timer(down, front.up)
        timer.daemon = True
        timer.start()

        def recovered() -> bool:
            if timer.is_alive():
                return False
            try:
                socket.create_connection(("127.0.0.1", front.port), timeout=5).close()
            except OSError:
                return False
            return True

        return Strike(at, f"{service} refused connections ({closed} open ones closed)", recovered)


def kill(pid: int) -> None:
    """SIGKILL ``pid`` (gone already: nothing)."""
    with suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _ti_name(ti: dict[str, Any]) -> str:
    index = ti.get("map_index", -1)
    label = ti.get("rendered_map_index") or (str(index) if index >= 0 else "")
    return f"{ti['dag_id']}/{ti['dag_run_id']}/{ti['task_id']}" + (f"[{label}]" if label else "")
