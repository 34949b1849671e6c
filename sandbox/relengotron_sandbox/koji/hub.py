"""What every part of the sandbox Koji hub shares: the store, the topdir, who is calling, and lookups.

The lookups return the same dict shapes as the real hub's ``get_tag``/``get_build``/``get_rpm``/``get_user``
and raise the same faults with the same texts (e.g. ``No such tagInfo: 'x'``), so each exported method can
be written the way Koji's own is.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import koji

from relengotron_sandbox.koji.store import Store, ts_str

log = logging.getLogger(__name__)

INSTANCE = "primary"  # the fedmsg plugin's "instance" field: the primary (not a secondary-arch) hub
VOLUME = {"volume_id": 0, "volume_name": "DEFAULT"}


@dataclass(frozen=True)
class Caller:
    """The session a call runs under (anonymous when ``user`` is None)."""

    user: dict[str, Any] | None = None
    perms: frozenset[str] = field(default_factory=frozenset)
    session_id: int | None = None
    authtype: int | None = None

    @property
    def logged_in(self) -> bool:
        return self.user is not None

    @property
    def user_id(self) -> int | None:
        return self.user["id"] if self.user else None

    def has_perm(self, name: str) -> bool:
        return self.logged_in and name in self.perms

    def assert_login(self) -> None:
        if not self.logged_in:
            raise koji.ActionNotAllowed("you must be logged in for this operation")

    def assert_perm(self, name: str) -> None:
        if not self.has_perm(name) and not self.has_perm("admin"):
            msg = f"{name} permission required"
            if self.user:
                msg += f" (logged in as {self.user['name']})"
            else:
                msg += " (user not logged in)"
            raise koji.ActionNotAllowed(msg)


# The plugin's "problem fields" (floats encoded differently on RHEL and Fedora): removed from every body.
SCRUBBED = ("weight", "start_ts", "create_ts", "completion_ts")
# The plugin's date fields: datetimes in the hub, epoch seconds (whole, as floats) in its messages.
MESSAGE_DATES = {"creation_time": "creation_ts", "start_time": "start_ts", "completion_time": "completion_ts"}


def scrub(value: Any) -> Any:
    """The plugin's ``scrub``: ``SCRUBBED`` keys removed at every depth."""
    if isinstance(value, list):
        return [scrub(item) for item in value]
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items() if k not in SCRUBBED}
    return value


def message_dates(info: dict[str, Any]) -> dict[str, Any]:
    """A build or RPM as the plugin serialises it (``serialize_datetime_in_task``): its ``*_time`` fields as
    epoch seconds (the real hub holds them as datetimes; this one as text beside the ``*_ts`` numbers)."""
    out = dict(info)
    for name, stamp in MESSAGE_DATES.items():
        if name in out and out.get(stamp) is not None:
            out[name] = float(int(out[stamp]))
    return out


def _lookup_clause(table: str, info: Any) -> tuple[str, tuple[Any, ...]]:
    """Koji's name_or_id_clause: an int is an id, a str a name, a dict either."""
    if isinstance(info, bool):
        raise koji.ParameterError(f"Invalid type for id lookup: {type(info)}")
    if isinstance(info, int):
        return f"{table}.id = ?", (info,)
    if isinstance(info, str):
        return f"{table}.name = ?", (info,)
    if isinstance(info, dict) and "id" in info:
        return f"{table}.id = ?", (info["id"],)
    if isinstance(info, dict) and "name" in info:
        return f"{table}.name = ?", (info["name"],)
    raise koji.ParameterError(f"Invalid type for id lookup: {type(info)}")


class Hub:
    """Shared state and lookups. Every method here expects to run inside ``store.transaction()``."""

    def __init__(
        self,
        store: Store,
        topdir: Path,
        publish: Callable[[str, str, dict[str, Any]], None],
    ) -> None:
        self.store = store
        self.topdir = topdir
        self.pathinfo = koji.PathInfo(topdir=str(topdir))
        self._publish = publish
        self._local = threading.local()

    # --- who is calling -------------------------------------------------------------------------------

    @property
    def caller(self) -> Caller:
        return getattr(self._local, "caller", None) or Caller()

    @contextmanager
    def as_caller(self, caller: Caller) -> Iterator[Caller]:
        previous = getattr(self._local, "caller", None)
        self._local.caller = caller
        try:
            yield caller
        finally:
            self._local.caller = previous

    def caller_for(self, user_id: int) -> Caller:
        """A session-less caller acting as ``user_id`` (task threads run as the task owner)."""
        user = self.user(user_id, strict=True)
        return Caller(user=user, perms=frozenset(self.user_perms(user_id)))

    def user_perms(self, user_id: int) -> list[str]:
        rows = self.store.rows(
            "SELECT p.name FROM user_perms up JOIN permissions p ON p.id = up.perm_id WHERE up.user_id = ? "
            "ORDER BY p.id",
            (user_id,),
        )
        return [r["name"] for r in rows]

    # --- bus ------------------------------------------------------------------------------------------

    def notify(self, topic: str, body: dict[str, Any]) -> None:
        """Publish ``buildsys.<topic>`` once the current change commits, as Koji's fedora-messaging plugin does
        (``instance`` added, the float fields it scrubs removed)."""
        message = scrub({**body, "instance": INSTANCE})
        self.store.after_commit(lambda: self._send(topic, message))

    def _send(self, topic: str, body: dict[str, Any]) -> None:
        try:
            self._publish("buildsys", topic, body)
        except Exception:  # the real plugin is @ignore_error: a bus outage never fails a Koji call
            log.exception("publishing buildsys.%s failed", topic)

    # --- lookups --------------------------------------------------------------------------------------

    def lookup(self, table: str, info: Any, strict: bool = False) -> dict[str, Any] | None:
        """Koji's lookup_name over the users/tags/packages/permissions/build_targets tables."""
        clause, params = _lookup_clause(table, info)
        extra = " AND build_targets.active = 1" if table == "build_targets" else ""
        found = self.store.row(f"SELECT id, name FROM {table} WHERE {clause}{extra}", params)
        if found is None and strict:
            koji_table = {"tags": "tag", "packages": "package", "build_targets": "build_target"}.get(table, table)
            raise koji.GenericError(f"No such entry in table {koji_table}: {info}")
        return found

    def tag_id(self, info: Any, strict: bool = False) -> int | None:
        found = self.lookup("tags", info, strict)
        return found["id"] if found else None

    def tag(self, info: Any, strict: bool = False) -> dict[str, Any] | None:
        clause, params = _lookup_clause("tags", info)
        row = self.store.row(
            "SELECT tags.id, tags.name, tags.perm_id, permissions.name AS perm, tags.arches, tags.locked, "
            f"tags.extra FROM tags LEFT JOIN permissions ON permissions.id = tags.perm_id WHERE {clause}",
            params,
        )
        if row is None:
            if strict:
                raise koji.GenericError(f"No such tagInfo: {info!r}")
            return None
        row["locked"] = bool(row["locked"])
        row["maven_support"] = False
        row["maven_include_all"] = False
        row["extra"] = json.loads(row["extra"])
        return row

    def user(self, info: Any, strict: bool = False) -> dict[str, Any] | None:
        if info is None:
            info = self.caller.user_id
            if info is None:
                raise koji.GenericError("No user provided")
        if isinstance(info, dict):
            key = "id" if "id" in info else "name"
            row = self.store.row(f"SELECT id, name, status, usertype FROM users WHERE {key} = ?", (info.get(key),))
        elif isinstance(info, int) and not isinstance(info, bool):
            row = self.store.row("SELECT id, name, status, usertype FROM users WHERE id = ?", (info,))
        elif isinstance(info, str):
            row = self.store.row("SELECT id, name, status, usertype FROM users WHERE name = ?", (info,))
        else:
            raise koji.GenericError(f"Invalid type for userInfo: {type(info)}")
        if row is None:
            if strict:
                raise koji.GenericError(f"No such user: {info!r}")
            return None
        row["krb_principals"] = []
        return row

    def package(self, info: Any, strict: bool = False) -> dict[str, Any] | None:
        return self.lookup("packages", info, strict)

    BUILD_SQL = (
        "SELECT b.id, b.version, b.release, b.epoch, b.state, b.task_id, b.owner_id, u.name AS owner_name, "
        "p.id AS package_id, p.name AS package_name, b.create_event, e.ts AS creation_ts, b.start_ts, "
        "b.completion_ts, b.source, b.extra FROM builds b JOIN packages p ON p.id = b.pkg_id "
        "JOIN users u ON u.id = b.owner_id JOIN events e ON e.id = b.create_event"
    )

    def build_id(self, info: Any, strict: bool = False) -> int | None:
        """Koji's find_build_id: an int is taken as is; an NVR string or a dict is looked up."""
        if isinstance(info, int) and not isinstance(info, bool):
            return info
        if isinstance(info, str):
            data = koji.parse_NVR(info)
        elif isinstance(info, dict):
            data = info
        else:
            raise koji.GenericError(f"Invalid type for argument: {type(info)!r}")
        if not ("name" in data and "version" in data and "release" in data):
            raise koji.GenericError("did not provide name, version, and release")
        found = self.store.value(
            "SELECT b.id FROM builds b JOIN packages p ON p.id = b.pkg_id "
            "WHERE p.name = ? AND b.version = ? AND b.release = ?",
            (data["name"], data["version"], data["release"]),
        )
        if found is None and strict:
            raise koji.GenericError(f"No such build: {info!r}")
        return found

    def build(self, info: Any, strict: bool = False) -> dict[str, Any] | None:
        build_id = self.build_id(info, strict)
        if build_id is None:
            return None
        row = self.store.row(f"{self.BUILD_SQL} WHERE b.id = ?", (build_id,))
        if row is None:
            if strict:
                raise koji.GenericError(f"No such build: {info}")
            return None
        return self.build_dict(row)

    @staticmethod
    def build_dict(row: dict[str, Any]) -> dict[str, Any]:
        """A builds row (``BUILD_SQL``) in get_build's shape."""
        out = {
            "id": row["id"],
            "build_id": row["id"],
            "version": row["version"],
            "release": row["release"],
            "epoch": row["epoch"],
            "draft": False,
            "state": row["state"],
            "task_id": row["task_id"],
            "owner_id": row["owner_id"],
            "owner_name": row["owner_name"],
            "package_id": row["package_id"],
            "package_name": row["package_name"],
            "name": row["package_name"],
            "nvr": f"{row['package_name']}-{row['version']}-{row['release']}",
            "creation_event_id": row["create_event"],
            "creation_time": ts_str(row["creation_ts"]),
            "creation_ts": row["creation_ts"],
            "start_time": ts_str(row["start_ts"]),
            "start_ts": row["start_ts"],
            "completion_time": ts_str(row["completion_ts"]),
            "completion_ts": row["completion_ts"],
            "promotion_time": None,
            "promotion_ts": None,
            "promoter_id": None,
            "promoter_name": None,
            "cg_id": None,
            "cg_name": None,
            "source": row["source"],
            "extra": json.loads(row["extra"]) if row["extra"] else None,
            **VOLUME,
        }
        return out

    RPM_SQL = (
        "SELECT id, name, version, release, arch, epoch, payloadhash, size, buildtime, build_id, buildroot_id FROM rpms"
    )

    @staticmethod
    def rpm_dict(row: dict[str, Any]) -> dict[str, Any]:
        """An rpms row in get_rpm/list_rpms shape (internal RPMs: external repo 0, INTERNAL)."""
        return {
            **row,
            "nvr": f"{row['name']}-{row['version']}-{row['release']}",
            "draft": False,
            "external_repo_id": 0,
            "external_repo_name": "INTERNAL",
            "metadata_only": False,
            "extra": None,
        }

    def rpm(self, info: Any, strict: bool = False) -> dict[str, Any] | None:
        """Koji's get_rpm: an id (int or digits), an N-V-R.A string, or a dict with name/version/release/arch."""
        if isinstance(info, int) and not isinstance(info, bool):
            data: dict[str, Any] = {"id": info}
        elif isinstance(info, str):
            data = {"id": int(info)} if info.isdigit() else koji.parse_NVRA(info)
        elif isinstance(info, dict):
            data = dict(info)
        else:
            raise koji.GenericError(f"Invalid type for rpminfo: {type(info)!r}")
        if "id" in data:
            row = self.store.row(f"{self.RPM_SQL} WHERE id = ?", (data["id"],))
        else:
            row = self.store.row(
                f"{self.RPM_SQL} WHERE name = ? AND version = ? AND release = ? AND arch = ?",
                (data.get("name"), data.get("version"), data.get("release"), data.get("arch")),
            )
        if row is None:
            if strict:
                raise koji.GenericError(f"No such rpm: {data!r}")
            return None
        out = self.rpm_dict(row)
        del out["nvr"]
        return out

    # --- inheritance and package lists ------------------------------------------------------------------

    def inheritance_data(self, tag_id: int) -> list[dict[str, Any]]:
        rows = self.store.rows(
            "SELECT i.parent_id, t.name, i.priority, i.maxdepth, i.intransitive, i.noconfig, i.pkg_filter "
            "FROM tag_inheritance i JOIN tags t ON t.id = i.parent_id WHERE i.tag_id = ? "
            "ORDER BY i.priority, i.parent_id",
            (tag_id,),
        )
        for row in rows:
            row["intransitive"] = bool(row["intransitive"])
            row["noconfig"] = bool(row["noconfig"])
            row["child_id"] = tag_id
        return rows

    def descendants_data(self, tag_id: int) -> list[dict[str, Any]]:
        rows = self.store.rows(
            "SELECT i.tag_id, i.parent_id, t.name, i.priority, i.maxdepth, i.intransitive, i.noconfig, "
            "i.pkg_filter FROM tag_inheritance i JOIN tags t ON t.id = i.tag_id WHERE i.parent_id = ? "
            "ORDER BY i.priority, i.tag_id",
            (tag_id,),
        )
        for row in rows:
            row["intransitive"] = bool(row["intransitive"])
            row["noconfig"] = bool(row["noconfig"])
        return rows

    def full_inheritance(self, tag_id: int, reverse: bool = False) -> list[dict[str, Any]]:
        """Koji's readFullInheritance: the ordered ancestors (or descendants), depth-first by priority."""
        order: list[dict[str, Any]] = []
        self._walk(tag_id, order, {tag_id}, set(), 0, None, reverse)
        return order

    def _walk(
        self,
        tag_id: int,
        order: list[dict[str, Any]],
        top: set[int],
        seen: set[int],
        depth: int,
        maxdepth: int | None,
        reverse: bool,
    ) -> None:
        if maxdepth is not None and maxdepth < 1:
            return
        depth += 1
        links = self.descendants_data(tag_id) if reverse else self.inheritance_data(tag_id)
        for link in links:
            other = link["tag_id"] if reverse else link["parent_id"]
            if other in top or other in seen:
                continue
            if link["intransitive"] and len(top) > 1 and not reverse:
                continue
            nextdepth = link["maxdepth"]
            if nextdepth is None:
                nextdepth = None if maxdepth is None else maxdepth - 1
            elif maxdepth is not None:
                nextdepth = min(nextdepth, maxdepth) - 1
            link["nextdepth"] = nextdepth
            link["currdepth"] = depth
            link["filter"] = [link["pkg_filter"]] if link["pkg_filter"] else []
            seen.add(other)
            order.append(link)
            self._walk(other, order, top | {other}, seen, depth, nextdepth, reverse)

    def package_list(self, tag_id: int, pkg_id: int | None = None) -> dict[int, dict[str, Any]]:
        """Koji's readPackageList(inherit=True): package id → its entry, the nearest tag's entry winning."""
        chain = [tag_id] + [link["parent_id"] for link in self.full_inheritance(tag_id)]
        found: dict[int, dict[str, Any]] = {}
        for tid in chain:
            sql = (
                "SELECT tp.package_id, p.name AS package_name, tp.tag_id, t.name AS tag_name, tp.owner_id, "
                "u.name AS owner_name, tp.blocked, tp.extra_arches FROM tag_packages tp "
                "JOIN packages p ON p.id = tp.package_id JOIN tags t ON t.id = tp.tag_id "
                "LEFT JOIN users u ON u.id = tp.owner_id WHERE tp.tag_id = ?"
            )
            params: tuple[Any, ...] = (tid,)
            if pkg_id is not None:
                sql += " AND tp.package_id = ?"
                params = (tid, pkg_id)
            for row in self.store.rows(sql, params):
                row["blocked"] = bool(row["blocked"])
                found.setdefault(row["package_id"], row)
        return found

    def assert_tag_access(self, tag_id: int, caller: Caller, force: bool = False) -> None:
        """Koji's assert_tag_access: a locked tag or a missing tag permission is ActionNotAllowed."""
        if caller.user_id is None:
            raise koji.GenericError("a user_id is required")
        tag = self.tag(tag_id, strict=True)
        assert tag is not None
        override = caller.has_perm("admin")
        reason = ""
        if tag["locked"]:
            reason = "tag is locked"
        elif tag["perm_id"] and not caller.has_perm(tag["perm"]):
            reason = f"tag requires {tag['perm']} permission"
        if reason and not (override and force):
            raise koji.ActionNotAllowed(reason)
