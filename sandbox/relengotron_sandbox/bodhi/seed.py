"""The sandbox Bodhi's first state, derived from the world: releases, users, updates and their comments.

Releases: each world release with every tag Bodhi needs (``worldupdates.BODHI_TAG_ROLES``) becomes a Bodhi
release named as Fedora's Bodhi names them (``F24``, long name ``Fedora 24``, branch and dist tag ``f24``, its
Koji tags from the release's tag roles, state ``current`` for an active release, ``archived`` for an EOL one).
Users: the world's package owners (group ``packager``) and Bodhi's own ``bodhi``. Updates: the world's
``updates``, with the comments Bodhi would have written on the way to their status and request. Pure.
"""

from __future__ import annotations

from typing import Any

from relengotron_sandbox.bodhi.render import SYSTEM_USER, UPDATE_DEFAULTS
from relengotron_sandbox.world import World
from relengotron_sandbox.worldupdates import WorldUpdate, bodhi_releases

STATES = {"active": "current", "eol": "archived"}
EMAIL_DOMAIN = "fedoraproject.org"
TAG_COLUMNS = {
    "stable_tag": "stable",
    "testing_tag": "testing",
    "candidate_tag": "candidate",
    "pending_signing_tag": "signing_pending",
    "pending_testing_tag": "testing_pending",
    "pending_stable_tag": "stable_pending",
}


def release_record(release_id: int, world_release: Any) -> dict[str, Any]:
    """A Bodhi release from a world release (``Release`` columns, plus the sandbox's ``id``)."""
    tags = world_release.tags
    return {
        "id": release_id,
        "name": world_release.id.upper(),
        "long_name": world_release.name,
        "version": world_release.version,
        "id_prefix": "FEDORA",
        "branch": world_release.id,
        "dist_tag": tags["build"],
        **{column: tags[role] for column, role in TAG_COLUMNS.items()},
        "override_tag": f"{world_release.id}-override",
        "mail_template": "fedora_errata_template",
        "state": STATES.get(world_release.state, "current"),
        "composed_by_bodhi": True,
        "create_automatic_updates": False,
        "package_manager": "dnf",
        "testing_repository": "updates-testing",
        "released_on": None,
        "eol": None,
    }


def user_record(user_id: int, name: str) -> dict[str, Any]:
    """A Bodhi user as Bodhi creates one on first login (``create_or_update_user``)."""
    if name == SYSTEM_USER:
        return {"id": user_id, "name": name, "email": None, "groups": []}
    return {"id": user_id, "name": name, "email": f"{name}@{EMAIL_DOMAIN}", "groups": ["packager"]}


def update_record(
    update_id: int, update: WorldUpdate, release: dict[str, Any], bug_titles: dict[int, str], signed: set[str]
) -> dict[str, Any]:
    """A Bodhi update from a world update, with Bodhi's defaults for what the world does not say."""
    pushed = update.status in ("testing", "stable")
    return {
        "id": update_id,
        "alias": update.alias,
        "release": release["name"],
        "user": update.user,
        "builds": [{"nvr": nvr, "signed": nvr in signed, "epoch": 0} for nvr in sorted(update.builds)],
        "bugs": [{"bug_id": b, "title": bug_titles[b], "security": False, "parent": False} for b in update.bugs],
        "type": update.type,
        "severity": update.severity,
        "status": update.status,
        "request": update.request,
        "notes": update.notes,
        "display_name": "",
        **UPDATE_DEFAULTS,
        "pushed": pushed,
        "close_bugs": True,
        "date_submitted": update.submitted,
        "date_testing": update.submitted if update.status in ("testing", "stable") else None,
        "date_stable": update.submitted if update.status == "stable" else None,
    }


def history(update: WorldUpdate) -> list[tuple[str, str]]:
    """(author, text) of the comments Bodhi writes on the way to the update's status and request."""
    lines: list[tuple[str, str]] = []
    if update.status in ("testing", "stable"):
        lines.append((SYSTEM_USER, f"This update has been submitted for testing by {update.user}. "))
        lines.append((SYSTEM_USER, "This update has been pushed to testing."))
    if update.status == "stable":
        lines.append((SYSTEM_USER, f"This update has been submitted for stable by {update.user}. "))
        lines.append((SYSTEM_USER, "This update has been pushed to stable."))
    if update.request:
        lines.append((SYSTEM_USER, f"This update has been submitted for {update.request} by {update.user}. "))
    return lines


def seed(world: World) -> dict[str, list[dict[str, Any]]]:
    """Every record of a fresh sandbox Bodhi (resource → records), derived from ``world``."""
    managed = bodhi_releases({r.id: r.tags for r in world.releases.values()})
    releases = {rel_id: release_record(n, world.releases[rel_id]) for n, rel_id in enumerate(managed, start=1)}
    names = sorted({*world.users, *(u.user for u in world.updates), SYSTEM_USER})
    users = [user_record(n, name) for n, name in enumerate(names, start=1)]
    bug_titles = {bug.id: bug.summary for bug in world.bugs}
    signed = {b.nvr for b in world.builds() if b.signed}
    updates, comments = [], []
    for n, update in enumerate(world.updates, start=1):
        updates.append(update_record(n, update, releases[update.release], bug_titles, signed))
        for author, text in history(update):
            comments.append(
                {
                    "id": len(comments) + 1,
                    "update": update.alias,
                    "user": author,
                    "text": text,
                    "karma": 0,
                    "karma_critpath": 0,
                    "timestamp": update.submitted,
                }
            )
    return {
        "releases": list(releases.values()),
        "users": users,
        "updates": updates,
        "comments": comments,
        "composes": [],
        "handled": [],
    }
