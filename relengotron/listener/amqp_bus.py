"""The listener on AMQP: a durable named queue on Fedora's broker, consumed with pika, acked only once stored.

**Why pika and not fedora-messaging's consumer.** fedora-messaging 3.9.1's Twisted consumer
(``fedora_messaging.twisted.consumer.Consumer._read_one``) builds the message with ``get_message`` *before* the
callback runs, and:

* a message its schema refuses (or whose body is not JSON, or not in its ``content_encoding``) is
  ``basic_nack(requeue=False)``-ed and logged — gone, never seen by the callback, so it cannot become a dead
  letter of the inbox with its reason;
* an exception ``get_message`` does not expect — a ``content_encoding`` naming no codec raises ``LookupError``
  from ``body.decode``; Koji's ``TagV1`` raises ``TypeError`` from its constructor (``_choose_priority`` →
  ``is_mass_rebuild``) for a body whose ``tag`` is a number — leaves the read loop through
  ``_read_loop_errback``'s last branch, which fails ``Consumer.result`` and *cancels the consumer for good*
  (it is also forgotten by the factory, so a reconnect does not restart it): one hostile message stops
  consumption until someone restarts the process;
* the connection's liveness is pika's heartbeat checker inside Twisted, but nothing of the library says when
  the broker was last heard from, nor when a reconnection happened (``FedoraMessagingFactoryV2.buildProtocol``
  re-registers consumers silently), which the listener needs to replay the gap and to report a stall.

So this module consumes with pika (which fedora-messaging is built on) and judges each delivery as
fedora-messaging's ``get_message`` would (:mod:`relengotron.listener.amqp_validate`: its class registry and
``Message.validate``), turning every refusal into a dead letter of the inbox, then acking.

**Guarantees.**

* A delivery is acked only after :meth:`Ingestor.amqp` returned: the message is committed to the inbox (or
  dead-lettered there, or dropped on purpose because no rule wants it). A crash before that leaves it unacked:
  the broker redelivers it; the inbox deduplicates by msg_id.
* The inbox failing (disk full, locked) nacks with requeue after a short, growing delay (0.25 s doubling to 2 s:
  no tight loop). The same delivery failing :data:`POISON_AFTER` times while the inbox says it is writable is the
  message's fault, not the inbox's: it is dead-lettered with the error and acked (never requeued forever).
* Heartbeats (``heartbeat_seconds``, default 10): pika sends one every 5 s and closes the connection when nothing
  arrived from the broker within a check interval of heartbeat + 5 s (pika.heartbeat.HeartbeatChecker), so a
  connection that died without a FIN is noticed 15 to 30 s after the last byte. The thread keeps the time it
  last received anything (a frame or a heartbeat: the connection's received byte count moving) for /healthz and
  ``relengotron_listener_bus_last_heard_seconds``. It then reconnects (1 s, doubling to 10 s between attempts)
  and counts ``relengotron_listener_bus_reconnects_total{reason}``.
* Every (re)connection asks the replayer for the window since the last message seen live: what the broker did
  not keep (Fedora's public broker deletes unconsumed queues after about an hour: fedora-messaging's
  configs/fedora.toml) comes back from datagrepper, deduplicated by msg_id.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import pika
import pika.exceptions

from relengotron.listener.amqp_validate import Delivery
from relengotron.listener.config import AmqpSettings
from relengotron.listener.ingest import Ingestor
from relengotron.listener.observe import Metrics
from relengotron.listener.validate import Rejected

log = logging.getLogger("relengotron.listener")

POLL = 0.2  # seconds between looks at the stop flag
RETRY_FIRST, RETRY_MAX = 1.0, 10.0  # between connection attempts
NACK_FIRST, NACK_MAX = 0.25, 2.0  # before requeueing a delivery the inbox could not take
POISON_AFTER = 5  # failures of one delivery, the inbox being writable, before it is dead-lettered


def routing_keys(globs: Iterable[str]) -> list[str]:
    """AMQP topic binding keys delivering at least every topic the rules' globs match (the rules then decide,
    unchanged). A glob is fnmatch over the whole topic, where ``*`` and ``?`` also match dots and ``[...]`` any
    character: a dotted word holding any of them becomes ``#`` (zero or more words), plain words stay.
    ``*.buildsys.tag`` → ``#.buildsys.tag``. Pure; sorted and without duplicates."""
    keys = set()
    for glob in globs:
        words: list[str] = []
        for word in glob.split("."):
            wild = any(c in word for c in "*?[")
            if wild and words and words[-1] == "#":
                continue
            words.append("#" if wild else word)
        keys.add(".".join(words))
    if "#" in keys:
        return ["#"]
    return sorted(keys)


def _reason(exc: BaseException) -> str:
    """The reconnect counter's label for why a connection ended."""
    if isinstance(exc, pika.exceptions.AMQPHeartbeatTimeout):
        return "heartbeat_timeout"
    if isinstance(exc, pika.exceptions.ConnectionClosedByBroker):
        return "closed_by_broker"
    if isinstance(exc, pika.exceptions.ChannelClosedByBroker):
        return "channel_closed"
    if isinstance(exc, pika.exceptions.StreamLostError | ConnectionError):
        return "connection_lost"
    if isinstance(exc, pika.exceptions.AMQPConnectionError | OSError):
        return "connect_failed"
    return "error"


def parameters(settings: AmqpSettings) -> pika.ConnectionParameters:
    """pika's parameters for ``settings``: heartbeats on, and TLS as fedora-messaging configures it
    (``fedora_messaging.twisted.service._configure_tls_parameters``: the system's CAs or ``ca_cert``, TLS 1.2
    at least, the host name checked, and with a client certificate SASL EXTERNAL instead of a password)."""
    password = settings.password()
    url = urllib.parse.urlsplit(settings.url)
    if url.username is not None:  # pika's URLParameters wants user:password@ (Fedora's public URL: fedora:@)
        quoted = urllib.parse.quote(password or url.password or "", safe="")
        netloc = f"{urllib.parse.quote(url.username, safe='')}:{quoted}@{url.netloc.rsplit('@', 1)[1]}"
        url = url._replace(netloc=netloc)
    params = pika.URLParameters(urllib.parse.urlunsplit(url))
    params.heartbeat = settings.heartbeat
    params.connection_attempts = 1
    params.socket_timeout = 10
    params.stack_timeout = 30
    params.blocked_connection_timeout = 300
    params.client_properties = {"app": settings.app}
    if settings.url.startswith("amqps"):
        context = ssl.create_default_context(purpose=ssl.Purpose.SERVER_AUTH)
        if settings.ca_cert is not None:
            context.load_verify_locations(cafile=str(settings.ca_cert))
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.check_hostname = True
        if settings.certfile is not None and settings.keyfile is not None:
            context.load_cert_chain(str(settings.certfile), str(settings.keyfile))
            params.credentials = pika.credentials.ExternalCredentials()
        params.ssl_options = pika.SSLOptions(context, server_hostname=params.host)
    return params


class AmqpSubscriber(threading.Thread):
    """Consumes the queue, one connection at a time, reconnecting for ever until the listener stops.

    Shows the same face to the listener as the ZeroMQ subscriber (``connected``, ``failed``) plus
    :meth:`state` for /healthz."""

    def __init__(
        self,
        settings: AmqpSettings,
        keys: list[str],
        ingestor: Ingestor,
        replay: Callable[[str], None],
        stop: threading.Event,
        metrics: Metrics,
    ) -> None:
        super().__init__(name="listener-amqp", daemon=True)
        self.settings = settings
        self.keys = keys
        self.ingestor = ingestor
        self.replay = replay
        self.stop_event = stop
        self.metrics = metrics
        self.connected: set[str] = set()
        self.failed: str | None = None
        self.last_heard: float | None = None
        self.last_error: str | None = None
        self.reconnects = 0
        self._sessions = 0
        self._failures: dict[str, int] = {}
        self._nack_delay = NACK_FIRST
        self._tag = f"relengotron-listener-{uuid.uuid4()}"
        metrics.bus_last_heard.set_function(self._heard_ago)

    def _heard_ago(self) -> float:
        return -1.0 if self.last_heard is None else max(0.0, time.time() - self.last_heard)

    @property
    def stall_after(self) -> float:
        """Seconds of silence after which the connection is as good as dead (pika's check interval)."""
        return self.settings.heartbeat + 5.0

    def state(self) -> dict[str, Any]:
        heard = None if self.last_heard is None else round(time.time() - self.last_heard, 1)
        return {
            "transport": "amqp",
            "broker": self.settings.endpoint,
            "queue": self.settings.queue,
            "routing_keys": self.keys,
            "connected": bool(self.connected),
            "last_heard_seconds": heard,
            "heartbeat_seconds": self.settings.heartbeat,
            "reconnects": self.reconnects,
            "last_error": self.last_error,
        }

    def problem(self) -> str | None:
        """Why the bus is not healthy now, or None."""
        if not self.connected:
            return self.failed or f"not connected to the broker {self.settings.endpoint}" + (
                f": {self.last_error}" if self.last_error else ""
            )
        if self.last_heard is not None and time.time() - self.last_heard > self.stall_after:
            return (
                f"nothing heard from the broker for {time.time() - self.last_heard:.0f} s "
                f"(heartbeat {self.settings.heartbeat} s): the connection is stalled"
            )
        return None

    def run(self) -> None:
        delay = RETRY_FIRST
        while not self.stop_event.is_set():
            try:
                self._session()
                return  # stopped
            except Exception as exc:
                reason = _reason(exc)
                was_connected = bool(self.connected)
                self._down()
                self.last_error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                if was_connected:
                    delay = RETRY_FIRST
                self.reconnects += 1
                self.metrics.bus_reconnects.labels(reason).inc()
                log.warning(
                    "AMQP connection ended; reconnecting",
                    extra={"reason": reason, "error": self.last_error, "retry_in": delay},
                )
                self.stop_event.wait(delay)
                delay = min(delay * 2, RETRY_MAX)

    def _down(self) -> None:
        self.connected.clear()
        self.metrics.subscribed.set(0)
        self.metrics.bus_connected.set(0)

    def _session(self) -> None:
        """One connection: declare, bind, consume until stopped (returns) or the connection ends (raises)."""
        connection = pika.BlockingConnection(parameters(self.settings))
        try:
            self.last_heard = time.time()
            channel = connection.channel()
            channel.queue_declare(self.settings.queue, durable=True, auto_delete=False, exclusive=False)
            for key in self.keys:
                channel.queue_bind(self.settings.queue, self.settings.exchange, routing_key=key)
            channel.basic_qos(prefetch_count=self.settings.prefetch)
            channel.basic_consume(self.settings.queue, self._on_message, auto_ack=False, consumer_tag=self._tag)
            again = self._sessions > 0
            self._sessions += 1
            self.connected = {self.settings.endpoint}
            self.failed = None
            self.metrics.subscribed.set(1)
            self.metrics.bus_connected.set(1)
            log.info(
                "consuming",
                extra={"broker": self.settings.endpoint, "queue": self.settings.queue, "reconnect": again},
            )
            self.replay("reconnect" if again else "start")
            received = _bytes_received(connection)
            while not self.stop_event.is_set():
                connection.process_data_events(time_limit=POLL)
                now_received = _bytes_received(connection)
                if now_received != received:
                    received = now_received
                    self.last_heard = time.time()
        finally:
            self._down()
            if connection.is_open:
                try:
                    connection.close()  # unacked deliveries go back to the queue
                except Exception:
                    log.debug("closing the AMQP connection failed", exc_info=True)

    def _on_message(self, channel: Any, method: Any, properties: pika.BasicProperties, body: bytes) -> None:
        self.last_heard = time.time()
        delivery = Delivery(
            routing_key=method.routing_key,
            body=body,
            message_id=properties.message_id,
            headers=properties.headers,
            content_type=properties.content_type,
            content_encoding=properties.content_encoding,
            user_id=properties.user_id,
        )
        try:
            self.ingestor.amqp(delivery)
        except Exception as exc:
            self._failed(channel, method, delivery, exc)
            return
        self._failures.pop(str(delivery.message_id), None)
        self._nack_delay = NACK_FIRST
        channel.basic_ack(method.delivery_tag)

    def _failed(self, channel: Any, method: Any, delivery: Delivery, exc: Exception) -> None:
        """The inbox did not take a delivery: requeue it after a pause, unless it is the message that fails."""
        key = str(delivery.message_id)
        failures = self._failures[key] = self._failures.get(key, 0) + 1
        if failures >= POISON_AFTER and self.ingestor.inbox.writable() is None:
            reason = f"could not be stored ({type(exc).__name__}: {exc}) {failures} times, the inbox being writable"
            rejected = Rejected(reason[:400], delivery.raw(), msg_id=key if delivery.message_id else None)
            try:
                self.ingestor.dead_letter(rejected, "amqp")
            except Exception:
                log.exception("could not dead-letter a delivery that keeps failing; requeued")
            else:
                self._failures.pop(key, None)
                channel.basic_ack(method.delivery_tag)
                return
        log.exception("could not store a message; requeued after %.2f s", self._nack_delay)
        self.stop_event.wait(self._nack_delay)
        self._nack_delay = min(self._nack_delay * 2, NACK_MAX)
        channel.basic_nack(method.delivery_tag, requeue=True)


def _bytes_received(connection: pika.BlockingConnection) -> int:
    """Bytes received on the connection so far: frames and heartbeats alike (pika counts them in
    ``Connection.bytes_received``, which its HeartbeatChecker watches too)."""
    return int(getattr(connection._impl, "bytes_received", 0))  # pika keeps the count on its impl
