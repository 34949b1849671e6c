"""State of the sandbox PDC (and Bugzilla): one SQLite file of JSON documents, mirrored in memory.

Every read is served from memory; every write goes to SQLite first and then to memory, so a restarted
service answers exactly as before. The first start seeds the file from the world; later starts load it,
and refuse a state seeded from a different world (the sandbox must then be reset).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS docs (
    resource TEXT NOT NULL,
    key TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (resource, key)
);
"""


class DocStore:
    """JSON documents by (resource, key); ``key_of`` names each resource's key field (e.g. release_id)."""

    def __init__(self, path: Path, key_of: dict[str, str], label: str = "PDC") -> None:
        self.path = path
        self.label = label
        self.key_of = key_of
        self.lock = threading.RLock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.executescript(SCHEMA)
        self._docs: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in key_of}

    def open(self, digest: str, seed: Callable[[], dict[str, list[dict[str, Any]]]]) -> None:
        """Load the state, seeding it first when empty. Idempotent: a seeded state is never re-seeded."""
        with self.lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = 'world_digest'").fetchone()
            if row is None:
                docs = seed()
                self._db.execute("BEGIN")
                try:
                    for resource, items in docs.items():
                        for doc in items:
                            self._write(resource, doc)
                    self._db.execute("INSERT INTO meta VALUES ('world_digest', ?)", (digest,))
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            elif row[0] != digest:
                raise RuntimeError(
                    f"{self.path} holds {self.label} state seeded from world {row[0][:12]}, "
                    f"not {digest[:12]}: reset the sandbox"
                )
            for resource, key, body in self._db.execute("SELECT resource, key, body FROM docs"):
                self._docs.setdefault(resource, {})[key] = json.loads(body)

    def close(self) -> None:
        with self.lock:
            self._db.close()

    def _write(self, resource: str, doc: dict[str, Any]) -> str:
        key = str(doc[self.key_of[resource]])
        self._db.execute(
            "INSERT OR REPLACE INTO docs (resource, key, body) VALUES (?, ?, ?)", (resource, key, json.dumps(doc))
        )
        return key

    def all(self, resource: str) -> list[dict[str, Any]]:
        """The documents of a resource in key order (numeric keys numerically). Callers must not mutate them."""
        with self.lock:
            docs = list(self._docs[resource].items())
        docs.sort(key=lambda kv: (0, int(kv[0]), "") if kv[0].isdigit() else (1, 0, kv[0]))
        return [doc for _, doc in docs]

    def get(self, resource: str, key: Any) -> dict[str, Any] | None:
        with self.lock:
            return self._docs[resource].get(str(key))

    def put(self, resource: str, doc: dict[str, Any]) -> None:
        """Store (insert or replace) one document. Idempotent."""
        self.put_many([(resource, doc)])

    def put_many(self, items: list[tuple[str, dict[str, Any]]]) -> None:
        """Store several documents in one transaction: all of them or (on error) none. Idempotent."""
        with self.lock:
            self._db.execute("BEGIN")
            try:
                keys = [self._write(resource, doc) for resource, doc in items]
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            for (resource, doc), key in zip(items, keys, strict=True):
                self._docs[resource][key] = doc

    def delete(self, resource: str, key: Any) -> None:
        """Remove one document. Idempotent."""
        with self.lock:
            self._db.execute("DELETE FROM docs WHERE resource = ? AND key = ?", (resource, str(key)))
            self._docs[resource].pop(str(key), None)

    def next_id(self, resource: str) -> int:
        with self.lock:
            return max((int(k) for k in self._docs[resource] if k.isdigit()), default=0) + 1
