"""The sandbox fedmsg bus: a relay over ZeroMQ on loopback, an archive, and a datagrepper API.

Publishers load the generated fedmsg config and, being ``active``, connect their PUB socket to the relay's
inbound SUB socket; the relay archives each message and republishes it on its outbound PUB socket, which is the
``endpoints`` entry consumers (``fedmsg.tail_messages``) connect to. Archiving happens *before* republishing so
that whatever a consumer could have seen can be replayed from datagrepper's ``/raw`` and ``/id``.

With the sandbox's broker (``ctx.broker``), the bus publishes each message on AMQP too
(:class:`relengotron_sandbox.amqp.BothBuses`, the AMQP id as the fedmsg ``msg_id``) and the archive also consumes
from the broker, as datanommer does (a queue of its own bound to ``#``): one row per message id, whichever bus
delivered it first, completed by the other copy.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import zmq

from relengotron.messaging import FedmsgPublisher, load_fedmsg_config, write_fedmsg_config
from relengotron_sandbox import amqp
from relengotron_sandbox.service import SandboxContext
from relengotron_sandbox.web import LOOPBACK, App, HTTPError, HTTPService, Request, Response

log = logging.getLogger(__name__)

TOPIC_PREFIX = "org.fedoraproject"
ENVIRONMENT = "dev"
MAX_ROWS_PER_PAGE = 100
DEFAULT_ROWS_PER_PAGE = 25


class Archive:
    """Every message that passed the relay, in arrival order. Thread-safe; one SQLite file (WAL)."""

    def __init__(self, path: Path) -> None:
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # WAL + NORMAL: a commit is atomic and survives the process dying; only a power cut may lose the newest
        # (no fsync per message on the relay's path — a sandbox stand-in, whose state is scratch)
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS messages ("
            " seq INTEGER PRIMARY KEY AUTOINCREMENT, msg_id TEXT UNIQUE, topic TEXT NOT NULL,"
            " timestamp REAL NOT NULL, envelope TEXT NOT NULL)"
        )
        self._db.execute("CREATE INDEX IF NOT EXISTS messages_ts ON messages (timestamp)")
        self._db.execute("CREATE INDEX IF NOT EXISTS messages_topic ON messages (topic)")

    def add(self, envelope: dict[str, Any]) -> bool:
        """Store one envelope; idempotent by msg_id (a message seen twice is stored once). True if new.

        The same message may arrive twice, once per bus (the sandbox publishes on fedmsg and AMQP with one
        id): the first copy stored stays, and the second only fills in the fields the first lacks or has null
        (the fedmsg envelope's ``i`` and ``username``, the AMQP message's ``headers``)."""
        row = (envelope.get("msg_id"), envelope["topic"], _timestamp(envelope.get("timestamp")), json.dumps(envelope))
        with self._lock:
            cur = self._db.execute(
                "INSERT OR IGNORE INTO messages (msg_id, topic, timestamp, envelope) VALUES (?, ?, ?, ?)", row
            )
            if cur.rowcount == 1 or envelope.get("msg_id") is None:
                return cur.rowcount == 1
            (stored,) = self._db.execute("SELECT envelope FROM messages WHERE msg_id = ?", row[:1]).fetchone()
            merged = json.loads(stored)
            missing = {k: v for k, v in envelope.items() if merged.get(k) is None and v is not None}
            if missing:
                merged.update(missing)
                self._db.execute("UPDATE messages SET envelope = ? WHERE msg_id = ?", (json.dumps(merged), row[0]))
            return False

    def by_id(self, msg_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT envelope FROM messages WHERE msg_id = ?", (msg_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def query(
        self,
        *,
        start: float | None,
        end: float | None,
        topics: list[str],
        page: int,
        rows: int,
        descending: bool,
    ) -> tuple[int, list[dict[str, Any]]]:
        """(total matching, the envelopes of one page). Order is arrival order (seq), as the relay saw them."""
        where, args = [], []
        if start is not None:
            where.append("timestamp >= ?")
            args.append(start)
        if end is not None:
            where.append("timestamp <= ?")
            args.append(end)
        if topics:
            where.append(f"topic IN ({','.join('?' * len(topics))})")
            args.extend(topics)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        order = "DESC" if descending else "ASC"
        with self._lock:
            total = self._db.execute(f"SELECT COUNT(*) FROM messages {clause}", args).fetchone()[0]
            found = self._db.execute(
                f"SELECT envelope FROM messages {clause} ORDER BY seq {order} LIMIT ? OFFSET ?",
                [*args, rows, (page - 1) * rows],
            ).fetchall()
        return total, [json.loads(r[0]) for r in found]

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _timestamp(value: Any) -> float:
    """An envelope's ``timestamp`` as epoch seconds; now when absent. ValueError when it is not a number."""
    if value is None or value == "":
        return time.time()
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"timestamp {value!r} is not a number")
    stamp = float(value)
    if stamp != stamp or stamp in (float("inf"), float("-inf")):
        raise ValueError(f"timestamp {value!r} is not a finite number")
    return stamp


def _float_arg(request: Request, name: str) -> float | None:
    value = request.arg(name)
    if value in (None, ""):
        return None
    try:
        return float(value)
    except ValueError:
        raise HTTPError(400, f"argument {name!r} must be a number (epoch seconds), not {value!r}") from None


def _int_arg(request: Request, name: str, default: int, low: int, high: int | None = None) -> int:
    value = request.arg(name)
    if value in (None, ""):
        return default
    try:
        number = int(value)
    except ValueError:
        raise HTTPError(400, f"argument {name!r} must be an integer, not {value!r}") from None
    if number < low or (high is not None and number > high):
        bound = f"between {low} and {high}" if high is not None else f">= {low}"
        raise HTTPError(400, f"argument {name!r} must be {bound}, not {number}")
    return number


def datagrepper_app(archive: Archive) -> App:
    """The subset of datagrepper a consumer needs to replay what it missed: ``/raw`` and ``/id``."""
    app = App("datagrepper")

    @app.route("GET", r"/raw/?")
    def raw(request: Request) -> Response:
        start = _float_arg(request, "start")
        end = _float_arg(request, "end")
        delta = _float_arg(request, "delta")
        # datagrepper: delta alone means "the last delta seconds"; with start or end it extends from it.
        if delta is not None:
            if start is None and end is None:
                end = time.time()
                start = end - delta
            elif start is None:
                start = end - delta  # type: ignore[operator]
            elif end is None:
                end = start + delta
        page = _int_arg(request, "page", 1, 1)
        rows = _int_arg(request, "rows_per_page", DEFAULT_ROWS_PER_PAGE, 1, MAX_ROWS_PER_PAGE)
        order = request.arg("order", "desc")
        if order not in ("asc", "desc"):
            raise HTTPError(400, f"argument 'order' must be 'asc' or 'desc', not {order!r}")
        topics = request.args("topic")
        total, messages = archive.query(
            start=start, end=end, topics=topics, page=page, rows=rows, descending=order == "desc"
        )
        pages = math.ceil(total / rows) if total else 0
        return Response.json(
            {
                "raw_messages": messages,
                "count": len(messages),
                "pages": pages,
                "total": total,
                "arguments": {
                    "start": start,
                    "end": end,
                    "delta": delta,
                    "topics": topics,
                    "page": page,
                    "rows_per_page": rows,
                    "order": order,
                },
            }
        )

    @app.route("GET", r"/id/?")
    def by_id(request: Request) -> Response:
        msg_id = request.arg("id")
        if not msg_id:
            raise HTTPError(400, "argument 'id' is required")
        envelope = archive.by_id(msg_id)
        if envelope is None:
            raise HTTPError(404, f"message {msg_id!r} not found")
        return Response.json(envelope)

    return app


class BusService:
    """Relay + archive + datagrepper. ``start()`` also installs the context's publisher."""

    name = "bus"

    def __init__(self, ctx: SandboxContext) -> None:
        self.ctx = ctx
        self._zmq = zmq.Context()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._http: HTTPService | None = None
        self._publisher: FedmsgPublisher | None = None
        self._amqp: amqp.AmqpBus | None = None
        self.archive: Archive | None = None
        self.relayed = 0
        self.malformed = 0

    def start(self) -> dict[str, Any]:
        state = self.ctx.service_dir(self.name)
        self.archive = Archive(state / "archive.sqlite")
        inbound = self._zmq.socket(zmq.SUB)
        inbound.setsockopt(zmq.SUBSCRIBE, b"")
        inbound.setsockopt(zmq.RCVHWM, 0)
        in_port = inbound.bind_to_random_port(f"tcp://{LOOPBACK}")
        outbound = self._zmq.socket(zmq.PUB)
        outbound.setsockopt(zmq.SNDHWM, 0)
        out_port = outbound.bind_to_random_port(f"tcp://{LOOPBACK}")
        self._thread = threading.Thread(target=self._relay, args=(inbound, outbound), name="bus-relay", daemon=True)
        self._thread.start()
        self._http = HTTPService(datagrepper_app(self.archive)).start()

        relay_inbound = f"tcp://{LOOPBACK}:{in_port}"
        relay_outbound = f"tcp://{LOOPBACK}:{out_port}"
        config_path = write_fedmsg_config(
            state / "fedmsg.d" / "sandbox.py",
            {
                "topic_prefix": TOPIC_PREFIX,
                "environment": ENVIRONMENT,
                "endpoints": {"sandbox-relay": [relay_outbound]},
                "relay_inbound": [relay_inbound],
                "active": True,
                "sign_messages": False,
                "validate_signatures": False,
                "high_water_mark": 0,
                "post_init_sleep": 0.5,
                "zmq_linger": 2000,
                "zmq_enabled": True,
                "datagrepper_url": f"{self._http.url}/",
            },
        )
        self._publisher = FedmsgPublisher(load_fedmsg_config(config_path))
        self.ctx.publisher = self._publisher
        endpoints = {
            "relay_inbound": relay_inbound,
            "relay_outbound": relay_outbound,
            "datagrepper": f"{self._http.url}/",
            "fedmsg_config": str(config_path),
            "topic_prefix": TOPIC_PREFIX,
            "environment": ENVIRONMENT,
        }
        if self.ctx.broker is not None:  # the sandbox's broker: publish on both buses, archive what AMQP carried
            endpoints.update(self._start_amqp(state))
        return endpoints

    def _start_amqp(self, state: Path) -> dict[str, Any]:
        broker = self.ctx.broker
        # fedora-messaging's topic_prefix: org.fedoraproject.<env>, the fedmsg bus's prefix and environment
        prefix = f"{TOPIC_PREFIX}.{ENVIRONMENT}"
        config_path = amqp.write_config(state / "fedora-messaging.toml", broker.url, prefix, "relengotron sandbox")
        assert self.archive is not None
        self._amqp = amqp.AmqpBus(broker, self.archive.add, config_path)
        self.ctx.amqp = self._amqp
        self.ctx.publisher = amqp.BothBuses(self._publisher, self._amqp)
        return {
            "amqp_url": broker.url,
            "fedora_messaging_config": str(config_path),
            "amqp_topic_prefix": prefix,
            "exchange": "amq.topic",
            "archive_queue": amqp.ARCHIVE_QUEUE,
        }

    @property
    def amqp(self) -> amqp.AmqpBus | None:
        """The AMQP side (publishing as the sandbox's services do), when the sandbox has a broker."""
        return self._amqp

    def ready(self) -> None:
        """Wait until the AMQP side (if any) is connected and its archive queue bound."""
        if self._amqp is not None:
            self._amqp.wait_ready()

    def _relay(self, inbound: zmq.Socket, outbound: zmq.Socket) -> None:
        poller = zmq.Poller()
        poller.register(inbound, zmq.POLLIN)
        try:
            while not self._stop.is_set():
                if not poller.poll(100):
                    continue
                frames = inbound.recv_multipart()
                self._archive(frames)
                outbound.send_multipart(frames)
                self.relayed += 1
        finally:
            inbound.close(linger=0)
            outbound.close(linger=0)

    def _archive(self, frames: list[bytes]) -> None:
        """Archive a well-formed envelope; anything else is relayed as-is (consumers must cope) and counted.
        Never raises: a hostile message (nested a thousand deep, a non-numeric timestamp, a non-text topic)
        must not stop the relay."""
        try:
            topic = frames[0].decode()
            envelope = json.loads(frames[1])
            if not isinstance(envelope, dict) or not envelope.get("msg_id"):
                raise ValueError("no msg_id")
            if not isinstance(envelope.setdefault("topic", topic), str):
                raise ValueError("the topic is not text")
            assert self.archive is not None
            self.archive.add(envelope)
        except (IndexError, ValueError, TypeError, UnicodeDecodeError, RecursionError, sqlite3.Error) as exc:
            self.malformed += 1
            log.warning("relaying a malformed message (%s): not archived", exc)

    def stop(self) -> None:
        self._stop.set()
        if self._amqp is not None:
            self._amqp.close()
        if self._publisher is not None:
            self._publisher.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._http is not None:
            self._http.stop()
        self._zmq.term()
        if self.archive is not None:
            self.archive.close()


def main(argv: list[str] | None = None) -> int:
    """``python -m relengotron_sandbox.bus --state DIR [--broker]``: the bus alone — relay, archive, datagrepper,
    and with ``--broker`` a RabbitMQ of its own (state in ``DIR/broker``) whose traffic it archives too — in a
    process of its own, as Fedora's relay runs apart from its publishers and consumers (the bench's listener
    figures use it so that the relay shares no interpreter lock with the measuring client). Its endpoints are
    written to ``DIR/endpoints.json`` once it serves; SIGTERM stops it (and the broker)."""
    import argparse
    import signal
    from contextlib import ExitStack

    from relengotron_sandbox.broker import running
    from relengotron_sandbox.daemon import write_json_atomic

    parser = argparse.ArgumentParser(prog="python -m relengotron_sandbox.bus")
    parser.add_argument("--state", required=True, type=Path)
    parser.add_argument("--broker", action="store_true", help="run a RabbitMQ too, and carry AMQP")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    args.state.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        broker = stack.enter_context(running(args.state / "broker")) if args.broker else None
        ctx = SandboxContext(state_dir=args.state, world=None, built=None, broker=broker)  # type: ignore[arg-type]
        service = BusService(ctx)
        endpoints = service.start()
        stack.callback(service.stop)
        service.ready()
        write_json_atomic(args.state / "endpoints.json", {"bus": endpoints, "pid": os.getpid()})
        stop.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
