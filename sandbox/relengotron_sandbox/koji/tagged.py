"""What is tagged where: listTagged, listTaggedRPMS, getLatestBuilds and the tag_listing history.

Koji's semantics, kept here: inheritance walks the tag then its ancestors in priority order; within a tag
the most recently *tagged* build comes first (not the highest version), and ``latest`` keeps the first one
seen per package; only builds whose package is listed (and not blocked) on the tag count. Tag listings
are versioned by events, so ``event=`` queries the past exactly.
"""

from __future__ import annotations

from typing import Any

import koji

from relengotron_sandbox.koji.hub import Hub
from relengotron_sandbox.koji.store import apply_query_opts

_HISTORY_TABLES = (
    "build_target_config",
    "cg_users",
    "external_repo_config",
    "external_repo_data",
    "group_config",
    "group_package_listing",
    "group_req_listing",
    "host_channels",
    "host_config",
    "tag_config",
    "tag_external_repos",
    "tag_extra",
    "tag_inheritance",
    "tag_listing",
    "tag_package_owners",
    "tag_packages",
    "user_groups",
    "user_perms",
)


def _active_at(event: int | None) -> tuple[str, tuple[Any, ...]]:
    """Koji's eventCondition for tag_listing rows."""
    if event is None:
        return "tl.active = 1", ()
    return "tl.create_event <= ? AND (tl.revoke_event IS NULL OR ? < tl.revoke_event)", (event, event)


def read_tagged_builds(
    hub: Hub,
    tag_id: int,
    event: int | None = None,
    inherit: bool = False,
    latest: bool | int = False,
    package: str | None = None,
    owner: str | None = None,
    type: str | None = None,
) -> list[dict[str, Any]]:
    """Koji's readTaggedBuilds."""
    if not isinstance(latest, int) or isinstance(latest, bool):
        latest = bool(latest)
    taglist = [tag_id]
    if inherit:
        taglist += [link["parent_id"] for link in hub.full_inheritance(tag_id)]
    packages = hub.package_list(tag_id)
    cond, cond_params = _active_at(event)
    sql = (
        "SELECT tl.tag_id, t.name AS tag_name, tl.create_event AS tl_event, tl.id AS tl_id, b_all.* "
        "FROM tag_listing tl "
        f"JOIN tags t ON t.id = tl.tag_id JOIN ({hub.BUILD_SQL}) b_all ON b_all.id = tl.build_id "
        f"WHERE {cond} AND tl.tag_id = ? AND b_all.state = ?"
    )
    builds: list[dict[str, Any]] = []
    seen: dict[int, int] = {}
    for tid in taglist:
        params: list[Any] = [*cond_params, tid, koji.BUILD_STATES["COMPLETE"]]
        query = sql
        if package:
            query += " AND b_all.package_name = ?"
            params.append(package)
        if owner:
            query += " AND b_all.owner_name = ?"
            params.append(owner)
        if type == "image":
            query += " AND b_all.id IN (SELECT build_id FROM image_builds)"
        elif type == "rpm":
            query += " AND b_all.id IN (SELECT build_id FROM rpms)"
        elif type is not None:
            if type not in ("maven", "win"):
                raise koji.GenericError(f"unsupported build type: {type}")
            query += " AND 0"
        for row in hub.store.rows(query + " ORDER BY tl.create_event DESC, b_all.id DESC", params):
            entry = packages.get(row["package_id"])
            if entry is None or entry["blocked"]:
                continue
            pkg_id = row["package_id"]
            if latest:
                if (latest is True and pkg_id in seen) or seen.get(pkg_id, 0) >= latest:
                    continue
                seen[pkg_id] = seen.get(pkg_id, 0) + 1
            build = hub.build_dict(row)
            del build["extra"], build["source"], build["cg_id"], build["cg_name"]
            build.update(tag_id=row["tag_id"], tag_name=row["tag_name"], create_event=row["tl_event"])
            builds.append(build)
    return builds


class TaggedExports:
    def __init__(self, hub: Hub) -> None:
        self._hub = hub

    def listTagged(
        self,
        tag: Any,
        event: int | None = None,
        inherit: bool = False,
        prefix: str | None = None,
        latest: bool | int = False,
        package: str | None = None,
        owner: str | None = None,
        type: str | None = None,
        strict: bool = True,
        extra: bool = False,
        draft: bool | None = None,
    ) -> list[dict[str, Any]]:
        tinfo = self._hub.tag(tag, strict=strict)
        if not tinfo:
            return []
        builds = read_tagged_builds(self._hub, tinfo["id"], event, inherit, latest, package, owner, type)
        if extra:
            for build in builds:
                build["extra"] = self._hub.build(build["id"], strict=True)["extra"]  # type: ignore[index]
        if prefix:
            builds = [b for b in builds if b["package_name"].lower().startswith(prefix.lower())]
        if draft is True:
            builds = []
        return builds

    def getLatestBuilds(
        self, tag: Any, event: int | None = None, package: str | None = None, type: str | None = None, draft: Any = None
    ) -> list[dict[str, Any]]:
        tag_id = self._hub.tag_id(tag, strict=True)
        assert tag_id is not None
        return read_tagged_builds(self._hub, tag_id, event, inherit=True, latest=True, package=package, type=type)

    def listTaggedRPMS(
        self,
        tag: Any,
        event: int | None = None,
        inherit: bool = False,
        latest: bool | int = False,
        package: str | None = None,
        arch: Any = None,
        rpmsigs: bool = False,
        owner: str | None = None,
        type: str | None = None,
        strict: bool = True,
        extra: bool = True,
        draft: bool | None = None,
    ) -> list[Any]:
        """[rpms, builds] as the real hub: one entry per RPM (per RPM and signature with ``rpmsigs``)."""
        hub = self._hub
        tinfo = hub.tag(tag, strict=strict)
        if not tinfo:
            return []
        builds = read_tagged_builds(hub, tinfo["id"], event, inherit, latest, package, owner, type)
        if draft is True:
            builds = []
        if isinstance(arch, str):
            arch = [arch]
        elif arch is not None and not isinstance(arch, (list, tuple)):
            raise koji.GenericError(f"Invalid type for arch option: {arch.__class__}")
        rpms: list[dict[str, Any]] = []
        for build in builds:
            sql = f"{hub.RPM_SQL} WHERE build_id = ?"
            params: list[Any] = [build["id"]]
            if arch:
                sql += f" AND arch IN ({', '.join('?' * len(arch))})"
                params.extend(arch)
            for row in hub.store.rows(sql + " ORDER BY id", params):
                rinfo = hub.rpm_dict(row)
                for key in ("nvr", "external_repo_id", "external_repo_name"):
                    del rinfo[key]
                if not extra:
                    del rinfo["extra"]
                if rpmsigs:
                    sigs = hub.store.rows("SELECT sigkey FROM rpmsigs WHERE rpm_id = ? ORDER BY sigkey", (row["id"],))
                    for sig in sigs or [{"sigkey": None}]:
                        rpms.append({**rinfo, "sigkey": sig["sigkey"]})
                else:
                    rpms.append(rinfo)
        return [rpms, builds]

    def queryHistory(self, tables: list[str] | None = None, **kwargs: Any) -> dict[str, list[dict[str, Any]]]:
        """Koji's history query; the sandbox versions tag listings only, so other tables answer empty lists."""
        hub = self._hub
        if tables is None:
            tables = list(_HISTORY_TABLES)
        for table in tables:
            if table not in _HISTORY_TABLES:
                raise koji.GenericError(f"No such history table: {table}")
        queryOpts = kwargs.pop("queryOpts", None)
        result: dict[str, list[dict[str, Any]]] = {t: [] for t in tables}
        if "tag_listing" not in tables:
            return result
        sql = (
            "SELECT tl.active, tl.create_event, tl.revoke_event, tl.creator_id, tl.revoker_id, "
            "c.name AS creator_name, r.name AS revoker_name, e1.ts AS create_ts, e2.ts AS revoke_ts, "
            'tl.build_id, tl.tag_id, t.name AS "tag.name", p.name AS name, b.version, b.release, b.epoch, '
            'b.state AS "build.state" FROM tag_listing tl JOIN tags t ON t.id = tl.tag_id '
            "JOIN builds b ON b.id = tl.build_id JOIN packages p ON p.id = b.pkg_id "
            "JOIN events e1 ON e1.id = tl.create_event LEFT JOIN events e2 ON e2.id = tl.revoke_event "
            "LEFT JOIN users c ON c.id = tl.creator_id LEFT JOIN users r ON r.id = tl.revoker_id WHERE 1 = 1"
        )
        params: list[Any] = []
        for arg, value in kwargs.items():
            if arg == "tag":
                sql += " AND tl.tag_id = ?"
                params.append(hub.tag_id(value, strict=True))
            elif arg == "build":
                sql += " AND tl.build_id = ?"
                params.append(hub.build(value, strict=True)["id"])  # type: ignore[index]
            elif arg == "package":
                pkg = hub.package(value, strict=True)
                sql += " AND p.id = ?"
                params.append(pkg["id"])  # type: ignore[index]
            elif arg == "active":
                if value:
                    sql += " AND tl.active = 1"
                elif value is not None:
                    sql += " AND tl.active IS NULL"
            elif arg == "editor":
                uid = hub.user(value, strict=True)["id"]  # type: ignore[index]
                sql += " AND (tl.creator_id = ? OR tl.revoker_id = ?)"
                params += [uid, uid]
            elif arg == "afterEvent":
                sql += " AND (tl.create_event > ? OR tl.revoke_event > ?)"
                params += [value, value]
            elif arg == "beforeEvent":
                sql += " AND (tl.create_event < ? OR tl.revoke_event < ?)"
                params += [value, value]
            elif arg in ("user", "permission", "host", "channel", "external_repo", "build_target", "group", "cg"):
                return result  # filters that no tag_listing row can match
        rows = hub.store.rows(sql + " ORDER BY tl.id", params)
        for row in rows:
            row["active"] = True if row["active"] else None
        result["tag_listing"] = apply_query_opts(rows, queryOpts)
        return result
