"""A real Airflow api-server on 127.0.0.1 with this repository's plugins (the release dashboard among them) on
an Airflow metadata database of the test's choosing, and requests to it as a user or as nobody."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from relengotron_sandbox.testing import Process, airflow_env, child_env, free_port, start, stop, wait_for

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
USERS = "admin:admin,viewer:viewer"  # simple auth manager: username:role


@dataclass
class ApiServer:
    home: Path
    port: int
    process: Process

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def password(self, user: str) -> str:
        """The password the simple auth manager generated for ``user``."""
        passwords = json.loads((self.home / "simple_auth_manager_passwords.json.generated").read_text())
        return str(passwords[user])

    def token(self, user: str) -> str:
        """A user's JWT, as the UI's login gets it (POST /auth/token)."""
        answer = requests.post(
            f"{self.url}/auth/token", json={"username": user, "password": self.password(user)}, timeout=30
        )
        answer.raise_for_status()
        return str(answer.json()["access_token"])


@contextmanager
def api_server(home: Path, *, extra_env: dict[str, str] | None = None, log: Path | None = None) -> Iterator[ApiServer]:
    """``airflow api-server`` (the DB in ``home`` migrated first) until the block ends; stopped with its children.
    Its log: ``log`` (default ``home/api-server.log``)."""
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    settings = {"AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": USERS}
    env = airflow_env(
        home, base={**child_env(("AIRFLOW",)), **(extra_env or {})}, repo=REPO, api_port=port, settings=settings
    )
    migrate = subprocess.run([str(BIN / "airflow"), "db", "migrate"], env=env, capture_output=True, text=True)
    assert migrate.returncode == 0, migrate.stdout[-2000:] + migrate.stderr[-2000:]
    process = start(
        "api-server", [str(BIN / "airflow"), "api-server"], log=log or home / "api-server.log", env=env, cwd=home
    )
    try:
        health = f"http://127.0.0.1:{port}/api/v2/monitor/health"
        wait_for("the Airflow API server", lambda: requests.get(health, timeout=2).ok, 180, watch=[process])
        yield ApiServer(home, port, process)
    finally:
        stop(process)
