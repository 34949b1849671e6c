"""The sandbox's services on AMQP, as Fedora's publish there today: the fedora-messaging library, its schema'd
message classes, publisher confirms, and a datanommer-like archive consumer.

* **Which class**: Bodhi publishes each topic with one class of ``bodhi-messages``, the newest version of it
  (``Update.set_request`` picks ``UpdateRequestStableV1`` for ``bodhi.update.request.stable``…, and Bodhi 8
  publishes ``UpdateReadyForTestingV3``); Koji's ``koji-fedoramessaging`` hub plugin picks, for
  ``buildsys.<event>``, the class registered in ``fedora.messages`` whose ``topic`` is that topic, else
  ``fedora_messaging.api.Message`` (``get_message`` in koji-fedoramessaging.py). :func:`message_class` does
  both; anything else (PDC, ResultsDB, bugzilla2fedmsg, Bodhi 2's ``masher.start``) is a plain ``Message``.
* **Topic**: a class's topic has no prefix (``bodhi.update.request.stable``); fedora-messaging prepends the
  ``topic_prefix`` setting to the routing key, and Fedora's publishers set it to ``org.fedoraproject.<env>``
  (fedora-messaging's docs, "Converting from fedmsg": ``topic_prefix = "org.fedoraproject.prod"``), so the
  routing key is ``org.fedoraproject.prod.bodhi.update.request.stable``: the fedmsg topic, the same ``<env>``.
* **Publishing** waits for the broker's confirm (fedora-messaging's Twisted factory, publish confirms on);
  a failure is the sandbox's error: logged and raised, never dropped.
* **Archive**: datanommer consumes every message from the broker and datagrepper serves its rows;
  :func:`archived` is the row of one fedora-messaging message, datanommer's ``Message.as_dict()`` shape
  (``msg_id`` = the message's id, ``topic`` = its routing key, ``timestamp`` from ``sent-at``, ``msg`` = its
  body, ``headers``; the fedmsg-only fields ``certificate``, ``signature``, ``username``, ``crypto`` null),
  which is what datagrepper's ``/raw`` and ``/id`` return (``get_message_dict`` in datagrepper/util.py).

fedora-messaging's configuration is process-wide (``fedora_messaging.config.conf``); :func:`load_config`
loads the sandbox's file into it. One process thus publishes for one ``topic_prefix``, as a Fedora service does.
"""

from __future__ import annotations

import datetime
import json
import logging
import re
import threading
from collections.abc import Callable
from functools import cache
from importlib.metadata import distribution
from pathlib import Path
from typing import Any

import crochet
import pika
from fedora_messaging import config as fm_config
from fedora_messaging.exceptions import Nack, PublishTimeout
from fedora_messaging.message import Message
from fedora_messaging.twisted.service import FedoraMessagingServiceV2

from relengotron.tools.files import write_atomic

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "fedora.messages"
# The publisher (the topic's first word) → the schema package it publishes with.
SCHEMA_PACKAGES = {"bodhi": "bodhi-messages", "buildsys": "koji-fedoramessaging-messages"}
PUBLISH_TIMEOUT = 30.0  # fedora_messaging.api.publish's default
CONNECT_TIMEOUT = 60.0
ARCHIVE_QUEUE = "relengotron-sandbox-datagrepper"  # this project's name: the archive's own queue, bound to "#"


# --------------------------------------------------------------------------- message classes


def _version(cls: type) -> int:
    match = re.search(r"V(\d+)$", cls.__name__)
    return int(match.group(1)) if match else 0


@cache
def schema_classes(package: str) -> dict[str, type[Message]]:
    """Topic → the newest message class ``package`` registers in ``fedora.messages`` for it (read once)."""
    found: dict[str, type[Message]] = {}
    for entry in distribution(package).entry_points:
        if entry.group != ENTRY_POINT_GROUP:
            continue
        cls = entry.load()
        if cls.topic and (cls.topic not in found or _version(cls) > _version(found[cls.topic])):
            found[cls.topic] = cls
    return found


def message_class(topic: str) -> type[Message]:
    """The class the real publisher of ``topic`` (no prefix: ``bodhi.update.request.stable``) sends it as:
    its schema package's newest class for the topic, else ``fedora_messaging.message.Message``."""
    package = SCHEMA_PACKAGES.get(topic.split(".", 1)[0])
    found = schema_classes(package).get(topic) if package else None
    return found or Message


def make_message(topic: str, body: dict[str, Any]) -> Message:
    """The message of ``topic`` with ``body``, validated (headers and body) against its class's schemas;
    jsonschema's ValidationError names the field when the body is wrong."""
    message = message_class(topic)(body=body, topic=topic)
    message.validate()
    return message


def archived(message: Message) -> dict[str, Any]:
    """datanommer's row of a message consumed from the broker, as datagrepper serves it (pure)."""
    headers = dict(message._properties.headers or {})  # datanommer reads them there too
    sent_at = headers.get("sent-at")
    try:
        stamp = datetime.datetime.fromisoformat(str(sent_at)).timestamp()
    except ValueError:
        stamp = datetime.datetime.now(datetime.UTC).timestamp()
    return {
        "i": 0,
        "msg_id": message.id,
        "topic": message.topic,
        "timestamp": stamp,
        "certificate": None,
        "signature": None,
        "username": None,
        "crypto": None,
        "msg": message.body,
        "headers": headers,
    }


# --------------------------------------------------------------------------- configuration


def write_config(path: Path, amqp_url: str, topic_prefix: str, app: str) -> Path:
    """A fedora-messaging configuration file (TOML) for the sandbox's broker, atomically. Consumers may use it
    too (``FEDORA_MESSAGING_CONF``)."""
    q = json.dumps  # a JSON string of ASCII is a TOML basic string
    text = (
        "# Generated by the releng-o-tron sandbox; read by fedora-messaging.\n"
        f"amqp_url = {q(amqp_url)}\n"
        'publish_exchange = "amq.topic"\n'
        f"topic_prefix = {q(topic_prefix)}\n"
        "passive_declares = false\n"
        "\n[client_properties]\n"
        f"app = {q(app)}\n"
    )
    return write_atomic(path, text.encode())


def load_config(path: Path) -> None:
    """Load ``path`` as this process's fedora-messaging configuration."""
    fm_config.conf.load_config(str(path))


# --------------------------------------------------------------------------- a connection


@crochet.run_in_reactor
def _start(url: str) -> FedoraMessagingServiceV2:
    service = FedoraMessagingServiceV2(url, publish_confirms=True)
    service.startService()
    return service


@crochet.run_in_reactor
def _publish(service: FedoraMessagingServiceV2, message: Message, exchange: str) -> Any:
    return service.factory.publish(message, exchange)


@crochet.run_in_reactor
def _consume(service: FedoraMessagingServiceV2, callback: Any, queue: str, keys: list[str]) -> Any:
    bindings = [{"exchange": "amq.topic", "queue": queue, "routing_keys": keys}]
    queues = {queue: {"durable": True, "auto_delete": False, "exclusive": False, "arguments": {}}}
    return service.factory.consume(callback, bindings, queues)


@crochet.run_in_reactor
def _stop(service: FedoraMessagingServiceV2) -> Any:
    return service.stopService()


class Link:
    """One connection to the broker, through fedora-messaging's Twisted service (which reconnects by itself),
    driven from ordinary threads with crochet, as ``fedora_messaging.api`` does — but one per instance, so
    a process may talk to more than one broker. Thread-safe."""

    def __init__(self, url: str) -> None:
        crochet.setup()
        self._service: FedoraMessagingServiceV2 = _start(url).wait(CONNECT_TIMEOUT)

    def publish(self, message: Message, timeout: float = PUBLISH_TIMEOUT) -> None:
        """Publish and wait for the broker's confirm. Not idempotent (a retry may publish twice).
        PublishReturned/PublishForbidden if the broker refuses it, PublishTimeout past ``timeout``."""
        result = _publish(self._service, message, fm_config.conf["publish_exchange"])
        try:
            result.wait(timeout)
        except crochet.TimeoutError:
            result.cancel()
            raise PublishTimeout(f"publishing {message.id} timed out after {timeout} s") from None

    def consume(self, callback: Callable[[Message], None], queue: str, keys: list[str]) -> None:
        """Consume from the durable ``queue``, declared and bound to ``amq.topic`` with ``keys``; returns once
        the consumer is registered. ``callback`` runs in a thread; the message is acked when it returns."""
        _consume(self._service, callback, queue, keys).wait(CONNECT_TIMEOUT)

    def close(self) -> None:
        """Stop the service (in-flight callbacks finish first). Idempotent."""
        if self._service is not None:
            _stop(self._service).wait(CONNECT_TIMEOUT)
            self._service = None  # type: ignore[assignment]


class PikaPublisher:
    """One blocking pika connection, publisher confirms on: any delivery, well-formed or not (the tests' hostile
    corpus), or a fedora-messaging message as its library would put it on the wire. Synchronous in the caller's
    thread — no reactor thread beside it — so a measuring client (the bench) shares its interpreter with
    nothing. Not thread-safe; not idempotent (a retry publishes again)."""

    def __init__(self, url: str) -> None:
        self.connection = pika.BlockingConnection(pika.URLParameters(url))
        self.channel = self.connection.channel()
        self.channel.confirm_delivery()

    def send(self, routing_key: str, body: bytes, properties: dict[str, Any] | Any) -> None:
        """Publish to ``amq.topic``; returns once the broker confirmed (pika raises if it nacked or returned)."""
        if isinstance(properties, dict):
            properties = pika.BasicProperties(**properties)
        self.channel.basic_publish("amq.topic", routing_key, body, properties)

    def send_message(self, message: Message, topic_prefix: str) -> None:
        """``message`` with the properties (id, schema headers, ``sent-at``) and JSON body fedora-messaging
        gives it, under ``<topic_prefix>.<topic>`` — what its publisher would send with that prefix configured
        (the library's own serialization, read from the attributes its Twisted protocol publishes)."""
        self.send(f"{topic_prefix}.{message.topic}", message._encoded_body, message._properties)

    def depth(self, queue: str) -> int:
        """Messages ready in ``queue`` (which must exist)."""
        return self.channel.queue_declare(queue, passive=True).method.message_count

    def close(self) -> None:
        self.connection.close()


# --------------------------------------------------------------------------- the sandbox bus on AMQP


class Subscription:
    """A sandbox service consuming ``keys`` from the sandbox's broker into ``callback``, as Fedora's services
    consume with fedora-messaging: a durable ``queue`` of its own, connected in a thread once the bus's AMQP side
    is (the services start while the broker boots; fedora-messaging's configuration is the process's, which
    the bus loads). :meth:`ready` waits for it; :meth:`close` ends it. ``callback`` runs in a thread; the message
    is acked when it returns."""

    def __init__(self, bus: AmqpBus, queue: str, keys: list[str], callback: Callable[[Message], None]) -> None:
        self._bus = bus
        self._queue, self._keys, self._callback = queue, keys, callback
        self._link: Link | None = None
        self._done = threading.Event()
        self._error: BaseException | None = None
        threading.Thread(target=self._connect, name=f"amqp-{queue}", daemon=True).start()

    def _connect(self) -> None:
        try:
            self._bus.wait_ready()
            self._link = Link(self._bus.url)
            self._link.consume(self._callback, self._queue, self._keys)
        except BaseException as exc:
            self._error = exc
            log.exception("consuming %s from the sandbox's broker failed", self._queue)
        finally:
            self._done.set()

    def ready(self, timeout: float = CONNECT_TIMEOUT + 60) -> None:
        """Block until consuming; the connection's error if it failed."""
        if not self._done.wait(timeout):
            raise RuntimeError(f"{self._queue}: not consuming from the sandbox's broker after {timeout} s")
        if self._error is not None:
            raise RuntimeError(f"{self._queue}: consuming from the sandbox's broker failed: {self._error}")

    def close(self) -> None:
        """Stop consuming (idempotent)."""
        self._done.wait(CONNECT_TIMEOUT)
        if self._link is not None:
            self._link.close()
            self._link = None


class AmqpBus:
    """The sandbox's AMQP side: connects once the broker is ready (in a thread, so the other services start
    meanwhile), binds the archive's queue to ``#`` before anything is published, and publishes."""

    def __init__(self, broker: Any, store: Callable[[dict[str, Any]], Any], config_path: Path) -> None:
        self._broker = broker
        self._store = store
        self._config_path = config_path
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._publisher: Link | None = None
        self._consumer: Link | None = None
        self.archived = 0
        self._thread = threading.Thread(target=self._connect, name="amqp-connect", daemon=True)
        self._thread.start()

    def _connect(self) -> None:
        try:
            self._broker.wait_ready()
            load_config(self._config_path)
            self._consumer = Link(self._broker.url)
            self._consumer.consume(self._archive, ARCHIVE_QUEUE, ["#"])
            self._publisher = Link(self._broker.url)
        except BaseException as exc:
            self._error = exc
            log.exception("the sandbox could not connect to its broker")
        finally:
            self._ready.set()

    def _archive(self, message: Message) -> None:
        """datanommer's part: store what went over AMQP. A store failure requeues the message (Nack)."""
        try:
            self._store(archived(message))
        except Exception as exc:
            log.exception("archiving %s failed: requeued", message.id)
            raise Nack() from exc
        self.archived += 1

    @property
    def url(self) -> str:
        """The broker's URL."""
        return self._broker.url

    def wait_ready(self, timeout: float = CONNECT_TIMEOUT + 60) -> None:
        """Block until connected (and fedora-messaging's configuration loaded); the connection's error if it
        failed."""
        if not self._ready.wait(timeout):
            raise RuntimeError(f"the sandbox's AMQP connection is not up after {timeout} s")
        if self._error is not None:
            raise RuntimeError(f"the sandbox's AMQP connection failed: {self._error}") from self._error

    def publish(self, topic: str, body: dict[str, Any]) -> Message:
        """Publish ``topic`` (no prefix) with ``body`` as its publisher's class; the message sent. Raises
        (and logs) whatever went wrong: an invalid body, a refusal, no confirm."""
        try:
            message = make_message(topic, body)
        except Exception:
            log.exception("publishing %s on AMQP failed", topic)
            raise
        self.send(message)
        return message

    def send(self, message: Message) -> None:
        """Publish a message already made (again, after a timeout: same id) and wait for the confirm."""
        self.wait_ready()
        assert self._publisher is not None
        try:
            self._publisher.publish(message)
        except Exception:
            log.exception("publishing %s on AMQP failed", message.topic)
            raise

    def close(self) -> None:
        self._thread.join(timeout=CONNECT_TIMEOUT)
        for link in (self._publisher, self._consumer):
            if link is not None:
                try:
                    link.close()
                except Exception:
                    log.exception("closing an AMQP connection failed")


class BothBuses:
    """The context's publisher when the sandbox has a broker: each message on AMQP first, then on fedmsg with
    the AMQP message's id as its ``msg_id``, so the two copies are recognisably one message (and archived as
    one). One lock keeps both buses in the same order."""

    def __init__(self, fedmsg: Any, amqp: AmqpBus) -> None:
        self.fedmsg = fedmsg
        self.amqp = amqp
        self._lock = threading.Lock()

    def publish(self, modname: str, topic: str, msg: dict[str, Any]) -> None:
        with self._lock:
            message = self.amqp.publish(f"{modname}.{topic}", msg)
            self.fedmsg.publish(modname, topic, msg, msg_id=message.id)
