"""The sandbox's OpenID Connect provider: the few endpoints of Ipsilon (id.fedoraproject.org/openidc) that the
unmodified bodhi client and the sandbox Bodhi use, on loopback.

- discovery: ``/.well-known/openid-configuration/openidc`` (where authlib's ``get_well_known_url(issuer,
  external=True)`` looks for issuer ``http://127.0.0.1:P/openidc``);
- ``/openidc/Authorization``: the sandbox's "Kerberos" — no browser and no password: whoever asks is logged in
  as the provider's default user (``login_hint`` may name another known user), as Ipsilon does after a
  successful GSSAPI negotiation. With the out-of-band redirect URI it answers the page whose
  ``<title>code=…&state=…</title>`` ``OIDCClient.login_with_kerberos`` reads; else it redirects with the code;
- ``/openidc/Token``: authorization_code and refresh_token grants (public client, ``client_id`` in the form);
- ``/openidc/UserInfo``: ``sub``, ``nickname``, ``email``, ``groups`` of a bearer token's user;
- ``/openidc/TokenInfo``: RFC 7662 introspection, as Bodhi validates a bearer token (``IntrospectTokenValidator``).

:meth:`Provider.issue` issues a token without any of that, and :meth:`Provider.write_client_storage` writes it
where ``bodhi.client.oidcclient.JSONStorage`` reads tokens (``{"tokens": {<provider URL>: <token>}}``), so a
``BodhiClient(..., oidc_storage_path=...)`` or the ``bodhi`` CLI (``~/.config/bodhi/client.json``) is logged in
from its first call. Tokens live as long as the sandbox (30 days); they are kept in memory only.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

from relengotron_sandbox.web import App, Request, Response

ISSUER_PATH = "/openidc"
OOB = "urn:ietf:wg:oauth:2.0:oob"
CLIENT_ID = "bodhi-client"  # the bodhi CLI's client id (bodhi.client.constants.CLIENT_ID)
SERVER_CLIENT_ID = "bodhi"  # the Bodhi server's own client, which introspects tokens
TOKEN_LIFETIME = 30 * 24 * 3600
CODE_LIFETIME = 300
SCOPES = (
    "openid",
    "email",
    "profile",
    "https://id.fedoraproject.org/scope/groups",
    "https://id.fedoraproject.org/scope/agreements",
)
EMAIL_DOMAIN = "fedoraproject.org"


def form(request: Request) -> dict[str, str]:
    """The request's form (urlencoded body) over its query string; last value of each."""
    values = {k: v[-1] for k, v in request.query.items()}
    if request.body:
        values.update({k: v[-1] for k, v in parse_qs(request.body.decode(), keep_blank_values=True).items()})
    return values


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def oauth_error(status: int, error: str, description: str) -> Response:
    return Response.json({"error": error, "error_description": description}, status)


class Provider:
    """The provider's users, codes and tokens, and its endpoints (:meth:`app`). Thread-safe."""

    def __init__(self, users: list[str], default_user: str, server_secret: str | None = None) -> None:
        if default_user not in users:
            raise ValueError(f"the default user {default_user!r} is not one of the provider's users")
        self.users = {name: {"groups": ["packager"]} for name in users}
        self.default_user = default_user
        self.server_secret = server_secret or secrets.token_urlsafe(24)
        self.url = ""  # the issuer, set once the provider is served (``serve_at``)
        self._codes: dict[str, dict[str, Any]] = {}
        self._tokens: dict[str, dict[str, Any]] = {}
        self._refresh: dict[str, str] = {}  # refresh token → access token
        self._lock = threading.Lock()

    def serve_at(self, base: str) -> str:
        """Record the provider's address (``http://127.0.0.1:P``); returns its issuer URL (``…/openidc``)."""
        self.url = f"{base}{ISSUER_PATH}"
        return self.url

    # ---- tokens

    def issue(self, user: str, client_id: str = CLIENT_ID, scope: str = " ".join(SCOPES)) -> dict[str, Any]:
        """A new bearer token for ``user`` (as the token endpoint returns it). Not idempotent."""
        if user not in self.users:
            raise ValueError(f"unknown user {user!r}")
        now = int(time.time())
        token = {
            "access_token": secrets.token_urlsafe(32),
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME,
            "expires_at": now + TOKEN_LIFETIME,
            "refresh_token": secrets.token_urlsafe(32),
            "scope": scope,
        }
        with self._lock:
            self._tokens[token["access_token"]] = {
                "user": user,
                "client_id": client_id,
                "scope": scope,
                "exp": token["expires_at"],
                "iat": now,
            }
            self._refresh[token["refresh_token"]] = token["access_token"]
        return token

    def token_info(self, access_token: str) -> dict[str, Any] | None:
        """The live token's grant (user, client_id, scope, exp), or None."""
        with self._lock:
            info = self._tokens.get(access_token)
        if info is None or info["exp"] < time.time():
            return None
        return info

    def client_storage(self, user: str) -> dict[str, Any]:
        """What ``JSONStorage`` holds once ``user`` has logged in with this provider."""
        return {"tokens": {self.url: self.issue(user)}}

    def write_client_storage(self, path: Path, user: str | None = None) -> Path:
        """Write a token for ``user`` (the default user) where the bodhi client reads it; kept private (0600)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(self.client_storage(user or self.default_user)))
        tmp.chmod(0o600)
        tmp.replace(path)
        return path

    def userinfo(self, user: str) -> dict[str, Any]:
        return {
            "sub": user,
            "nickname": user,
            "preferred_username": user,
            "name": user,
            "email": f"{user}@{EMAIL_DOMAIN}",
            "groups": self.users[user]["groups"],
        }

    # ---- endpoints

    def metadata(self) -> dict[str, Any]:
        issuer = self.url
        return {
            "issuer": issuer,
            "authorization_endpoint": f"{issuer}/Authorization",
            "token_endpoint": f"{issuer}/Token",
            "userinfo_endpoint": f"{issuer}/UserInfo",
            "introspection_endpoint": f"{issuer}/TokenInfo",
            "jwks_uri": f"{issuer}/Jwks",
            "scopes_supported": list(SCOPES),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query", "oob"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
            "claims_supported": ["sub", "nickname", "email", "groups"],
        }

    def app(self) -> App:
        app = App("oidc")
        app.add("GET", r"/\.well-known/openid-configuration(/openidc)?/?", lambda r: Response.json(self.metadata()))
        app.add("GET", rf"{ISSUER_PATH}/\.well-known/openid-configuration", lambda r: Response.json(self.metadata()))
        app.add("GET", rf"{ISSUER_PATH}/Authorization", self._authorize)
        app.add("POST", rf"{ISSUER_PATH}/Token", self._token)
        app.add("*", rf"{ISSUER_PATH}/UserInfo", self._userinfo)
        app.add("POST", rf"{ISSUER_PATH}/TokenInfo", self._introspect)
        return app

    def _authorize(self, request: Request) -> Response:
        params = form(request)
        if params.get("response_type") != "code":
            return oauth_error(400, "unsupported_response_type", "only the code flow is supported")
        user = params.get("login_hint") or self.default_user
        if user not in self.users:
            return oauth_error(400, "invalid_request", f"unknown user {user!r}")
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = {
                "user": user,
                "client_id": params.get("client_id", ""),
                "redirect_uri": params.get("redirect_uri", ""),
                "scope": params.get("scope", " ".join(SCOPES)),
                "exp": time.time() + CODE_LIFETIME,
            }
        answer = urlencode({"code": code, **({"state": params["state"]} if "state" in params else {})})
        redirect = params.get("redirect_uri", OOB)
        if redirect == OOB:
            # urlencode escapes every character HTML would read: the page can carry the answer as is
            page = f"<html><head><title>{answer}</title></head><body>{answer}</body></html>"
            return Response(200, page.encode(), {"Content-Type": "text/html"})
        separator = "&" if "?" in redirect else "?"
        return Response(302, b"", {"Location": f"{redirect}{separator}{answer}"})

    def _token(self, request: Request) -> Response:
        params = form(request)
        grant = params.get("grant_type")
        if grant == "authorization_code":
            with self._lock:
                granted = self._codes.pop(params.get("code", ""), None)
            if granted is None or granted["exp"] < time.time():
                return oauth_error(400, "invalid_grant", "unknown or expired code")
            if params.get("redirect_uri", granted["redirect_uri"]) != granted["redirect_uri"]:
                return oauth_error(400, "invalid_grant", "redirect_uri does not match")
            return Response.json(self.issue(granted["user"], granted["client_id"], granted["scope"]))
        if grant == "refresh_token":
            with self._lock:
                old = self._refresh.pop(params.get("refresh_token", ""), None)
                info = self._tokens.pop(old, None) if old else None
            if info is None:
                return oauth_error(400, "invalid_grant", "unknown refresh token")
            return Response.json(self.issue(info["user"], info["client_id"], info["scope"]))
        return oauth_error(400, "unsupported_grant_type", f"grant type {grant!r} is not supported")

    def _userinfo(self, request: Request) -> Response:
        token = bearer(request) or form(request).get("access_token")
        info = self.token_info(token) if token else None
        if info is None:
            return oauth_error(401, "invalid_token", "the access token is invalid or expired")
        return Response.json(self.userinfo(info["user"]))

    def _introspect(self, request: Request) -> Response:
        params = form(request)
        client, secret = params.get("client_id"), params.get("client_secret")
        header = request.headers.get("authorization", "")
        if header.lower().startswith("basic "):
            client, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        if client != SERVER_CLIENT_ID or secret != self.server_secret:
            return oauth_error(401, "invalid_client", "client authentication failed")
        info = self.token_info(params.get("token", ""))
        if info is None:
            return Response.json({"active": False})
        return Response.json(
            {
                "active": True,
                "scope": info["scope"],
                "client_id": info["client_id"],
                "username": info["user"],
                "sub": info["user"],
                "token_type": "Bearer",
                "exp": info["exp"],
                "iat": info["iat"],
                "iss": self.url,
            }
        )
