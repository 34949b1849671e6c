"""The supervisor of the demo's long-running processes: restarts with a growing delay, a journal of what died
and came back, and one sentence naming a component that keeps dying and its log."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from relengotron_sandbox.supervise import Budget, Event, GaveUp, Supervisor, current_pid, read_journal


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def exits(status: int) -> subprocess.Popen[bytes]:
    child = subprocess.Popen([sys.executable, "-c", f"raise SystemExit({status})"])
    child.wait()
    return child


def test_the_budget_grows_the_delay_and_forgets_restarts_outside_its_window() -> None:
    budget = Budget(restarts=3, window=100.0, first_delay=1.0, max_delay=5.0)
    assert budget.delay(0.0) == 1.0 and budget.allows(0.0)
    assert [budget.spend(t) for t in (0.0, 1.0, 2.0)] == [1, 2, 3]
    assert budget.delay(2.0) == 5.0  # 1 * 2**3 capped
    assert not budget.allows(50.0)
    assert budget.allows(100.5) and budget.recent(100.5) == 2  # the restart at 0.0 left the window


def test_a_component_that_exits_is_restarted_after_its_delay_and_journalled(tmp_path: Path) -> None:
    clock = Clock()
    started: list[subprocess.Popen[bytes]] = []

    def dies() -> subprocess.Popen[bytes]:
        started.append(exits(7))
        return started[-1]

    journal = tmp_path / "supervisor.jsonl"
    supervisor = Supervisor(
        {"airflow scheduler": dies}, logs={"airflow scheduler": "a.log"}, journal=journal, clock=clock
    )
    supervisor.start()
    [exited] = supervisor.check()
    assert (exited.kind, exited.component, exited.exit, exited.pid) == (
        "exited",
        "airflow scheduler",
        7,
        started[0].pid,
    )
    assert supervisor.check() == [] and len(started) == 1  # its delay (1 s) has not passed
    clock.now += 1.0
    [restarted] = supervisor.check()
    assert (restarted.kind, restarted.pid, restarted.restarts) == ("restarted", started[1].pid, 1)
    assert "restarted" in restarted.describe() and "died (exit status 7)" in exited.describe()
    events, offset = read_journal(journal)
    assert events[1:] == [exited, restarted] and offset == journal.stat().st_size
    assert (events[0].kind, events[0].pid) == ("started", started[0].pid)
    assert current_pid(journal, "airflow scheduler") == started[1].pid and current_pid(journal, "x") is None
    assert read_journal(journal, offset) == ([], offset)


def test_a_component_that_keeps_exiting_is_given_up_on_naming_it_and_its_log(tmp_path: Path) -> None:
    clock = Clock()
    journal = tmp_path / "supervisor.jsonl"
    supervisor = Supervisor(
        {"listener": lambda: exits(1)},
        logs={"listener": tmp_path / "listener.log"},
        journal=journal,
        budget=lambda: Budget(restarts=2, window=600.0, first_delay=0.0),
        clock=clock,
    )
    supervisor.start()
    supervisor.check()
    supervisor.check()
    with pytest.raises(GaveUp) as given_up:
        for _ in range(4):
            clock.now += 1.0
            supervisor.check()
    assert str(given_up.value) == (
        f"listener keeps exiting (2 restarts within 600 s): given up on; see its log {tmp_path / 'listener.log'}"
    )
    kinds = [e.kind for e in read_journal(journal)[0]]
    assert kinds == ["started", "exited", "restarted", "exited", "restarted", "exited", "gave_up"]


def test_a_line_still_being_written_is_left_for_the_next_read(tmp_path: Path) -> None:
    journal = tmp_path / "j.jsonl"
    journal.write_text('{"kind": "exited", "component": "x", "at": 1.0, "pid": 2, "exit": -9, "restarts": 0}\n{"kind"')
    events, offset = read_journal(journal)
    assert events == [Event("exited", "x", 1.0, 2, exit=-9)] and offset < journal.stat().st_size
    assert read_journal(tmp_path / "none.jsonl") == ([], 0)


def test_some_components_start_first_and_the_rest_later_in_their_order(tmp_path: Path) -> None:
    order: list[str] = []

    def starter(name: str) -> Callable[[], subprocess.Popen[bytes]]:
        return lambda: (order.append(name), exits(0))[1]

    names = ("postgres", "redis", "airflow scheduler", "airflow celery-worker-1")
    supervisor = Supervisor(
        {name: starter(name) for name in names}, logs=dict.fromkeys(names, "a.log"), journal=tmp_path / "j"
    )
    supervisor.start(["redis", "postgres"])
    assert order == ["postgres", "redis"] and [name for name, _ in supervisor.children()] == order
    supervisor.start()
    assert order == list(names)  # the ones already running are not started again
