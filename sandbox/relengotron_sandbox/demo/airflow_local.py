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

Supervised (:mod:`relengotron_sandbox.supervise`): a component that exits — killed, out of memory, or beaten by a
busy database — is started again and the restart is journalled in ``AIRFLOW_HOME/supervisor.jsonl`` (the demo
tells it in its live view); one that keeps exiting is given up on: the others are stopped and this process
exits 1 with one sentence naming the component and its log. SQLite waits up to :data:`BUSY_TIMEOUT` seconds
for a lock instead of failing with "database is locked" (:data:`CONNECT_ARGS`, Airflow's
``[database] sql_alchemy_connect_args``, set by :func:`relengotron_sandbox.demo.airflow_embed.airflow_env`).

Runs until SIGTERM/SIGINT. Its children are in its session, so the demo's ``demo-stop`` stops them all even if
this process died first.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

from relengotron_sandbox.supervise import GaveUp, Supervisor

# (subcommand, options): what `airflow standalone` starts, minus the log servers bound to every interface
COMPONENTS: tuple[tuple[str, ...], ...] = (
    ("api-server",),
    ("scheduler", "--skip-serve-logs"),
    ("dag-processor",),
    ("triggerer", "--skip-serve-logs"),
)
STOP_GRACE = 20.0
SQLITE = "sqlite:///"
JOURNAL = "supervisor.jsonl"
BUSY_TIMEOUT = 60.0  # seconds a connection waits for SQLite's lock (Python's sqlite3 default: 5)
# The connect arguments of every SQLAlchemy engine the components open on SQLite (sync: pysqlite; async:
# aiosqlite, same keyword): Airflow imports them by dotted path (``sql_alchemy_connect_args[_async]``).
# Two dicts: Airflow adds its own keys to the sync one.
CONNECT_ARGS: dict[str, float] = {"timeout": BUSY_TIMEOUT}
CONNECT_ARGS_ASYNC: dict[str, float] = {"timeout": BUSY_TIMEOUT}


def use_wal(sql_alchemy_conn: str) -> bool:
    """Put an SQLite metadata database in WAL mode; False for any other database. Idempotent."""
    if not sql_alchemy_conn.startswith(SQLITE):
        return False
    with closing(sqlite3.connect(sql_alchemy_conn.removeprefix(SQLITE), timeout=60)) as db:
        return str(db.execute("PRAGMA journal_mode=WAL").fetchone()[0]).lower() == "wal"


def own_log() -> str:
    """Where this process's output goes (the demo points it at a file), to name it in a sentence."""
    try:
        return os.readlink("/proc/self/fd/1")
    except OSError:
        return "its standard output"


def main() -> int:
    airflow = str(Path(sys.executable).with_name("airflow"))
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    migrated = subprocess.run([airflow, "db", "migrate"], stdin=subprocess.DEVNULL, check=False)
    if migrated.returncode:
        print(f"airflow db migrate failed ({migrated.returncode}); see {own_log()}", file=sys.stderr, flush=True)
        return 1
    use_wal(os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", ""))
    log = own_log()

    def starter(argv: tuple[str, ...]) -> Callable[[], subprocess.Popen[bytes]]:
        # a group of its own (its leftovers are killed before a restart), in this process's session (demo-stop
        # finds them all by the session even if this process died)
        return lambda: subprocess.Popen([airflow, *argv], stdin=subprocess.DEVNULL, process_group=0)

    names = {f"airflow {argv[0]}": argv for argv in COMPONENTS}
    supervisor = Supervisor(
        {name: starter(argv) for name, argv in names.items()},
        logs=dict.fromkeys(names, log),
        journal=Path(JOURNAL).absolute(),
    )
    supervisor.start()
    status = 0
    while not stopping.is_set():
        try:
            for event in supervisor.check():
                print(f"supervisor: {event.describe()}", file=sys.stderr, flush=True)
        except GaveUp as exc:
            print(f"supervisor: {exc}: stopping the others", file=sys.stderr, flush=True)
            status = 1
            break
        stopping.wait(0.5)
    children = [child for _name, child in supervisor.children()]
    for child in children:
        if child.poll() is None:
            child.terminate()
    for child in children:
        try:
            child.wait(STOP_GRACE)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    return status


if __name__ == "__main__":
    sys.exit(main())
