"""The PDC adapter: the real ``pdc_client.PDCClient``, read in whole pages, written idempotently.

Connection parameters (:class:`PDCConnection`) are plain fields — in production an Airflow connection's —
and Airflow is not imported here. Reads follow :func:`relengotron.planning.pdc_queries`: one paged
component-groups listing per release (``page_size=100``), so the number of requests grows with result pages,
never with the number of builds; :attr:`PDC.requests` counts what was sent.

Behaviours of the real PDC this code relies on (the tests' stand-in has them too): component groups cannot be
filtered by ``description`` (the artifact name) — it is matched client-side by
:func:`relengotron.planning.artifact_packages`; release components of an inactive release are hidden unless
``include_inactive_release`` is passed; a page is ``{count, next, previous, results}`` and pages are asked
for by number (``page=1,2,…``), as pdc-client itself does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from beanbag import BeanBagException
from pdc_client import PDCClient

from relengotron.adapters.errors import (
    AdapterError,
    RequestCounter,
    default_timeout,
    from_requests,
    from_status,
)
from relengotron.config import Artifact, Release
from relengotron.connection import connection_data
from relengotron.planning import PDC_PAGE_SIZE, PDCQuery, Update, artifact_packages, pdc_queries

SERVICE = "pdc"
MAX_PAGES = 10_000  # a guard against a server whose ``next`` never ends


@dataclass(frozen=True)
class PDCConnection:
    """Where PDC is and how to authenticate: ``develop`` (no auth, as a development server), a ``token``,
    or neither (pdc-client then obtains a token with Kerberos)."""

    server: str  # the REST API root, e.g. https://pdc.fedoraproject.org/rest_api/v1/
    token: str | None = field(default=None, repr=False)
    develop: bool = False
    ssl_verify: bool | str = True  # True, False or a CA bundle path
    timeout: float = 60.0  # seconds per request

    def __post_init__(self) -> None:
        if not self.server:
            raise ValueError("pdc connection: 'server' (the REST API URL) is required")

    @classmethod
    def from_mapping(cls, fields: Mapping[str, Any]) -> PDCConnection:
        """From plain fields (an Airflow connection's host/password merged with its extra).

        ``server`` may be given as ``host`` (or ``url``), ``token`` as ``password``; booleans may be strings.
        Unknown keys are an error naming them.
        """
        aliases = {"host": "server", "url": "server", "password": "token"}
        data = connection_data(cls, fields, service="pdc", aliases=aliases)
        if not data.get("server"):
            raise ValueError("pdc connection: 'server' (the REST API URL) is required")
        if "develop" in data:
            data["develop"] = _bool(data["develop"], "develop")
        if isinstance(data.get("ssl_verify"), str) and data["ssl_verify"].lower() in ("true", "false", "1", "0"):
            data["ssl_verify"] = _bool(data["ssl_verify"], "ssl_verify")
        if "timeout" in data:
            data["timeout"] = float(data["timeout"])
        return cls(**data)

    def client(self) -> PDCClient:
        """A new ``PDCClient`` (pdc-client reads no config file for a URL it has no alias for)."""
        return PDCClient(server=self.server, token=self.token, develop=self.develop, ssl_verify=self.ssl_verify)


def _bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"pdc connection: {name} must be a boolean, not {value!r}")


class PDC:
    """Reads and idempotent writes over one ``PDCClient`` (not thread-safe)."""

    def __init__(self, client: PDCClient, *, timeout: float | None = 60.0) -> None:
        self.client = client
        if timeout is not None:
            default_timeout(client.session, timeout)
        self._counter = RequestCounter(client.session)

    @classmethod
    def connect(cls, conn: PDCConnection) -> PDC:
        """An adapter over a new client for ``conn`` (no request is sent until the first call)."""
        try:
            client = conn.client()
        except Exception as exc:  # obtaining a token is a request
            raise _classify(exc, f"connect to {conn.server}") from exc
        return cls(client, timeout=conn.timeout)

    @property
    def requests(self) -> int:
        """HTTP requests answered so far (each page is one)."""
        return self._counter.count

    def close(self) -> None:
        self.client.session.close()

    # --- reads ------------------------------------------------------------------------------------------

    def pages(self, query: PDCQuery, *, item: str | None = None) -> list[dict[str, Any]]:
        """Every page of one listing (page=1,2,… until ``next`` is empty), each ``{count, next, previous,
        results}``; read-only. An answer that is not a page is an :class:`AdapterError` naming ``item``."""
        what = item or f"{query.resource} {dict(query.params)}"
        out: list[dict[str, Any]] = []
        for page in range(1, MAX_PAGES + 1):
            answer = self._call(lambda p=page: self.client[query.resource]._(page=p, **query.kwargs()), what)
            if not isinstance(answer, Mapping) or "results" not in answer or "next" not in answer:
                raise AdapterError(SERVICE, what, f"page {page} is not a PDC page: {str(answer)[:200]}")
            out.append(dict(answer))
            if not answer["next"]:
                return out
        raise AdapterError(SERVICE, what, f"more than {MAX_PAGES} pages")

    def results(self, query: PDCQuery, *, item: str | None = None) -> list[dict[str, Any]]:
        """The records of every page of one listing (read-only)."""
        return [record for page in self.pages(query, item=item) for record in page["results"]]

    def batch_packages(
        self, updates: Sequence[Update], releases: Iterable[Release], artifacts: Sequence[Artifact]
    ) -> dict[str, dict[str, tuple[str, ...]]]:
        """Release id → artifact name → package names, for the batch ``updates`` (read-only).

        Sends exactly the listings :func:`relengotron.planning.pdc_queries` asks for — one per release, paged
        by 100 — and matches each group's ``description`` to an artifact client-side (PDC cannot filter on
        it). An empty batch asks nothing and returns {}. A release whose artifact has no group raises
        :class:`relengotron.planning.PlanError` naming the artifact.
        """
        releases = list(releases)
        queries = pdc_queries(updates, releases)
        pages_of: dict[str, list[dict[str, Any]]] = {}
        for query in queries:
            name = str(query.kwargs()["release"])
            pages_of[name] = self.pages(query, item=f"component groups of {name}")
        out: dict[str, dict[str, tuple[str, ...]]] = {}
        for release in releases:
            if release.pdc_release not in pages_of:
                continue
            mine = [a for a in artifacts if a.release == release.id]
            out[release.id] = artifact_packages(pages_of[release.pdc_release], release, mine)
        return out

    def release(self, pdc_release: str) -> dict[str, Any]:
        """The release's record (``release_id``, ``active``, …); :class:`NotFoundError` naming it if none."""
        answer = self._call(lambda: self.client["releases"][pdc_release]._(), f"release {pdc_release}")
        if not isinstance(answer, Mapping) or "active" not in answer:
            raise AdapterError(SERVICE, f"release {pdc_release}", f"unexpected answer: {str(answer)[:200]}")
        return dict(answer)

    def release_components(self, pdc_release: str, *, include_inactive_release: bool = False) -> list[dict[str, Any]]:
        """The release's components (read-only). PDC hides those of an inactive release unless
        ``include_inactive_release`` is set."""
        params: list[tuple[str, str | int]] = [("release", pdc_release), ("page_size", PDC_PAGE_SIZE)]
        if include_inactive_release:
            params.append(("include_inactive_release", 1))
        return self.results(PDCQuery("release-components", tuple(params)), item=f"components of {pdc_release}")

    # --- writes -----------------------------------------------------------------------------------------

    def set_release_inactive(self, pdc_release: str) -> bool:
        """Mark the release inactive; returns whether it changed.

        Idempotent: the release is read first, and an inactive one gets no PATCH at all. A release PDC does
        not know is a :class:`NotFoundError` naming it.
        """
        if self.release(pdc_release)["active"] is False:
            return False
        item = f"release {pdc_release}"
        answer = self._call(lambda: self.client["releases"][pdc_release]._("PATCH", {"active": False}), item)
        if not isinstance(answer, Mapping) or answer.get("active") is not False:
            raise AdapterError(SERVICE, item, f"PATCH active=false was not applied: {str(answer)[:200]}")
        return True

    # --- plumbing ---------------------------------------------------------------------------------------

    def _call(self, call: Any, item: str) -> Any:
        try:
            return call()
        except Exception as exc:
            raise _classify(exc, item) from exc


def _classify(exc: Exception, item: str) -> AdapterError:
    """PDC's failures as adapter errors: 404 not found, 5xx/unreachable transient, any other 4xx permanent
    (with PDC's ``detail`` when it gave one)."""
    if isinstance(exc, AdapterError):
        return exc
    if isinstance(exc, BeanBagException):
        response = exc.response
        status = response.status_code if response is not None else None
        detail = exc.msg
        try:
            body = response.json() if response is not None else None
            if isinstance(body, Mapping):
                detail = str(body.get("detail", body))
        except ValueError:
            pass
        return from_status(SERVICE, item, status, f"HTTP {status}: {detail}")
    error = from_requests(SERVICE, item, exc)
    if error is not None:
        return error
    return AdapterError(SERVICE, item, f"{type(exc).__name__}: {exc}")
