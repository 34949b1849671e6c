"""Fixtures for integration tests: a built world, and contexts to start sandbox services in-process."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from relengotron_sandbox.service import SandboxContext
from relengotron_sandbox.world import World

REPO = Path(__file__).resolve().parents[2]
WORLD_CACHE = REPO / "var" / "cache" / "world"


@pytest.fixture(scope="session")
def built_world(world: World):
    """The default world built once per machine (cached under var/cache/world, like `sandbox up` does)."""
    from relengotron_sandbox.worldbuild import build_world

    return build_world(world, WORLD_CACHE)


@dataclass
class RecordingPublisher:
    """Keeps what services publish, for tests that do not need the real bus."""

    messages: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def publish(self, modname: str, topic: str, msg: dict[str, Any]) -> None:
        with self.lock:
            self.messages.append((modname, topic, msg))


@pytest.fixture
def recording_ctx(tmp_path: Path, world: World, built_world) -> Iterator[SandboxContext]:
    """A context whose publisher records messages in ``ctx.publisher.messages``."""
    ctx = SandboxContext(state_dir=tmp_path / "state", world=world, built=built_world)
    ctx.state_dir.mkdir()
    ctx.publisher = RecordingPublisher()
    yield ctx
    ctx.stopping.set()


@pytest.fixture
def bus_ctx(tmp_path: Path, world: World, built_world) -> Iterator[SandboxContext]:
    """A context with the real sandbox bus running: services publish through the relay into the archive."""
    from relengotron_sandbox.bus import BusService

    ctx = SandboxContext(state_dir=tmp_path / "state", world=world, built=built_world)
    ctx.state_dir.mkdir()
    bus = BusService(ctx)
    ctx.endpoints["bus"] = bus.start()
    yield ctx
    ctx.stopping.set()
    bus.stop()


def bus_messages(ctx: SandboxContext, topic: str | None = None) -> list[dict[str, Any]]:
    """Every archived message (optionally of one full topic), oldest first, read through datagrepper /raw."""
    import requests

    url = ctx.endpoints["bus"]["datagrepper"] + "raw"
    params: dict[str, Any] = {"order": "asc", "rows_per_page": 100, "page": 1}
    if topic:
        params["topic"] = topic
    out: list[dict[str, Any]] = []
    while True:
        answer = requests.get(url, params=params, timeout=10).json()
        out.extend(answer["raw_messages"])
        if params["page"] >= answer["pages"]:
            return out
        params["page"] += 1


@pytest.fixture
def sshd_server(tmp_path: Path):
    """A real sshd on 127.0.0.1 (throwaway keys under tmp_path; see tests/integration/sshd.py), stopped after the
    test with every process it started. Commands put in ``server.bin`` are on the sessions' PATH ahead of /usr/bin."""
    from sshd import sshd

    with sshd(tmp_path / "sshd") as server:
        yield server


@pytest.fixture
def services(bus_ctx: SandboxContext) -> Iterator[SandboxContext]:
    """The real bus plus the sandbox Koji hub, PDC, Bugzilla and ResultsDB, started in-process on 127.0.0.1;
    their endpoints are in ``services.endpoints[<name>]``. Stopped (in reverse order) after the test: close
    Koji sessions before then (log out), as an in-process hub must not be left with live sessions."""
    from relengotron_sandbox.bugzilla import BugzillaService
    from relengotron_sandbox.koji import KojiHub
    from relengotron_sandbox.pdc import PDCService
    from relengotron_sandbox.resultsdb import ResultsDBService

    started: list[Any] = []
    try:
        for kind in (KojiHub, PDCService, BugzillaService, ResultsDBService):
            service = kind(bus_ctx)
            bus_ctx.endpoints[service.name] = service.start()
            started.append(service)
        yield bus_ctx
    finally:
        for service in reversed(started):
            service.stop()


@pytest.fixture
def sandbox(tmp_path: Path, built_world) -> Iterator[dict[str, Any]]:
    """A whole sandbox (`relengotron-sandbox up`: its own daemon, every service, the rendered release
    configuration) on a state dir of its own; yields its endpoints; stopped with nothing left behind."""
    from relengotron_sandbox import control

    state = tmp_path / "sandbox"
    running = control.up(state_dir=state, cache_dir=WORLD_CACHE)
    try:
        yield running.endpoints
    finally:
        control.down(state)


@pytest.fixture
def airflow_connections(sandbox: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Airflow Connections and the config Variable pointing at ``sandbox``, as AIRFLOW_CONN_*/AIRFLOW_VAR_* env."""
    from relengotron_sandbox.connections import airflow_environment

    for name, value in airflow_environment(sandbox).items():
        monkeypatch.setenv(name, value)
    return sandbox


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """The session's Airflow metadata database (SQLite in the private AIRFLOW_HOME), migrated once."""
    import os
    import subprocess
    import sys

    home = Path(os.environ["AIRFLOW_HOME"])
    airflow = Path(sys.executable).with_name("airflow")
    result = subprocess.run([str(airflow), "db", "migrate"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return home / "airflow.db"


@pytest.fixture
def koji_session(airflow_connections: dict[str, Any]) -> Iterator[Any]:
    """A release engineer's Koji session on the sandbox hub (logged out before the sandbox stops: an in-process
    hub deadlocks on a session logged out by the garbage collector)."""
    import koji

    session = koji.ClientSession(airflow_connections["koji"]["hub"], opts={"user": "releng", "password": "x"})
    session.login()
    yield session
    session.logout()


def load_dag(dag_id: str) -> Any:
    """The DAG ``dag_id`` from the repository's dags folder, loaded as the DAG processor does (safe mode off),
    with no import error anywhere."""
    from airflow.models import DagBag

    bag = DagBag(dag_folder=str(Path(__file__).resolve().parents[2] / "dags"), safe_mode=False)
    assert bag.import_errors == {}
    return bag.dags[dag_id]


@pytest.fixture
def listeners() -> Iterator[list[Any]]:
    """Listeners (listener_harness.Listener) a test starts; every one is stopped afterwards, whatever happened."""
    started: list[Any] = []  # listener_harness.Listener
    yield started
    for one in started:
        one.stop()
