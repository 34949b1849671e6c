"""The listener's acceptance scenarios that do not depend on the bus: run on fedmsg by test_listener_acceptance.py
and on AMQP by test_listener_acceptance_amqp.py, with a publisher of either (``publish(modname, topic, msg)``:
fedmsg's publisher, or :class:`listener_harness.AmqpPublisher`) and a ``make`` writing a listener for it."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from listener_harness import REPO, Airflow, Listener
from listener_samples import koji_tag

from relengotron_sandbox.testing import wait_for

Make = Callable[..., Listener]  # make(root, rules=..., **write_listener's keywords) -> a Listener not yet started

NVR = "{{ msg.name }}-{{ msg.version }}-{{ msg.release }}"
EXISTED = 'relengotron_listener_triggered_total{answer="exists",dag_id="rawhide_gating"}'


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


def scenario_1000_messages(
    tmp_path: Path, deployment: Airflow, publisher: Any, listeners: list[Listener], make: Make, *, unbound: int = 0
) -> None:
    """1,000 messages → exactly the routed runs. ``unbound``: messages the transport never delivers (AMQP: topics
    bound by no routing key), which are then not counted as dropped by a rule."""
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
    listener = make(tmp_path / "listener", rules=rules, release_config=RELEASE_CONFIG)
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
    assert metrics["relengotron_listener_dropped_total"] == 200 - unbound
    assert metrics['relengotron_listener_triggered_total{answer="created",dag_id="rawhide_gating"}'] == 600
    assert status["messages"] == {"done": 800}
    # structured logs: one JSON object a line, each trigger naming its message and its run
    assert listener.process is not None
    events = [json.loads(line) for line in listener.process.log.read_text().splitlines() if line.startswith("{")]
    triggered = [e for e in events if e["event"] == "triggered" and e["dag_id"] == "rawhide_gating"]
    assert len(triggered) == 600
    assert all(e["dag_run_id"] == f"s1-gate__{e['msg_id']}" for e in triggered)


def publish_in_background(publisher: Any, nvrs: list[str], per_second: float) -> threading.Thread:
    def run() -> None:
        for n, nvr in enumerate(nvrs):
            publisher.publish("buildsys", "tag", koji_tag("rawhide-pending", nvr, build_id=20_000 + n))
            time.sleep(1 / per_second)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def scenario_kill_9_mid_burst(
    tmp_path: Path, deployment: Airflow, publisher: Any, listeners: list[Listener], make: Make, *, count: int = 400
) -> None:
    """kill -9 of the listener in the middle of a burst, then a restart → nothing lost, nothing duplicated."""
    listener = make(tmp_path / "listener", rules={"rules": [gate_rule("s2")]})
    listeners.append(listener.start())
    nvrs = [f"s2-pkg{n}-1.0-1.fc26" for n in range(count)]
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


def scenario_airflow_down_30_s(
    tmp_path: Path, deployment: Airflow, publisher: Any, listeners: list[Listener], make: Make, *, count: int = 300
) -> None:
    """Airflow stopped for 30 s during a burst → everything delivered after it returns, in arrival order."""
    listener = make(tmp_path / "listener", rules={"rules": [gate_rule("s3")]})
    listeners.append(listener.start())
    nvrs = [f"s3-pkg{n:04d}-1.0-1.fc26" for n in range(count)]
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


def shipped_schemas() -> list[dict[str, Any]]:
    """The field checks of the shipped rules (Bodhi 2's masher.start, ResultsDB, Taskotron); Koji's and Bodhi's
    bodies are judged by their schema packages (every rules file validates with them, on the topics its rules
    listen on): the corpus is judged so."""
    return yaml.safe_load((REPO / "config" / "listener-rules.yaml").read_text())["schemas"]
