"""Builds, their RPMs and archives (read side), in the shapes of the real hub's answers."""

from __future__ import annotations

import json
import re
from typing import Any

import koji

from relengotron_sandbox.koji.hub import Hub
from relengotron_sandbox.koji.store import apply_query_opts

BTYPES = {"rpm": 1, "maven": 2, "win": 3, "image": 4}


class BuildExports:
    def __init__(self, hub: Hub) -> None:
        self._hub = hub

    def getBuild(self, buildInfo: Any, strict: bool = False) -> dict[str, Any] | None:
        return self._hub.build(buildInfo, strict=strict)

    def findBuildID(self, X: Any, strict: bool = False) -> int | None:
        return self._hub.build_id(X, strict=strict)

    def listBuilds(
        self,
        packageID: Any = None,
        userID: Any = None,
        taskID: int | None = None,
        prefix: str | None = None,
        state: int | None = None,
        volumeID: int | None = None,
        source: str | None = None,
        createdBefore: Any = None,
        createdAfter: Any = None,
        completeBefore: Any = None,
        completeAfter: Any = None,
        type: str | None = None,
        typeInfo: dict[str, Any] | None = None,
        queryOpts: dict[str, Any] | None = None,
        pattern: str | None = None,
        cgID: Any = None,
        draft: bool | None = None,
        promotedBefore: Any = None,
        promotedAfter: Any = None,
        promoter: Any = None,
    ) -> Any:
        """Builds filtered by package, owner, task, prefix, state, NVR glob and type (newest first by id)."""
        hub = self._hub
        sql = f"{hub.BUILD_SQL} WHERE 1 = 1"
        params: list[Any] = []
        if packageID is not None:
            pkg = hub.package(packageID)
            if pkg is None:
                return apply_query_opts([], queryOpts)
            sql += " AND p.id = ?"
            params.append(pkg["id"])
        if userID is not None:
            user = hub.user(userID, strict=True)
            assert user is not None
            sql += " AND b.owner_id = ?"
            params.append(user["id"])
        if taskID is not None:
            if taskID == -1:
                sql += " AND b.task_id IS NOT NULL"
            else:
                sql += " AND b.task_id = ?"
                params.append(taskID)
        if state is not None:
            sql += " AND b.state = ?"
            params.append(state)
        if type is not None:
            if type not in BTYPES:
                raise koji.GenericError(f"unsupported build type: {type}")
            if type == "image":
                sql += " AND b.id IN (SELECT build_id FROM image_builds)"
            elif type == "rpm":
                sql += " AND b.id IN (SELECT build_id FROM rpms)"
            else:
                sql += " AND 0"
        for key, op, value in (
            ("creation_ts", "<", createdBefore),
            ("creation_ts", ">", createdAfter),
            ("b.completion_ts", "<", completeBefore),
            ("b.completion_ts", ">", completeAfter),
        ):
            if value is not None:
                sql += f" AND {'e.ts' if key == 'creation_ts' else key} {op} ?"
                params.append(float(value))
        rows = [hub.build_dict(r) for r in hub.store.rows(sql + " ORDER BY b.id", params)]
        if prefix:
            rows = [r for r in rows if r["name"].lower().startswith(prefix.lower())]
        if pattern:
            regex = re.compile(re.escape(pattern).replace(r"\*", ".*").replace(r"\?", "."), re.IGNORECASE)
            rows = [r for r in rows if regex.fullmatch(r["nvr"])]
        if draft is True:
            rows = []
        return apply_query_opts(rows, queryOpts)

    def listRPMs(
        self,
        buildID: int | None = None,
        buildrootID: int | None = None,
        imageID: int | None = None,
        componentBuildrootID: int | None = None,
        hostID: int | None = None,
        arches: Any = None,
        queryOpts: dict[str, Any] | None = None,
        draft: bool | None = None,
    ) -> Any:
        hub = self._hub
        sql = f"{hub.RPM_SQL} WHERE 1 = 1"
        params: list[Any] = []
        if buildID is not None:
            sql += " AND build_id = ?"
            params.append(buildID)
        if buildrootID is not None or componentBuildrootID is not None or hostID is not None:
            sql += " AND 0"  # the sandbox records no buildroots
        if imageID is not None:
            sql += " AND id IN (SELECT rpm_id FROM archive_rpm_components WHERE archive_id = ?)"
            params.append(imageID)
        if arches is not None:
            if isinstance(arches, str):
                arches = [arches]
            if not isinstance(arches, (list, tuple)):
                raise koji.GenericError(f'Invalid type for "arches" parameter: {type(arches)}')
            sql += f" AND arch IN ({', '.join('?' * len(arches))})"
            params.extend(arches)
        if draft is True:
            sql += " AND 0"
        rows = [hub.rpm_dict(r) for r in hub.store.rows(sql + " ORDER BY id", params)]
        return apply_query_opts(rows, queryOpts)

    def listBuildRPMs(self, build: Any) -> Any:
        build_id = build if isinstance(build, int) else self._hub.build_id(build, strict=True)
        return self.listRPMs(buildID=build_id)

    def getRPM(self, rpminfo: Any, strict: bool = False, multi: bool = False) -> Any:
        found = self._hub.rpm(rpminfo, strict=strict)
        if multi:
            return [found] if found else []
        return found

    def getMavenBuild(self, buildInfo: Any, strict: bool = False) -> None:
        build_id = self._hub.build_id(buildInfo, strict=strict)
        if build_id is not None and strict:
            raise koji.GenericError(f"no such maven build: {buildInfo}")
        return None

    def getWinBuild(self, buildInfo: Any, strict: bool = False) -> None:
        build_id = self._hub.build_id(buildInfo, strict=strict)
        if build_id is not None and strict:
            raise koji.GenericError(f"no such Windows build: {buildInfo}")
        return None

    def getImageBuild(self, buildInfo: Any, strict: bool = False) -> dict[str, Any] | None:
        build_id = self._hub.build_id(buildInfo, strict=strict)
        if build_id is None:
            return None
        if self._hub.store.value("SELECT build_id FROM image_builds WHERE build_id = ?", (build_id,)) is None:
            if strict:
                raise koji.GenericError(f"no such image build: {buildInfo}")
            return None
        return {"build_id": build_id}

    def getBuildType(self, buildInfo: Any, strict: bool = False) -> dict[str, Any] | None:
        binfo = self._hub.build(buildInfo, strict=strict)
        if binfo is None:
            return None
        store = self._hub.store
        types: dict[str, Any] = {}
        if store.value("SELECT 1 FROM rpms WHERE build_id = ?", (binfo["id"],)):
            types["rpm"] = None
        if store.value("SELECT 1 FROM image_builds WHERE build_id = ?", (binfo["id"],)):
            types["image"] = {"build_id": binfo["id"]}
        return types

    def getNextRelease(self, build_info: dict[str, Any], incr: int = 1) -> str:
        """Koji's rule: none → "1"; "N" → "N+1"; "N.dist" → "N+1.dist"; "a.b.N" → "a.b.N+1"."""
        rows = self._hub.store.rows(
            "SELECT b.release FROM builds b JOIN packages p ON p.id = b.pkg_id WHERE p.name = ? AND b.version = ? "
            "ORDER BY b.id DESC LIMIT 1",
            (build_info["name"], build_info["version"]),
        )
        if not rows:
            return str(incr)
        release = rows[0]["release"]
        if release.isdigit():
            return str(int(release) + incr)
        parts = release.split(".")
        if len(parts) == 2 and parts[0].isdigit():
            return f"{int(parts[0]) + incr}.{parts[1]}"
        if len(parts) == 3 and parts[2].isdigit():
            return f"{parts[0]}.{parts[1]}.{int(parts[2]) + incr}"
        raise koji.BuildError(f"Unable to increment release value: {release}")

    # --- archives ---------------------------------------------------------------------------------------

    ARCHIVE_SQL = (
        "SELECT a.id, a.type_id, a.btype, a.build_id, a.filename, a.size, a.checksum, a.checksum_type, "
        "a.arch, a.extra, t.name AS type_name, t.description AS type_description, "
        "t.extensions AS type_extensions, t.compression_type FROM archives a JOIN archivetypes t ON t.id = a.type_id"
    )

    def listArchives(
        self,
        buildID: int | None = None,
        buildrootID: int | None = None,
        componentBuildrootID: int | None = None,
        hostID: int | None = None,
        type: str | None = None,
        filename: str | None = None,
        size: int | None = None,
        checksum: str | None = None,
        checksum_type: int | None = None,
        typeInfo: dict[str, Any] | None = None,
        queryOpts: dict[str, Any] | None = None,
        imageID: int | None = None,
        archiveID: int | None = None,
        strict: bool = False,
    ) -> Any:
        sql = f"{self.ARCHIVE_SQL} WHERE 1 = 1"
        params: list[Any] = []
        for column, value in (
            ("a.build_id", buildID),
            ("a.filename", filename),
            ("a.size", size),
            ("a.checksum", checksum),
            ("a.checksum_type", checksum_type),
            ("a.id", archiveID),
        ):
            if value is not None:
                sql += f" AND {column} = ?"
                params.append(value)
        if buildrootID is not None or componentBuildrootID is not None or hostID is not None or imageID is not None:
            sql += " AND 0"  # no buildroots, and images are not made of other archives here
        if type is not None:
            if type not in BTYPES:
                raise koji.GenericError(f"unsupported archive type: {type}")
            sql += " AND a.btype = ?"
            params.append(type)
            if type == "image" and typeInfo and typeInfo.get("arch"):
                sql += " AND a.arch = ?"
                params.append(typeInfo["arch"])
        rows = []
        for row in self._hub.store.rows(sql + " ORDER BY a.id", params):
            row["btype_id"] = BTYPES[row["btype"]]
            row["buildroot_id"] = None
            row["metadata_only"] = False
            row["extra"] = json.loads(row["extra"]) if row["extra"] else None
            if type != "image":
                row.pop("arch")
            rows.append(row)
        if strict and not rows:
            raise koji.GenericError("No archives found.")
        return apply_query_opts(rows, queryOpts)

    def getArchive(self, archive_id: int, strict: bool = False) -> dict[str, Any] | None:
        found = self._hub.store.row(f"{self.ARCHIVE_SQL} WHERE a.id = ?", (archive_id,))
        if found is None:
            if strict:
                raise koji.GenericError(f"No such archive: {archive_id}")
            return None
        found["btype_id"] = BTYPES[found["btype"]]
        found["buildroot_id"] = None
        found["metadata_only"] = False
        found["extra"] = json.loads(found["extra"]) if found["extra"] else None
        return found
