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

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from listener_harness import REPO, Airflow, Listener, RawPublisher, airflow, write_listener
from listener_samples import envelope, koji_tag

from relengotron.messaging import FedmsgPublisher, load_fedmsg_config
from relengotron_sandbox.bus import BusService
from relengotron_sandbox.service import SandboxContext
from relengotron_sandbox.testing import free_port, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

NVR = "{{ msg.name }}-{{ msg.version }}-{{ msg.release }}"
EXISTED = 'relengotron_listener_triggered_total{answer="exists",dag_id="rawhide_gating"}'


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


RELEASE_CONFIG = REPO / "config" / "fedora.yaml"


def s1_push_rule() -> dict[str, Any]:
    """The shipped bodhi-compose rule (compose.composing → updates_push), for this scenario's updates only."""
    shipped = yaml.safe_load((REPO / "config" / "listener-rules.yaml").read_text())
    (rule,) = [r for r in shipped["rules"] if r["name"] == "bodhi-compose"]
    return {**rule, "name": "s1-push", "match": {"updates": "s1-*"}}


def gate_rule(scenario: str) -> dict[str, Any]:
    """buildsys.tag into rawhide-pending → one rawhide_gating run per message (this scenario's builds only)."""
    return {
        "name": f"{scenario}-gate",
        "topics": ["*.buildsys.tag"],
        "match": {"tag": "rawhide-pending", "name": f"{scenario}-*"},
        "dag_id": "rawhide_gating",
        "conf": {"release": "rawhide", "builds": [NVR]},
    }


def nvrs_of(runs: list[dict[str, Any]]) -> list[str]:
    return [nvr for run in runs for nvr in run["conf"]["builds"]]


def report(scenario: str, *, sent: int, expected: set[str], seen: list[str], runs: int, dead: int) -> dict[str, int]:
    """Print and return the scenario's counts: lost = expected but absent, duplicated = delivered twice or
    delivered though not expected."""
    counts = Counter(seen)
    figures = {
        "sent": sent,
        "runs created": runs,
        "lost": len(expected - set(counts)),
        "duplicated": sum(n - 1 for n in counts.values()) + len(set(counts) - expected),
        "dead-lettered": dead,
    }
    print(f"\n[{scenario}] " + ", ".join(f"{k}: {v}" for k, v in figures.items()))
    return figures


def report_gate(scenario: str, nvrs: list[str], runs: list[dict[str, Any]], listener: Listener) -> None:
    """Report a scenario of one rawhide_gating run per message, and require: none lost, none duplicated,
    nothing dead-lettered."""
    figures = report(
        scenario,
        sent=len(nvrs),
        expected=set(nvrs),
        seen=nvrs_of(runs),
        runs=len(runs),
        dead=listener.status()["dead_letters_total"],
    )
    assert figures["lost"] == 0 and figures["duplicated"] == 0 and figures["dead-lettered"] == 0, figures
    assert figures["runs created"] == len(nvrs)


@pytest.fixture
def listeners() -> Iterator[list[Listener]]:
    """Listeners a test starts; every one is stopped afterwards, whatever happened."""
    started: list[Listener] = []
    yield started
    for one in started:
        one.stop()


def settle(listener: Listener, deployment: Airflow, dag_id: str, prefix: str, expected: int, timeout: float) -> list:
    """Wait until ``expected`` runs exist and the listener has nothing pending; then a moment more, so that a
    run created too many would be seen."""
    wait_for(
        f"{expected} {dag_id} runs {prefix}*",
        lambda: len(deployment.runs(dag_id, prefix)) >= expected,
        timeout,
        every=1,
    )
    wait_for("nothing pending in the inbox", lambda: listener.status()["pending_messages"] == 0, 60, every=0.5)
    time.sleep(1.5)
    return deployment.runs(dag_id, prefix)


def test_1000_messages_make_exactly_the_routed_runs(tmp_path, bus, deployment, publisher, listeners) -> None:
    rules = {
        "rules": [
            gate_rule("s1"),
            s1_push_rule(),
            {
                "name": "s1-sign",
                "topics": ["*.buildsys.tag"],
                "match": {"tag": {"regex": "(?P<release>.+)-signing-pending"}, "name": "s1-*"},
                "dag_id": "autosign",
                "batch": {"key": "{{ msg.tag }}", "window_seconds": 10, "item": NVR},
                "conf": {
                    "release": "{{ key | strip_suffix('-signing-pending') }}",
                    "builds": "{{ items | unique | list }}",
                },
            },
        ]
    }
    listener = write_listener(
        tmp_path / "listener", airflow=deployment, bus=bus[1], rules=rules, release_config=RELEASE_CONFIG
    )
    listeners.append(listener.start())

    sent = 0
    started = time.monotonic()
    # Bodhi's composes: 100 of f24's stable repository, 50 of f25's testing one, each naming two updates
    stable = [[f"s1-s{n:03d}a-1.0-1.fc24", f"s1-s{n:03d}b-1.0-1.fc24 s1-s{n:03d}c-1.0-1.fc24"] for n in range(100)]
    testing = [[f"s1-t{n:03d}a-1.0-1.fc25", f"s1-t{n:03d}b-1.0-1.fc25"] for n in range(50)]
    for repo, composes in (("f24-updates", stable), ("f25-updates-testing", testing)):
        for updates in composes:
            body = {"agent": "bowlofeggs", "repo": repo, "ctype": "rpm", "updates": updates}
            publisher.publish("bodhi", "compose.composing", body)
    signing = [f"s1-sign{n}-1.0-1.fc24" for n in range(50)]
    for nvr in signing:
        publisher.publish("buildsys", "tag", koji_tag("f24-signing-pending", nvr))
    gated = [f"s1-pkg{n}-1.0-1.fc26" for n in range(600)]
    for n, nvr in enumerate(gated):
        publisher.publish("buildsys", "tag", koji_tag("rawhide-pending", nvr, build_id=10_000 + n))
        if n % 6 == 0:  # builds tagged elsewhere: no rule wants them
            publisher.publish("buildsys", "tag", koji_tag("f24-updates-candidate", f"s1-other{n}-1-1.fc24"))
        if n % 6 == 3:  # topics no rule knows
            publisher.publish("wiki", "article.edit", {"title": "Releases/24", "user": "jkurik"})
    sent = len(stable) + len(testing) + len(signing) + len(gated) + 100 + 100
    assert sent == 1000

    gate_runs = settle(listener, deployment, "rawhide_gating", "s1-gate__", len(gated), 180)
    push_runs = deployment.runs("updates_push", "s1-push__")
    sign_runs = deployment.runs("autosign", "s1-sign__")
    elapsed = time.monotonic() - started
    status = listener.status()
    metrics = listener.metrics()

    pushed = [update for run in push_runs for update in run["conf"]["updates"]]
    seen = nvrs_of(gate_runs) + pushed + nvrs_of(sign_runs)
    expected = set(gated) | {u for c in stable + testing for u in c} | set(signing)
    figures = report(
        "1,000 messages",
        sent=sent,
        expected=expected,
        seen=seen,
        runs=len(gate_runs) + len(push_runs) + len(sign_runs),
        dead=status["dead_letters_total"],
    )
    dropped = metrics["relengotron_listener_dropped_total"]
    print(f"[1,000 messages] delivered in {elapsed:.1f} s; dropped by rule: {dropped:.0f}")
    assert figures["lost"] == 0 and figures["duplicated"] == 0 and figures["dead-lettered"] == 0
    assert len(gate_runs) == 600
    # one push per compose, named by its message; one signing run per tag: the burst fell in one window
    assert Counter(r["conf"]["repo"] for r in push_runs) == {"f24-updates": 100, "f25-updates-testing": 50}
    assert all(r["dag_run_id"] == f"s1-push__{r['conf']['push_id']}" for r in push_runs)
    assert [(r["conf"]["release"], sorted(r["conf"]["builds"])) for r in sign_runs] == [("f24", sorted(signing))]
    assert metrics["relengotron_listener_dropped_total"] == 200
    assert metrics['relengotron_listener_triggered_total{answer="created",dag_id="rawhide_gating"}'] == 600
    assert status["messages"] == {"done": 800}
    # structured logs: one JSON object a line, each trigger naming its message and its run
    assert listener.process is not None
    events = [json.loads(line) for line in listener.process.log.read_text().splitlines() if line.startswith("{")]
    triggered = [e for e in events if e["event"] == "triggered" and e["dag_id"] == "rawhide_gating"]
    assert len(triggered) == 600
    assert all(e["dag_run_id"] == f"s1-gate__{e['msg_id']}" for e in triggered)


def publish_in_background(publisher: FedmsgPublisher, nvrs: list[str], per_second: float) -> threading.Thread:
    def run() -> None:
        for n, nvr in enumerate(nvrs):
            publisher.publish("buildsys", "tag", koji_tag("rawhide-pending", nvr, build_id=20_000 + n))
            time.sleep(1 / per_second)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_kill_9_mid_burst_then_restart_loses_and_duplicates_nothing(
    tmp_path, bus, deployment, publisher, listeners
) -> None:
    listener = write_listener(tmp_path / "listener", airflow=deployment, bus=bus[1], rules={"rules": [gate_rule("s2")]})
    listeners.append(listener.start())
    nvrs = [f"s2-pkg{n}-1.0-1.fc26" for n in range(400)]
    burst = publish_in_background(publisher, nvrs, per_second=100)
    wait_for("some runs before the kill", lambda: len(deployment.runs("rawhide_gating", "s2-gate__")) >= 30, 30)
    listener.kill9()
    mid_burst = burst.is_alive()
    before = len(deployment.runs("rawhide_gating", "s2-gate__"))
    burst.join(timeout=60)
    listener.start()
    runs = settle(listener, deployment, "rawhide_gating", "s2-gate__", len(nvrs), 120)
    metrics = listener.metrics()
    report_gate("kill -9 mid-burst", nvrs, runs, listener)
    print(
        f"[kill -9 mid-burst] runs before the kill: {before}; after the restart: replayed "
        f"{metrics['relengotron_listener_replayed_total']:.0f} from datagrepper, "
        f"{metrics.get(EXISTED, 0):.0f}"
        " answered 409 (created before the kill, not yet marked done)"
    )
    assert mid_burst and 0 < before < len(nvrs)


def test_airflow_down_30_s_mid_burst_everything_delivered_in_order(
    tmp_path, bus, deployment, publisher, listeners
) -> None:
    listener = write_listener(tmp_path / "listener", airflow=deployment, bus=bus[1], rules={"rules": [gate_rule("s3")]})
    listeners.append(listener.start())
    nvrs = [f"s3-pkg{n:04d}-1.0-1.fc26" for n in range(300)]
    burst = publish_in_background(publisher, nvrs, per_second=20)
    wait_for("some runs before the outage", lambda: len(deployment.runs("rawhide_gating", "s3-gate__")) >= 10, 30)
    deployment.stop_api()
    down_at = time.monotonic()
    try:
        received_then = listener.metrics()["relengotron_listener_received_total"]
        time.sleep(10)
        during = listener.metrics()
        health = listener.health()
        status = listener.status()
        time.sleep(max(0.0, 30 - (time.monotonic() - down_at)))
    finally:
        deployment.start_api()
    print(f"\n[Airflow down] API server down for {time.monotonic() - down_at:.1f} s (restart included)")
    # while Airflow was away the listener kept receiving and storing, was healthy, and kept retrying the head
    assert during["relengotron_listener_received_total"] > received_then
    assert during["relengotron_listener_pending"] > 0 and during["relengotron_listener_trigger_retries_total"] > 0
    assert health["ready"] is True and "unreachable" in (health["airflow_error"] or "")
    assert status["head"]["attempts"] > 0
    burst.join(timeout=60)
    runs = settle(listener, deployment, "rawhide_gating", "s3-gate__", len(nvrs), 120)
    report_gate("Airflow down 30 s", nvrs, runs, listener)
    assert nvrs_of(runs) == nvrs, "runs were not created in the order the messages arrived"


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


def shipped_schemas() -> list[dict[str, Any]]:
    """The field checks of the shipped rules (Bodhi 2's masher.start, ResultsDB, Taskotron); Koji's and Bodhi's
    bodies are judged by their schema packages (every rules file validates with them, on the topics its rules
    listen on): the corpus is judged so."""
    return yaml.safe_load((REPO / "config" / "listener-rules.yaml").read_text())["schemas"]


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
