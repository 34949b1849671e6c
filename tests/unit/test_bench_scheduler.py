"""Figure 9's pure parts: the REST API's tasks and task instances as the critical path reads them, and where the
idle time along the critical path goes (queued → start, ready → queued)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # bench/ is run from the repository root (python -m bench); it is not installed
    sys.path.insert(0, str(REPO))

from bench.critical_path import critical_chain, critical_path, instance_name  # noqa: E402
from bench.scheduler import Latency, dag_tasks, path_latency, task_instances  # noqa: E402


def test_tasks_get_their_upstream_ids_and_group_from_the_api_s_downstream_ids() -> None:
    rest = [
        {"task_id": "plan", "downstream_task_ids": ["g.compose", "other"]},
        {"task_id": "g.compose", "downstream_task_ids": ["g.promote"]},
        {"task_id": "g.promote", "downstream_task_ids": ["sync"]},
        {"task_id": "other", "downstream_task_ids": ["sync"]},
        {"task_id": "sync", "downstream_task_ids": []},
    ]
    tasks = dag_tasks(rest)
    assert tasks["plan"] == {"upstream": [], "group": None}
    assert tasks["g.promote"] == {"upstream": ["g.compose"], "group": "g"}
    assert tasks["sync"] == {"upstream": ["g.promote", "other"], "group": None}


def test_task_instances_read_iso_times_as_epoch_seconds_and_keep_their_label() -> None:
    [ti] = task_instances(
        [
            {
                "task_id": "g.compose",
                "map_index": 2,
                "rendered_map_index": "fedora/24/x86_64/atomic-host",
                "state": "success",
                "try_number": 1,
                "queued_when": "2026-12-07T00:00:00.500000Z",
                "start_date": "2026-12-07T00:00:01Z",
                "end_date": "2026-12-07T00:00:03.250000+00:00",
            }
        ]
    )
    assert ti["end"] - ti["start"] == pytest.approx(2.25)
    assert ti["start"] - ti["queued"] == pytest.approx(0.5)
    assert (ti["map_index"], ti["try_number"], ti["state"]) == (2, 1, "success")
    assert instance_name(ti) == "g.compose[fedora/24/x86_64/atomic-host]"


def test_an_instance_that_never_ran_has_no_times() -> None:
    [ti] = task_instances([{"task_id": "g.sign", "map_index": 0, "state": "upstream_failed", "try_number": 0}])
    assert (ti["start"], ti["end"], ti["queued"], ti["label"]) == (None, None, None, None)
    assert instance_name(ti) == "g.sign[0]"


def _ti(task: str, queued: float | None, start: float, end: float) -> dict[str, Any]:
    return {"task_id": task, "map_index": -1, "queued": queued, "start": start, "end": end}


def test_idle_time_along_the_path_splits_into_scheduler_pickup_and_executor_start() -> None:
    chain = [
        _ti("a", 100.1, 100.2, 101.0),  # run started at 100.0: picked up 0.1 s, started 0.1 s after queued
        _ti("b", 101.3, 101.5, 103.0),  # 0.3 s to be queued, 0.2 s to start
        _ti("c", 103.4, 103.5, 104.0),  # 0.4 s, 0.1 s
    ]
    latency = path_latency(chain, run_start=100.0, run_end=104.5)
    assert latency.queued_to_start == pytest.approx(0.1 + 0.2 + 0.1)
    assert latency.ready_to_queued == pytest.approx(0.1 + 0.3 + 0.4)
    assert latency.gaps == pytest.approx(0.2 + 0.5 + 0.5 + 0.5)  # the last 0.5 s: c ended → the run ended
    assert latency.unknown == 0


def test_an_instance_resumed_from_a_deferral_counts_no_queue_wait_but_its_gap() -> None:
    # queued again after it started (the trigger fired, the scheduler queued it to resume): its own wait is in
    # its duration; the gap before it still counts
    chain = [_ti("compose", 108.0, 101.0, 110.0), _ti("sign", None, 110.5, 111.0)]
    latency = path_latency(chain, run_start=100.0, run_end=111.0)
    assert latency == Latency(queued_to_start=0.0, ready_to_queued=0.0, gaps=pytest.approx(1.5), unknown=2)


def test_the_critical_chain_is_the_critical_path_s_instances() -> None:
    tasks = dag_tasks(
        [
            {"task_id": "plan", "downstream_task_ids": ["g.compose"]},
            {"task_id": "g.compose", "downstream_task_ids": ["sync"]},
            {"task_id": "sync", "downstream_task_ids": []},
        ]
    )
    instances = [
        {"task_id": "plan", "map_index": -1, "start": 0.0, "end": 1.0},
        {"task_id": "g.compose", "map_index": 0, "start": 1.0, "end": 2.0, "label": "fast"},
        {"task_id": "g.compose", "map_index": 1, "start": 1.0, "end": 4.0, "label": "slow"},
        {"task_id": "sync", "map_index": -1, "start": 4.0, "end": 5.0},
    ]
    length, chain = critical_chain(tasks, instances)
    assert length == pytest.approx(5.0)
    assert chain == [instances[0], instances[2], instances[3]]
    assert critical_path(tasks, instances) == (length, ["plan", "g.compose[slow]", "sync"])
