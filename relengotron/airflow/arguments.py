"""What a task reads from its run and its arguments, as Airflow hands them over: template values as rendered,
the run's date, the XComs of mapped tasks. Pure: nothing here asks a service or the metadata database.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any


def flag(value: Any, field: str) -> bool:
    """A boolean argument as a template renders it: a bool, or ``true``/``false`` in any case (non-native
    rendering gives ``"True"``); a ValueError names ``field`` otherwise."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise ValueError(f"{field}: {value!r} is not true or false")


def seconds(value: Any, default: float, field: str) -> float:
    """A positive number of seconds as a template renders it (a number or its text; ``default`` when empty or
    None); a ValueError names ``field`` otherwise."""
    try:
        number = float(default if value is None or value == "" else value)
    except (TypeError, ValueError):
        raise ValueError(f"{field}: {value!r} is not a number of seconds") from None
    if not number > 0:
        raise ValueError(f"{field}: must be positive, not {number}")
    return number


def run_time(context: Any) -> datetime:
    """When the run was triggered (timezone-aware; the same on every retry of every task of the run); now when
    the context does not say (a task run outside a DAG run)."""
    run = context.get("dag_run") if hasattr(context, "get") else None
    when = getattr(run, "run_after", None) or getattr(run, "logical_date", None)
    if isinstance(when, datetime):
        return when if when.tzinfo else when.replace(tzinfo=UTC)
    return datetime.now(UTC).replace(microsecond=0)


def xcom_list(value: Any) -> list[Any]:
    """A mapped task's results as a list without the Nones (a map index that failed or was skipped has none):
    None → [], one mapping → [it]. A lazy XCom sequence is read in one slice (iterating it asks for one index
    past the end, which Airflow logs as an error)."""
    if value is None:
        return []
    if isinstance(value, Mapping):
        return [value]
    items = value[:] if hasattr(value, "__getitem__") else list(value)
    return [v for v in items if v is not None]


def xcom_lists(groups: Any) -> list[Any]:
    """The results of several mapped tasks (one lazy sequence per task), or of one, in one list."""
    if groups is None:
        return []
    if isinstance(groups, Mapping):
        return [groups]
    return [v for group in groups for v in xcom_list(group)]
