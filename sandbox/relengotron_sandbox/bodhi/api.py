"""Driving a running sandbox Bodhi from outside its daemon (the ``relengotron-sandbox bodhi`` verbs, tests, the
demo): Bodhi's own REST API through the unmodified ``BodhiClient``, logged in through the sandbox's OpenID
Connect provider, and the sandbox's push endpoint (Bodhi has no URL for ``bodhi-push``).

:func:`login` gets a token for any user the provider knows with the provider's code flow (``login_hint`` names
the user; no browser) and writes it where the bodhi client reads tokens; :class:`SandboxBodhi` wraps a client
logged in that way.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import requests
from bodhi.client.bindings import BodhiClient

from relengotron_sandbox.bodhi.oidc import CLIENT_ID, OOB, SCOPES


class SandboxBodhiError(RuntimeError):
    """The sandbox Bodhi or its provider refused a call."""


def login(endpoint: dict[str, Any], user: str, storage: Path) -> Path:
    """Log ``user`` in with the sandbox's provider (authorization code, out of band) and write the token where
    ``BodhiClient(oidc_storage_path=storage)`` reads it. Not idempotent: each call issues a new token."""
    provider = endpoint["id_provider"]
    params = {
        "response_type": "code",
        "client_id": endpoint.get("client_id", CLIENT_ID),
        "redirect_uri": OOB,
        "scope": " ".join(SCOPES),
        "login_hint": user,
    }
    page = requests.get(f"{provider}/Authorization", params=params, timeout=10)
    if not page.ok:
        raise SandboxBodhiError(f"the provider refused to log {user} in: {page.text}")
    title = page.text.split("<title>", 1)[-1].split("</title>", 1)[0]
    code = parse_qs(title).get("code", [""])[0]
    answer = requests.post(
        f"{provider}/Token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": OOB, "client_id": params["client_id"]},
        timeout=10,
    )
    if not answer.ok:
        raise SandboxBodhiError(f"the provider gave no token for {user}: {answer.text}")
    storage.parent.mkdir(parents=True, exist_ok=True)
    storage.write_text(json.dumps({"tokens": {provider: answer.json()}}))
    storage.chmod(0o600)
    return storage


class SandboxBodhi:
    """One user's view of a running sandbox Bodhi (``endpoint``: its entry in endpoints.json)."""

    def __init__(self, endpoint: dict[str, Any], storage: Path | None = None) -> None:
        self.endpoint = endpoint
        self.url = endpoint["url"]
        self.client = BodhiClient(
            base_url=self.url,
            client_id=endpoint.get("client_id", CLIENT_ID),
            id_provider=endpoint["id_provider"],
            oidc_storage_path=str(storage or endpoint["oidc_storage"]),
        )

    @classmethod
    def as_user(cls, endpoint: dict[str, Any], user: str, directory: Path) -> SandboxBodhi:
        """A view logged in as ``user`` (a token for them written under ``directory``)."""
        return cls(endpoint, login(endpoint, user, directory / f"client-{user}.json"))

    # ---- Bodhi's REST API (reads need no login)

    def updates(self, **query: Any) -> list[dict[str, Any]]:
        """Every update matching ``query`` (``GET updates/`` parameters), all pages."""
        found: list[dict[str, Any]] = []
        page = 1
        while True:
            answer = self.client.query(page=page, rows_per_page=100, **query)
            found.extend(answer["updates"])
            if page >= answer["pages"]:
                return found
            page += 1

    def update(self, alias: str) -> dict[str, Any]:
        return dict(self.client.send_request(f"updates/{alias}", verb="GET")["update"])

    def composes(self) -> list[dict[str, Any]]:
        return list(self.client.list_composes()["composes"])

    def new_update(
        self,
        builds: Iterable[str],
        *,
        type: str = "bugfix",
        severity: str = "unspecified",
        notes: str = "",
        bugs: Iterable[int] = (),
        request: str = "testing",
    ) -> dict[str, Any]:
        """``bodhi updates new``: a new update of ``builds``, submitted by this view's user. Not idempotent."""
        return dict(
            self.client.save(
                builds=list(builds),
                type=type,
                severity=severity,
                notes=notes,
                bugs=",".join(str(b) for b in bugs),
                request=request,
            )
        )

    def request(self, alias: str, request: str) -> dict[str, Any]:
        """``bodhi updates request``: testing, stable or revoke. Idempotent (the same request changes nothing)."""
        return dict(self.client.request(alias, request)["update"])

    def comment(self, alias: str, text: str, karma: int = 0) -> dict[str, Any]:
        """``bodhi updates comment``. Not idempotent."""
        return dict(self.client.comment(alias, text, karma)["comment"])

    # ---- the sandbox's push endpoint

    def push(
        self,
        *,
        agent: str,
        releases: Iterable[str] | None = None,
        requests_: Iterable[str] = ("testing", "stable"),
        builds: Iterable[str] | None = None,
        updates: Iterable[str] | None = None,
        bodhi2: bool = False,
    ) -> dict[str, Any]:
        """``bodhi-push --yes``: the composes requested (or resumed) and started; their JSON, ``resumed`` and the
        titles of the updates skipped as unsigned. Not idempotent (see relengotron_sandbox.bodhi.composer)."""
        body = {
            "agent": agent,
            "releases": list(releases) if releases is not None else None,
            "requests": list(requests_),
            "builds": list(builds) if builds is not None else None,
            "updates": list(updates) if updates is not None else None,
            "bodhi2": bodhi2,
        }
        answer = requests.post(f"{self.url}_sandbox/push", json=body, timeout=60)
        if not answer.ok:
            errors = answer.json().get("errors", []) if answer.headers.get("content-type") == "application/json" else []
            raise SandboxBodhiError("; ".join(e["description"] for e in errors) or answer.text)
        return answer.json()
