"""The sandbox Bodhi's state: its records, their JSON, its messages, and the services it drives.

Records live in a :class:`relengotron_sandbox.pdc_store.DocStore` (SQLite, mirrored in memory): releases (by
name), users (by name), updates (by alias; their builds and bugs inside), comments (by id), composes (by
``<release>/<request>``) and the ids of the bus messages already handled. Every change happens under
``state.lock`` so an API call, the REST API and the bus consumer never interleave; bus messages are published
after the records are stored. The JSON is :mod:`relengotron_sandbox.bodhi.render`'s.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from relengotron_sandbox.bodhi import render
from relengotron_sandbox.bodhi.bugs import BugTracker
from relengotron_sandbox.bodhi.kojitags import BodhiKoji
from relengotron_sandbox.bodhi.query import BodhiError, find_release
from relengotron_sandbox.pdc_store import DocStore

log = logging.getLogger(__name__)

KEYS = {
    "releases": "name",
    "users": "name",
    "updates": "alias",
    "comments": "id",
    "composes": "key",
    "handled": "msg_id",
}
Publish = Callable[[str, str, dict[str, Any]], None]


class BodhiState:
    """Records, JSON and messages of one sandbox Bodhi (see the module docstring)."""

    def __init__(self, store: DocStore, publish: Publish, base_url: str, koji: BodhiKoji, bugs: BugTracker) -> None:
        self.store = store
        self._publish = publish
        self.base_url = base_url
        self.koji = koji
        self.bugs = bugs
        self.lock = threading.RLock()

    # ---- reads

    def releases(self) -> dict[str, dict[str, Any]]:
        return {r["name"]: r for r in self.store.all("releases")}

    def users(self) -> dict[str, dict[str, Any]]:
        return {u["name"]: u for u in self.store.all("users")}

    def updates(self) -> list[dict[str, Any]]:
        return self.store.all("updates")

    def comments(self) -> list[dict[str, Any]]:
        return self.store.all("comments")

    def composes(self) -> list[dict[str, Any]]:
        return self.store.all("composes")

    def update(self, alias: str) -> dict[str, Any]:
        """The update ``alias``; Bodhi's 404 ("Invalid update id") when there is none."""
        found = self.store.get("updates", alias)
        if found is None:
            raise BodhiError(404, "url", "id", "Invalid update id")
        return found

    def release(self, ident: str) -> dict[str, Any] | None:
        """``Release.get``: by name, long name or dist tag."""
        for release in self.store.all("releases"):
            if ident in (release["name"], release["long_name"], release["dist_tag"]):
                return release
        return None

    def push_release(self, ident: str) -> dict[str, Any] | None:
        """A release as ``bodhi-push --releases`` and ``?releases=`` name it (name, upper-cased, version)."""
        return find_release(self.releases(), ident)

    def update_of_build(self, nvr: str) -> dict[str, Any] | None:
        for update in self.store.all("updates"):
            if any(b["nvr"] == nvr for b in update["builds"]):
                return update
        return None

    def compose_updates(self, compose: dict[str, Any]) -> list[dict[str, Any]]:
        """The compose's updates, oldest submitted first (``Compose.updates``)."""
        found = [u for u in (self.store.get("updates", a) for a in compose["updates"]) if u is not None]
        return sorted(found, key=lambda u: (u["date_submitted"], u["id"]))

    # ---- JSON

    def update_json(self, update: dict[str, Any], *, web: bool) -> dict[str, Any]:
        return render.update_json(
            update, self.releases(), self.users(), self.comments(), base_url=self.base_url, web=web
        )

    def comment_json(self, comment: dict[str, Any], *, web: bool) -> dict[str, Any]:
        update = self.update(comment["update"])
        return render.full_comment_json(
            comment, update, self.releases(), self.users(), self.comments(), base_url=self.base_url, web=web
        )

    def compose_json(self, compose: dict[str, Any]) -> dict[str, Any]:
        return render.compose_json(compose, self.releases(), self.compose_updates(compose))

    # ---- writes

    def save(self, *items: tuple[str, dict[str, Any]]) -> None:
        """Store records in one transaction. Idempotent."""
        self.store.put_many(list(items))

    def ensure_user(self, name: str, email: str | None = None, groups: list[str] | None = None) -> dict[str, Any]:
        """The user ``name``, created as Bodhi creates one on first login (``create_or_update_user``)."""
        with self.lock:
            user = self.store.get("users", name)
            if user is None:
                next_id = max((u["id"] for u in self.store.all("users")), default=0) + 1
                user = {"id": next_id, "name": name, "email": email, "groups": list(groups or [])}
                self.save(("users", user))
            elif (email is not None and user["email"] != email) or (groups is not None and user["groups"] != groups):
                user = {**user, "email": email or user["email"], "groups": list(groups or user["groups"])}
                self.save(("users", user))
            return user

    def new_comment(self, update: dict[str, Any], text: str, author: str, karma: int = 0) -> dict[str, Any]:
        """Store a comment on ``update`` (``Update.comment``); publish ``bodhi.update.comment`` unless Bodhi
        wrote it. Not idempotent: every call adds a comment."""
        with self.lock:
            self.ensure_user(author)
            if update["user"] == author:
                karma = 0  # "You may not give karma to your own updates."
            comment = {
                "id": self.store.next_id("comments"),
                "update": update["alias"],
                "user": author,
                "text": text,
                "karma": karma,
                "karma_critpath": 0,
                "timestamp": render.now(),
            }
            self.save(("comments", comment))
        if author != render.SYSTEM_USER:
            self.publish("update.comment", {"comment": self.comment_json(comment, web=False), "agent": author})
        return comment

    def message_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """The update as Bodhi puts it in a message (its ``__json__`` without a web request)."""
        return self.update_json(update, web=False)

    def publish(self, topic: str, body: dict[str, Any]) -> None:
        """Publish ``bodhi.<topic>``; a bus outage is logged, not raised (the state is already stored)."""
        try:
            self._publish("bodhi", topic, body)
        except Exception:
            log.exception("publishing bodhi.%s failed", topic)

    def close(self) -> None:
        """Release the Koji session. Idempotent."""
        self.koji.close()
