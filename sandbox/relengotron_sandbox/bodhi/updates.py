"""Creating updates, changing their requests and commenting on them, the way Bodhi does.

- :func:`create_update` (``POST /updates/``, ``Update.new``): the builds must exist in Koji, be tagged in a
  release's candidate tag and be in no other update; the update gets an alias ``FEDORA-<year>-<10 hex>``,
  Bodhi announces it ready for testing (``bodhi.update.status.testing.koji-build-group.build.complete``) and
  sets its request (testing by default). Not idempotent: each call makes an update (or refuses the builds).
- :func:`set_request` (``Update.set_request``): testing adds the release's pending-signing tag to the builds
  (and the candidate tag if missing); stable adds the pending-stable tag (and removes the pending-testing tag
  of a testing request); revoke removes the pending tags. The tagging goes through the sandbox Koji hub,
  which publishes ``buildsys.tag``/``untag``; Bodhi comments and publishes ``bodhi.update.request.<request>``.
  Idempotent: the request the update already has, or the status it is already in, changes nothing.
- :func:`add_comment` (``POST /comments/``): not idempotent (each call adds a comment).
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Iterable
from typing import Any

from relengotron_sandbox.bodhi import render
from relengotron_sandbox.bodhi.query import BodhiError
from relengotron_sandbox.bodhi.state import BodhiState

UPDATE_TYPES = ("bugfix", "security", "newpackage", "enhancement")
SEVERITIES = ("unspecified", "urgent", "high", "medium", "low")
SANDBOX_REQUESTS = ("testing", "stable", "revoke")


def new_alias(prefix: str = "FEDORA") -> str:
    """``Update.__init__``'s alias: ``<prefix>-<year>-<first 10 hex digits of sha1(uuid4)>``."""
    digest = hashlib.sha1(str(uuid.uuid4()).encode()).hexdigest()[:10]
    return f"{prefix}-{time.gmtime().tm_year}-{digest}"


def _body_error(name: str, description: str, status: int = 400) -> BodhiError:
    return BodhiError(status, "body", name, description)


def _release_of(state: BodhiState, nvrs: list[str]) -> dict[str, Any]:
    """The release whose candidate tag holds every build (``validate_build_tags``/``validate_builds``)."""
    candidates = {r["candidate_tag"]: r for r in state.releases().values()}
    found: set[str] = set()
    for nvr in nvrs:
        if state.koji.build(nvr) is None:
            raise _body_error("builds", f"Build does not exist: {nvr}")
        existing = state.update_of_build(nvr)
        if existing is not None:
            raise _body_error("builds", f"Update for {nvr} already exists")
        tags = state.koji.tags_of(nvr)
        releases = [candidates[t]["name"] for t in tags if t in candidates]
        if not releases:
            raise _body_error(
                "builds", f"Invalid tag: {nvr} not tagged with any of the following tags {sorted(candidates)}"
            )
        found.add(releases[0])
    if len(found) != 1:
        raise _body_error("builds", f"Unable to determine release from builds: {sorted(found)}")
    return state.releases()[found.pop()]


def create_update(
    state: BodhiState,
    builds: Iterable[str],
    *,
    user: str,
    type: str = "bugfix",
    severity: str = "unspecified",
    notes: str = "",
    bugs: Iterable[int] = (),
    request: str | None = "testing",
    close_bugs: bool = True,
    display_name: str = "",
) -> dict[str, Any]:
    """A new update of ``builds`` submitted by ``user`` (see the module docstring). Returns its record."""
    nvrs = sorted(dict.fromkeys(str(b) for b in builds))
    if not nvrs:
        raise _body_error("builds", "You may not specify an empty list of builds.")
    if type not in UPDATE_TYPES:
        raise _body_error("type", f'"{type}" is not one of {", ".join(UPDATE_TYPES)}')
    if severity not in SEVERITIES:
        raise _body_error("severity", f'"{severity}" is not one of {", ".join(SEVERITIES)}')
    if type == "security" and severity == "unspecified":
        raise _body_error("severity", "Must specify severity for a security update")
    if request not in (None, "testing", "stable"):
        raise _body_error("request", f'"{request}" is not one of testing, stable')
    with state.lock:
        release = _release_of(state, nvrs)
        state.ensure_user(user, f"{user}@fedoraproject.org", ["packager"])
        bug_records = []
        for bug_id in dict.fromkeys(int(b) for b in bugs):
            title = state.bugs.title(bug_id)
            bug_records.append({"bug_id": bug_id, "title": title, "security": False, "parent": False})
        update = {
            "id": max((u["id"] for u in state.updates()), default=0) + 1,
            "alias": new_alias(release["id_prefix"]),
            "release": release["name"],
            "user": user,
            "builds": [{"nvr": nvr, "signed": False, "epoch": 0} for nvr in nvrs],
            "bugs": bug_records,
            "type": type,
            "severity": severity,
            "status": "pending",
            "request": None,
            "notes": notes,
            "display_name": display_name,
            **render.UPDATE_DEFAULTS,
            "pushed": False,
            "close_bugs": close_bugs,
            "date_submitted": render.now(),
            "date_testing": None,
            "date_stable": None,
        }
        state.save(("updates", update))
        _ready_for_testing(state, update)
        if request is not None:
            update = set_request(state, update["alias"], request, user)
        return update


def _ready_for_testing(state: BodhiState, update: dict[str, Any]) -> None:
    """``Update._ready_for_testing``: the update's builds are ready for CI (``UpdateReadyForTestingV3``)."""
    builds = []
    for build in update["builds"]:
        info = state.koji.build(build["nvr"]) or {}
        builds.append({"type": "koji-build", "id": info.get("id"), "task_id": info.get("task_id"), "nvr": build["nvr"]})
    body = {
        "artifact": {"type": "koji-build-group", "builds": builds},
        "update": state.message_update(update),
        "agent": render.SYSTEM_USER,
        "re-trigger": False,
    }
    state.publish("update.status.testing.koji-build-group.build.complete", body)


def set_request(state: BodhiState, alias: str, request: str, agent: str) -> dict[str, Any]:
    """Set ``request`` (testing, stable or revoke) on update ``alias`` as ``agent``; the update's record after.
    See the module docstring for what it does and its idempotency."""
    if request not in SANDBOX_REQUESTS:
        raise _body_error("request", f'"{request}" is not one of {", ".join(SANDBOX_REQUESTS)}')
    with state.lock:
        update = dict(state.update(alias))
        if update["status"] == request or update["request"] == request:
            return update  # "already <request>" / "has already been submitted to <request>"
        if update["locked"]:
            raise _body_error("request", "Can't change request on a locked update")
        if update["status"] == "stable" and request == "testing":
            raise _body_error("request", "Pushing back to testing a stable update is not allowed")
        release = state.releases()[update["release"]]
        nvrs = [b["nvr"] for b in update["builds"]]
        if request == "revoke":
            return _revoke(state, update, release, nvrs, agent)
        if request == "testing":
            state.koji.add_tag(release["pending_signing_tag"], nvrs)
            missing = [n for n in nvrs if release["candidate_tag"] not in state.koji.tags_of(n)]
            state.koji.add_tag(release["candidate_tag"], missing)
        else:
            state.koji.add_tag(release["pending_stable_tag"], nvrs)
            if update["request"] == "testing":
                state.koji.remove_tag(release["pending_testing_tag"], nvrs)
        if update["status"] in ("obsolete", "unpushed"):
            update["status"] = "pending"
        update["request"] = request
        update["date_modified"] = render.now()
        state.save(("updates", update))
        state.new_comment(update, f"This update has been submitted for {request} by {agent}. ", render.SYSTEM_USER)
    state.publish(f"update.request.{request}", {"update": state.message_update(update), "agent": agent})
    return update


def _revoke(
    state: BodhiState, update: dict[str, Any], release: dict[str, Any], nvrs: list[str], agent: str
) -> dict[str, Any]:
    """``Update.revoke``: the pending tags of the request removed, the request cleared."""
    if not update["request"]:
        raise _body_error("request", "Can only revoke an update with an existing request")
    if update["request"] == "testing":
        state.koji.remove_tag(release["pending_signing_tag"], nvrs)
        state.koji.remove_tag(release["pending_testing_tag"], nvrs)
    else:
        state.koji.remove_tag(release["pending_stable_tag"], nvrs)
    if update["status"] == "pending" and update["request"] == "testing":
        update["status"] = "unpushed"
    update["request"] = None
    update["date_modified"] = render.now()
    state.save(("updates", update))
    state.publish("update.request.revoke", {"update": state.message_update(update), "agent": agent})
    return update


def add_comment(state: BodhiState, alias: str, text: str, author: str, karma: int = 0) -> dict[str, Any]:
    """A comment by ``author`` on update ``alias`` (``Update.comment``). Not idempotent."""
    if karma not in (-1, 0, 1):
        bound = "greater than maximum value 1" if karma > 1 else "less than minimum value -1"
        raise _body_error("karma", f"{karma} is {bound}")
    update = state.update(alias)
    if not text and not karma:
        raise _body_error("comment", "You must provide either some text or feedback")
    return state.new_comment(update, text, author, karma)
