"""What every releng-o-tron DAG declares the same way, in one place: the retry policy its tasks get
(``default_args``) and the JSON schemas of the parameters its trigger form checks (``Param``).

Retries are for TRANSIENT failures only: the operators turn every permanent failure (bad input, an unsigned
RPM, a failed test) into ``AirflowFailException``, which Airflow never retries
(:func:`relengotron.airflow.errors.permanent_failures`). A transient one — Koji, PDC, ResultsDB, the bus or a
host unreachable, a 5xx — is retried with exponential backoff: 30 s, 1 min, 2 min, 4 min, capped at 15 min.

The schemas are built from the library's own names (:mod:`relengotron.names`), so a conf the form lets through
is one the library accepts.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from relengotron.names import ARTIFACT_KINDS_GROUP, ID_PATTERN, LOCATION_PATTERN, NVR_BODY, NVR_PATTERN, WORD_PATTERN
from relengotron.push import REQUESTS

RETRIES = 4
FIRST_DELAY = timedelta(seconds=30)
MAX_DELAY = timedelta(minutes=15)

RELEASE_ID: dict[str, Any] = {"type": "string", "pattern": ID_PATTERN}
PUSH_ID: dict[str, Any] = {"type": "string", "pattern": WORD_PATTERN}
REQUEST: dict[str, Any] = {"type": "string", "enum": list(REQUESTS)}
NVR: dict[str, Any] = {"type": "string", "pattern": NVR_PATTERN}
LOCATION: dict[str, Any] = {"type": ["null", "string"], "pattern": LOCATION_PATTERN}
# One update of a compose as Bodhi names it: the NVRs of its builds joined by single spaces
# (docs/bodhi-handshake.md §1).
BODHI_UPDATE: dict[str, Any] = {"type": "string", "pattern": rf"^{NVR_BODY}( {NVR_BODY})*$"}


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


def artifact_kinds() -> list[str]:
    """The names of the registered artifact kinds (entry point group ``relengotron.artifacts``), sorted: one task
    group each in ``updates_push``, so that a new kind is one class and one entry point. Names only: a DAG file
    does not import the kinds' classes (a quarter of a second per parse); the tasks load them through
    :mod:`relengotron.artifacts.registry`, which also says what is wrong with a broken entry point."""
    from importlib import metadata

    return sorted({ep.name for ep in metadata.entry_points(group=ARTIFACT_KINDS_GROUP)})
