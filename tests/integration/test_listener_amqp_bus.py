"""The listener's AMQP subscriber against a real RabbitMQ (no Airflow): what it stores, what it dead-letters, what
it leaves on the queue, and how it notices a connection that died without a FIN (through
:class:`relengotron_sandbox.tcpproxy.TcpProxy`)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pika
import pytest
from listener_samples import koji_tag

from relengotron.listener.amqp_bus import AmqpSubscriber
from relengotron.listener.config import AmqpSettings
from relengotron.listener.inbox import Inbox
from relengotron.listener.ingest import Ingestor
from relengotron.listener.observe import Metrics
from relengotron.listener.rules import load_rules
from relengotron.listener.validate import Validator
from relengotron_sandbox.broker import Broker, running
from relengotron_sandbox.tcpproxy import TcpProxy
from relengotron_sandbox.testing import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

TOPIC = "org.fedoraproject.dev.buildsys.tag"
RULES = """\
rules:
  - name: gate
    topics: ["*.buildsys.tag"]
    match: {tag: rawhide-pending}
    dag_id: rawhide_gating
    conf: {builds: ["{{ msg.name }}-{{ msg.version }}-{{ msg.release }}"]}
"""


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    with running(tmp_path_factory.mktemp("broker")) as one:
        yield one


def fm_properties(**changes: Any) -> pika.BasicProperties:
    """Properties as fedora-messaging 3.9.1 publishes them (Message._build_properties), for Koji's TagV1."""
    headers = {
        "fedora_messaging_schema": "koji_fedoramessaging.tag.TagV1",
        "fedora_messaging_schema_package": "koji-fedoramessaging-messages",
        "sent-at": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
        "fedora_messaging_severity": 20,
        "priority": 0,
    }
    values: dict[str, Any] = {
        "content_type": "application/json",
        "content_encoding": "utf-8",
        "delivery_mode": 2,
        "headers": headers,
        "message_id": str(uuid.uuid4()),
    }
    values.update(changes)
    return pika.BasicProperties(**values)


class Publisher:
    """pika, publisher confirms on: anything, well-formed or not."""

    def __init__(self, broker: Broker) -> None:
        self.connection = pika.BlockingConnection(pika.URLParameters(broker.url))
        self.channel = self.connection.channel()
        self.channel.confirm_delivery()

    def send(self, body: bytes | dict[str, Any], properties: pika.BasicProperties, topic: str = TOPIC) -> str:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.channel.basic_publish("amq.topic", topic, data, properties)
        return properties.message_id

    def depth(self, queue: str) -> int:
        return self.channel.queue_declare(queue, passive=True).method.message_count

    def close(self) -> None:
        self.connection.close()


class Running:
    def __init__(self, tmp: Path, url: str, heartbeat: int = 10, password_file: Path | None = None) -> None:
        (tmp / "rules.yaml").write_text(RULES)
        self.inbox = Inbox(tmp / "inbox.sqlite")
        self.ingestor = Ingestor(self.inbox, load_rules(tmp / "rules.yaml"), Validator(max_body_bytes=65536))
        self.queue = f"test-{uuid.uuid4()}"
        settings = AmqpSettings(
            url=url,
            queue=self.queue,
            exchange="amq.topic",
            routing_keys=(),
            prefetch=10,
            heartbeat=heartbeat,
            password_file=password_file,
        )
        self.replays: list[str] = []
        self.stop = threading.Event()
        self.metrics = Metrics()
        self.subscriber = AmqpSubscriber(
            settings, ["#.buildsys.tag"], self.ingestor, self.replays.append, self.stop, self.metrics
        )
        self.subscriber.start()
        wait_for("consuming", lambda: self.subscriber.connected, 30)

    def close(self) -> None:
        self.stop.set()
        self.subscriber.join(timeout=10)
        self.inbox.close()

    def stored(self) -> set[str]:
        return {row[0] for row in self.inbox._conn().execute("SELECT msg_id FROM messages")}

    def letters(self) -> dict[str | None, str]:
        return {r[0]: r[1] for r in self.inbox._conn().execute("SELECT msg_id, reason FROM dead_letters")}


def test_stores_dead_letters_and_acks_everything(tmp_path: Path, broker: Broker) -> None:
    url = broker.url.replace(f":{broker.password}@", "@")
    pw = tmp_path / "pw"
    pw.write_text(broker.password)
    (tmp_path / "s").mkdir()
    listener = Running(tmp_path / "s", url, password_file=pw)  # the password from a file, never in the URL
    publisher = Publisher(broker)
    try:
        good = [publisher.send(koji_tag("rawhide-pending", f"amqp-{n}-1-1.fc26"), fm_properties()) for n in range(20)]
        bad = {
            publisher.send(b"{not json", fm_properties()): "the body is not JSON",
            publisher.send(b"\xff\xfe", fm_properties()): "the body is not utf-8",
            publisher.send(b"{}", fm_properties(content_encoding="rot13")): "is not a text encoding",
            publisher.send(b"[1, 2]", fm_properties()): "must be a JSON object",
            publisher.send({**koji_tag("rawhide-pending", "x-1-1"), "build_id": "7"}, fm_properties()): (
                "schema koji_fedoramessaging.tag.TagV1 refuses the body: field 'build_id'"
            ),
            publisher.send(koji_tag("rawhide-pending", "y-1-1"), fm_properties(headers={"sent-at": 5})): (
                "header 'sent-at' must be an ISO 8601 string"
            ),
            publisher.send(
                koji_tag("rawhide-pending", "z-1-1"),
                fm_properties(headers={"fedora_messaging_severity": "loud", "sent-at": "2026-01-01T00:00:00+00:00"}),
            ): "refuses the headers: header 'fedora_messaging_severity'",
        }
        after = [publisher.send(koji_tag("rawhide-pending", f"after-{n}-1-1.fc26"), fm_properties()) for n in range(5)]
        wait_for(
            "everything stored or dead-lettered",
            lambda: len(listener.stored()) >= 25 and len(listener.letters()) >= 7,
            30,
        )
        wait_for("the queue empty (all acked)", lambda: publisher.depth(listener.queue) == 0, 30)
        assert listener.stored() == set(good + after)
        letters = listener.letters()
        for msg_id, reason in bad.items():
            assert reason in letters[msg_id], (reason, letters[msg_id])
        assert listener.replays == ["start"]
        assert listener.subscriber.problem() is None
    finally:
        publisher.close()
        listener.close()


def test_inbox_failure_requeues_until_it_can_store(tmp_path: Path, broker: Broker) -> None:
    import sqlite3

    listener = Running(tmp_path, broker.url)
    publisher = Publisher(broker)
    holder = sqlite3.connect(tmp_path / "inbox.sqlite", isolation_level=None, timeout=1)
    try:
        holder.execute("BEGIN EXCLUSIVE")  # the inbox cannot be written
        msg_id = publisher.send(koji_tag("rawhide-pending", "held-1-1.fc26"), fm_properties())
        time.sleep(12)  # a few store attempts, each waiting on the lock then requeued after a pause
        assert msg_id not in listener.stored() and not listener.letters()
        holder.execute("ROLLBACK")
        wait_for("stored once the inbox is back", lambda: msg_id in listener.stored(), 60)
        wait_for("acked", lambda: publisher.depth(listener.queue) == 0, 30)
        assert not listener.letters()
    finally:
        holder.close()
        publisher.close()
        listener.close()


def test_a_silently_dead_connection_is_noticed_and_healed(tmp_path: Path, broker: Broker) -> None:
    with TcpProxy("127.0.0.1", broker.amqp_port) as proxy:
        url = broker.url.replace(f":{broker.amqp_port}/", f":{proxy.port}/")
        listener = Running(tmp_path, url, heartbeat=2)
        publisher = Publisher(broker)
        try:
            first = publisher.send(koji_tag("rawhide-pending", "before-1-1.fc26"), fm_properties())
            wait_for("the first stored", lambda: first in listener.stored(), 30)
            assert proxy.stall() == 1
            stalled_at = time.monotonic()
            during = publisher.send(koji_tag("rawhide-pending", "during-1-1.fc26"), fm_properties())
            wait_for("the stall seen by /healthz", lambda: listener.subscriber.problem() is not None, 30)
            wait_for("reconnected", lambda: listener.subscriber.reconnects >= 1 and listener.subscriber.connected, 60)
            healed = time.monotonic() - stalled_at
            wait_for("the message of the stall stored", lambda: during in listener.stored(), 30)
            reasons = listener.metrics.registry.get_sample_value(
                "relengotron_listener_bus_reconnects_total", {"reason": "heartbeat_timeout"}
            )
            print(f"\n[silent cut, heartbeat 2 s] healed after {healed:.1f} s; replays asked: {listener.replays}")
            assert reasons == 1 and listener.replays == ["start", "reconnect"]
        finally:
            publisher.close()
            listener.close()
