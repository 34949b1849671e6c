"""The sandbox Bodhi on the bus: it consumes ``relengotron.push.complete`` and finishes the push it reports.

Like the listener it subscribes with ZeroMQ to the sandbox relay's outbound endpoint (only the push.complete
topic). A subscriber misses what was published before its subscription reached the relay, so once connected
(and after every reconnection) it also reads the topic back from the bus archive through datagrepper
(``/raw``, from the moment the service started). Finishing is idempotent by message id and by update
(:func:`relengotron_sandbox.bodhi.composer.finish_push`), so a message seen both ways is finished once.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import requests
import zmq
from zmq.utils.monitor import recv_monitor_message

from relengotron_sandbox.bodhi.finish import ContractError

log = logging.getLogger(__name__)

POLL = 0.1
SETTLE = 0.5  # after a handshake, the subscription needs a moment to reach the relay
MODNAME_TOPIC = "relengotron.push.complete"
Finish = Callable[[dict[str, Any], str | None], Any]


class PushCompleteConsumer(threading.Thread):
    """Receives ``<prefix>.<env>.relengotron.push.complete`` and hands each body to ``finish``."""

    def __init__(self, endpoint: str, topic: str, datagrepper: str | None, finish: Finish) -> None:
        super().__init__(name="bodhi-consumer", daemon=True)
        self.endpoint = endpoint
        self.topic = topic
        self.datagrepper = datagrepper
        self.finish = finish
        self.since = time.time() - 1
        self.stopping = threading.Event()
        self.connected = threading.Event()
        self.caught_up = threading.Event()
        self.handled = 0
        self.refused = 0
        self._handling = threading.Lock()  # the relay's thread and the broker's (BodhiService) hand in messages

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=5)

    def run(self) -> None:
        context = zmq.Context()
        sock = context.socket(zmq.SUB)
        sock.setsockopt(zmq.RCVHWM, 0)
        sock.setsockopt(zmq.RECONNECT_IVL, 100)
        sock.setsockopt(zmq.SUBSCRIBE, self.topic.encode())
        monitor = sock.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_DISCONNECTED)
        catch_up_at: float | None = None
        try:
            sock.connect(self.endpoint)
            poller = zmq.Poller()
            poller.register(sock, zmq.POLLIN)
            poller.register(monitor, zmq.POLLIN)
            while not self.stopping.is_set():
                ready = dict(poller.poll(int(POLL * 1000)))
                if monitor in ready:
                    event = recv_monitor_message(monitor)
                    if event["event"] == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                        self.connected.set()
                        catch_up_at = time.monotonic() + SETTLE
                    else:
                        self.connected.clear()
                if sock in ready:
                    while True:
                        try:
                            frames = sock.recv_multipart(zmq.NOBLOCK)
                        except zmq.Again:
                            break
                        self._frames(frames)
                if catch_up_at is not None and time.monotonic() >= catch_up_at:
                    catch_up_at = None
                    self._catch_up()
        except Exception:
            log.exception("the sandbox Bodhi's bus consumer stopped")
        finally:
            sock.disable_monitor()
            monitor.close(linger=0)
            sock.close(linger=0)
            context.term()

    def _frames(self, frames: list[bytes]) -> None:
        try:
            envelope = json.loads(frames[1])
        except (IndexError, ValueError, UnicodeDecodeError):
            log.warning("ignoring a malformed bus message on %s", frames[0][:200] if frames else b"?")
            return
        self.handle(envelope)

    def handle(self, envelope: Any) -> None:
        """Finish the push one envelope reports; a body off the contract is logged and counted, not raised.
        Serialized: one message at a time, whichever bus it came from."""
        if not isinstance(envelope, dict) or envelope.get("topic", self.topic) != self.topic:
            return
        with self._handling:
            self._handle(envelope)

    def _handle(self, envelope: dict[str, Any]) -> None:
        try:
            self.finish(envelope.get("msg"), envelope.get("msg_id"))
            self.handled += 1
        except (ContractError, KeyError, TypeError, ValueError) as exc:
            self.refused += 1
            log.warning("push.complete %s refused: %s", envelope.get("msg_id"), exc)
        except Exception:
            self.refused += 1
            log.exception("finishing push.complete %s failed", envelope.get("msg_id"))

    def _catch_up(self) -> None:
        """Replay the topic from the archive since the service started (messages the socket missed)."""
        if not self.datagrepper:
            self.caught_up.set()
            return
        params: dict[str, Any] = {"topic": self.topic, "start": self.since, "order": "asc", "rows_per_page": 100}
        page = 1
        try:
            while not self.stopping.is_set():
                answer = requests.get(f"{self.datagrepper}raw", params={**params, "page": page}, timeout=10).json()
                for envelope in answer["raw_messages"]:
                    self.handle(envelope)
                if page >= answer["pages"]:
                    break
                page += 1
        except (requests.RequestException, ValueError, KeyError) as exc:
            log.warning("could not read push.complete back from datagrepper: %s", exc)
        self.caught_up.set()
