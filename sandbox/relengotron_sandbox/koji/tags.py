"""Tags, their inheritance and configuration, and build targets.

The sandbox has no comps groups, external repos, or repos, so ``getTagGroups``/``getTagExternalRepos``
answer empty lists and ``getRepo`` None, which is what a real hub answers for such a tag (the ``taginfo``
CLI command calls all three). Tag config is not versioned: an ``event`` argument is accepted and echoed
(as ``query_event``) but queries show the current config.
"""

from __future__ import annotations

import fnmatch
import json
from typing import Any

import koji

from relengotron_sandbox.koji.hub import Hub
from relengotron_sandbox.koji.store import apply_query_opts

_TAG_KEYS = ("id", "name", "arches", "locked", "maven_support", "maven_include_all")


class TagExports:
    def __init__(self, hub: Hub) -> None:
        self._hub = hub

    def getTag(self, tagInfo: Any, strict: bool = False, event: int | None = None, blocked: bool = False) -> Any:
        tag = self._hub.tag(tagInfo, strict=strict)
        if tag is not None and event is not None:
            tag["query_event"] = event
        return tag

    def getTagID(self, info: Any, strict: bool = False, create: bool = False) -> int | None:
        return self._hub.tag_id(info, strict=strict)

    def listTags(
        self,
        build: Any = None,
        package: Any = None,
        perms: bool = True,
        queryOpts: dict[str, Any] | None = None,
        pattern: str | None = None,
    ) -> Any:
        if build is not None and package is not None:
            raise koji.GenericError("only one of build and package may be specified")
        store = self._hub.store
        owners: dict[int, dict[str, Any]] = {}
        if build is not None:
            binfo = self._hub.build(build)
            if not binfo:
                raise koji.GenericError(f"No such build: {build}")
            ids = [
                r["tag_id"]
                for r in store.rows("SELECT tag_id FROM tag_listing WHERE build_id = ? AND active = 1", (binfo["id"],))
            ]
        elif package is not None:
            pinfo = self._hub.package(package)
            if not pinfo:
                raise koji.GenericError(f"No such package: {package}")
            rows = store.rows(
                "SELECT tp.tag_id, tp.owner_id, u.name AS owner_name, tp.blocked, tp.extra_arches "
                "FROM tag_packages tp LEFT JOIN users u ON u.id = tp.owner_id WHERE tp.package_id = ?",
                (pinfo["id"],),
            )
            owners = {r["tag_id"]: r for r in rows}
            ids = list(owners)
        else:
            ids = [r["id"] for r in store.rows("SELECT id FROM tags")]
        result = []
        for tag_id in sorted(set(ids)):
            tag = self._hub.tag(tag_id, strict=True)
            assert tag is not None
            if pattern is not None and not fnmatch.fnmatchcase(tag["name"].lower(), pattern.lower()):
                continue
            out = {k: tag[k] for k in _TAG_KEYS}
            if perms:
                out["perm_id"] = tag["perm_id"]
                out["perm"] = tag["perm"]
            if tag_id in owners:
                entry = owners[tag_id]
                out.update(
                    owner_id=entry["owner_id"],
                    owner_name=entry["owner_name"],
                    blocked=bool(entry["blocked"]),
                    extra_arches=entry["extra_arches"],
                )
            result.append(out)
        return apply_query_opts(result, queryOpts)

    def getInheritanceData(self, tag: Any, event: int | None = None) -> list[dict[str, Any]]:
        tag_id = self._hub.tag_id(tag, strict=True)
        assert tag_id is not None
        return self._hub.inheritance_data(tag_id)

    def getFullInheritance(self, tag: Any, event: int | None = None, reverse: bool = False, **kwargs: Any) -> Any:
        for key, value in kwargs.items():
            if key in ("stops", "jumps"):
                if value:
                    raise koji.ParameterError(f"{key} option has been removed since 1.26")
            else:
                raise koji.ParameterError(f"getFullInheritance() got an unexpected keyword argument '{key}'")
        tag_id = tag if isinstance(tag, int) else self._hub.tag_id(tag, strict=True)
        assert tag_id is not None
        return self._hub.full_inheritance(tag_id, reverse=reverse)

    def getBuildConfig(self, tag: Any, event: int | None = None) -> dict[str, Any]:
        """The tag with arches and extra inherited from its ancestors (noconfig links skipped)."""
        info = self._hub.tag(tag, strict=True)
        assert info is not None
        info["config_inheritance"] = {"extra": {}, "arches": None}
        for link in self._hub.full_inheritance(info["id"]):
            if link["noconfig"]:
                continue
            ancestor = self._hub.tag(link["parent_id"], strict=True)
            assert ancestor is not None
            if info["arches"] is None and ancestor["arches"] is not None:
                info["arches"] = ancestor["arches"]
                info["config_inheritance"]["arches"] = {"id": ancestor["id"], "name": ancestor["name"]}
            for key, value in ancestor["extra"].items():
                if key not in info["extra"]:
                    info["extra"][key] = value
                    info["config_inheritance"]["extra"][key] = {"id": ancestor["id"], "name": ancestor["name"]}
        if event is not None:
            info["query_event"] = event
        return info

    def editTag2(self, tagInfo: Any, **kwargs: Any) -> None:
        """Change a tag's name/arches/locked/perm/extra. Idempotent: re-applying the same values changes nothing."""
        hub = self._hub
        hub.caller.assert_perm("tag")
        if any(k in kwargs for k in ("maven_support", "maven_include_all")):
            raise koji.GenericError("Maven support not enabled")
        tag = hub.tag(tagInfo, strict=True)
        assert tag is not None
        store = hub.store
        if "perm" in kwargs and "perm_id" not in kwargs:
            kwargs["perm_id"] = kwargs["perm"]
        if "perm_id" in kwargs:
            perm = kwargs["perm_id"]
            if perm is not None:
                found = hub.lookup("permissions", perm)
                if found is None:
                    raise koji.GenericError(f"No such entry in table permissions: {perm}")
                perm = found["id"]
            store.execute("UPDATE tags SET perm_id = ? WHERE id = ?", (perm, tag["id"]))
        name = kwargs.get("name")
        if name and name != tag["name"]:
            taken = store.value("SELECT id FROM tags WHERE name = ?", (name,))
            if taken is not None:
                raise koji.GenericError(f"Name {name} already taken by tag {taken}")
            store.execute("UPDATE tags SET name = ? WHERE id = ?", (name, tag["id"]))
        if "arches" in kwargs:
            arches = kwargs["arches"]
            if arches:
                arches = koji.parse_arches(arches, strict=True, allow_none=True)
            store.execute("UPDATE tags SET arches = ? WHERE id = ?", (arches or None, tag["id"]))
        if "locked" in kwargs:
            store.execute("UPDATE tags SET locked = ? WHERE id = ?", (int(bool(kwargs["locked"])), tag["id"]))
        extra = dict(tag["extra"])
        removed = set(kwargs.get("remove_extra") or []) | set(kwargs.get("block_extra") or [])
        if "extra" in kwargs:
            conflicts = removed & set(kwargs["extra"])
            if conflicts:
                raise koji.GenericError(f"Can not both add/update and remove tag-extra: '{conflicts.pop()}'")
            extra.update(kwargs["extra"])
        missing = [k for k in kwargs.get("remove_extra") or [] if k not in tag["extra"]]
        if missing:
            raise koji.GenericError(f"Tag: {tag['name']} doesn't have extra: {', '.join(missing)}")
        for key in removed:
            extra.pop(key, None)
        store.execute("UPDATE tags SET extra = ? WHERE id = ?", (json.dumps(extra, sort_keys=True), tag["id"]))
        store.event()

    def getTagGroups(
        self,
        tag: Any,
        event: int | None = None,
        inherit: bool = True,
        incl_pkgs: bool = True,
        incl_reqs: bool = True,
        incl_blocked: bool = False,
    ) -> list[dict[str, Any]]:
        self._hub.tag_id(tag, strict=True)
        return []

    def getTagExternalRepos(
        self, tag_info: Any = None, repo_info: Any = None, event: int | None = None
    ) -> list[dict[str, Any]]:
        if tag_info is not None:
            self._hub.tag_id(tag_info, strict=True)
        return []

    def getRepo(
        self, tag: Any, state: int | None = None, event: int | None = None, dist: bool = False, min_event: Any = None
    ) -> None:
        self._hub.tag_id(tag, strict=True)
        return None

    def mavenEnabled(self) -> bool:
        return False

    def winEnabled(self) -> bool:
        return False

    # --- build targets ----------------------------------------------------------------------------------

    def getBuildTargets(
        self,
        info: Any = None,
        event: int | None = None,
        buildTagID: Any = None,
        destTagID: Any = None,
        queryOpts: dict[str, Any] | None = None,
    ) -> Any:
        sql = (
            "SELECT bt.id, bt.build_tag, bt.dest_tag, bt.name, t1.name AS build_tag_name, t2.name AS dest_tag_name "
            "FROM build_targets bt JOIN tags t1 ON t1.id = bt.build_tag JOIN tags t2 ON t2.id = bt.dest_tag "
            "WHERE bt.active = 1"
        )
        params: list[Any] = []
        if info:
            if isinstance(info, int):
                sql += " AND bt.id = ?"
                params.append(info)
            elif isinstance(info, str):
                sql += " AND bt.name = ?"
                params.append(info)
            elif isinstance(info, dict):
                sql += " AND bt.id = ?" if "id" in info else " AND bt.name = ?"
                params.append(info.get("id", info.get("name")))
            else:
                raise koji.ParameterError(f"Invalid type for id lookup: {type(info)}")
        for column, value in (("build_tag", buildTagID), ("dest_tag", destTagID)):
            if value is not None:
                if not isinstance(value, int):
                    value = self._hub.tag_id(value)
                sql += f" AND bt.{column} = ?"
                params.append(value)
        return apply_query_opts(self._hub.store.rows(sql + " ORDER BY bt.id", params), queryOpts)

    def getBuildTarget(self, info: Any, event: int | None = None, strict: bool = False) -> dict[str, Any] | None:
        targets = self.getBuildTargets(info=info, event=event)
        if len(targets) == 1:
            return targets[0]
        if strict:
            raise koji.GenericError(f"No such build target: {info}")
        return None

    def createBuildTarget(self, name: str, build_tag: Any, dest_tag: Any) -> None:
        """Create a target. Not idempotent: a second create of the same name is a GenericError."""
        hub = self._hub
        hub.caller.assert_perm("target")
        if not isinstance(name, str) or not name:
            raise koji.GenericError(f"Invalid build target name: {name!r}")
        if hub.lookup("build_targets", name):
            raise koji.GenericError(f"A build target with the name '{name}' already exists")
        build = hub.tag(build_tag)
        if not build:
            raise koji.GenericError(f"build tag '{build_tag}' does not exist")
        dest = hub.tag(dest_tag)
        if not dest:
            raise koji.GenericError(f"destination tag '{dest_tag}' does not exist")
        store = hub.store
        old = store.value("SELECT id FROM build_targets WHERE name = ?", (name,))
        if old is not None:
            store.execute(
                "UPDATE build_targets SET build_tag = ?, dest_tag = ?, active = 1 WHERE id = ?",
                (build["id"], dest["id"], old),
            )
        else:
            store.execute(
                "INSERT INTO build_targets (name, build_tag, dest_tag) VALUES (?, ?, ?)",
                (name, build["id"], dest["id"]),
            )
        store.event()

    def deleteBuildTarget(self, buildTargetInfo: Any) -> None:
        """Delete a target. Not idempotent: deleting a missing target is a GenericError, as on the real hub."""
        hub = self._hub
        hub.caller.assert_perm("target")
        target = hub.lookup("build_targets", buildTargetInfo)
        if not target:
            raise koji.GenericError(f"No such build target: {buildTargetInfo}")
        hub.store.execute("UPDATE build_targets SET active = 0 WHERE id = ?", (target["id"],))
        hub.store.event()
