"""Tagging and untagging builds, with Koji's checks and the buildsys.tag / buildsys.untag messages.

``tagBuild``/``moveBuild`` check quickly (login, build complete, tag access, package list) and return the
id of a ``tagBuild`` task that does the work as the caller; a failure in the task (e.g. the build is already
in the tag) fails the task and ``getTaskResult`` raises it, as on the real hub. A move is one task that
untags then tags, in one transaction. ``untagBuild`` and the ``*Bypass`` calls work synchronously.
Each tag/untag publishes the fedmsg plugin's body: build_id, name, version, release, tag, tag_id, user
(who tagged), owner (the build's owner) and instance.
"""

from __future__ import annotations

from typing import Any

import koji

from relengotron_sandbox.koji.hub import Caller, Hub
from relengotron_sandbox.koji.tasks import TaskManager


def tag_body(
    tag: str, nvr: str, *, build_id: int, owner: str, user: str, tag_id: int = 1123, instance: str = "primary"
) -> dict[str, Any]:
    """``buildsys.tag`` of ``nvr`` into ``tag`` as Koji's messaging plugins publish it (the fields of
    koji-fedoramessaging-messages' TagV1, ``instance`` included), for messages made up by tests and the bench."""
    name, version, release = nvr.rsplit("-", 2)
    return {
        "build_id": build_id,
        "name": name,
        "tag_id": tag_id,
        "instance": instance,
        "tag": tag,
        "user": user,
        "version": version,
        "owner": owner,
        "release": release,
    }


def _message(tag: dict[str, Any], build: dict[str, Any], user: dict[str, Any]) -> dict[str, Any]:
    return {
        "build_id": build["id"],
        "name": build["name"],
        "version": build["version"],
        "release": build["release"],
        "tag": tag["name"],
        "tag_id": tag["id"],
        "user": user["name"],
        "owner": build["owner_name"],
    }


class Tagger:
    """The tag/untag operations shared by the exported calls and the tagBuild task."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def check_package_listed(self, tag: dict[str, Any], build: dict[str, Any], caller: Caller, force: bool) -> None:
        entry = self.hub.package_list(tag["id"], build["package_id"]).get(build["package_id"])
        error = None
        if entry is None:
            error = f"Package {build['name']} not in list for {tag['name']}"
        elif entry["blocked"]:
            error = f"Package {build['name']} blocked in {tag['name']}"
        if error:
            if force and caller.has_perm("admin"):
                self.hub.store.execute(
                    "INSERT OR REPLACE INTO tag_packages (tag_id, package_id, owner_id, blocked) VALUES (?, ?, ?, 0)",
                    (tag["id"], build["package_id"], build["owner_id"]),
                )
            else:
                raise koji.TagError(error)

    def tag(self, tag: dict[str, Any], build: dict[str, Any], caller: Caller, force: bool = False) -> None:
        """Tag a build. Not idempotent: tagging a build already in the tag is a TagError (unless forced)."""
        self.hub.assert_tag_access(tag["id"], caller, force)
        nvr = build["nvr"]
        if build["state"] != koji.BUILD_STATES["COMPLETE"]:
            state = koji.BUILD_STATES[build["state"]]
            raise koji.TagError(f"build {nvr} not complete: state {state}")
        store = self.hub.store
        event = store.event()
        current = store.value(
            "SELECT id FROM tag_listing WHERE tag_id = ? AND build_id = ? AND active = 1", (tag["id"], build["id"])
        )
        if current is not None:
            if not force:
                raise koji.TagError(f"build {nvr} already tagged ({tag['name']})")
            store.execute(
                "UPDATE tag_listing SET active = NULL, revoke_event = ?, revoker_id = ? WHERE id = ?",
                (event, caller.user_id, current),
            )
        store.execute(
            "INSERT INTO tag_listing (tag_id, build_id, create_event, creator_id, active) VALUES (?, ?, ?, ?, 1)",
            (tag["id"], build["id"], event, caller.user_id),
        )
        assert caller.user is not None
        self.hub.notify("tag", _message(tag, build, caller.user))

    def untag(
        self, tag: dict[str, Any], build: dict[str, Any], caller: Caller, strict: bool = True, force: bool = False
    ) -> None:
        """Untag a build. With strict=False untagging a build not in the tag is a no-op (idempotent)."""
        self.hub.assert_tag_access(tag["id"], caller, force)
        store = self.hub.store
        event = store.event()
        count = store.execute(
            "UPDATE tag_listing SET active = NULL, revoke_event = ?, revoker_id = ? "
            "WHERE tag_id = ? AND build_id = ? AND active = 1",
            (event, caller.user_id, tag["id"], build["id"]),
        ).rowcount
        if count == 0:
            if strict:
                raise koji.TagError(f"build {build['nvr']} not in tag {tag['name']}")
            return
        assert caller.user is not None
        self.hub.notify("untag", _message(tag, build, caller.user))

    def run_task(
        self,
        task_id: int,
        tag_id: int,
        build_id: int,
        force: bool = False,
        fromtag: int | None = None,
        ignore_success: bool = False,
    ) -> None:
        """The tagBuild task: (untag from ``fromtag`` and) tag, as the task owner, in one transaction."""
        hub = self.hub
        caller = hub.caller
        with hub.store.transaction():
            build = hub.build(build_id, strict=True)
            tag = hub.tag(tag_id, strict=True)
            assert build is not None and tag is not None
            self.check_package_listed(tag, build, caller, force)
            if fromtag:
                source = hub.tag(fromtag, strict=True)
                assert source is not None
                self.untag(source, build, caller, strict=True, force=force)
            self.tag(tag, build, caller, force=force)


class TaggingExports:
    def __init__(self, hub: Hub, tasks: TaskManager, tagger: Tagger) -> None:
        self._hub = hub
        self._tasks = tasks
        self._tagger = tagger

    def tagBuild(self, tag: Any, build: Any, force: bool = False, fromtag: Any = None) -> int:
        """Start a task tagging ``build`` into ``tag`` (moving it from ``fromtag``). Each call is a new task."""
        hub = self._hub
        caller = hub.caller
        caller.assert_login()
        binfo = hub.build(build, strict=True)
        tinfo = hub.tag(tag, strict=True)
        assert binfo is not None and tinfo is not None
        fromtag_id = hub.tag_id(fromtag, strict=True) if fromtag else None
        if binfo["state"] != koji.BUILD_STATES["COMPLETE"]:
            state = koji.BUILD_STATES[binfo["state"]]
            raise koji.TagError(f"build {binfo['nvr']} not complete: state {state}")
        hub.assert_tag_access(tinfo["id"], caller, force)
        if fromtag_id:
            hub.assert_tag_access(fromtag_id, caller, force)
        self._tagger.check_package_listed(tinfo, binfo, caller, force)
        assert caller.user_id is not None
        return self._tasks.create(
            "tagBuild", [tinfo["id"], binfo["id"], force, fromtag_id], caller.user_id, priority=10, weight=0.1
        )

    def moveBuild(self, tag1: Any, tag2: Any, build: Any, force: bool = False) -> int:
        """Start a task moving ``build`` from ``tag1`` to ``tag2`` (untag, then tag). Each call is a new task."""
        return self.tagBuild(tag2, build, force=force, fromtag=tag1)

    def tagBuildBypass(self, tag: Any, build: Any, force: bool = False, notify: bool = False) -> None:
        """Tag synchronously (``tag`` permission). Not idempotent: already tagged is a TagError."""
        hub = self._hub
        hub.caller.assert_perm("tag")
        tinfo = hub.tag(tag, strict=True)
        binfo = hub.build(build, strict=True)
        assert tinfo is not None and binfo is not None
        self._tagger.tag(tinfo, binfo, hub.caller, force=force)

    def untagBuild(self, tag: Any, build: Any, strict: bool = True, force: bool = False) -> None:
        """Untag synchronously; with strict=False a build not in the tag is not an error."""
        hub = self._hub
        hub.caller.assert_login()
        tinfo = hub.tag(tag, strict=True)
        binfo = hub.build(build, strict=True)
        assert tinfo is not None and binfo is not None
        self._tagger.untag(tinfo, binfo, hub.caller, strict=strict, force=force)

    def untagBuildBypass(
        self, tag: Any, build: Any, strict: bool = True, force: bool = False, notify: bool = False
    ) -> None:
        """Untag synchronously (``tag`` permission); with strict=False a build not in the tag is not an error."""
        hub = self._hub
        hub.caller.assert_perm("tag")
        tinfo = hub.tag(tag, strict=True)
        binfo = hub.build(build, strict=True)
        assert tinfo is not None and binfo is not None
        self._tagger.untag(tinfo, binfo, hub.caller, strict=strict, force=force)
