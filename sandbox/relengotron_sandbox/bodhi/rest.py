"""The sandbox Bodhi's REST API: the URLs and JSON Bodhi 5+ serves (bodhi-server ``services/``), as the
unmodified ``bodhi-client`` (``BodhiClient``) and ``bodhi`` CLI call them.

Reads (anonymous): ``GET releases/``, ``releases/<name>``, ``updates/``, ``updates/<alias>``, ``composes/``,
``composes/<release>/<request>``, ``comments/``, ``comments/<id>``, ``csrf``, ``updates/<alias>/get-test-results``
(no Greenwave here: Bodhi's 501). Login: ``oidc/login-token``.
Writes (an ``auth_tkt`` and the session's ``csrf_token``): ``POST comments/``, ``POST updates/`` (a new
update; editing is not supported), ``POST updates/<alias>/request``. Bodhi's errors: ``{"status": "error",
"errors": [{"location", "name", "description"}]}``. Writes take a urlencoded form (what the client sends) or
JSON. The sandbox's own control surface (no Bodhi URL does this; loopback only, no login): ``POST
_sandbox/push`` runs ``bodhi-push`` (see :mod:`relengotron_sandbox.bodhi.composer`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from urllib.parse import parse_qs

from relengotron_sandbox.bodhi import query as queries
from relengotron_sandbox.bodhi import render
from relengotron_sandbox.bodhi.auth import Auth
from relengotron_sandbox.bodhi.composer import PushError, push
from relengotron_sandbox.bodhi.query import BodhiError, Params
from relengotron_sandbox.bodhi.state import BodhiState
from relengotron_sandbox.bodhi.updates import add_comment, create_update, set_request
from relengotron_sandbox.web import App, Request, Response

log = logging.getLogger(__name__)

Handler = Callable[[Request], Response]
BOOLEANS = {"true": True, "1": True, "false": False, "0": False}


def body_params(request: Request) -> dict[str, list[str]]:
    """A write's parameters: its urlencoded form or JSON object (values as lists of strings), over the query."""
    params = {k: list(v) for k, v in request.query.items()}
    if not request.body:
        return params
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            data = json.loads(request.body)
        except ValueError:
            raise BodhiError(400, "body", "body", "Invalid JSON") from None
        if not isinstance(data, dict):
            raise BodhiError(400, "body", "body", "the body must be a JSON object")
        for key, value in data.items():
            values = value if isinstance(value, list) else [value]
            params[key] = ["" if v is None else str(v).lower() if isinstance(v, bool) else str(v) for v in values]
        return params
    params.update(parse_qs(request.body.decode(), keep_blank_values=True))
    return params


def _last(params: dict[str, list[str]], name: str, default: str | None = None) -> str | None:
    values = params.get(name)
    return values[-1] if values else default


def _boolean(params: dict[str, list[str]], name: str, default: bool) -> bool:
    value = _last(params, name)
    if value is None or value == "":
        return default
    if value.lower() not in BOOLEANS:
        raise BodhiError(400, "body", name, f'"{value}" is neither in (false, 0) nor in (true, 1)')
    return BOOLEANS[value.lower()]


class BodhiApi:
    """The handlers, over a :class:`BodhiState` and an :class:`Auth`."""

    def __init__(self, state: BodhiState, auth: Auth) -> None:
        self.state = state
        self.auth = auth

    @staticmethod
    def wrap(handler: Handler) -> Handler:
        def run(request: Request) -> Response:
            try:
                return handler(request)
            except BodhiError as exc:
                return Response.json(exc.body(), exc.status)

        return run

    # ---- releases

    def releases(self, request: Request) -> Response:
        found, paging = queries.query_releases(request.query, list(self.state.releases().values()))
        return Response.json({"releases": [render.release_json(r) for r in found], **paging})

    def release(self, request: Request) -> Response:
        release = self.state.release(request.params["name"])
        if release is None:
            raise BodhiError(404, "body", "name", "No such release")
        return Response.json(render.release_json(release))

    # ---- updates

    def updates(self, request: Request) -> Response:
        found, extra = queries.query_updates(
            request.query, self.state.updates(), self.state.releases(), self.state.users()
        )
        return Response.json({"updates": [self.state.update_json(u, web=True) for u in found], **extra})

    def update(self, request: Request) -> Response:
        update = self.state.update(request.params["id"])
        user = self.auth.user(request)
        can_edit = user is not None and (user == update["user"] or "provenpackager" in self._groups(user))
        return Response.json(
            {"update": self.state.update_json(update, web=True), "can_edit": can_edit, "ci_allowed": can_edit}
        )

    def test_results(self, request: Request) -> Response:
        """``GET updates/<alias>/get-test-results``: Bodhi asks Greenwave; the sandbox Bodhi has none configured,
        so it answers as Bodhi then does (501, "No greenwave_api_url specified")."""
        self.state.update(request.params["id"])
        raise BodhiError(501, "body", "request", "No greenwave_api_url specified")

    def _groups(self, user: str) -> list[str]:
        return list(self.state.users().get(user, {}).get("groups", []))

    def new_update(self, request: Request) -> Response:
        """``POST /updates/``: a new update (``edited`` is refused: the sandbox does not edit updates)."""
        params = body_params(request)
        user = self.auth.require_user(request)
        self.auth.check_csrf(request, _last(params, "csrf_token"))
        if _last(params, "edited"):
            raise BodhiError(400, "body", "edited", "The sandbox Bodhi does not edit updates")
        bugs = queries.split(params.get("bugs", []))
        bad = [b for b in bugs if not b.isdigit()]
        if bad:
            raise BodhiError(400, "body", "bugs", f"Invalid bug ID specified: {bad}")
        request_value = _last(params, "request", "testing")
        update = create_update(
            self.state,
            queries.split(params.get("builds", [])),
            user=user,
            type=_last(params, "type", "bugfix") or "bugfix",
            severity=_last(params, "severity", "unspecified") or "unspecified",
            notes=_last(params, "notes", "") or "",
            bugs=[int(b) for b in bugs],
            request=request_value or None,
            close_bugs=_boolean(params, "close_bugs", True),
            display_name=_last(params, "display_name", "") or "",
        )
        return Response.json({**self.state.update_json(self.state.update(update["alias"]), web=True), "caveats": []})

    def request(self, request: Request) -> Response:
        """``POST /updates/<alias>/request``: change the update's request as the logged-in user."""
        params = body_params(request)
        user = self.auth.require_user(request)
        self.auth.check_csrf(request, _last(params, "csrf_token"))
        wanted = _last(params, "request")
        if not wanted:
            raise BodhiError(400, "body", "request", "Required")
        update = set_request(self.state, request.params["id"], wanted, user)
        return Response.json({"update": self.state.update_json(update, web=True)})

    # ---- comments

    def comments(self, request: Request) -> Response:
        params = Params(request.query)
        found = self.state.comments()
        for name, pick in (
            ("updates", lambda c: c["update"]),
            ("user", lambda c: c["user"]),
            ("update_owner", lambda c: self.state.update(c["update"])["user"]),
        ):
            wanted = params.items(name)
            if wanted is not None:
                found = [c for c in found if pick(c) in set(wanted)]
        packages = params.items("packages")
        if packages is not None:
            owned = {
                u["alias"]
                for u in self.state.updates()
                if {b["nvr"].rsplit("-", 2)[0] for b in u["builds"]} & set(packages)
            }
            found = [c for c in found if c["update"] in owned]
        ignored = params.items("ignore_user")
        if ignored is not None:
            found = [c for c in found if c["user"] not in set(ignored)]
        since = params.date("since")
        if since is not None:
            found = [c for c in found if queries.parse_date(c["timestamp"]) >= since]
        text = (params.text("like") or params.text("search") or "").strip().casefold()
        if text:
            found = [c for c in found if text in c["text"].casefold()]
        found = sorted(found, key=lambda c: (c["timestamp"], c["id"]), reverse=True)
        page, paging = queries.page_of(found, params)
        return Response.json({"comments": [self.state.comment_json(c, web=True) for c in page], **paging})

    def comment(self, request: Request) -> Response:
        found = self.state.store.get("comments", request.params["id"])
        if found is None:
            raise BodhiError(404, "url", "id", "Invalid comment id")
        return Response.json({"comment": self.state.comment_json(found, web=True)})

    def new_comment(self, request: Request) -> Response:
        """``POST /comments/``: a comment by the logged-in user. Not idempotent."""
        params = body_params(request)
        self.auth.check_csrf(request, _last(params, "csrf_token"))
        alias = _last(params, "update")
        if not alias:
            raise BodhiError(400, "body", "update", "Required")
        if self.state.store.get("updates", alias) is None:
            raise BodhiError(404, "url", "update", f"Invalid update specified: {alias}")
        user = self.auth.require_user(request)
        try:
            karma = int(_last(params, "karma", "0") or 0)
        except ValueError:
            raise BodhiError(400, "body", "karma", f'"{_last(params, "karma")}" is not a number') from None
        comment = add_comment(self.state, alias, _last(params, "text", "") or "", user, karma)
        return Response.json({"comment": self.state.comment_json(comment, web=True), "caveats": []})

    # ---- composes

    def composes(self, request: Request) -> Response:
        composes = self.state.composes()
        composes.sort(key=lambda c: render.compose_order(c, self.state.compose_updates(c)))
        return Response.json({"composes": [self.state.compose_json(c) for c in composes]})

    def compose(self, request: Request) -> Response:
        found = self.state.store.get("composes", f"{request.params['release']}/{request.params['request']}")
        if found is None:
            raise BodhiError(404, "url", "compose", "Not Found")
        return Response.json({"compose": self.state.compose_json(found)})

    # ---- auth

    def csrf(self, request: Request) -> Response:
        session, cookie = self.auth.session(request)
        response = Response.json({"csrf_token": self.auth.csrf_token(session)})
        if cookie:
            response.headers["Set-Cookie"] = cookie
        return response

    def login_token(self, request: Request) -> Response:
        """``/oidc/login-token``: a bearer token in, an ``auth_tkt`` cookie out (202)."""
        info = self.auth.login_with_token(request)
        self.state.ensure_user(info["nickname"], info.get("email"), list(info.get("groups") or []))
        response = Response.json({}, 202)
        response.headers["Set-Cookie"] = self.auth.remember(info["nickname"])
        return response

    # ---- the sandbox's control surface

    def sandbox_push(self, request: Request) -> Response:
        """``POST _sandbox/push`` {agent, releases, requests, builds, updates, bodhi2}: ``bodhi-push --yes``."""
        try:
            data = json.loads(request.body or b"{}")
        except ValueError:
            raise BodhiError(400, "body", "body", "Invalid JSON") from None
        if not isinstance(data, dict) or not isinstance(data.get("agent"), str) or not data["agent"]:
            raise BodhiError(400, "body", "agent", "a push needs an agent (who pushes)")
        try:
            result = push(
                self.state,
                agent=data["agent"],
                releases=data.get("releases"),
                requests=data.get("requests") or ("testing", "stable"),
                builds=data.get("builds"),
                updates=data.get("updates"),
                bodhi2=bool(data.get("bodhi2")),
            )
        except PushError as exc:
            raise BodhiError(400, "body", "releases", str(exc)) from None
        return Response.json(
            {
                "composes": [self.state.compose_json(c) for c in result.composes],
                "resumed": result.resumed,
                "unsigned": result.unsigned,
            }
        )

    def not_found(self, request: Request) -> Response:
        raise BodhiError(404, "url", "path", f"The resource could not be found: {request.path}")


def build_app(api: BodhiApi) -> App:
    """The routes, each accepting its path with or without the trailing slash (the client sends both)."""
    app = App("bodhi")
    routes: list[tuple[str, str, Handler]] = [
        ("GET", r"/releases", api.releases),
        ("GET", r"/list_releases", api.releases),
        ("GET", r"/releases/(?P<name>[^/]+)", api.release),
        ("GET", r"/updates", api.updates),
        ("POST", r"/updates", api.new_update),
        ("POST", r"/updates/(?P<id>[^/]+)/request", api.request),
        ("GET", r"/updates/(?P<id>[^/]+)/get-test-results", api.test_results),
        ("GET", r"/updates/(?P<id>[^/]+)", api.update),
        ("GET", r"/comments", api.comments),
        ("POST", r"/comments", api.new_comment),
        ("GET", r"/comments/(?P<id>\d+)", api.comment),
        ("GET", r"/composes", api.composes),
        ("GET", r"/composes/(?P<release>[^/]+)/(?P<request>[^/]+)", api.compose),
        ("GET", r"/csrf", api.csrf),
        ("*", r"/oidc/login-token", api.login_token),
        ("POST", r"/_sandbox/push", api.sandbox_push),
    ]
    for method, pattern, handler in routes:
        app.add(method, pattern + "/?", api.wrap(handler))
    app.add("*", r"/.*", api.wrap(api.not_found))
    return app
