"""ResultsDB's data model in SQLite: results with key/value data, testcases, groups.

The sandbox ResultsDB (:mod:`relengotron_sandbox.resultsdb`) keeps its state here, under the service's
directory, so results survive a restart of the sandbox. The semantics follow ResultsDB 2.0: a result
belongs to one testcase and to any number of groups; its ``data`` is a multi-valued key/value store
(``{"arch": ["x86_64", "noarch"]}``) that searches filter on; a testcase or group named by a result that
does not exist yet is created on the fly. Records come back as plain dicts; turning them into API JSON
(with ``href`` links) is the HTTP layer's job.
"""

from __future__ import annotations

import sqlite3
import threading
import uuid as uuidlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

OUTCOMES = ("PASSED", "FAILED", "INFO", "NEEDS_INSPECTION")
# The data keys the legacy Taskotron message compares to find "the previous result" of the same thing.
TASKOTRON_KEYS = ("item", "type", "arch")
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%f"  # stored form: fixed width, so string order is time order

_SCHEMA = """
CREATE TABLE IF NOT EXISTS testcase (
    name TEXT PRIMARY KEY,
    ref_url TEXT
);
CREATE TABLE IF NOT EXISTS grp (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    description TEXT,
    ref_url TEXT
);
CREATE TABLE IF NOT EXISTS result (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    testcase_name TEXT NOT NULL REFERENCES testcase(name),
    outcome TEXT NOT NULL,
    note TEXT,
    ref_url TEXT,
    submit_time TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS result_testcase ON result(testcase_name);
CREATE INDEX IF NOT EXISTS result_time ON result(submit_time);
CREATE TABLE IF NOT EXISTS result_data (
    result_id INTEGER NOT NULL REFERENCES result(id),
    key TEXT NOT NULL,
    value TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS result_data_kv ON result_data(key, value);
CREATE INDEX IF NOT EXISTS result_data_result ON result_data(result_id);
CREATE TABLE IF NOT EXISTS result_group (
    result_id INTEGER NOT NULL REFERENCES result(id),
    group_id INTEGER NOT NULL REFERENCES grp(id),
    PRIMARY KEY (result_id, group_id)
);
"""


def format_time(moment: datetime) -> str:
    return moment.strftime(_TIME_FORMAT)


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, _TIME_FORMAT)


def like_pattern(text: str) -> str:
    """ResultsDB's ``:like`` filters use ``*`` as the wildcard; SQL's is ``%``."""
    return text.replace("*", "%")


@dataclass(frozen=True)
class DataFilter:
    """One ``key=v1,v2`` (any value equal) or ``key:like=pat1,pat2`` (any pattern matching) condition."""

    key: str
    values: tuple[str, ...]
    like: bool = False


@dataclass
class ResultFilter:
    """The conditions of a results search; every given condition must hold (AND)."""

    since_start: datetime | None = None
    since_end: datetime | None = None
    outcomes: Sequence[str] = ()
    groups: Sequence[str] = ()
    testcases: Sequence[str] = ()
    testcases_like: Sequence[str] = ()
    data: list[DataFilter] = field(default_factory=list)

    def is_empty(self) -> bool:
        return not (
            self.since_start
            or self.since_end
            or self.outcomes
            or self.groups
            or self.testcases
            or self.testcases_like
            or self.data
        )

    def where(self) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if self.since_start is not None:
            clauses.append("r.submit_time >= ?")
            params.append(format_time(self.since_start))
        if self.since_end is not None:
            clauses.append("r.submit_time <= ?")
            params.append(format_time(self.since_end))
        if self.outcomes:
            clauses.append(f"r.outcome IN ({_marks(self.outcomes)})")
            params.extend(self.outcomes)
        if self.groups:
            clauses.append(
                "EXISTS (SELECT 1 FROM result_group rg JOIN grp g ON g.id = rg.group_id"
                f" WHERE rg.result_id = r.id AND g.uuid IN ({_marks(self.groups)}))"
            )
            params.extend(self.groups)
        testcase_terms: list[str] = []
        if self.testcases:
            testcase_terms.append(f"r.testcase_name IN ({_marks(self.testcases)})")
            params.extend(self.testcases)
        for pattern in self.testcases_like:
            testcase_terms.append("r.testcase_name LIKE ?")
            params.append(like_pattern(pattern))
        if testcase_terms:
            clauses.append("(" + " OR ".join(testcase_terms) + ")")
        for cond in self.data:
            if cond.like:
                match = " OR ".join("d.value LIKE ?" for _ in cond.values)
                params.append(cond.key)
                params.extend(like_pattern(v) for v in cond.values)
            else:
                match = f"d.value IN ({_marks(cond.values)})"
                params.append(cond.key)
                params.extend(cond.values)
            clauses.append(f"EXISTS (SELECT 1 FROM result_data d WHERE d.result_id = r.id AND d.key = ? AND ({match}))")
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def _marks(values: Sequence[Any]) -> str:
    return ",".join("?" for _ in values)


class ResultsStore:
    """Thread-safe access to one ResultsDB SQLite file (one connection, serialized by a lock)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        # ResultsDB runs on PostgreSQL, where LIKE is case-sensitive; SQLite's is not unless told.
        self._conn.execute("PRAGMA case_sensitive_like=ON")
        self._conn.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """One write transaction, serialized with every other access; rolled back on error."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    # ---------------------------------------------------------------- testcases

    def upsert_testcase(self, name: str, ref_url: str | None = None) -> dict[str, Any]:
        """Create the testcase, or update its ``ref_url`` when one is given. Idempotent."""
        with self._transaction():
            self._upsert_testcase(name, ref_url)
            return self._testcase(name)  # type: ignore[return-value]

    def _upsert_testcase(self, name: str, ref_url: str | None) -> None:
        self._conn.execute("INSERT OR IGNORE INTO testcase (name) VALUES (?)", (name,))
        if ref_url is not None:
            self._conn.execute("UPDATE testcase SET ref_url = ? WHERE name = ?", (ref_url, name))

    def _testcase(self, name: str) -> dict[str, Any] | None:
        row = self._conn.execute("SELECT name, ref_url FROM testcase WHERE name = ?", (name,)).fetchone()
        return dict(row) if row else None

    def get_testcase(self, name: str) -> dict[str, Any] | None:
        with self._lock:
            return self._testcase(name)

    def list_testcases(
        self, names: Sequence[str], names_like: Sequence[str], offset: int, limit: int
    ) -> list[dict[str, Any]]:
        """Testcases by name (ascending); ``names`` or else ``names_like`` narrow the list (OR)."""
        terms: list[str] = []
        params: list[Any] = []
        if names:
            terms.extend("name = ?" for _ in names)
            params.extend(names)
        elif names_like:
            terms.extend("name LIKE ?" for _ in names_like)
            params.extend(like_pattern(n) for n in names_like)
        where = (" WHERE " + " OR ".join(terms)) if terms else ""
        with self._lock:
            rows = self._conn.execute(
                f"SELECT name, ref_url FROM testcase{where} ORDER BY name ASC LIMIT ? OFFSET ?",
                [*params, limit, offset],
            ).fetchall()
        return [dict(r) for r in rows]

    # ---------------------------------------------------------------- groups

    def upsert_group(
        self, uuid: str | None, description: str | None = None, ref_url: str | None = None
    ) -> dict[str, Any]:
        """Create a group (a fresh UUID1 when ``uuid`` is None) or update the given fields of an existing one.

        Idempotent for a given ``uuid``; without one, each call creates a new group.
        """
        with self._transaction():
            uid = self._upsert_group(uuid or str(uuidlib.uuid1()), description, ref_url)
            return self._group(uid)  # type: ignore[return-value]

    def _upsert_group(self, uuid: str, description: str | None, ref_url: str | None) -> str:
        self._conn.execute("INSERT OR IGNORE INTO grp (uuid) VALUES (?)", (uuid,))
        if description:
            self._conn.execute("UPDATE grp SET description = ? WHERE uuid = ?", (description, uuid))
        if ref_url:
            self._conn.execute("UPDATE grp SET ref_url = ? WHERE uuid = ?", (ref_url, uuid))
        return uuid

    def _group(self, uuid: str) -> dict[str, Any] | None:
        row = self._conn.execute(
            "SELECT g.uuid, g.description, g.ref_url,"
            " (SELECT COUNT(*) FROM result_group rg WHERE rg.group_id = g.id) AS results_count"
            " FROM grp g WHERE g.uuid = ?",
            (uuid,),
        ).fetchone()
        return dict(row) if row else None

    def get_group(self, uuid: str) -> dict[str, Any] | None:
        with self._lock:
            return self._group(uuid)

    def list_groups(
        self,
        uuids: Sequence[str],
        descriptions: Sequence[str],
        descriptions_like: Sequence[str],
        offset: int,
        limit: int,
    ) -> list[dict[str, Any]]:
        """Groups, newest first; ``descriptions`` (or else ``descriptions_like``) and ``uuids`` narrow the list."""
        clauses: list[str] = []
        params: list[Any] = []
        if descriptions:
            clauses.append("(" + " OR ".join("g.description = ?" for _ in descriptions) + ")")
            params.extend(descriptions)
        elif descriptions_like:
            clauses.append("(" + " OR ".join("g.description LIKE ?" for _ in descriptions_like) + ")")
            params.extend(like_pattern(d) for d in descriptions_like)
        if uuids:
            clauses.append(f"g.uuid IN ({_marks(uuids)})")
            params.extend(uuids)
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        with self._lock:
            rows = self._conn.execute(
                "SELECT g.uuid, g.description, g.ref_url,"
                " (SELECT COUNT(*) FROM result_group rg WHERE rg.group_id = g.id) AS results_count"
                f" FROM grp g{where} ORDER BY g.id DESC LIMIT ? OFFSET ?",
                [*params, limit, offset],
            ).fetchall()
        return [dict(r) for r in rows]

    # ---------------------------------------------------------------- results

    def create_result(
        self,
        *,
        testcase: dict[str, Any],
        outcome: str,
        groups: Iterable[dict[str, Any]],
        note: str | None,
        ref_url: str | None,
        data: Iterable[tuple[str, str]],
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """Store a new result; return it and the previous result of the same item/type/arch and testcase.

        Not idempotent: each call is a new result (as in ResultsDB). The testcase and groups named are
        created or updated as ResultsDB does (objects update the attributes they carry).
        """
        now = format_time(datetime.now(UTC).replace(tzinfo=None))
        with self._transaction():
            self._upsert_testcase(testcase["name"], testcase.get("ref_url"))
            group_uuids = [
                self._upsert_group(g.get("uuid") or str(uuidlib.uuid1()), g.get("description"), g.get("ref_url"))
                for g in groups
            ]
            cur = self._conn.execute(
                "INSERT INTO result (testcase_name, outcome, note, ref_url, submit_time) VALUES (?, ?, ?, ?, ?)",
                (testcase["name"], outcome, note, ref_url, now),
            )
            result_id = int(cur.lastrowid or 0)
            self._conn.executemany(
                "INSERT INTO result_data (result_id, key, value) VALUES (?, ?, ?)",
                [(result_id, k, v) for k, v in data],
            )
            for uid in dict.fromkeys(group_uuids):
                self._conn.execute(
                    "INSERT OR IGNORE INTO result_group (result_id, group_id) SELECT ?, id FROM grp WHERE uuid = ?",
                    (result_id, uid),
                )
            result = self._hydrate([result_id])[0]
            return result, self._previous(result)

    def _previous(self, result: dict[str, Any]) -> dict[str, Any] | None:
        """The newest other result of the same testcase whose item/type/arch values include this one's."""
        conds = [DataFilter(key, (value,)) for key in TASKOTRON_KEYS for value in result["data"].get(key, [])]
        filt = ResultFilter(testcases=[result["testcase"]["name"]], data=conds)
        where, params = filt.where()
        row = self._conn.execute(
            f"SELECT r.id FROM result r{where} AND r.id != ? ORDER BY r.submit_time DESC, r.id DESC LIMIT 1",
            [*params, result["id"]],
        ).fetchone()
        return self._hydrate([row["id"]])[0] if row else None

    def get_result(self, result_id: int) -> dict[str, Any] | None:
        with self._lock:
            found = self._hydrate([result_id])
        return found[0] if found else None

    def select_results(
        self, filt: ResultFilter, *, ascending: bool = False, offset: int = 0, limit: int = 20
    ) -> list[dict[str, Any]]:
        """Results matching ``filt``, by submit time (newest first unless ``ascending``)."""
        where, params = filt.where()
        order = "ASC" if ascending else "DESC"
        with self._lock:
            ids = [
                r["id"]
                for r in self._conn.execute(
                    f"SELECT r.id FROM result r{where} ORDER BY r.submit_time {order}, r.id {order} LIMIT ? OFFSET ?",
                    [*params, limit, offset],
                )
            ]
            return self._hydrate(ids)

    def latest_results(self, filt: ResultFilter, distinct_on: Sequence[str] = ()) -> list[dict[str, Any]]:
        """The newest matching result per testcase (and per value of each ``distinct_on`` data key)."""
        where, params = filt.where()
        with self._lock:
            rows = self._conn.execute(
                f"SELECT r.id, r.testcase_name FROM result r{where} ORDER BY r.submit_time DESC, r.id DESC",
                params,
            ).fetchall()
            keyvals: dict[int, dict[str, list[str]]] = {}
            if distinct_on and rows:
                for chunk in _chunks([r["id"] for r in rows], 500):
                    for d in self._conn.execute(
                        f"SELECT result_id, key, value FROM result_data WHERE result_id IN ({_marks(chunk)})"
                        f" AND key IN ({_marks(distinct_on)})",
                        [*chunk, *distinct_on],
                    ):
                        keyvals.setdefault(d["result_id"], {}).setdefault(d["key"], []).append(d["value"])
            seen: set[tuple[Any, ...]] = set()
            chosen: list[int] = []
            for row in rows:
                values = keyvals.get(row["id"], {})
                identity = (row["testcase_name"], *(tuple(sorted(values.get(k, []))) for k in distinct_on))
                if identity not in seen:
                    seen.add(identity)
                    chosen.append(row["id"])
            return self._hydrate(chosen)

    def _hydrate(self, ids: Sequence[int]) -> list[dict[str, Any]]:
        """Full records for ``ids``, in the given order (unknown ids are skipped)."""
        if not ids:
            return []
        records: dict[int, dict[str, Any]] = {}
        for chunk in _chunks(list(ids), 500):
            marks = _marks(chunk)
            for row in self._conn.execute(
                "SELECT r.id, r.outcome, r.note, r.ref_url, r.submit_time, t.name, t.ref_url AS tc_ref_url"
                f" FROM result r JOIN testcase t ON t.name = r.testcase_name WHERE r.id IN ({marks})",
                chunk,
            ):
                records[row["id"]] = {
                    "id": row["id"],
                    "testcase": {"name": row["name"], "ref_url": row["tc_ref_url"]},
                    "outcome": row["outcome"],
                    "note": row["note"],
                    "ref_url": row["ref_url"],
                    "submit_time": parse_time(row["submit_time"]),
                    "groups": [],
                    "data": {},
                }
            for row in self._conn.execute(
                f"SELECT result_id, key, value FROM result_data WHERE result_id IN ({marks}) ORDER BY rowid", chunk
            ):
                records[row["result_id"]]["data"].setdefault(row["key"], []).append(row["value"])
            for row in self._conn.execute(
                "SELECT rg.result_id, g.uuid FROM result_group rg JOIN grp g ON g.id = rg.group_id"
                f" WHERE rg.result_id IN ({marks}) ORDER BY g.id",
                chunk,
            ):
                records[row["result_id"]]["groups"].append(row["uuid"])
        return [records[i] for i in ids if i in records]


def _chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
