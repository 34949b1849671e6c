"""The demo's watch over what it started: the listener restarted when it dies, the embedded Airflow's own
restarts told, and one sentence — component and log — when something cannot come back."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from relengotron_sandbox import testing
from relengotron_sandbox.demo.supervision import Supervision, Unrecoverable


@pytest.fixture
def started(tmp_path: Path) -> Iterator[list[testing.Process]]:
    processes: list[testing.Process] = []
    yield processes
    testing.stop(*processes)


def sleeper(name: str, tmp_path: Path, started: list[testing.Process]) -> testing.Process:
    process = testing.start(name, ["sleep", "120"], log=tmp_path / f"{name}.log")
    started.append(process)
    return process


def watch(tmp_path: Path, started: list[testing.Process]) -> tuple[Supervision, list[testing.Process]]:
    recorded: list[testing.Process] = []
    supervision = Supervision(
        airflow=sleeper("airflow", tmp_path, started),
        airflow_home=tmp_path / "airflow",
        listener=sleeper("listener", tmp_path, started),
        start_listener=lambda: sleeper("listener", tmp_path, started),
        logs=tmp_path / "logs",
        on_listener=recorded.append,
    )
    return supervision, recorded


def test_a_killed_listener_is_restarted_and_recorded(tmp_path: Path, started: list[testing.Process]) -> None:
    supervision, recorded = watch(tmp_path, started)
    first = supervision.listener_process
    assert supervision.check() == []
    first.stop(signal.SIGKILL)
    lines = supervision.check()
    assert lines == [f"listener (pid {first.pid}) died (exit status -9)"]
    time.sleep(1.1)  # the first restart's delay
    [line] = supervision.check()
    [second] = recorded
    assert line == f"listener restarted (pid {second.pid}, restart 1)" and second.alive()
    assert supervision.listener_process is second and second.pid != first.pid
    assert (tmp_path / "logs" / "supervisor.jsonl").is_file()


def test_the_embedded_airflows_restarts_are_told_once(tmp_path: Path, started: list[testing.Process]) -> None:
    supervision, _ = watch(tmp_path, started)
    journal = tmp_path / "airflow" / "supervisor.jsonl"
    journal.parent.mkdir()
    events = [
        {"kind": "exited", "component": "airflow scheduler", "at": 1.0, "pid": 10, "exit": -9, "restarts": 0},
        {"kind": "restarted", "component": "airflow scheduler", "at": 2.0, "pid": 11, "exit": None, "restarts": 1},
    ]
    journal.write_text("".join(json.dumps(e) + "\n" for e in events))
    assert supervision.check() == [
        "Airflow: airflow scheduler (pid 10) died (exit status -9)",
        "Airflow: airflow scheduler restarted (pid 11, restart 1)",
    ]
    assert supervision.check() == []


def test_a_component_given_up_on_ends_the_demo_in_one_sentence(tmp_path: Path, started: list[testing.Process]) -> None:
    supervision, _ = watch(tmp_path, started)
    journal = tmp_path / "airflow" / "supervisor.jsonl"
    journal.parent.mkdir()
    gave_up = {"kind": "gave_up", "component": "airflow scheduler", "at": 1.0, "pid": 10, "restarts": 5}
    journal.write_text(json.dumps(gave_up) + "\n")
    with pytest.raises(Unrecoverable) as ended:
        supervision.check()
    assert str(ended.value) == (
        "the demo cannot go on: the embedded Airflow's airflow scheduler keeps exiting and was given up on; "
        f"see its log {tmp_path / 'airflow.log'}"
    )


def test_the_embedded_airflow_gone_ends_the_demo_naming_its_log(tmp_path: Path, started: list[testing.Process]) -> None:
    supervision, _ = watch(tmp_path, started)
    supervision.airflow.stop(signal.SIGKILL)
    with pytest.raises(Unrecoverable) as ended:
        supervision.check()
    assert str(ended.value) == (
        f"the demo cannot go on: the embedded Airflow was killed; see its log {tmp_path / 'airflow.log'}"
    )
