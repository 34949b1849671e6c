"""Real processes for the listener's acceptance tests: an Airflow API server (+ dag-processor and scheduler) on
SQLite, the listener as `relengotron listener run`, and a bus to publish on (fedmsg, or raw ZeroMQ frames).

Every process runs in a session of its own and is stopped with all its descendants, even when a test fails.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import yaml
import zmq

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DAG_IDS = ("rawhide_gating", "updates_push", "autosign")


class HarnessError(RuntimeError):
    pass


def wait_for(what: str, ready: Callable[[], Any], timeout: float, *, every: float = 0.2) -> Any:
    """Poll ``ready`` until it returns something true; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = ready()
        except HarnessError:
            raise
        except Exception as exc:  # not up yet
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(every)
    raise HarnessError(f"{what}: not reached within {timeout} s (last: {last!r})")


@dataclass
class Process:
    name: str
    popen: subprocess.Popen
    log: Path

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return ""
        return f"--- {self.name} ({self.log}) ---\n" + "\n".join(text)


def start_process(name: str, argv: list[str], root: Path, env: dict[str, str]) -> Process:
    log = root / "logs" / f"{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        popen = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=root,
            start_new_session=True,
        )
    return Process(name, popen, log)


def stop_process(process: Process, sig: int = signal.SIGTERM, timeout: float = 20) -> int | None:
    """Signal the process's session; SIGKILL whatever is left (its descendants too) after ``timeout``."""
    from sshd import _alive, _descendants

    if process.popen.poll() is not None:
        return process.popen.returncode
    others = _descendants(process.popen.pid)
    with suppress(ProcessLookupError):
        os.killpg(process.popen.pid, sig)
    try:
        process.popen.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(process.popen.pid, signal.SIGKILL)
        process.popen.wait(timeout=10)
    for pid in others:
        if _alive(pid):
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    return process.popen.returncode


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
        self.processes[name] = start_process(name, [str(BIN / "airflow"), name, *args], self.root, self.env)

    def start_api(self) -> None:
        self._start("api-server")
        wait_for(
            "the Airflow API server",
            lambda: self._alive("api-server") and requests.get(f"{self.url}/api/v2/monitor/health", timeout=2).ok,
            120,
        )

    def stop_api(self) -> None:
        stop_process(self.processes.pop("api-server"))

    def _alive(self, name: str) -> bool:
        process = self.processes[name]
        if process.popen.poll() is not None:
            raise HarnessError(f"{name} exited\n{process.tail()}")
        return True

    def token(self) -> str:
        answer = requests.post(
            f"{self.url}/auth/token", json={"username": "admin", "password": self.password}, timeout=10
        )
        answer.raise_for_status()
        return answer.json()["access_token"]

    def get(self, path: str, **params: Any) -> Any:
        for _ in range(2):
            if self._token is None:
                self._token = self.token()
            answer = requests.get(
                f"{self.url}{path}", params=params, headers={"Authorization": f"Bearer {self._token}"}, timeout=30
            )
            if answer.status_code == 401:
                self._token = None
                continue
            answer.raise_for_status()
            return answer.json()
        raise HarnessError(f"GET {path}: unauthorized")

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
def airflow(root: Path) -> Iterator[Airflow]:
    """Migrate a private SQLite metadata DB, start the three processes, wait until the DAGs are parsed."""
    from sshd import _free_port

    root.mkdir(parents=True, exist_ok=True)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")},
        "PATH": f"{BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "AIRFLOW_HOME": str(root),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(_free_port()),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API_AUTH__JWT_SECRET": "relengotron-listener-tests",
    }
    deployment = Airflow(root, int(env["AIRFLOW__API__PORT"]), env)
    migrate = subprocess.run([str(BIN / "airflow"), "db", "migrate"], env=env, cwd=root, capture_output=True, text=True)
    if migrate.returncode:
        raise HarnessError(f"airflow db migrate failed:\n{migrate.stdout[-2000:]}{migrate.stderr[-2000:]}")
    try:
        deployment._start("dag-processor")
        deployment._start("scheduler", "--skip-serve-logs")  # its log server would listen on 0.0.0.0
        deployment.start_api()

        def parsed() -> bool:
            deployment._alive("dag-processor")
            found = {d["dag_id"] for d in deployment.get("/api/v2/dags", limit=100)["dags"]}
            return set(DAG_IDS) <= found

        wait_for("the DAGs parsed by the dag-processor", parsed, 180, every=1)
        yield deployment
    finally:
        for process in list(deployment.processes.values()):
            stop_process(process)


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
        self.process = start_process(
            "listener", [str(BIN / "relengotron"), "listener", "run", "--config", str(self.config)], self.root, env
        )
        wait_for("the listener ready (/healthz)", lambda: self.alive() and self.health().get("ready"), ready_timeout)
        return self

    def alive(self) -> bool:
        assert self.process is not None
        if self.process.popen.poll() is not None:
            raise HarnessError(f"the listener exited ({self.process.popen.returncode})\n{self.process.tail()}")
        return True

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
        stop_process(self.process, signal.SIGKILL)

    def stop(self) -> int | None:
        if self.process is None:
            return None
        return stop_process(self.process, signal.SIGTERM, timeout=30)

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
) -> Listener:
    """A listener config + rules file under ``root`` for this Airflow and bus (port 0: any free one)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "password").write_text(airflow.password)
    (root / "rules.yaml").write_text(yaml.safe_dump(rules, sort_keys=False))
    validation: dict[str, Any] = {"max_body_bytes": max_body_bytes, "signatures": signatures is not None}
    if signatures is not None:
        validation["crypto"] = signatures
    config = {
        "bus": {"endpoints": [bus["relay_outbound"], *extra_endpoints], "settle_seconds": 0.5},
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
        "http": {"host": "127.0.0.1", "port": 0},
        "validation": validation,
        "logging": {"level": "INFO"},
    }
    path = root / "listener.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return Listener(root, path)


# --------------------------------------------------------------------------- publishing raw frames


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
