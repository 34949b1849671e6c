"""The Bodhi adapter: the updates a compose names, read through the ``bodhi-client`` library's ``BodhiClient``.

Read only and anonymous (Bodhi serves ``GET /updates/`` to anyone): releng-o-tron never writes to Bodhi — Bodhi
finishes a push itself when releng-o-tron reports it (docs/bodhi-handshake.md). The builds of many updates are
asked for in one query (``builds=nvr1 nvr2 …``, Bodhi's own filter, ``rows_per_page`` 100 and paging), so a
compose of N builds costs ``ceil(N / 100)`` requests.

Errors: ``BodhiClient`` raises ``BodhiClientException`` with the response's text. Bodhi's own refusals are JSON
(``{"status": "error", "errors": [...]}``: permanent); anything else — a connection error, a proxy's 5xx page —
is transient.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import requests
from bodhi.client.bindings import BodhiClient, BodhiClientException
from bodhi.client.constants import CLIENT_ID, IDP

from relengotron.adapters.errors import AdapterError, TransientError, from_requests
from relengotron.connection import connection_data

SERVICE = "bodhi"
PAGE = 100  # Bodhi's largest rows_per_page


@dataclass(frozen=True)
class BodhiConnection:
    """Where Bodhi is (its root URL, ``https://bodhi.fedoraproject.org/``) and its OpenID Connect provider:
    ``BodhiClient`` reads the provider's metadata when it is built, even for anonymous reads."""

    url: str
    id_provider: str = IDP
    client_id: str = CLIENT_ID
    timeout: float = 60.0  # seconds per request

    def __post_init__(self) -> None:
        if not self.url:
            raise ValueError("bodhi connection: 'url' (Bodhi's root URL) is required")

    @classmethod
    def from_mapping(cls, fields: Mapping[str, Any]) -> BodhiConnection:
        """From plain fields; ``url`` may be given as ``host``."""
        data = connection_data(cls, fields, service="bodhi", aliases={"host": "url"})
        if not data.get("url"):
            raise ValueError("bodhi connection: 'url' (Bodhi's root URL) is required")
        if "timeout" in data:
            data["timeout"] = float(data["timeout"])
        return cls(**data)


@dataclass(frozen=True)
class BodhiUpdate:
    """What a push needs of one Bodhi update (fields as Bodhi's ``Update.__json__`` names them)."""

    alias: str
    title: str
    type: str
    severity: str | None
    notes: str
    status: str  # pending | testing | stable | …: where its builds are before this push
    request: str | None  # testing | stable | …: what the push is to do
    release: str  # the release's branch (f24): the release configuration's id
    builds: tuple[str, ...]
    bugs: tuple[tuple[int, str], ...]  # (bug_id, title)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BodhiUpdate:
        """From Bodhi's JSON; :class:`AdapterError` naming the update and the field Bodhi did not send."""
        alias = str(data.get("alias") or data.get("title") or "?")
        try:
            release = data["release"]
            return cls(
                alias=str(data["alias"]),
                title=str(data.get("title") or ""),
                type=str(data["type"]),
                severity=data.get("severity"),
                notes=str(data.get("notes") or ""),
                status=str(data["status"]),
                request=data.get("request"),
                release=str(release.get("branch") or release.get("dist_tag") or release["name"]).lower(),
                builds=tuple(sorted(str(b["nvr"]) for b in data["builds"])),
                bugs=tuple(sorted((int(b["bug_id"]), str(b.get("title") or "")) for b in data.get("bugs") or ())),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise AdapterError(SERVICE, f"update {alias}", f"Bodhi's answer lacks or mangles {exc}") from None

    def as_update(self) -> dict[str, Any]:
        """The update as a push carries it (:func:`relengotron.updates.parse_updates`' shape)."""
        return {
            "alias": self.alias,
            "builds": list(self.builds),
            "type": self.type,
            "severity": self.severity,
            "bugs": [{"id": bug, "title": title} for bug, title in self.bugs],
            "title": self.title or None,
            "notes": self.notes or None,
            "status": self.status,
        }


class Bodhi:
    """Reads over one ``BodhiClient``; :attr:`requests` counts what was asked."""

    def __init__(self, client: BodhiClient, *, timeout: float = 60.0) -> None:
        self.client = client
        self.timeout = timeout
        self.requests = 0

    @classmethod
    def connect(cls, conn: BodhiConnection) -> Bodhi:
        """The client reads the OpenID Connect provider's metadata (one request); a provider that cannot be
        reached is transient."""
        try:
            client = BodhiClient(base_url=conn.url, client_id=conn.client_id, id_provider=conn.id_provider)
        except requests.RequestException as exc:
            raise (
                from_requests(SERVICE, conn.id_provider, exc) or TransientError(SERVICE, conn.url, str(exc))
            ) from exc
        except Exception as exc:  # OIDCClientError: the provider answered, but not with its metadata
            raise TransientError(SERVICE, conn.id_provider, f"no OpenID Connect metadata: {exc}") from exc
        return cls(client, timeout=conn.timeout)

    def close(self) -> None:
        """Nothing is held open (the client sends each request on its own)."""

    def updates_of_builds(self, nvrs: Iterable[str]) -> list[BodhiUpdate]:
        """Every update that has one of ``nvrs`` among its builds, each once, by alias. Read-only."""
        wanted = sorted(set(nvrs))
        found: dict[str, BodhiUpdate] = {}
        for start in range(0, len(wanted), PAGE):
            chunk = wanted[start : start + PAGE]
            page, pages = 1, 1
            while page <= pages:
                answer = self._get(
                    "updates/", f"builds {chunk[0]}…", builds=" ".join(chunk), rows_per_page=PAGE, page=page
                )
                for data in answer.get("updates") or ():
                    update = BodhiUpdate.from_json(data)
                    found[update.alias] = update
                pages = int(answer.get("pages") or 1)
                page += 1
        return sorted(found.values(), key=lambda u: u.alias)

    def _get(self, path: str, item: str, **params: Any) -> Mapping[str, Any]:
        self.requests += 1
        try:
            return self.client.send_request(path, verb="GET", params=params, timeout=self.timeout)
        except BodhiClientException as exc:
            raise _refusal(item, str(exc)) from exc
        except requests.RequestException as exc:
            raise (from_requests(SERVICE, item, exc) or TransientError(SERVICE, item, str(exc))) from exc


def _refusal(item: str, text: str) -> AdapterError:
    """Bodhi's own refusal (a JSON error document: permanent), or anything else (transient)."""
    try:
        document = json.loads(text)
    except ValueError:
        return TransientError(SERVICE, item, text.strip()[:300] or "no answer")
    if isinstance(document, dict) and document.get("errors"):
        reasons = "; ".join(str(e.get("description", e)) for e in document["errors"] if isinstance(e, dict))
        return AdapterError(SERVICE, item, reasons or json.dumps(document["errors"]))
    return TransientError(SERVICE, item, text.strip()[:300])


def match_entries(entries: Sequence[Sequence[str]], found: Sequence[BodhiUpdate]) -> dict[tuple[str, ...], BodhiUpdate]:
    """Each entry (the NVRs of one update, as a compose names it) → the Bodhi update with exactly those builds;
    :class:`AdapterError` naming every entry Bodhi has no such update for. Pure."""
    by_builds = {u.builds: u for u in found}
    out: dict[tuple[str, ...], BodhiUpdate] = {}
    missing = []
    for entry in entries:
        key = tuple(sorted(entry))
        if key in by_builds:
            out[key] = by_builds[key]
        else:
            missing.append(" ".join(entry))
    if missing:
        raise AdapterError(SERVICE, "updates", f"Bodhi has no update of exactly these builds: {'; '.join(missing)}")
    return out
