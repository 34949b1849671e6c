"""The listener's durable inbox: store before anything else, dedupe by msg_id, pending until Airflow acknowledges,
batches that collect within a window, dead letters, per-publisher sequence numbers, and what a kill -9 leaves."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from listener_samples import envelope, koji_tag

from relengotron.listener.inbox import Inbox
from relengotron.listener.rules import Route, Routing, batch_run_id
from relengotron.listener.validate import Envelope, Rejected, Validator

VALIDATOR = Validator(max_body_bytes=1 << 20)


def message(nvr: str = "glibc-2.24-1.fc26", *, i: int = 1, tag: str = "rawhide-pending", **kw) -> Envelope:
    checked = VALIDATOR.envelope(envelope("buildsys.tag", koji_tag(tag, nvr), i=i, **kw))
    assert isinstance(checked, Envelope)
    return checked


def single(env: Envelope, rule: str = "gate", dag_id: str = "rawhide_gating") -> Routing:
    nvr = f"{env.body['name']}-{env.body['version']}-{env.body['release']}"
    return Routing((Route(rule, dag_id, dag_run_id=f"{rule}__{env.msg_id}", conf={"builds": [nvr]}),))


def batched(env: Envelope, window: float = 30.0, max_items: int | None = None) -> Routing:
    route = Route(
        "autosign",
        "autosign",
        batch_key='"f24-signing-pending"',
        item=env.body["name"],
        window_seconds=window,
        max_items=max_items,
    )
    return Routing((route,))


@pytest.fixture
def inbox(tmp_path: Path):
    box = Inbox(tmp_path / "inbox.sqlite")
    yield box
    box.close()


def test_wal_mode_and_the_tables(inbox: Inbox) -> None:
    db = sqlite3.connect(inbox.path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"messages", "units", "deliveries", "dead_letters", "publishers", "dropped", "marks"} <= tables
    assert inbox.writable() is None


def test_a_message_is_pending_until_airflow_acknowledges_its_run(inbox: Inbox) -> None:
    env = message()
    stored = inbox.store(env, single(env), source="bus", now=100.0)
    assert stored.outcome == "stored" and stored.seq == 1
    assert inbox.pending_count() == 1
    unit = inbox.next_unit()
    assert (
        unit is not None and unit.dag_run_id == f"gate__{env.msg_id}" and unit.conf == {"builds": ["glibc-2.24-1.fc26"]}
    )
    assert unit.first_received == 100.0 and inbox.unit_msg_ids(unit.id) == [env.msg_id]
    assert inbox.complete(unit.id, "200 created") is True
    assert inbox.complete(unit.id, "200 created") is False  # idempotent
    assert inbox.pending_count() == 0 and inbox.next_unit() is None
    assert inbox.message(1)["state"] == "done"


def test_the_same_msg_id_is_stored_once(inbox: Inbox) -> None:
    env = message()
    inbox.store(env, single(env), source="bus")
    assert inbox.store(env, single(env), source="replay").outcome == "duplicate"
    assert inbox.known(env.msg_id)
    assert inbox.status()["units"] == {"ready": 1}


def test_unrouted_messages_are_remembered_by_id_only(inbox: Inbox) -> None:
    env = message(tag="f24-updates-candidate")
    assert inbox.store(env, Routing(), source="bus").outcome == "unrouted"
    assert inbox.store(env, Routing(), source="replay").outcome == "duplicate"
    assert inbox.known(env.msg_id) and inbox.status()["messages"] == {}


def test_transient_failures_keep_the_head_of_the_line(inbox: Inbox) -> None:
    first, second = message("a-1-1.fc26", i=1), message("b-1-1.fc26", i=2)
    inbox.store(first, single(first), source="bus")
    inbox.store(second, single(second), source="bus")
    head = inbox.next_unit()
    inbox.defer(head.id, next_attempt=1e12, error="Airflow unreachable")
    again = inbox.next_unit()
    assert again.id == head.id and again.attempts == 1 and again.next_attempt == 1e12  # later ones wait behind it
    status = inbox.status()
    assert status["retrying"] == 1 and status["head"]["last_error"] == "Airflow unreachable"


def test_airflow_refusing_a_run_dead_letters_it_with_the_answer(inbox: Inbox) -> None:
    env = message()
    inbox.store(env, single(env), source="bus")
    unit = inbox.next_unit()
    inbox.refuse(unit.id, "HTTP 400: Invalid input for param builds")
    (letter,) = inbox.status()["dead_letters"]
    assert (letter["kind"], letter["msg_id"], letter["unit_id"]) == ("airflow", env.msg_id, unit.id)
    assert letter["reason"] == "HTTP 400: Invalid input for param builds"
    assert inbox.message(1)["state"] == "dead" and inbox.pending_count() == 0


def test_route_problems_are_dead_letters_and_other_routes_still_deliver(inbox: Inbox) -> None:
    env = message()
    mixed = Routing(single(env).routes, ("rule other: conf.x: 'dict object' has no attribute 'x'",))
    assert inbox.store(env, mixed, source="bus").dead_letters == 1
    assert inbox.message(1)["state"] == "pending"
    inbox.complete(inbox.next_unit().id, "200")
    assert inbox.message(1)["state"] == "dead"  # delivered, but a route of it failed: stays visible
    only = message("b-1-1.fc26")
    inbox.store(only, Routing((), ("field 'name' is missing",)), source="bus")
    assert inbox.message(2)["state"] == "dead"
    assert [d["kind"] for d in inbox.status()["dead_letters"]] == ["route", "route"]


def test_a_batch_collects_its_window_then_becomes_one_run(inbox: Inbox) -> None:
    envs = [message(f"pkg{n}-1-1.fc24", i=n + 1, tag="f24-signing-pending") for n in range(4)]
    for n, env in enumerate(envs[:3]):
        inbox.store(env, batched(env), source="bus", now=1000.0 + n)
    assert inbox.next_unit() is None and inbox.next_window_end() == 1030.0
    assert inbox.status()["open_batches"] == 1 and inbox.pending_count() == 3

    def conf_of(rule, key, items, start, end):
        return {"rule": rule, "key": json.loads(key), "items": items, "window": [start, end]}

    assert inbox.close_due_batches(conf_of, now=1029.0) == []
    inbox.store(envs[3], batched(envs[3]), source="bus", now=1031.0)  # after the window: a new batch
    ((unit, error),) = inbox.close_due_batches(conf_of, now=1031.0)
    assert error is None and unit.state == "ready"
    assert unit.dag_run_id == batch_run_id("autosign", '"f24-signing-pending"', 1000.0)
    assert unit.conf == {
        "rule": "autosign",
        "key": "f24-signing-pending",
        "items": ["pkg0", "pkg1", "pkg2"],
        "window": [1000.0, 1030.0],
    }
    assert inbox.unit_msg_ids(unit.id) == [e.msg_id for e in envs[:3]]
    inbox.complete(unit.id, "200")
    assert inbox.pending_count() == 1 and inbox.status()["open_batches"] == 1
    assert [inbox.message(s)["state"] for s in (1, 2, 3, 4)] == ["done", "done", "done", "pending"]


def test_a_full_batch_closes_early_and_the_next_distinct_item_opens_another(inbox: Inbox) -> None:
    """``max_items`` distinct items fill a window: it closes at once (a run the DAG's Params would refuse as too
    large is never made); an item the full batch holds already still joins it; nothing is lost or doubled."""
    names = ["pkg0", "pkg1", "pkg0", "pkg2", "pkg1", "pkg3", "pkg4", "pkg5", "pkg6", "pkg3"]
    for n, name in enumerate(names):
        env = message(f"{name}-1-1.fc24", i=n + 1, tag="f24-signing-pending")
        inbox.store(env, batched(env, max_items=3), source="bus", now=1000.0 + n)

    def conf_of(rule, key, items, start, end):
        return {"items": items, "window": [start, end]}

    closed = inbox.close_due_batches(conf_of, now=1010.0)  # the full ones only: the last window is still open
    assert [unit.conf for unit, _ in closed] == [
        {"items": ["pkg0", "pkg1", "pkg0", "pkg2", "pkg1"], "window": [1000.0, 1005.0]},
        {"items": ["pkg3", "pkg4", "pkg5"], "window": [1005.0, 1008.0]},
    ]
    assert len({unit.dag_run_id for unit, _ in closed}) == 2
    ((last, _),) = inbox.close_due_batches(conf_of, now=1100.0)
    assert last.conf == {"items": ["pkg6", "pkg3"], "window": [1008.0, 1038.0]}  # pkg3 again: a new window
    assert inbox.pending_count() == len(names)


def test_a_batch_whose_conf_cannot_be_rendered_is_dead_lettered(inbox: Inbox) -> None:
    env = message(tag="f24-signing-pending")
    inbox.store(env, batched(env, window=1), source="bus", now=10.0)

    def broken(*_args):
        raise KeyError("no rule named 'autosign'")

    ((unit, error),) = inbox.close_due_batches(broken, now=20.0)
    assert "no rule named" in error
    (letter,) = inbox.status()["dead_letters"]
    assert letter["kind"] == "route" and letter["unit_id"] == unit.id and inbox.message(1)["state"] == "dead"


def test_live_messages_track_each_publishers_sequence_and_the_live_mark(inbox: Inbox) -> None:
    a1 = message("a-1-1.fc26", i=1, timestamp=100.0, username="kojihub")
    a2 = message("a-2-1.fc26", i=2, timestamp=101.0, username="kojihub")
    b7 = message("b-1-1.fc26", i=7, timestamp=99.0, username="bodhi")
    assert inbox.store(a1, single(a1), source="bus").previous_i is None
    stored = inbox.store(a2, single(a2), source="bus")
    assert (stored.previous_i, stored.previous_sent_at) == (1, 100.0)
    inbox.store(b7, Routing(), source="bus")  # unrouted messages count too
    replayed = message("a-9-1.fc26", i=9, timestamp=500.0, username="kojihub")
    assert inbox.store(replayed, single(replayed), source="replay").previous_i is None
    publishers = {p["name"]: p for p in inbox.status()["publishers"]}
    assert publishers["kojihub"]["last_i"] == 2 and publishers["bodhi"]["last_i"] == 7
    assert inbox.live_mark() == 101.0  # replays do not move it


def test_invalid_input_is_kept_once(inbox: Inbox) -> None:
    rejected = Rejected("the envelope is not JSON (Expecting value)", b"{not json", topic="org.x.y")
    assert inbox.reject(rejected, source="bus") is True
    assert inbox.reject(rejected, source="replay") is False
    (letter,) = inbox.status()["dead_letters"]
    assert (letter["kind"], letter["topic"]) == ("invalid", "org.x.y")
    assert inbox.dead_letter(letter["id"])["raw"] == b"{not json"


def test_retried_dead_letters(inbox: Inbox) -> None:
    env = message()
    inbox.store(env, single(env), source="bus")
    unit = inbox.next_unit()
    inbox.refuse(unit.id, "HTTP 404: Dag with dag_id: 'rawhide_gatin' not found")
    (letter,) = inbox.status()["dead_letters"]
    inbox.revive_unit(letter["id"], unit.id, "rawhide_gating", {"builds": ["x-1-1"]})
    revived = inbox.next_unit()
    assert (revived.id, revived.dag_id, revived.conf, revived.attempts) == (
        unit.id,
        "rawhide_gating",
        {"builds": ["x-1-1"]},
        0,
    )
    assert revived.dag_run_id == unit.dag_run_id and inbox.status()["dead_letters_total"] == 0
    assert inbox.message(1)["state"] == "pending"

    other = message("b-1-1.fc26")
    inbox.store(other, Routing((), ("rule gate: conf.builds[0]: 'version'",)), source="bus")
    (letter,) = inbox.status()["dead_letters"]
    assert inbox.reroute(letter["id"], 2, single(other)) == 1
    assert inbox.message(2)["state"] == "pending" and inbox.status()["dead_letters_total"] == 0


def test_prune_forgets_finished_work_only(inbox: Inbox) -> None:
    old, new = message("a-1-1.fc26"), message("b-1-1.fc26")
    inbox.store(old, single(old), source="bus", now=100.0)
    inbox.store(new, single(new), source="bus", now=200.0)
    inbox.complete(inbox.next_unit().id, "200", now=150.0)
    assert inbox.prune(older_than=180.0) == 1
    assert inbox.message(1) is None and inbox.message(2)["state"] == "pending"
    assert inbox.prune(older_than=180.0) == 0


def test_a_kill_9_in_the_middle_of_a_store_leaves_nothing_half_written(tmp_path: Path) -> None:
    """A process storing messages is killed (SIGKILL) inside a transaction, after writing the message row but
    before its route: reopened, the inbox has every committed message whole and nothing of the last one."""
    path = tmp_path / "inbox.sqlite"
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        sys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r})
        from listener_samples import envelope, koji_tag
        from relengotron.listener.inbox import Inbox
        from relengotron.listener.rules import Route, Routing
        from relengotron.listener.validate import Validator

        inbox = Inbox({str(path)!r})
        validator = Validator(max_body_bytes=1 << 20)
        for n in range(20):
            env = validator.envelope(envelope("buildsys.tag", koji_tag("rawhide-pending", f"p{{n}}-1-1.fc26"), i=n + 1))
            route = Route("gate", "rawhide_gating", dag_run_id=f"gate__{{env.msg_id}}", conf={{"n": n}})
            inbox.store(env, Routing((route,)), source="bus")
        with inbox._write() as db:
            db.execute(
                "INSERT INTO messages (msg_id, topic, received_at, source, envelope, state)"
                " VALUES ('2016-half', 't.x', 0, 'bus', '{{}}', 'pending')"
            )
            os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == -9, result.stderr
    inbox = Inbox(path)
    try:
        assert sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert not inbox.known("2016-half")
        status = inbox.status()
        assert status["messages"] == {"pending": 20} and status["units"] == {"ready": 20}
        assert [inbox.next_unit().conf] == [{"n": 0}]
    finally:
        inbox.close()


def test_short_lived_threads_share_one_reading_connection(inbox: Inbox) -> None:
    """/metrics and /healthz run in a new thread per request: they must not open a connection each."""
    import threading

    env = message()
    inbox.store(env, single(env), source="bus")
    counts: list[int] = []
    for _ in range(30):
        thread = threading.Thread(target=lambda: counts.append(inbox.pending_count()))
        thread.start()
        thread.join()
    assert counts == [1] * 30 and len(inbox._all) == 2  # this thread's connection and the shared reader
    statuses: list[dict] = []
    for _ in range(30):  # /status too
        thread = threading.Thread(target=lambda: statuses.append(inbox.status(dead_letter_limit=5)))
        thread.start()
        thread.join()
    assert [s["pending_messages"] for s in statuses] == [1] * 30 and len(inbox._all) == 2


def test_the_status_limit_of_the_http_endpoint() -> None:
    from relengotron.listener.observe import STATUS_LIMIT, STATUS_LIMIT_MAX, status_limit

    assert status_limit("") == STATUS_LIMIT and status_limit("limit=7") == 7
    assert status_limit("limit=-3") == 0 and status_limit("limit=99999") == STATUS_LIMIT_MAX
    with pytest.raises(ValueError, match="limit 'x' is not a whole number"):
        status_limit("limit=x")
