"""The sandbox's RabbitMQ: started and stopped with the sandbox on loopback only; the sandbox's services publish
on it as Fedora's do (a consumer reads each message back as its publisher's schema class, by the
``fedora_messaging_schema`` header); the datagrepper archive holds what went over AMQP, one message per id across
both buses; a restart or a crash of the broker keeps a durable queue's unread messages."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import koji
import pika
import pytest
import requests
from bodhi.messages.schemas.update import UpdateRequestStableV1
from fedora_messaging.message import get_message
from koji_fedoramessaging_messages.tag import TagV1
from relengotron_messages import PushCompleteV1

from relengotron_sandbox import broker as sandbox_broker
from relengotron_sandbox.amqp import PikaPublisher
from relengotron_sandbox.bodhi import BodhiService
from relengotron_sandbox.broker import Broker, BrokerService
from relengotron_sandbox.bugzilla import BugzillaService
from relengotron_sandbox.bus import BusService
from relengotron_sandbox.koji import KojiHub
from relengotron_sandbox.service import SandboxContext
from relengotron_sandbox.testing import alive, descendants, wait_for

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / "var" / "cache" / "world"
PREFIX = "org.fedoraproject.dev"  # the sandbox's fedmsg topic_prefix and environment
KERNEL = "FEDORA-2016-e26aae6802"  # requested stable in the default world's F24


def listeners() -> list[tuple[str, int, str]]:
    """Every listening TCP socket, as ``ss -ltnpH`` shows it: (address, port, users)."""
    out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout
    found = []
    for line in out.splitlines():
        fields = line.split()
        address, _, port = fields[3].rpartition(":")
        found.append((address.strip("[]"), int(port), " ".join(fields[5:])))
    return found


def listening_of(pids: set[int]) -> list[tuple[str, int]]:
    """The (address, port) of the sockets the processes ``pids`` listen on."""
    return [
        (address, port)
        for address, port, users in listeners()
        if {int(p) for p in re.findall(r"pid=(\d+)", users)} & pids
    ]


def broker_pids(root: int) -> set[int]:
    """The broker's processes among ``root``'s descendants: its script, the Erlang VM, epmd."""
    return {
        pid
        for pid in descendants(root)
        if any(word in (Path(f"/proc/{pid}/cmdline").read_bytes() or b"") for word in (b"rabbitmq", b"beam", b"epmd"))
    }


def test_the_broker_starts_and_stops_with_the_sandbox_on_loopback_only(tmp_path: Path, built_world) -> None:
    state = tmp_path / "state"
    up = subprocess.run(
        [sys.executable, "-m", "relengotron_sandbox.cli", "up", "--state", str(state), "--cache", str(CACHE)],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=REPO,
    )
    assert up.returncode == 0, up.stderr + up.stdout
    endpoints = json.loads((state / "endpoints.json").read_text())
    try:
        entry = endpoints["broker"]
        assert entry["vhost"] == "/pubsub" and entry["exchange"] == "amq.topic"
        assert endpoints["bus"]["amqp_url"] == entry["amqp_url"]
        assert entry["amqp_url"].startswith(f"amqp://{entry['user']}:") and entry["user"] != "guest"
        pids = broker_pids(endpoints["sandbox"]["pid"])
        names = {Path(f"/proc/{p}/comm").read_text().strip() for p in pids}
        assert {"beam.smp", "epmd"} <= names, names
        sockets = listening_of(pids)
        assert ("127.0.0.1", entry["amqp_port"]) in sockets
        assert {address for address, _ in sockets} <= {"127.0.0.1", "::1"}, sockets
        # its state is the sandbox's
        directory = Path(entry["directory"])
        assert directory.is_relative_to(state)
        assert (directory / "mnesia").is_dir() and (directory / "rabbitmq.conf").is_file()
        # a client of its own reaches the sandbox's virtual host
        connection = pika.BlockingConnection(pika.URLParameters(entry["amqp_url"]))
        connection.channel().exchange_declare("amq.topic", "topic", passive=True, durable=True)
        connection.close()
    finally:
        down = subprocess.run(
            [sys.executable, "-m", "relengotron_sandbox.cli", "down", "--state", str(state)],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=REPO,
        )
    assert down.returncode == 0, down.stderr
    assert [p for p in pids if alive(p)] == []
    assert [s for s in listeners() if s[1] in {entry["amqp_port"]}] == []


# --------------------------------------------------------------------------- the services publish on AMQP


@pytest.fixture
def amqp_sandbox(tmp_path: Path, world, built_world) -> Iterator[tuple[SandboxContext, BodhiService]]:
    """The broker, the bus (both buses) and the Koji, Bugzilla and Bodhi services, in-process."""
    ctx = SandboxContext(state_dir=tmp_path / "state", world=world, built=built_world)
    ctx.state_dir.mkdir()
    started: list[Any] = []
    try:
        for kind in (BrokerService, BusService, KojiHub, BugzillaService, BodhiService):
            service = kind(ctx)
            ctx.endpoints[service.name] = service.start()
            started.append(service)
        for service in started:
            if hasattr(service, "ready"):
                service.ready()
        yield ctx, started[-1]
    finally:
        ctx.stopping.set()
        for service in reversed(started):
            service.stop()


def first(channel: Any, queue: str, seen: list[Any], wanted: Callable[[Any], bool]) -> Any:
    """The first message of ``queue`` (as fedora-messaging reads it: class by header, validated) that is
    ``wanted``; every message read is kept in ``seen``."""

    def found() -> Any:
        method, properties, body = channel.basic_get(queue, auto_ack=True)
        if method is not None:
            seen.append(get_message(method.routing_key, properties, body))
        return next((m for m in seen if wanted(m)), None)

    return wait_for(f"a wanted message on {queue}", found, 30, every=0.05)


def test_a_bodhi_request_and_a_koji_tag_arrive_as_their_schema_classes_and_in_the_archive(
    amqp_sandbox: tuple[SandboxContext, BodhiService],
) -> None:
    ctx, bodhi = amqp_sandbox
    connection = pika.BlockingConnection(pika.URLParameters(ctx.endpoints["broker"]["amqp_url"]))
    channel = connection.channel()
    queue = "test-consumer"
    channel.queue_declare(queue, durable=True)
    for key in (f"{PREFIX}.bodhi.update.request.stable", f"{PREFIX}.buildsys.tag"):
        channel.queue_bind(queue, "amq.topic", routing_key=key)

    seen: list[Any] = []
    assert bodhi.request("FEDORA-2016-e26aae6802", "stable", "jforbes")["request"] == "stable"
    requested = first(channel, queue, seen, lambda m: m.topic.endswith(".bodhi.update.request.stable"))
    releng = koji.ClientSession(ctx.endpoints["koji"]["hub"], opts={"user": "releng", "password": "x"})
    releng.login()
    try:
        task = releng.tagBuild("f24-updates-candidate", "cloud-init-0.7.6-8.fc24")
        wait_for("the tag task", lambda: releng.taskFinished(task), 30)
    finally:
        releng.logout()
    tagged = first(channel, queue, seen, lambda m: m.body.get("tag") == "f24-updates-candidate")
    # a body its class refuses is the sandbox's error, raised to the service, and published on neither bus
    with pytest.raises(jsonschema.ValidationError):
        ctx.publish("bodhi", "compose.start", {"agent": 7})
    connection.close()

    # Bodhi's class, chosen by the consumer from the fedora_messaging_schema header, and valid
    assert type(requested) is UpdateRequestStableV1
    assert requested._headers["fedora_messaging_schema"] == "bodhi.update.request.stable.v1"
    assert requested.topic == f"{PREFIX}.bodhi.update.request.stable"
    assert requested.body["update"]["alias"] == "FEDORA-2016-e26aae6802" and requested.agent_name == "jforbes"
    requested.validate()
    # Koji's
    assert type(tagged) is TagV1
    assert tagged.topic == f"{PREFIX}.buildsys.tag"
    assert (tagged.body["tag"], tagged.body["name"], tagged.body["user"]) == (
        "f24-updates-candidate",
        "cloud-init",
        "releng",
    )
    tagged.validate()

    # datagrepper serves each by its AMQP id: one message from both buses (the fedmsg envelope's username and
    # the AMQP headers on one row), datanommer's shape
    datagrepper = ctx.endpoints["bus"]["datagrepper"]
    for message in (requested, tagged):

        def archived(message: Any = message) -> dict[str, Any] | None:
            found = requests.get(f"{datagrepper}id", params={"id": message.id}, timeout=5)
            row = found.json() if found.status_code == 200 else None
            return row if row and row.get("headers") and row.get("username") else None

        row = wait_for(f"{message.id} archived from both buses", archived, 15)
        assert row["msg_id"] == message.id
        assert row["topic"] == message.topic
        assert row["msg"] == message.body
        assert row["headers"]["fedora_messaging_schema"] == message._headers["fedora_messaging_schema"]
    everything = requests.get(f"{datagrepper}raw", params={"rows_per_page": 100, "delta": 3600}, timeout=5).json()
    ids = [m["msg_id"] for m in everything["raw_messages"]]
    assert ids.count(requested.id) == 1 and ids.count(tagged.id) == 1
    assert not [m for m in everything["raw_messages"] if m["topic"] == f"{PREFIX}.bodhi.compose.start"]


def test_bodhi_finishes_a_push_whose_push_complete_came_over_amqp_only(
    amqp_sandbox: tuple[SandboxContext, BodhiService],
) -> None:
    """The pipeline publishes on one bus; on AMQP, the sandbox Bodhi hears it from its own durable queue."""
    ctx, bodhi = amqp_sandbox
    assert bodhi.request(KERNEL, "stable", "jforbes")["request"] == "stable"
    bodhi.push(agent="bowlofeggs", releases=["f24"], requests=["stable"])
    consumer = bodhi.consumer
    assert consumer is not None
    before = consumer.handled
    body = {
        "push_id": "push-f24-updates",
        "run_id": "run-f24-updates",
        "repo": "f24-updates",
        "release": "f24",
        "request": "stable",
        "agent": "bowlofeggs",
        "status": "complete",
        "synced": True,
        "repos": ["linux/updates/24/x86_64"],
        "updates": [{"alias": KERNEL, "builds": ["kernel-4.6.4-301.fc24"], "status": "pushed"}],
        "artifacts": {"released": [], "unchanged": [], "held_back": [], "failed": []},
    }
    message = PushCompleteV1(body=body, topic="relengotron.push.complete")
    message.validate()
    link = PikaPublisher(ctx.endpoints["broker"]["amqp_url"])
    try:
        link.send_message(message, PREFIX)
    finally:
        link.close()

    wait_for("Bodhi to finish the push from AMQP", lambda: consumer.handled > before, 30)
    assert consumer.refused == 0
    update = bodhi.update(KERNEL)
    assert (update["status"], update["request"], update["pushed"]) == ("stable", None, True)


# --------------------------------------------------------------------------- restarts


def publish_persistent(url: str, key: str, bodies: list[bytes]) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    channel.confirm_delivery()
    for body in bodies:
        channel.basic_publish("amq.topic", key, body, pika.BasicProperties(delivery_mode=2), mandatory=True)
    connection.close()


def unread(url: str, queue: str) -> list[bytes]:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    bodies = []
    while True:
        method, _, body = channel.basic_get(queue, auto_ack=True)
        if method is None:
            break
        bodies.append(body)
    connection.close()
    return bodies


def test_restart_and_crash_keep_a_durable_queue_s_unread_messages(tmp_path: Path) -> None:
    with sandbox_broker.running(tmp_path / "broker") as broker:
        assert isinstance(broker, Broker)
        connection = pika.BlockingConnection(pika.URLParameters(broker.url))
        channel = connection.channel()
        channel.queue_declare("kept", durable=True)
        channel.queue_bind("kept", "amq.topic", routing_key=f"{PREFIX}.test.#")
        connection.close()
        url = broker.url

        publish_persistent(url, f"{PREFIX}.test.one", [b"1", b"2", b"3"])
        broker.restart()
        assert broker.url == url
        assert "kept" in broker.ctl("list_queues", "-p", "/pubsub", "name", "durable")
        publish_persistent(url, f"{PREFIX}.test.two", [b"4"])
        beam = {p for p in descendants(broker.process.pid) if b"beam" in Path(f"/proc/{p}/cmdline").read_bytes()}
        broker.kill()
        assert not any(alive(p) for p in beam)
        with pytest.raises(pika.exceptions.AMQPConnectionError):
            pika.BlockingConnection(pika.URLParameters(url))
        broker.start()
        assert unread(url, "kept") == [b"1", b"2", b"3", b"4"]
        server, epmd = broker.process, broker.epmd
    assert not server.alive() and not epmd.alive()
