"""What the listener shows of itself: Prometheus metrics, /healthz, /status, and structured (JSON line) logs.

Metrics (registry of their own, ``relengotron_listener_`` prefix): ``received_total{source}``,
``deduplicated_total``, ``dropped_total`` (no rule for the topic or the body), ``ignored_total{rule}`` (a rule
left the message alone on purpose, e.g. a container compose), ``dead_lettered_total{kind}``,
``triggered_total{dag_id,answer}``, ``trigger_retries_total``, ``gaps_total``, ``replayed_total``,
``pending`` (messages not yet acknowledged by Airflow, read from the inbox at scrape time), ``subscribed``,
``bus_connected`` (1 while connected: any fedmsg endpoint, or consuming from the AMQP broker), on AMQP
``bus_last_heard_seconds`` (since the broker last sent anything, heartbeats included) and
``bus_reconnects_total{reason}`` (heartbeat_timeout: a silent connection loss; connection_lost, closed_by_broker,
channel_closed, connect_failed, error), and the ``trigger_latency_seconds`` histogram (message received →
Airflow acknowledged its run).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

PREFIX = "relengotron_listener"
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.received = Counter(f"{PREFIX}_received", "Messages received", ["source"], registry=r)
        self.deduplicated = Counter(f"{PREFIX}_deduplicated", "Messages already in the inbox (by msg_id)", registry=r)
        self.dropped = Counter(f"{PREFIX}_dropped", "Messages no rule routes (unknown topics)", registry=r)
        self.ignored = Counter(f"{PREFIX}_ignored", "Messages a rule deliberately ignored", ["rule"], registry=r)
        self.dead_lettered = Counter(f"{PREFIX}_dead_lettered", "Dead letters kept", ["kind"], registry=r)
        self.triggered = Counter(f"{PREFIX}_triggered", "DAG runs acknowledged", ["dag_id", "answer"], registry=r)
        self.retries = Counter(f"{PREFIX}_trigger_retries", "Trigger attempts that will be retried", registry=r)
        self.gaps = Counter(f"{PREFIX}_gaps", "Gaps seen in publishers' sequence numbers", registry=r)
        self.replayed = Counter(f"{PREFIX}_replayed", "Messages fetched from datagrepper", registry=r)
        self.pending = Gauge(f"{PREFIX}_pending", "Messages stored and not yet acknowledged by Airflow", registry=r)
        self.subscribed = Gauge(f"{PREFIX}_subscribed", "1 when connected to a bus endpoint", registry=r)
        self.bus_connected = Gauge(
            f"{PREFIX}_bus_connected", "1 when connected to the bus (AMQP: consuming)", registry=r
        )
        self.bus_last_heard = Gauge(
            f"{PREFIX}_bus_last_heard_seconds",
            "Seconds since anything (a message or a heartbeat) came from the AMQP broker; -1 before the first",
            registry=r,
        )
        self.bus_reconnects = Counter(
            f"{PREFIX}_bus_reconnects", "AMQP connections that ended and were reopened, by why", ["reason"], registry=r
        )
        self.latency = Histogram(
            f"{PREFIX}_trigger_latency_seconds",
            "From a message's arrival to Airflow acknowledging its DAG run",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


STATUS_LIMIT = 50  # dead letters ``/status`` lists unless ``?limit=`` says otherwise
STATUS_LIMIT_MAX = 1000


def status_limit(query: str) -> int:
    """The ``limit`` of a ``/status`` query string (default :data:`STATUS_LIMIT`, clamped to 0..
    :data:`STATUS_LIMIT_MAX`); ValueError naming it when it is not a whole number. Pure."""
    values = parse_qs(query).get("limit")
    if not values:
        return STATUS_LIMIT
    try:
        return max(0, min(int(values[-1]), STATUS_LIMIT_MAX))
    except ValueError:
        raise ValueError(f"limit {values[-1]!r} is not a whole number") from None


class HealthServer:
    """``GET /healthz`` (200 ready / 503 not, JSON reasons), ``GET /metrics`` and ``GET /status[?limit=N]``
    (the inbox's status as ``relengotron listener status --json`` prints it: pending, retrying, dead letters
    with their reasons, the last message seen from each publisher) on one HTTP port. Read-only."""

    def __init__(
        self,
        host: str,
        port: int,
        metrics: Metrics,
        health: Callable[[], dict[str, Any]],
        status: Callable[[int], dict[str, Any]] | None = None,
    ) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path, _, query = self.path.partition("?")
                if path == "/status" and status is not None:
                    try:
                        limit = status_limit(query)
                    except ValueError as exc:
                        self._send(400, json.dumps({"detail": str(exc)}).encode(), "application/json")
                        return
                    self._send(200, json.dumps(status(limit)).encode(), "application/json")
                elif path == "/metrics":
                    outer.refresh()
                    self._send(200, metrics.exposition(), CONTENT_TYPE_LATEST)
                elif path in ("/healthz", "/health"):
                    state = health()
                    self._send(200 if state.get("ready") else 503, json.dumps(state).encode(), "application/json")
                else:
                    self._send(404, b'{"detail": "not found"}', "application/json")

            def _send(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.refresh: Callable[[], None] = lambda: None
        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="listener-http", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> HealthServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, event, and every ``extra`` field (msg_id, dag_run_id…)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "event": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def setup_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("urllib3", "fedmsg"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
