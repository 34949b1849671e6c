"""The inbox's tables and the records read from them (see :mod:`relengotron.listener.inbox`)."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    msg_id TEXT NOT NULL UNIQUE,
    topic TEXT NOT NULL,
    publisher TEXT,
    i INTEGER,
    sent_at REAL,
    received_at REAL NOT NULL,
    source TEXT NOT NULL,
    envelope TEXT NOT NULL,
    state TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_state ON messages (state, seq);
CREATE TABLE IF NOT EXISTS units (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    rule TEXT NOT NULL,
    dag_id TEXT NOT NULL,
    dag_run_id TEXT NOT NULL,
    conf TEXT,
    batch_key TEXT,
    window_start REAL,
    window_end REAL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt REAL NOT NULL DEFAULT 0,
    last_error TEXT,
    answer TEXT,
    first_received REAL NOT NULL,
    created_at REAL NOT NULL,
    done_at REAL
);
CREATE INDEX IF NOT EXISTS units_state ON units (state, id);
CREATE INDEX IF NOT EXISTS units_batch ON units (rule, batch_key, state);
CREATE TABLE IF NOT EXISTS deliveries (
    unit_id INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    item TEXT,
    PRIMARY KEY (unit_id, seq)
);
CREATE INDEX IF NOT EXISTS deliveries_seq ON deliveries (seq);
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    dedupe TEXT UNIQUE,
    msg_id TEXT,
    seq INTEGER,
    unit_id INTEGER,
    topic TEXT,
    reason TEXT NOT NULL,
    raw BLOB,
    source TEXT,
    created_at REAL NOT NULL,
    state TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS dead_letters_state ON dead_letters (state, id);
CREATE TABLE IF NOT EXISTS publishers (
    name TEXT PRIMARY KEY,
    last_i INTEGER,
    last_msg_id TEXT,
    last_topic TEXT,
    last_sent_at REAL,
    last_received_at REAL
);
CREATE TABLE IF NOT EXISTS dropped (
    msg_id TEXT PRIMARY KEY,
    topic TEXT NOT NULL,
    received_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS dropped_received ON dropped (received_at);
CREATE TABLE IF NOT EXISTS marks (name TEXT PRIMARY KEY, value REAL NOT NULL);
"""

OPEN, READY, DONE, DEAD = "open", "ready", "done", "dead"
SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")


class InboxError(RuntimeError):
    """The inbox cannot be opened or written."""


@dataclass(frozen=True)
class Stored:
    """What :meth:`Inbox.store` did: ``stored``, ``duplicate`` or ``unrouted`` (nothing kept)."""

    outcome: str
    seq: int | None = None
    previous_i: int | None = None  # the publisher's last sequence number before this message (live only)
    previous_sent_at: float | None = None
    dead_letters: int = 0


@dataclass(frozen=True)
class Unit:
    """One DAG run to create."""

    id: int
    rule: str
    dag_id: str
    dag_run_id: str
    conf: dict[str, Any] | None
    state: str
    attempts: int
    next_attempt: float
    first_received: float
    batch_key: str | None
    window_start: float | None
    window_end: float | None


def unit_from_row(row: sqlite3.Row) -> Unit:
    return Unit(
        id=row["id"],
        rule=row["rule"],
        dag_id=row["dag_id"],
        dag_run_id=row["dag_run_id"],
        conf=json.loads(row["conf"]) if row["conf"] is not None else None,
        state=row["state"],
        attempts=row["attempts"],
        next_attempt=row["next_attempt"],
        first_received=row["first_received"],
        batch_key=row["batch_key"],
        window_start=row["window_start"],
        window_end=row["window_end"],
    )
