"""What the dashboard reads, as plain data: one DAG run with its task instances and XComs as Airflow recorded
them. Built by :mod:`relengotron.dashboard.records` (Airflow's metadata database) or by a test; pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

UNMAPPED = -1  # Airflow's map index of a task that is not mapped


@dataclass(frozen=True)
class TaskFact:
    """One task instance: its state (None: not scheduled yet), try number and rendered map index (the label
    ``map_index_template`` gave it), and when it ran (UTC)."""

    state: str | None
    try_number: int = 0
    label: str | None = None
    started: datetime | None = None
    ended: datetime | None = None


@dataclass(frozen=True)
class RunFacts:
    """One DAG run: its id, state, conf and times, its task instances by (task id, map index) and its XComs by
    (task id, map index, key), the values as the tasks returned or pushed them."""

    dag_id: str
    run_id: str
    state: str | None
    conf: Mapping[str, Any] = field(default_factory=dict)
    started: datetime | None = None
    ended: datetime | None = None
    tasks: Mapping[tuple[str, int], TaskFact] = field(default_factory=dict)
    xcoms: Mapping[tuple[str, int, str], Any] = field(default_factory=dict)

    def task(self, task_id: str, map_index: int = UNMAPPED) -> TaskFact | None:
        return self.tasks.get((task_id, map_index))

    def state_of(self, task_id: str, map_index: int = UNMAPPED) -> str | None:
        found = self.task(task_id, map_index)
        return found.state if found is not None else None

    def xcom(self, task_id: str, map_index: int = UNMAPPED, key: str = "return_value") -> Any:
        return self.xcoms.get((task_id, map_index, key))

    def map_indexes(self, task_id: str) -> list[int]:
        """The map indexes of a mapped task, in order (empty when it was not expanded)."""
        return sorted(i for t, i in self.tasks if t == task_id and i != UNMAPPED)


def utc_text(when: datetime | None) -> str | None:
    """A time as the page shows it: UTC, to the second (``2016-06-01 12:00:00 UTC``); None stays None."""
    if when is None:
        return None
    stamp = when if when.tzinfo else when.replace(tzinfo=UTC)
    return stamp.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def iso_utc_text(value: Any) -> str | None:
    """An ISO 8601 time recorded in an XCom (``2016-06-01T12:10:00+00:00``) as the page shows times; text that is
    not one is shown as it is, None stays None."""
    if not isinstance(value, str):
        return None if value is None else str(value)
    try:
        return utc_text(datetime.fromisoformat(value))
    except ValueError:
        return value
