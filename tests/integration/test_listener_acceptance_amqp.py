"""The listener's acceptance on AMQP: a real RabbitMQ (the sandbox's broker) in, the sandbox bus's datagrepper for
the replays, a real Airflow out, `relengotron listener run` (``bus.transport: amqp``) in between. Each scenario
prints its counts.

1-3. The transport-free scenarios of test_listener_acceptance.py (listener_scenarios.py): 1,000 messages, kill -9
     mid-burst, Airflow down 30 s.
4.   The listener down while messages are published, and its queue gone meanwhile (Fedora's public broker deletes
     a queue nobody consumes after about an hour) → the window replayed from datagrepper.
5.   The broker restarted mid-burst → nothing lost, nothing duplicated.
6.   The connection to the broker cut silently (a proxy that stops forwarding, no FIN) → the stall seen by
     /healthz and the metrics, healed within a minute, nothing lost, nothing duplicated.
7.   ≥ 50 malformed or hostile deliveries → each dead-lettered with its reason, and acked (the queue drains).
     Last: they reach the sandbox's archive consumer too, which is fedora-messaging's own consumer, and some of
     them stop it for good (relengotron/listener/amqp_bus.py says why).
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from listener_harness import AmqpPublisher, Listener, airflow, write_listener
from listener_samples import koji_tag
from listener_scenarios import (
    Make,
    gate_rule,
    nvrs_of,
    publish_in_background,
    report,
    report_gate,
    scenario_1000_messages,
    scenario_airflow_down_30_s,
    scenario_kill_9_mid_burst,
    settle,
    shipped_schemas,
)

from relengotron_sandbox.amqp import PikaPublisher
from relengotron_sandbox.broker import Broker, running
from relengotron_sandbox.bus import BusService
from relengotron_sandbox.service import SandboxContext
from relengotron_sandbox.tcpproxy import TcpProxy
from relengotron_sandbox.testing import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

HEARTBEAT = 5  # seconds: a silent loss is noticed 10 to 20 s after the last byte (pika: heartbeat + 5 s checks)
RECONNECTS = "relengotron_listener_bus_reconnects_total"


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    with running(tmp_path_factory.mktemp("broker")) as one:
        yield one


@pytest.fixture(scope="module")
def bus(tmp_path_factory: pytest.TempPathFactory, broker: Broker) -> Iterator[tuple[BusService, dict[str, Any]]]:
    """The sandbox bus on the broker: its datagrepper archives what went over AMQP."""
    service = BusService(
        SandboxContext(state_dir=tmp_path_factory.mktemp("bus"), world=None, built=None, broker=broker)
    )
    endpoints = service.start()
    try:
        service.ready()
        yield service, endpoints
    finally:
        service.stop()


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    started = time.monotonic()
    with airflow(tmp_path_factory.mktemp("airflow")) as running_airflow:
        print(f"\nAirflow (api-server, dag-processor, scheduler) ready in {time.monotonic() - started:.1f} s")
        yield running_airflow


@pytest.fixture(scope="module")
def publisher(bus: tuple[BusService, dict[str, Any]]) -> AmqpPublisher:
    """Koji's and Bodhi's messages as their fedora-messaging classes, on AMQP only."""
    assert bus[0].amqp is not None
    return AmqpPublisher(bus[0].amqp)


def make_for(bus: tuple[BusService, dict[str, Any]], deployment: Any, url: str | None = None) -> Make:
    """Listeners on AMQP, each with a durable queue of its own (kept across its restarts)."""

    def make(root: Any, **kwargs: Any) -> Listener:
        amqp = {
            "url": url or bus[1]["amqp_url"],
            "queue": f"relengotron-{uuid.uuid4()}",
            "heartbeat_seconds": HEARTBEAT,
        }
        return write_listener(root, airflow=deployment, bus=bus[1], amqp=amqp, **kwargs)

    return make


def queue_of(listener: Listener) -> str:
    return yaml.safe_load(listener.config.read_text())["bus"]["amqp"]["queue"]


def test_1000_messages_make_exactly_the_routed_runs(tmp_path, bus, deployment, publisher, listeners) -> None:
    # the 100 messages of a topic no rule knows are bound by no routing key: the broker never delivers them
    scenario_1000_messages(tmp_path, deployment, publisher, listeners, make_for(bus, deployment), unbound=100)


def test_kill_9_mid_burst_then_restart_loses_and_duplicates_nothing(
    tmp_path, bus, deployment, publisher, listeners
) -> None:
    scenario_kill_9_mid_burst(tmp_path, deployment, publisher, listeners, make_for(bus, deployment), count=300)


def test_airflow_down_30_s_mid_burst_everything_delivered_in_order(
    tmp_path, bus, deployment, publisher, listeners
) -> None:
    scenario_airflow_down_30_s(tmp_path, deployment, publisher, listeners, make_for(bus, deployment), count=200)


def test_listener_down_and_its_queue_gone_window_replayed(
    tmp_path, broker, bus, deployment, publisher, listeners
) -> None:
    listener = make_for(bus, deployment)(tmp_path / "listener", rules={"rules": [gate_rule("s4")]})
    listeners.append(listener.start())
    first = [f"s4-pkg{n}-1.0-1.fc26" for n in range(30)]
    for nvr in first:
        publisher.publish("buildsys", "tag", koji_tag("rawhide-pending", nvr))
    settle(listener, deployment, "rawhide_gating", "s4-gate__", len(first), 60)
    assert listener.stop() == 0  # SIGTERM: a clean stop
    missed = [f"s4-missed{n}-1.0-1.fc26" for n in range(100)]
    for nvr in missed:
        publisher.publish("buildsys", "tag", koji_tag("rawhide-pending", nvr))
    raw = PikaPublisher(broker.url)
    try:
        kept = raw.depth(queue_of(listener))
        raw.channel.queue_delete(queue_of(listener))  # what the public broker does to a queue left alone
    finally:
        raw.close()
    listener.start()
    runs = settle(listener, deployment, "rawhide_gating", "s4-gate__", len(first) + len(missed), 120)
    replayed = listener.metrics()["relengotron_listener_replayed_total"]
    report_gate("listener down, queue gone", first + missed, runs, listener)
    print(f"[listener down, queue gone] the queue held {kept} when deleted; replayed from datagrepper: {replayed:.0f}")
    assert kept == len(missed) and replayed >= len(missed)


def test_broker_restarted_mid_burst_loses_and_duplicates_nothing(
    tmp_path, broker, bus, deployment, publisher, listeners
) -> None:
    listener = make_for(bus, deployment)(tmp_path / "listener", rules={"rules": [gate_rule("s8")]})
    listeners.append(listener.start())
    nvrs = [f"s8-pkg{n}-1.0-1.fc26" for n in range(200)]
    burst = publish_in_background(publisher, nvrs, per_second=40)
    wait_for("some runs before the restart", lambda: len(deployment.runs("rawhide_gating", "s8-gate__")) >= 20, 30)
    started = time.monotonic()
    broker.restart()
    print(f"\n[broker restart] the broker was back after {time.monotonic() - started:.1f} s")
    mid_burst = burst.is_alive()
    burst.join(timeout=120)
    wait_for("the listener consuming again", lambda: listener.health()["ready"], 60, every=0.5)
    runs = settle(listener, deployment, "rawhide_gating", "s8-gate__", len(nvrs), 120)
    metrics = listener.metrics()
    report_gate("broker restarted mid-burst", nvrs, runs, listener)
    reasons = {k: v for k, v in metrics.items() if k.startswith(RECONNECTS + "{")}
    print(f"[broker restarted mid-burst] reconnects: {reasons}")
    assert mid_burst and metrics[RECONNECTS] >= 1


def test_connection_cut_silently_stall_noticed_and_healed(
    tmp_path, broker, bus, deployment, publisher, listeners
) -> None:
    with TcpProxy("127.0.0.1", broker.amqp_port) as proxy:
        url = bus[1]["amqp_url"].replace(f":{broker.amqp_port}/", f":{proxy.port}/")
        listener = make_for(bus, deployment, url)(tmp_path / "listener", rules={"rules": [gate_rule("s9")]})
        listeners.append(listener.start())
        nvrs = [f"s9-pkg{n}-1.0-1.fc26" for n in range(150)]
        burst = publish_in_background(publisher, nvrs, per_second=15)
        wait_for("some runs before the cut", lambda: len(deployment.runs("rawhide_gating", "s9-gate__")) >= 10, 30)
        assert proxy.stall() == 1  # no FIN, no RST: the bytes stop
        cut = time.monotonic()

        def unhealthy() -> dict[str, Any] | None:
            health = listener.health()
            return None if health["ready"] else health

        health = wait_for("/healthz unhealthy", unhealthy, 60)
        noticed = time.monotonic() - cut
        wait_for("healed (consuming again)", lambda: listener.health()["ready"], max(1.0, 60 - noticed), every=0.5)
        healed = time.monotonic() - cut
        burst.join(timeout=60)
        runs = settle(listener, deployment, "rawhide_gating", "s9-gate__", len(nvrs), 120)
    metrics = listener.metrics()
    report_gate("connection cut silently", nvrs, runs, listener)
    print(
        f"[connection cut silently] /healthz unhealthy after {noticed:.1f} s ({health['problems']}); consuming "
        f"again after {healed:.1f} s; reconnects: "
        f"{json.dumps({k: v for k, v in metrics.items() if k.startswith(RECONNECTS + '{')})}"
    )
    assert metrics[f'{RECONNECTS}{{reason="heartbeat_timeout"}}'] >= 1


def test_hostile_corpus_dead_lettered_and_acked_listener_keeps_triggering(
    tmp_path, broker, bus, deployment, listeners
) -> None:
    from listener_amqp_corpus import corpus, good
    from listener_corpus import listening_rule

    rule = {**gate_rule("s5"), "when": "msg.user != 'evil'"}
    listener = make_for(bus, deployment)(
        tmp_path / "listener",
        rules={"schemas": shipped_schemas(), "rules": [rule, listening_rule()]},
        max_body_bytes=65536,
        replay_margin=0.5,
    )
    listeners.append(listener.start())
    cases = corpus()
    goods = [f"s5-good{n}-1.0-1.fc26" for n in range(25)]
    raw = PikaPublisher(broker.url)
    try:
        for n, case in enumerate(cases):
            raw.send(case.routing_key, case.body, case.properties)
            if n % 3 == 0 and n // 3 < 20:  # good messages among the bad ones
                raw.send("org.fedoraproject.dev.buildsys.tag", *good(goods[n // 3]))
        wait_for(
            f"{len(cases)} dead letters", lambda: listener.status()["dead_letters_total"] >= len(cases), 90, every=1
        )
        assert listener.alive() and listener.health()["ready"], "the listener did not survive the corpus"
        for nvr in goods[20:]:  # and it still triggers good messages afterwards
            raw.send("org.fedoraproject.dev.buildsys.tag", *good(nvr))
        runs = settle(listener, deployment, "rawhide_gating", "s5-gate__", len(goods), 60)
        wait_for("the queue drained: every delivery acked", lambda: raw.depth(queue_of(listener)) == 0, 30)
    finally:
        raw.close()
    status = listener.status()
    letters = status["dead_letters"]
    figures = report(
        "hostile corpus (AMQP)",
        sent=len(cases) + len(goods),
        expected=set(goods),
        seen=nvrs_of(runs),
        runs=len(runs),
        dead=status["dead_letters_total"],
    )
    kinds = Counter(letter["kind"] for letter in letters)
    print(f"[hostile corpus (AMQP)] {len(cases)} hostile deliveries; dead letters by kind: {dict(kinds)}; queue: 0")
    assert figures["lost"] == 0 and figures["duplicated"] == 0
    assert figures["dead-lettered"] == len(cases) >= 50
    by_msg_id = {letter["msg_id"]: letter["reason"] for letter in letters if letter["msg_id"]}
    reasons = [letter["reason"] for letter in letters]
    for case in cases:
        if case.msg_id is not None:
            assert case.reason in by_msg_id.get(case.msg_id, ""), (case.name, by_msg_id.get(case.msg_id))
        else:
            assert any(case.reason in reason for reason in reasons), (case.name, case.reason)
    assert kinds["invalid"] and kinds["route"] and kinds["airflow"] == 2
