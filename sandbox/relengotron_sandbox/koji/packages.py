"""Packages and tag package lists (a build can only be tagged where its package is listed)."""

from __future__ import annotations

from typing import Any

import koji

from relengotron_sandbox.koji.hub import Hub
from relengotron_sandbox.koji.store import apply_query_opts


class PackageExports:
    def __init__(self, hub: Hub) -> None:
        self._hub = hub

    def getPackage(self, info: Any, strict: bool = False, create: bool = False) -> dict[str, Any] | None:
        """Look a package up by id or name; ``create=True`` adds a missing one (idempotent: an existing one is kept)."""
        found = self._hub.package(info, strict=strict and not create)
        if found is None and create:
            if not isinstance(info, str):
                raise koji.GenericError("Name must be a string")
            new_id = self._hub.store.execute("INSERT INTO packages (name) VALUES (?)", (info,)).lastrowid
            found = {"id": new_id, "name": info}
        return found

    def getPackageID(self, name: str, strict: bool = False) -> int | None:
        found = self._hub.store.value("SELECT id FROM packages WHERE name = ?", (name,))
        if found is None and strict:
            raise koji.GenericError(f"No such package name: {name}")
        return found

    def listPackages(
        self,
        tagID: Any = None,
        userID: Any = None,
        pkgID: Any = None,
        prefix: str | None = None,
        inherited: bool = False,
        with_dups: bool = False,
        event: int | None = None,
        queryOpts: dict[str, Any] | None = None,
        with_owners: bool = True,
        with_blocked: bool = True,
    ) -> Any:
        hub = self._hub
        if tagID is None and userID is None and pkgID is None:
            rows = hub.store.rows("SELECT id AS package_id, name AS package_name FROM packages ORDER BY id")
        else:
            pkg_id = hub.package(pkgID, strict=True)["id"] if pkgID is not None else None  # type: ignore[index]
            user_id = hub.user(userID, strict=True)["id"] if userID is not None else None  # type: ignore[index]
            if tagID is not None:
                tag_id = hub.tag_id(tagID, strict=True)
                assert tag_id is not None
                if inherited:
                    entries = list(hub.package_list(tag_id, pkg_id).values())
                else:
                    entries = [e for e in hub.package_list(tag_id, pkg_id).values() if e["tag_id"] == tag_id]
            else:
                entries = []
                for tag in hub.store.rows("SELECT id FROM tags ORDER BY id"):
                    entries += [e for e in hub.package_list(tag["id"], pkg_id).values() if e["tag_id"] == tag["id"]]
            rows = []
            for entry in entries:
                if user_id is not None and entry["owner_id"] != user_id:
                    continue
                if not with_blocked and entry["blocked"]:
                    continue
                if not with_owners:
                    entry = {k: v for k, v in entry.items() if k not in ("owner_id", "owner_name")}
                rows.append(entry)
        if prefix:
            rows = [r for r in rows if r["package_name"].lower().startswith(prefix.lower())]
        return apply_query_opts(rows, queryOpts)

    def getPackageConfig(self, tag: Any, pkg: Any, event: int | None = None) -> dict[str, Any] | None:
        tag_id = self._hub.tag_id(tag)
        pinfo = self._hub.package(pkg)
        if tag_id is None or pinfo is None:
            return None
        return self._hub.package_list(tag_id, pinfo["id"]).get(pinfo["id"])

    def checkTagPackage(self, tag: Any, pkg: Any) -> bool:
        entry = self.getPackageConfig(tag, pkg)
        return entry is not None and not entry["blocked"]

    def packageListAdd(
        self,
        taginfo: Any,
        pkginfo: Any,
        owner: Any = None,
        block: bool | None = None,
        extra_arches: str | None = None,
        force: bool = False,
        update: bool = False,
    ) -> None:
        """List a package on a tag (creating the package if new). Idempotent for an already-listed package."""
        hub = self._hub
        caller = hub.caller
        if not (caller.has_perm("admin") or caller.has_perm("tag")):
            raise koji.ActionNotAllowed("policy violation (package_list)")
        tag = hub.tag(taginfo, strict=True)
        assert tag is not None
        pkg = hub.package(pkginfo)
        if pkg is None:
            if not isinstance(pkginfo, str):
                raise koji.GenericError(f"No such package: {pkginfo}")
            pkg = {"id": hub.store.execute("INSERT INTO packages (name) VALUES (?)", (pkginfo,)).lastrowid}
        current = hub.package_list(tag["id"], pkg["id"]).get(pkg["id"])
        if owner is not None:
            owner_id = hub.user(owner, strict=True)["id"]  # type: ignore[index]
        elif current is not None:
            owner_id = current["owner_id"]
        else:
            raise koji.GenericError(f"owner not specified for package {pkginfo}")
        blocked = int(bool(block)) if block is not None else int(bool(current and current["blocked"]))
        hub.store.execute(
            "INSERT OR REPLACE INTO tag_packages (tag_id, package_id, owner_id, blocked, extra_arches) "
            "VALUES (?, ?, ?, ?, ?)",
            (tag["id"], pkg["id"], owner_id, blocked, extra_arches),
        )
        hub.store.event()
