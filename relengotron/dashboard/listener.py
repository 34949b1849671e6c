"""The listener's health as the dashboard shows it: is it up and connected to the bus, what waits in its inbox,
its dead letters with their reasons, the last message from each publisher, and its counters. Pure: what the
listener answered in, plain data out.

The facts are the listener's own answers (:mod:`relengotron.listener.observe`), read over its HTTP port by
:mod:`relengotron.dashboard.probes`: ``GET /healthz`` (200 ready / 503 with its ``problems``; ``bus``: transport,
``connected``, on AMQP ``last_heard_seconds``, ``heartbeat_seconds``, ``reconnects``, ``last_error``),
``GET /status`` (the inbox's status, as ``relengotron listener status --json`` prints it) and ``GET /metrics``
(Prometheus text, ``relengotron_listener_*``). Nothing is judged again here: the listener says whether it is
ready and why not; a listener that does not answer is ``unreachable``, with the error, never healthy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from prometheus_client.parser import text_string_to_metric_families

from relengotron.dashboard.facts import utc_text

CONN_ID = "listener_default"  # the HTTP connection naming the listener's /healthz port (this project's name)
PREFIX = "relengotron_listener_"
HEALTHY, UNHEALTHY, UNREACHABLE, NOT_CONFIGURED = "healthy", "unhealthy", "unreachable", "not configured"


@dataclass(frozen=True)
class Answer:
    """One endpoint's answer: its HTTP status and body (JSON decoded, or the text of /metrics), or why there is
    none (``error``: refused, timed out, not JSON...)."""

    status: int | None = None
    body: Any = None
    error: str | None = None


@dataclass(frozen=True)
class ListenerFacts:
    """What the listener at ``url`` answered at ``read_at`` (``url`` None: no connection names it; ``error``:
    the connection could not be read)."""

    url: str | None
    read_at: datetime
    healthz: Answer = field(default_factory=Answer)
    status: Answer = field(default_factory=Answer)
    metrics: Answer = field(default_factory=Answer)
    error: str | None = None


def base_url(host: str | None, *, schema: str | None = None, port: int | None = None) -> str:
    """The listener's root URL from an HTTP connection, as Airflow's HTTP provider builds a base URL: the host
    as it is when it carries a scheme (``http://listener:9910``), else ``<schema or http>://host``; then the
    connection's port when the URL has none. ValueError when there is no host. Pure."""
    if not host:
        raise ValueError(f"connection {CONN_ID}: no host")
    root = host.rstrip("/") if "://" in host else f"{schema or 'http'}://{host.strip('/')}"
    if port and urlsplit(root).port is None:
        parts = urlsplit(root)
        root = parts._replace(netloc=f"{parts.netloc}:{int(port)}").geturl()
    return root


def samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Prometheus exposition text → sample name (prefix dropped) → [(labels, value)], with prometheus_client's
    own parser. ``_created`` samples are left out (not a reading). ValueError on text that is not Prometheus'."""
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if not sample.name.startswith(PREFIX) or sample.name.endswith("_created"):
                continue
            out.setdefault(sample.name[len(PREFIX) :], []).append((dict(sample.labels), float(sample.value)))
    return out


def _by_label(found: Mapping[str, list[tuple[dict[str, str], float]]], name: str, label: str) -> dict[str, int]:
    return {labels.get(label, ""): int(value) for labels, value in found.get(name, ()) if value}


def _total(found: Mapping[str, list[tuple[dict[str, str], float]]], name: str) -> int | None:
    values = found.get(name)
    return int(sum(v for _, v in values)) if values else None


def counters(text: str) -> dict[str, Any]:
    """The listener's counters since it started, from its /metrics text."""
    found = samples(text)
    latency_count, latency_sum = (
        _total(found, "trigger_latency_seconds_count"),
        found.get("trigger_latency_seconds_sum"),
    )
    mean = latency_sum[0][1] / latency_count if latency_sum and latency_count else None
    return {
        "received": _by_label(found, "received_total", "source"),
        "deduplicated": _total(found, "deduplicated_total"),
        "dropped": _total(found, "dropped_total"),
        "ignored": _by_label(found, "ignored_total", "rule"),
        "dead_lettered": _by_label(found, "dead_lettered_total", "kind"),
        "triggered": {
            f"{labels.get('dag_id')} ({labels.get('answer')})": int(v)
            for labels, v in found.get("triggered_total", ())
            if v
        },
        "trigger_retries": _total(found, "trigger_retries_total"),
        "gaps": _total(found, "gaps_total"),
        "replayed": _total(found, "replayed_total"),
        "bus_reconnects": _by_label(found, "bus_reconnects_total", "reason"),
        "bus_last_heard_seconds": (found.get("bus_last_heard_seconds") or [({}, None)])[0][1],
        "trigger_latency_mean_seconds": round(mean, 3) if mean is not None else None,
    }


def _epoch(value: Any) -> str | None:
    return utc_text(datetime.fromtimestamp(float(value), UTC)) if isinstance(value, int | float) else None


def _answer_error(name: str, answer: Answer) -> str | None:
    if answer.error:
        return f"{name}: {answer.error}"
    if answer.status is None:
        return None
    ok = answer.status == 200 or (name == "/healthz" and answer.status == 503 and isinstance(answer.body, Mapping))
    return None if ok else f"{name}: HTTP {answer.status}"


def _inbox(status: Mapping[str, Any]) -> dict[str, Any]:
    units = status.get("units") or {}
    head = status.get("head") or None
    return {
        "pending_messages": status.get("pending_messages"),
        "runs_to_trigger": units.get("ready", 0),
        "open_batches": status.get("open_batches", units.get("open", 0)),
        "retrying": status.get("retrying"),
        "runs_triggered": units.get("done", 0),
        "waiting_on": head if head and head.get("attempts") else None,
        "last_seen_live": _epoch(status.get("live_mark")),
    }


def _dead_letters(status: Mapping[str, Any]) -> dict[str, Any]:
    letters = [
        {
            "id": letter.get("id"),
            "kind": letter.get("kind"),
            "created": _epoch(letter.get("created_at")),
            "msg_id": letter.get("msg_id"),
            "topic": letter.get("topic"),
            "reason": letter.get("reason"),
        }
        for letter in status.get("dead_letters") or ()
    ]
    return {"total": status.get("dead_letters_total", len(letters)), "shown": letters}


def _publishers(status: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "name": p.get("name"),
            "last_i": p.get("last_i"),
            "last_topic": p.get("last_topic"),
            "last_msg_id": p.get("last_msg_id"),
            "last_sent": _epoch(p.get("last_sent_at")),
            "last_received": _epoch(p.get("last_received_at")),
        }
        for p in status.get("publishers") or ()
    ]


def listener_view(facts: ListenerFacts) -> dict[str, Any]:
    """The listener section: ``state`` (healthy: /healthz said ready; unhealthy: it said not, ``problems`` say
    why — a stalled or lost bus connection, an inbox not writable; unreachable: no answer, ``errors`` say why;
    not configured: no connection names a listener), the bus, the inbox, the dead letters, the publishers,
    the counters — each None when its endpoint did not answer."""
    base: dict[str, Any] = {"url": facts.url, "read_at": utc_text(facts.read_at)}
    if facts.url is None:
        why = facts.error or f"no connection {CONN_ID} names the listener's HTTP port"
        return {**base, "state": NOT_CONFIGURED, "problems": [why], "errors": [why], **_empty()}
    errors = [e for e in (_answer_error(n, a) for n, a in _endpoints(facts)) if e]
    health = facts.healthz.body if isinstance(facts.healthz.body, Mapping) else None
    if health is None:
        state, problems = UNREACHABLE, errors or ["/healthz: no answer"]
    else:
        state = HEALTHY if health.get("ready") and facts.healthz.status == 200 else UNHEALTHY
        problems = [str(p) for p in health.get("problems") or ()]
        if state == UNHEALTHY and not problems:
            problems = [f"/healthz: HTTP {facts.healthz.status}"]
    status = facts.status.body if facts.status.status == 200 and isinstance(facts.status.body, Mapping) else None
    metrics = None
    if facts.metrics.status == 200 and isinstance(facts.metrics.body, str):
        try:
            metrics = counters(facts.metrics.body)
        except ValueError as exc:
            errors.append(f"/metrics: not Prometheus text: {exc}")
    bus = dict(health.get("bus") or {}) if health else None
    if bus is not None:
        bus.setdefault("connected", bool(health.get("subscribed")) if health else None)
        if metrics and metrics["bus_reconnects"]:
            bus["reconnects_by_reason"] = metrics["bus_reconnects"]
    return {
        **base,
        "state": state,
        "problems": problems,
        "errors": errors,
        "bus": bus,
        "airflow_error": health.get("airflow_error") if health else None,
        "replay_error": health.get("replay_error") if health else None,
        "pending": health.get("pending") if health else None,
        "inbox": _inbox(status) if status is not None else None,
        "dead_letters": _dead_letters(status) if status is not None else None,
        "publishers": _publishers(status) if status is not None else None,
        "counters": metrics,
    }


def _endpoints(facts: ListenerFacts) -> tuple[tuple[str, Answer], ...]:
    return (("/healthz", facts.healthz), ("/status", facts.status), ("/metrics", facts.metrics))


def _empty() -> dict[str, Any]:
    keys = ("bus", "airflow_error", "replay_error", "pending", "inbox", "dead_letters", "publishers", "counters")
    return dict.fromkeys(keys)
