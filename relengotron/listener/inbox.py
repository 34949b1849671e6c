"""The durable inbox: every routed message is committed here before anything is done with it.

One SQLite file in WAL mode (``synchronous=FULL`` by default: a commit survives kill -9 and power loss). Each
thread has its own connection; every change is one ``BEGIN IMMEDIATE`` transaction, so a message, its routes
and its publisher's sequence number are stored together or not at all.

* ``messages`` — one row per msg_id (the dedupe key), in arrival order (``seq``); ``pending`` until every DAG
  run it was routed to is acknowledged by Airflow (200 or 409), then ``done`` — or ``dead`` if a route failed.
* ``units`` — one DAG run to create: ``ready`` for a single rule; ``open`` while a batch's window collects
  messages, ``ready`` once it closes (conf rendered then), then ``done`` or ``dead``. The dag_run_id is fixed
  when the unit is created, so a retry after a crash asks Airflow for the same run.
* ``deliveries`` — which messages (and batch items) a unit carries.
* ``dropped`` — the msg_ids of messages no rule routes (nothing else of them is kept), so that a replay
  counts them once.
* ``dead_letters`` — input that was not a message (``invalid``), messages the rules could not route
  (``route``), runs Airflow refused (``airflow``); each with its reason, until retried.
* ``publishers`` — the last sequence number ``i`` seen live from each publisher; ``marks`` — the newest
  message timestamp seen live (where a replay after a restart starts).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from relengotron.listener.records import (
    DEAD,
    DONE,
    OPEN,
    READY,
    SCHEMA,
    SYNCHRONOUS,
    InboxError,
    Stored,
    Unit,
    unit_from_row,
)
from relengotron.listener.rules import Routing, batch_run_id
from relengotron.listener.validate import Envelope, Rejected


class Inbox:
    """The listener's durable state. Thread-safe: one SQLite connection per thread."""

    def __init__(self, path: str | Path, *, synchronous: str = "FULL") -> None:
        if synchronous not in SYNCHRONOUS:
            raise InboxError(f"synchronous must be one of {', '.join(SYNCHRONOUS)}, not {synchronous!r}")
        self.path = Path(path)
        self.synchronous = synchronous
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._reader: sqlite3.Connection | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = self._conn()
            mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise InboxError(f"{self.path}: WAL mode refused (journal mode is {mode})")
            db.executescript(SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            raise InboxError(f"{self.path}: cannot open the inbox: {exc}") from exc

    # ------------------------------------------------------------------ connections

    def _conn(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            # each connection is used by its own thread only; close() may run in another once they ended
            db = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
            db.row_factory = sqlite3.Row
            db.execute(f"PRAGMA synchronous={self.synchronous}")
            self._local.db = db
            with self._lock:
                self._all.append(db)
        return db

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        db = self._conn()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:  # a failed COMMIT (disk full) leaves it open
                db.execute("ROLLBACK")
            raise

    def close(self) -> None:
        with self._lock:
            for db in self._all:
                db.close()
            self._all.clear()
            self._reader = None
        self._local = threading.local()

    def writable(self) -> str | None:
        """None if a write transaction can be taken now (for /healthz), else why not."""
        try:
            probe = sqlite3.connect(self.path, timeout=2, isolation_level=None)
            try:
                probe.execute("BEGIN IMMEDIATE")
                probe.execute("ROLLBACK")
            finally:
                probe.close()
        except sqlite3.Error as exc:
            return f"inbox not writable: {exc}"
        return None

    # ------------------------------------------------------------------ receiving

    def known(self, msg_id: str) -> bool:
        """Whether ``msg_id`` was stored or dropped before."""
        db = self._conn()
        return bool(
            db.execute("SELECT 1 FROM messages WHERE msg_id = ?", (msg_id,)).fetchone()
            or db.execute("SELECT 1 FROM dropped WHERE msg_id = ?", (msg_id,)).fetchone()
        )

    def store(self, envelope: Envelope, routing: Routing, *, source: str, now: float | None = None) -> Stored:
        """Commit ``envelope`` with its routes (units created or batches joined) and dead letters, in one
        transaction; a message no rule routes is only remembered by msg_id (``unrouted``). Idempotent by msg_id:
        a message already stored or dropped is a ``duplicate`` and changes nothing.
        Live (``source == "bus"``) messages also advance their publisher's sequence number and the live mark."""
        now = time.time() if now is None else now
        with self._write() as db:
            previous = None
            if source == "bus":
                previous = self._observe(db, envelope, now)
            if db.execute("SELECT 1 FROM messages WHERE msg_id = ?", (envelope.msg_id,)).fetchone():
                return Stored("duplicate", None, *(previous or (None, None)))
            if routing.unrouted:
                cur = db.execute(
                    "INSERT OR IGNORE INTO dropped (msg_id, topic, received_at) VALUES (?, ?, ?)",
                    (envelope.msg_id, envelope.topic, now),
                )
                return Stored("unrouted" if cur.rowcount else "duplicate", None, *(previous or (None, None)))
            state = "pending" if routing.routes else DEAD
            seq = db.execute(
                "INSERT INTO messages (msg_id, topic, publisher, i, sent_at, received_at, source, envelope, state)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    envelope.msg_id,
                    envelope.topic,
                    envelope.publisher,
                    envelope.i,
                    envelope.timestamp,
                    now,
                    source,
                    envelope.json(),
                    state,
                ),
            ).lastrowid
            self._add_routes(db, seq, routing, now)
            for problem in routing.problems:
                self._dead_letter(db, "route", problem, msg_id=envelope.msg_id, seq=seq, topic=envelope.topic)
        return Stored("stored", seq, *(previous or (None, None)), dead_letters=len(routing.problems))

    def _add_routes(self, db: sqlite3.Connection, seq: int, routing: Routing, now: float) -> None:
        for route in routing.routes:
            if route.batch_key is None:
                unit_id = db.execute(
                    "INSERT INTO units (rule, dag_id, dag_run_id, conf, state, first_received, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (route.rule, route.dag_id, route.dag_run_id, json.dumps(route.conf), READY, now, now),
                ).lastrowid
            else:
                row = db.execute(
                    "SELECT id FROM units WHERE rule = ? AND batch_key = ? AND state = ? AND window_end > ?"
                    " ORDER BY id DESC LIMIT 1",
                    (route.rule, route.batch_key, OPEN, now),
                ).fetchone()
                if row is not None and self._full(db, row["id"], route):
                    # the window holds as many distinct items as a run may carry: close it now (the dispatcher
                    # makes it a run at its next pass) and open the next one for this item
                    db.execute("UPDATE units SET window_end = ? WHERE id = ?", (now, row["id"]))
                    row = None
                if row is not None:
                    unit_id = row["id"]
                else:
                    assert route.window_seconds is not None
                    unit_id = db.execute(
                        "INSERT INTO units (rule, dag_id, dag_run_id, batch_key, window_start, window_end, state,"
                        " first_received, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            route.rule,
                            route.dag_id,
                            batch_run_id(route.rule, route.batch_key, now),
                            route.batch_key,
                            now,
                            now + route.window_seconds,
                            OPEN,
                            now,
                            now,
                        ),
                    ).lastrowid
            db.execute(
                "INSERT OR IGNORE INTO deliveries (unit_id, seq, item) VALUES (?, ?, ?)",
                (unit_id, seq, json.dumps(route.item) if route.batch_key is not None else None),
            )

    @staticmethod
    def _full(db: sqlite3.Connection, unit_id: int, route: Any) -> bool:
        """Whether batch ``unit_id`` cannot take ``route``'s item: it is new to the batch and the batch already
        holds ``route.max_items`` distinct items (an item it holds already always joins)."""
        if route.max_items is None:
            return False
        item = json.dumps(route.item)
        if db.execute("SELECT 1 FROM deliveries WHERE unit_id = ? AND item = ? LIMIT 1", (unit_id, item)).fetchone():
            return False
        count = db.execute("SELECT COUNT(DISTINCT item) FROM deliveries WHERE unit_id = ?", (unit_id,)).fetchone()[0]
        return int(count) >= route.max_items

    def _observe(self, db: sqlite3.Connection, envelope: Envelope, now: float) -> tuple[int | None, float | None]:
        """Record ``envelope`` as its publisher's latest; return the previous (i, timestamp)."""
        db.execute(
            "INSERT INTO marks (name, value) VALUES ('live', ?)"
            " ON CONFLICT (name) DO UPDATE SET value = max(value, excluded.value)",
            (envelope.timestamp,),
        )
        row = db.execute("SELECT last_i, last_sent_at FROM publishers WHERE name = ?", (envelope.publisher,)).fetchone()
        db.execute(
            "INSERT INTO publishers (name, last_i, last_msg_id, last_topic, last_sent_at, last_received_at)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET last_i = excluded.last_i,"
            " last_msg_id = excluded.last_msg_id, last_topic = excluded.last_topic,"
            " last_sent_at = excluded.last_sent_at, last_received_at = excluded.last_received_at",
            (envelope.publisher, envelope.i, envelope.msg_id, envelope.topic, envelope.timestamp, now),
        )
        return (row["last_i"], row["last_sent_at"]) if row else (None, None)

    def reject(self, rejected: Rejected, *, source: str, now: float | None = None) -> bool:
        """Keep ``rejected`` as an ``invalid`` dead letter; False if this very input was already kept."""
        with self._write() as db:
            return self._dead_letter(
                db,
                "invalid",
                rejected.reason,
                dedupe=rejected.dedupe,
                msg_id=rejected.msg_id,
                topic=rejected.topic,
                raw=rejected.raw,
                source=source,
                now=now,
            )

    def _dead_letter(
        self,
        db: sqlite3.Connection,
        kind: str,
        reason: str,
        *,
        dedupe: str | None = None,
        msg_id: str | None = None,
        seq: int | None = None,
        unit_id: int | None = None,
        topic: str | None = None,
        raw: bytes | None = None,
        source: str | None = None,
        now: float | None = None,
    ) -> bool:
        cur = db.execute(
            "INSERT OR IGNORE INTO dead_letters (kind, dedupe, msg_id, seq, unit_id, topic, reason, raw, source,"
            " created_at, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'dead')",
            (
                kind,
                dedupe,
                msg_id,
                seq,
                unit_id,
                topic,
                reason[:4000],
                raw,
                source,
                time.time() if now is None else now,
            ),
        )
        return cur.rowcount == 1

    # ------------------------------------------------------------------ dispatching

    def close_due_batches(
        self, conf_of: Callable[[str, str, list[Any], float, float], dict[str, Any]], now: float | None = None
    ) -> list[tuple[Unit, str | None]]:
        """Close every batch whose window has ended: render its conf (``conf_of(rule, key, items, start, end)``)
        and make it ``ready``, or dead-letter it with the rendering error. Returns (unit, error) per batch."""
        now = time.time() if now is None else now
        closed: list[tuple[Unit, str | None]] = []
        with self._write() as db:
            rows = db.execute(
                "SELECT * FROM units WHERE state = ? AND window_end <= ? ORDER BY id", (OPEN, now)
            ).fetchall()
            for row in rows:
                items = [
                    json.loads(r["item"])
                    for r in db.execute("SELECT item FROM deliveries WHERE unit_id = ? ORDER BY seq", (row["id"],))
                ]
                try:
                    conf = conf_of(row["rule"], row["batch_key"], items, row["window_start"], row["window_end"])
                    json.dumps(conf)
                except Exception as exc:  # a rule's template failing on data must not stop the dispatcher
                    reason = f"rule {row['rule']}: {exc}"
                    self._kill_unit(db, row["id"], "route", reason, now)
                    closed.append((unit_from_row(row), reason))
                    continue
                db.execute("UPDATE units SET state = ?, conf = ? WHERE id = ?", (READY, json.dumps(conf), row["id"]))
                closed.append(
                    (unit_from_row(db.execute("SELECT * FROM units WHERE id = ?", (row["id"],)).fetchone()), None)
                )
        return closed

    def next_unit(self) -> Unit | None:
        """The oldest unit ready to be triggered (arrival order; a unit being retried holds the line)."""
        row = self._conn().execute("SELECT * FROM units WHERE state = ? ORDER BY id LIMIT 1", (READY,)).fetchone()
        return unit_from_row(row) if row else None

    def next_window_end(self) -> float | None:
        row = self._conn().execute("SELECT min(window_end) AS e FROM units WHERE state = ?", (OPEN,)).fetchone()
        return row["e"]

    def unit_msg_ids(self, unit_id: int) -> list[str]:
        rows = self._conn().execute(
            "SELECT m.msg_id FROM deliveries d JOIN messages m ON m.seq = d.seq WHERE d.unit_id = ? ORDER BY d.seq",
            (unit_id,),
        )
        return [r["msg_id"] for r in rows]

    def batch_items(self, unit_id: int) -> list[Any]:
        """A batch's items, in the arrival order of their messages."""
        rows = self._conn().execute("SELECT item FROM deliveries WHERE unit_id = ? ORDER BY seq", (unit_id,))
        return [json.loads(r["item"]) for r in rows]

    def complete(self, unit_id: int, answer: str, now: float | None = None) -> bool:
        """Airflow accepted the run (200) or had it already (409). Idempotent: False if it was not ready."""
        now = time.time() if now is None else now
        with self._write() as db:
            cur = db.execute(
                "UPDATE units SET state = ?, answer = ?, done_at = ? WHERE id = ? AND state = ?",
                (DONE, answer[:2000], now, unit_id, READY),
            )
            self._settle(db, unit_id)
            return cur.rowcount == 1

    def defer(self, unit_id: int, next_attempt: float, error: str) -> None:
        """A transient failure: try the same unit again at ``next_attempt``."""
        with self._write() as db:
            db.execute(
                "UPDATE units SET attempts = attempts + 1, next_attempt = ?, last_error = ? WHERE id = ? AND state = ?",
                (next_attempt, error[:2000], unit_id, READY),
            )

    def refuse(self, unit_id: int, reason: str, now: float | None = None) -> None:
        """Airflow refused the run (4xx other than 409): dead-letter the unit with Airflow's answer."""
        with self._write() as db:
            self._kill_unit(db, unit_id, "airflow", reason, time.time() if now is None else now)

    def _kill_unit(self, db: sqlite3.Connection, unit_id: int, kind: str, reason: str, now: float) -> None:
        db.execute("UPDATE units SET state = ?, last_error = ?, done_at = ? WHERE id = ?", (DEAD, reason, now, unit_id))
        first = db.execute(
            "SELECT m.msg_id, m.topic FROM deliveries d JOIN messages m ON m.seq = d.seq WHERE d.unit_id = ?"
            " ORDER BY d.seq LIMIT 1",
            (unit_id,),
        ).fetchone()
        self._dead_letter(
            db,
            kind,
            reason,
            unit_id=unit_id,
            msg_id=first["msg_id"] if first else None,
            topic=first["topic"] if first else None,
            now=now,
        )
        db.execute(
            "UPDATE messages SET state = ? WHERE seq IN (SELECT seq FROM deliveries WHERE unit_id = ?)",
            (DEAD, unit_id),
        )

    @staticmethod
    def _settle(db: sqlite3.Connection, unit_id: int) -> None:
        """Messages of ``unit_id`` with no unit left to trigger are done (or dead, if a route of theirs failed)."""
        db.execute(
            "UPDATE messages SET state = CASE WHEN EXISTS (SELECT 1 FROM dead_letters x WHERE x.seq = messages.seq"
            " AND x.state = 'dead') OR EXISTS (SELECT 1 FROM deliveries d JOIN units u ON u.id = d.unit_id"
            " WHERE d.seq = messages.seq AND u.state = 'dead') THEN 'dead' ELSE 'done' END"
            " WHERE seq IN (SELECT seq FROM deliveries WHERE unit_id = ?) AND NOT EXISTS (SELECT 1 FROM deliveries d"
            " JOIN units u ON u.id = d.unit_id WHERE d.seq = messages.seq AND u.state IN ('open', 'ready'))",
            (unit_id,),
        )

    # ------------------------------------------------------------------ reading

    def live_mark(self) -> float | None:
        """The newest timestamp of a message received live (the start of a replay after a restart)."""
        row = self._conn().execute("SELECT value FROM marks WHERE name = 'live'").fetchone()
        return row["value"] if row else None

    def _shared_reader(self) -> sqlite3.Connection:
        """The one reading connection short-lived threads (/metrics, /healthz, /status) share instead of opening
        one each (a connection per request thread would stay open until :meth:`close`). Call under the lock."""
        if self._reader is None:
            self._reader = sqlite3.connect(self.path, timeout=10, isolation_level=None, check_same_thread=False)
            self._reader.row_factory = sqlite3.Row
            self._all.append(self._reader)
        return self._reader

    def pending_count(self) -> int:
        """Messages not yet acknowledged. Safe from short-lived threads."""
        with self._lock:
            return self._shared_reader().execute("SELECT count(*) FROM messages WHERE state = 'pending'").fetchone()[0]

    def status(self, *, dead_letter_limit: int = 50) -> dict[str, Any]:
        """Counts, the dead letters (newest first) and the publishers, as JSON data (``relengotron listener
        status --json``, the listener's ``GET /status``). Read-only; safe from short-lived threads."""
        with self._lock:
            return self._status(self._shared_reader(), dead_letter_limit)

    def _status(self, db: sqlite3.Connection, dead_letter_limit: int) -> dict[str, Any]:
        messages = dict(db.execute("SELECT state, count(*) FROM messages GROUP BY state").fetchall())
        units = dict(db.execute("SELECT state, count(*) FROM units GROUP BY state").fetchall())
        retrying = db.execute("SELECT count(*) FROM units WHERE state = ? AND attempts > 0", (READY,)).fetchone()[0]
        head = db.execute("SELECT * FROM units WHERE state = ? ORDER BY id LIMIT 1", (READY,)).fetchone()
        dead_total = db.execute("SELECT count(*) FROM dead_letters WHERE state = 'dead'").fetchone()[0]
        dead = [
            {
                "id": r["id"],
                "kind": r["kind"],
                "msg_id": r["msg_id"],
                "topic": r["topic"],
                "unit_id": r["unit_id"],
                "reason": r["reason"],
                "created_at": r["created_at"],
            }
            for r in db.execute(
                "SELECT * FROM dead_letters WHERE state = 'dead' ORDER BY id DESC LIMIT ?", (dead_letter_limit,)
            )
        ]
        publishers = [dict(r) for r in db.execute("SELECT * FROM publishers ORDER BY name")]
        mark = db.execute("SELECT value FROM marks WHERE name = 'live'").fetchone()
        return {
            "inbox": str(self.path),
            "pending_messages": messages.get("pending", 0),
            "messages": messages,
            "units": units,
            "open_batches": units.get(OPEN, 0),
            "retrying": retrying,
            "head": None
            if head is None
            else {
                "dag_id": head["dag_id"],
                "dag_run_id": head["dag_run_id"],
                "attempts": head["attempts"],
                "last_error": head["last_error"],
            },
            "dead_letters_total": dead_total,
            "dead_letters": dead,
            "publishers": publishers,
            "live_mark": mark["value"] if mark else None,
        }

    def dead_letter(self, letter_id: int) -> dict[str, Any] | None:
        row = self._conn().execute("SELECT * FROM dead_letters WHERE id = ?", (letter_id,)).fetchone()
        return dict(row) if row else None

    def dead_letter_ids(self) -> list[int]:
        return [r["id"] for r in self._conn().execute("SELECT id FROM dead_letters WHERE state = 'dead' ORDER BY id")]

    def message(self, seq: int) -> dict[str, Any] | None:
        row = self._conn().execute("SELECT * FROM messages WHERE seq = ?", (seq,)).fetchone()
        return dict(row) if row else None

    def messages_of_unit(self, unit_id: int) -> list[dict[str, Any]]:
        rows = self._conn().execute(
            "SELECT m.* FROM deliveries d JOIN messages m ON m.seq = d.seq WHERE d.unit_id = ? ORDER BY d.seq",
            (unit_id,),
        )
        return [dict(r) for r in rows]

    def unit(self, unit_id: int) -> Unit | None:
        row = self._conn().execute("SELECT * FROM units WHERE id = ?", (unit_id,)).fetchone()
        return unit_from_row(row) if row else None

    # ------------------------------------------------------------------ retrying dead letters

    def retire_dead_letter(self, letter_id: int) -> None:
        """Mark a dead letter retried (it stays listed by id, out of ``status``)."""
        with self._write() as db:
            db.execute("UPDATE dead_letters SET state = 'retried' WHERE id = ?", (letter_id,))

    def revive_unit(self, letter_id: int, unit_id: int, dag_id: str, conf: dict[str, Any]) -> None:
        """Put a dead unit back in line (ready, attempts reset) for ``dag_id`` with ``conf`` (both as the rules
        say now); its messages are pending again. Its dag_run_id stays: Airflow still dedupes it."""
        with self._write() as db:
            db.execute(
                "UPDATE units SET state = ?, dag_id = ?, conf = ?, attempts = 0, next_attempt = 0, last_error = NULL,"
                " done_at = NULL WHERE id = ? AND state = ?",
                (READY, dag_id, json.dumps(conf), unit_id, DEAD),
            )
            db.execute("UPDATE dead_letters SET state = 'retried' WHERE id = ?", (letter_id,))
            db.execute(
                "UPDATE messages SET state = 'pending' WHERE seq IN (SELECT seq FROM deliveries WHERE unit_id = ?)",
                (unit_id,),
            )

    def reroute(self, letter_id: int, seq: int, routing: Routing, now: float | None = None) -> int:
        """Route a stored message again (after its rules were fixed): routes whose rule already delivered it
        are skipped; new problems become new dead letters. Returns the number of new routes."""
        now = time.time() if now is None else now
        with self._write() as db:
            done_rules = {
                r["rule"]
                for r in db.execute(
                    "SELECT u.rule FROM deliveries d JOIN units u ON u.id = d.unit_id WHERE d.seq = ?"
                    " AND u.state != 'dead'",
                    (seq,),
                )
            }
            fresh = Routing(tuple(r for r in routing.routes if r.rule not in done_rules), routing.problems)
            db.execute("UPDATE dead_letters SET state = 'retried' WHERE id = ?", (letter_id,))
            self._add_routes(db, seq, fresh, now)
            row = db.execute("SELECT msg_id, topic FROM messages WHERE seq = ?", (seq,)).fetchone()
            for problem in fresh.problems:
                self._dead_letter(db, "route", problem, msg_id=row["msg_id"], seq=seq, topic=row["topic"], now=now)
            pending = db.execute(
                "SELECT 1 FROM deliveries d JOIN units u ON u.id = d.unit_id WHERE d.seq = ?"
                " AND u.state IN ('open', 'ready') LIMIT 1",
                (seq,),
            ).fetchone()
            state = "pending" if pending else (DEAD if fresh.problems else DONE)
            db.execute("UPDATE messages SET state = ? WHERE seq = ?", (state, seq))
            return len(fresh.routes)

    # ------------------------------------------------------------------ housekeeping

    def prune(self, older_than: float) -> int:
        """Forget finished work received before ``older_than`` (epoch). Pending work and live dead letters stay.
        Idempotent. Returns the number of messages removed."""
        with self._write() as db:
            db.execute(
                "DELETE FROM deliveries WHERE unit_id IN (SELECT id FROM units WHERE state = ? AND done_at < ?)",
                (DONE, older_than),
            )
            db.execute("DELETE FROM units WHERE state = ? AND done_at < ?", (DONE, older_than))
            cur = db.execute(
                "DELETE FROM messages WHERE state = ? AND received_at < ? AND seq NOT IN (SELECT seq FROM deliveries)",
                (DONE, older_than),
            )
            db.execute("DELETE FROM dead_letters WHERE state = 'retried' AND created_at < ?", (older_than,))
            db.execute("DELETE FROM dropped WHERE received_at < ?", (older_than,))
            return cur.rowcount
