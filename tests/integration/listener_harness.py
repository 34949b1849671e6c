"""Real processes for the listener's acceptance tests: an Airflow API server (+ dag-processor and scheduler) on
SQLite, the listener as `relengotron listener run`, and a bus to publish on (fedmsg, or raw ZeroMQ frames).

Every process runs in a session of its own and is stopped with all its descendants, even when a test fails
(:mod:`relengotron_sandbox.testing`).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import yaml
import zmq

from relengotron_sandbox.broker import listener_amqp
from relengotron_sandbox.testing import Process, airflow_env, child_env, free_port, start, stop, wait_for

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DAG_IDS = ("rawhide_gating", "updates_push", "autosign")
# seconds a test's private Airflow gets to stop before SIGKILL: its state is thrown away, so a graceful
# shutdown (a scheduler waiting for its running tasks, a triggerer for its triggers) is not worth waiting for
STOP_GRACE = 5.0


class HarnessError(RuntimeError):
    """The deployment answered something the tests cannot use."""


# --------------------------------------------------------------------------- Airflow


@dataclass
class Airflow:
    """An Airflow 3 deployment on 127.0.0.1: api-server, dag-processor and scheduler, SQLite, DAGs paused."""

    root: Path
    port: int
    env: dict[str, str]
    processes: dict[str, Process] = field(default_factory=dict)
    _token: str | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def password(self) -> str:
        return json.loads((self.root / "simple_auth_manager_passwords.json.generated").read_text())["admin"]

    def _start(self, name: str, *args: str) -> None:
        argv = [str(BIN / "airflow"), name, *args]
        self.processes[name] = start(name, argv, log=self.root / "logs" / f"{name}.log", env=self.env, cwd=self.root)

    def start_api(self) -> None:
        self._start("api-server")
        health = f"{self.url}/api/v2/monitor/health"
        wait_for("the Airflow API server", lambda: requests.get(health, timeout=2).ok, 120, watch=[self.api_server])

    @property
    def api_server(self) -> Process:
        return self.processes["api-server"]

    def stop_api(self) -> None:
        self.processes.pop("api-server").stop()

    def token(self) -> str:
        answer = requests.post(
            f"{self.url}/auth/token", json={"username": "admin", "password": self.password}, timeout=10
        )
        answer.raise_for_status()
        return answer.json()["access_token"]

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """One REST API call as admin (the token renewed once when it expired); the answer's JSON."""
        for _ in range(2):
            if self._token is None:
                self._token = self.token()
            headers = {"Authorization": f"Bearer {self._token}"}
            answer = requests.request(method, f"{self.url}{path}", headers=headers, timeout=30, **kwargs)
            if answer.status_code == 401:
                self._token = None
                continue
            answer.raise_for_status()
            return answer.json()
        raise HarnessError(f"{method} {path}: unauthorized")

    def get(self, path: str, **params: Any) -> Any:
        return self.call("GET", path, params=params)

    def runs(self, dag_id: str, prefix: str) -> list[dict[str, Any]]:
        """Every run of ``dag_id`` whose dag_run_id starts with ``prefix``, in creation order."""
        out: list[dict[str, Any]] = []
        while True:
            page = self.get(
                f"/api/v2/dags/{dag_id}/dagRuns",
                run_id_prefix_pattern=prefix,
                order_by="id",
                limit=100,
                offset=len(out),
            )
            out.extend(page["dag_runs"])
            if len(page["dag_runs"]) < 100:
                return [r for r in out if r["dag_run_id"].startswith(prefix)]


@contextmanager
def airflow(root: Path, *, extra_env: Mapping[str, str] | None = None, triggerer: bool = False) -> Iterator[Airflow]:
    """Migrate a private SQLite metadata DB, start the processes (the triggerer too when ``triggerer``: for
    deferrable sensors), wait until the DAGs are parsed. ``extra_env``: e.g. the Connections of a sandbox."""
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    settings = {
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
    }
    base = {**child_env(("AIRFLOW",)), **(extra_env or {})}
    env = airflow_env(root, base=base, api_port=port, jwt_secret="relengotron-listener-tests", settings=settings)
    deployment = Airflow(root, port, env)
    migrate = subprocess.run([str(BIN / "airflow"), "db", "migrate"], env=env, cwd=root, capture_output=True, text=True)
    if migrate.returncode:
        raise HarnessError(f"airflow db migrate failed:\n{migrate.stdout[-2000:]}{migrate.stderr[-2000:]}")
    try:
        deployment._start("dag-processor")
        deployment._start("scheduler", "--skip-serve-logs")  # its log server would listen on 0.0.0.0
        if triggerer:
            deployment._start("triggerer", "--skip-serve-logs")
        deployment.start_api()

        def parsed() -> bool:
            found = {d["dag_id"] for d in deployment.get("/api/v2/dags", limit=100)["dags"]}
            return set(DAG_IDS) <= found

        watch = deployment.processes.values()
        wait_for("the DAGs parsed by the dag-processor", parsed, 180, every=1, watch=watch)
        yield deployment
    finally:
        stop(*deployment.processes.values(), timeout=STOP_GRACE)


# --------------------------------------------------------------------------- the listener


@dataclass
class Listener:
    """`relengotron listener run` as a subprocess, with its own inbox and config."""

    root: Path
    config: Path
    process: Process | None = None

    @property
    def runtime(self) -> Path:
        return self.root / "inbox.sqlite.runtime.json"

    def start(self, *, ready_timeout: float = 30) -> Listener:
        self.runtime.unlink(missing_ok=True)
        env = {**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '')}"}
        argv = [str(BIN / "relengotron"), "listener", "run", "--config", str(self.config)]
        self.process = start("listener", argv, log=self.root / "logs" / "listener.log", env=env, cwd=self.root)
        wait_for(
            "the listener ready (/healthz)", lambda: self.health().get("ready"), ready_timeout, watch=[self.process]
        )
        return self

    def alive(self) -> bool:
        """True while the listener runs; :class:`relengotron_sandbox.testing.ProcessError` with its log once not."""
        assert self.process is not None
        return self.process.check()

    @property
    def http(self) -> str:
        return json.loads(self.runtime.read_text())["http"]

    def health(self) -> dict[str, Any]:
        return requests.get(f"{self.http}/healthz", timeout=5).json()

    def metrics(self) -> dict[str, float]:
        """The listener's Prometheus samples, summed over labels (``name{labels}`` keys as well)."""
        text = requests.get(f"{self.http}/metrics", timeout=5).text
        out: dict[str, float] = {}
        for line in text.splitlines():
            if not line or line.startswith("#"):
                continue
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
            base = name.split("{", 1)[0]
            if "{" in name:
                out[base] = out.get(base, 0.0) + float(value)
        return out

    def kill9(self) -> None:
        assert self.process is not None
        self.process.stop(signal.SIGKILL)

    def stop(self) -> int | None:
        if self.process is None:
            return None
        return self.process.stop(signal.SIGTERM, timeout=30)

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(BIN / "relengotron"), "listener", *args, "--config", str(self.config)],
            capture_output=True,
            text=True,
            timeout=120,
        )

    def status(self) -> dict[str, Any]:
        result = self.cli("status", "--json", "--limit", "1000")
        if result.returncode:
            raise HarnessError(f"listener status failed: {result.stderr}")
        return json.loads(result.stdout)


def write_listener(
    root: Path,
    *,
    airflow: Airflow,
    bus: dict[str, Any],
    rules: dict[str, Any],
    signatures: dict[str, Any] | None = None,
    max_body_bytes: int = 65536,
    rows_per_page: int = 50,
    extra_endpoints: tuple[str, ...] = (),
    replay_margin: float = 5.0,
    release_config: str | Path | None = None,
    amqp: dict[str, Any] | None = None,
) -> Listener:
    """A listener config + rules file under ``root`` for this Airflow and bus (port 0: any free one);
    ``release_config`` for rules using the release helpers (the shipped ones do). ``amqp``: the listener on
    AMQP instead of fedmsg: ``url`` (a password in it goes to a password file), ``queue``, and any other
    ``bus.amqp`` setting."""
    root.mkdir(parents=True, exist_ok=True)
    bus_config: dict[str, Any] = {"endpoints": [bus["relay_outbound"], *extra_endpoints], "settle_seconds": 0.5}
    if amqp is not None:
        settings = listener_amqp(amqp["url"], root, **{k: v for k, v in amqp.items() if k != "url"})
        bus_config = {"transport": "amqp", "settle_seconds": 0.5, "amqp": settings}
    (root / "password").write_text(airflow.password)
    (root / "rules.yaml").write_text(yaml.safe_dump(rules, sort_keys=False))
    validation: dict[str, Any] = {"max_body_bytes": max_body_bytes, "signatures": signatures is not None}
    if signatures is not None:
        validation["crypto"] = signatures
    config = {
        "bus": bus_config,
        "datagrepper": {
            "url": bus["datagrepper"],
            "rows_per_page": rows_per_page,
            "replay_margin_seconds": replay_margin,
        },
        "airflow": {
            "url": airflow.url,
            "username": "admin",
            "password_file": "password",
            "timeout_seconds": 10,
            "retry": {"initial_seconds": 0.2, "max_seconds": 2},
        },
        "inbox": {"path": "inbox.sqlite"},
        "rules": "rules.yaml",
        **({"release_config": str(release_config)} if release_config is not None else {}),
        "http": {"host": "127.0.0.1", "port": 0},
        "validation": validation,
        "logging": {"level": "INFO"},
    }
    path = root / "listener.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return Listener(root, path)


# --------------------------------------------------------------------------- publishing


class AmqpPublisher:
    """fedmsg's ``publish(modname, topic, msg)`` on AMQP only: the sandbox's AMQP side, which sends each topic
    as its real publisher's fedora-messaging class (Koji's TagV1, Bodhi's classes) and waits for the confirm.
    A publish that times out (the broker restarting) is sent again with the same message id, as a publisher
    retrying would: the archive and the listener deduplicate by it."""

    def __init__(self, bus: Any) -> None:
        self.bus = bus

    def publish(self, modname: str, topic: str, msg: dict[str, Any]) -> None:
        from fedora_messaging.exceptions import ConnectionException, PublishTimeout

        from relengotron_sandbox.amqp import make_message

        message = make_message(f"{modname}.{topic}", msg)
        for _ in range(10):
            try:
                self.bus.send(message)
                return
            except (PublishTimeout, ConnectionException):
                time.sleep(1)
        raise HarnessError(f"could not publish {message.id} on AMQP")


class RawPublisher:
    """A ZeroMQ PUB that sends any frames, well-formed or not: connected to the relay's inbound socket, or
    (``relay_inbound`` None) bound on 127.0.0.1 as an endpoint of its own (``endpoint``)."""

    def __init__(self, relay_inbound: str | None) -> None:
        self.context = zmq.Context()
        self.socket = self.context.socket(zmq.PUB)
        self.socket.setsockopt(zmq.SNDHWM, 0)
        self.socket.setsockopt(zmq.LINGER, 2000)
        if relay_inbound is None:
            self.endpoint = f"tcp://127.0.0.1:{self.socket.bind_to_random_port('tcp://127.0.0.1')}"
        else:
            self.endpoint = relay_inbound
            self.socket.connect(relay_inbound)
            time.sleep(0.5)  # the relay's SUB must see this connection before anything is sent

    def send(self, frames: list[bytes]) -> None:
        self.socket.send_multipart(frames)

    def send_envelope(self, envelope: dict[str, Any]) -> None:
        self.send([envelope["topic"].encode(), json.dumps(envelope).encode()])

    def close(self) -> None:
        self.socket.close()
        self.context.term()
