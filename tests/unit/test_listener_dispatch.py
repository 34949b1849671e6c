"""From bus frames to DAG runs without servers: the ingest path (validate, route, store) and the dispatcher's
answers to Airflow (created, 409, retry in order, refused), batches closing, and dead letters retried."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from listener_samples import envelope, koji_tag

from relengotron.listener.airflow_api import CREATED, EXISTS, REFUSED, RETRY, Backoff, TriggerResult
from relengotron.listener.inbox import Inbox
from relengotron.listener.ingest import Ingestor, retry_dead_letter
from relengotron.listener.observe import Metrics
from relengotron.listener.rules import load_rules
from relengotron.listener.service import Dispatcher
from relengotron.listener.validate import Validator

RULES = """
rules:
  - name: gate
    topics: ["*.buildsys.tag"]
    match: {tag: rawhide-pending}
    dag_id: DAG_ID
    conf: {release: rawhide, builds: ["{{ msg.name }}-{{ msg.version }}-{{ msg.release }}"]}
  - name: sign
    topics: ["*.buildsys.tag"]
    match: {tag: "*-signing-pending"}
    dag_id: autosign
    batch: {key: "{{ msg.tag }}", item: "{{ msg.name }}", window_seconds: 0.2}
    conf: {release: "{{ key | strip_suffix('-signing-pending') }}", builds: "{{ items }}"}
  - name: compose
    topics: ["*.bodhi.compose.composing"]
    ignore:
      - when: "msg.ctype is defined and msg.ctype != 'rpm'"
        reason: "a {{ msg.ctype }} compose"
    dag_id: updates_push
    conf: {push_id: "{{ msg_id }}", repo: "{{ msg.repo }}", updates: "{{ msg.updates }}"}
"""


class FakeAirflow:
    """Answers from a script (then 'created'); records every request."""

    def __init__(self, script: list[str] | None = None) -> None:
        self.script = list(script or [])
        self.requests: list[tuple[str, str, dict[str, Any]]] = []

    def trigger(self, dag_id: str, dag_run_id: str, conf: dict[str, Any]) -> TriggerResult:
        self.requests.append((dag_id, dag_run_id, conf))
        outcome = self.script.pop(0) if self.script else CREATED
        status = {CREATED: 200, EXISTS: 409, RETRY: 503, REFUSED: 400}[outcome]
        return TriggerResult(outcome, status, f"HTTP {status}: scripted")


class World:
    def __init__(self, tmp_path: Path, airflow: FakeAirflow, dag_id: str = "rawhide_gating") -> None:
        (tmp_path / "rules.yaml").write_text(RULES.replace("DAG_ID", dag_id))
        self.rules_path = tmp_path / "rules.yaml"
        self.inbox = Inbox(tmp_path / "inbox.sqlite")
        self.metrics = Metrics()
        self.ingestor = Ingestor(
            self.inbox, load_rules(self.rules_path), Validator(max_body_bytes=4096), metrics=self.metrics
        )
        self.airflow = airflow
        self.dispatcher = Dispatcher(
            self.inbox,
            self.ingestor.rules,
            airflow,  # type: ignore[arg-type]
            Backoff(0.001, 0.002),
            threading.Event(),
            threading.Event(),
            self.metrics,
        )
        self.i = 0

    def publish(self, tag: str, nvr: str) -> str:
        self.i += 1
        message = envelope("buildsys.tag", koji_tag(tag, nvr), i=self.i)
        self.ingestor.frames([message["topic"].encode(), json.dumps(message).encode()])
        return message["msg_id"]

    def drain(self, steps: int = 200) -> None:
        for _ in range(steps):
            self.dispatcher.step()
            if self.inbox.pending_count() == 0:
                return

    def value(self, name: str, **labels: str) -> float:
        return self.metrics.registry.get_sample_value(name, labels) or 0.0


@pytest.fixture
def world(tmp_path: Path):
    made: list[World] = []

    def make(script: list[str] | None = None, dag_id: str = "rawhide_gating") -> World:
        made.append(World(tmp_path, FakeAirflow(script), dag_id))
        return made[-1]

    yield make
    for one in made:
        one.inbox.close()


def test_runs_are_created_in_arrival_order_even_across_retries(world) -> None:
    w = world([RETRY, RETRY, RETRY, CREATED, EXISTS])
    ids = [w.publish("rawhide-pending", f"p{n}-1-1.fc26") for n in range(5)]
    w.drain()
    assert [run_id for _dag, run_id, _conf in w.airflow.requests] == [f"gate__{ids[0]}"] * 4 + [
        f"gate__{i}" for i in ids[1:]
    ]
    assert w.inbox.pending_count() == 0 and w.inbox.status()["units"] == {"done": 5}
    assert w.value("relengotron_listener_trigger_retries_total") == 3
    assert w.value("relengotron_listener_triggered_total", dag_id="rawhide_gating", answer="created") == 4
    assert w.value("relengotron_listener_triggered_total", dag_id="rawhide_gating", answer="exists") == 1
    assert w.value("relengotron_listener_trigger_latency_seconds_count") == 5


def test_a_refused_run_is_dead_lettered_and_the_next_ones_go_on(world) -> None:
    w = world([REFUSED])
    first = w.publish("rawhide-pending", "a-1-1.fc26")
    w.publish("rawhide-pending", "b-1-1.fc26")
    w.drain()
    (letter,) = w.inbox.status()["dead_letters"]
    assert (letter["kind"], letter["msg_id"], letter["reason"]) == ("airflow", first, "HTTP 400: scripted")
    assert len(w.airflow.requests) == 2 and w.inbox.pending_count() == 0
    assert w.value("relengotron_listener_dead_lettered_total", kind="airflow") == 1


def test_a_batch_is_triggered_once_its_window_closed(world) -> None:
    w = world()
    for nvr in ("curl-7.47.1-5.fc24", "glibc-2.23.1-8.fc24"):
        w.publish("f24-signing-pending", nvr)
    w.publish("f25-signing-pending", "vim-7.4.1842-1.fc25")
    w.dispatcher.step()
    assert w.airflow.requests == []  # the windows are still open
    time.sleep(0.25)
    w.drain()
    assert sorted((d, c["release"], tuple(c["builds"])) for d, _r, c in w.airflow.requests) == [
        ("autosign", "f24", ("curl", "glibc")),
        ("autosign", "f25", ("vim",)),
    ]
    assert all(run_id.startswith("sign__f2") for _d, run_id, _c in w.airflow.requests)


def test_unknown_topics_are_counted_and_dropped_bad_input_dead_lettered(world) -> None:
    w = world()
    other = envelope("wiki.article.edit", {"title": "Releases/24"})
    assert w.ingestor.frames([other["topic"].encode(), json.dumps(other).encode()]).kind == "unrouted"
    assert w.ingestor.replayed(other).kind == "duplicate"
    outcome = w.ingestor.frames([b"org.fedoraproject.prod.buildsys.tag", b"{" * 10])
    assert outcome.kind == "invalid" and "not JSON" in outcome.reason
    assert w.value("relengotron_listener_dropped_total") == 1
    assert w.value("relengotron_listener_deduplicated_total") == 1
    assert w.value("relengotron_listener_dead_lettered_total", kind="invalid") == 1
    assert w.value("relengotron_listener_received_total", source="bus") == 2


def test_a_message_a_rule_ignores_on_purpose_is_counted_logged_and_not_stored(world, caplog) -> None:
    w = world()
    body = {"agent": "bowlofeggs", "repo": "f24-updates", "ctype": "container", "updates": ["a-1-1.fc24"]}
    message = envelope("bodhi.compose.composing", body)
    frames = [message["topic"].encode(), json.dumps(message).encode()]
    with caplog.at_level("INFO", logger="relengotron.listener"):
        outcome = w.ingestor.frames(frames)
    assert (outcome.kind, outcome.reason) == ("ignored", "rule compose: a container compose")
    (record,) = [r for r in caplog.records if r.getMessage() == "deliberately ignored"]
    assert (record.rule, record.reason, record.msg_id) == ("compose", "a container compose", message["msg_id"])
    assert w.value("relengotron_listener_ignored_total", rule="compose") == 1
    assert w.value("relengotron_listener_dropped_total") == 0 and w.inbox.pending_count() == 0
    # judged once: the same message again (a replay) is a duplicate, not counted twice
    assert w.ingestor.frames(frames).kind == "duplicate"
    assert w.value("relengotron_listener_ignored_total", rule="compose") == 1
    rpm = envelope("bodhi.compose.composing", {**body, "ctype": "rpm"})
    assert w.ingestor.frames([rpm["topic"].encode(), json.dumps(rpm).encode()]).kind == "stored"
    # a body Bodhi's own schema refuses is dead-lettered with its reason
    bad = envelope("bodhi.compose.composing", {"agent": "bowlofeggs"})
    outcome = w.ingestor.frames([bad["topic"].encode(), json.dumps(bad).encode()])
    assert (
        outcome.kind == "dead" and "ComposeComposingV1" in outcome.reason and "'repo' is a required" in outcome.reason
    )


def test_a_sequence_gap_is_reported_with_the_window_to_replay(world) -> None:
    w = world()
    for i, stamp in ((1, 1000.0), (2, 1001.0), (6, 1010.0)):
        message = envelope("buildsys.tag", koji_tag("x", f"p{i}-1-1"), i=i, timestamp=stamp, username="kojihub")
        outcome = w.ingestor.frames([message["topic"].encode(), json.dumps(message).encode()])
    assert outcome.gap is not None and outcome.gap.missing == 3
    assert (outcome.gap.window.start, outcome.gap.window.end) == (1001.0 - 5.0, 1010.0 + 5.0)
    assert w.value("relengotron_listener_gaps_total") == 1


def test_retrying_dead_letters_once_the_rule_or_the_limit_is_fixed(world) -> None:
    w = world([REFUSED], dag_id="rawhide_gatin")  # a typo in the rule: Airflow answers 404
    msg_id = w.publish("rawhide-pending", "glibc-2.24-1.fc26")
    w.drain()
    (letter,) = w.inbox.status()["dead_letters"]
    assert w.airflow.requests[-1][0] == "rawhide_gatin"

    w.rules_path.write_text(RULES.replace("DAG_ID", "rawhide_gating"))
    w.ingestor.rules = load_rules(w.rules_path)
    answer = retry_dead_letter(w.ingestor, letter["id"])
    assert answer == f"dead letter {letter['id']}: rawhide_gating run gate__{msg_id} queued again"
    w.drain()
    assert w.airflow.requests[-1] == (
        "rawhide_gating",
        f"gate__{msg_id}",
        {"release": "rawhide", "builds": ["glibc-2.24-1.fc26"]},
    )
    assert w.inbox.status()["dead_letters_total"] == 0 and w.inbox.pending_count() == 0
    assert retry_dead_letter(w.ingestor, letter["id"]).endswith("already retried")
    with pytest.raises(KeyError):
        retry_dead_letter(w.ingestor, 9999)

    # input refused as oversize becomes a message once the limit is raised
    big = envelope("buildsys.tag", koji_tag("rawhide-pending", "big-1-1.fc26"))
    big["msg"]["notes"] = "x" * 5000
    assert w.ingestor.frames([big["topic"].encode(), json.dumps(big).encode()]).kind == "invalid"
    (letter,) = w.inbox.status()["dead_letters"]
    assert "still invalid: oversize" in retry_dead_letter(w.ingestor, letter["id"])
    w.ingestor.validator = Validator(max_body_bytes=1 << 20)
    assert retry_dead_letter(w.ingestor, letter["id"]).endswith("valid now, stored")
    w.drain()
    assert w.airflow.requests[-1][1] == f"gate__{big['msg_id']}"
    assert w.inbox.status()["dead_letters_total"] == 0


def test_a_route_dead_letter_is_routed_again_with_the_fixed_rule(world) -> None:
    w = world()
    message = envelope(
        "buildsys.tag", {k: v for k, v in koji_tag("rawhide-pending", "a-1-1.fc26").items() if k != "version"}
    )
    outcome = w.ingestor.frames([message["topic"].encode(), json.dumps(message).encode()])
    assert outcome.kind == "dead" and "'version'" in outcome.reason
    (letter,) = w.inbox.status()["dead_letters"]
    assert "still failing" in retry_dead_letter(w.ingestor, letter["id"])
    w.rules_path.write_text(RULES.replace("DAG_ID", "rawhide_gating").replace("{{ msg.version }}", "0"))
    w.ingestor.rules = load_rules(w.rules_path)
    (letter,) = w.inbox.status()["dead_letters"]
    assert retry_dead_letter(w.ingestor, letter["id"]).endswith("1 new run(s) queued")
    w.drain()
    assert w.airflow.requests[-1][2] == {"release": "rawhide", "builds": ["a-0-1.fc26"]}
