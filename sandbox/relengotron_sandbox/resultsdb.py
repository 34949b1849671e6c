"""The sandbox ResultsDB: ResultsDB's HTTP API v2.0 over SQLite, for the unmodified ``resultsdb_api`` client.

Served at ``http://127.0.0.1:PORT/api/v2.0/`` with ResultsDB's JSON shapes: results (``POST``/``GET
/results``, ``GET /results/<id>``, ``GET /results/latest``), testcases and groups, paged as ``{"data",
"prev", "next"}`` with ``next``/``prev`` being full URLs of the neighbouring pages. Errors are JSON
``{"message": ...}`` (the client raises ``ResultsDBapiException`` carrying that message): an invalid outcome or
a missing field answers 400 naming it, an unknown result/testcase/group 404.

Each new result is published on the bus as ResultsDB does: ``resultsdb.result.new`` with the result in its
API form, and — only when its outcome differs from the previous result of the same testcase and item/type/arch,
or there was none — the legacy ``taskotron.result.new`` (``{"task": {item, type, name}, "result": {id,
submit_time, prev_outcome, outcome, log_url}}``). A failure to publish is logged; the result stays stored, as
in ResultsDB.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote, urlencode

from relengotron_sandbox.resultsdb_store import (
    OUTCOMES,
    DataFilter,
    ResultFilter,
    ResultsStore,
)
from relengotron_sandbox.service import SandboxContext
from relengotron_sandbox.web import App, HTTPError, HTTPService, Request, Response

log = logging.getLogger(__name__)

API = "/api/v2.0"
QUERY_LIMIT = 20
MISSING = "Missing required parameter in the JSON body"
# Query parameters of GET /results and /results/latest that are not filters on result data.
RESULT_ARGS = frozenset(
    {"page", "limit", "since", "outcome", "groups", "_sort", "testcases", "testcases:like", "_distinct_on"}
    | {"callback", "_"}  # JSONP leftovers ResultsDB ignores
)


def _error(status: int, message: Any) -> HTTPError:
    """ResultsDB's error body: ``{"message": ...}`` (a string, or {argument: problem} from request parsing)."""
    return HTTPError(status, str(message), body={"message": message})


def _split(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def _int_arg(req: Request, name: str, default: int, minimum: int) -> int:
    raw = req.arg(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _error(400, {name: f"invalid literal for int() with base 10: {raw!r}"}) from None
    if value < minimum:
        raise _error(400, {name: f"must be at least {minimum}, got {value}"})
    return value


def _parse_since(text: str | None) -> tuple[datetime | None, datetime | None]:
    """``start[,end]`` in ISO 8601; times with a zone are converted to UTC (submit times are UTC)."""
    if not text:
        return None, None
    parts = text.split(",")
    try:
        bounds = [datetime.fromisoformat(p.strip().replace("Z", "+00:00")) for p in parts[:2]]
    except ValueError:
        raise _error(400, "'since' parameter not in ISO8601 format") from None
    naive = [b.astimezone(UTC).replace(tzinfo=None) if b.tzinfo else b for b in bounds]
    return naive[0], naive[1] if len(naive) > 1 else None


def _result_filter(req: Request, with_outcome: bool) -> ResultFilter:
    filt = ResultFilter()
    filt.since_start, filt.since_end = _parse_since(req.arg("since"))
    if with_outcome and req.arg("outcome"):
        outcomes = [o.upper() for o in _split(req.arg("outcome"))]
        for outcome in outcomes:
            if outcome not in OUTCOMES:
                raise _error(400, f"outcome {outcome!r} not one of {OUTCOMES!r}")
        filt.outcomes = outcomes
    filt.groups = _split(req.arg("groups"))
    filt.testcases = _split(req.arg("testcases"))
    filt.testcases_like = _split(req.arg("testcases:like"))
    for name, raw_values in req.query.items():
        if name in RESULT_ARGS:
            continue
        key, _, modifier = name.partition(":")
        values = tuple(v for raw in raw_values for v in raw.split(","))
        filt.data.append(DataFilter(key, values, like=modifier == "like"))
    return filt


class ResultsDBApp:
    """The routes of API v2.0; ``store`` holds the state, ``ctx`` publishes the messages."""

    def __init__(self, ctx: SandboxContext, store: ResultsStore, required_data: Sequence[str]) -> None:
        self.ctx = ctx
        self.store = store
        self.required_data = tuple(required_data)
        self.app = App("resultsdb")
        routes = [
            ("GET", "/?", self.landing),
            ("GET", "/results/?", self.get_results),
            ("POST", "/results/?", self.create_result),
            ("GET", "/results/latest/?", self.get_results_latest),
            ("GET", "/results/(?P<id>[^/]+)/?", self.get_result),
            ("GET", "/testcases/?", self.get_testcases),
            ("POST", "/testcases/?", self.create_testcase),
            ("GET", "/testcases/(?P<name>.+)/results/?", self.get_testcase_results),
            ("GET", "/testcases/(?P<name>[^/]+)/?", self.get_testcase),
            ("GET", "/groups/?", self.get_groups),
            ("POST", "/groups/?", self.create_group),
            ("GET", "/groups/(?P<uuid>[^/]+)/results/?", self.get_group_results),
            ("GET", "/groups/(?P<uuid>[^/]+)/?", self.get_group),
        ]
        for method, pattern, handler in routes:
            self.app.add(method, API + pattern, handler)
        self.app.add("*", "/.*", self.no_route)

    # ------------------------------------------------------------ helpers

    @staticmethod
    def base(req: Request) -> str:
        return f"http://{req.headers.get('host', '127.0.0.1')}{API}"

    def page_links(self, req: Request, page: int, more: bool) -> tuple[str | None, str | None]:
        """prev/next: this request's URL with ``page`` replaced, as ResultsDB builds them."""

        def url(number: int) -> str:
            query = {k: v for k, v in req.query.items() if k not in ("page", "callback")}
            query["page"] = [str(number)]
            return f"http://{req.headers.get('host', '127.0.0.1')}{req.path}?" + urlencode(
                query, doseq=True, safe=":,*"
            )

        return (url(page - 1) if page > 0 else None), (url(page + 1) if more else None)

    def paged(self, req: Request, fetch: Any, serialize: Any) -> Response:
        page = _int_arg(req, "page", 0, 0)
        limit = _int_arg(req, "limit", QUERY_LIMIT, 1)
        rows = fetch(page * limit, limit + 1)
        prev, nxt = self.page_links(req, page, len(rows) > limit)
        base = self.base(req)
        return Response.json({"prev": prev, "next": nxt, "data": [serialize(base, r) for r in rows[:limit]]})

    @staticmethod
    def body(req: Request) -> dict[str, Any]:
        try:
            data = json.loads(req.body or b"{}")
        except ValueError as exc:
            raise _error(400, f"Malformed Request: {exc}") from None
        if not isinstance(data, dict):
            raise _error(400, "Malformed Request: expected a JSON object")
        return data

    # ------------------------------------------------------------ serializers

    @staticmethod
    def testcase_json(base: str, tc: dict[str, Any]) -> dict[str, Any]:
        return {"name": tc["name"], "ref_url": tc["ref_url"], "href": f"{base}/testcases/{quote(tc['name'])}"}

    @staticmethod
    def group_json(base: str, group: dict[str, Any]) -> dict[str, Any]:
        uid = group["uuid"]
        return {
            "uuid": uid,
            "description": group["description"],
            "ref_url": group["ref_url"],
            "results": f"{base}/results?groups={quote(uid)}",
            "results_count": group["results_count"],
            "href": f"{base}/groups/{quote(uid)}",
        }

    def result_json(self, base: str, result: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": result["id"],
            "groups": list(result["groups"]),
            "testcase": self.testcase_json(base, result["testcase"]),
            "submit_time": result["submit_time"].isoformat(),
            "outcome": result["outcome"],
            "note": result["note"],
            "ref_url": result["ref_url"],
            "data": {k: list(v) for k, v in result["data"].items()},
            "href": f"{base}/results/{result['id']}",
        }

    # ------------------------------------------------------------ routes

    def landing(self, req: Request) -> Response:
        base = self.base(req)
        body = {
            "message": "Everything is fine. But choose wisely, for while the true Grail will bring you life, "
            "the false Grail will take it from you.",
            "documentation": "http://docs.resultsdb20.apiary.io/",
            "groups": f"{base}/groups",
            "results": f"{base}/results",
            "testcases": f"{base}/testcases",
            "outcomes": list(OUTCOMES),
        }
        return Response.json(body, 300)

    def no_route(self, req: Request) -> Response:
        for method, pattern, _ in self.app.routes:
            if method != "*" and pattern.match(req.path):
                return Response.json({"message": "The method is not allowed for the requested URL."}, 405)
        return Response.json({"message": "Not found"}, 404)

    def get_results(
        self, req: Request, *, groups: list[str] | None = None, testcases: list[str] | None = None
    ) -> Response:
        filt = _result_filter(req, with_outcome=True)
        if groups is not None:
            filt.groups = groups
        if testcases is not None:
            filt.testcases = testcases
        ascending = (req.arg("_sort") or "") == "asc:submit_time"
        return self.paged(
            req,
            lambda offset, limit: self.store.select_results(filt, ascending=ascending, offset=offset, limit=limit),
            self.result_json,
        )

    def get_results_latest(self, req: Request) -> Response:
        filt = _result_filter(req, with_outcome=False)
        distinct_on = _split(req.arg("_distinct_on"))
        if distinct_on and filt.is_empty():
            raise _error(400, "Please, provide at least one filter beside '_distinct_on'")
        results = self.store.latest_results(filt, distinct_on)
        base = self.base(req)
        return Response.json({"data": [self.result_json(base, r) for r in results]})

    def get_result(self, req: Request) -> Response:
        try:
            result = self.store.get_result(int(req.params["id"]))
        except ValueError:
            result = None
        if result is None:
            raise _error(404, "Result not found")
        return Response.json(self.result_json(self.base(req), result))

    def create_result(self, req: Request) -> Response:
        """POST /results: not idempotent — every call stores (and announces) a new result."""
        args = self.body(req)
        outcome, testcase, groups, data = self._parse_create_result(args)
        result, previous = self.store.create_result(
            testcase=testcase,
            outcome=outcome,
            groups=groups,
            note=None if args.get("note") is None else str(args["note"]),
            ref_url=None if args.get("ref_url") is None else str(args["ref_url"]),
            data=data,
        )
        body = self.result_json(self.base(req), result)
        self.announce(body, result, previous)
        return Response.json(body, 201)

    def _parse_create_result(
        self, args: dict[str, Any]
    ) -> tuple[str, dict[str, Any], list[dict[str, Any]], list[tuple[str, str]]]:
        """Validate a POSTed result in ResultsDB's order: required arguments, then outcome, keys, testcase."""
        for name in ("outcome", "testcase"):
            if args.get(name) is None:
                raise _error(400, {name: MISSING})
        if not isinstance(args["outcome"], str) or not args["outcome"].strip():
            raise _error(400, {"outcome": f"Expected a non-empty string, got {args['outcome']!r}"})
        tc = args["testcase"]
        if not isinstance(tc, str | dict):
            raise _error(400, {"testcase": f"Expected dict or string, got {type(tc).__name__}"})
        groups = args.get("groups")
        if groups is not None and not isinstance(groups, list):
            raise _error(400, {"groups": f"Expected list or None, got {type(groups).__name__}"})
        data = args.get("data")
        if data is not None and not isinstance(data, dict):
            raise _error(400, {"data": f"Expected dict or None, got {type(data).__name__}"})
        if self.required_data:
            present = data or {}
            missing = [k for k in self.required_data if k not in present]
            if missing:
                raise _error(400, {"data": f"Missing required fields in data: {missing!r}"})
            for key in self.required_data:
                if present[key] in ("", [], None):
                    raise _error(400, {"data": f"Required field {key!r} missing value (got {present[key]!r})"})
        outcome = args["outcome"].strip().upper()
        if outcome not in OUTCOMES:
            raise _error(400, f"outcome {outcome!r} not one of {OUTCOMES!r}")
        invalid = [k for k in (data or {}) if ":" in k]
        if invalid:
            raise _error(400, f"Colon not allowed in key name: {invalid!r}")
        if isinstance(tc, str):
            if not tc:
                raise _error(400, "testcase name not set")
            testcase: dict[str, Any] = {"name": tc}
        else:
            if not tc.get("name") or not isinstance(tc["name"], str):
                raise _error(400, "testcase.name not set")
            testcase = {"name": tc["name"], "ref_url": tc.get("ref_url")}
        parsed_groups: list[dict[str, Any]] = []
        for group in groups or []:
            if isinstance(group, str):
                parsed_groups.append({"uuid": group})
            elif isinstance(group, dict):
                parsed_groups.append(group)
            else:
                raise _error(400, {"groups": f"Expected uuid or object, got {group!r}"})
        pairs: list[tuple[str, str]] = []
        for key, value in (data or {}).items():
            values = value if isinstance(value, list | tuple) else [value]
            pairs.extend((str(key), v if isinstance(v, str) else str(v)) for v in values)
        return outcome, testcase, parsed_groups, pairs

    def announce(self, body: dict[str, Any], result: dict[str, Any], previous: dict[str, Any] | None) -> None:
        """Publish resultsdb.result.new, and taskotron.result.new when the outcome changed."""
        messages = [("resultsdb", body)]
        if previous is None or previous["outcome"] != result["outcome"]:
            task = {k: result["data"][k][0] for k in ("item", "type") if result["data"].get(k)}
            task["name"] = result["testcase"]["name"]
            legacy = {
                "task": task,
                "result": {
                    "id": result["id"],
                    "submit_time": result["submit_time"].strftime("%Y-%m-%d %H:%M:%S UTC"),
                    "prev_outcome": previous["outcome"] if previous else None,
                    "outcome": result["outcome"],
                    "log_url": result["ref_url"],
                },
            }
            messages.append(("taskotron", legacy))
        for modname, msg in messages:
            try:
                self.ctx.publish(modname, "result.new", msg)
            except Exception:
                log.exception("resultsdb: could not publish %s.result.new for result %s", modname, result["id"])

    def get_testcases(self, req: Request) -> Response:
        names, like = _split(req.arg("name")), _split(req.arg("name:like"))
        return self.paged(
            req,
            lambda offset, limit: self.store.list_testcases(names, like, offset, limit),
            self.testcase_json,
        )

    def get_testcase(self, req: Request) -> Response:
        testcase = self.store.get_testcase(unquote(req.params["name"]))
        if testcase is None:
            raise _error(404, "Testcase not found")
        return Response.json(self.testcase_json(self.base(req), testcase))

    def get_testcase_results(self, req: Request) -> Response:
        name = unquote(req.params["name"])
        if self.store.get_testcase(name) is None:
            raise _error(404, "Testcase not found")
        return self.get_results(req, testcases=[name])

    def create_testcase(self, req: Request) -> Response:
        """POST /testcases: idempotent — creates the testcase or updates its ref_url."""
        args = self.body(req)
        name = args.get("name")
        if name is None:
            raise _error(400, {"name": MISSING})
        if not isinstance(name, str) or not name:
            raise _error(400, {"name": f"Expected a non-empty string, got {name!r}"})
        ref_url = args.get("ref_url")
        testcase = self.store.upsert_testcase(name, None if ref_url is None else str(ref_url))
        return Response.json(self.testcase_json(self.base(req), testcase), 201)

    def get_groups(self, req: Request) -> Response:
        uuids = _split(req.arg("uuid"))
        descriptions = [d for d in (req.arg("description") or "").split(",") if d.strip()]
        like = [d for d in (req.arg("description:like") or "").split(",") if d.strip()]
        return self.paged(
            req,
            lambda offset, limit: self.store.list_groups(uuids, descriptions, like, offset, limit),
            self.group_json,
        )

    def get_group(self, req: Request) -> Response:
        group = self.store.get_group(unquote(req.params["uuid"]))
        if group is None:
            raise _error(404, "Group not found")
        return Response.json(self.group_json(self.base(req), group))

    def get_group_results(self, req: Request) -> Response:
        uid = unquote(req.params["uuid"])
        if self.store.get_group(uid) is None:
            raise _error(404, f"Group not found: {uid}")
        return self.get_results(req, groups=[uid])

    def create_group(self, req: Request) -> Response:
        """POST /groups: idempotent for a given uuid (updates description/ref_url); no uuid → a new group."""
        args = self.body(req)
        fields = {}
        for name in ("uuid", "description", "ref_url"):
            value = args.get(name)
            fields[name] = None if value is None else str(value)
        group = self.store.upsert_group(fields["uuid"], fields["description"], fields["ref_url"])
        return Response.json(self.group_json(self.base(req), group), 201)


class ResultsDBService:
    """The sandbox ResultsDB. State: ``ctx.service_dir("resultsdb")/resultsdb.sqlite``.

    ``required_data`` are the ``data`` keys every new result must carry (ResultsDB's ``REQUIRED_DATA``
    setting); Taskotron-style consumers (Bodhi, Greenwave) need ``item`` and ``type``.
    """

    name = "resultsdb"

    def __init__(self, ctx: SandboxContext, *, port: int = 0, required_data: Sequence[str] = ("item", "type")) -> None:
        self.ctx = ctx
        self.port = port
        self.required_data = tuple(required_data)
        self.store: ResultsStore | None = None
        self._http: HTTPService | None = None

    def start(self) -> dict[str, Any]:
        """Open the database (created on first start, kept across restarts) and serve the API."""
        self.store = ResultsStore(self.ctx.service_dir(self.name) / "resultsdb.sqlite")
        app = ResultsDBApp(self.ctx, self.store, self.required_data)
        self._http = HTTPService(app.app, self.port).start()
        return {"url": f"{self._http.url}{API}/"}

    def stop(self) -> None:
        if self._http is not None:
            self._http.stop()
            self._http = None
        if self.store is not None:
            self.store.close()
            self.store = None
