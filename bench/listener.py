"""Figures 1 and 2 — the listener: bus message → DAG run in Airflow, latency and throughput.

One deployment serves both: a real Airflow API server on 127.0.0.1 in a private AIRFLOW_HOME (SQLite; the
dag-processor parses the DAGs and is stopped once they are in, so it does not take CPU from the measurement;
DAGs paused, so runs only queue), the sandbox bus (relay + archive + datagrepper) and
``relengotron listener run`` as its own process with production-like settings (inbox ``synchronous: FULL``,
INFO logs), one rule: every ``buildsys.tag`` into ``rawhide-pending`` → one ``rawhide_gating`` run whose
dag_run_id is ``<rule>__<msg_id>``. Messages are fedmsg envelopes sent into the relay's inbound socket as
Koji's publisher would (raw ZeroMQ frames, so the bench knows each msg_id and thus each run's id).

1. Latency: one message at a time, both sides observed the same way — the clock from just before the send (a
   message into the relay; a bare ``POST .../dagRuns`` of the same trigger, from a thread) until
   ``GET .../dagRuns/<run id>`` answers 200, polled every 5 ms by the same client — interleaved, alternating
   which goes first. Also each run's ``queued_at`` (Airflow's own stamp, no poll granularity) against the send,
   and the bare POST timed to its own 200 (the baseline before 2026-12-07, which the poll never burdened).
2. Throughput: a burst of messages published as fast as the socket takes them; the rate is messages over
   the time from the first send until the listener's created-runs counter reached the count. Then every
   run is listed from Airflow: none may be missing or doubled. Baseline (the limit): bare POSTs one after
   the other by one client — the listener's dispatcher also triggers one run at a time. Peak memory: the
   listener process's VmHWM after the burst, against its resident size when idle.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import requests
import yaml

from bench.airflow_env import BIN, environment, migrate
from bench.core import REPO, RunContext
from bench.stats import Figure, Metric, percentile, timed_metric
from relengotron_sandbox.testing import Process, ProcessError, child_env, free_port, start, wait_for

RULE = "bench-gate"  # one run per message
BATCH_RULE = "bench-batch"  # messages coalesced per window
WINDOW = 2.0  # seconds a batch window stays open
DAG_ID = "rawhide_gating"
TOPIC = "org.fedoraproject.dev.buildsys.tag"
NVR = "{{ msg.name }}-{{ msg.version }}-{{ msg.release }}"
RECEIVED = 'relengotron_listener_received_total{source="bus"}'
RETRIES = "relengotron_listener_trigger_retries_total"


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
    """The sandbox bus (relay, archive, datagrepper) as a process of its own (``python -m relengotron_sandbox.bus``):
    in the bench's process its relay thread would share the interpreter lock with the measuring client."""
    endpoints = state / "endpoints.json"
    env = {**child_env(), "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "sandbox")])}  # as the listener's
    argv = [str(BIN / "python"), "-m", "relengotron_sandbox.bus", "--state", str(state)]
    process = start("bus", argv, log=state / "bus.log", env=env)
    try:
        wait_for("the sandbox bus", lambda: endpoints.is_file() or None, 60, every=0.05, watch=[process])
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
def listener(root: Path, api: AirflowApi, bus: dict[str, Any]) -> Iterator[Listener]:
    """``relengotron listener run`` with the bench's one rule; stopped (SIGTERM) on the way out."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "password").write_text(api.password)
    rules = {
        "rules": [
            {
                "name": RULE,
                "topics": ["*.buildsys.tag"],
                "match": {"tag": "rawhide-pending", "name": ["lat*", "tp*"]},
                "dag_id": DAG_ID,
                "conf": {"release": "rawhide", "builds": [NVR]},
            },
            {
                "name": BATCH_RULE,
                "topics": ["*.buildsys.tag"],
                "match": {"tag": "rawhide-pending", "name": "tb*"},
                "dag_id": DAG_ID,
                "batch": {"key": "{{ msg.tag }}", "window_seconds": WINDOW, "item": NVR},
                "conf": {"release": "rawhide", "builds": "{{ items | unique | list }}"},
            },
        ]
    }
    (root / "rules.yaml").write_text(yaml.safe_dump(rules, sort_keys=False))
    config = {
        "bus": {"endpoints": [bus["relay_outbound"]], "settle_seconds": 0.5},
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


class Publisher:
    """A ZeroMQ PUB into the relay's inbound socket, sending fedmsg envelopes with msg_ids of its choosing."""

    def __init__(self, relay_inbound: str) -> None:
        import zmq

        self._zmq = zmq
        self.context = zmq.Context()
        self.socket = self.context.socket(zmq.PUB)
        self.socket.setsockopt(zmq.SNDHWM, 0)
        self.socket.setsockopt(zmq.LINGER, 5000)
        self.socket.connect(relay_inbound)
        self.i = 0
        time.sleep(0.5)  # the relay's SUB must see this connection before anything is sent

    def tag(self, nvr: str) -> str:
        """Publish ``buildsys.tag`` of ``nvr`` into rawhide-pending; the run id the listener will create."""
        name, version, release = nvr.rsplit("-", 2)
        self.i += 1
        msg_id = f"{time.gmtime().tm_year}-{uuid.uuid4()}"
        body = {
            "build_id": 900_000 + self.i,
            "name": name,
            "tag_id": 1123,
            "instance": "primary",
            "tag": "rawhide-pending",
            "user": "bodhi",
            "version": version,
            "owner": "packager",
            "release": release,
        }
        envelope = {"topic": TOPIC, "msg": body, "msg_id": msg_id, "i": self.i, "timestamp": time.time()}
        envelope["username"] = "apache"
        self.socket.send_multipart([TOPIC.encode(), json.dumps(envelope).encode()])
        return f"{RULE}__{msg_id}"

    def close(self) -> None:
        self.socket.close()
        self.context.term()


# --- the measurements --------------------------------------------------------------------------------------


POLL_EVERY = 0.005  # seconds between the observer's GETs of the run
GOAL = 1.2  # issue 16: p50 at most 1.2x the bare POST


@dataclass
class Latencies:
    """Figure 1's samples (seconds), each side observed the same way, interleaved."""

    through: list[float] = field(default_factory=list)  # message sent → its run seen by GET
    bare: list[float] = field(default_factory=list)  # bare POST sent → its run seen by GET
    bare_answer: list[float] = field(default_factory=list)  # the same bare POST → its own 200
    through_stamp: list[float] = field(default_factory=list)  # message sent → Airflow's queued_at of the run
    bare_stamp: list[float] = field(default_factory=list)  # bare POST sent → Airflow's queued_at of the run
    observe: list[float] = field(default_factory=list)  # one GET of a run that exists


def _observed(api: AirflowApi, begin: Callable[[], str]) -> tuple[str, float, float]:
    """(run id, wall clock at the start, seconds) from just before ``begin()`` — which sends what creates the run
    and returns its id — until ``GET`` of that run answers 200, polled every :data:`POLL_EVERY`: the one
    observer both sides of figure 1 are timed by."""
    wall, start_ = time.time(), time.perf_counter()
    run_id = begin()
    wait_for(f"run {run_id}", lambda: api.has_run(run_id), 60, every=POLL_EVERY)
    return run_id, wall, time.perf_counter() - start_


def _bare_post(api: AirflowApi, poster: AirflowApi, n: int) -> tuple[float, float, float]:
    """A bare POST sent from a thread while ``api`` polls for its run as for a message's: (wall start, seconds
    until seen, seconds until the POST's own 200)."""
    run_id = f"bare-lat__{n:05d}"
    answered: list[float | BaseException] = []

    def post() -> None:
        start_ = time.perf_counter()
        try:
            poster.trigger(run_id, {"release": "rawhide", "builds": [f"barelat{n:05d}-1.0-1.fc26"]})
            answered.append(time.perf_counter() - start_)
        except BaseException as exc:  # re-raised in the bench's thread
            answered.append(exc)

    thread = threading.Thread(target=post, name="bare-post")

    def begin() -> str:
        thread.start()
        return run_id

    try:
        _, wall, seen = _observed(api, begin)
    finally:
        thread.join(timeout=60)
    answer = answered[0] if answered else None
    if not isinstance(answer, float):
        raise ProcessError(f"POST {run_id}: {answer or 'no answer within 60 s'}")
    return wall, seen, answer


def _stamp(run: dict[str, Any]) -> float:
    """When Airflow created the run: its ``queued_at`` (stamped by the API server before its commit)."""
    return datetime.fromisoformat(run["queued_at"].replace("Z", "+00:00")).timestamp()


def _latency(ctx: RunContext, api: AirflowApi, pub: Publisher, count: int) -> Latencies:
    """Message → run and bare POST → run, observed identically (the same GET poll, the same clock), alternating
    which goes first; then Airflow's own creation stamp of every run, and what one observing GET costs."""
    poster = AirflowApi(api.url, api.password)  # its own session: the observer polls on ``api``'s meanwhile
    poster.session.headers.update(api.session.headers)
    out = Latencies()
    starts: dict[str, float] = {}
    run_id = ""
    for n in range(count):
        for side in ("listener", "bare") if n % 2 == 0 else ("bare", "listener"):
            if side == "listener":
                run_id, wall, seconds = _observed(api, lambda n=n: pub.tag(f"lat{n:05d}-1.0-1.fc26"))
                out.through.append(seconds)
                starts[run_id] = wall
            else:
                wall, seconds, answer = _bare_post(api, poster, n)
                out.bare.append(seconds)
                out.bare_answer.append(answer)
                starts[f"bare-lat__{n:05d}"] = wall
    stamps = {r["dag_run_id"]: _stamp(r) for prefix in (f"{RULE}__", "bare-lat__") for r in api.runs(prefix)}
    for run, wall in starts.items():
        (out.bare_stamp if run.startswith("bare-lat__") else out.through_stamp).append(stamps[run] - wall)
    for _ in range(min(count, 50)):
        start_ = time.perf_counter()
        api.has_run(run_id)
        out.observe.append(time.perf_counter() - start_)
    ctx.log(
        f"listener: latency p50 {percentile(out.through, 50) * 1e3:.0f} ms vs bare POST"
        f" {percentile(out.bare, 50) * 1e3:.0f} ms (its own 200: {percentile(out.bare_answer, 50) * 1e3:.0f} ms)"
    )
    return out


def _burst(ctx: RunContext, api: AirflowApi, pub: Publisher, lst: Listener, count: int) -> dict[str, Any]:
    """``count`` messages routed one run each: the rate, and what is missing or doubled in Airflow."""
    before = lst.created()
    received_before = lst.metric(RECEIVED)
    retries_before = lst.metric(RETRIES)
    expected = [f"tp{n:05d}-1.0-1.fc26" for n in range(count)]
    start_ = time.perf_counter()
    for nvr in expected:
        pub.tag(nvr)
    sent = time.perf_counter() - start_
    received: list[float] = []

    def created_all() -> float | None:
        lst.process.check()
        now = time.perf_counter()
        if not received and lst.metric(RECEIVED) - received_before >= count:
            received.append(now)
        return now if lst.created() - before >= count else None

    done = wait_for(f"{count} runs created by the listener", created_all, max(600.0, count / 5), every=0.25)
    seconds = done - start_
    wanted = set(expected)
    builds = [b for r in api.runs(f"{RULE}__") for b in (r.get("conf") or {}).get("builds", []) if b in wanted]
    ctx.log(f"listener: {count} messages in {seconds:.1f} s ({count / seconds:.1f}/s), {len(set(builds))} in runs")
    return {
        "seconds": seconds,
        "published_in": sent,
        "received_in": (received[0] if received else done) - start_,
        "retries": lst.metric(RETRIES) - retries_before,
        "missing": len(wanted - set(builds)),
        "doubled": len(builds) - len(set(builds)),
    }


def _batched(ctx: RunContext, api: AirflowApi, pub: Publisher, count: int) -> dict[str, Any]:
    """``count`` messages coalesced into runs per window: the rate until every build is in some run's conf."""
    expected = [f"tb{n:05d}-1.0-1.fc26" for n in range(count)]
    start_ = time.perf_counter()
    for nvr in expected:
        pub.tag(nvr)
    sent = time.perf_counter() - start_
    state: dict[str, Any] = {}

    def complete() -> float | None:
        lst_runs = api.runs(f"{BATCH_RULE}__")
        builds = [b for r in lst_runs for b in (r.get("conf") or {}).get("builds", [])]
        state.update(runs=len(lst_runs), builds=builds)
        return time.perf_counter() if set(expected) <= set(builds) else None

    done = wait_for(f"{count} builds in batched runs", complete, max(600.0, count / 5), every=0.5)
    seconds = done - start_
    builds = state["builds"]
    ctx.log(f"listener: {count} batched messages in {seconds:.1f} s ({count / seconds:.1f}/s), {state['runs']} runs")
    return {
        "seconds": seconds,
        "published_in": sent,
        "runs": state["runs"],
        "missing": len(set(expected) - set(builds)),
        "doubled": len(builds) - len(set(builds)),
    }


def _bare_throughput(api: AirflowApi, count: int) -> float:
    start_ = time.perf_counter()
    for n in range(count):
        api.trigger(f"bare-tp__{n:05d}", {"release": "rawhide", "builds": [f"baretp{n:05d}-1.0-1.fc26"]})
    return count / (time.perf_counter() - start_)


def _measure_both(ctx: RunContext) -> dict[str, Figure]:
    samples, single, batched = ctx.size(200, 20), ctx.size(2_000, 200), ctx.size(10_000, 500)
    bare_count = ctx.size(1_000, 100)
    fig1 = Figure("1", "listener-latency", "Listener latency: bus message → DAG run in Airflow")
    fig2 = Figure("2", "listener-throughput", "Listener throughput over a burst of messages")
    fig1.params = {"samples": samples, "poll_every_s": 0.005}
    fig2.params = {"one_run_each": single, "batched": batched, "window_s": WINDOW, "bare_posts": bare_count}
    with ExitStack() as stack:
        api = stack.enter_context(airflow_api_server(ctx.scratch("listener-airflow")))
        bus = stack.enter_context(sandbox_bus(ctx.scratch("listener-bus")))
        lst = stack.enter_context(listener(ctx.scratch("listener"), api, bus))
        pub = Publisher(bus["relay_inbound"])
        stack.callback(pub.close)
        idle = lst.process.rss_mib()
        lat = _latency(ctx, api, pub, samples)
        bare_rate = _bare_throughput(api, bare_count)
        one_each = _burst(ctx, api, pub, lst, single)
        coalesced = _batched(ctx, api, pub, batched)
        peak = lst.process.peak_rss_mib()
    both = "each side from its send until a GET sees its run (polled every 5 ms), interleaved"
    for p in (50, 95, 99):
        value, limit = percentile(lat.through, p), percentile(lat.bare, p)
        goal = p == 50
        fig1.add(
            Metric(
                f"p{p}",
                value,
                "s",
                baseline=f"bare POST p{p} (limit)",
                baseline_value=limit,
                kind="limit",
                note=f"{samples} messages, one at a time; {both}" + ("; goal <= 1.2x" if goal else ""),
                ok=value <= GOAL * limit if goal else None,
            )
        )
    fig1.add(timed_metric("median", lat.through, "bare POST median", lat.bare, kind="limit"))
    fig1.add(
        timed_metric(
            "to Airflow's stamp of the run",
            lat.through_stamp,
            "bare POST to its run's stamp",
            lat.bare_stamp,
            kind="limit",
            note="send → the run's queued_at (set by the API server as it creates the run): no observer granularity",
        )
    )
    fig1.add(
        timed_metric(
            "median, against the POST's own answer",
            lat.through,
            "bare POST to its own 200",
            lat.bare_answer,
            kind="reference",
            note="the baseline before 2026-12-07: the POST timed to its answer, never observed by the GET poll",
        )
    )
    fig1.add(
        timed_metric(
            "observing GET of a run",
            lat.observe,
            note="in both sides' figures: a run is seen at the first GET after it exists (polled every 5 ms)",
        )
    )
    fig2.add(
        Metric(
            f"msg/s, one run per message ({single:,} messages)",
            single / one_each["seconds"],
            "msg/s",
            baseline="bare POSTs per second (limit)",
            baseline_value=bare_rate,
            kind="limit",
            note=f"all received by the listener {one_each['received_in']:.1f} s after the first send "
            f"(published in {one_each['published_in']:.1f} s); {one_each['retries']:.0f} trigger retries; "
            f"bare: {bare_count:,} POSTs by one client",
        )
    )
    fig2.add(
        Metric(
            f"msg/s, coalesced ({batched:,} messages)",
            batched / coalesced["seconds"],
            "msg/s",
            baseline="bare POSTs per second",
            baseline_value=bare_rate,
            kind="reference",
            note=f"{coalesced['runs']} runs ({WINDOW:g} s windows); published in {coalesced['published_in']:.1f} s",
        )
    )
    lost = one_each["missing"] + one_each["doubled"] + coalesced["missing"] + coalesced["doubled"]
    fig2.add(
        Metric(
            "messages lost or doubled",
            float(lost),
            "count",
            baseline="messages sent",
            baseline_value=float(single + batched),
            kind="reference",
            note=f"missing {one_each['missing']} + {coalesced['missing']}, doubled {one_each['doubled']} + "
            f"{coalesced['doubled']} (one run each + coalesced)",
            ok=lost == 0,
        )
    )
    fig2.add(
        Metric(
            "listener peak memory",
            peak,
            "MiB",
            baseline="its resident size when idle",
            baseline_value=idle,
            kind="reference",
            note="VmHWM of the listener process after both bursts",
        )
    )
    return {"1": fig1, "2": fig2}


def _both(ctx: RunContext) -> dict[str, Figure]:
    """Both figures, measured once per run (a failure too is remembered, not measured twice)."""
    if "listener" not in ctx.shared:
        try:
            ctx.shared["listener"] = _measure_both(ctx)
        except Exception as exc:
            ctx.shared["listener"] = exc
            raise
    figures = ctx.shared["listener"]
    if isinstance(figures, Exception):
        raise RuntimeError(f"the listener deployment failed (see figure 1): {figures}")
    assert isinstance(figures, dict)
    return figures


def latency(ctx: RunContext) -> Figure:
    return _both(ctx)["1"]


def throughput(ctx: RunContext) -> Figure:
    return _both(ctx)["2"]
