"""The retry policy every releng-o-tron DAG gives its tasks (``default_args``), in one place.

Retries are for TRANSIENT failures only: the operators turn every permanent failure (bad input, an unsigned
RPM, a failed test) into ``AirflowFailException``, which Airflow never retries
(:func:`relengotron.airflow.services.permanent_failures`). A transient one — Koji, PDC, ResultsDB, the bus or a
host unreachable, a 5xx — is retried with exponential backoff: 30 s, 1 min, 2 min, 4 min, capped at 15 min.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

RETRIES = 4
FIRST_DELAY = timedelta(seconds=30)
MAX_DELAY = timedelta(minutes=15)


def retry_defaults(**overrides: Any) -> dict[str, Any]:
    """``default_args`` for a DAG: owner ``releng`` and the transient-failure retry policy, with ``overrides``."""
    return {
        "owner": "releng",
        "retries": RETRIES,
        "retry_delay": FIRST_DELAY,
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": MAX_DELAY,
        **overrides,
    }
