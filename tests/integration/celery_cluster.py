"""A distributed Airflow on 127.0.0.1 for integration tests: the demo's embedded Airflow run as docker-compose.yaml
deploys it (:mod:`relengotron_sandbox.demo.airflow_local` with the CeleryExecutor,
:mod:`relengotron_sandbox.demo.airflow_celery`): PostgreSQL and Redis from Debian's packages, then the
api-server, scheduler, dag-processor, triggerer and two Celery workers with distinct hostnames — all sharing one
JWT secret and one Fernet key, as the deployment's services do. No tests here.

Everything lives in one temporary directory; the supervisor leads a session of its own
(:mod:`relengotron_sandbox.testing`), so leaving :func:`celery_airflow` stops it and all it started, even when
the test failed, and removes the directory. The test's admin password is fixed (a passwords file of its own).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from relengotron_sandbox.demo import airflow_celery, airflow_local
from relengotron_sandbox.testing import Process, child_env, free_port, start, stop, wait_for
from relengotron_sandbox.testing import airflow_env as base_airflow_env

WORKERS = airflow_celery.WORKERS
ADMIN = ("admin", "admin-test-password")
REPO = Path(__file__).resolve().parents[2]


@dataclass
class Cluster:
    """The running cluster: its API base URL and admin login, and its supervisor (for logs on failure)."""

    root: Path
    api_url: str
    env: dict[str, str]
    services: list[Process] = field(default_factory=list)

    def logs(self) -> str:
        """The end of the cluster's log, for an assertion message."""
        return "\n".join(s.tail(80) for s in self.services)


def airflow_env(home: Path, api_port: int) -> dict[str, str]:
    """The environment of the cluster's supervisor: the process's own (the sandbox's AIRFLOW_CONN_*/AIRFLOW_VAR_*
    included) with the deployment's settings on top."""
    passwords = home / "passwords.json"
    passwords.write_text(json.dumps({ADMIN[0]: ADMIN[1]}))
    settings = {
        **airflow_celery.Deployment.new(free_port).settings(),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN[0]}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
    }
    return base_airflow_env(
        home,
        base=child_env(("AIRFLOW__", "PYTEST_CURRENT_TEST")),
        repo=REPO,
        api_port=api_port,
        jwt_secret=secrets.token_urlsafe(64),
        parallelism=8,
        refresh_seconds=30,
        settings=settings,
    )


@contextmanager
def celery_airflow(keep_logs: Path, timeout: float = 240) -> Iterator[Cluster]:
    """PostgreSQL, Redis and Airflow with the CeleryExecutor, two workers, on 127.0.0.1, until the block ends;
    the cluster's and the tasks' logs are copied to ``keep_logs`` when it does."""
    import requests

    root = Path(tempfile.mkdtemp(prefix="relengotron-celery-"))
    os.chmod(root, 0o755)  # the postgres user must reach its directory inside
    home = root / "airflow"
    home.mkdir()
    api_port = free_port()
    env = airflow_env(home, api_port)
    marker = airflow_local.__name__
    supervisor = start("airflow", [sys.executable, "-m", marker], log=root / "logs" / "airflow.log", env=env, cwd=home)
    cluster = Cluster(root, f"http://127.0.0.1:{api_port}", env, [supervisor])
    try:
        health = f"{cluster.api_url}/api/v2/monitor/health"
        wait_for("api-server", lambda: requests.get(health, timeout=5).ok, timeout, watch=cluster.services)
        ready = lambda: airflow_celery.workers_ready(supervisor.log.read_text()) == set(WORKERS)  # noqa: E731
        wait_for("both workers ready", ready, timeout, watch=cluster.services)
        yield cluster
    finally:
        stop(supervisor)  # it stops Airflow first, then PostgreSQL and Redis
        for logs in (root / "logs", home / "logs", home / airflow_local.JOURNAL):
            if logs.is_dir():
                shutil.copytree(logs, keep_logs / logs.relative_to(root), dirs_exist_ok=True)
            elif logs.is_file():
                keep_logs.mkdir(parents=True, exist_ok=True)
                shutil.copy(logs, keep_logs / logs.name)
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
