"""The sandbox Bugzilla's bugs: seeding from the world, the REST bug representation, search and update.

Errors are :class:`BZError` with Bugzilla's own error codes and messages (Bugzilla::WebService::Constants
and the user-error templates); :func:`http_status` maps a code to the HTTP status Bugzilla's REST server
answers with. Users are the world's package owners, as ``<login>@fedoraproject.org``; products come from
the world's releases (their Bugzilla product and version), components are the world's packages.
"""

from __future__ import annotations

import time
from typing import Any

from relengotron_sandbox.world import World

STATUSES = ("NEW", "ASSIGNED", "POST", "MODIFIED", "ON_QA", "VERIFIED", "RELEASE_PENDING", "CLOSED")
CLOSED_STATUSES = ("CLOSED",)
RESOLUTIONS = (
    "NOTABUG",
    "WONTFIX",
    "DEFERRED",
    "WORKSFORME",
    "CURRENTRELEASE",
    "RAWHIDE",
    "ERRATA",
    "DUPLICATE",
    "UPSTREAM",
    "NEXTRELEASE",
    "CANTFIX",
    "INSUFFICIENT_DATA",
    "EOL",
)
PRIORITIES = ("unspecified", "urgent", "high", "medium", "low")
KEYWORDS = ("FutureFeature", "Triaged", "Tracking", "Reopened", "Security", "Regression", "EasyFix", "Patch")
EMAIL_DOMAIN = "fedoraproject.org"
REPORTER = "releng"  # files the seeded bugs
DOCS_URL = "https://bugzilla.readthedocs.io/en/5.0/api/"

# Bugzilla's REST_STATUS_CODE_MAP: every other error code is a 400.
_STATUS_OF_CODE = {
    51: 404,
    101: 404,
    102: 401,
    106: 401,
    109: 401,
    110: 401,
    113: 401,
    115: 401,
    120: 401,
    300: 401,
    301: 401,
    302: 401,
    303: 401,
    304: 401,
    410: 401,
    504: 401,
    505: 401,
    32614: 404,
}


class BZError(Exception):
    """A Bugzilla WebService error: ``code`` and ``message`` as the real server reports them."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def http_status(code: int) -> int:
    return _STATUS_OF_CODE.get(code, 400)


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def email(login: str) -> str:
    return login if "@" in login else f"{login}@{EMAIL_DOMAIN}"


def is_open(status: str) -> bool:
    return status not in CLOSED_STATUSES


def no_such(kind: str, name: Any, product: str | None = None) -> BZError:
    """Bugzilla's object_does_not_exist (code 51)."""
    where = f" in the '{product}' product" if product else ""
    extra = ""
    if kind == "user":
        extra = " Either you mis-typed the name or that user has not yet registered for a Bugzilla account."
    return BZError(51, f"There is no {kind} named '{name}'{where}.{extra}")


def new_bug(bug_id: int, product: str, creator: str, stamp: str, **fields: Any) -> dict[str, Any]:
    """A bug record as Bugzilla stores a new one: its defaults, then ``fields`` (pure; fresh lists each call)."""
    return {
        "id": bug_id,
        "alias": [],
        "product": product,
        "component": "",
        "version": "",
        "status": "NEW",
        "resolution": "",
        "summary": "",
        "assigned_to": "",
        "creator": creator,
        "qa_contact": "",
        "priority": "unspecified",
        "severity": "unspecified",
        "keywords": [],
        "cc": [],
        "blocks": [],
        "depends_on": [],
        "dupe_of": None,
        "whiteboard": "",
        "cf_fixed_in": "",  # Red Hat Bugzilla's "Fixed In Version" (Bodhi adds the NVRs that close a bug)
        "url": "",
        "creation_time": stamp,
        "last_change_time": stamp,
        **fields,
    }


def new_comment(
    comment_id: int, bug_id: int, count: int, text: str, creator: str, stamp: str, *, private: bool = False
) -> dict[str, Any]:
    """A comment record (``count`` 0 is the bug's description) (pure)."""
    return {
        "id": comment_id,
        "bug_id": bug_id,
        "count": count,
        "text": text,
        "creator": creator,
        "creation_time": stamp,
        "is_private": private,
    }


def seed(world: World) -> dict[str, list[dict[str, Any]]]:
    """Users, products, bugs and their description comments for a fresh Bugzilla."""
    stamp = now()
    logins = sorted(set(world.users) | {REPORTER})
    users = [{"id": i, "name": email(u), "real_name": u} for i, u in enumerate(logins, start=1)]
    products: dict[str, dict[str, Any]] = {}
    for release in world.releases.values():
        products.setdefault(release.bugzilla_product, {"versions": []})["versions"].append(release.bugzilla_version)
    for bug in world.bugs:
        versions = products.setdefault(bug.product, {"versions": []})["versions"]
        if bug.version not in versions:
            versions.append(bug.version)
    components = [
        {"name": p.name, "description": p.summary, "default_assigned_to": email(p.owner)}
        for p in world.packages.values()
    ]
    product_docs = [
        {"id": i, "name": name, "versions": sorted(set(p["versions"])), "components": components}
        for i, (name, p) in enumerate(sorted(products.items()), start=1)
    ]
    bugs, comments = [], []
    for bug in world.bugs:
        owner = email(world.packages[bug.component].owner)
        bugs.append(
            new_bug(
                bug.id,
                bug.product,
                email(REPORTER),
                stamp,
                component=bug.component,
                version=bug.version,
                status=bug.status,
                resolution=bug.resolution if not is_open(bug.status) else "",
                summary=bug.summary,
                assigned_to=owner,
            )
        )
        text = f"Description of problem:\n{bug.summary}"
        comments.append(new_comment(len(comments) + 1, bug.id, 0, text, email(REPORTER), stamp))
    return {"users": users, "products": product_docs, "bugs": bugs, "comments": comments, "tokens": []}


def user_detail(users: dict[str, dict[str, Any]], login: str) -> dict[str, Any]:
    user = users.get(login)
    if user is None:
        return {"id": 0, "name": login, "real_name": "", "email": login}
    return {"id": user["id"], "name": user["name"], "real_name": user["real_name"], "email": user["name"]}


def render_bug(doc: dict[str, Any], users: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A bug as Bug.get/Bug.search return it (Bugzilla 5 field names)."""
    out = {k: v for k, v in doc.items()}
    out.update(
        {
            "assigned_to_detail": user_detail(users, doc["assigned_to"]),
            "creator_detail": user_detail(users, doc["creator"]),
            "cc_detail": [user_detail(users, u) for u in doc["cc"]],
            "classification": "Fedora",
            "is_open": is_open(doc["status"]),
            "is_confirmed": True,
            "is_cc_accessible": True,
            "is_creator_accessible": True,
            "op_sys": "Unspecified",
            "platform": "Unspecified",
            "target_milestone": "---",
            "deadline": None,
            "flags": [],
            "groups": [],
            "see_also": [],
        }
    )
    return out


def select(record: dict[str, Any], include: list[str], exclude: list[str]) -> dict[str, Any]:
    """Bugzilla's include_fields / exclude_fields, with ``a.b`` reaching into nested objects and lists of
    them (``components.name``); ``_default``/``_all`` include everything here."""
    if include and not {"_default", "_all"} & set(include):
        wanted: dict[str, list[str]] = {}
        for name in include:
            head, _, rest = name.partition(".")
            wanted.setdefault(head, []).append(rest)
        chosen = {}
        for head, rests in wanted.items():
            if head not in record:
                continue
            value, inner = record[head], [r for r in rests if r]
            if "" not in rests and inner:
                value = _select_inner(value, inner)
            chosen[head] = value
        record = chosen
    top = {e for e in exclude if "." not in e}
    nested: dict[str, list[str]] = {}
    for name in exclude:
        if "." in name:
            head, _, rest = name.partition(".")
            nested.setdefault(head, []).append(rest)
    out = {k: v for k, v in record.items() if k not in top}
    for head, rests in nested.items():
        if head in out:
            out[head] = _select_inner(out[head], [], rests)
    return out


def _select_inner(value: Any, include: list[str], exclude: list[str] | None = None) -> Any:
    if isinstance(value, dict):
        return select(value, include, exclude or [])
    if isinstance(value, list):
        return [select(v, include, exclude or []) if isinstance(v, dict) else v for v in value]
    return value


def render_comment(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": doc["id"],
        "bug_id": doc["bug_id"],
        "attachment_id": None,
        "count": doc["count"],
        "text": doc["text"],
        "creator": doc["creator"],
        "time": doc["creation_time"],
        "creation_time": doc["creation_time"],
        "is_private": doc["is_private"],
        "is_markdown": False,
        "tags": [],
    }
