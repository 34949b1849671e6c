"""The listener figures' deployment: a real Airflow API server (DAGs parsed, then the dag-processor stopped; DAGs
paused so runs only queue), the sandbox bus as a process of its own (relay, archive, datagrepper, and a RabbitMQ
of its own), ``relengotron listener run`` per transport with production-like settings (inbox
``synchronous: FULL``, INFO logs), and a publisher per transport that knows each message's id and thus the id
of the run the listener will create (``<rule>__<msg_id>``).

The rules: every ``buildsys.tag`` into ``rawhide-pending`` of a ``lat*``/``tp*`` build → one ``rawhide_gating``
run; of a ``tb*`` build → coalesced per 2 s window. Each transport's rules have names of their own, so both
listeners can serve one Airflow and their runs be told apart.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import yaml

from bench.airflow_env import BIN, environment, migrate
from bench.core import REPO
from relengotron_sandbox.testing import Process, ProcessError, child_env, free_port, start, wait_for

TRANSPORTS = ("fedmsg", "amqp")
WINDOW = 2.0  # seconds a batch window stays open
DAG_ID = "rawhide_gating"
TOPIC = "buildsys.tag"  # Koji's, without the bus's prefix
NVR = "{{ msg.name }}-{{ msg.version }}-{{ msg.release }}"


def rule(transport: str) -> str:
    """The one-run-per-message rule of ``transport``'s listener."""
    return f"bench-gate-{transport}"


def batch_rule(transport: str) -> str:
    """The coalescing rule of ``transport``'s listener."""
    return f"bench-batch-{transport}"


@dataclass
class AirflowApi:
    """The REST API of the deployment, logged in as admin (JWT)."""

    url: str
    password: str
    session: requests.Session = field(default_factory=requests.Session)

    def login(self) -> None:
        answer = requests.post(
            f"{self.url}/auth/token", json={"username": "admin", "password": self.password}, timeout=30
        )
        answer.raise_for_status()
        self.session.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"

    def trigger(self, run_id: str, conf: dict[str, Any]) -> int:
        body = {"dag_run_id": run_id, "logical_date": None, "conf": conf}
        answer = self.session.post(f"{self.url}/api/v2/dags/{DAG_ID}/dagRuns", json=body, timeout=60)
        if answer.status_code != 200:
            raise ProcessError(f"POST {run_id}: HTTP {answer.status_code} {answer.text[:300]}")
        return answer.status_code

    def has_run(self, run_id: str) -> bool:
        answer = self.session.get(f"{self.url}/api/v2/dags/{DAG_ID}/dagRuns/{run_id}", timeout=60)
        if answer.status_code not in (200, 404):
            raise ProcessError(f"GET {run_id}: HTTP {answer.status_code} {answer.text[:300]}")
        return answer.status_code == 200

    def run_ids(self, prefix: str) -> list[str]:
        return [r["dag_run_id"] for r in self.runs(prefix)]

    def runs(self, prefix: str) -> list[dict[str, Any]]:
        """Every run of the DAG whose id starts with ``prefix`` (id and conf), in creation order."""
        out: list[dict[str, Any]] = []
        while True:
            answer = self.session.get(
                f"{self.url}/api/v2/dags/{DAG_ID}/dagRuns",
                params={"run_id_prefix_pattern": prefix, "order_by": "id", "limit": 100, "offset": len(out)},
                timeout=60,
            )
            answer.raise_for_status()
            page = answer.json()["dag_runs"]
            out.extend(page)
            if len(page) < 100:
                return [r for r in out if r["dag_run_id"].startswith(prefix)]

    def dag_ids(self) -> set[str]:
        answer = self.session.get(f"{self.url}/api/v2/dags", params={"limit": 100}, timeout=30)
        answer.raise_for_status()
        return {d["dag_id"] for d in answer.json()["dags"]}


@contextmanager
def airflow_api_server(root: Path) -> Iterator[AirflowApi]:
    """Migrate, parse the DAGs with the dag-processor (then stop it), serve the API on a free port."""
    port = free_port()
    env = environment(
        root,
        api_port=port,
        AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="True",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="admin:admin",
    )
    migrate(env)
    airflow = str(BIN / "airflow")
    running: list[Process] = []
    try:
        for name in ("dag-processor", "api-server"):
            log = root / "logs" / f"{name}.log"
            running.append(start(name, [airflow, name], log=log, env=env, cwd=root, marker="airflow"))
        url = f"http://127.0.0.1:{port}"
        health = f"{url}/api/v2/monitor/health"
        wait_for("the Airflow API server", lambda: requests.get(health, timeout=2).ok, 180, watch=running[1:])
        password = json.loads((root / "simple_auth_manager_passwords.json.generated").read_text())["admin"]
        api = AirflowApi(url, password)
        api.login()
        wait_for(f"the DAG {DAG_ID} parsed", lambda: DAG_ID in api.dag_ids(), 240, every=1, watch=running[:1])
        running[0].stop()  # parsed: from here on it would only re-parse, on the cores the figure measures
        yield api
    finally:
        for process in reversed(running):
            process.stop()


@contextmanager
def sandbox_bus(state: Path) -> Iterator[dict[str, Any]]:
    """The sandbox bus with its broker (``python -m relengotron_sandbox.bus --broker``) as a process of its own:
    in the bench's process its relay thread would share the interpreter lock with the measuring client."""
    endpoints = state / "endpoints.json"
    env = {**child_env(), "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "sandbox")])}  # as the listener's
    argv = [str(BIN / "python"), "-m", "relengotron_sandbox.bus", "--state", str(state), "--broker"]
    process = start("bus", argv, log=state / "bus.log", env=env)
    try:
        wait_for(
            "the sandbox bus and its broker", lambda: endpoints.is_file() or None, 180, every=0.05, watch=[process]
        )
        yield json.loads(endpoints.read_text())["bus"]
    finally:
        process.stop()


@dataclass
class Listener:
    process: Process
    http: str

    def metric(self, name: str) -> float:
        text = requests.get(f"{self.http}/metrics", timeout=10).text
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def created(self) -> float:
        return self.metric('relengotron_listener_triggered_total{answer="created"')


@contextmanager
def listener(root: Path, api: AirflowApi, bus: dict[str, Any], transport: str) -> Iterator[Listener]:
    """``relengotron listener run`` on ``transport`` (fedmsg: the relay; amqp: a durable queue on the broker)
    with that transport's two rules; stopped (SIGTERM) on the way out."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "password").write_text(api.password)
    rules = {
        "rules": [
            {
                "name": rule(transport),
                "topics": [f"*.{TOPIC}"],
                "match": {"tag": "rawhide-pending", "name": ["lat*", "tp*"]},
                "dag_id": DAG_ID,
                "conf": {"release": "rawhide", "builds": [NVR]},
            },
            {
                "name": batch_rule(transport),
                "topics": [f"*.{TOPIC}"],
                "match": {"tag": "rawhide-pending", "name": "tb*"},
                "dag_id": DAG_ID,
                "batch": {"key": "{{ msg.tag }}", "window_seconds": WINDOW, "item": NVR},
                "conf": {"release": "rawhide", "builds": "{{ items | unique | list }}"},
            },
        ]
    }
    (root / "rules.yaml").write_text(yaml.safe_dump(rules, sort_keys=False))
    if transport == "amqp":
        from relengotron_sandbox.broker import listener_amqp

        amqp = listener_amqp(bus["amqp_url"], root, queue="relengotron-bench-listener")
        bus_config: dict[str, Any] = {"transport": "amqp", "settle_seconds": 0.5, "amqp": amqp}
    else:
        bus_config = {"endpoints": [bus["relay_outbound"]], "settle_seconds": 0.5}
    config = {
        "bus": bus_config,
        "datagrepper": {"url": bus["datagrepper"], "rows_per_page": 100, "replay_margin_seconds": 5},
        "airflow": {
            "url": api.url,
            "username": "admin",
            "password_file": "password",
            "timeout_seconds": 30,
            "retry": {"initial_seconds": 0.2, "max_seconds": 2},
        },
        "inbox": {"path": "inbox.sqlite", "synchronous": "FULL"},
        "rules": "rules.yaml",
        "http": {"host": "127.0.0.1", "port": 0},
        "validation": {"max_body_bytes": 1048576, "signatures": False},
        "logging": {"level": "INFO"},
    }
    path = root / "listener.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    # the checkout the bench runs from, not whatever relengotron the venv has installed (as figure 10 does)
    env = {
        **child_env(),
        "PATH": f"{BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "sandbox")]),
    }
    argv = [str(BIN / "relengotron"), "listener", "run", "--config", str(path)]
    process = start("listener", argv, log=root / "logs" / "listener.log", env=env, cwd=root, marker="relengotron")
    try:
        runtime = root / "inbox.sqlite.runtime.json"
        http = wait_for(
            "the listener's runtime file", lambda: json.loads(runtime.read_text())["http"], 60, watch=[process]
        )
        wait_for("the listener ready", lambda: requests.get(f"{http}/healthz", timeout=5).json().get("ready"), 60)
        yield Listener(process, http)
    finally:
        process.stop()


def _tag_body(nvr: str, build_id: int) -> dict[str, Any]:
    """Koji's ``buildsys.tag`` body for ``nvr`` tagged into rawhide-pending."""
    from relengotron_sandbox.koji.tagging import tag_body

    return tag_body("rawhide-pending", nvr, build_id=build_id, owner="packager", user="bodhi")


class FedmsgPublisher:
    """A ZeroMQ PUB into the relay's inbound socket, sending fedmsg envelopes with msg_ids of its choosing (raw
    frames, as Koji's fedmsg publisher put them on the wire)."""

    transport = "fedmsg"

    def __init__(self, bus: dict[str, Any]) -> None:
        import zmq

        self.context = zmq.Context()
        self.socket = self.context.socket(zmq.PUB)
        self.socket.setsockopt(zmq.SNDHWM, 0)
        self.socket.setsockopt(zmq.LINGER, 5000)
        self.socket.connect(bus["relay_inbound"])
        self.topic = f"{bus['topic_prefix']}.{bus['environment']}.{TOPIC}"
        self.i = 0
        time.sleep(0.5)  # the relay's SUB must see this connection before anything is sent

    def prepare(self, nvr: str) -> Callable[[], str]:
        """``buildsys.tag`` of ``nvr`` into rawhide-pending, built now; the returned call sends it and answers the
        run id the listener will create (so a figure's clock holds the send only)."""
        self.i += 1
        msg_id = f"{time.gmtime().tm_year}-{uuid.uuid4()}"
        envelope = {
            "topic": self.topic,
            "msg": _tag_body(nvr, 900_000 + self.i),
            "msg_id": msg_id,
            "i": self.i,
            "timestamp": time.time(),
            "username": "apache",
        }
        frames = [self.topic.encode(), json.dumps(envelope).encode()]

        def send() -> str:
            self.socket.send_multipart(frames)
            return f"{rule(self.transport)}__{msg_id}"

        return send

    def close(self) -> None:
        self.socket.close()
        self.context.term()


class AmqpPublisher:
    """Koji's ``buildsys.tag`` as koji-fedoramessaging sends it (its TagV1 class, the fedora-messaging id,
    headers and body), published with confirms on one blocking pika connection (no reactor thread in the
    measuring process)."""

    transport = "amqp"

    def __init__(self, bus: dict[str, Any]) -> None:
        from relengotron_sandbox.amqp import PikaPublisher

        self.link = PikaPublisher(bus["amqp_url"])
        self.prefix = bus["amqp_topic_prefix"]
        self.i = 0

    def prepare(self, nvr: str) -> Callable[[], str]:
        """``buildsys.tag`` of ``nvr`` into rawhide-pending, built and validated now (fedora-messaging's
        ``publish`` validates before sending: the publisher's cost, not the listener's); the returned call sends
        it, returns once the broker confirmed, and answers the run id the listener will create."""
        from relengotron_sandbox.amqp import make_message

        self.i += 1
        message = make_message(TOPIC, _tag_body(nvr, 900_000 + self.i))

        def send() -> str:
            self.link.send_message(message, self.prefix)
            return f"{rule(self.transport)}__{message.id}"

        return send

    def close(self) -> None:
        self.link.close()


def publisher(transport: str, bus: dict[str, Any]) -> FedmsgPublisher | AmqpPublisher:
    return AmqpPublisher(bus) if transport == "amqp" else FedmsgPublisher(bus)
