"""Publishing releng-o-tron's messages on AMQP (RabbitMQ) with fedora-messaging, as Fedora's services do today.

fedora-messaging is configured by a TOML file (its ``amqp_url``, TLS client certificate and key, ``topic_prefix``
such as ``org.fedoraproject.prod``, ``publish_exchange``): the bus connection's ``config``. Its configuration is
one per process (``fedora_messaging.config.conf``), so every :class:`AmqpPublisher` of a process must name the
same file (a second one is a :class:`~relengotron.messaging.BusConfigError`).

A message is an instance of its schema class (:func:`relengotron.messaging.schema_message`), persistent
(``delivery_mode`` 2, fedora-messaging's default), and :meth:`AmqpPublisher.publish` returns only once the broker
confirmed it (fedora-messaging publishes on a channel in confirm mode and waits for the ack): a message the broker
did not take is an exception, never silence — :class:`~relengotron.messaging.PublishTransientError` when the broker
was unreachable or did not answer in time (retry), :class:`~relengotron.messaging.PublishError` when it refused
the message (returned unroutable, forbidden) or the body fails its schema.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from fedora_messaging import api
from fedora_messaging import config as fm_config
from fedora_messaging import exceptions as fm_exceptions

from relengotron.messaging import BusConfigError, PublishError, PublishTransientError, schema_message

_lock = threading.Lock()
_loaded: Path | None = None


def configure(path: str | Path) -> None:
    """Load fedora-messaging's configuration from ``path`` for this process (idempotent for the same file).
    :class:`BusConfigError` names the file when it is missing or invalid, or when another file was loaded."""
    global _loaded
    resolved = Path(path).absolute()
    with _lock:
        if _loaded == resolved:
            return
        if _loaded is not None:
            raise BusConfigError(f"{resolved}: this process already publishes with fedora-messaging config {_loaded}")
        if not resolved.is_file():
            raise BusConfigError(f"{resolved}: fedora-messaging config file not found")
        try:
            fm_config.conf.load_config(str(resolved))
        except fm_exceptions.ConfigurationException as exc:
            raise BusConfigError(f"{resolved}: {exc}") from exc
        _loaded = resolved


class AmqpPublisher:
    """Publishes on the broker named by a fedora-messaging config file, waiting for each confirm.

    ``timeout``: how long one publish may wait for the broker (connecting included) before it is a
    :class:`PublishTransientError`.
    """

    def __init__(self, config: str | Path, *, timeout: float = 30.0) -> None:
        self.config = Path(config)
        self.timeout = timeout

    def publish(self, modname: str, topic: str, msg: dict[str, Any]) -> None:
        """Send one message and wait for the broker's confirm. Not idempotent: each call is a new message (a new
        message id); a publish that timed out may still have reached the broker (at least once)."""
        message = schema_message(modname, topic, msg)
        configure(self.config)
        try:
            api.publish(message, timeout=int(max(1, round(self.timeout))))
        except (fm_exceptions.PublishReturned, fm_exceptions.PublishForbidden) as exc:
            raise PublishError(f"{message.topic}: the broker refused the message: {exc}") from exc
        except fm_exceptions.ValidationError as exc:  # schema_message validated already; kept for the contract
            raise PublishError(f"{message.topic}: {exc}") from exc
        except (fm_exceptions.PublishTimeout, fm_exceptions.ConnectionException) as exc:
            raise PublishTransientError(f"{message.topic}: the broker did not confirm the message: {exc}") from exc

    def close(self) -> None:
        """Nothing to release per publisher: fedora-messaging keeps one connection for the process."""
