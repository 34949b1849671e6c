"""``python -m relengotron_sandbox.demo.airflow_local``: the demo's embedded Airflow — the components
``airflow standalone`` runs (SQLite, LocalExecutor: the database migrated, then api-server, scheduler,
dag-processor and triggerer), with every listening socket on 127.0.0.1.

Why not ``airflow standalone`` itself: it starts the scheduler's and the triggerer's log servers, and those bind
to every interface (``airflow.utils.serve_logs`` has no host setting). The demo's tasks and triggers run on this
machine, so the API server reads their logs from disk and the log servers are not needed: they are skipped. The
API server's host is ``AIRFLOW__API__HOST`` (127.0.0.1, set by
:func:`relengotron_sandbox.demo.airflow_embed.airflow_env`).

The SQLite database is put in WAL mode once migrated (a property of the file, kept by every connection): readers
no longer block the writer, so the scheduler, the API server and the task processes stop queueing on its lock.

Runs until SIGTERM/SIGINT or until one component exits (exit status 1), then stops the others. Its children are
in its session, so the demo's ``demo-stop`` stops them all even if this process died first.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
from contextlib import closing
from pathlib import Path

# (subcommand, options): what `airflow standalone` starts, minus the log servers bound to every interface
COMPONENTS: tuple[tuple[str, ...], ...] = (
    ("api-server",),
    ("scheduler", "--skip-serve-logs"),
    ("dag-processor",),
    ("triggerer", "--skip-serve-logs"),
)
STOP_GRACE = 20.0
SQLITE = "sqlite:///"


def use_wal(sql_alchemy_conn: str) -> bool:
    """Put an SQLite metadata database in WAL mode; False for any other database. Idempotent."""
    if not sql_alchemy_conn.startswith(SQLITE):
        return False
    with closing(sqlite3.connect(sql_alchemy_conn.removeprefix(SQLITE), timeout=60)) as db:
        return str(db.execute("PRAGMA journal_mode=WAL").fetchone()[0]).lower() == "wal"


def main() -> int:
    airflow = str(Path(sys.executable).with_name("airflow"))
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    migrated = subprocess.run([airflow, "db", "migrate"], stdin=subprocess.DEVNULL, check=False)
    if migrated.returncode:
        print(f"airflow db migrate failed ({migrated.returncode})", file=sys.stderr, flush=True)
        return 1
    use_wal(os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", ""))
    children = [subprocess.Popen([airflow, *argv], stdin=subprocess.DEVNULL) for argv in COMPONENTS]
    while not stopping.is_set():
        ended = [" ".join(argv) for argv, child in zip(COMPONENTS, children, strict=True) if child.poll() is not None]
        if ended:
            print(f"airflow {ended[0]} exited: stopping the others", file=sys.stderr, flush=True)
            break
        stopping.wait(0.5)
    for child in children:
        if child.poll() is None:
            child.terminate()
    for child in children:
        try:
            child.wait(STOP_GRACE)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    return 0 if stopping.is_set() else 1


if __name__ == "__main__":
    sys.exit(main())
