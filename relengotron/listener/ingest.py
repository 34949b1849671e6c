"""From raw input to the inbox: validate, route, store — the one path every message takes.

Live frames from the bus, envelopes replayed from datagrepper and dead letters being retried all go through
:class:`Ingestor`, so a message is judged the same way however it arrives. Nothing here talks to Airflow: a
message is done with once it is committed to the inbox (or counted and dropped when no rule wants it).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from relengotron.listener.amqp_validate import Delivery
from relengotron.listener.amqp_validate import check as check_amqp
from relengotron.listener.inbox import Inbox
from relengotron.listener.observe import Metrics
from relengotron.listener.replay import Gap, gap_of
from relengotron.listener.rules import MessageView, Routing, RuleSet
from relengotron.listener.validate import MSG_ID, Envelope, Rejected, Validator

log = logging.getLogger("relengotron.listener")


@dataclass(frozen=True)
class Outcome:
    """What became of one input: stored | duplicate | unrouted (no rule) | ignored (every rule that wanted it
    ignored it on purpose: ``reason`` says why) | dead (stored, a rule failed) | invalid."""

    kind: str
    msg_id: str | None = None
    seq: int | None = None
    gap: Gap | None = None
    reason: str | None = None


def view(envelope: Envelope) -> MessageView:
    return MessageView(envelope.topic, envelope.body, envelope.msg_id, envelope.timestamp, envelope.username)


class Ingestor:
    """Thread-safe (the inbox serialises writes)."""

    def __init__(
        self,
        inbox: Inbox,
        rules: RuleSet,
        validator: Validator,
        *,
        metrics: Metrics | None = None,
        on_stored: Callable[[], None] | None = None,
        gap_margin: float = 5.0,
    ) -> None:
        self.inbox = inbox
        self.rules = rules
        self.validator = validator
        self.metrics = metrics or Metrics()
        self.on_stored = on_stored or (lambda: None)
        self.gap_margin = gap_margin

    def frames(self, frames: list[bytes], now: float | None = None) -> Outcome:
        """A live message off the bus."""
        self.metrics.received.labels("bus").inc()
        checked = self.validator.frames(frames)
        if isinstance(checked, Rejected):
            return self._reject(checked, "bus")
        return self._accept(checked, "bus", now)

    def amqp(self, delivery: Delivery, now: float | None = None) -> Outcome:
        """A live message off the AMQP broker (the caller acks it once this returns: it is committed, or
        dead-lettered, or deliberately dropped; an exception means the inbox could not take it)."""
        self.metrics.received.labels("bus").inc()
        checked = check_amqp(self.validator, delivery, now)
        if isinstance(checked, Rejected):
            return self._reject(checked, "amqp")
        return self._accept(checked, "bus", now)

    def replayed(self, data: Any, now: float | None = None) -> Outcome:
        """An envelope from datagrepper (skipped cheaply when its msg_id is already in the inbox)."""
        self.metrics.received.labels("replay").inc()
        self.metrics.replayed.inc()
        msg_id = data.get("msg_id") if isinstance(data, dict) else None
        if isinstance(msg_id, str) and MSG_ID.match(msg_id) and self.inbox.known(msg_id):
            self.metrics.deduplicated.inc()
            return Outcome("duplicate", msg_id)
        checked = self.validator.envelope(data, from_datagrepper=True)
        if isinstance(checked, Rejected):
            return self._reject(checked, "replay")
        return self._accept(checked, "replay", now)

    def dead_letter(self, rejected: Rejected, source: str) -> Outcome:
        """Keep ``rejected`` as a dead letter (once per message and reason)."""
        return self._reject(rejected, source)

    def _reject(self, rejected: Rejected, source: str) -> Outcome:
        if self.inbox.reject(rejected, source=source):
            self.metrics.dead_lettered.labels("invalid").inc()
            log.warning(
                "dead-lettered invalid input",
                extra={"msg_id": rejected.msg_id, "topic": rejected.topic, "reason": rejected.reason, "source": source},
            )
            return Outcome("invalid", rejected.msg_id, reason=rejected.reason)
        return Outcome("invalid-again", rejected.msg_id, reason=rejected.reason)

    def _accept(self, envelope: Envelope, source: str, now: float | None) -> Outcome:
        routing = self.rules.route(view(envelope))
        stored = self.inbox.store(envelope, routing, source=source, now=now)
        gap = None
        if source == "bus":
            gap = gap_of(stored.previous_i, stored.previous_sent_at, envelope, self.gap_margin)
            if gap is not None:
                self.metrics.gaps.inc()
                log.warning(
                    "gap in a publisher's sequence",
                    extra={"publisher": gap.publisher, "missing": gap.missing, "msg_id": envelope.msg_id},
                )
        extra = {"msg_id": envelope.msg_id, "topic": envelope.topic, "source": source}
        if stored.outcome == "duplicate":
            self.metrics.deduplicated.inc()
            log.debug("duplicate", extra=extra)
            return Outcome("duplicate", envelope.msg_id, gap=gap)
        self._log_ignored(routing, extra)
        if stored.outcome == "unrouted":
            if routing.ignored:
                reasons = "; ".join(f"rule {i.rule}: {i.reason}" for i in routing.ignored)
                return Outcome("ignored", envelope.msg_id, gap=gap, reason=reasons)
            self.metrics.dropped.inc()
            log.debug("no rule for this message: dropped", extra=extra)
            return Outcome("unrouted", envelope.msg_id, gap=gap)
        self.on_stored()  # committed: wake the dispatcher first, then log (the log line is not on its path)
        self._log_routes(routing, extra)
        if routing.problems:
            self.metrics.dead_lettered.labels("route").inc(len(routing.problems))
            return Outcome("dead", envelope.msg_id, stored.seq, gap, "; ".join(routing.problems))
        return Outcome("stored", envelope.msg_id, stored.seq, gap)

    def _log_ignored(self, routing: Routing, extra: dict[str, Any]) -> None:
        """Counted and logged once per message (a duplicate is not judged again)."""
        for ignored in routing.ignored:
            self.metrics.ignored.labels(ignored.rule).inc()
            log.info("deliberately ignored", extra={**extra, "rule": ignored.rule, "reason": ignored.reason})

    @staticmethod
    def _log_routes(routing: Routing, extra: dict[str, Any]) -> None:
        for route in routing.routes:
            if route.dag_run_id is not None:
                log.info("stored", extra={**extra, "dag_id": route.dag_id, "dag_run_id": route.dag_run_id})
            else:
                log.info("stored in a batch", extra={**extra, "dag_id": route.dag_id, "batch_key": route.batch_key})
        for problem in routing.problems:
            log.warning("dead-lettered: a rule cannot route it", extra={**extra, "reason": problem})


def retry_dead_letter(ingestor: Ingestor, letter_id: int) -> str:
    """Give dead letter ``letter_id`` another go with the current rules and validation; say what happened.

    Invalid input is validated again (e.g. after a CA rotation or a larger size limit); a message a rule could
    not route is routed again; a run Airflow refused gets its conf rendered again and is queued again under
    the same dag_run_id. Idempotent: a dead letter already retried is left alone."""
    inbox = ingestor.inbox
    letter = inbox.dead_letter(letter_id)
    if letter is None:
        raise KeyError(f"no dead letter {letter_id}")
    if letter["state"] != "dead":
        return f"dead letter {letter_id} was already retried"
    if letter["kind"] == "invalid":
        return _retry_invalid(ingestor, letter)
    if letter["unit_id"] is not None:
        return _retry_unit(ingestor, letter)
    message = inbox.message(letter["seq"])
    if message is None:
        raise KeyError(f"dead letter {letter_id}: its message is no longer in the inbox")
    envelope = ingestor.validator.envelope(json.loads(message["envelope"]))
    if isinstance(envelope, Rejected):
        return f"dead letter {letter_id}: the stored message is now invalid: {envelope.reason}"
    routing = ingestor.rules.route(view(envelope))
    added = inbox.reroute(letter_id, letter["seq"], routing)
    ingestor.on_stored()
    if routing.problems:
        return f"dead letter {letter_id}: routed again, still failing: {'; '.join(routing.problems)}"
    ignored = "".join(f"; rule {i.rule} ignores it: {i.reason}" for i in routing.ignored)
    return f"dead letter {letter_id}: routed again, {added} new run(s) queued{ignored}"


def _retry_invalid(ingestor: Ingestor, letter: dict[str, Any]) -> str:
    raw: bytes = letter["raw"] or b""
    topic = letter["topic"]
    source = letter["source"] or "bus"
    if source == "amqp":
        try:
            checked = check_amqp(ingestor.validator, Delivery.from_raw(raw))
        except ValueError as exc:
            checked = Rejected(f"the kept delivery cannot be read ({exc})", raw)
    elif source == "bus" and topic is not None:
        checked = ingestor.validator.frames([topic.encode(), raw])
    else:
        try:
            checked = ingestor.validator.envelope(json.loads(raw), from_datagrepper=source == "replay")
        except ValueError as exc:
            checked = Rejected(f"the envelope is not JSON ({exc})", raw)
    if isinstance(checked, Rejected):
        return f"dead letter {letter['id']}: still invalid: {checked.reason}"
    ingestor.inbox.retire_dead_letter(letter["id"])
    outcome = ingestor._accept(checked, "retry", time.time())
    return f"dead letter {letter['id']}: valid now, {outcome.kind}"


def _retry_unit(ingestor: Ingestor, letter: dict[str, Any]) -> str:
    inbox, rules = ingestor.inbox, ingestor.rules
    unit = inbox.unit(letter["unit_id"])
    if unit is None:
        raise KeyError(f"dead letter {letter['id']}: its run is no longer in the inbox")
    try:
        if unit.batch_key is not None:
            items = inbox.batch_items(unit.id)
            assert unit.window_start is not None and unit.window_end is not None
            conf = rules.batch_conf(unit.rule, unit.batch_key, items, unit.window_start, unit.window_end)
            dag_id = rules.rule(unit.rule).dag_id
        else:
            (message,) = inbox.messages_of_unit(unit.id)
            envelope = ingestor.validator.envelope(json.loads(message["envelope"]))
            if isinstance(envelope, Rejected):
                return f"dead letter {letter['id']}: the stored message is now invalid: {envelope.reason}"
            routing = rules.route(view(envelope))
            mine = [r for r in routing.routes if r.rule == unit.rule]
            if not mine:
                reasons = "; ".join(routing.problems) or "no longer matches"
                return f"dead letter {letter['id']}: rule {unit.rule}: {reasons}; left dead"
            conf, dag_id = mine[0].conf or {}, mine[0].dag_id
    except Exception as exc:  # a template failing again: the letter stays dead, with the new reason shown
        return f"dead letter {letter['id']}: rule {unit.rule} still fails: {exc}"
    inbox.revive_unit(letter["id"], unit.id, dag_id, conf)
    ingestor.on_stored()
    return f"dead letter {letter['id']}: {dag_id} run {unit.dag_run_id} queued again"
