"""Recorded facts for the dashboard's operations pages: what a listener answers on its HTTP port (``/healthz``,
``/status``, ``/metrics``, shaped as relengotron/listener/observe.py, service.py and inbox.py answer them — the
metrics text is the real :class:`relengotron.listener.observe.Metrics`' exposition) and ``autosign`` runs shaped
as dags/autosign.py records them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from relengotron.dashboard.facts import RunFacts, TaskFact
from relengotron.dashboard.listener import Answer, ListenerFacts
from relengotron.listener.observe import Metrics

URL = "http://127.0.0.1:9910"
NOW = datetime(2016, 6, 1, 12, 0, tzinfo=UTC)
EPOCH = NOW.timestamp()
BUS_OK = {
    "transport": "amqp",
    "broker": "amqps://rabbitmq.fedoraproject.org/%2Fpubsub",
    "queue": "6c1b3f0e-2a4d-4f0b-9a53-0f1f5f3f6a10",
    "routing_keys": ["#.buildsys.tag"],
    "connected": True,
    "last_heard_seconds": 2.5,
    "heartbeat_seconds": 10,
    "reconnects": 1,
    "last_error": None,
}
DEAD_REASON = "org.fedoraproject.prod.buildsys.tag: body refused by TagV1: 'tag' is a required property"


def healthz(*, ready: bool = True, problems: tuple[str, ...] = (), **bus: Any) -> Answer:
    body = {
        "ready": ready,
        "problems": list(problems),
        "subscribed": [],
        "bus": {**BUS_OK, **bus},
        "pending": 2,
        "airflow_error": None,
        "replay_error": None,
    }
    return Answer(status=200 if ready else 503, body=body)


def status(*, dead: int = 0) -> Answer:
    letters = [
        {
            "id": 12 + n,
            "kind": "route",
            "msg_id": f"2016-{n:04d}-aaaa",
            "topic": "org.fedoraproject.prod.buildsys.tag",
            "unit_id": None,
            "reason": DEAD_REASON,
            "created_at": EPOCH - 60,
        }
        for n in range(dead)
    ]
    body = {
        "inbox": "/var/lib/relengotron/listener/inbox.sqlite",
        "pending_messages": 2,
        "messages": {"pending": 2, "done": 40},
        "units": {"ready": 1, "done": 39, "open": 1},
        "open_batches": 1,
        "retrying": 0,
        "head": {"dag_id": "autosign", "dag_run_id": "listener__abc", "attempts": 0, "last_error": None},
        "dead_letters_total": dead,
        "dead_letters": letters,
        "publishers": [
            {
                "name": "koji",
                "last_i": 7,
                "last_msg_id": "2016-b7c1",
                "last_topic": "org.fedoraproject.prod.buildsys.tag",
                "last_sent_at": EPOCH - 30,
                "last_received_at": EPOCH - 29,
            }
        ],
        "live_mark": EPOCH - 30,
    }
    return Answer(status=200, body=body)


def metrics(*, dead: int = 0, heartbeat_timeouts: int = 0, last_heard: float = 2.5) -> Answer:
    """The exposition text of a listener's real metrics registry after some traffic."""
    found = Metrics()
    found.received.labels(source="bus").inc(40)
    found.received.labels(source="replay").inc(3)
    found.dropped.inc(5)
    found.ignored.labels(rule="bodhi-compose").inc(2)
    found.triggered.labels(dag_id="autosign", answer="created").inc(39)
    found.bus_reconnects.labels(reason="connect_failed").inc(1)
    if heartbeat_timeouts:
        found.bus_reconnects.labels(reason="heartbeat_timeout").inc(heartbeat_timeouts)
    if dead:
        found.dead_lettered.labels(kind="route").inc(dead)
    found.bus_last_heard.set(last_heard)
    found.latency.observe(0.5)
    found.latency.observe(1.5)
    return Answer(status=200, body=found.exposition().decode())


def healthy() -> ListenerFacts:
    return ListenerFacts(url=URL, read_at=NOW, healthz=healthz(), status=status(), metrics=metrics())


def stalled() -> ListenerFacts:
    problem = "nothing heard from the broker for 41 s (heartbeat 10 s): the connection is stalled"
    return ListenerFacts(
        url=URL,
        read_at=NOW,
        healthz=healthz(ready=False, problems=(problem,), last_heard_seconds=41.0, reconnects=3),
        status=status(),
        metrics=metrics(heartbeat_timeouts=2, last_heard=41.0),
    )


def with_dead_letters() -> ListenerFacts:
    return ListenerFacts(url=URL, read_at=NOW, healthz=healthz(), status=status(dead=3), metrics=metrics(dead=3))


def not_answering() -> ListenerFacts:
    error = (
        "ConnectionError: HTTPConnectionPool(host='127.0.0.1', port=9910): Max retries exceeded with url: /healthz "
        "(Caused by NewConnectionError('Failed to establish a new connection: [Errno 111] Connection refused'))"
    )
    return ListenerFacts(url=URL, read_at=NOW, healthz=Answer(error=error))


# ------------------------------------------------------------------ autosign

BASH, OPENSSH, CURL, SUDO = "bash-4.3.42-6.fc24", "openssh-7.2p2-10.fc24", "curl-7.43.0-8.fc23", "sudo-1.8.15-2.fc23"
KEY = "81b46521"
REFUSAL = f"1 RPM(s) signed with a different key than the release key {KEY}: {CURL}.noarch.rpm (signed with deadbeef)"


def _item(nvr: str, release: str) -> dict[str, Any]:
    return {
        "nvr": nvr,
        "release": release,
        "from_tag": f"{release}-signing-pending",
        "to_tag": f"{release}-updates-testing-pending",
    }


def _outcome(nvr: str, release: str, outcome: str, rpms: int, reason: str) -> dict[str, Any]:
    return {
        **_item(nvr, release),
        "key": KEY,
        "outcome": outcome,
        "rpms_signed": rpms,
        "moved": outcome == "signed",
        "reason": reason,
        "package": nvr.rsplit("-", 2)[0],
        "owner": "kdudka",
    }


def autosign_run() -> RunFacts:
    """A run that signed bash, found sudo done already and refused curl (an RPM signed with another key); its
    summarize failed naming curl."""
    items = [_item(BASH, "f24"), _item(SUDO, "f23"), _item(CURL, "f23")]
    tasks = {
        ("list_builds", -1): TaskFact("success", 1, None, NOW, NOW),
        ("sign_build", 0): TaskFact("success", 1, BASH, NOW, NOW),
        ("sign_build", 1): TaskFact("success", 1, SUDO, NOW, NOW),
        ("sign_build", 2): TaskFact("failed", 1, CURL, NOW, NOW),
        ("summarize", -1): TaskFact("failed", 1, None, NOW, NOW),
    }
    xcoms = {
        ("list_builds", -1, "return_value"): items,
        ("list_builds", -1, "left_over"): [],
        ("sign_build", 0, "return_value"): _outcome(BASH, "f24", "signed", 3, "sign 3 of 3 RPM(s) with 81b46521"),
        ("sign_build", 1, "return_value"): _outcome(SUDO, "f23", "done", 0, "already in f23-updates"),
        ("sign_build", 2, "refused"): {"nvr": CURL, "reason": REFUSAL},
    }
    return RunFacts(
        "autosign",
        "manual__2016-06-01T12:00:00+00:00",
        "failed",
        {"release": "f23", "builds": []},
        NOW,
        NOW,
        tasks,
        xcoms,
    )


def autosign_running() -> RunFacts:
    """A newer sweep at work: openssh's task queued, curl retried by hand and running, one build left over."""
    items = [_item(OPENSSH, "f24"), _item(CURL, "f23")]
    tasks = {
        ("list_builds", -1): TaskFact("success", 1, None, NOW, NOW),
        ("sign_build", 0): TaskFact("queued", 0, OPENSSH),
        ("sign_build", 1): TaskFact("running", 1, CURL, NOW),
    }
    xcoms = {("list_builds", -1, "return_value"): items, ("list_builds", -1, "left_over"): ["zsh-5.2-5.fc24"]}
    return RunFacts(
        "autosign", "manual__2016-06-01T13:00:00+00:00", "running", {"release": "f24"}, NOW, None, tasks, xcoms
    )
