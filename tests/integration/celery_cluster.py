"""A distributed Airflow on 127.0.0.1 for integration tests, shaped like docker-compose.yaml: PostgreSQL (the
metadata database and Celery's result backend) and Redis (the broker) from Debian's packages, then the
api-server, scheduler, dag-processor, triggerer and two Celery workers with distinct hostnames — all
sharing one JWT secret and one Fernet key, as the deployment's services do. No tests here.

Everything lives in one temporary directory and every process is started in a session of its own
(:mod:`relengotron_sandbox.testing`); leaving :func:`celery_airflow` stops them all (and whatever they forked),
even when the test failed, and removes the directory. PostgreSQL runs as the ``postgres`` user (it refuses root).

Workers report their hostname through :func:`worker_hostname` (``[core] hostname_callable``): both run on this
machine, and the task instances' ``hostname`` must tell them apart.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from relengotron_sandbox.testing import Process, child_env, free_port, start, stop, wait_for
from relengotron_sandbox.testing import airflow_env as base_airflow_env

HOSTNAME_VARIABLE = "RELENGOTRON_TEST_WORKER_HOSTNAME"
WORKERS = ("celery-worker-1", "celery-worker-2")
INFRASTRUCTURE = ("postgres", "redis")
ADMIN = ("admin", "admin-test-password")
HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def worker_hostname() -> str:
    """``[core] hostname_callable`` of the test's workers: the name their environment gives them."""
    return os.environ[HOSTNAME_VARIABLE]


class ClusterError(RuntimeError):
    """A service of the cluster did not come up; the message carries the end of its log."""


@dataclass
class Cluster:
    """The running cluster: its API base URL and admin login, and each service (for logs on failure)."""

    root: Path
    api_url: str
    env: dict[str, str]
    services: list[Process] = field(default_factory=list)

    def logs(self) -> str:
        """The end of every service's log, for an assertion message."""
        return "\n".join(s.tail() for s in self.services)


def postgres_binary(name: str) -> str:
    """A PostgreSQL server program: on PATH, or in Debian's /usr/lib/postgresql/<major>/bin (newest major)."""
    found = shutil.which(name)
    if found:
        return found
    majors = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name), reverse=True)
    for directory in majors:
        if (directory / name).is_file():
            return str(directory / name)
    raise ClusterError(f"PostgreSQL's {name} not found (install Debian's postgresql: scripts/install-system.sh)")


def _start(name: str, argv: list[str], root: Path, **options: Any) -> Process:
    """:func:`relengotron_sandbox.testing.start` with the log in ``root/logs`` and ``root`` as the default cwd."""
    return start(name, argv, log=root / "logs" / f"{name}.log", cwd=options.pop("cwd", root), **options)


def _postgres(root: Path, services: list[Process]) -> str:
    """Initialise and start PostgreSQL as the ``postgres`` user on 127.0.0.1 (socket in its own directory);
    the SQLAlchemy URL (psycopg2: SQLAlchemy 2.1 would pick psycopg 3) of its ``airflow`` database."""
    import psycopg2

    user = pwd.getpwnam("postgres")
    pg = root / "postgres"
    pg.mkdir()
    os.chown(pg, user.pw_uid, user.pw_gid)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "HOME": str(pg)}
    init = subprocess.run(
        [postgres_binary("initdb"), "-D", str(pg / "data"), "-U", "airflow", "--auth=trust", "-E", "UTF8", "--no-sync"],
        capture_output=True,
        text=True,
        env=env,
        cwd=pg,
        user="postgres",
        group=user.pw_gid,
        check=False,
    )
    if init.returncode:
        raise ClusterError(f"initdb failed: {init.stdout}{init.stderr}")
    port = free_port()
    argv = [postgres_binary("postgres"), "-D", str(pg / "data"), "-p", str(port), "-k", str(pg)]
    for setting in ("listen_addresses=127.0.0.1", "fsync=off", "synchronous_commit=off", "full_page_writes=off"):
        argv += ["-c", setting]
    # SIGINT: PostgreSQL's fast shutdown
    services.append(_start("postgres", argv, root, env=env, user="postgres", cwd=pg, stop_signal=signal.SIGINT))

    def accepting() -> bool:
        psycopg2.connect(host="127.0.0.1", port=port, user="airflow", dbname="postgres").close()
        return True

    wait_for("postgres", accepting, 60, watch=services[-1:])
    connection = psycopg2.connect(host="127.0.0.1", port=port, user="airflow", dbname="postgres")
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute("CREATE DATABASE airflow")
    connection.close()
    return f"postgresql+psycopg2://airflow@127.0.0.1:{port}/airflow"


def _redis(root: Path, services: list[Process]) -> str:
    """Redis on 127.0.0.1 without persistence; its URL."""
    import redis

    port = free_port()
    data = root / "redis"
    data.mkdir()
    argv = ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"]
    argv += ["--dir", str(data), "--protected-mode", "yes"]
    services.append(_start("redis", argv, root, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")}))
    wait_for("redis", lambda: redis.Redis(host="127.0.0.1", port=port).ping(), 30, watch=services[-1:])
    return f"redis://127.0.0.1:{port}/0"


def airflow_env(root: Path, database: str, broker: str, api_port: int) -> dict[str, str]:
    """The environment every Airflow service of the cluster shares: the process's own (the sandbox's
    AIRFLOW_CONN_*/AIRFLOW_VAR_* included) with the deployment's settings on top."""
    from cryptography.fernet import Fernet

    home = root / "airflow"
    home.mkdir()
    passwords = home / "passwords.json"
    passwords.write_text(json.dumps({ADMIN[0]: ADMIN[1]}))
    settings = {
        "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN[0]}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database,
        "AIRFLOW__CELERY__BROKER_URL": broker,
        "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + database,
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
    }
    return base_airflow_env(
        home,
        base=child_env(("AIRFLOW__", "PYTEST_CURRENT_TEST")),
        repo=REPO,
        api_port=api_port,
        jwt_secret=secrets.token_urlsafe(64),
        executor="CeleryExecutor",
        parallelism=8,
        refresh_seconds=30,
        settings=settings,
    )


@contextmanager
def celery_airflow(keep_logs: Path, timeout: float = 120) -> Iterator[Cluster]:
    """PostgreSQL, Redis and Airflow with the CeleryExecutor, two workers, on 127.0.0.1, until the block ends;
    the services' and the tasks' logs are copied to ``keep_logs`` when it does."""
    import requests

    root = Path(tempfile.mkdtemp(prefix="relengotron-celery-"))
    os.chmod(root, 0o755)  # the postgres user must reach its directory inside
    services: list[Process] = []
    try:
        database = _postgres(root, services)
        broker = _redis(root, services)
        api_port = free_port()
        env = airflow_env(root, database, broker, api_port)
        airflow = str(Path(sys.executable).with_name("airflow"))
        migrate = subprocess.run(
            [airflow, "db", "migrate"], capture_output=True, text=True, env=env, cwd=root, timeout=300, check=False
        )
        if migrate.returncode:
            raise ClusterError(f"airflow db migrate failed:\n{migrate.stdout[-3000:]}{migrate.stderr[-3000:]}")
        cluster = Cluster(root, f"http://127.0.0.1:{api_port}", env, services)
        # the scheduler's and triggerer's log servers would bind to every interface (no host setting): skipped,
        # as the workers' are; tests read task state, not remote logs
        for name, *options in (
            ("api-server",),
            ("scheduler", "--skip-serve-logs"),
            ("dag-processor",),
            ("triggerer", "--skip-serve-logs"),
        ):
            services.append(_start(name, [airflow, name, *options], root, env=env))
        for worker in WORKERS:
            worker_env = {
                **env,
                HOSTNAME_VARIABLE: worker,
                "AIRFLOW__CORE__HOSTNAME_CALLABLE": f"{Path(__file__).stem}.worker_hostname",
                "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")])),
            }
            argv = [airflow, "celery", "worker", "--celery-hostname", f"{worker}@%h", "--skip-serve-logs"]
            services.append(_start(worker, [*argv, "--without-gossip", "--without-mingle"], root, env=worker_env))
        health = f"{cluster.api_url}/api/v2/monitor/health"
        wait_for("api-server", lambda: requests.get(health, timeout=5).ok, timeout, watch=services)
        for worker in WORKERS:
            service = next(s for s in services if s.name == worker)
            ready = lambda s=service: re.search(r" ready\.", s.log.read_text())  # noqa: E731
            wait_for(f"{worker} ready", ready, timeout, watch=services)
        yield cluster
    finally:
        # Airflow first, while its database and broker are still there to take its last writes
        stop(*[s for s in services if s.name not in INFRASTRUCTURE])
        stop(*[s for s in services if s.name in INFRASTRUCTURE])
        for logs in (root / "logs", root / "airflow" / "logs"):
            if logs.is_dir():
                shutil.copytree(logs, keep_logs / logs.relative_to(root), dirs_exist_ok=True)
        shutil.rmtree(root, ignore_errors=True)


class AirflowAPI:
    """The REST API v2 of a cluster, logged in as the admin (``POST /auth/token``)."""

    def __init__(self, cluster: Cluster) -> None:
        import requests

        self.cluster = cluster
        self.session = requests.Session()
        answer = self.session.post(
            f"{cluster.api_url}/auth/token", json={"username": ADMIN[0], "password": ADMIN[1]}, timeout=30
        )
        answer.raise_for_status()
        self.session.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"

    def call(self, method: str, path: str, *, ok: tuple[int, ...] = (200,), **kwargs: Any) -> Any:
        """``METHOD /api/v2/<path>``: the JSON answer; AssertionError with the body and the cluster's logs
        on any other status."""
        answer = self.session.request(method, f"{self.cluster.api_url}/api/v2/{path}", timeout=30, **kwargs)
        if answer.status_code not in ok:
            raise AssertionError(f"{method} {path}: {answer.status_code} {answer.text}\n{self.cluster.logs()}")
        return answer.json() if answer.content else None
