"""How a task tells Airflow whether a failure is worth a retry, in one place for every operator and sensor.

Retries (the DAGs' policy, :mod:`relengotron.airflow.dag_defaults`) are for transient failures only — a
service unreachable, a 5xx, Koji busy, results not in yet; everything else (bad input, an unsigned RPM, a
failed test) fails the task at once, naming the item.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def permanent_failures() -> Iterator[None]:
    """Let transient failures through, so Airflow retries them with backoff; turn every other failure into
    ``AirflowFailException``, which fails the task at once.

    The classification is the library's (:func:`relengotron.adapters.errors.is_transient`); Airflow's own
    exceptions (skip, fail, defer) pass unchanged.
    """
    from airflow.sdk.exceptions import AirflowException, AirflowFailException

    from relengotron.adapters.errors import is_transient

    try:
        yield
    except AirflowException:
        raise
    except Exception as exc:
        if is_transient(exc):
            raise
        raise AirflowFailException(f"{exc} (permanent: not retried)") from exc
