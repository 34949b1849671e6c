"""Publishing releng-o-tron's messages: on the fedmsg bus with the real fedmsg library (here), or on AMQP with
fedora-messaging (:mod:`relengotron.amqp`) — the bus connection's ``transport`` chooses.

Whatever the bus, a message releng-o-tron sends is first an instance of its schema class from the
``relengotron-messages`` package (:func:`schema_message`), validated: a body its schema refuses is a
:class:`PublishError` naming the topic, never sent. fedmsg reads its configuration from Python files
(``config = {...}``); in production the file is Fedora's, in development and tests a generated one.
"""

from __future__ import annotations

import copy
import logging
import os
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import fedmsg.config
import fedmsg.core
import fedmsg.crypto
import fedmsg.utils
import jsonschema
import zmq
from fedora_messaging.message import Message
from relengotron_messages import UnknownTopic, message_class

from relengotron.tools.files import write_atomic

log = logging.getLogger(__name__)

# The most an active publisher waits for the relay to subscribe (it is ready in about a millisecond on loopback,
# a round trip or two across a network); past it the relay is unreachable, and fedmsg would have lost the
# message too.
RELAY_SUBSCRIBE_TIMEOUT = 5.0


class Publisher(Protocol):
    """Publishes one message on the bus (:class:`FedmsgPublisher`, :class:`SchemaCheckedPublisher`,
    :class:`relengotron.amqp.AmqpPublisher`)."""

    def publish(self, modname: str, topic: str, msg: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


class BusConfigError(ValueError):
    """The bus configuration cannot be used as given."""


class PublishError(RuntimeError):
    """A message that cannot be published as it is — its body fails its schema, the broker refuses it: sending it
    again would fail again (not worth a retry)."""


class PublishTransientError(RuntimeError):
    """The bus could not be reached, or did not confirm the message in time: worth a retry."""


def schema_message(modname: str, topic: str, body: dict[str, Any]) -> Message:
    """The message releng-o-tron sends as ``<modname>.<topic>``: an instance of the class ``relengotron-messages``
    has for that topic, validated against its JSON schema. :class:`PublishError` names the topic and what is
    wrong (no schema for the topic, or the schema's complaint). Pure."""
    full = f"{modname}.{topic}"
    try:
        cls = message_class(full)
    except UnknownTopic as exc:
        raise PublishError(str(exc)) from exc
    message = cls(body=body, topic=full)
    try:
        message.validate()
    except jsonschema.ValidationError as exc:  # Message.validate raises jsonschema's own error
        where = "/".join(str(p) for p in exc.absolute_path) or "the body"
        raise PublishError(f"{full}: {where} does not follow {cls.__name__}'s schema: {exc.message}") from exc
    return message


class SchemaCheckedPublisher:
    """A publisher that sends only what :func:`schema_message` accepts (the fedmsg transport has no schemas of its
    own: the same classes are checked as on AMQP)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def publish(self, modname: str, topic: str, msg: dict[str, Any]) -> None:
        """Check, then send (the inner publisher's contract: each call is a new message)."""
        schema_message(modname, topic, msg)
        self.inner.publish(modname, topic, msg)

    def close(self) -> None:
        self.inner.close()


def load_fedmsg_config(path: str | Path) -> dict[str, Any]:
    """fedmsg's defaults updated with the ``config`` dict of the file at ``path`` (a fresh copy each call)."""
    path = Path(path)
    if not path.is_file():
        raise BusConfigError(f"{path}: fedmsg config file not found")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            config = fedmsg.config.load_config([], None, filenames=[str(path)], invalidate_cache=True)
        except (ValueError, KeyError, SyntaxError) as exc:
            raise BusConfigError(f"{path}: {exc}") from exc
    return copy.deepcopy(dict(config))


class FedmsgPublisher:
    """A thread-safe fedmsg publisher.

    With ``active`` (the default, as in development and behind Fedora's relays) it connects to the config's
    ``relay_inbound`` and is ready once the relay has subscribed; otherwise it binds the endpoint named ``name``
    — which must then be a loopback or explicit address, since fedmsg itself would rewrite it to listen on all
    interfaces.
    """

    def __init__(self, config: dict[str, Any], *, name: str | None = None, active: bool = True) -> None:
        cfg = copy.deepcopy(config)
        cfg["active"] = active
        cfg["endpoints"] = dict(cfg.get("endpoints") or {})
        if active:
            if not cfg.get("relay_inbound"):
                raise BusConfigError("active publishing needs 'relay_inbound' in the fedmsg config")
            cfg["name"] = "relay_inbound"
        else:
            if not name or name not in cfg["endpoints"]:
                raise BusConfigError(f"passive publishing needs an endpoint named {name!r} in the fedmsg config")
            cfg["name"] = name
        if cfg.get("sign_messages") and cfg.get("crypto_backend") != "gpg":
            from relengotron.fedmsg_x509 import enable_signing  # only publishers that sign pay for pyOpenSSL

            enable_signing()  # fedmsg 1.1.7 would publish ``null`` on today's pyOpenSSL (relengotron.fedmsg_x509)
        self._lock = threading.Lock()
        self._pid = os.getpid()
        if active:
            # fedmsg would connect a PUB socket and then sleep ``post_init_sleep`` (0.5 s in Fedora's config and
            # ours: a third of a short task) — not for subscribers of *ours* to connect, but for the relay's
            # subscription to reach this new connection: a PUB socket drops every message until the SUB peer's
            # subscription has arrived, so without a wait the first message is lost (measured: 200 of 200
            # lost). An XPUB socket is a PUB socket that also hands the application those subscriptions, so
            # waiting for the relay's is the exact condition, with no blind sleep and no message lost.
            # fedmsg builds no socket when muted; it publishes on ``publisher``, which it closes on destroy().
            self._context = fedmsg.core.FedMsgContext(**{**cfg, "mute": True, "post_init_sleep": 0})
            self._context.publisher = _subscribed_publisher(self._context.context, cfg)
        else:
            # bound: our subscribers connect to us, whoever they are; fedmsg's sleep is all there is to wait on
            cfg.setdefault("post_init_sleep", 0.5)
            self._context = fedmsg.core.FedMsgContext(**cfg)

    def publish(self, modname: str, topic: str, msg: dict[str, Any], *, msg_id: str | None = None) -> None:
        """Send one message; not idempotent (each call is a new message with a new msg_id, or with ``msg_id``
        when given: the id the same message has on another bus, so that the copies are recognisably one)."""
        if os.getpid() != self._pid:
            raise RuntimeError("a FedmsgPublisher cannot be used across fork(); build one per process")
        with self._lock:
            hook = None if msg_id is None else _with_msg_id(msg_id, self._context.c)
            self._context.publish(topic=topic, msg=msg, modname=modname, pre_fire_hook=hook)

    def close(self) -> None:
        with self._lock:
            if self._context is not None:
                self._context.destroy()
                self._context = None  # type: ignore[assignment]


def _with_msg_id(msg_id: str, config: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    """A fedmsg ``pre_fire_hook`` giving the envelope ``msg_id``. fedmsg calls it after signing, so a signed
    envelope is signed again (fedmsg.crypto.sign over the envelope without its old signature fields)."""

    def hook(envelope: dict[str, Any]) -> None:
        signed = "signature" in envelope
        for key in ("signature", "certificate"):
            envelope.pop(key, None)
        envelope["msg_id"] = msg_id
        if signed:
            envelope.update(fedmsg.crypto.sign(dict(envelope), **config))

    return hook


def _subscribed_publisher(context: zmq.Context, cfg: dict[str, Any]) -> zmq.Socket:
    """An XPUB socket set up as fedmsg sets up its PUB socket, connected to the config's ``relay_inbound``, once
    the relay has subscribed (at most :data:`RELAY_SUBSCRIBE_TIMEOUT`; past it, a warning and the socket)."""
    socket = context.socket(zmq.XPUB)
    fedmsg.utils.set_high_water_mark(socket, cfg)
    fedmsg.utils.set_tcp_keepalive(socket, cfg)
    socket.setsockopt(zmq.LINGER, cfg["zmq_linger"])
    endpoints = cfg["relay_inbound"]
    endpoint = endpoints if isinstance(endpoints, str) else endpoints[0]
    socket.connect(endpoint)
    if socket.poll(int(RELAY_SUBSCRIBE_TIMEOUT * 1000), zmq.POLLIN):
        socket.recv()  # the subscription (b"\x01" + prefix): from now on the relay gets every message
    else:
        log.warning(
            "the relay %s did not subscribe within %s s: messages may be lost", endpoint, RELAY_SUBSCRIBE_TIMEOUT
        )
    return socket


def write_fedmsg_config(path: Path, config: dict[str, Any]) -> Path:
    """Write ``config`` as a fedmsg config file (a Python module defining ``config``), atomically."""
    text = f"# Generated by releng-o-tron; read by fedmsg publishers and consumers.\nconfig = {config!r}\n"
    return write_atomic(path, text.encode())
