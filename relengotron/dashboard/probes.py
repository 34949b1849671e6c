"""Asking the listener how it is: its ``/healthz``, ``/status`` and ``/metrics`` over HTTP, at the address the
``listener_default`` HTTP connection gives (read from Airflow's secrets backends and environment, as any
component reads a connection). Read-only, each request with a short timeout: a listener that is down, slow or
answers nonsense becomes an :class:`~relengotron.dashboard.listener.Answer` with the error, never an exception
— the page shows it, it does not fail with it.
"""

from __future__ import annotations

from datetime import UTC, datetime

import requests

from relengotron.dashboard.listener import CONN_ID, Answer, ListenerFacts, base_url

TIMEOUT = 3.0  # seconds per request: the listener answers from memory and its inbox's reading connection
DEAD_LETTERS_SHOWN = 50


def listener_url(conn_id: str = CONN_ID) -> tuple[str | None, str | None]:
    """The listener's root URL from the connection ``conn_id``, or (None, why) when there is none usable."""
    try:
        from airflow.models.connection import Connection

        found = Connection.get_connection_from_secrets(conn_id)
    except Exception as exc:  # AirflowNotFoundException: not configured, which the page says
        return None, f"connection {conn_id}: {exc}"
    try:
        return base_url(found.host, schema=found.schema, port=found.port), None
    except ValueError as exc:
        return None, str(exc)


def _get(session: requests.Session, url: str, *, json_body: bool, timeout: float) -> Answer:
    try:
        answer = session.get(url, timeout=timeout)
    except requests.RequestException as exc:
        return Answer(error=f"{type(exc).__name__}: {exc}")
    if not json_body:
        return Answer(status=answer.status_code, body=answer.text)
    try:
        return Answer(status=answer.status_code, body=answer.json())
    except ValueError:
        return Answer(status=answer.status_code, error=f"HTTP {answer.status_code}, not JSON: {answer.text[:200]!r}")


def read_listener(conn_id: str = CONN_ID, *, timeout: float = TIMEOUT) -> ListenerFacts:
    """What the listener answers now. When /healthz gets no answer at all, the others are not asked (the
    listener is down: one timeout, not three)."""
    now = datetime.now(UTC)
    url, why = listener_url(conn_id)
    if url is None:
        return ListenerFacts(url=None, read_at=now, error=why)
    with requests.Session() as session:
        healthz = _get(session, f"{url}/healthz", json_body=True, timeout=timeout)
        if healthz.status is None:
            return ListenerFacts(url=url, read_at=now, healthz=healthz)
        status = _get(session, f"{url}/status?limit={DEAD_LETTERS_SHOWN}", json_body=True, timeout=timeout)
        metrics = _get(session, f"{url}/metrics", json_body=False, timeout=timeout)
    return ListenerFacts(url=url, read_at=now, healthz=healthz, status=status, metrics=metrics)
