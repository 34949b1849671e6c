"""The ResultsDB adapter: latest results for many items in few requests, and posting results.

Over the real ``resultsdb_api.ResultsDBapi``. The client has no method for ``GET /results/latest``, so its
own session is used (with the client's retry adapter and error handling), as ResultsDB's documentation shows:
``/results/latest?item=A,B,C&type=koji_build&testcases=x,y&_distinct_on=item`` answers the newest result of
each test case *for each item* — one request for a whole batch. Items are sent ``batch`` at a time (the URL
must stay short), so the number of requests is ``ceil(items / batch)`` per subject type;
:attr:`ResultsDB.requests` counts them.

Results come back as the plain dicts ResultsDB sends, which is what :func:`relengotron.gating.decide` takes.
An item with no result simply has none in the list: the decision says *waiting*, never *failed*.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from resultsdb_api import ResultsDBapi, ResultsDBapiException

from relengotron.adapters.errors import AdapterError, RequestCounter, from_requests, from_status
from relengotron.connection import connection_data
from relengotron.gating import Subject

SERVICE = "resultsdb"
ITEM_BATCH = 50  # items per /results/latest request (NVRs are ~40 characters: the URL stays under 4 KB)


@dataclass(frozen=True)
class ResultsDBConnection:
    """Where ResultsDB is (its API root, ``.../api/v2.0/``) and how to write to it."""

    url: str
    auth_token: str | None = field(default=None, repr=False)  # ResultsDB's ``_auth_token`` for writes
    max_retries: int = 3  # the client's own retries of 5xx and connection errors
    backoff_factor: float = 1.0
    timeout: float = 60.0  # seconds per request

    def __post_init__(self) -> None:
        if not self.url:
            raise ValueError("resultsdb connection: 'url' (the API v2.0 root) is required")

    @classmethod
    def from_mapping(cls, fields: Mapping[str, Any]) -> ResultsDBConnection:
        """From plain fields; ``url`` may be given as ``host``, ``auth_token`` as ``password``."""
        data = connection_data(cls, fields, service="resultsdb", aliases={"host": "url", "password": "auth_token"})
        if not data.get("url"):
            raise ValueError("resultsdb connection: 'url' (the API v2.0 root) is required")
        if "max_retries" in data:
            data["max_retries"] = int(data["max_retries"])
        for name in ("backoff_factor", "timeout"):
            if name in data:
                data[name] = float(data[name])
        return cls(**data)


class ResultsDB:
    """Batched reads and result posting over one ``ResultsDBapi``."""

    def __init__(self, api: ResultsDBapi, *, timeout: float = 60.0, batch: int = ITEM_BATCH) -> None:
        if batch < 1:
            raise ValueError("resultsdb: batch must be at least 1")
        self.api = api
        self.timeout = timeout
        self.batch = batch
        self._counter = RequestCounter(api.session)

    @classmethod
    def connect(cls, conn: ResultsDBConnection, *, batch: int = ITEM_BATCH) -> ResultsDB:
        api = ResultsDBapi(
            conn.url, auth_token=conn.auth_token, max_retries=conn.max_retries, backoff_factor=conn.backoff_factor
        )
        return cls(api, timeout=conn.timeout, batch=batch)

    @property
    def requests(self) -> int:
        """HTTP responses received so far."""
        return self._counter.count

    def close(self) -> None:
        self.api.session.close()

    # --- reads ------------------------------------------------------------------------------------------

    def latest(
        self,
        items: Iterable[str],
        *,
        type: str,
        testcases: Iterable[str] = (),
        distinct_on: Sequence[str] = ("item",),
    ) -> list[dict[str, Any]]:
        """The newest result of each test case for each of ``items`` of subject ``type`` (read-only).

        ``testcases`` (empty: all) narrows the query. ``distinct_on`` are the data keys that keep results
        apart besides the test case — ``item`` by default, so each item gets its own newest result.
        """
        wanted = sorted(set(items))
        cases = sorted(set(testcases))
        _check_values("item", wanted)
        _check_values("testcase", cases)
        out: list[dict[str, Any]] = []
        for start in range(0, len(wanted), self.batch):
            chunk = wanted[start : start + self.batch]
            params = {"item": ",".join(chunk), "type": type, "_distinct_on": ",".join(distinct_on)}
            if cases:
                params["testcases"] = ",".join(cases)
            what = f"latest results of {len(chunk)} {type} item(s) from {chunk[0]}"
            answer = self._get(f"{self.api.url}/results/latest", params, what)
            data = answer.get("data") if isinstance(answer, Mapping) else None
            if not isinstance(data, list):
                raise AdapterError(SERVICE, what, f"unexpected answer: {str(answer)[:200]}")
            out.extend(data)
        return out

    def latest_for(self, subjects: Iterable[Subject], testcases: Iterable[str] = ()) -> list[dict[str, Any]]:
        """:meth:`latest` for gating subjects of any types (one batch of requests per type), read-only."""
        by_type: dict[str, set[str]] = {}
        for subject in subjects:
            by_type.setdefault(subject.type, set()).add(subject.item)
        cases = tuple(testcases)
        return [r for kind in sorted(by_type) for r in self.latest(by_type[kind], type=kind, testcases=cases)]

    # --- writes -----------------------------------------------------------------------------------------

    def post_result(
        self,
        testcase: str | Mapping[str, Any],
        outcome: str,
        *,
        data: Mapping[str, Any],
        note: str | None = None,
        ref_url: str | None = None,
        groups: Sequence[Any] | None = None,
    ) -> dict[str, Any]:
        """Store one result and return it as ResultsDB does. ``data`` must hold ``item`` and ``type``.

        Not idempotent: ResultsDB keeps every result (history), so each call stores a new one; use
        :meth:`ensure_result` where a retry must not add a duplicate.
        """
        name = testcase if isinstance(testcase, str) else str(testcase.get("name", ""))
        item = f"result {name} {outcome} for {data.get('item', '?')}"
        if not name:
            raise ValueError(f"{item}: the test case has no name")
        for key in ("item", "type"):
            value = data.get(key)
            if value is None or value == "" or value == []:
                raise ValueError(f"{item}: data must include {key!r} (gating finds results by item and type)")
        try:
            return self.api.create_result(outcome, testcase, groups=groups, note=note, ref_url=ref_url, **data)
        except Exception as exc:
            raise _classify(exc, item) from exc

    def ensure_result(
        self,
        testcase: str,
        outcome: str,
        *,
        data: Mapping[str, Any],
        note: str | None = None,
        ref_url: str | None = None,
    ) -> dict[str, Any] | None:
        """Post the result unless the newest result of ``testcase`` for that item and type already has this
        outcome (and ``ref_url`` when given); returns the new result, or None when nothing was posted.

        Idempotent: a rerun after success posts nothing.
        """
        items = data.get("item")
        item = items if isinstance(items, str) else (items or [None])[0]
        if item is None or not data.get("type"):
            raise ValueError(f"result {testcase} {outcome}: data must include 'item' and 'type'")
        found = self.latest([str(item)], type=str(data["type"]), testcases=[testcase])
        for result in found:
            same_outcome = str(result.get("outcome", "")).upper() == outcome.upper()
            if same_outcome and (ref_url is None or result.get("ref_url") == ref_url):
                return None
        return self.post_result(testcase, outcome, data=data, note=note, ref_url=ref_url)

    # --- plumbing ---------------------------------------------------------------------------------------

    def _get(self, url: str, params: Mapping[str, str], item: str) -> Any:
        try:
            return self.api.session.get(url, params=dict(params), timeout=self.timeout).json()
        except Exception as exc:
            raise _classify(exc, item) from exc


def _check_values(what: str, values: Sequence[str]) -> None:
    """Comma-joined filters cannot carry a value with a comma (it would be split into two)."""
    for value in values:
        if not value or "," in value:
            raise ValueError(f"resultsdb: bad {what} {value!r} (empty, or holds a comma)")


def _classify(exc: Exception, item: str) -> AdapterError:
    """The client's exception as an adapter error: retries exhausted, 5xx or unreachable → transient;
    404 → not found; other 4xx → permanent, with ResultsDB's message."""
    if isinstance(exc, AdapterError):
        return exc
    if isinstance(exc, ResultsDBapiException):
        response = exc.response
        status = response.status_code if response is not None else None
        return from_status(SERVICE, item, status, str(exc.message))
    error = from_requests(SERVICE, item, exc)
    if error is not None:
        return error
    return AdapterError(SERVICE, item, f"{type(exc).__name__}: {exc}")
