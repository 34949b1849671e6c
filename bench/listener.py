"""Figures 1 and 2 — the listener: bus message → DAG run in Airflow, latency and throughput, on fedmsg and on
AMQP side by side (issue 16: the same goal for both).

One deployment serves both (bench/listener_deploy.py): a real Airflow API server, the sandbox bus with its
RabbitMQ, and two ``relengotron listener run`` processes — one on the fedmsg relay, one on a durable AMQP queue —
each with rules of its own, so their runs are told apart. fedmsg messages are envelopes sent as raw ZeroMQ frames
into the relay's inbound socket, as Koji's publisher would; AMQP messages are koji-fedoramessaging's TagV1,
published with confirms. Either way the bench knows each message's id, thus each run's id.

1. Latency: one message at a time, every side observed the same way — the clock from just before the send (a
   fedmsg message into the relay; an AMQP message to the broker; a bare ``POST .../dagRuns`` of the same
   trigger, from a thread) until ``GET .../dagRuns/<run id>`` answers 200, polled every 5 ms by the same client
   — interleaved, rotating which goes first. Also each run's ``queued_at`` (Airflow's own stamp, no poll
   granularity) against the send, and the bare POST timed to its own 200 (the baseline before 2026-12-07,
   which the poll never burdened).
2. Throughput, per transport: a burst of messages published as fast as the publisher can (AMQP: each
   confirmed); the rate is messages over the time from the first send until that listener's created-runs
   counter reached the count. Then every run is listed from Airflow: none may be missing or doubled. Baseline
   (the limit): bare POSTs one after the other by one client — the listener's dispatcher also triggers one run at
   a time. Peak memory: each listener process's VmHWM after its bursts, against its resident size when idle.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bench.core import RunContext
from bench.listener_deploy import (
    TRANSPORTS,
    WINDOW,
    AirflowApi,
    AmqpPublisher,
    FedmsgPublisher,
    Listener,
    airflow_api_server,
    batch_rule,
    listener,
    publisher,
    rule,
    sandbox_bus,
)
from bench.stats import Figure, Metric, percentile, timed_metric
from relengotron_sandbox.testing import ProcessError, wait_for

Publisher = FedmsgPublisher | AmqpPublisher
RECEIVED = 'relengotron_listener_received_total{source="bus"}'
RETRIES = "relengotron_listener_trigger_retries_total"
LABEL = {"fedmsg": "fedmsg", "amqp": "AMQP"}


# --- the measurements --------------------------------------------------------------------------------------


POLL_EVERY = 0.005  # seconds between the observer's GETs of the run
GOAL = 1.2  # issue 16: p50 at most 1.2x the bare POST, on either transport


@dataclass
class Latencies:
    """Figure 1's samples (seconds), every side observed the same way, interleaved."""

    through: dict[str, list[float]] = field(default_factory=lambda: {t: [] for t in TRANSPORTS})  # sent → seen
    through_stamp: dict[str, list[float]] = field(default_factory=lambda: {t: [] for t in TRANSPORTS})  # → queued_at
    bare: list[float] = field(default_factory=list)  # bare POST sent → its run seen by GET
    bare_answer: list[float] = field(default_factory=list)  # the same bare POST → its own 200
    bare_stamp: list[float] = field(default_factory=list)  # bare POST sent → Airflow's queued_at of the run
    observe: list[float] = field(default_factory=list)  # one GET of a run that exists


def _observed(api: AirflowApi, begin: Callable[[], str]) -> tuple[str, float, float]:
    """(run id, wall clock at the start, seconds) from just before ``begin()`` — which sends what creates the run
    and returns its id — until ``GET`` of that run answers 200, polled every :data:`POLL_EVERY`: the one
    observer every side of figure 1 is timed by."""
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


def _latency(ctx: RunContext, api: AirflowApi, pubs: dict[str, Publisher], count: int) -> Latencies:
    """Message → run on each transport and bare POST → run, observed identically (the same GET poll, the same
    clock), rotating which goes first; then Airflow's own creation stamp of every run, and what one observing
    GET costs."""
    poster = AirflowApi(api.url, api.password)  # its own session: the observer polls on ``api``'s meanwhile
    poster.session.headers.update(api.session.headers)
    out = Latencies()
    starts: dict[str, tuple[str, float]] = {}  # run id → (side, wall clock at its send)
    sides = [*TRANSPORTS, "bare"]
    run_id = ""
    for n in range(count):
        for side in sides[n % len(sides) :] + sides[: n % len(sides)]:
            if side == "bare":
                wall, seconds, answer = _bare_post(api, poster, n)
                out.bare.append(seconds)
                out.bare_answer.append(answer)
                starts[f"bare-lat__{n:05d}"] = (side, wall)
            else:
                pub = pubs[side]
                run_id, wall, seconds = _observed(api, pub.prepare(f"lat{n:05d}-1.0-1.fc26"))
                out.through[side].append(seconds)
                starts[run_id] = (side, wall)
    prefixes = ["bare-lat__", *(f"{rule(t)}__" for t in TRANSPORTS)]
    stamps = {r["dag_run_id"]: _stamp(r) for prefix in prefixes for r in api.runs(prefix)}
    for run, (side, wall) in starts.items():
        (out.bare_stamp if side == "bare" else out.through_stamp[side]).append(stamps[run] - wall)
    for _ in range(min(count, 50)):
        start_ = time.perf_counter()
        api.has_run(run_id)
        out.observe.append(time.perf_counter() - start_)
    seen = ", ".join(f"{LABEL[t]} {percentile(out.through[t], 50) * 1e3:.0f} ms" for t in TRANSPORTS)
    ctx.log(
        f"listener: latency p50 {seen} vs bare POST {percentile(out.bare, 50) * 1e3:.0f} ms"
        f" (its own 200: {percentile(out.bare_answer, 50) * 1e3:.0f} ms)"
    )
    return out


def _burst(ctx: RunContext, api: AirflowApi, pub: Publisher, lst: Listener, count: int) -> dict[str, Any]:
    """``count`` messages routed one run each: the rate, and what is missing or doubled in Airflow."""
    before = lst.created()
    received_before = lst.metric(RECEIVED)
    retries_before = lst.metric(RETRIES)
    expected = [f"tp{n:05d}-1.0-1.fc26" for n in range(count)]
    sends = [pub.prepare(nvr) for nvr in expected]
    start_ = time.perf_counter()
    for send in sends:
        send()
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
    runs = api.runs(f"{rule(pub.transport)}__")
    builds = [b for r in runs for b in (r.get("conf") or {}).get("builds", []) if b in wanted]
    ctx.log(
        f"listener ({LABEL[pub.transport]}): {count} messages in {seconds:.1f} s ({count / seconds:.1f}/s),"
        f" {len(set(builds))} in runs"
    )
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
    sends = [pub.prepare(nvr) for nvr in expected]
    start_ = time.perf_counter()
    for send in sends:
        send()
    sent = time.perf_counter() - start_
    state: dict[str, Any] = {}

    def complete() -> float | None:
        lst_runs = api.runs(f"{batch_rule(pub.transport)}__")
        builds = [b for r in lst_runs for b in (r.get("conf") or {}).get("builds", [])]
        state.update(runs=len(lst_runs), builds=builds)
        return time.perf_counter() if set(expected) <= set(builds) else None

    done = wait_for(f"{count} builds in batched runs", complete, max(600.0, count / 5), every=0.5)
    seconds = done - start_
    builds = state["builds"]
    ctx.log(
        f"listener ({LABEL[pub.transport]}): {count} batched messages in {seconds:.1f} s"
        f" ({count / seconds:.1f}/s), {state['runs']} runs"
    )
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


@dataclass
class Measured:
    """What one deployment measured, for both figures."""

    lat: Latencies
    bare_rate: float
    one_each: dict[str, dict[str, Any]]  # transport → _burst's answer
    coalesced: dict[str, dict[str, Any]]  # transport → _batched's answer
    idle: dict[str, float]  # transport → the listener's resident MiB when idle
    peak: dict[str, float]  # transport → its VmHWM after the bursts


def _measure(ctx: RunContext, samples: int, single: int, batched: int, bare_count: int) -> Measured:
    with ExitStack() as stack:
        api = stack.enter_context(airflow_api_server(ctx.scratch("listener-airflow")))
        bus = stack.enter_context(sandbox_bus(ctx.scratch("listener-bus")))
        listeners: dict[str, Listener] = {}
        pubs: dict[str, Publisher] = {}
        for transport in TRANSPORTS:
            listeners[transport] = stack.enter_context(
                listener(ctx.scratch(f"listener-{transport}"), api, bus, transport)
            )
            pubs[transport] = publisher(transport, bus)
            stack.callback(pubs[transport].close)
        idle = {t: lst.process.rss_mib() for t, lst in listeners.items()}
        lat = _latency(ctx, api, pubs, samples)
        bare_rate = _bare_throughput(api, bare_count)
        one_each, coalesced, peak = {}, {}, {}
        for transport in TRANSPORTS:  # one at a time: the other listener idles meanwhile
            one_each[transport] = _burst(ctx, api, pubs[transport], listeners[transport], single)
            coalesced[transport] = _batched(ctx, api, pubs[transport], batched)
            peak[transport] = listeners[transport].process.peak_rss_mib()
    return Measured(lat, bare_rate, one_each, coalesced, idle, peak)


def _latency_figure(fig: Figure, lat: Latencies, samples: int) -> None:
    both = "each side from its send until a GET sees its run (polled every 5 ms), interleaved"
    for transport in TRANSPORTS:
        label, through = LABEL[transport], lat.through[transport]
        for p in (50, 95, 99):
            value, limit = percentile(through, p), percentile(lat.bare, p)
            goal = p == 50
            fig.add(
                Metric(
                    f"p{p}, {label}",
                    value,
                    "s",
                    baseline=f"bare POST p{p} (limit)",
                    baseline_value=limit,
                    kind="limit",
                    note=f"{samples} messages, one at a time; {both}" + ("; goal <= 1.2x" if goal else ""),
                    ok=value <= GOAL * limit if goal else None,
                )
            )
        fig.add(timed_metric(f"median, {label}", through, "bare POST median", lat.bare, kind="limit"))
        fig.add(
            timed_metric(
                f"to Airflow's stamp of the run, {label}",
                lat.through_stamp[transport],
                "bare POST to its run's stamp",
                lat.bare_stamp,
                kind="limit",
                note="send → the run's queued_at (set by the API server as it creates the run): no observer "
                "granularity",
            )
        )
        fig.add(
            timed_metric(
                f"median against the POST's own answer, {label}",
                through,
                "bare POST to its own 200",
                lat.bare_answer,
                kind="reference",
                note="the baseline before 2026-12-07: the POST timed to its answer, never observed by the GET poll",
            )
        )
    fig.add(
        timed_metric(
            "observing GET of a run",
            lat.observe,
            note="in every side's figures: a run is seen at the first GET after it exists (polled every 5 ms)",
        )
    )


def _throughput_figure(fig: Figure, m: Measured, single: int, batched: int, bare_count: int) -> None:
    for transport in TRANSPORTS:
        label, one_each, coalesced = LABEL[transport], m.one_each[transport], m.coalesced[transport]
        fig.add(
            Metric(
                f"msg/s, one run per message ({single:,} messages), {label}",
                single / one_each["seconds"],
                "msg/s",
                baseline="bare POSTs per second (limit)",
                baseline_value=m.bare_rate,
                kind="limit",
                note=f"all received by the listener {one_each['received_in']:.1f} s after the first send "
                f"(published in {one_each['published_in']:.1f} s); {one_each['retries']:.0f} trigger retries; "
                f"bare: {bare_count:,} POSTs by one client",
            )
        )
        fig.add(
            Metric(
                f"msg/s, coalesced ({batched:,} messages), {label}",
                batched / coalesced["seconds"],
                "msg/s",
                baseline="bare POSTs per second",
                baseline_value=m.bare_rate,
                kind="reference",
                note=f"{coalesced['runs']} runs ({WINDOW:g} s windows); published in {coalesced['published_in']:.1f} s",
            )
        )
        lost = one_each["missing"] + one_each["doubled"] + coalesced["missing"] + coalesced["doubled"]
        fig.add(
            Metric(
                f"messages lost or doubled, {label}",
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
        fig.add(
            Metric(
                f"listener peak memory, {label}",
                m.peak[transport],
                "MiB",
                baseline="its resident size when idle",
                baseline_value=m.idle[transport],
                kind="reference",
                note="VmHWM of the listener process after its bursts",
            )
        )


def _measure_both(ctx: RunContext) -> dict[str, Figure]:
    samples, single, batched = ctx.size(200, 20), ctx.size(2_000, 200), ctx.size(10_000, 500)
    bare_count = ctx.size(1_000, 100)
    fig1 = Figure("1", "listener-latency", "Listener latency: bus message → DAG run in Airflow")
    fig2 = Figure("2", "listener-throughput", "Listener throughput over a burst of messages")
    fig1.params = {"samples": samples, "poll_every_s": POLL_EVERY, "transports": list(TRANSPORTS)}
    fig2.params = {
        "one_run_each": single,
        "batched": batched,
        "window_s": WINDOW,
        "bare_posts": bare_count,
        "transports": list(TRANSPORTS),
    }
    measured = _measure(ctx, samples, single, batched, bare_count)
    _latency_figure(fig1, measured.lat, samples)
    _throughput_figure(fig2, measured, single, batched, bare_count)
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
