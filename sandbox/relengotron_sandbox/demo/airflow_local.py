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

With the CeleryExecutor (``AIRFLOW__CORE__EXECUTOR``, set by :func:`relengotron_sandbox.demo.airflow_embed.airflow_env`
for ``executor="celery"``): docker-compose.yaml's deployment (:mod:`relengotron_sandbox.demo.airflow_celery`) —
PostgreSQL and Redis first, their data in AIRFLOW_HOME, then the database migrated, the same four components and
two Celery workers; all supervised alike, in one journal, by the names a person reads ("postgres", "redis",
"airflow scheduler", "airflow celery-worker-1").

Runs until SIGTERM/SIGINT. Its children are in its session, so the demo's ``demo-stop`` stops them all even if
this process died first.
"""

from __future__ import annotations

import os
import pwd
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import closing
from pathlib import Path

from relengotron_sandbox.demo import airflow_celery
from relengotron_sandbox.demo.airflow_celery import Component
from relengotron_sandbox.supervise import Event, GaveUp, Supervisor

# (subcommand, options): what `airflow standalone` starts, minus the log servers bound to every interface
COMPONENTS: tuple[tuple[str, ...], ...] = (
    ("api-server",),
    ("scheduler", "--skip-serve-logs"),
    ("dag-processor",),
    ("triggerer", "--skip-serve-logs"),
)
STOP_GRACE = 20.0
INFRASTRUCTURE_TIMEOUT = 120.0  # seconds for PostgreSQL and Redis to answer (restarts included)
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


def components(env: Mapping[str, str], airflow: str, home: Path, postgres: str, user: str | None) -> list[Component]:
    """Every supervised component, in starting order (pure): the four Airflow components; with the
    CeleryExecutor, PostgreSQL and Redis before them (data in ``home``; ``postgres`` the server program, run as
    ``user``) and the two Celery workers after."""
    made = [Component(f"airflow {argv[0]}", (airflow, *argv)) for argv in COMPONENTS]
    if not airflow_celery.uses_celery(env):
        return made
    return [*airflow_celery.infrastructure(env, home, postgres, user), *made, *airflow_celery.workers(env, airflow)]


def _starter(component: Component) -> Callable[[], subprocess.Popen[bytes]]:
    """A new process of ``component`` each call, its output in this process's; in a process group of its own
    (what is left of it is killed before a restart) within this process's session (``demo-stop`` finds them all
    by the session even if this process died)."""
    group = pwd.getpwnam(component.user).pw_gid if component.user else None
    env = None if component.env is None else dict(component.env)
    return lambda: subprocess.Popen(
        component.argv, stdin=subprocess.DEVNULL, env=env, user=component.user, group=group, process_group=0
    )


def _tell(events: list[Event]) -> None:
    for event in events:
        print(f"supervisor: {event.describe()}", file=sys.stderr, flush=True)


def _wait_infrastructure(supervisor: Supervisor[subprocess.Popen[bytes]], stopping: threading.Event) -> bool:
    """Wait until PostgreSQL and Redis answer (restarting them if they exit); False when asked to stop.
    :class:`airflow_celery.CeleryDeploymentError` when they do not answer in time."""
    deadline = time.monotonic() + INFRASTRUCTURE_TIMEOUT
    while not stopping.is_set():
        _tell(supervisor.check())
        try:
            return airflow_celery.ready(os.environ)
        except airflow_celery.NotReady as exc:
            if time.monotonic() > deadline:
                raise airflow_celery.CeleryDeploymentError(f"PostgreSQL and Redis not ready: {exc}") from None
        stopping.wait(0.5)
    return False


def _stop(plan: list[Component], supervisor: Supervisor[subprocess.Popen[bytes]]) -> None:
    """Stop the Airflow components first, then PostgreSQL and Redis (to take their last writes), each with its
    stop signal; killed after :data:`STOP_GRACE`."""
    signals = {c.name: c.stop_signal for c in plan}
    running = dict(supervisor.children())
    infrastructure = {airflow_celery.POSTGRES, airflow_celery.REDIS}
    for wave in ([n for n in running if n not in infrastructure], [n for n in running if n in infrastructure]):
        for name in wave:
            if running[name].poll() is None:
                running[name].send_signal(signals[name])
        for name in wave:
            try:
                running[name].wait(STOP_GRACE)
            except subprocess.TimeoutExpired:
                running[name].kill()
                running[name].wait()


def main() -> int:
    airflow = str(Path(sys.executable).with_name("airflow"))
    home = Path(os.environ.get("AIRFLOW_HOME", ".")).absolute()
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    log = own_log()
    celery = airflow_celery.uses_celery(os.environ)
    user = airflow_celery.run_as()
    try:
        if celery:
            airflow_celery.prepare(home, user)
        postgres = airflow_celery.postgres_binary("postgres") if celery else "postgres"
        plan = components(os.environ, airflow, home, postgres, user)
    except (airflow_celery.CeleryDeploymentError, OSError) as exc:
        print(f"the CeleryExecutor deployment could not be prepared: {exc}", file=sys.stderr, flush=True)
        return 1
    supervisor = Supervisor(
        {c.name: _starter(c) for c in plan},
        logs=dict.fromkeys((c.name for c in plan), log),
        journal=home / JOURNAL,
    )
    status = 0
    try:
        infrastructure = [c.name for c in plan if c.name in (airflow_celery.POSTGRES, airflow_celery.REDIS)]
        if infrastructure:
            supervisor.start(infrastructure)
            if not _wait_infrastructure(supervisor, stopping):
                return 0
        migrated = subprocess.run([airflow, "db", "migrate"], stdin=subprocess.DEVNULL, check=False)
        if migrated.returncode:
            print(f"airflow db migrate failed ({migrated.returncode}); see {log}", file=sys.stderr, flush=True)
            return 1
        use_wal(os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", ""))
        supervisor.start()
        while not stopping.is_set():
            _tell(supervisor.check())
            stopping.wait(0.5)
    except GaveUp as exc:
        print(f"supervisor: {exc}: stopping the others", file=sys.stderr, flush=True)
        status = 1
    except airflow_celery.CeleryDeploymentError as exc:
        print(f"{exc}; see {log}", file=sys.stderr, flush=True)
        status = 1
    finally:
        _stop(plan, supervisor)
    return status


if __name__ == "__main__":
    sys.exit(main())
