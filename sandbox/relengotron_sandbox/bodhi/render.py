"""The sandbox Bodhi's JSON: its records as Bodhi's models serialise them (``BodhiBase.__json__``).

Bodhi's ``_to_json`` takes every column but ``__exclude_columns__``, adds ``__include_extras__`` and expands
relationships, skipping those back to a model already on the path. So an update carries its release, user,
comments (without their update), builds and bugs; a comment inside an update has no ``update``; a comment on its
own (``Comment.__json__``) carries its update (without comments) plus ``author`` and ``update_alias``; a
compose carries its release and ``update_summary``. Dates are ``YYYY-MM-DD HH:MM:SS`` (UTC). ``web`` is whether
a web request is being answered: without one Bodhi renders a user's ``avatar`` and ``openid`` as null, which is
what its bus messages carry. Pure: records in, dicts out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

Record = Mapping[str, Any]

SYSTEM_USER = "bodhi"  # Bodhi's system_users: its own comments, no bodhi.update.comment for them
OPENID_TEMPLATE = "{username}.id.fedoraproject.org"
AVATAR = "https://seccdn.libravatar.org/avatar/{digest}?s=24&d=retro"
# What Bodhi's Update model gives a new update (column defaults; karma thresholds as Fedora's releases set them)
UPDATE_DEFAULTS: dict[str, Any] = {
    "suggest": "unspecified",
    "locked": False,
    "critpath": False,
    "critpath_groups": None,
    "autokarma": True,
    "autotime": True,
    "stable_karma": 3,
    "stable_days": 7,
    "unstable_karma": -3,
    "require_bugs": False,
    "require_testcases": False,
    "date_modified": None,
    "date_approved": None,
    "test_gating_status": None,
    "from_tag": None,
}
# Release columns, in the order Bodhi's Release model declares them.
RELEASE_COLUMNS = (
    "name",
    "long_name",
    "version",
    "id_prefix",
    "branch",
    "dist_tag",
    "stable_tag",
    "testing_tag",
    "candidate_tag",
    "pending_signing_tag",
    "pending_testing_tag",
    "pending_stable_tag",
    "override_tag",
    "mail_template",
    "state",
    "composed_by_bodhi",
    "create_automatic_updates",
    "package_manager",
    "testing_repository",
    "released_on",
    "eol",
)
# Update columns Bodhi serialises (all but id, user_id, release_id, compose).
UPDATE_COLUMNS = (
    "autokarma",
    "autotime",
    "stable_karma",
    "stable_days",
    "unstable_karma",
    "require_bugs",
    "require_testcases",
    "display_name",
    "notes",
    "type",
    "status",
    "request",
    "severity",
    "suggest",
    "locked",
    "pushed",
    "critpath",
    "critpath_groups",
    "close_bugs",
    "date_submitted",
    "date_modified",
    "date_approved",
    "date_testing",
    "date_stable",
    "alias",
    "test_gating_status",
    "from_tag",
)


def now() -> str:
    """The current time in Bodhi's JSON date format."""
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")


def release_json(release: Record) -> dict[str, Any]:
    """``Release.__json__``: its columns (not id, builds, composes) and ``setting_status``."""
    out = {name: release[name] for name in RELEASE_COLUMNS}
    out["setting_status"] = None
    return out


def user_json(user: Record, *, web: bool) -> dict[str, Any]:
    """``User.__json__``: id, name, email, groups, and avatar/openid (null outside a web request)."""
    openid = OPENID_TEMPLATE.format(username=user["name"])
    return {
        "id": user["id"],
        "name": user["name"],
        "email": user["email"],
        "avatar": AVATAR.format(digest=hashlib.sha256(openid.encode()).hexdigest()) if web else None,
        "openid": openid if web else None,
        "groups": [{"name": group} for group in user["groups"]],
    }


def title(update: Record) -> str:
    """``Update.title``: the builds' NVRs sorted and joined by spaces (the alias when it has no build)."""
    nvrs = sorted(b["nvr"] for b in update["builds"])
    return " ".join(nvrs) if nvrs else update["alias"]


def beautiful_title(update: Record) -> str:
    """``Update.get_title(nvr=True, beautify=True)``: "a and b", or "a, b, and N more"."""
    if update.get("display_name"):
        return str(update["display_name"])
    nvrs = [b["nvr"] for b in sorted(update["builds"], key=lambda b: b["nvr"])]
    if len(nvrs) > 2:
        return f"{', '.join(nvrs[:2])}, and {len(nvrs) - 2} more"
    return " and ".join(nvrs) if nvrs else update["alias"]


def build_strings(update: Record) -> str:
    """The update's NVRs joined by spaces in its builds' order (by NVR): how Bodhi names it on the bus."""
    return " ".join(b["nvr"] for b in sorted(update["builds"], key=lambda b: b["nvr"]))


def date_pushed(update: Record) -> str | None:
    return update.get("date_stable") or update.get("date_testing")


def comment_json(comment: Record, users: Mapping[str, Record], update_id: int, *, web: bool) -> dict[str, Any]:
    """A comment as it appears inside its update (no ``update`` key: Bodhi does not recurse back)."""
    user = users[comment["user"]]
    return {
        "id": comment["id"],
        "karma": comment["karma"],
        "karma_critpath": comment["karma_critpath"],
        "text": comment["text"],
        "timestamp": comment["timestamp"],
        "update_id": update_id,
        "user_id": user["id"],
        "bug_feedback": [],
        "testcase_feedback": [],
        "user": user_json(user, web=web),
    }


def update_json(
    update: Record,
    releases: Mapping[str, Record],
    users: Mapping[str, Record],
    comments: Iterable[Record],
    *,
    base_url: str,
    web: bool,
    with_comments: bool = True,
) -> dict[str, Any]:
    """``Update.__json__``: the columns, the extras (date_pushed, meets_testing_requirements, url, title,
    version_hash), release, user, comments, builds and bugs, plus updateid, karma, content_type and test_cases.
    ``with_comments`` False renders it as seen from one of its comments (``BodhiBase._to_json`` only)."""
    release = releases[update["release"]]
    out: dict[str, Any] = {name: update.get(name) for name in UPDATE_COLUMNS}
    nvrs = sorted(b["nvr"] for b in update["builds"])
    own = [c for c in comments if c["update"] == update["alias"]]
    out.update(
        {
            "date_pushed": date_pushed(update),
            "meets_testing_requirements": True,  # the sandbox has no gating: every update meets them
            "url": f"{base_url}updates/{update['alias']}",
            "title": title(update),
            "version_hash": hashlib.sha1(" ".join(nvrs).encode()).hexdigest(),
            "release": release_json(release),
            "user": user_json(users[update["user"]], web=web),
            "builds": [
                {
                    "nvr": b["nvr"],
                    "release_id": release["id"],
                    "signed": b["signed"],
                    "type": "rpm",
                    "epoch": b.get("epoch", 0),
                }
                for b in sorted(update["builds"], key=lambda b: b["nvr"])
            ],
            "bugs": [
                {
                    "bug_id": bug["bug_id"],
                    "title": bug["title"],
                    "security": bug["security"],
                    "parent": bug["parent"],
                    "feedback": [],
                }
                for bug in sorted(update["bugs"], key=lambda b: b["bug_id"])
            ],
        }
    )
    if not with_comments:
        return out
    out["comments"] = [comment_json(c, users, update["id"], web=web) for c in own]
    out["updateid"] = update["alias"]
    out["karma"] = sum(c["karma"] for c in own)
    out["content_type"] = "rpm" if update["builds"] else None
    out["test_cases"] = []
    return out


def full_comment_json(
    comment: Record,
    update: Record,
    releases: Mapping[str, Record],
    users: Mapping[str, Record],
    comments: Iterable[Record],
    *,
    base_url: str,
    web: bool,
) -> dict[str, Any]:
    """``Comment.__json__``: the comment with its update (as seen from the comment), ``author``,
    ``update_alias``, and the update's ``karma`` — the shape of ``POST /comments/`` and bodhi.update.comment."""
    out = comment_json(comment, users, update["id"], web=web)
    seen_from = update_json(update, releases, users, comments, base_url=base_url, web=web, with_comments=False)
    seen_from["karma"] = sum(c["karma"] for c in comments if c["update"] == update["alias"])
    out["update"] = seen_from
    out["author"] = out["user"]["name"]
    out["update_alias"] = update["alias"]
    return out


def compose_security(updates: Iterable[Record]) -> bool:
    """``Compose.security``: whether any of its updates is a security update."""
    return any(u["type"] == "security" for u in updates)


def compose_json(compose: Record, releases: Mapping[str, Record], updates: list[Record]) -> dict[str, Any]:
    """``Compose.__json__``: its columns, its release, content_type, security and update_summary."""
    release = releases[compose["release"]]
    return {
        "release_id": release["id"],
        "request": compose["request"],
        "checkpoints": compose["checkpoints"],
        "error_message": compose["error_message"],
        "date_created": compose["date_created"],
        "state_date": compose["state_date"],
        "state": compose["state"],
        "release": release_json(release),
        "content_type": "rpm" if updates else None,
        "security": compose_security(updates),
        "update_summary": [{"alias": u["alias"], "title": beautiful_title(u)} for u in updates],
    }


def compose_order(compose: Record, updates: list[Record]) -> tuple[int, int]:
    """Bodhi's compose priority (``Compose.__lt__``): security composes first, then stable before testing."""
    return (0 if compose_security(updates) else 1, 0 if compose["request"] == "stable" else 1)


def message_update(
    update: Record, releases: Mapping[str, Record], users: Mapping[str, Record], comments: Iterable[Record], base: str
) -> dict[str, Any]:
    """An update as Bodhi puts it in a bus message (``__json__`` outside a web request)."""
    return update_json(update, releases, users, list(comments), base_url=base, web=False)
