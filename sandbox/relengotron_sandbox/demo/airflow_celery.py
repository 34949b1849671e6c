"""The CeleryExecutor deployment of docker-compose.yaml on one machine, every socket on 127.0.0.1: PostgreSQL (the
metadata database and Celery's result backend) and Redis (the broker) from Debian's packages, and Celery workers
with names of their own. :mod:`relengotron_sandbox.demo.airflow_local` runs it when ``AIRFLOW__CORE__EXECUTOR``
is ``CeleryExecutor`` (the demo's ``--executor celery``, the CeleryExecutor integration test, the chaos run).

What docker-compose.yaml says, and what is kept of it here:

- ``postgres``: ``postgres:16``, user and database ``airflow``, its data in a volume (kept across a
  ``restart: always``) → Debian's PostgreSQL, user and database ``airflow``, its data in ``AIRFLOW_HOME/postgres``
  (kept across a restart); trust authentication on 127.0.0.1 (the sandbox has no secrets to keep), no Unix
  socket. ``fsync``, ``synchronous_commit`` and ``full_page_writes`` off: what a killed process cannot hurt
  (its writes are in the kernel's page cache), only a crash of the machine could.
- ``redis``: ``redis:7.2-bookworm`` with no options, i.e. Redis's own defaults — RDB snapshots
  (``save 3600 1 300 100 60 10000``), no append-only file — in the image's ``/data`` (kept across a restart)
  → the same defaults, in ``AIRFLOW_HOME/redis``.
- the Airflow services share one Fernet key and one API secret key (as they share ``.env``); the scheduler's
  health-check server is off (it binds to every interface; the deployment's is inside its container).
- ``airflow-worker``: ``airflow celery worker``, one per container, each named by its container's hostname →
  :data:`WORKERS`, each told its name through :func:`worker_hostname` (``[core] hostname_callable``: on one
  machine the task instances' ``hostname`` must still tell the workers apart). Their log servers are skipped
  (they would bind to every interface): the API server reads the tasks' logs from the shared disk.
"""

from __future__ import annotations

import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

EXECUTOR = "CeleryExecutor"
HOSTNAME_VARIABLE = "RELENGOTRON_WORKER_HOSTNAME"
WORKERS = ("celery-worker-1", "celery-worker-2")
POSTGRES = "postgres"
REDIS = "redis"
DATABASE = "airflow"  # docker-compose.yaml's POSTGRES_USER and POSTGRES_DB
WORKER_CONCURRENCY = 2  # two workers on two cores: as many task slots as the LocalExecutor demo's parallelism
POSTGRES_SETTINGS = (
    "listen_addresses=127.0.0.1",
    "unix_socket_directories=",
    "fsync=off",
    "synchronous_commit=off",
    "full_page_writes=off",
)


class CeleryDeploymentError(RuntimeError):
    """PostgreSQL or Redis could not be set up; the message says which and why."""


class NotReady(Exception):
    """PostgreSQL or Redis does not answer yet."""


def worker_hostname() -> str:
    """``[core] hostname_callable`` of the workers: the name their environment gives them."""
    return os.environ[HOSTNAME_VARIABLE]


@dataclass(frozen=True)
class Deployment:
    """Where the deployment's PostgreSQL and Redis listen, and the keys its Airflow services share."""

    postgres_port: int
    redis_port: int
    fernet_key: str
    secret_key: str

    @classmethod
    def new(cls, free_port: Callable[[], int]) -> Deployment:
        """Free ports on 127.0.0.1 and freshly generated keys (the ports stay the same across restarts)."""
        from cryptography.fernet import Fernet

        return cls(free_port(), free_port(), Fernet.generate_key().decode(), secrets.token_urlsafe(32))

    def settings(self) -> dict[str, str]:
        """The ``AIRFLOW__…`` settings of docker-compose.yaml's ``x-airflow-common`` that make it this deployment
        (pure). psycopg2, as there (SQLAlchemy 2.1 would pick psycopg 3 for a bare ``postgresql://``)."""
        database = f"postgresql+psycopg2://{DATABASE}@127.0.0.1:{self.postgres_port}/{DATABASE}"
        return {
            "AIRFLOW__CORE__EXECUTOR": EXECUTOR,
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database,
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + database,
            "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(WORKER_CONCURRENCY),
            "AIRFLOW__CORE__FERNET_KEY": self.fernet_key,
            "AIRFLOW__API__SECRET_KEY": self.secret_key,
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
        }


@dataclass(frozen=True)
class Component:
    """One supervised process of the deployment: its name in the journal, its command line, its environment
    (None: the supervisor's own), the user it runs as (None: the supervisor's) and the signal that stops it."""

    name: str
    argv: tuple[str, ...]
    env: Mapping[str, str] | None = None
    user: str | None = None
    stop_signal: int = signal.SIGTERM


def uses_celery(env: Mapping[str, str]) -> bool:
    return env.get("AIRFLOW__CORE__EXECUTOR") == EXECUTOR


def port_of(url: str) -> int:
    """The port of a database or broker URL; a clear error naming the URL when it has none."""
    port = urlsplit(url).port
    if port is None:
        raise CeleryDeploymentError(f"{url!r} names no port")
    return port


def run_as() -> str | None:
    """The user PostgreSQL runs as: ``postgres`` when this process is root (PostgreSQL refuses root), else this
    process's own user."""
    return POSTGRES if os.geteuid() == 0 else None


def infrastructure(env: Mapping[str, str], home: Path, postgres: str, user: str | None) -> list[Component]:
    """PostgreSQL and Redis of the deployment whose Airflow environment is ``env``, their data in ``home``
    (pure). ``postgres``: the server program (:func:`postgres_binary`)."""
    pg = home / POSTGRES
    argv = [postgres, "-D", str(pg / "data"), "-p", str(port_of(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]))]
    for setting in POSTGRES_SETTINGS:
        argv += ["-c", setting]
    # its own environment (not the Airflow services' secrets); SIGINT: PostgreSQL's fast shutdown
    pg_env = {"PATH": env.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "HOME": str(pg)}
    broker = port_of(env["AIRFLOW__CELERY__BROKER_URL"])
    redis = ["redis-server", "--bind", "127.0.0.1", "--port", str(broker), "--dir", str(home / REDIS)]
    redis += ["--protected-mode", "yes"]  # Redis's defaults otherwise, as docker-compose.yaml's image
    return [
        Component(POSTGRES, tuple(argv), pg_env, user, signal.SIGINT),
        Component(REDIS, tuple(redis), {"PATH": pg_env["PATH"]}),
    ]


def workers(env: Mapping[str, str], airflow: str) -> list[Component]:
    """The Celery workers, each with its name (pure)."""
    made = []
    for name in WORKERS:
        worker_env = {
            **env,
            HOSTNAME_VARIABLE: name,
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": f"{__name__}.worker_hostname",
        }
        argv = (airflow, "celery", "worker", "--celery-hostname", f"{name}@%h", "--skip-serve-logs")
        made.append(Component(f"airflow {name}", (*argv, "--without-gossip", "--without-mingle"), worker_env))
    return made


def workers_ready(log: str) -> set[str]:
    """The workers that said they are ready in ``log`` (Celery's ``<name>@<host> ready.``)."""
    return {name for name in WORKERS if times_ready(log, name)}


def times_ready(log: str, name: str) -> int:
    """How many times the worker ``name`` said it was ready in ``log`` (once per start)."""
    return len(re.findall(rf"\b{re.escape(name)}@\S+ ready\.", log))


def postgres_binary(name: str) -> str:
    """A PostgreSQL server program: on PATH, or in Debian's /usr/lib/postgresql/<major>/bin (newest major)."""
    found = shutil.which(name)
    if found:
        return found
    majors = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name), reverse=True)
    for directory in majors:
        if (directory / name).is_file():
            return str(directory / name)
    raise CeleryDeploymentError(
        f"PostgreSQL's {name} not found (install Debian's postgresql: scripts/install-system.sh)"
    )


def prepare(home: Path, user: str | None) -> None:
    """PostgreSQL's data directory initialised (user ``airflow``, trust authentication) and Redis's directory
    made, in ``home``. Idempotent: an initialised directory is kept as it is (a restart keeps the state)."""
    (home / REDIS).mkdir(parents=True, exist_ok=True)
    pg = home / POSTGRES
    if (pg / "data" / "PG_VERSION").is_file():
        return
    pg.mkdir(parents=True, exist_ok=True)
    if user:
        account = pwd.getpwnam(user)
        os.chown(pg, account.pw_uid, account.pw_gid)
    shutil.rmtree(pg / "data", ignore_errors=True)  # an initdb that died half-way
    argv = [postgres_binary("initdb"), "-D", str(pg / "data"), "-U", DATABASE, "--auth=trust", "-E", "UTF8"]
    init = subprocess.run(
        [*argv, "--no-sync"],
        capture_output=True,
        text=True,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "HOME": str(pg)},
        cwd=pg,
        user=user,
        group=pwd.getpwnam(user).pw_gid if user else None,
        check=False,
    )
    if init.returncode:
        who = f" as {user} (it must reach {pg})" if user else ""
        raise CeleryDeploymentError(f"initdb{who} failed: {init.stdout[-1500:]}{init.stderr[-1500:]}")


def ready(env: Mapping[str, str]) -> bool:
    """PostgreSQL accepts connections and Redis answers PING; the ``airflow`` database is created the first
    time. :class:`NotReady` while either does not answer yet (the caller retries). Idempotent."""
    import psycopg2
    import redis

    try:
        redis.Redis(host="127.0.0.1", port=port_of(env["AIRFLOW__CELERY__BROKER_URL"]), socket_timeout=5).ping()
        port = port_of(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
        connection = psycopg2.connect(host="127.0.0.1", port=port, user=DATABASE, dbname="postgres", connect_timeout=5)
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,))
                if cursor.fetchone() is None:
                    cursor.execute(f"CREATE DATABASE {DATABASE}")
        finally:
            connection.close()
    except (redis.RedisError, psycopg2.Error) as exc:
        raise NotReady(f"{type(exc).__name__}: {str(exc).strip()[:300]}") from None
    return True
