"""The Bugzilla adapter: open bugs of a product version, and closing bugs as CLOSED/EOL, idempotently.

Over the real python-bugzilla, REST backend (``force_rest=True``) with an API key; it never reads the user's
~/.config or token cache (``use_creds=False``). The client is built on first use, since python-bugzilla
contacts the server when it is constructed.

Open bugs are searched by status (Fedora's open statuses) and paged with ``limit``/``offset``, so the
number of requests grows with pages, not with bugs; ``is_open`` is checked on each bug as well.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import bugzilla
from bugzilla.exceptions import BugzillaError, BugzillaHTTPError

from relengotron.adapters.errors import AdapterError, NotFoundError, from_requests, from_status
from relengotron.connection import connection_data
from relengotron.eol import OpenBug

SERVICE = "bugzilla"
# Bugzilla's open statuses as Fedora's instance defines them (every status but CLOSED).
OPEN_STATUSES = ("NEW", "ASSIGNED", "POST", "MODIFIED", "ON_DEV", "ON_QA", "VERIFIED", "RELEASE_PENDING")
PAGE = 500  # bugs per search request
UPDATE_BATCH = 100  # bugs per update request
NO_SUCH_BUG = 101  # Bugzilla's error code for a bug that does not exist
_FIELDS = ["id", "product", "version", "component", "status", "resolution", "is_open"]


@dataclass(frozen=True)
class BugzillaConnection:
    """Where Bugzilla's REST API is (``https://bugzilla.redhat.com/rest/``) and the API key to write with."""

    url: str
    api_key: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.url:
            raise ValueError("bugzilla connection: 'url' is required")

    @classmethod
    def from_mapping(cls, fields: Mapping[str, Any]) -> BugzillaConnection:
        """From plain fields; ``url`` may be given as ``host``, ``api_key`` as ``password``."""
        data = connection_data(cls, fields, service="bugzilla", aliases={"host": "url", "password": "api_key"})
        if not data.get("url"):
            raise ValueError("bugzilla connection: 'url' is required")
        return cls(**data)


class Bugzilla:
    """Searches and idempotent EOL closing over one python-bugzilla client (built lazily)."""

    def __init__(self, conn: BugzillaConnection | None = None, *, client: Any = None) -> None:
        if conn is None and client is None:
            raise ValueError("bugzilla: a connection or a client is needed")
        self.conn = conn
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            assert self.conn is not None
            url = self.conn.url
            self._client = _call(
                lambda: bugzilla.Bugzilla(url, force_rest=True, api_key=self.conn.api_key, use_creds=False),
                f"connect to {url}",
            )
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.get_requests_session().close()
            self._client = None

    # --- reads ------------------------------------------------------------------------------------------

    def open_bugs(self, product: str, version: str) -> list[OpenBug]:
        """The open bugs filed against ``product`` ``version``, sorted by id (read-only)."""
        item = f"open bugs of {product} {version}"
        found: dict[int, OpenBug] = {}
        offset = 0
        while True:
            query = self.client.build_query(
                product=product, version=version, status=list(OPEN_STATUSES), include_fields=list(_FIELDS)
            )
            query["limit"] = PAGE
            query["offset"] = offset
            bugs = _call(lambda q=query: self.client.query(q), item)
            for bug in bugs:
                data = bug.get_raw_data()
                if data.get("is_open") is False or data.get("status") not in OPEN_STATUSES:
                    continue
                found[int(data["id"])] = OpenBug(
                    int(data["id"]),
                    str(data.get("product") or product),
                    _version(data, version),
                    str(data.get("component") or ""),
                )
            if len(bugs) < PAGE:
                return [found[i] for i in sorted(found)]
            offset += len(bugs)

    def statuses(self, ids: Iterable[int]) -> dict[int, tuple[str, str]]:
        """Bug id → (status, resolution) (read-only); a bug that does not exist is a :class:`NotFoundError`."""
        wanted = sorted(set(int(i) for i in ids))
        out: dict[int, tuple[str, str]] = {}
        for start in range(0, len(wanted), UPDATE_BATCH):
            chunk = wanted[start : start + UPDATE_BATCH]
            item = f"bug{'s' if len(chunk) > 1 else ''} {', '.join(map(str, chunk))}"
            bugs = _call(lambda c=chunk: self.client.getbugs(c, include_fields=["id", "status", "resolution"]), item)
            for bug in bugs:
                if bug is not None:
                    data = bug.get_raw_data()
                    out[int(data["id"])] = (str(data.get("status", "")), str(data.get("resolution") or ""))
            missing = [i for i in chunk if i not in out]
            if missing:
                raise NotFoundError(SERVICE, f"bug {', '.join(map(str, missing))}", "no such bug")
        return out

    # --- writes -----------------------------------------------------------------------------------------

    def close_bugs(
        self, ids: Iterable[int], comment: str, *, status: str = "CLOSED", resolution: str = "EOL"
    ) -> list[int]:
        """Close ``ids`` as ``status``/``resolution`` with ``comment``; returns the ids this call closed.

        Idempotent: bugs are read first and those already closed are skipped (no second comment); a rerun
        after a crash closes the rest. A bug that does not exist is a :class:`NotFoundError` naming it,
        raised before anything is changed.
        """
        current = self.statuses(ids)
        todo = sorted(i for i, (state, _) in current.items() if state not in ("CLOSED",))
        for start in range(0, len(todo), UPDATE_BATCH):
            chunk = todo[start : start + UPDATE_BATCH]
            update = self.client.build_update(status=status, resolution=resolution, comment=comment)
            item = f"close bug{'s' if len(chunk) > 1 else ''} {', '.join(map(str, chunk))}"
            _call(lambda c=chunk, u=update: self.client.update_bugs(c, u), item)
        return todo


def _version(data: Mapping[str, Any], asked: str) -> str:
    """Bugzilla 5 gives ``version`` as a string; Red Hat's gives a list: keep the one that was searched."""
    value = data.get("version")
    if isinstance(value, list):
        return asked if asked in value else str(value[0]) if value else asked
    return str(value) if value else asked


def _call(call: Any, item: str) -> Any:
    try:
        return call()
    except Exception as exc:
        raise _classify(exc, item) from exc


def _classify(exc: Exception, item: str) -> AdapterError:
    """Bugzilla's faults: 101 (no such bug) not found; other coded faults permanent; HTTP 5xx and
    connection failures transient."""
    if isinstance(exc, AdapterError):
        return exc
    if isinstance(exc, BugzillaHTTPError):
        status = exc.response.status_code if exc.response is not None else None
        return from_status(SERVICE, item, status, f"HTTP {status}: {exc}")
    if isinstance(exc, BugzillaError):
        if exc.code == NO_SUCH_BUG:
            return NotFoundError(SERVICE, item, str(exc))
        return AdapterError(SERVICE, item, str(exc))
    error = from_requests(SERVICE, item, exc)
    if error is not None:
        return error
    return AdapterError(SERVICE, item, f"{type(exc).__name__}: {exc}")
