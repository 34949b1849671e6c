"""A distributed Airflow on 127.0.0.1 for integration tests, shaped like docker-compose.yaml: PostgreSQL (the
metadata database and Celery's result backend) and Redis (the broker) from Debian's packages, then the
api-server, scheduler, dag-processor, triggerer and two Celery workers with distinct hostnames — all
sharing one JWT secret and one Fernet key, as the deployment's services do. No tests here.

Everything lives in one temporary directory and every process is started in a session of its own; leaving
:func:`celery_airflow` stops them all (and whatever they forked), even when the test failed, and removes the
directory. PostgreSQL runs as the ``postgres`` user (it refuses root).

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
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
class Service:
    name: str
    process: subprocess.Popen
    log: Path

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class Cluster:
    """The running cluster: its API base URL and admin login, and each service (for logs on failure)."""

    root: Path
    api_url: str
    env: dict[str, str]
    services: list[Service] = field(default_factory=list)

    def logs(self) -> str:
        """The end of every service's log, for an assertion message."""
        return "\n".join(f"--- {s.name} (exit {s.process.poll()}) ---\n{s.tail()}" for s in self.services)

    def check_alive(self) -> None:
        dead = [s for s in self.services if s.process.poll() is not None]
        if dead:
            raise ClusterError(f"{', '.join(s.name for s in dead)} exited\n{self.logs()}")


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


def free_port() -> int:
    from sshd import _free_port

    return _free_port()


def _wait(what: str, ready: Callable[[], bool], services: list[Service], timeout: float) -> None:
    """Poll ``ready`` until it holds; fail naming ``what`` (with the services' logs) on timeout or a dead service."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dead = [s for s in services if s.process.poll() is not None]
        if dead:
            raise ClusterError(f"{what}: {dead[0].name} exited\n{dead[0].tail()}")
        with suppress(Exception):
            if ready():
                return
        time.sleep(0.2)
    raise ClusterError(f"{what}: not ready within {timeout} s\n" + "\n".join(s.tail() for s in services))


def _start(
    name: str, argv: list[str], root: Path, env: Mapping[str, str], *, user: str | None = None, cwd: Path | None = None
) -> Service:
    """Start ``argv`` in a session of its own (so it and its children can be stopped together), logging to a file."""
    log = root / "logs" / f"{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(env),
            cwd=cwd or root,
            start_new_session=True,
            user=user,
            group=pwd.getpwnam(user).pw_gid if user else None,
        )
    return Service(name, process, log)


def _stop(services: list[Service]) -> None:
    """Stop the services and everything they forked: collect the descendants first, signal each service's
    session (PostgreSQL: SIGINT, its fast shutdown), wait, then kill what is left."""
    from sshd import _alive, _descendants

    leaders = [s.process for s in services if s.process.poll() is None]
    others = [pid for p in leaders for pid in _descendants(p.pid)]
    for process in leaders:
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGINT if process.args[0].endswith("postgres") else signal.SIGTERM)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(p.poll() is None for p in leaders):
        time.sleep(0.1)
    for process in leaders:
        if process.poll() is None:
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    for pid in others:
        if _alive(pid):
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _postgres(root: Path, services: list[Service]) -> str:
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
    services.append(_start("postgres", argv, root, env, user="postgres", cwd=pg))

    def accepting() -> bool:
        psycopg2.connect(host="127.0.0.1", port=port, user="airflow", dbname="postgres").close()
        return True

    _wait("postgres", accepting, services[-1:], 60)
    connection = psycopg2.connect(host="127.0.0.1", port=port, user="airflow", dbname="postgres")
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute("CREATE DATABASE airflow")
    connection.close()
    return f"postgresql+psycopg2://airflow@127.0.0.1:{port}/airflow"


def _redis(root: Path, services: list[Service]) -> str:
    """Redis on 127.0.0.1 without persistence; its URL."""
    import redis

    port = free_port()
    data = root / "redis"
    data.mkdir()
    argv = ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"]
    argv += ["--dir", str(data), "--protected-mode", "yes"]
    services.append(_start("redis", argv, root, {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}))
    _wait("redis", lambda: redis.Redis(host="127.0.0.1", port=port).ping(), services[-1:], 30)
    return f"redis://127.0.0.1:{port}/0"


def airflow_env(root: Path, database: str, broker: str, api_port: int) -> dict[str, str]:
    """The environment every Airflow service of the cluster shares: the process's own (the sandbox's
    AIRFLOW_CONN_*/AIRFLOW_VAR_* included) with the deployment's settings on top."""
    from cryptography.fernet import Fernet

    home = root / "airflow"
    home.mkdir()
    passwords = home / "passwords.json"
    passwords.write_text(json.dumps({ADMIN[0]: ADMIN[1]}))
    venv_bin = str(Path(sys.executable).parent)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__") and k != "PYTEST_CURRENT_TEST"}
    env.update(
        {
            "PATH": f"{venv_bin}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__PARALLELISM": "8",
            "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN[0]}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database,
            "AIRFLOW__CELERY__BROKER_URL": broker,
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + database,
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(api_port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
        }
    )
    return env


@contextmanager
def celery_airflow(keep_logs: Path, timeout: float = 120) -> Iterator[Cluster]:
    """PostgreSQL, Redis and Airflow with the CeleryExecutor, two workers, on 127.0.0.1, until the block ends;
    the services' and the tasks' logs are copied to ``keep_logs`` when it does."""
    import requests

    root = Path(tempfile.mkdtemp(prefix="relengotron-celery-"))
    os.chmod(root, 0o755)  # the postgres user must reach its directory inside
    services: list[Service] = []
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
            services.append(_start(name, [airflow, name, *options], root, env))
        for worker in WORKERS:
            worker_env = {
                **env,
                HOSTNAME_VARIABLE: worker,
                "AIRFLOW__CORE__HOSTNAME_CALLABLE": f"{Path(__file__).stem}.worker_hostname",
                "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")])),
            }
            argv = [airflow, "celery", "worker", "--celery-hostname", f"{worker}@%h", "--skip-serve-logs"]
            services.append(_start(worker, [*argv, "--without-gossip", "--without-mingle"], root, worker_env))
        _wait(
            "api-server",
            lambda: requests.get(f"{cluster.api_url}/api/v2/monitor/health", timeout=5).ok,
            services,
            timeout,
        )
        for worker in WORKERS:
            service = next(s for s in services if s.name == worker)
            _wait(
                f"{worker} ready", lambda s=service: bool(re.search(r" ready\.", s.log.read_text())), services, timeout
            )
        yield cluster
    finally:
        # Airflow first, while its database and broker are still there to take its last writes
        _stop([s for s in services if s.name not in INFRASTRUCTURE])
        _stop([s for s in services if s.name in INFRASTRUCTURE])
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
