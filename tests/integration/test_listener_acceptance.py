"""The listener's acceptance: the sandbox bus in, a real Airflow API server (SQLite, DAGs paused so runs only
queue) out, `relengotron listener run` as a real process in between. Each scenario prints its counts.

1. 1,000 messages → exactly the routed runs (singles and coalesced batches), none duplicated.
2. kill -9 of the listener in the middle of a burst, then a restart → nothing lost, nothing duplicated.
3. Airflow stopped for 30 s during a burst → everything delivered after it returns, in arrival order.
4. The listener down while messages are published → the window replayed from datagrepper; a gap in a
   publisher's sequence while it runs → the missing messages replayed too.
5. ≥ 50 malformed or hostile messages (signature validation on) → each dead-lettered with its reason; the
   listener still runs and still triggers good messages.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from listener_harness import Airflow, RawPublisher, airflow, write_listener
from listener_samples import envelope, koji_tag
from listener_scenarios import (
    Make,
    gate_rule,
    nvrs_of,
    report,
    report_gate,
    scenario_1000_messages,
    scenario_airflow_down_30_s,
    scenario_kill_9_mid_burst,
    settle,
    shipped_schemas,
)

from relengotron.messaging import FedmsgPublisher, load_fedmsg_config
from relengotron_sandbox.bus import BusService
from relengotron_sandbox.service import SandboxContext
from relengotron_sandbox.testing import free_port, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def bus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[BusService, dict[str, Any]]]:
    state = tmp_path_factory.mktemp("bus")
    service = BusService(SandboxContext(state_dir=state, world=None, built=None))
    endpoints = service.start()
    try:
        yield service, endpoints
    finally:
        service.stop()


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Airflow]:
    started = time.monotonic()
    with airflow(tmp_path_factory.mktemp("airflow")) as running:
        print(f"\nAirflow (api-server, dag-processor, scheduler) ready in {time.monotonic() - started:.1f} s")
        yield running


@pytest.fixture(scope="module")
def publisher(bus: tuple[BusService, dict[str, Any]]) -> Iterator[FedmsgPublisher]:
    """fedmsg's own publisher, as Koji, Bodhi and ResultsDB use it (through the sandbox relay)."""
    pub = FedmsgPublisher(load_fedmsg_config(bus[1]["fedmsg_config"]))
    try:
        yield pub
    finally:
        pub.close()


def make_for(bus: tuple[BusService, dict[str, Any]], deployment: Airflow) -> Make:
    return lambda root, **kwargs: write_listener(root, airflow=deployment, bus=bus[1], **kwargs)


def test_1000_messages_make_exactly_the_routed_runs(tmp_path, bus, deployment, publisher, listeners) -> None:
    scenario_1000_messages(tmp_path, deployment, publisher, listeners, make_for(bus, deployment))


def test_kill_9_mid_burst_then_restart_loses_and_duplicates_nothing(
    tmp_path, bus, deployment, publisher, listeners
) -> None:
    scenario_kill_9_mid_burst(tmp_path, deployment, publisher, listeners, make_for(bus, deployment))


def test_airflow_down_30_s_mid_burst_everything_delivered_in_order(
    tmp_path, bus, deployment, publisher, listeners
) -> None:
    scenario_airflow_down_30_s(tmp_path, deployment, publisher, listeners, make_for(bus, deployment))


def test_listener_down_window_replayed_and_sequence_gaps_filled(
    tmp_path, bus, deployment, publisher, listeners
) -> None:
    service, endpoints = bus
    listener = write_listener(
        tmp_path / "listener", airflow=deployment, bus=endpoints, rules={"rules": [gate_rule("s4")]}
    )
    listeners.append(listener.start())
    first = [f"s4-pkg{n}-1.0-1.fc26" for n in range(50)]
    for nvr in first:
        publisher.publish("buildsys", "tag", koji_tag("rawhide-pending", nvr))
    settle(listener, deployment, "rawhide_gating", "s4-gate__", len(first), 60)
    assert listener.stop() == 0  # SIGTERM: a clean stop
    missed = [f"s4-missed{n}-1.0-1.fc26" for n in range(200)]
    for nvr in missed:
        publisher.publish("buildsys", "tag", koji_tag("rawhide-pending", nvr))
    time.sleep(1)
    listener.start()
    runs = settle(listener, deployment, "rawhide_gating", "s4-gate__", len(first) + len(missed), 120)
    replayed = listener.metrics()["relengotron_listener_replayed_total"]
    report_gate("listener down", first + missed, runs, listener)
    print(f"[listener down] replayed from datagrepper: {replayed:.0f} (pages of 50)")
    assert replayed >= len(missed)
    # the same window replayed by hand finds nothing new
    answer = listener.cli("replay", "--since", "10m")
    assert answer.returncode == 0 and "duplicate" in answer.stdout and "stored" not in answer.stdout, answer.stdout

    # A gap while it runs: messages 4..7 of a publisher reach the archive but never the listener.
    raw = RawPublisher(endpoints["relay_inbound"])
    try:
        gapped = [f"s4-gap{i}-1.0-1.fc26" for i in range(1, 11)]
        base = time.time()
        for i, nvr in enumerate(gapped, start=1):
            message = envelope(
                "buildsys.tag",
                koji_tag("rawhide-pending", nvr),
                i=i,
                timestamp=base + i / 100,
                username="gap-publisher",
                prefix="org.fedoraproject.dev",
            )
            if 4 <= i <= 7:
                service.archive.add(message)  # archived, never relayed
            else:
                raw.send_envelope(message)
        gap_runs = settle(listener, deployment, "rawhide_gating", "s4-gate__", len(runs) + len(gapped), 60)
    finally:
        raw.close()
    metrics = listener.metrics()
    report_gate("sequence gap", gapped, [r for r in gap_runs if r["conf"]["builds"][0].startswith("s4-gap")], listener)
    assert metrics["relengotron_listener_gaps_total"] >= 1


def test_hostile_corpus_dead_lettered_listener_keeps_triggering(tmp_path, bus, deployment, listeners) -> None:
    """The corpus is tests/listener_corpus.py. The hostile messages come from an endpoint of their own (as a
    rogue publisher would): the sandbox relay itself does not survive some of them (a JSON nesting bomb, a
    non-numeric timestamp). The good messages and the unknown topics come through the relay."""
    from listener_corpus import corpus, good, listening_rule, signer, unknown_topics

    direct = RawPublisher(None)
    with signer("Relay") as trusted, signer("Stranger") as stranger:
        rule = {**gate_rule("s5"), "when": "msg.user != 'evil'"}
        listener = write_listener(
            tmp_path / "listener",
            airflow=deployment,
            bus=bus[1],
            rules={"schemas": shipped_schemas(), "rules": [rule, listening_rule()]},
            signatures={"crypto_validate_backends": ["gpg"], "gpg_home": str(trusted.home)},
            max_body_bytes=65536,
            extra_endpoints=(direct.endpoint,),
            replay_margin=0.5,  # its first-start replay must not reach back to the unsigned messages of before
        )
        listeners.append(listener.start())
        wait_for("the direct endpoint subscribed", lambda: direct.endpoint in listener.health()["subscribed"], 10)
        time.sleep(0.5)  # the subscription itself follows the handshake
        cases = corpus(trusted, stranger)
        goods = [f"s5-good{n}-1.0-1.fc26" for n in range(25)]
        raw = RawPublisher(bus[1]["relay_inbound"])
        try:
            sequence = iter(range(1, 100))
            for n, case in enumerate(cases):
                direct.send(case.frames)
                if n % 3 == 0 and n // 3 < 20:  # good messages among the bad ones
                    raw.send_envelope(trusted.sign(good(goods[n // 3], i=next(sequence), username="s5good")))
            for message in unknown_topics(trusted, 5):
                raw.send_envelope(message)
            wait_for(
                f"{len(cases)} dead letters",
                lambda: listener.status()["dead_letters_total"] >= len(cases),
                90,
                every=1,
            )
            assert listener.alive() and listener.health()["ready"], "the listener did not survive the corpus"
            for nvr in goods[20:]:  # and it still triggers good messages afterwards
                raw.send_envelope(trusted.sign(good(nvr, i=next(sequence), username="s5good")))
            runs = settle(listener, deployment, "rawhide_gating", "s5-gate__", len(goods), 60)
        finally:
            raw.close()
            direct.close()
        status = listener.status()
        metrics = listener.metrics()

    letters = status["dead_letters"]
    figures = report(
        "hostile corpus",
        sent=len(cases) + len(goods) + 5,
        expected=set(goods),
        seen=nvrs_of(runs),
        runs=len(runs),
        dead=status["dead_letters_total"],
    )
    kinds = Counter(letter["kind"] for letter in letters)
    print(f"[hostile corpus] {len(cases)} hostile cases; dead letters by kind: {dict(kinds)}")
    assert figures["lost"] == 0 and figures["duplicated"] == 0
    assert figures["dead-lettered"] == len(cases) >= 50
    assert all(letter["reason"] for letter in letters)
    by_msg_id = {letter["msg_id"]: letter["reason"] for letter in letters if letter["msg_id"]}
    reasons = [letter["reason"] for letter in letters]
    for case in cases:
        if case.msg_id is not None:
            assert case.reason in by_msg_id.get(case.msg_id, ""), (case.name, by_msg_id.get(case.msg_id))
        else:
            assert any(case.reason in reason for reason in reasons), (case.name, case.reason)
    assert kinds["invalid"] and kinds["route"] and kinds["airflow"] == 2
    assert metrics["relengotron_listener_dropped_total"] == 5  # unknown topics: counted, not dead-lettered
    assert metrics["relengotron_listener_dead_lettered_total"] == len(cases)
    text = listener.cli("status")
    assert text.returncode == 0 and f"dead letters: {len(cases)}" in text.stdout and "unsigned" in text.stdout


def test_dead_letter_retried_after_the_rule_is_fixed(tmp_path, bus, deployment, publisher, listeners) -> None:
    rule = {**gate_rule("s6"), "dag_id": "rawhide_gatin"}  # a typo: Airflow answers 404
    listener = write_listener(tmp_path / "listener", airflow=deployment, bus=bus[1], rules={"rules": [rule]})
    listeners.append(listener.start())
    publisher.publish("buildsys", "tag", koji_tag("rawhide-pending", "s6-pkg-1.0-1.fc26"))
    (letter,) = wait_for("the dead letter", lambda: listener.status()["dead_letters"], 30)
    assert letter["kind"] == "airflow" and "HTTP 404" in letter["reason"] and "rawhide_gatin" in letter["reason"]

    fixed = listener.root / "rules.yaml"
    fixed.write_text(fixed.read_text().replace("dag_id: rawhide_gatin\n", "dag_id: rawhide_gating\n"))
    answer = listener.cli("retry-dead-letter", str(letter["id"]))
    assert answer.returncode == 0 and "queued again" in answer.stdout, answer.stdout + answer.stderr
    (run,) = settle(listener, deployment, "rawhide_gating", "s6-gate__", 1, 30)
    assert run["dag_run_id"] == f"s6-gate__{letter['msg_id']}" and run["conf"]["builds"] == ["s6-pkg-1.0-1.fc26"]
    assert listener.status()["dead_letters_total"] == 0
    again = listener.cli("retry-dead-letter", str(letter["id"]))
    assert "already retried" in again.stdout


def test_healthz_says_what_is_wrong(tmp_path, bus, deployment, listeners) -> None:
    """Ready only when subscribed and the inbox is writable; otherwise 503 with the reasons."""
    import sqlite3

    import requests

    nowhere = f"tcp://127.0.0.1:{free_port()}"
    lonely = write_listener(
        tmp_path / "lonely",
        airflow=deployment,
        bus={**bus[1], "relay_outbound": nowhere},
        rules={"rules": [gate_rule("s7")]},
    )
    with pytest.raises(Exception, match="not reached"):
        lonely.start(ready_timeout=3)
    listeners.append(lonely)
    answer = requests.get(f"{lonely.http}/healthz", timeout=5)
    assert answer.status_code == 503 and answer.json()["problems"] == ["not subscribed to any bus endpoint"]

    listener = write_listener(tmp_path / "ok", airflow=deployment, bus=bus[1], rules={"rules": [gate_rule("s7")]})
    listeners.append(listener.start())
    holder = sqlite3.connect(listener.root / "inbox.sqlite", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # someone else holds the inbox's write lock
    try:
        answer = requests.get(f"{listener.http}/healthz", timeout=10)
        assert answer.status_code == 503 and "inbox not writable: database is locked" in answer.json()["problems"]
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert requests.get(f"{listener.http}/healthz", timeout=10).status_code == 200
    assert listener.stop() == 0 and not listener.runtime.exists()
