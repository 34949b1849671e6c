"""Bug.get, Bug.search, Bug.comments and Bug.update of the sandbox Bugzilla, over its document store.

Search follows Bug.search: each field's values are OR-ed, fields are AND-ed, matches are exact (ignoring
case, as Bugzilla's database does) except summary and whiteboard (substrings); a search with no criteria is
refused; parameters Bugzilla would not know are ignored, search features this sandbox lacks (quicksearch,
boolean charts, ...) are refused rather than silently ignored. Update validates every change of every bug
first and then stores all of them in one transaction, so a refused update changes nothing.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from relengotron_sandbox.bugzilla_data import (
    KEYWORDS,
    PRIORITIES,
    RESOLUTIONS,
    STATUSES,
    BZError,
    email,
    is_open,
    new_bug,
    new_comment,
    no_such,
    now,
)
from relengotron_sandbox.pdc_store import DocStore

EXACT = {
    "id": "id",
    "bug_id": "id",
    "product": "product",
    "component": "component",
    "version": "version",
    "status": "status",
    "bug_status": "status",
    "resolution": "resolution",
    "priority": "priority",
    "severity": "severity",
    "bug_severity": "severity",
    "creator": "creator",
    "reporter": "creator",
    "assigned_to": "assigned_to",
    "qa_contact": "qa_contact",
    "alias": "alias",
}
SUBSTRING = {
    "summary": "summary",
    "short_desc": "summary",
    "whiteboard": "whiteboard",
    "status_whiteboard": "whiteboard",
}
SINCE = ("last_change_time", "creation_time")
META = {
    "include_fields",
    "exclude_fields",
    "limit",
    "offset",
    "permissive",
    "extra_fields",
    "Bugzilla_api_key",
    "Bugzilla_token",
    "Bugzilla_login",
    "Bugzilla_password",
    "Bugzilla_restrictlogin",
}
UNSUPPORTED_SEARCH = re.compile(
    r"^(quicksearch|savedsearch|sharer_id|query_format|longdesc.*|keywords.*|tag|cc|email.*|"
    r"[fovjn]\d+|bug_file_loc.*|cf_.*|flagtypes.*|chfield.*|sub_components?)$"
)
UPDATE_UNSUPPORTED = {
    "product",
    "alias",
    "url",
    "op_sys",
    "platform",
    "target_milestone",
    "target_release",
    "groups",
    "see_also",
    "flags",
    "estimated_time",
    "remaining_time",
    "work_time",
    "deadline",
    "reset_assigned_to",
    "reset_qa_contact",
    "is_cc_accessible",
    "is_creator_accessible",
    "sub_components",
    "comment_tags",
}
LIST_FIELDS = ("keywords", "cc", "blocks", "depends_on")


def _ints(name: str, values: list[Any]) -> list[int]:
    out = []
    for value in values:
        for part in str(value).split(","):
            if not part.strip().isdigit():
                raise BZError(100, f"'{part}' is not a valid bug number nor an alias to a bug.")
            out.append(int(part))
    return out


def _natural(name: str, value: Any) -> int:
    if not str(value).isdigit():
        raise BZError(52, f"Invalid parameter passed to Bug.search: {name}. It must be numeric.")
    return int(value)


def _time(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        raise BZError(56, f"'{value}' is not a legal date.") from None


class Tracker:
    """The bug operations, over a :class:`DocStore` with users, products, bugs, comments and tokens."""

    def __init__(self, store: DocStore) -> None:
        self.store = store

    def users(self) -> dict[str, dict[str, Any]]:
        return {u["name"]: u for u in self.store.all("users")}

    def product(self, name: str) -> dict[str, Any]:
        for product in self.store.all("products"):
            if product["name"] == name:
                return product
        raise no_such("product", name)

    def bug(self, ident: Any) -> dict[str, Any]:
        """One bug by id or alias; Bugzilla's errors 100 (not an id) and 101 (no such bug)."""
        text = str(ident)
        if text.isdigit():
            doc = self.store.get("bugs", int(text))
            if doc is None:
                raise BZError(101, f"Bug #{text} does not exist.")
            return doc
        for doc in self.store.all("bugs"):
            if text in doc["alias"]:
                return doc
        raise BZError(100, f"'{text}' is not a valid bug number nor an alias to a bug.")

    def comments_of(self, bug_id: int, new_since: str | None = None) -> list[dict[str, Any]]:
        comments = [c for c in self.store.all("comments") if c["bug_id"] == bug_id]
        if new_since:
            since = _time(new_since)
            comments = [c for c in comments if _time(c["creation_time"]) > since]
        return comments

    def search(self, params: dict[str, list[Any]]) -> list[dict[str, Any]]:
        """Bug.search over all bugs (see the module docstring)."""
        tests = []
        for name, values in params.items():
            if name in META:
                continue
            if UNSUPPORTED_SEARCH.match(name):
                raise BZError(32000, f"The sandbox Bugzilla does not support the search parameter '{name}'.")
            if name in ("id", "bug_id"):
                ids = set(_ints(name, values))
                tests.append(lambda d, ids=ids: d["id"] in ids)
            elif name in EXACT:
                key, wanted = EXACT[name], {str(v).casefold() for v in values}
                tests.append(lambda d, k=key, w=wanted: any(str(v).casefold() in w for v in _as_list(d[k])))
            elif name in SUBSTRING:
                key, parts = SUBSTRING[name], [str(v).casefold() for v in values]
                tests.append(lambda d, k=key, p=parts: any(x in d[k].casefold() for x in p))
            elif name in SINCE:
                since = _time(str(values[-1]))
                tests.append(lambda d, k=name, s=since: _time(d[k]) >= s)
        if not tests:
            raise BZError(32000, "You may not search, or create saved searches, without any search terms.")
        found = [d for d in self.store.all("bugs") if all(t(d) for t in tests)]
        offset = _natural("offset", params["offset"][-1]) if params.get("offset") else 0
        found = found[offset:]
        if params.get("limit") and _natural("limit", params["limit"][-1]):
            found = found[: int(params["limit"][-1])]
        return found

    def update(self, who: str, ids: list[Any], params: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict]]:
        """Bug.update of ``ids`` by ``who``: the per-bug results and the events to announce.

        Not idempotent for comments (each call adds one); field changes are (the same values again change
        nothing and are not reported).
        """
        with self.store.lock:
            return self._update(who, ids, params)

    def _update(self, who: str, ids: list[Any], params: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict]]:
        for name in params:
            if name in UPDATE_UNSUPPORTED:
                raise BZError(32000, f"The sandbox Bugzilla cannot update '{name}'.")
        bug_ids = list(dict.fromkeys(self.bug(i)["id"] for i in ids))
        if not bug_ids:
            raise BZError(50, "The function Bug.update requires a ids argument, and that argument was not set.")
        stamp = now()
        changed: dict[int, dict[str, Any]] = {}  # every bug written, including the other ends of dependencies
        results, events = [], []
        comment_text, private = self._comment(params.get("comment"))
        next_comment = self.store.next_id("comments")
        next_history = self.store.next_id("history")
        writes: list[tuple[str, dict[str, Any]]] = []
        for bug_id in bug_ids:
            bug = dict(changed.get(bug_id) or self.bug(bug_id))
            old = dict(bug)
            self._apply(bug, params, changed)
            changes = {
                f: {"removed": _text(old[f]), "added": _text(bug[f])} for f in bug if f in old and old[f] != bug[f]
            }
            comment = None
            if comment_text:
                count = len(self.comments_of(bug["id"]))  # bug ids are unique here: one new comment per bug
                comment = new_comment(next_comment, bug["id"], count, comment_text, who, stamp, private=private)
                next_comment += 1
                writes.append(("comments", comment))
            if changes or comment:
                bug["last_change_time"] = stamp
            if changes:
                entry = [{"field_name": f, "removed": c["removed"], "added": c["added"]} for f, c in changes.items()]
                writes.append(
                    ("history", {"id": next_history, "bug_id": bug_id, "when": stamp, "who": who, "changes": entry})
                )
                next_history += 1
            changed[bug["id"]] = bug
            results.append(
                {
                    "id": bug["id"],
                    "alias": bug["alias"],
                    "last_change_time": bug["last_change_time"],
                    "changes": changes,
                }
            )
            if changes or comment:
                events.append({"bug": bug, "changes": changes, "comment": comment})
        writes.extend(("bugs", doc) for doc in changed.values())
        self.store.put_many(writes)
        return results, events

    def create(self, who: str, params: dict[str, Any]) -> dict[str, Any]:
        """Bug.create: a NEW bug with its description as comment 0. Not idempotent (each call files one)."""
        for name in ("product", "component", "summary", "version"):
            if not params.get(name):
                if name == "summary":
                    raise BZError(107, "You must enter a summary for this bug.")
                if name == "component":
                    raise BZError(105, "You must select/enter a component.")
                raise BZError(50, f"The function Bug.create requires a {name} argument, and that argument was not set.")
        try:
            product = self.product(params["product"])
        except BZError:
            raise BZError(
                106,
                f"Sorry, either the product {params['product']} does not exist or you aren't authorized to "
                "enter a bug into it.",
            ) from None
        stamp = now()
        with self.store.lock:
            bug_id = max((b["id"] for b in self.store.all("bugs")), default=0) + 1
            bug = new_bug(bug_id, product["name"], who, stamp)
            fields = ("component", "version", "summary", "priority", "severity", "whiteboard", "assigned_to")
            self._apply(
                bug, {k: params[k] for k in fields if k in params} | {"status": params.get("status", "NEW")}, {}
            )
            if not bug["assigned_to"]:
                owner = next(c for c in product["components"] if c["name"] == bug["component"])
                bug["assigned_to"] = owner["default_assigned_to"]
            description = new_comment(
                self.store.next_id("comments"),
                bug_id,
                0,
                str(params.get("description") or ""),
                who,
                stamp,
                private=bool(params.get("comment_is_private", False)),
            )
            self.store.put_many([("bugs", bug), ("comments", description)])
        return bug

    @staticmethod
    def _comment(value: Any) -> tuple[str, bool]:
        """python-bugzilla sends ``{"comment": text}``, Bugzilla 5 documents ``{"body": text}``: take both."""
        if value is None:
            return "", False
        if isinstance(value, str):
            return value, False
        if not isinstance(value, dict):
            raise BZError(32000, "The comment parameter must be a hash with 'body'.")
        return str(value.get("body", value.get("comment", "")) or ""), bool(value.get("is_private", False))

    def _apply(self, bug: dict[str, Any], params: dict[str, Any], changed: dict[int, dict[str, Any]]) -> None:
        """Validate and apply one bug's changes in place (raising before anything is stored)."""
        product = self.product(bug["product"])
        users = self.users()
        if "summary" in params:
            if not str(params["summary"] or "").strip():
                raise BZError(107, "You must enter a summary for this bug.")
            bug["summary"] = str(params["summary"])
        for name, kind in (("priority", "Priority"), ("severity", "Severity")):
            if name in params:
                if params[name] not in PRIORITIES:
                    raise no_such(kind, params[name])
                bug[name] = params[name]
        if "component" in params:
            if params["component"] not in {c["name"] for c in product["components"]}:
                raise no_such("component", params["component"], product["name"])
            bug["component"] = params["component"]
        if "version" in params:
            if params["version"] not in product["versions"]:
                raise no_such("version", params["version"], product["name"])
            bug["version"] = params["version"]
        if "whiteboard" in params:
            bug["whiteboard"] = str(params["whiteboard"] or "")
        if "cf_fixed_in" in params:
            bug["cf_fixed_in"] = str(params["cf_fixed_in"] or "")
        for name in ("assigned_to", "qa_contact"):
            if name in params:
                login = email(str(params[name])) if params[name] else ""
                if login and login not in users:
                    raise no_such("user", params[name])
                bug[name] = login
        self._status(bug, params)
        self._lists(bug, params, users, changed)

    def _status(self, bug: dict[str, Any], params: dict[str, Any]) -> None:
        status = params.get("status")
        resolution = params.get("resolution")
        dupe_of = params.get("dupe_of")
        if status is not None and status not in STATUSES:
            raise no_such("status", status)
        if resolution not in (None, "") and resolution not in RESOLUTIONS:
            raise no_such("Resolution", resolution)
        if dupe_of is not None:
            target = self.bug(dupe_of)
            if target["id"] == bug["id"]:
                raise BZError(118, f"You cannot mark bug {bug['id']} as a duplicate of itself.")
            bug["dupe_of"] = target["id"]
            status, resolution = status or "CLOSED", "DUPLICATE"
        new_status = status or bug["status"]
        if is_open(new_status):
            if resolution:
                raise BZError(122, "You cannot set a resolution for open bugs.")
            bug["resolution"], bug["dupe_of"] = "", None
        else:
            new_resolution = resolution or (bug["resolution"] if not is_open(bug["status"]) else "")
            if not new_resolution:
                raise BZError(121, f"A valid resolution is required to mark bugs as {new_status}.")
            if new_resolution == "DUPLICATE" and bug["dupe_of"] is None:
                raise BZError(119, "You must specify a bug id to mark this bug as a duplicate of.")
            if new_resolution != "DUPLICATE":
                bug["dupe_of"] = None
            bug["resolution"] = new_resolution
        bug["status"] = new_status

    def _lists(
        self, bug: dict[str, Any], params: dict[str, Any], users: dict[str, Any], changed: dict[int, dict]
    ) -> None:
        for name in LIST_FIELDS:
            change = params.get(name)
            if change is None:
                continue
            if not isinstance(change, dict) or set(change) - {"add", "remove", "set"}:
                raise BZError(32000, f"'{name}' must be a hash with 'add', 'remove' or 'set'.")
            values = {k: list(v) if isinstance(v, list) else [v] for k, v in change.items()}
            if name == "cc":
                values = {k: [email(str(u)) for u in v] for k, v in values.items()}
                for login in values.get("add", []) + values.get("set", []):
                    if login not in users:
                        raise no_such("user", login)
            elif name == "keywords":
                for keyword in values.get("add", []) + values.get("set", []):
                    if keyword not in KEYWORDS:
                        raise BZError(
                            51, f"There is no keyword named '{keyword}'. The legal keyword names are listed here."
                        )
            else:
                values = {k: [self.bug(i)["id"] for i in v] for k, v in values.items()}
                if bug["id"] in values.get("add", []) + values.get("set", []):
                    raise BZError(116, "You can't make a bug block itself or depend on itself.")
            current = list(values["set"]) if "set" in values else list(bug[name])
            current += [v for v in values.get("add", []) if v not in current]
            current = [v for v in current if v not in values.get("remove", [])]
            if name in ("blocks", "depends_on"):
                self._mirror(bug["id"], name, bug[name], current, changed)
            bug[name] = current

    def _mirror(self, bug_id: int, name: str, before: list[int], after: list[int], changed: dict[int, dict]) -> None:
        """Keep the other end of a dependency in step (A blocks B ⇔ B depends on A)."""
        other_field = "depends_on" if name == "blocks" else "blocks"
        for other_id in set(before) ^ set(after):
            other = changed.get(other_id) or dict(self.bug(other_id))
            others = [i for i in other[other_field] if i != bug_id]
            if other_id in after:
                others.append(bug_id)
            other[other_field] = others
            changed[other_id] = other


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _text(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)
