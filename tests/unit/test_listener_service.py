"""The listener's threads without sockets: the subscriber asks for a replay on start and on every reconnect,
the replayer merges what it is asked for, and the dispatcher only closes batches whose window has ended."""

from __future__ import annotations

import threading
from pathlib import Path

import zmq

from relengotron.listener.airflow_api import Backoff
from relengotron.listener.config import load_config
from relengotron.listener.inbox import Inbox
from relengotron.listener.ingest import Ingestor
from relengotron.listener.observe import Metrics
from relengotron.listener.replay import Window
from relengotron.listener.rules import RuleSet
from relengotron.listener.service import Replayer, Subscriber
from relengotron.listener.validate import Validator

CONFIG = """\
bus: {endpoints: ['tcp://127.0.0.1:9'], settle_seconds: 0.5}
datagrepper: {url: 'http://127.0.0.1:9/', replay_margin_seconds: 30}
airflow: {url: 'http://127.0.0.1:9', username: admin, password_file: pw}
inbox: {path: inbox.sqlite}
rules: rules.yaml
"""


class Requests:
    def __init__(self) -> None:
        self.windows: list[tuple[Window, float]] = []

    def request(self, window: Window, delay: float = 0.0) -> None:
        self.windows.append((window, delay))


def test_replays_on_start_and_on_each_reconnect(tmp_path: Path) -> None:
    (tmp_path / "listener.yaml").write_text(CONFIG)
    config = load_config(tmp_path / "listener.yaml")
    inbox = Inbox(config.inbox_path)
    try:
        ingestor = Ingestor(inbox, RuleSet(()), Validator(max_body_bytes=4096))
        asked = Requests()
        metrics = Metrics()
        subscriber = Subscriber(config, ingestor, asked, threading.Event(), metrics)  # type: ignore[arg-type]
        endpoint = b"tcp://127.0.0.1:9"

        subscriber._on_event({"event": zmq.EVENT_HANDSHAKE_SUCCEEDED, "endpoint": endpoint, "value": 0})
        ((window, delay),) = asked.windows
        assert window.reason == "start: first start" and window.end is None and delay == 0.5
        assert window.start == subscriber.started_at - 30  # an empty inbox: from just before the start
        assert subscriber.connected == {"tcp://127.0.0.1:9"}
        assert metrics.registry.get_sample_value("relengotron_listener_subscribed") == 1

        subscriber._on_event({"event": zmq.EVENT_DISCONNECTED, "endpoint": endpoint, "value": 0})
        assert subscriber.connected == set()
        assert metrics.registry.get_sample_value("relengotron_listener_subscribed") == 0
        mark = subscriber.started_at - 100  # the newest message seen live
        inbox._conn().execute("INSERT INTO marks (name, value) VALUES ('live', ?)", (mark,))
        subscriber._on_event({"event": zmq.EVENT_HANDSHAKE_SUCCEEDED, "endpoint": endpoint, "value": 0})
        window, _ = asked.windows[-1]
        assert (window.start, window.reason) == (mark - 30, "reconnect: since the last message seen")
        assert len(asked.windows) == 2
    finally:
        inbox.close()


def test_the_replayer_merges_what_it_is_asked_while_busy() -> None:
    replayer = Replayer(object(), None, threading.Event(), Backoff())  # type: ignore[arg-type]
    replayer.request(Window(100, 200, "gap in a's sequence"), delay=5)
    replayer.request(Window(50, 120, "gap in b's sequence"))
    replayer.request(Window(150, None, "reconnect"))
    pending = replayer._pending
    assert pending is not None and not replayer.idle
    assert (pending.window.start, pending.window.end) == (50, None)
    assert pending.window.reason == "gap in a's sequence, gap in b's sequence, reconnect"
