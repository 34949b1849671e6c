"""Figure 4 — push critical path: ``updates_push`` end to end against its longest chain and its serial sum.

Each repeat starts a whole sandbox (``relengotron-sandbox up`` on a fresh state dir) and runs the f24 stable
push of the glibc update with the DAG's own ``dag.test()`` (in a subprocess, a private migrated Airflow home,
the sandbox's connections): mash, plan, five artifact targets each composed (OSTree locally; images as Koji
image tasks of the sandbox hub), announced, tested by the sandbox Taskotron, signed and released — the cloud
AMI's test fails by the world's design, so it is held back and the run ends failed at ``check`` — then sync,
messages, website.

From the task instances' start and end times:
- the critical path (the limit): the longest path through the DAG's dependencies, each instance weighted by
  its duration, a mapped step depending on the same map index of the step before it;
- the longest single artifact chain (compose → announce → tests → sign → promote of one target);
- the serial sum: every instance's duration added up (what a one-at-a-time pusher takes).

``dag.test()`` runs the task instances one at a time, in one process: its end-to-end time is the serial sum
plus the scheduling between tasks, so the figure shows how far a parallel executor could bring a push (serial
sum / critical path) and what dag.test() costs on top of the serial sum.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from bench.airflow_env import environment, migrate
from bench.core import REPO, RunContext
from bench.stats import Figure, timed_metric
from bench.world import WORLD_CACHE

# the conf the listener makes of Bodhi's bodhi.compose.composing for the world's glibc update (its repo, each
# update's NVRs joined by spaces); the run reads the update itself from the sandbox Bodhi
CONF = {
    "push_id": "2016-06-14.0",
    "repo": "f24-updates",
    "updates": ["glibc-2.23.1-8.fc24"],
    "agent": "bodhi",
    "poll_interval": 0.2,
}
CHAIN = ("compose", "announce", "tests", "sign", "promote")


def _duration(instance: Mapping[str, Any]) -> float:
    if instance.get("start") is None or instance.get("end") is None:
        return 0.0
    return max(0.0, float(instance["end"]) - float(instance["start"]))


def instance_name(instance: Mapping[str, Any]) -> str:
    """How a task instance is shown: its task id, and for a mapped one its label (or map index). Pure."""
    index = int(instance["map_index"])
    return str(instance["task_id"]) if index < 0 else f"{instance['task_id']}[{instance.get('label') or index}]"


def critical_chain(
    tasks: Mapping[str, Mapping[str, Any]], instances: Sequence[Mapping[str, Any]]
) -> tuple[float, list[Mapping[str, Any]]]:
    """The longest dependency path through the run's task instances (seconds) and its instances, in order.

    An instance of a mapped task depends on the instance of the same map index of an upstream task of the same
    (mapped) task group, and on every instance of any other upstream task. Pure.
    """
    by_task: dict[str, list[Mapping[str, Any]]] = {}
    for instance in instances:
        by_task.setdefault(str(instance["task_id"]), []).append(instance)
    memo: dict[tuple[str, int], tuple[float, list[Mapping[str, Any]]]] = {}

    def deps(task_id: str, index: int) -> list[tuple[str, int]]:
        out = []
        group = tasks[task_id].get("group")
        for up in tasks[task_id].get("upstream", []):
            ups = by_task.get(up, [])
            same_group = group is not None and tasks.get(up, {}).get("group") == group
            if index >= 0 and same_group:
                out += [(up, index)] if any(u["map_index"] == index for u in ups) else []
            else:
                out += [(up, int(u["map_index"])) for u in ups]
        return out

    def finish(task_id: str, index: int) -> tuple[float, list[Mapping[str, Any]]]:
        key = (task_id, index)
        if key not in memo:
            [me] = [i for i in by_task[task_id] if i["map_index"] == index]
            best: tuple[float, list[Mapping[str, Any]]] = (0.0, [])
            for dep in deps(task_id, index):
                got = finish(*dep)
                if got[0] > best[0]:
                    best = got
            memo[key] = (best[0] + _duration(me), [*best[1], me])
        return memo[key]

    ends = [finish(str(i["task_id"]), int(i["map_index"])) for i in instances]
    return max(ends, key=lambda e: e[0]) if ends else (0.0, [])


def critical_path(
    tasks: Mapping[str, Mapping[str, Any]], instances: Sequence[Mapping[str, Any]]
) -> tuple[float, list[str]]:
    """:func:`critical_chain` with its instances named (:func:`instance_name`). Pure."""
    length, chain = critical_chain(tasks, instances)
    return length, [instance_name(i) for i in chain]


def longest_chain(instances: Sequence[Mapping[str, Any]]) -> tuple[float, str]:
    """The slowest artifact target's own chain (compose → … → promote in one mapped group) and its label. Pure."""
    chains: dict[tuple[str, int], float] = {}
    labels: dict[tuple[str, int], str] = {}
    for instance in instances:
        group, _, step = str(instance["task_id"]).rpartition(".")
        if step not in CHAIN or int(instance["map_index"]) < 0:
            continue
        key = (group, int(instance["map_index"]))
        chains[key] = chains.get(key, 0.0) + _duration(instance)
        if step == "compose" and instance.get("label"):
            labels[key] = str(instance["label"])
    if not chains:
        return 0.0, ""
    key = max(chains, key=lambda k: chains[k])
    return chains[key], labels.get(key, f"{key[0]}[{key[1]}]")


def serial_sum(instances: Sequence[Mapping[str, Any]]) -> float:
    return sum(_duration(i) for i in instances)


def measure(ctx: RunContext) -> Figure:
    from relengotron_sandbox import control

    repeats = ctx.reps(3, 1)
    fig = Figure("4", "critical-path", "Push critical path: updates_push end to end")
    fig.params = {"conf": CONF, "repeats": repeats, "runner": "dag.test() (one task instance at a time)"}
    home = ctx.scratch("critical-path-airflow")
    migrate(environment(home))
    walls, paths, chains, sums, states = [], [], [], [], []
    path_names: list[str] = []
    chain_label = ""
    for index in range(repeats):
        state = ctx.scratch(f"critical-path-sandbox-{index}")
        running = control.up(state_dir=state, cache_dir=WORLD_CACHE)
        try:
            out = subprocess.run(
                [sys.executable, "-m", "bench.pushrun", json.dumps(CONF)],
                env=environment(home, running.endpoints),
                cwd=REPO,
                capture_output=True,
                text=True,
                timeout=1200,
                check=False,
            )
        finally:
            control.down(state)
        if out.returncode != 0:
            raise RuntimeError(f"dag.test() of updates_push failed to run: {out.stderr[-2000:]}")
        run = json.loads(out.stdout.strip().splitlines()[-1])
        length, names = critical_path(run["tasks"], run["instances"])
        chain, chain_label = longest_chain(run["instances"])
        walls.append(run["wall"])
        paths.append(length)
        chains.append(chain)
        sums.append(serial_sum(run["instances"]))
        states.append(run["state"])
        path_names = names
        ctx.log(f"critical path: run {index + 1}: {run['wall']:.1f} s, state {run['state']}")
    limit = "critical path (limit)"
    serial_note = "dag.test() runs one task instance at a time: it cannot reach the limit"
    fig.add(timed_metric("end to end (dag.test)", walls, limit, paths, kind="limit", note=serial_note, ok=False))
    fig.add(
        timed_metric(
            "end to end (dag.test)",
            walls,
            "serial sum of task durations",
            sums,
            note="the rest is dag.test()'s scheduling between tasks",
        )
    )
    fig.add(
        timed_metric("serial sum", sums, limit, paths, kind="limit", note="what a parallel executor could gain at most")
    )
    fig.add(
        timed_metric(
            "longest artifact chain",
            chains,
            "critical path",
            paths,
            note=f"{chain_label}: compose → announce → tests → sign → promote",
        )
    )
    fig.notes.append(f"run states: {', '.join(states)} (the f24 AMI is held back by design: its test fails)")
    fig.notes.append(f"critical path of the last run: {' → '.join(path_names)}")
    return fig
