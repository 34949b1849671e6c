"""Who is calling the sandbox Bodhi: the ``auth_tkt`` cookie, the session cookie and its CSRF token, and
``/oidc/login-token``, as Bodhi's pyramid setup does them.

The bodhi client logs in by calling ``GET /oidc/login-token`` with its bearer token; Bodhi checks the token
with the provider's introspection endpoint, reads the user from its userinfo endpoint, creates or updates the
user, and answers 202 with an ``auth_tkt`` cookie (``login_with_token``). Later calls are authenticated by that
cookie alone. ``GET /csrf`` gives the token of the caller's session (a ``session`` cookie, set on first use);
every write carries it as ``csrf_token`` and Bodhi refuses a write whose token does not match its session.
Cookies are signed with a secret of the running service (HMAC-SHA256).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
from http.cookies import SimpleCookie
from typing import Any

import requests

from relengotron_sandbox.bodhi.query import BodhiError
from relengotron_sandbox.web import Request

log = logging.getLogger(__name__)

AUTH_COOKIE = "auth_tkt"
SESSION_COOKIE = "session"
CSRF_ERROR = (
    "CSRF tokens do not match.  This happens if you have the page open for a long time. Please reload the page "
    "and try to submit your data again. Make sure to save your input somewhere before reloading. "
)


def cookies(request: Request) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(request.headers.get("cookie", ""))
    except Exception:  # a malformed Cookie header is no cookie at all
        return {}
    return {name: morsel.value for name, morsel in jar.items()}


class Auth:
    """Signs and reads the cookies; logs a bearer token in through the provider (see the module docstring)."""

    def __init__(self, provider_url: str, client_id: str, client_secret: str) -> None:
        self.provider_url = provider_url
        self.client_id = client_id
        self.client_secret = client_secret
        self._secret = secrets.token_bytes(32)

    def _sign(self, value: str) -> str:
        mac = hmac.new(self._secret, value.encode(), hashlib.sha256).hexdigest()
        return f"{mac}{base64.urlsafe_b64encode(value.encode()).decode()}"

    def _unsign(self, cookie: str) -> str | None:
        mac, encoded = cookie[:64], cookie[64:]
        try:
            value = base64.urlsafe_b64decode(encoded.encode()).decode()
        except (ValueError, UnicodeDecodeError):
            return None
        expected = hmac.new(self._secret, value.encode(), hashlib.sha256).hexdigest()
        return value if hmac.compare_digest(mac, expected) else None

    # ---- identity

    def user(self, request: Request) -> str | None:
        """The user the request's ``auth_tkt`` names, or None (anonymous)."""
        ticket = cookies(request).get(AUTH_COOKIE)
        return self._unsign(ticket) if ticket else None

    def remember(self, user: str) -> str:
        """The ``Set-Cookie`` header value that logs ``user`` in (pyramid's ``remember``)."""
        return f"{AUTH_COOKIE}={self._sign(user)}; Path=/; HttpOnly"

    def login_with_token(self, request: Request) -> dict[str, Any]:
        """The userinfo of the request's bearer token, once the provider says the token is active;
        Bodhi's 401 otherwise."""
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise BodhiError(401, "header", "Authorization", "missing_authorization: Missing 'Authorization' header")
        try:
            answer = requests.post(
                f"{self.provider_url}/TokenInfo",
                data={"token": token.strip(), "token_type_hint": "access_token"},
                auth=(self.client_id, self.client_secret),
                timeout=10,
            )
            introspection = answer.json() if answer.ok else {}
            if not introspection.get("active"):
                raise BodhiError(401, "header", "Authorization", "invalid_token: the token is not active")
            info = requests.get(
                f"{self.provider_url}/UserInfo", headers={"Authorization": f"Bearer {token.strip()}"}, timeout=10
            )
        except requests.RequestException as exc:
            raise BodhiError(502, "header", "Authorization", f"the identity provider did not answer: {exc}") from None
        if not info.ok or "nickname" not in info.json():
            raise BodhiError(401, "header", "Authorization", "invalid_token: no user information")
        return info.json()

    # ---- session and CSRF

    def session(self, request: Request) -> tuple[str, str | None]:
        """The caller's session id, and the ``Set-Cookie`` value to send when the session is new."""
        value = cookies(request).get(SESSION_COOKIE)
        session = self._unsign(value) if value else None
        if session is not None:
            return session, None
        session = secrets.token_hex(16)
        return session, f"{SESSION_COOKIE}={self._sign(session)}; Path=/; HttpOnly"

    def csrf_token(self, session: str) -> str:
        """The session's CSRF token (``request.session.get_csrf_token()``)."""
        return hmac.new(self._secret, f"csrf:{session}".encode(), hashlib.sha1).hexdigest()

    def check_csrf(self, request: Request, token: str | None) -> None:
        """Bodhi's ``validate_csrf_token``: the write's token must be its session's."""
        value = cookies(request).get(SESSION_COOKIE)
        session = self._unsign(value) if value else None
        if session is None or not token or not hmac.compare_digest(token, self.csrf_token(session)):
            raise BodhiError(400, "body", "csrf_token", CSRF_ERROR)

    def require_user(self, request: Request) -> str:
        """The logged-in user of a write; Bodhi's 403 "You must provide an author" when there is none."""
        user = self.user(request)
        if user is None:
            raise BodhiError(403, "body", "email", "You must provide an author")
        return user
