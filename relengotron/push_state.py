"""What a push keeps in the staging tree's private area (``<staging>/.relengotron/``, never synced): the lease
that lets one push per release and request run at a time, and the record of the artifacts whose release it
announced, so that a push rerun in part never announces an artifact twice.

The lease (:class:`PushLease`) is a small JSON file in the staging tree's private area
(``<staging>/.relengotron/locks/updates_push-<release>-<request>.json``, never synced) naming the push and the
DAG run holding it. Pushes of other releases or requests hold other files, so they run side by side. A lease
whose holder has ended (its DAG run finished or was failed by hand) is stale and taken over; the caller says
how to tell (:meth:`PushLease.acquire`'s ``is_stale``), since only the scheduler knows.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from relengotron.sync.classify import STAGING_PRIVATE
from relengotron.tools.files import write_atomic

LOCKS = f"{STAGING_PRIVATE}/locks"
ANNOUNCED = f"{STAGING_PRIVATE}/announced"


class PushLease:
    """The lease on one release and request (see the module docstring)."""

    def __init__(self, staging: str | Path, name: str) -> None:
        self.path = Path(staging) / LOCKS / f"updates_push-{name}.json"

    def holder(self) -> dict[str, Any] | None:
        """Who holds the lease (its record), or None (read-only; an unreadable record counts as a holder)."""
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {"owner": None, "unreadable": str(self.path)}
        return data if isinstance(data, dict) else {"owner": None, "unreadable": str(self.path)}

    def acquire(
        self, owner: str, info: Mapping[str, Any], *, is_stale: Callable[[Mapping[str, Any]], bool]
    ) -> dict[str, Any] | None:
        """Take the lease for ``owner`` (a DAG run id); None when ``owner`` holds it now, else the record of
        the push that holds it. A holder ``is_stale`` says has ended is replaced.

        Idempotent: acquiring a lease one already holds changes nothing. Attempts are serialised by a flock on
        the locks directory, so two pushes never both win.
        """
        with self._guard():
            current = self.holder()
            if current is not None and current.get("owner") == owner:
                return None
            if current is not None and not is_stale(current):
                return current
            write_atomic(self.path, (json.dumps({**info, "owner": owner}, indent=1, sort_keys=True) + "\n").encode())
            return None

    def release(self, owner: str) -> bool:
        """Give the lease back; whether ``owner`` held it. Idempotent: a lease held by another (or by nobody) is
        left alone."""
        with self._guard():
            current = self.holder()
            if current is None or current.get("owner") != owner:
                return False
            self.path.unlink(missing_ok=True)
            return True

    @contextmanager
    def _guard(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)


class Announced:
    """The ``relengotron.artifact.released`` messages a push has published: (target id, identity) pairs, in
    ``<staging>/.relengotron/announced/<push id>.json``. Delivery stays at least once: a message is recorded
    after it is published, so a crash between the two publishes it again; recorded, it is never sent again
    for that push, however often the push's tasks are rerun."""

    def __init__(self, staging: str | Path, push_id: str) -> None:
        self.path = Path(staging) / ANNOUNCED / f"{push_id}.json"

    def pairs(self) -> set[tuple[str, str]]:
        """What was announced (read-only; nothing when there is no record)."""
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return set()
        except (OSError, ValueError) as exc:
            raise ValueError(f"{self.path}: unreadable record of announced releases: {exc}") from None
        return {(str(target), str(identity)) for target, identity in data}

    def record(self, target: str, identity: str) -> bool:
        """Record one announcement; whether it was new. Idempotent; written whole (a reader never sees half)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            pairs = self.pairs()
            if (target, identity) in pairs:
                return False
            write_atomic(self.path, (json.dumps(sorted([*pairs, (target, identity)]), indent=1) + "\n").encode())
            return True
        finally:
            os.close(fd)
