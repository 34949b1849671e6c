"""What the rules make of one message, and why — on-call's "why didn't this message trigger anything?".

``relengotron listener route --message FILE`` reads a fedmsg envelope (as the bus or datagrepper gives it) or a
bare body (with ``--topic``), judges it exactly as the listener would — the envelope's validation, the topic's
schema, every rule — and says which rule sends it to which DAG with which run id and conf; or that no rule wants
it (dropped); or which rule ignores it on purpose and why; or why it would be dead-lettered. The verdict is the
listener's own (:meth:`RuleSet.route`); the per-rule details (which filter refused it) are added for the reader.
Touches neither the inbox nor Airflow; idempotent.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

from relengotron.listener.filters import values_at
from relengotron.listener.rules import Ignored, MessageView, Route, Routing, RuleSet, batch_run_id
from relengotron.listener.templates import TemplateError
from relengotron.listener.validate import Rejected, Validator

# Exit codes of ``route``: a script tells the outcomes apart (1 and 2 are click's: a bad file or usage).
EXIT_CODES = {"routed": 0, "dropped": 3, "ignored": 4, "dead-lettered": 5}


class MessageFileError(ValueError):
    """The file is neither a fedmsg envelope nor (with a topic) a body."""


@dataclass(frozen=True)
class RuleVerdict:
    """What one rule listening to the message's topic made of it."""

    rule: str
    dag_id: str
    verdict: str  # routed | ignored | not matched | failed
    detail: str = ""
    route: Route | None = None
    conf: dict[str, Any] | None = None  # a batch's conf if its window held only this message
    dag_run_id: str | None = None


@dataclass
class Explanation:
    topic: str | None
    msg_id: str | None
    schema: str = ""
    invalid: str | None = None  # the envelope itself is refused (dead-lettered as invalid input)
    routing: Routing | None = None
    verdicts: list[RuleVerdict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def outcome(self) -> str:
        """dead-lettered | routed | ignored | dropped — in that order of precedence (a message a rule failed on
        is dead-lettered even if another rule routes it)."""
        if self.invalid is not None or (self.routing is not None and self.routing.problems):
            return "dead-lettered"
        assert self.routing is not None
        if self.routing.routes:
            return "routed"
        return "ignored" if self.routing.ignored else "dropped"

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.outcome]


def envelope_of(data: Any, *, topic: str | None, msg_id: str | None, now: float | None = None) -> Any:
    """The envelope to judge: ``data`` itself, the one message of a datagrepper page, or a bare body wrapped in
    an envelope for ``topic`` (its msg_id given, or derived from the body so that the run id is stable)."""
    if topic is not None:
        text = json.dumps(data, sort_keys=True, default=str)
        return {
            "topic": topic,
            "msg": data,
            "msg_id": msg_id or "route-" + hashlib.sha256(text.encode()).hexdigest()[:16],
            "timestamp": time.time() if now is None else now,
        }
    if isinstance(data, dict) and isinstance(data.get("raw_messages"), list):
        if len(data["raw_messages"]) != 1:
            raise MessageFileError(f"a datagrepper page of {len(data['raw_messages'])} messages: give one")
        data = data["raw_messages"][0]
    if isinstance(data, dict) and "topic" not in data and "msg" not in data:
        raise MessageFileError("not a fedmsg envelope (no topic, no msg): for a bare body give --topic")
    if msg_id is not None and isinstance(data, dict):
        data = {**data, "msg_id": msg_id}
    return data


def explain(
    rules: RuleSet, validator: Validator, data: Any, *, bare: bool = False, now: float | None = None
) -> Explanation:
    """Judge one envelope (already parsed) as the listener would, with the details of every rule listening to
    its topic."""
    now = time.time() if now is None else now
    checked = validator.envelope(data, from_datagrepper=not bare)
    if isinstance(checked, Rejected):
        return Explanation(checked.topic, checked.msg_id, invalid=checked.reason)
    message = MessageView(checked.topic, checked.body, checked.msg_id, checked.timestamp, checked.username)
    found = Explanation(message.topic, message.msg_id, schema=rules.schemas.describe(message.topic))
    if bare:
        found.notes.append("a bare body: its envelope was made up here (msg_id, timestamp); no signature checked")
    found.routing = rules.route(message)
    if rules.schemas.problem(message.topic, message.body):
        return found  # no rule looks at a body its schema refuses
    routes = {route.rule: route for route in found.routing.routes}
    ignored: dict[str, Ignored] = {i.rule: i for i in found.routing.ignored}
    problems = {p.split(":", 1)[0].removeprefix("rule "): p for p in found.routing.problems}
    for rule in rules.rules:
        if not rule.covers(message.topic):
            continue
        if rule.name in routes:
            found.verdicts.append(_routed(rules, routes[rule.name], now))
        elif rule.name in ignored:
            found.verdicts.append(RuleVerdict(rule.name, rule.dag_id, "ignored", ignored[rule.name].reason))
        elif rule.name in problems:
            found.verdicts.append(RuleVerdict(rule.name, rule.dag_id, "failed", problems[rule.name]))
        else:
            found.verdicts.append(RuleVerdict(rule.name, rule.dag_id, "not matched", _why_not(rule, message)))
    return found


def _routed(rules: RuleSet, route: Route, now: float) -> RuleVerdict:
    if route.batch_key is None:
        return RuleVerdict(
            route.rule, route.dag_id, "routed", route=route, conf=route.conf, dag_run_id=route.dag_run_id
        )
    window = route.window_seconds or 0.0
    detail = (
        f"joins the batch {route.batch_key} (a {window:g} s window; its run id is fixed when the window opens); "
        "the conf if the window held only this message:"
    )
    try:
        conf = rules.batch_conf(route.rule, route.batch_key, [route.item], now, now + window)
    except (TemplateError, ValueError, KeyError) as exc:
        return RuleVerdict(route.rule, route.dag_id, "failed", f"the batch's conf cannot be made: {exc}", route)
    run_id = batch_run_id(route.rule, route.batch_key, now)
    return RuleVerdict(route.rule, route.dag_id, "routed", detail, route, conf, run_id)


def _why_not(rule: Any, message: MessageView) -> str:
    mismatch = rule.mismatch(message.body)
    if mismatch is not None:
        seen = [value for _where, value in values_at(message.body, mismatch.path)]
        shown = json.dumps(seen[0] if len(seen) == 1 else seen, default=str)[:200] if seen else "(absent)"
        return f"its filter `{mismatch.text}` refuses the body (found: {shown})"
    if rule.when is not None:
        return f"its `when: {rule.when.source}` does not hold"
    return "it does not accept the body"


def as_json(found: Explanation) -> dict[str, Any]:
    """The explanation as JSON data (``route --json``)."""
    routing = found.routing or Routing()
    return {
        "outcome": found.outcome,
        "exit_code": found.exit_code,
        "topic": found.topic,
        "msg_id": found.msg_id,
        "schema": found.schema,
        "invalid": found.invalid,
        "problems": list(routing.problems),
        "ignored": [{"rule": i.rule, "reason": i.reason} for i in routing.ignored],
        "rules": [
            {
                "rule": v.rule,
                "dag_id": v.dag_id,
                "verdict": v.verdict,
                "detail": v.detail,
                "dag_run_id": v.dag_run_id,
                "batch_key": v.route.batch_key if v.route else None,
                "conf": v.conf,
            }
            for v in found.verdicts
        ],
        "notes": found.notes,
    }


def as_text(found: Explanation) -> str:
    """The explanation for a person: one paragraph per rule, the outcome last."""
    lines = [f"message {found.msg_id or '(no usable msg_id)'} on {found.topic or '(no usable topic)'}"]
    lines.extend(f"note: {note}" for note in found.notes)
    if found.invalid is not None:
        lines.append(f"invalid: {found.invalid}")
        lines.append("outcome: dead-lettered (invalid input: no rule looks at it)")
        return "\n".join(lines)
    lines.append(f"schema: {found.schema}")
    routing = found.routing or Routing()
    if not found.verdicts and not routing.problems:
        lines.append("rules: none listens to this topic")
    for verdict in found.verdicts:
        lines.append(f"rule {verdict.rule} → {verdict.dag_id}: {verdict.verdict}" + (":" if verdict.detail else ""))
        if verdict.detail:
            lines.append(f"  {verdict.detail}")
        if verdict.dag_run_id:
            lines.append(f"  dag_run_id: {verdict.dag_run_id}")
        if verdict.conf is not None:
            lines.append("  conf: " + json.dumps(verdict.conf, indent=2, sort_keys=True).replace("\n", "\n  "))
    for problem in routing.problems:
        if not any(v.verdict == "failed" and v.detail == problem for v in found.verdicts):
            lines.append(f"problem: {problem}")
    outcome = found.outcome
    explained = {
        "routed": f"routed ({len(routing.routes)} route(s))",
        "dropped": "dropped (no rule wants it: counted in relengotron_listener_dropped_total, nothing stored)",
        "ignored": "ignored on purpose (counted in relengotron_listener_ignored_total{rule}, logged, nothing stored)",
        "dead-lettered": "dead-lettered (see `relengotron listener status`; fix, then retry-dead-letter)",
    }[outcome]
    lines.append(f"outcome: {explained}")
    return "\n".join(lines)
