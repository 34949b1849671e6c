"""``python -m bench.pushrun CONF_JSON``: one ``updates_push`` run with dag.test(), its timings as JSON on stdout.

Run in a subprocess by figure 4, so that Airflow reads the environment the figure prepared (a private
AIRFLOW_HOME with a migrated database, the sandbox's connections as ``AIRFLOW_CONN_*``) and its global state
dies with the run. The last stdout line is ``{"wall", "state", "tasks", "instances"}``: the run's wall
seconds, its state, each task's upstream task ids and task group, and each task instance's start, end and
state.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str]) -> int:
    from airflow.models import DagBag

    conf = json.loads(argv[0])
    dag = DagBag(dag_folder=str(REPO / "dags"), safe_mode=False).get_dag("updates_push")
    start = time.perf_counter()
    run = dag.test(run_conf=conf)
    wall = time.perf_counter() - start
    tasks: dict[str, Any] = {}
    for task in dag.tasks:
        group = task.task_group.group_id if task.task_group is not None else None
        tasks[task.task_id] = {"upstream": sorted(task.upstream_task_ids), "group": group}
    instances = [
        {
            "task_id": ti.task_id,
            "map_index": ti.map_index,
            "label": ti.rendered_map_index,
            "state": str(ti.state),
            "start": ti.start_date.timestamp() if ti.start_date else None,
            "end": ti.end_date.timestamp() if ti.end_date else None,
        }
        for ti in run.get_task_instances()
    ]
    print(json.dumps({"wall": wall, "state": str(run.state), "tasks": tasks, "instances": instances}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
