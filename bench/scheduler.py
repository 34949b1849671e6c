"""Figure 10 — ``updates_push`` on the real scheduler: end to end against its critical path (goal: at most 1.5x).

Figure 4 times ``dag.test()``, which runs one task instance at a time. Here each repeat starts a sandbox and the
demo's embedded Airflow (:mod:`relengotron_sandbox.demo.airflow_embed`: api-server, scheduler, dag-processor and
triggerer on SQLite with the LocalExecutor, every socket on 127.0.0.1, the sandbox's connections), triggers the
same push as figure 4 (:data:`bench.critical_path.CONF`) through the REST API, waits for the run to end and reads
its task instances back from the REST API. Both are stopped before the next repeat, also on failure.

From the task instances: the critical path (:func:`bench.critical_path.critical_chain`, the limit); the run's
end to end as Airflow recorded it (its ``start_date`` → ``end_date``) and as the triggering client saw it (POST →
the run seen ended); and where the rest goes along the critical path — each instance's wait between being queued
and starting (the executor starting a task process: the scheduling latency asked about) and the time before it
was queued once its predecessor on the path had ended (the scheduler noticing it is ready).

The run ends failed at ``check``: the world's f24 cloud AMI fails its boot test and is held back by design.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from bench.core import REPO, RunContext
from bench.critical_path import CONF, critical_chain, instance_name
from bench.stats import Figure, median, timed_metric

DAG_ID = "updates_push"
GOAL = 1.5  # end to end / critical path on the real scheduler (issue 14)
RUN_TIMEOUT = 900.0
POLL = 0.2
FINISHED_RUN = frozenset({"success", "failed"})


# --------------------------------------------------------------------------- what the REST API answers (pure)


def _epoch(value: str | None) -> float | None:
    """An ISO 8601 time of the REST API as epoch seconds (None stays None)."""
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def dag_tasks(rest_tasks: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """``GET /api/v2/dags/{id}/tasks``'s tasks as :func:`critical_chain` reads them: each task's upstream ids
    (the API gives downstream ones) and its task group (the prefix of its id: Airflow prefixes a group's task
    ids with the group's id). Pure."""
    tasks: dict[str, dict[str, Any]] = {}
    for task in rest_tasks:
        task_id = str(task["task_id"])
        tasks[task_id] = {"upstream": [], "group": task_id.rpartition(".")[0] or None}
    for task in rest_tasks:
        for down in task.get("downstream_task_ids") or []:
            tasks[str(down)]["upstream"].append(str(task["task_id"]))
    for task in tasks.values():
        task["upstream"].sort()
    return tasks


def task_instances(rest_instances: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The REST API's task instances as :func:`critical_chain` reads them, with epoch seconds: ``start``,
    ``end`` and ``queued`` (when the scheduler last queued it), and the try number. Pure."""
    return [
        {
            "task_id": str(ti["task_id"]),
            "map_index": int(ti["map_index"]),
            "label": ti.get("rendered_map_index"),
            "state": str(ti.get("state")),
            "try_number": int(ti.get("try_number") or 0),
            "start": _epoch(ti.get("start_date")),
            "end": _epoch(ti.get("end_date")),
            "queued": _epoch(ti.get("queued_when")),
        }
        for ti in rest_instances
    ]


@dataclass(frozen=True)
class Latency:
    """Where the time between the tasks of a critical path goes (seconds)."""

    queued_to_start: float  # executor: queued → its task process running, summed over the path
    ready_to_queued: float  # scheduler: the path's previous instance ended (or the run started) → queued
    gaps: float  # every idle second along the path: previous end (or run start) → start, and last end → run end
    unknown: int  # instances whose queued time is after their start (resumed from a deferral) or missing


def path_latency(chain: Sequence[Mapping[str, Any]], run_start: float, run_end: float) -> Latency:
    """Split the idle time along a critical path (:func:`critical_chain`'s instances, in order) into the
    executor's queued → start and the scheduler's ready → queued. An instance resumed after deferring was
    queued again after it started: its own queue wait is counted in its duration, not here. Pure."""
    queued_to_start = ready_to_queued = gaps = 0.0
    unknown = 0
    previous_end = run_start
    for instance in chain:
        start, end, queued = instance.get("start"), instance.get("end"), instance.get("queued")
        if start is None or end is None:
            continue
        gaps += max(0.0, start - previous_end)
        if queued is None or queued > start:
            unknown += 1
        else:
            queued_to_start += start - queued
            ready_to_queued += max(0.0, queued - previous_end)
        previous_end = end
    gaps += max(0.0, run_end - previous_end)
    return Latency(queued_to_start, ready_to_queued, gaps, unknown)


# --------------------------------------------------------------------------- one run on the real scheduler


@dataclass(frozen=True)
class Run:
    """One ``updates_push`` run on the scheduler, as read back from the REST API."""

    state: str
    wall: float  # POST → seen ended, by the client
    start: float  # the run's start_date (epoch)
    end: float  # its end_date
    tasks: dict[str, dict[str, Any]]
    instances: list[dict[str, Any]]

    @property
    def elapsed(self) -> float:
        return self.end - self.start


def child_base() -> dict[str, str]:
    """The environment under the embedded Airflow: this checkout's code first (the bench measures the checkout it
    runs from, not whatever ``relengotron`` the venv was installed from)."""
    from relengotron_sandbox import testing

    base = testing.child_env()
    base["PYTHONPATH"] = os.pathsep.join([str(REPO), str(REPO / "sandbox")])
    return base


def push_once(api: Any, run_id: str, conf: Mapping[str, Any]) -> Run:
    """Trigger ``updates_push`` with ``conf`` on ``api`` (an ``AirflowAPI``), wait for it to end and read it."""
    from relengotron_sandbox import testing

    path = f"/api/v2/dags/{DAG_ID}/dagRuns/{quote(run_id, safe='')}"
    clock = time.perf_counter()
    triggered = api.trigger(DAG_ID, run_id, dict(conf))
    if not triggered.done:
        raise RuntimeError(f"triggering {DAG_ID}: {triggered.detail}")

    def ended() -> dict[str, Any] | None:
        run = api.get(path)
        return run if run.get("state") in FINISHED_RUN else None

    run = testing.wait_for(f"the {DAG_ID} run {run_id} ended", ended, RUN_TIMEOUT, every=POLL)
    wall = time.perf_counter() - clock
    rest_tasks = api.get(f"/api/v2/dags/{DAG_ID}/tasks")["tasks"]
    rest_instances = api.get(f"{path}/taskInstances", limit=1000)["task_instances"]
    start, end = _epoch(run.get("start_date")), _epoch(run.get("end_date"))
    if start is None or end is None:
        raise RuntimeError(f"the run {run_id} has no start or end date: {run}")
    return Run(str(run["state"]), wall, start, end, dag_tasks(rest_tasks), task_instances(rest_instances))


def run_on_scheduler(ctx: RunContext, index: int) -> Run:
    """A fresh sandbox and embedded Airflow, one push, both stopped again (also on failure)."""
    from bench.world import WORLD_CACHE
    from relengotron_sandbox import control
    from relengotron_sandbox.demo import airflow_embed

    state = ctx.scratch(f"scheduler-sandbox-{index}")
    home = ctx.scratch(f"scheduler-airflow-{index}")
    running = control.up(state_dir=state, cache_dir=WORLD_CACHE)
    airflow = None
    try:
        airflow, url = airflow_embed.start(home, REPO, running.endpoints, home / "airflow.log", base=child_base())
        airflow_embed.wait_healthy(url, airflow)
        password = airflow_embed.passwords(home)[airflow_embed.ADMIN]
        api = airflow_embed.AirflowAPI(url, airflow_embed.ADMIN, password)
        try:
            api.wait_for_dags([DAG_ID])
            api.unpause(DAG_ID)
            ctx.log(f"scheduler: Airflow up at {url}, triggering {DAG_ID}")
            return push_once(api, f"bench-scheduler-{index}", CONF)
        finally:
            api.close()
    finally:
        if airflow is not None:
            airflow.stop()
        control.down(state)


# --------------------------------------------------------------------------- the figure


def measure(ctx: RunContext) -> Figure:
    repeats = ctx.reps(3, 1)
    fig = Figure("10", "scheduler-push", "updates_push on the real scheduler against its critical path")
    fig.params = {
        "conf": CONF,
        "repeats": repeats,
        "runner": "embedded Airflow (relengotron_sandbox.demo.airflow_embed): LocalExecutor, SQLite",
        "goal": f"end to end <= {GOAL}x the critical path",
    }
    elapsed, walls, paths, waits, pickups, gaps, states = [], [], [], [], [], [], []
    names: list[str] = []
    unknown = retried = 0
    for index in range(repeats):
        run = run_on_scheduler(ctx, index)
        length, chain = critical_chain(run.tasks, run.instances)
        latency = path_latency(chain, run.start, run.end)
        elapsed.append(run.elapsed)
        walls.append(run.wall)
        paths.append(length)
        waits.append(latency.queued_to_start)
        pickups.append(latency.ready_to_queued)
        gaps.append(latency.gaps)
        states.append(run.state)
        names = [instance_name(i) for i in chain]
        fig.params["last_path"] = [
            {
                "instance": instance_name(i),
                "start": round(i["start"] - run.start, 2),
                "seconds": round(i["end"] - i["start"], 2),
            }
            for i in chain
            if i["start"] is not None and i["end"] is not None
        ]
        unknown = latency.unknown
        retried = sum(1 for i in run.instances if i["try_number"] > 1)
        ctx.log(f"scheduler: run {index + 1}: {run.elapsed:.1f} s (critical path {length:.1f} s), state {run.state}")
    limit = "critical path (limit)"
    ratio = median(elapsed) / median(paths)
    goal = f"goal <= {GOAL}x"
    fig.add(
        timed_metric("end to end (run start → end)", elapsed, limit, paths, kind="limit", note=goal, ok=ratio <= GOAL)
    )
    fig.add(
        timed_metric(
            "end to end (wall from trigger)",
            walls,
            limit,
            paths,
            kind="limit",
            note=f"POST → the run seen ended (polled every {POLL} s)",
        )
    )
    gap = [e - p for e, p in zip(elapsed, paths, strict=True)]
    fig.add(
        timed_metric(
            "scheduling latency on the critical path",
            waits,
            "end to end - critical path",
            gap,
            note="sum of queued → start over the path's instances (the executor starting task processes)",
        )
    )
    fig.add(
        timed_metric(
            "scheduler pickup on the critical path",
            pickups,
            "end to end - critical path",
            gap,
            note="sum of previous instance ended → queued along the path (the scheduler seeing a task ready)",
        )
    )
    fig.add(
        timed_metric(
            "idle along the critical path",
            gaps,
            "end to end - critical path",
            gap,
            note="every second between the path's instances, from the run's start to its end",
        )
    )
    fig.notes.append(f"run states: {', '.join(states)} (the f24 AMI is held back by design: its test fails)")
    fig.notes.append(f"critical path of the last run: {' → '.join(names)}")
    if unknown:
        fig.notes.append(f"{unknown} instance(s) of the last path resumed from a deferral: their queue wait is in it")
    if retried:
        fig.notes.append(f"{retried} task instance(s) of the last run were retried")
    return fig
