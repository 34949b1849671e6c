"""The sandbox Koji hub's state: one SQLite file, one lock, and Koji-like events.

Every hub call runs inside :meth:`Store.transaction` (nested calls join the outer one), so the threaded HTTP
server and the task threads never see half-made changes. Koji versions its listings with events: each
transaction that changes something gets one event id (:meth:`Store.event`), as on the real hub. Work that
must only happen once the change is durable (publishing bus messages, starting task threads) is queued
with :meth:`Store.after_commit` and runs after the commit, outside the lock.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, ts REAL NOT NULL);
CREATE TABLE IF NOT EXISTS permissions (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL, description TEXT);
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL, status INTEGER NOT NULL, usertype INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS user_perms (user_id INTEGER, perm_id INTEGER, PRIMARY KEY (user_id, perm_id));
CREATE TABLE IF NOT EXISTS sessions (
    id INTEGER PRIMARY KEY, key TEXT NOT NULL, user_id INTEGER NOT NULL, authtype INTEGER,
    closed INTEGER NOT NULL DEFAULT 0, start_ts REAL);
CREATE TABLE IF NOT EXISTS tags (
    id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL, arches TEXT, locked INTEGER NOT NULL DEFAULT 0,
    perm_id INTEGER, extra TEXT NOT NULL DEFAULT '{}');
CREATE TABLE IF NOT EXISTS tag_inheritance (
    tag_id INTEGER, parent_id INTEGER, priority INTEGER NOT NULL, maxdepth INTEGER,
    intransitive INTEGER NOT NULL DEFAULT 0, noconfig INTEGER NOT NULL DEFAULT 0,
    pkg_filter TEXT NOT NULL DEFAULT '', PRIMARY KEY (tag_id, parent_id));
CREATE TABLE IF NOT EXISTS build_targets (
    id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL, build_tag INTEGER, dest_tag INTEGER,
    active INTEGER NOT NULL DEFAULT 1);
CREATE TABLE IF NOT EXISTS packages (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL);
CREATE TABLE IF NOT EXISTS tag_packages (
    tag_id INTEGER, package_id INTEGER, owner_id INTEGER, blocked INTEGER NOT NULL DEFAULT 0,
    extra_arches TEXT, PRIMARY KEY (tag_id, package_id));
CREATE TABLE IF NOT EXISTS builds (
    id INTEGER PRIMARY KEY, pkg_id INTEGER NOT NULL, version TEXT NOT NULL, release TEXT NOT NULL,
    epoch INTEGER, state INTEGER NOT NULL, owner_id INTEGER NOT NULL, task_id INTEGER,
    create_event INTEGER NOT NULL, start_ts REAL, completion_ts REAL, source TEXT, extra TEXT,
    UNIQUE (pkg_id, version, release));
CREATE TABLE IF NOT EXISTS rpms (
    id INTEGER PRIMARY KEY, build_id INTEGER NOT NULL, name TEXT NOT NULL, version TEXT NOT NULL,
    release TEXT NOT NULL, epoch INTEGER, arch TEXT NOT NULL, payloadhash TEXT NOT NULL, size INTEGER,
    buildtime INTEGER, buildroot_id INTEGER, UNIQUE (name, version, release, arch));
CREATE TABLE IF NOT EXISTS rpmsigs (rpm_id INTEGER, sigkey TEXT, sighash TEXT, PRIMARY KEY (rpm_id, sigkey));
CREATE TABLE IF NOT EXISTS tag_listing (
    id INTEGER PRIMARY KEY, tag_id INTEGER NOT NULL, build_id INTEGER NOT NULL,
    create_event INTEGER NOT NULL, revoke_event INTEGER, creator_id INTEGER, revoker_id INTEGER, active INTEGER);
CREATE INDEX IF NOT EXISTS tag_listing_tag ON tag_listing (tag_id, active);
CREATE INDEX IF NOT EXISTS tag_listing_build ON tag_listing (build_id, active);
CREATE TABLE IF NOT EXISTS tasks (
    id INTEGER PRIMARY KEY, state INTEGER NOT NULL, create_ts REAL, start_ts REAL, completion_ts REAL,
    parent INTEGER, label TEXT, waiting INTEGER, awaited INTEGER, owner INTEGER, method TEXT NOT NULL,
    arch TEXT, priority INTEGER, weight REAL, channel_id INTEGER, request TEXT, result TEXT);
CREATE TABLE IF NOT EXISTS archivetypes (
    id INTEGER PRIMARY KEY, name TEXT UNIQUE, description TEXT, extensions TEXT, compression_type TEXT);
CREATE TABLE IF NOT EXISTS archives (
    id INTEGER PRIMARY KEY, build_id INTEGER NOT NULL, type_id INTEGER NOT NULL, btype TEXT NOT NULL,
    filename TEXT NOT NULL, size INTEGER, checksum TEXT, checksum_type INTEGER, arch TEXT, extra TEXT);
CREATE TABLE IF NOT EXISTS archive_rpm_components (
    archive_id INTEGER, rpm_id INTEGER, PRIMARY KEY (archive_id, rpm_id));
CREATE TABLE IF NOT EXISTS image_builds (build_id INTEGER PRIMARY KEY);
CREATE TABLE IF NOT EXISTS repos (
    id INTEGER PRIMARY KEY, tag_id INTEGER NOT NULL, create_event INTEGER NOT NULL, state INTEGER NOT NULL,
    dist INTEGER NOT NULL);
"""


def ts_str(ts: float | None) -> str | None:
    """Koji's text form of a timestamp (what the real hub sends for *_time fields)."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(" ")


class Store:
    """An SQLite database shared by every hub thread, guarded by one re-entrant lock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.RLock()
        self.db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(SCHEMA)
        self._depth = 0
        self._event: int | None = None
        self._after: list[Callable[[], None]] = []

    def close(self) -> None:
        with self.lock:
            self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[Store]:
        """Run a block atomically; an exception rolls it back and drops its after-commit work."""
        after: list[Callable[[], None]] = []
        with self.lock:
            outer = self._depth == 0
            self._depth += 1
            try:
                if outer:
                    self.db.execute("BEGIN IMMEDIATE")
                yield self
                if outer:
                    self.db.execute("COMMIT")
                    after, self._after = self._after, []
            except BaseException:
                if outer:
                    self.db.execute("ROLLBACK")
                    self._after = []
                raise
            finally:
                self._depth -= 1
                if outer:
                    self._event = None
        for work in after:
            try:
                work()
            except Exception:  # one failing hook must not hide the others; the change is committed
                log.exception("after-commit work failed")

    def after_commit(self, work: Callable[[], None]) -> None:
        """Queue ``work`` to run once the current transaction commits (dropped on rollback)."""
        assert self._depth > 0, "after_commit outside a transaction"
        self._after.append(work)

    def event(self) -> int:
        """The event id of the current transaction, created on first use (one event per change)."""
        assert self._depth > 0, "event outside a transaction"
        if self._event is None:
            self._event = self.execute("INSERT INTO events (ts) VALUES (?)", (time.time(),)).lastrowid
        return self._event

    def execute(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> sqlite3.Cursor:
        return self.db.execute(sql, params)

    def rows(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> list[dict[str, Any]]:
        return [dict(row) for row in self.db.execute(sql, params)]

    def row(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> dict[str, Any] | None:
        found = self.db.execute(sql, params).fetchone()
        return dict(found) if found is not None else None

    def value(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> Any:
        found = self.db.execute(sql, params).fetchone()
        return found[0] if found is not None else None

    def get_meta(self, key: str) -> str | None:
        return self.value("SELECT value FROM meta WHERE key = ?", (key,))

    def set_meta(self, key: str, value: str) -> None:
        self.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))


def apply_query_opts(rows: list[dict[str, Any]], opts: dict[str, Any] | None) -> Any:
    """Koji's queryOpts on an already-built list: order ('-' for descending), offset, limit, countOnly."""
    if not opts:
        return rows
    order = opts.get("order")
    if order:
        for key in reversed(str(order).split(",")):
            key = key.strip()
            desc = key.startswith("-")
            name = key.lstrip("-")
            rows = sorted(rows, key=lambda r, n=name: (r.get(n) is None, r.get(n)), reverse=desc)
    offset = opts.get("offset")
    if offset:
        rows = rows[int(offset) :]
    limit = opts.get("limit")
    if limit is not None:
        rows = rows[: int(limit)]
    if opts.get("countOnly"):
        return len(rows)
    return rows
