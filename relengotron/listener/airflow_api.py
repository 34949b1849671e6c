"""Creating DAG runs through Airflow's REST API v2, and what each answer means for the inbox.

A JWT comes from ``POST /auth/token`` (fetched lazily, fetched again once on a 401). A run is created with
``POST /api/v2/dags/{dag_id}/dagRuns`` ``{"dag_run_id", "logical_date": null, "conf"}``:

* 200 → ``created``; 409 → ``exists`` (this dag_run_id was created before: a retry or a replay) — both done;
* 5xx, 429, a connection error or a timeout → ``retry`` (capped exponential backoff with jitter);
* 401/403 even with a fresh token → ``retry`` too: the listener's credentials are wrong, which is no fault of
  the message, so nothing is dead-lettered for it (the log says so loudly);
* any other 4xx (400 a conf the DAG's Params reject, 404 an unknown DAG, 422) → ``refused`` with Airflow's
  answer, which dead-letters the run.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests

CREATED, EXISTS, RETRY, REFUSED = "created", "exists", "retry", "refused"


@dataclass(frozen=True)
class TriggerResult:
    outcome: str  # created | exists | retry | refused
    status: int | None  # the HTTP status, None when no answer came
    detail: str

    @property
    def done(self) -> bool:
        return self.outcome in (CREATED, EXISTS)


@dataclass(frozen=True)
class Backoff:
    """Capped exponential backoff with jitter: attempt n waits between half and all of
    ``min(maximum, initial * factor**n)`` seconds (never zero, never in lockstep with other listeners)."""

    initial: float = 1.0
    maximum: float = 60.0
    factor: float = 2.0

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        ceiling = min(self.maximum, self.initial * self.factor ** min(attempt, 64))
        return ceiling / 2 + (rng or random).uniform(0, ceiling / 2)


def _detail(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:2000]
    detail = body.get("detail", body) if isinstance(body, dict) else body
    return (detail if isinstance(detail, str) else str(detail))[:2000]


class AirflowClient:
    """Thread-safe; one HTTP session, one token."""

    def __init__(self, url: str, username: str, password: str, *, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.username = username
        self._password = password
        self.timeout = timeout
        self._session = requests.Session()
        self._token: str | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"AirflowClient({self.url!r}, username={self.username!r})"

    def close(self) -> None:
        self._session.close()

    def _fetch_token(self) -> str:
        """A new JWT; raises :class:`requests.RequestException` or ``PermissionError`` (credentials refused)."""
        answer = self._session.post(
            f"{self.url}/auth/token",
            json={"username": self.username, "password": self._password},
            timeout=self.timeout,
        )
        if answer.status_code in (401, 403):
            raise PermissionError(
                f"Airflow refused the listener's credentials for {self.username!r}: {_detail(answer)}"
            )
        answer.raise_for_status()
        token = answer.json().get("access_token")
        if not isinstance(token, str) or not token:
            raise requests.RequestException(f"POST /auth/token answered without an access_token: {answer.text[:200]}")
        return token

    def _request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """One authenticated request; a 401 fetches a new token and tries once more."""
        for fresh in (False, True):
            with self._lock:
                if self._token is None or fresh:
                    self._token = self._fetch_token()
                token = self._token
            answer = self._session.request(
                method,
                f"{self.url}{path}",
                headers={"Authorization": f"Bearer {token}"},
                timeout=self.timeout,
                **kwargs,
            )
            if answer.status_code != 401:
                return answer
        return answer

    def trigger(self, dag_id: str, dag_run_id: str, conf: dict[str, Any]) -> TriggerResult:
        """Ask for one DAG run. Idempotent by ``dag_run_id``: asking again answers ``exists``."""
        body = {"dag_run_id": dag_run_id, "logical_date": None, "conf": conf}
        try:
            answer = self._request("POST", f"/api/v2/dags/{quote(dag_id, safe='')}/dagRuns", json=body)
        except PermissionError as exc:
            return TriggerResult(RETRY, 401, str(exc))
        except requests.RequestException as exc:
            return TriggerResult(RETRY, None, f"Airflow unreachable: {type(exc).__name__}: {exc}"[:2000])
        status = answer.status_code
        if status in (200, 201):
            return TriggerResult(CREATED, status, "created")
        if status == 409:
            return TriggerResult(EXISTS, status, _detail(answer))
        if status >= 500 or status in (401, 403, 408, 429):
            return TriggerResult(RETRY, status, f"HTTP {status}: {_detail(answer)}")
        return TriggerResult(REFUSED, status, f"HTTP {status}: {_detail(answer)}")

    def get(self, path: str, **params: Any) -> Any:
        """GET an API path (``/api/v2/...``) as JSON; raises on errors (used by ``status`` and tests)."""
        answer = self._request("GET", path, params=params)
        answer.raise_for_status()
        return answer.json()
