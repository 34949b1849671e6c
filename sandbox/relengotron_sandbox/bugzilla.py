"""The sandbox Bugzilla: the REST API (Bugzilla 5) that python-bugzilla's REST backend speaks.

``BugzillaService(ctx).start()`` serves it on 127.0.0.1 and returns ``{"url": "http://127.0.0.1:P/rest/"}``;
use it as ``bugzilla.Bugzilla(url, force_rest=True, api_key=KEY)`` (add ``use_creds=False`` to keep
python-bugzilla away from the user's ~/.config and token cache). Endpoints: version, extensions, timezone,
login/logout/valid_login/whoami, user, product (and product_accessible/enterable/selectable), field/bug,
bug (search, create), bug/<id> (get, update), bug/<id>/comment (list, add), bug/comment/<cid>,
bug/<id>/history. Seeded from the world's bugs (see :mod:`relengotron_sandbox.bugzilla_data`).

Authentication: any non-empty API key (``Bugzilla_api_key`` parameter or ``X-BUGZILLA-API-KEY`` header) acts
as ``api_user`` (default ``releng@fedoraproject.org``); ``/rest/login`` with a known user's e-mail and any
non-empty password returns a ``Bugzilla_token``. Writes without either fail like Bugzilla's: code 410, HTTP
401, "You must log in before using this part of Bugzilla.". Errors are ``{"error": true, "code", "message",
"documentation"}`` with Bugzilla's HTTP status per code. Each bug update is announced on the bus as
``bugzilla.bug.update`` (bugzilla2fedmsg's shape: bug, event, comment).
State: ``ctx.service_dir("bugzilla")/bugzilla.sqlite``.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from typing import Any

from relengotron_sandbox import bugzilla_data
from relengotron_sandbox.bugzilla_data import (
    DOCS_URL,
    BZError,
    email,
    http_status,
    render_bug,
    render_comment,
    select,
)
from relengotron_sandbox.bugzilla_ops import Tracker
from relengotron_sandbox.pdc_store import DocStore
from relengotron_sandbox.service import SandboxContext
from relengotron_sandbox.web import App, HTTPService, Request, Response

log = logging.getLogger(__name__)

VERSION = "5.0.4"
KEYS = {"users": "id", "products": "id", "bugs": "id", "comments": "id", "tokens": "token", "history": "id"}
BUG_FIELDS = (
    "id",
    "alias",
    "assigned_to",
    "blocks",
    "cc",
    "classification",
    "component",
    "creation_time",
    "creator",
    "depends_on",
    "dupe_of",
    "is_open",
    "keywords",
    "last_change_time",
    "priority",
    "product",
    "qa_contact",
    "resolution",
    "severity",
    "status",
    "summary",
    "url",
    "version",
    "whiteboard",
    "cf_fixed_in",
)
SELECT_FIELDS = {
    "status": bugzilla_data.STATUSES,
    "resolution": bugzilla_data.RESOLUTIONS,
    "priority": bugzilla_data.PRIORITIES,
    "severity": bugzilla_data.PRIORITIES,
    "keywords": bugzilla_data.KEYWORDS,
}


def _list(values: Any) -> list[str]:
    """A REST list parameter: repeated, and/or comma/space separated."""
    items = values if isinstance(values, list) else [values]
    return [part for item in items for part in re.split(r"[\s,]+", str(item)) if part]


class BugzillaApi:
    """The REST handlers over a :class:`Tracker`."""

    def __init__(self, tracker: Tracker, ctx: SandboxContext, api_user: str) -> None:
        self.tracker = tracker
        self.store = tracker.store
        self.ctx = ctx
        self.api_user = email(api_user)

    # ---- plumbing ----

    @staticmethod
    def params(request: Request) -> dict[str, Any]:
        """GET: the query (lists). Others: the JSON body, overridden by query parameters (as Bugzilla does)."""
        if request.method == "GET":
            return dict(request.query)
        try:
            body = json.loads(request.body) if request.body else {}
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise BZError(32000, "Could not parse the request body as a JSON object.")
        return {**body, **{k: v[-1] for k, v in request.query.items()}}

    @staticmethod
    def last(params: dict[str, Any], name: str) -> Any:
        value = params.get(name)
        return value[-1] if isinstance(value, list) and value else value

    def who(self, request: Request, params: dict[str, Any]) -> str | None:
        """The logged-in user's e-mail, or None. A stale token is an error, as in Bugzilla."""
        key = self.last(params, "Bugzilla_api_key") or request.headers.get("x-bugzilla-api-key")
        if key:
            return self.api_user
        token = self.last(params, "Bugzilla_token")
        if token:
            doc = self.store.get("tokens", token)
            if doc is None:
                raise BZError(32000, "The token you submitted does not exist, has expired, or has been canceled.")
            return doc["user"]
        login, password = self.last(params, "Bugzilla_login"), self.last(params, "Bugzilla_password")
        if login:
            return self.check_password(login, password)["name"]
        return None

    def check_password(self, login: Any, password: Any) -> dict[str, Any]:
        user = self.tracker.users().get(email(str(login)))
        if user is None or not password:
            raise BZError(300, "The username or password you entered is not valid.")
        return user

    def require_login(self, request: Request, params: dict[str, Any]) -> str:
        user = self.who(request, params)
        if user is None:
            raise BZError(410, "You must log in before using this part of Bugzilla.")
        return user

    def wrap(self, handler: Any) -> Any:
        def run(request: Request) -> Response:
            try:
                status, data = handler(request)
            except BZError as exc:
                body = {"error": True, "code": exc.code, "message": exc.message, "documentation": DOCS_URL}
                return Response.json(body, http_status(exc.code))
            return Response.json(data, status)

        return run

    def publish(self, event: dict[str, Any], who: str, stamp: str) -> None:
        """Announce a bug change like bugzilla2fedmsg (``org.fedoraproject.<env>.bugzilla.bug.update``)."""
        if self.ctx.publisher is None:
            return
        bug = event["bug"]
        changes = [{"field": f, "removed": c["removed"], "added": c["added"]} for f, c in event["changes"].items()]
        msg = {
            "bug": render_bug(bug, self.tracker.users()),
            "event": {
                "who": who,
                "bug_id": bug["id"],
                "time": stamp,
                "changes": changes,
                "target": "bug",
                "action": "modify",
                "routing_key": "bug.modify",
            },
            "comment": render_comment(event["comment"]) if event["comment"] else None,
        }
        self.ctx.publish("bugzilla", "bug.update", msg)

    # ---- Bugzilla / User ----

    def version(self, request: Request) -> tuple[int, Any]:
        return 200, {"version": VERSION}

    def extensions(self, request: Request) -> tuple[int, Any]:
        return 200, {"extensions": {}}

    def timezone(self, request: Request) -> tuple[int, Any]:
        return 200, {"timezone": "+0000"}

    def login(self, request: Request) -> tuple[int, Any]:
        """User.login. Not idempotent: every call makes a new token."""
        params = self.params(request)
        user = self.check_password(self.last(params, "login"), self.last(params, "password"))
        token = f"{user['id']}-{secrets.token_urlsafe(12)}"
        self.store.put("tokens", {"token": token, "user": user["name"]})
        return 200, {"id": user["id"], "token": token}

    def logout(self, request: Request) -> tuple[int, Any]:
        """User.logout: forgets the token. Idempotent."""
        token = self.last(self.params(request), "Bugzilla_token")
        if token:
            self.store.delete("tokens", token)
        return 200, {}

    def valid_login(self, request: Request) -> tuple[int, Any]:
        params = self.params(request)
        doc = self.store.get("tokens", self.last(params, "token") or "")
        return 200, bool(doc and doc["user"] == email(str(self.last(params, "login"))))

    def whoami(self, request: Request) -> tuple[int, Any]:
        user = self.tracker.users()[self.require_login(request, self.params(request))]
        return 200, {"id": user["id"], "real_name": user["real_name"], "name": user["name"], "login": user["name"]}

    def users(self, request: Request) -> tuple[int, Any]:
        params = self.params(request)
        me = self.who(request, params)
        users = self.tracker.users()
        found: list[dict[str, Any]] = []
        if (params.get("ids") or params.get("match")) and me is None:
            argument = "ids" if params.get("ids") else "match"
            raise BZError(
                505,
                f'Logged-out users cannot use the "{argument}" argument to this function '
                "to access any user information.",
            )
        for name in _list(params.get("names", [])):
            if email(name) not in users:
                raise bugzilla_data.no_such("user", name)
            found.append(users[email(name)])
        ids = {int(i) for i in _list(params.get("ids", [])) if i.isdigit()}
        found += [u for u in users.values() if u["id"] in ids and u not in found]
        for pattern in _list(params.get("match", [])):
            found += [u for u in users.values() if pattern.casefold() in u["name"].casefold() and u not in found]
        out = [{"id": u["id"], "real_name": u["real_name"], "name": u["name"]} for u in found]
        if me is not None:
            out = [{**u, "email": u["name"], "can_login": True} for u in out]
        return 200, {"users": out}

    # ---- Product / field ----

    def _product_json(self, product: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": product["id"],
            "name": product["name"],
            "description": f"{product['name']} (sandbox)",
            "is_active": True,
            "classification": "Fedora",
            "default_milestone": "---",
            "has_unconfirmed": False,
            "components": [{"id": i, "is_active": True, **c} for i, c in enumerate(product["components"], start=1)],
            "versions": [
                {"id": i, "name": v, "sort_key": 0, "is_active": True}
                for i, v in enumerate(product["versions"], start=1)
            ],
            "milestones": [{"id": 1, "name": "---", "sort_key": 0, "is_active": True}],
        }

    def product_ids(self, request: Request) -> tuple[int, Any]:
        return 200, {"ids": [p["id"] for p in self.store.all("products")]}

    def products(self, request: Request) -> tuple[int, Any]:
        params = self.params(request)
        ids, names = set(_list(params.get("ids", []))), set(_list(params.get("names", [])))
        key = request.params.get("key")
        if key and key != "get":
            (ids if key.isdigit() else names).add(key)
        found = [p for p in self.store.all("products") if str(p["id"]) in ids or p["name"] in names]
        include, exclude = _list(params.get("include_fields", [])), _list(params.get("exclude_fields", []))
        return 200, {"products": [select(self._product_json(p), include, exclude) for p in found]}

    def fields(self, request: Request) -> tuple[int, Any]:
        params = self.params(request)
        names = set(_list(params.get("names", []))) | ({request.params["name"]} if "name" in request.params else set())
        out = []
        for i, name in enumerate(BUG_FIELDS, start=1):
            if names and name not in names:
                continue
            values = [
                {"name": v, "sort_key": n, "is_open": v not in bugzilla_data.CLOSED_STATUSES}
                for n, v in enumerate(SELECT_FIELDS.get(name, ()))
            ]
            out.append(
                {
                    "id": i,
                    "name": name,
                    "display_name": name.replace("_", " ").title(),
                    "is_custom": False,
                    "type": 2 if name in SELECT_FIELDS else 1,
                    "values": values,
                }
            )
        include = _list(params.get("include_fields", []))
        return 200, {"fields": [select(f, include, []) for f in out]}

    # ---- Bug ----

    def _render(self, docs: list[dict[str, Any]], params: dict[str, Any]) -> list[dict[str, Any]]:
        users = self.tracker.users()
        include, exclude = _list(params.get("include_fields", [])), _list(params.get("exclude_fields", []))
        return [select(render_bug(d, users), include, exclude) for d in docs]

    def search(self, request: Request) -> tuple[int, Any]:
        params = self.params(request)
        self.who(request, params)
        return 200, {"bugs": self._render(self.tracker.search(params), params)}

    def get(self, request: Request) -> tuple[int, Any]:
        params = self.params(request)
        self.who(request, params)
        return 200, {"bugs": self._render([self.tracker.bug(request.params["id"])], params), "faults": []}

    def update(self, request: Request) -> tuple[int, Any]:
        """Bug.update (PUT /rest/bug/<id>; ``ids`` in the body names every bug to change)."""
        params = self.params(request)
        who = self.require_login(request, params)
        ids = params.pop("ids", None) or [request.params["id"]]
        changes = {k: v for k, v in params.items() if not k.startswith("Bugzilla_")}
        results, events = self.tracker.update(who, ids if isinstance(ids, list) else [ids], changes)
        for event in events:
            self.publish(event, who, event["bug"]["last_change_time"])
        return 200, {"bugs": results}

    def create(self, request: Request) -> tuple[int, Any]:
        """Bug.create (POST /rest/bug). Not idempotent."""
        params = self.params(request)
        who = self.require_login(request, params)
        return 201, {"id": self.tracker.create(who, params)["id"]}

    def comments(self, request: Request) -> tuple[int, Any]:
        params = self.params(request)
        self.who(request, params)
        bug = self.tracker.bug(request.params["id"])
        comments = self.tracker.comments_of(bug["id"], self.last(params, "new_since"))
        return 200, {"bugs": {str(bug["id"]): {"comments": [render_comment(c) for c in comments]}}, "comments": {}}

    def comment(self, request: Request) -> tuple[int, Any]:
        cid = request.params["cid"]
        doc = self.store.get("comments", cid)
        if doc is None:
            raise BZError(111, f"{cid} is not a valid comment id.")
        return 200, {"bugs": {}, "comments": {str(doc["id"]): render_comment(doc)}}

    def add_comment(self, request: Request) -> tuple[int, Any]:
        """Bug.add_comment (POST /rest/bug/<id>/comment). Not idempotent: each call adds a comment."""
        params = self.params(request)
        who = self.require_login(request, params)
        text = params.get("comment")
        if not isinstance(text, str) or not text.strip():
            raise BZError(
                50, "The function Bug.add_comment requires a comment argument, and that argument was not set."
            )
        comment = {"body": text, "is_private": bool(params.get("is_private", False))}
        _, events = self.tracker.update(who, [request.params["id"]], {"comment": comment})
        for event in events:
            self.publish(event, who, event["bug"]["last_change_time"])
        return 201, {"id": events[0]["comment"]["id"]}

    def history(self, request: Request) -> tuple[int, Any]:
        params = self.params(request)
        self.who(request, params)
        bug = self.tracker.bug(request.params["id"])
        entries = [
            {"when": h["when"], "who": h["who"], "changes": h["changes"]}
            for h in self.store.all("history")
            if h["bug_id"] == bug["id"]
        ]
        return 200, {"bugs": [{"id": bug["id"], "alias": bug["alias"], "history": entries}]}

    def no_resource(self, request: Request) -> tuple[int, Any]:
        path = request.path.removeprefix("/rest")
        raise BZError(32614, f"A REST API resource was not found for '{request.method} {path}'.")


class BugzillaService:
    """The sandbox Bugzilla as a sandbox service (see the module docstring)."""

    name = "bugzilla"

    def __init__(self, ctx: SandboxContext, port: int = 0, api_user: str = bugzilla_data.REPORTER) -> None:
        self.ctx = ctx
        self.port = port
        self.api_user = api_user
        self.store: DocStore | None = None
        self.http: HTTPService | None = None

    def build_app(self, api: BugzillaApi) -> App:
        app = App("bugzilla")
        routes = [
            ("GET", r"/rest/version", api.version),
            ("GET", r"/rest/extensions", api.extensions),
            ("GET", r"/rest/timezone", api.timezone),
            ("GET", r"/rest/login", api.login),
            ("GET", r"/rest/logout", api.logout),
            ("GET", r"/rest/valid_login", api.valid_login),
            ("GET", r"/rest/whoami", api.whoami),
            ("GET", r"/rest/user", api.users),
            ("GET", r"/rest/product_(accessible|enterable|selectable)", api.product_ids),
            ("GET", r"/rest/product", api.products),
            ("GET", r"/rest/product/(?P<key>[^/]+)", api.products),
            ("GET", r"/rest/field/bug", api.fields),
            ("GET", r"/rest/field/bug/(?P<name>[^/]+)", api.fields),
            ("GET", r"/rest/bug", api.search),
            ("POST", r"/rest/bug", api.create),
            ("GET", r"/rest/bug/comment/(?P<cid>\d+)", api.comment),
            ("GET", r"/rest/bug/(?P<id>[^/]+)/comment", api.comments),
            ("POST", r"/rest/bug/(?P<id>[^/]+)/comment", api.add_comment),
            ("GET", r"/rest/bug/(?P<id>[^/]+)/history", api.history),
            ("GET", r"/rest/bug/(?P<id>[^/]+)", api.get),
            ("PUT", r"/rest/bug/(?P<id>[^/]+)", api.update),
        ]
        for method, pattern, handler in routes:
            app.add(method, pattern + "/?", api.wrap(handler))
        app.add("*", r"/.*", api.wrap(api.no_resource))
        return app

    def start(self) -> dict[str, Any]:
        """Open (seeding on first start) the state and serve on 127.0.0.1. Not re-entrant: start once."""
        store = DocStore(self.ctx.service_dir(self.name) / "bugzilla.sqlite", KEYS, label="Bugzilla")
        store.open(self.ctx.world.digest, lambda: bugzilla_data.seed(self.ctx.world))
        self.store = store
        api = BugzillaApi(Tracker(store), self.ctx, self.api_user)
        self.http = HTTPService(self.build_app(api), self.port).start()
        log.info("Bugzilla serving on %s/rest/", self.http.url)
        return {"url": f"{self.http.url}/rest/"}

    def stop(self) -> None:
        """Stop serving and close the state. Idempotent."""
        if self.http is not None:
            self.http.stop()
            self.http = None
        if self.store is not None:
            self.store.close()
            self.store = None
