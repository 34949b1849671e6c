"""The long-running listener: a subscriber that only validates and stores, a dispatcher that triggers from the
inbox, a replayer that fills gaps from datagrepper, and the /healthz + /metrics port.

The subscriber never waits for Airflow: while Airflow is down the inbox grows and the bus is still read.
The dispatcher takes the oldest ready run, asks Airflow for it and, on a transient failure, waits (capped
exponential backoff with jitter) and asks again for the *same* run — later runs wait behind it, so the runs
are created in arrival order once Airflow is back. SIGTERM (or SIGINT) stops all three cleanly: a message
being stored is committed, a trigger under way completes or is retried after the restart.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import zmq
from zmq.utils.monitor import recv_monitor_message

from relengotron.listener.airflow_api import REFUSED, AirflowClient, Backoff
from relengotron.listener.amqp_bus import AmqpSubscriber, routing_keys
from relengotron.listener.config import ListenerConfig
from relengotron.listener.inbox import Inbox
from relengotron.listener.ingest import Ingestor
from relengotron.listener.observe import HealthServer, Metrics
from relengotron.listener.replay import Datagrepper, ReplayError, Window, start_window
from relengotron.listener.rules import RuleSet
from relengotron.tools.files import write_atomic

log = logging.getLogger("relengotron.listener")

POLL = 0.2  # seconds between looks at the stop flag
PRUNE_EVERY = 3600.0


@dataclass
class _Request:
    window: Window
    not_before: float


class Replayer(threading.Thread):
    """Replays requested windows from datagrepper, one at a time; overlapping requests are merged and a
    failure is retried (with backoff) until it succeeds or the listener stops."""

    def __init__(
        self, datagrepper: Datagrepper | None, ingestor: Ingestor, stop: threading.Event, backoff: Backoff
    ) -> None:
        super().__init__(name="listener-replayer", daemon=True)
        self.datagrepper = datagrepper
        self.ingestor = ingestor
        self.stop_event = stop
        self.backoff = backoff
        self._pending: _Request | None = None
        self._cond = threading.Condition()
        self.busy = False
        self.completed = 0
        self.last_error: str | None = None

    def request(self, window: Window, delay: float = 0.0) -> None:
        if self.datagrepper is None:
            log.warning("no datagrepper configured: cannot replay %s", window.reason)
            return
        with self._cond:
            not_before = time.time() + delay
            if self._pending is None:
                self._pending = _Request(window, not_before)
            else:
                self._pending = _Request(self._pending.window.union(window), max(self._pending.not_before, not_before))
            self._cond.notify()

    @property
    def idle(self) -> bool:
        with self._cond:
            return self._pending is None and not self.busy

    def run(self) -> None:
        failures = 0
        while not self.stop_event.is_set():
            with self._cond:
                if self._pending is None or self._pending.not_before > time.time():
                    wait = POLL if self._pending is None else min(POLL, self._pending.not_before - time.time())
                    self._cond.wait(max(wait, 0.01))
                    continue
                job, self._pending = self._pending, None
                self.busy = True
            try:
                self._replay(job.window)
                failures = 0
                self.last_error = None
                self.completed += 1
            except ReplayError as exc:
                delay = self.backoff.delay(failures)
                failures += 1
                self.last_error = str(exc)
                log.warning("replay failed; trying again", extra={"reason": str(exc), "retry_in": round(delay, 2)})
                self.request(job.window, delay)
            except Exception:  # the inbox failing: try the window again later rather than lose it
                delay = self.backoff.delay(failures)
                failures += 1
                log.exception("replay failed; trying again in %.1f s", delay)
                self.request(job.window, delay)
            finally:
                with self._cond:
                    self.busy = False

    def _replay(self, window: Window) -> None:
        assert self.datagrepper is not None
        counts: dict[str, int] = {}
        for data in self.datagrepper.messages(window):
            outcome = self.ingestor.replayed(data)
            counts[outcome.kind] = counts.get(outcome.kind, 0) + 1
            if self.stop_event.is_set():
                raise ReplayError("stopping")
        log.info(
            "replayed",
            extra={"reason": window.reason, "start": window.start, "end": window.end, "outcomes": counts},
        )


def replay_window(config: ListenerConfig, inbox: Inbox, started_at: float, reason: str) -> Window:
    """The window to replay on (re)connecting: since the last message seen live (see :func:`start_window`)."""
    window = start_window(
        inbox.live_mark(),
        started_at,
        time.time(),
        margin=config.replay_margin,
        initial=config.initial_replay,
        maximum=config.max_replay,
    )
    return Window(window.start, window.end, f"{reason}: {window.reason}")


class Subscriber(threading.Thread):
    """ZeroMQ SUB on every endpoint: each message is validated and stored, nothing else. Connection events
    (socket monitor) drive /healthz and the replays on start and reconnect."""

    def __init__(
        self,
        config: ListenerConfig,
        ingestor: Ingestor,
        replayer: Replayer,
        stop: threading.Event,
        metrics: Metrics,
    ) -> None:
        super().__init__(name="listener-subscriber", daemon=True)
        self.config = config
        self.ingestor = ingestor
        self.replayer = replayer
        self.stop_event = stop
        self.metrics = metrics
        self.connected: set[str] = set()
        self._ever: set[str] = set()
        self._start_replayed = False
        self.started_at = time.time()
        self.failed: str | None = None

    def _window(self, reason: str) -> Window:
        return replay_window(self.config, self.ingestor.inbox, self.started_at, reason)

    def _on_event(self, event: dict[str, Any]) -> None:
        endpoint = event["endpoint"].decode() if isinstance(event["endpoint"], bytes) else str(event["endpoint"])
        if event["event"] == zmq.EVENT_HANDSHAKE_SUCCEEDED:
            again = endpoint in self._ever
            self.connected.add(endpoint)
            self._ever.add(endpoint)
            log.info("subscribed", extra={"endpoint": endpoint, "reconnect": again})
            if not self._start_replayed or again:
                self._start_replayed = True
                self.replayer.request(self._window("reconnect" if again else "start"), delay=self.config.settle)
        elif event["event"] == zmq.EVENT_DISCONNECTED:
            self.connected.discard(endpoint)
            log.warning("disconnected", extra={"endpoint": endpoint})
        self.metrics.subscribed.set(1 if self.connected else 0)
        self.metrics.bus_connected.set(1 if self.connected else 0)

    def problem(self) -> str | None:
        """Why the bus is not healthy now, or None."""
        if self.connected:
            return None
        return self.failed or "not subscribed to any bus endpoint"

    def state(self) -> dict[str, Any]:
        return {"transport": "fedmsg", "connected": bool(self.connected)}

    def run(self) -> None:
        context = zmq.Context()
        sock = context.socket(zmq.SUB)
        monitor = None
        try:
            sock.setsockopt(zmq.RCVHWM, 0)
            sock.setsockopt(zmq.RECONNECT_IVL, 100)
            sock.setsockopt(zmq.RECONNECT_IVL_MAX, 5000)
            sock.setsockopt(zmq.TCP_KEEPALIVE, 1)
            sock.setsockopt(zmq.SUBSCRIBE, self.config.subscribe.encode())
            monitor = sock.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_DISCONNECTED)
            for endpoint in self.config.endpoints:
                sock.connect(endpoint)
            poller = zmq.Poller()
            poller.register(sock, zmq.POLLIN)
            poller.register(monitor, zmq.POLLIN)
            while not self.stop_event.is_set():
                ready = dict(poller.poll(int(POLL * 1000)))
                if monitor in ready:
                    self._on_event(recv_monitor_message(monitor))
                if sock in ready:
                    for _ in range(1000):  # drain what is there, then look at the stop flag again
                        try:
                            frames = sock.recv_multipart(zmq.NOBLOCK)
                        except zmq.Again:
                            break
                        self._ingest(frames)
        except Exception as exc:
            self.failed = f"{type(exc).__name__}: {exc}"
            log.exception("the subscriber stopped")
        finally:
            if monitor is not None:
                sock.disable_monitor()
                monitor.close(linger=0)
            sock.close(linger=0)
            context.term()
            self.connected.clear()
            self.metrics.subscribed.set(0)
            self.metrics.bus_connected.set(0)

    def _ingest(self, frames: list[bytes]) -> None:
        try:
            outcome = self.ingestor.frames(frames)
        except Exception:
            # the inbox could not take it: the message is gone from the socket but not from the archive
            log.exception("could not store a message; it will be replayed from datagrepper")
            self.replayer.request(self._window("store failure"), delay=1.0)
            return
        if outcome.gap is not None:
            self.replayer.request(outcome.gap.window, delay=self.config.settle)


class Dispatcher(threading.Thread):
    """Creates the inbox's DAG runs in Airflow, oldest first."""

    def __init__(
        self,
        inbox: Inbox,
        rules: RuleSet,
        client: AirflowClient,
        backoff: Backoff,
        stop: threading.Event,
        wake: threading.Event,
        metrics: Metrics,
        *,
        retention_days: float = 30.0,
    ) -> None:
        super().__init__(name="listener-dispatcher", daemon=True)
        self.inbox = inbox
        self.rules = rules
        self.client = client
        self.backoff = backoff
        self.stop_event = stop
        self.wake = wake
        self.metrics = metrics
        self.retention = retention_days * 86400
        self._pruned = 0.0
        self.last_error: str | None = None

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                self.step()
            except Exception:
                log.exception("dispatcher step failed; going on")
                self.stop_event.wait(1.0)

    def _sleep(self, seconds: float) -> None:
        self.wake.wait(max(0.0, min(seconds, 1.0)))
        self.wake.clear()

    def step(self) -> None:
        now = time.time()
        if now - self._pruned > PRUNE_EVERY:
            self._pruned = now
            removed = self.inbox.prune(now - self.retention)
            if removed:
                log.info("pruned finished messages", extra={"removed": removed})
        window_end = self.inbox.next_window_end()
        closing = window_end is not None and window_end <= now
        for unit, error in self.inbox.close_due_batches(self.rules.batch_conf, now) if closing else ():
            extra = {"dag_id": unit.dag_id, "dag_run_id": unit.dag_run_id, "batch_key": unit.batch_key}
            if error:
                self.metrics.dead_lettered.labels("route").inc()
                log.warning("dead-lettered a batch", extra={**extra, "reason": error})
            else:
                log.info("batch closed", extra=extra)
        unit = self.inbox.next_unit()
        if unit is None:
            end = self.inbox.next_window_end()
            self._sleep(1.0 if end is None else end - now)
            return
        if unit.next_attempt > now:
            self._sleep(unit.next_attempt - now)
            return
        msg_ids = self.inbox.unit_msg_ids(unit.id)
        extra = {
            "dag_id": unit.dag_id,
            "dag_run_id": unit.dag_run_id,
            "msg_id": msg_ids[0] if len(msg_ids) == 1 else None,
            "msg_ids": msg_ids[:50],
            "attempt": unit.attempts + 1,
        }
        result = self.client.trigger(unit.dag_id, unit.dag_run_id, unit.conf or {})
        if result.done:
            self.inbox.complete(unit.id, f"{result.status} {result.detail}")
            self.metrics.triggered.labels(unit.dag_id, result.outcome).inc()
            self.metrics.latency.observe(max(0.0, time.time() - unit.first_received))
            self.last_error = None
            log.info("triggered" if result.outcome == "created" else "already triggered (409)", extra=extra)
        elif result.outcome == REFUSED:
            self.inbox.refuse(unit.id, result.detail)
            self.metrics.dead_lettered.labels("airflow").inc()
            log.warning("dead-lettered: Airflow refused the run", extra={**extra, "reason": result.detail})
        else:
            delay = self.backoff.delay(unit.attempts)
            self.inbox.defer(unit.id, time.time() + delay, result.detail)
            self.metrics.retries.inc()
            self.last_error = result.detail
            log.warning("Airflow unavailable; will retry", extra={**extra, "reason": result.detail, "retry_in": delay})


@dataclass
class Listener:
    """Wires the threads together; :meth:`run` blocks until :meth:`stop` (or SIGTERM)."""

    config: ListenerConfig
    rules: RuleSet
    ingestor: Ingestor
    client: AirflowClient
    datagrepper: Datagrepper | None
    metrics: Metrics
    stop_event: threading.Event = field(default_factory=threading.Event)
    wake: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        inbox = self.ingestor.inbox
        self.ingestor.on_stored = self.wake.set
        backoff = Backoff(self.config.airflow.retry_initial, self.config.airflow.retry_max)
        self.replayer = Replayer(self.datagrepper, self.ingestor, self.stop_event, backoff)
        self.subscriber: Subscriber | AmqpSubscriber = self._subscriber()
        self.dispatcher = Dispatcher(
            inbox,
            self.rules,
            self.client,
            backoff,
            self.stop_event,
            self.wake,
            self.metrics,
            retention_days=self.config.retention_days,
        )
        self.metrics.pending.set_function(inbox.pending_count)
        self.http = HealthServer(
            self.config.http_host,
            self.config.http_port,
            self.metrics,
            self.health,
            lambda limit: inbox.status(dead_letter_limit=limit),
        )

    def _subscriber(self) -> Subscriber | AmqpSubscriber:
        if self.config.transport != "amqp":
            return Subscriber(self.config, self.ingestor, self.replayer, self.stop_event, self.metrics)
        assert self.config.amqp is not None
        started_at = time.time()
        topics = [topic for rule in self.rules.rules for topic in rule.topics]
        keys = list(self.config.amqp.routing_keys) or routing_keys(topics)

        def replay(reason: str) -> None:
            window = replay_window(self.config, self.ingestor.inbox, started_at, reason)
            self.replayer.request(window, delay=self.config.settle)

        return AmqpSubscriber(self.config.amqp, keys, self.ingestor, replay, self.stop_event, self.metrics)

    def health(self) -> dict[str, Any]:
        problems = []
        bus = self.subscriber.problem()
        if bus:
            problems.append(bus)
        writable = self.ingestor.inbox.writable()
        if writable:
            problems.append(writable)
        return {
            "ready": not problems,
            "problems": problems,
            "subscribed": sorted(self.subscriber.connected),
            "bus": self.subscriber.state(),
            "pending": self.ingestor.inbox.pending_count(),
            "airflow_error": self.dispatcher.last_error,
            "replay_error": self.replayer.last_error,
        }

    def start(self) -> None:
        self.http.start()
        write_atomic(
            self.config.runtime_path,
            json.dumps(
                {"pid": os.getpid(), "http": self.http.url, "started_at": time.time(), "config": str(self.config.path)}
            ).encode(),
        )
        self.replayer.start()
        self.dispatcher.start()
        self.subscriber.start()
        where = [self.config.amqp.endpoint] if self.config.amqp is not None else list(self.config.endpoints)
        log.info(
            "listener started", extra={"http": self.http.url, "transport": self.config.transport, "endpoints": where}
        )

    def stop(self) -> None:
        self.stop_event.set()
        self.wake.set()

    def wait(self) -> None:
        while not self.stop_event.wait(POLL):
            pass

    def shutdown(self) -> None:
        """Stop every thread and close everything (after :meth:`stop`)."""
        self.stop()
        self.subscriber.join(timeout=10)
        self.replayer.join(timeout=self.config.airflow.timeout + 5)
        self.dispatcher.join(timeout=self.config.airflow.timeout + 5)
        self.http.stop()
        self.client.close()
        if self.datagrepper is not None:
            self.datagrepper.close()
        self.ingestor.inbox.close()
        self.config.runtime_path.unlink(missing_ok=True)
        log.info("listener stopped")


def build(config: ListenerConfig, rules: RuleSet) -> Listener:
    """A listener from its config (reads the Airflow password and opens the inbox)."""
    from relengotron.listener.validate import SignatureChecker, Validator

    signatures = SignatureChecker(config.crypto) if config.signatures else None
    validator = Validator(max_body_bytes=config.max_body_bytes, signatures=signatures)
    metrics = Metrics()
    inbox = Inbox(config.inbox_path, synchronous=config.synchronous)
    ingestor = Ingestor(inbox, rules, validator, metrics=metrics, gap_margin=max(config.replay_margin, 1.0))
    client = AirflowClient(
        config.airflow.url, config.airflow.username, config.airflow.password(), timeout=config.airflow.timeout
    )
    datagrepper = (
        Datagrepper(config.datagrepper_url, rows_per_page=config.rows_per_page) if config.datagrepper_url else None
    )
    return Listener(config, rules, ingestor, client, datagrepper, metrics)


def run(config: ListenerConfig, rules: RuleSet) -> int:
    """Run until SIGTERM/SIGINT; 0 on a clean stop."""
    listener = build(config, rules)

    def _stop(signum: int, _frame: Any) -> None:
        log.info("signal %s: stopping", signal.Signals(signum).name)
        listener.stop()

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        listener.start()
        listener.wait()
    finally:
        listener.shutdown()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
