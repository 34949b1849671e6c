"""``GET /updates/`` and ``GET /releases/`` of the sandbox Bodhi: Bodhi's query parameters, filters and pages.

As Bodhi's colander schemas (``ListUpdateSchema``, ``ListReleaseSchema``, ``PaginatedSchema``) read them: list
parameters may repeat and are split on commas and spaces (``util.splitter``); booleans take true/1 and
false/0; ``page`` >= 1 and ``rows_per_page`` 1..1000 (default 20); parameters Bodhi does not know are ignored
(the bodhi CLI sends ``staging=False`` and friends). Each filter is Bodhi's (``query_updates``): values of one
parameter are OR-ed, parameters AND-ed; releases match by name, upper-cased name or version; updates are
ordered newest submitted first. A bad value is a :class:`BodhiError` with Bodhi's location/name/description.
Pure.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

Record = Mapping[str, Any]

REQUESTS = ("testing", "obsolete", "unpush", "revoke", "stable")
SEVERITIES = ("unspecified", "urgent", "high", "medium", "low")
STATUSES = ("pending", "testing", "stable", "unpushed", "obsolete")
SUGGESTIONS = ("unspecified", "reboot", "logout")
TYPES = ("bugfix", "security", "newpackage", "enhancement", "unspecified")
CONTENT_TYPES = ("base", "rpm", "module", "container", "flatpak")
GATING = ("waiting", "ignored", "queued", "running", "passed", "failed", "greenwave_failed")
RELEASE_STATES = ("disabled", "pending", "frozen", "current", "archived")
DATE_FILTERS = {  # parameter → (update field, True for "since" (>=), False for "before" (<))
    "approved_since": ("date_approved", True),
    "approved_before": ("date_approved", False),
    "modified_since": ("date_modified", True),
    "modified_before": ("date_modified", False),
    "pushed_since": ("date_pushed", True),
    "pushed_before": ("date_pushed", False),
    "submitted_since": ("date_submitted", True),
    "submitted_before": ("date_submitted", False),
}


class BodhiError(Exception):
    """An error as Bodhi's cornice services answer it: ``{"status": "error", "errors": [...]}``."""

    def __init__(self, status: int, location: str, name: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.errors = [{"location": location, "name": name, "description": description}]

    def body(self) -> dict[str, Any]:
        return {"status": "error", "errors": self.errors}


def split(values: list[str]) -> list[str]:
    """Bodhi's ``util.splitter``: every comma- or space-separated item of every value."""
    return [item for value in values for item in value.replace(",", " ").split()]


class Params:
    """Typed reads of a query string (``{name: [values]}``), raising Bodhi's 400 errors."""

    def __init__(self, query: Mapping[str, list[str]]) -> None:
        self.query = query

    def text(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None

    def items(self, name: str, choices: tuple[str, ...] | None = None) -> list[str] | None:
        if name not in self.query:
            return None
        items = split(self.query[name])
        for item in items:
            if choices is not None and item not in choices:
                raise self.invalid(name, f'"{item}" is not one of {", ".join(choices)}')
        return items

    def choice(self, name: str, choices: tuple[str, ...]) -> str | None:
        value = self.text(name)
        if value is not None and value not in choices:
            raise self.invalid(name, f'"{value}" is not one of {", ".join(choices)}')
        return value

    def boolean(self, name: str, default: bool | None = None) -> bool | None:
        value = self.text(name)
        if value is None:
            return default
        if value.lower() in ("true", "1"):
            return True
        if value.lower() in ("false", "0"):
            return False
        raise self.invalid(name, f'"{value}" is neither in (false, 0) nor in (true, 1)')

    def integer(self, name: str, default: int, low: int, high: int | None = None) -> int:
        value = self.text(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            raise self.invalid(name, f'"{value}" is not a number') from None
        if number < low:
            raise self.invalid(name, f"{number} is less than minimum value {low}")
        if high is not None and number > high:
            raise self.invalid(name, f"{number} is greater than maximum value {high}")
        return number

    def date(self, name: str) -> datetime | None:
        value = self.text(name)
        if value is None:
            return None
        try:
            return parse_date(value)
        except ValueError:
            raise self.invalid(name, "Invalid date") from None

    @staticmethod
    def invalid(name: str, description: str) -> BodhiError:
        return BodhiError(400, "querystring", name, description)


def parse_date(value: str) -> datetime:
    """A date as Bodhi stores (``2016-06-01 12:00:00``) or as colander reads it (ISO 8601), naive UTC."""
    stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return stamp if stamp.tzinfo is None else stamp.astimezone(UTC).replace(tzinfo=None)


def find_release(releases: Mapping[str, Record], wanted: str) -> Record | None:
    """A release by name, upper-cased name or version (``validate_releases`` and ``bodhi-push``)."""
    for release in releases.values():
        if wanted in (release["name"], release["version"]) or release["name"] == wanted.upper():
            return release
    return None


def page_of(items: list[Any], params: Params) -> tuple[list[Any], dict[str, int]]:
    """One page of ``items`` and Bodhi's paging keys (page, pages, rows_per_page, total)."""
    page = params.integer("page", 1, 1)
    rows = params.integer("rows_per_page", 20, 1, 1000)
    total = len(items)
    chosen = items[rows * (page - 1) : rows * page]
    return chosen, {"page": page, "pages": math.ceil(total / rows), "rows_per_page": rows, "total": total}


def query_updates(
    query: Mapping[str, list[str]],
    updates: list[Record],
    releases: Mapping[str, Record],
    users: Mapping[str, Record],
) -> tuple[list[Record], dict[str, Any]]:
    """The updates ``GET /updates/`` answers with, and the other keys of its answer (paging, package, ...)."""
    params = Params(query)
    tests: list[Callable[[Record], bool]] = []

    def keep(test: Callable[[Record], bool]) -> None:
        tests.append(test)

    for name in ("alias", "updateid"):
        aliases = params.items(name)
        if aliases is not None:
            keep(lambda u, wanted=set(aliases): u["alias"] in wanted)
    builds = params.items("builds")
    if builds is not None:
        keep(lambda u, wanted=set(builds): any(b["nvr"] in wanted for b in u["builds"]))
    packages = params.items("packages")
    if packages is not None:
        keep(lambda u, wanted=set(packages): any(b["nvr"].rsplit("-", 2)[0] in wanted for b in u["builds"]))
    bugs = params.items("bugs")
    if bugs is not None:
        bad = [b for b in bugs if not b.isdigit()]
        if bad:
            raise BodhiError(400, "querystring", "bugs", f"Invalid bug ID specified: {bad}")
        keep(lambda u, wanted={int(b) for b in bugs}: any(b["bug_id"] in wanted for b in u["bugs"]))
    wanted_releases = _releases(params, releases)
    if wanted_releases is not None:
        keep(lambda u: u["release"] in wanted_releases)
    users_wanted = params.items("user")
    if users_wanted is not None:
        unknown = [u for u in users_wanted if u not in users]
        if unknown:
            raise BodhiError(400, "querystring", "user", f"Invalid users specified: {', '.join(unknown)}")
        keep(lambda u, wanted=set(users_wanted): u["user"] in wanted)
    for name, field, choices in (
        ("request", "request", REQUESTS),
        ("severity", "severity", SEVERITIES),
        ("suggest", "suggest", SUGGESTIONS),
        ("type", "type", TYPES),
    ):
        value = params.choice(name, choices)
        if value is not None:
            keep(lambda u, f=field, v=value: u.get(f) == v)
    statuses = params.items("status", STATUSES)
    if statuses is not None:
        keep(lambda u, wanted=set(statuses): u["status"] in wanted)
    gating = params.items("gating", GATING)
    if gating is not None:
        keep(lambda u, wanted=set(gating): u.get("test_gating_status") in wanted)
    content_type = params.choice("content_type", CONTENT_TYPES)
    if content_type is not None:
        keep(lambda u, v=content_type: v == "rpm" and bool(u["builds"]))
    for name in ("critpath", "locked", "pushed"):
        flag = params.boolean(name)
        if flag is not None:
            keep(lambda u, f=name, v=flag: bool(u.get(f)) is v)
    side_tag = params.boolean("from_side_tag")
    if side_tag is not None:
        keep(lambda u, v=side_tag: (u.get("from_tag") is not None) is v)
    for name in ("like", "search"):
        text = (params.text(name) or "").strip()
        if text:
            keep(lambda u, t=text, n=name: _matches(u, t, case=n == "like"))
    for name, (field, since) in DATE_FILTERS.items():
        when = params.date(name)
        if when is not None:
            keep(lambda u, f=field, w=when, s=since: _dated(u, f, w, s))
    found = [u for u in updates if all(test(u) for test in tests)]
    found.sort(key=lambda u: (u["date_submitted"], u["id"]), reverse=True)
    page, paging = page_of(found, params)
    extra = {
        **paging,
        "chrome": params.boolean("chrome", True),
        "display_user": params.boolean("display_user", True),
        "display_request": True,
        "package": packages[0] if packages else None,
    }
    return page, extra


def _releases(params: Params, releases: Mapping[str, Record]) -> set[str] | None:
    names = params.items("releases")
    single = params.text("release")
    if names is None and single is None:
        return None
    wanted: set[str] = set()
    bad = []
    for name in names or []:
        if name in ("__current__", "__pending__", "__archived__"):
            state = {"__current__": ("current",), "__pending__": ("pending", "frozen"), "__archived__": ("archived",)}
            wanted |= {r["name"] for r in releases.values() if r["state"] in state[name]}
            continue
        release = find_release(releases, name)
        if release is None:
            bad.append(name)
        else:
            wanted.add(release["name"])
    if bad:
        raise BodhiError(400, "querystring", "releases", f"Invalid releases specified: {', '.join(bad)}")
    if single is not None:
        release = find_release(releases, single)
        if release is None:
            raise BodhiError(400, "querystring", "release", f"Invalid release specified: {single}")
        wanted = {release["name"]} if names is None else wanted & {release["name"]}
    return wanted


def _matches(update: Record, text: str, *, case: bool) -> bool:
    """``like`` (case-sensitive, builds) and ``search`` (case-insensitive, builds and alias)."""
    if case:
        return any(text in b["nvr"] for b in update["builds"])
    folded = text.casefold()
    return folded in update["alias"].casefold() or any(folded in b["nvr"].casefold() for b in update["builds"])


def render_date_pushed(update: Record) -> str | None:
    """``Update.date_pushed``: the newer of date_stable and date_testing."""
    return update.get("date_stable") or update.get("date_testing")


def _dated(update: Record, field: str, when: datetime, since: bool) -> bool:
    value = render_date_pushed(update) if field == "date_pushed" else update.get(field)
    if not value:
        return False
    stamp = parse_date(value)
    return stamp >= when if since else stamp < when


def query_releases(query: Mapping[str, list[str]], releases: list[Record]) -> tuple[list[Record], dict[str, Any]]:
    """The releases ``GET /releases/`` answers with (ordered by name), and its paging keys."""
    params = Params(query)
    found = list(releases)
    ids = params.items("ids")
    if ids is not None:
        bad = [i for i in ids if not i.isdigit()]
        if bad:
            raise params.invalid("ids", f'"{bad[0]}" is not a number')
        found = [r for r in found if str(r["id"]) in set(ids)]
    name = params.text("name")
    if name is not None:
        found = [r for r in found if _like(r["name"], name)]
    states = params.items("state", RELEASE_STATES)
    if states is not None:
        found = [r for r in found if r["state"] in states]
    if params.boolean("exclude_archived"):
        found = [r for r in found if r["state"] != "archived"]
    found.sort(key=lambda r: r["name"])
    return page_of(found, params)


def _like(value: str, pattern: str) -> bool:
    """SQL LIKE (``%`` any run, ``_`` one character), as ``Release.name.like(name)``."""
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value) is not None
