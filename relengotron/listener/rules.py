"""Routing rules: which bus messages become which DAG runs, with which conf. Pure: no I/O besides reading the
rules file (and the installed schema packages' metadata).

A rules file (YAML, errors name the file, the line, the rule and the reason)::

    schema_packages: [bodhi-messages, koji-fedoramessaging-messages]   # the default: see schemas.py
    sets:                      # named lists usable in filters (in_set) and templates (sets.NAME)
      packagers: [siddhesh, ralph]
    schemas:                   # field checks of topics no schema package covers: a breach is dead-lettered
      - topics: ["*.resultsdb.result.new"]
        fields: {outcome: string, testcase.name: string, data.item: "list?"}
    rules:
      - name: rawhide-pending          # part of every dag_run_id: [A-Za-z0-9_.+-]
        topics: ["*.buildsys.tag"]     # globs over the full topic
        match: {instance: primary}     # body filters: dotted path → glob | value | [any of] | {regex|glob|
                                       #   not|present|in_set|equals: ...}; a list value matches if any item does
        when: "msg.tag | release_of_tag('pending')"   # optional Jinja expression
        ignore:                        # optional: messages the rule deliberately leaves alone, and why
          - when: "msg | build_nvr is not nvr"
            reason: "no N-V-R the DAG takes: {{ msg.name | default('?') }}"
        dag_id: rawhide_gating
        conf: {release: "{{ msg.tag | release_of_tag('pending') }}", builds: ["{{ msg | build_nvr }}"]}
        batch:                         # optional: coalesce matching messages with the same key
          key: "{{ msg.tag }}"         #   (a template: string or mapping)
          item: "{{ msg.name }}"       #   one item per message; the conf then sees key, items, window_start…
          window_seconds: 60
          max_items: 1000              #   optional: a window holding this many distinct items closes early
                                       #   (the next distinct item opens a new one): a run the DAG's Params
                                       #   would refuse as too large is never made

A message is first checked against its topic's schema (:mod:`relengotron.listener.schemas`); a breach
dead-letters it. Then every rule whose topics, ``match`` and ``when`` accept it either ignores it (the first
``ignore`` clause that holds: counted and logged with its reason, nothing stored) or routes it (fan-out). A
single rule's ``dag_run_id`` is ``<rule>__<msg_id>`` (a replayed message gets the same id, so Airflow answers
409 and nothing runs twice); a batch's is ``<rule>__<key>__<window start>``, fixed when the window opens.
Templates see ``msg``, ``topic``, ``msg_id``, ``timestamp``, ``username``, ``groups``, ``sets`` and ``releases``
(the release configuration, through the release helpers of :mod:`relengotron.listener.releases`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from relengotron import yamlfile
from relengotron.config import ReleaseConfig
from relengotron.listener.filters import Matcher, compile_spec, parse_path
from relengotron.listener.releases import RELEASE_FILTERS, ReleaseHelperError, Releases, check_roles
from relengotron.listener.schemas import (
    DEFAULT_PACKAGES,
    FIELD_KINDS,
    BodySchemas,
    FieldRule,
    FieldSchema,
    SchemaPackageError,
    load_message_classes,
)
from relengotron.listener.templates import Condition, Node, TemplateError, compile_tree, filters_used
from relengotron.yamlfile import Fields

RULE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+\-]{0,63}$")
DAG_ID = re.compile(r"^[A-Za-z0-9_.\-]{1,200}$")  # Airflow's KEY_REGEX, bounded
RUN_ID = re.compile(r"^[A-Za-z0-9_.~:+\-]{1,250}$")  # Airflow's allowed_run_id_pattern


class RouteError(ValueError):
    """A message cannot be routed by a rule that applies to it (a template failed on its body)."""


# --------------------------------------------------------------------------- rules and routes


def _type_name(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), f"a {type(value).__name__}"
    )


@dataclass(frozen=True)
class Batch:
    key: Node
    item: Node
    window_seconds: float
    max_items: int | None = None  # distinct items a window holds at most


@dataclass(frozen=True)
class Ignore:
    """A clause of a rule's ``ignore``: when ``when`` holds, the rule leaves the message alone, saying why."""

    when: Condition
    reason: Node

    def because(self, variables: Mapping[str, Any]) -> str | None:
        """The reason, rendered, if this clause holds; a reason that fails to render is given as written."""
        if not self.when.holds(variables):
            return None
        try:
            text = str(self.reason.render(variables))
        except TemplateError:
            text = str(self.reason.value)
        return text[:500]


@dataclass(frozen=True)
class Rule:
    name: str
    topics: tuple[str, ...]
    matchers: tuple[Matcher, ...]
    when: Condition | None
    dag_id: str
    conf: Node
    batch: Batch | None
    line: int | None = None
    description: str = ""
    ignore: tuple[Ignore, ...] = ()

    def covers(self, topic: str) -> bool:
        return any(fnmatchcase(topic, glob) for glob in self.topics)

    def applies(self, topic: str, body: Any) -> dict[str, str] | None:
        """The regex groups captured if this rule's topic and filters accept the message, else None."""
        if not self.covers(topic):
            return None
        groups: dict[str, str] = {}
        for matcher in self.matchers:
            if not matcher.matches(body, groups):
                return None
        return groups

    def mismatch(self, body: Any) -> Matcher | None:
        """The first filter refusing ``body`` (for the route command), or None."""
        groups: dict[str, str] = {}
        for matcher in self.matchers:
            if not matcher.matches(body, groups):
                return matcher
        return None

    def ignored(self, variables: Mapping[str, Any]) -> str | None:
        """Why the rule deliberately leaves this message alone (its first ``ignore`` clause that holds), or None."""
        for clause in self.ignore:
            reason = clause.because(variables)
            if reason is not None:
                return reason
        return None


@dataclass(frozen=True)
class Route:
    """One delivery decided for a message: a DAG run of its own, or an item of a batch."""

    rule: str
    dag_id: str
    dag_run_id: str | None = None  # single rules
    conf: dict[str, Any] | None = None
    batch_key: str | None = None  # batch rules: the key as canonical JSON
    item: Any = None
    window_seconds: float | None = None
    max_items: int | None = None


@dataclass(frozen=True)
class Ignored:
    """A rule that accepted a message but deliberately leaves it alone, and why (counted and logged)."""

    rule: str
    reason: str


@dataclass(frozen=True)
class Routing:
    """What the rules make of one message. ``problems`` (schema breaches, failed templates) dead-letter it;
    ``ignored`` names the rules that deliberately leave it alone (nothing is stored for them)."""

    routes: tuple[Route, ...] = ()
    problems: tuple[str, ...] = ()
    ignored: tuple[Ignored, ...] = ()

    @property
    def unrouted(self) -> bool:
        """Nothing to store: no route and no problem (no rule wanted it, or every one that did ignored it)."""
        return not self.routes and not self.problems


@dataclass(frozen=True)
class MessageView:
    """What the rules see of a message (the validated envelope)."""

    topic: str
    body: Any
    msg_id: str
    timestamp: float = 0.0
    username: str | None = None


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def single_run_id(rule: str, msg_id: str) -> str:
    """The dag_run_id of a message routed by a single rule: the same message always gets the same id."""
    run_id = f"{rule}__{msg_id}"
    if not RUN_ID.match(run_id):
        raise RouteError(f"msg_id {msg_id!r} cannot be part of a dag_run_id")
    return run_id


def batch_run_id(rule: str, key_json: str, window_start: float) -> str:
    """``<rule>__<key slug>__<UTC window start, µs>``; a key that is not one plain word gets a digest suffix,
    so two keys never share an id."""
    key = json.loads(key_json)
    flat = "-".join(str(key[k]) for k in sorted(key)) if isinstance(key, dict) else str(key)
    slug = re.sub(r"[^A-Za-z0-9_.+\-]+", "-", flat).strip("-")[:80] or "key"
    if slug != flat or not isinstance(key, str):
        slug += "." + hashlib.sha1(key_json.encode()).hexdigest()[:8]
    stamp = datetime.fromtimestamp(window_start, UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    return f"{rule}__{slug}__{stamp}"


@dataclass
class RuleSet:
    rules: tuple[Rule, ...]
    schemas: BodySchemas = field(default_factory=BodySchemas)
    sets: dict[str, frozenset[str]] = field(default_factory=dict)
    path: str = "<rules>"
    releases: Releases | None = None

    def rule(self, name: str) -> Rule:
        for rule in self.rules:
            if rule.name == name:
                return rule
        raise KeyError(f"no rule named {name!r} in {self.path}")

    def _variables(self, message: MessageView, groups: Mapping[str, str]) -> dict[str, Any]:
        return {
            "msg": message.body,
            "topic": message.topic,
            "msg_id": message.msg_id,
            "timestamp": message.timestamp,
            "username": message.username,
            "groups": dict(groups),
            "sets": self.sets,
            "releases": self.releases,
        }

    def route(self, message: MessageView) -> Routing:
        """The routes of ``message`` (every rule that accepts it), the rules that deliberately ignore it, or why
        it is dead-lettered. A topic no rule listens on is dropped unjudged: its publisher's schema matters only
        to a message something is to be done with (a breach of it would be a dead letter nobody needs to read).
        Deterministic: the same message always gets the same answer."""
        if not any(rule.covers(message.topic) for rule in self.rules):
            return Routing()
        problem = self.schemas.problem(message.topic, message.body)
        if problem:
            return Routing(problems=(problem,))
        routes: list[Route] = []
        problems: list[str] = []
        ignored: list[Ignored] = []
        for rule in self.rules:
            try:
                groups = rule.applies(message.topic, message.body)
                if groups is None:
                    continue
                variables = self._variables(message, groups)
                if rule.when is not None and not rule.when.holds(variables):
                    continue
                reason = rule.ignored(variables)
                if reason is not None:
                    ignored.append(Ignored(rule.name, reason))
                    continue
                routes.append(self._route(rule, message, variables))
            except (TemplateError, RouteError) as exc:
                problems.append(f"rule {rule.name}: {exc}")
        return Routing(tuple(routes), tuple(problems), tuple(ignored))

    def _route(self, rule: Rule, message: MessageView, variables: dict[str, Any]) -> Route:
        if rule.batch is None:
            conf = rule.conf.render(variables)
            if not isinstance(conf, dict):
                raise RouteError(f"conf must render to a mapping, not {_type_name(conf)}")
            return Route(rule.name, rule.dag_id, dag_run_id=single_run_id(rule.name, message.msg_id), conf=conf)
        key = rule.batch.key.render(variables)
        if not _valid_key(key):
            raise RouteError(f"batch.key must render to a non-empty string or a mapping of them, not {key!r}")
        item = rule.batch.item.render(variables)
        return Route(
            rule.name,
            rule.dag_id,
            batch_key=canonical(key),
            item=item,
            window_seconds=rule.batch.window_seconds,
            max_items=rule.batch.max_items,
        )

    def batch_conf(
        self, rule_name: str, key_json: str, items: list[Any], window_start: float, window_end: float
    ) -> dict[str, Any]:
        """The conf of a closed batch; raises KeyError (rule gone) or TemplateError/RouteError."""
        rule = self.rule(rule_name)
        variables = {
            "key": json.loads(key_json),
            "items": items,
            "count": len(items),
            "window_start": window_start,
            "window_end": window_end,
            "sets": self.sets,
            "releases": self.releases,
        }
        conf = rule.conf.render(variables)
        if not isinstance(conf, dict):
            raise RouteError(f"conf must render to a mapping, not {_type_name(conf)}")
        return conf


def _valid_key(key: Any) -> bool:
    if isinstance(key, str):
        return bool(key.strip())
    if isinstance(key, int) and not isinstance(key, bool):
        return True
    if isinstance(key, dict):
        return bool(key) and all(isinstance(v, str | int) and not isinstance(v, bool) and str(v) for v in key.values())
    return False


# --------------------------------------------------------------------------- loading


def load_rules(path: str | Path, releases: ReleaseConfig | None = None) -> RuleSet:
    """Read and validate a rules file; any problem raises :class:`FileError` naming the file, line, rule, reason.
    ``releases`` is the release configuration the rules' release helpers read: a rules file using them without
    one is refused here, not on its first message."""
    data = yamlfile.load(path)
    top = Fields(path, data if data is not None else {}, "")
    packages = tuple(top.strings("schema_packages", list(DEFAULT_PACKAGES)))
    try:
        classes = load_message_classes(packages)
    except SchemaPackageError as exc:
        raise top.error("schema_packages", str(exc)) from None
    covered = BodySchemas(classes, packages=packages)
    sets = _load_sets(top)
    fields = tuple(_load_schema(entry, covered) for _i, entry in top.items("schemas", []))
    rules: list[Rule] = []
    seen: dict[str, int] = {}
    for index, entry in top.items("rules"):
        rule = _load_rule(entry, index, sets)
        if rule.name in seen:
            raise entry.error("name", f"duplicate rule name {rule.name!r} (first at rules[{seen[rule.name]}])")
        _check_release_helpers(entry, rule, releases)
        seen[rule.name] = index
        rules.append(rule)
    top.done()
    if not rules:
        raise top.error("rules", "no rules: the listener would route nothing")
    schemas = BodySchemas(classes, fields, packages)
    return RuleSet(tuple(rules), schemas, sets, str(path), Releases(releases) if releases is not None else None)


def _check_release_helpers(entry: Fields, rule: Rule, releases: ReleaseConfig | None) -> None:
    """A rule using a release helper needs a release configuration, and the roles it names must exist."""
    texts = [(rule.when.source, True)] if rule.when is not None else []
    for clause in rule.ignore:
        texts.append((clause.when.source, True))
        texts.extend((text, False) for text in clause.reason.sources())
    texts.extend((text, False) for text in rule.conf.sources())
    if rule.batch is not None:
        texts.extend((text, False) for text in rule.batch.key.sources() + rule.batch.item.sources())
    for text, expression in texts:
        for name, args in filters_used(text, expression=expression):
            if name not in RELEASE_FILTERS:
                continue
            if releases is None:
                raise entry.error(
                    "name",
                    f"rule {rule.name} uses {name}, but no release configuration is given "
                    "(release_config in the listener's config)",
                )
            roles = args[-1:] if name in ("release_of_tag", "tag_of") and args else []
            for role in roles:
                try:
                    check_roles(role)
                except ReleaseHelperError as exc:
                    raise entry.error("name", f"rule {rule.name}: {name}: {exc}") from None


def _load_sets(top: Fields) -> dict[str, frozenset[str]]:
    block = top.mapping("sets", None)
    if block is None:
        return {}
    out = {}
    for name in list(block.map):
        if not RULE_NAME.match(str(name)):
            raise block.error(name, "a set name is a word ([A-Za-z0-9_.+-])")
        out[str(name)] = frozenset(block.strings(name))
    block.done()
    return out


def _topics(entry: Fields) -> tuple[str, ...]:
    topics = entry.strings("topics")
    for n, topic in enumerate(topics):
        if any(c.isspace() for c in topic):
            raise entry.item_error("topics", n, "a topic glob has no whitespace")
    if not topics:
        raise entry.error("topics", "must list at least one topic glob")
    return tuple(topics)


def _load_schema(entry: Fields, covered: BodySchemas) -> FieldSchema:
    topics = _topics(entry)
    for n, glob in enumerate(topics):
        owner = covered.covering_package(glob)
        if owner is not None:
            raise entry.item_error(
                "topics", n, f"{glob!r} is covered by {owner.name} ({owner.package}): its schema is used, not fields"
            )
    block = entry.mapping("fields")
    assert block is not None
    fields = []
    for key in list(block.map):
        kind_text = block.text(key)
        optional = kind_text.endswith("?")
        kind = kind_text.rstrip("?")
        if kind not in FIELD_KINDS:
            known = ", ".join(FIELD_KINDS)
            raise block.error(key, f"unknown field type {kind_text!r} (one of {known}; '?' for optional)")
        try:
            path = parse_path(str(key))
        except ValueError as exc:
            raise block.error(key, str(exc)) from None
        fields.append(FieldRule(path, kind, optional))
    block.done()
    entry.done()
    return FieldSchema(topics, tuple(fields))


def _load_rule(entry: Fields, index: int, sets: Mapping[str, frozenset[str]]) -> Rule:
    name = entry.text("name")
    if not RULE_NAME.match(name):
        raise entry.error("name", f"rule name {name!r} must match {RULE_NAME.pattern} (it is part of dag_run_ids)")
    fields = Fields(entry.path, entry.map, f"rules.{name}", entry.line)
    fields.text("name")
    description = fields.get("description", str, "")
    topics = _topics(fields)
    matchers = _load_matchers(fields, sets)
    when_text = fields.text("when", None)
    when = None
    if when_text is not None:
        try:
            when = Condition.compile(when_text, f"rules.{name}.when")
        except TemplateError as exc:
            raise fields.error("when", str(exc)) from None
    dag_id = fields.text("dag_id")
    if not DAG_ID.match(dag_id):
        raise fields.error("dag_id", f"{dag_id!r} is not a DAG id")
    conf_value = fields.get("conf", dict)
    conf = _compile(fields, "conf", conf_value, f"rules.{name}.conf")
    batch = _load_batch(fields, name)
    ignore = tuple(_load_ignore(clause, name, n) for n, clause in fields.items("ignore", []))
    fields.done()
    return Rule(name, topics, matchers, when, dag_id, conf, batch, entry.line, description, ignore)


def _load_ignore(clause: Fields, name: str, index: int) -> Ignore:
    where = f"rules.{name}.ignore[{index}]"
    try:
        when = Condition.compile(clause.text("when"), f"{where}.when")
    except TemplateError as exc:
        raise clause.error("when", str(exc)) from None
    reason = _compile(clause, "reason", clause.text("reason"), f"{where}.reason")
    clause.done()
    return Ignore(when, reason)


def _compile(fields: Fields, key: str, value: Any, where: str) -> Node:
    try:
        return compile_tree(value, where)
    except TemplateError as exc:
        raise fields.error(key, str(exc)) from None


def _load_matchers(fields: Fields, sets: Mapping[str, frozenset[str]]) -> tuple[Matcher, ...]:
    block = fields.mapping("match", None)
    if block is None:
        return ()
    matchers = []
    for key in list(block.map):
        try:
            path = parse_path(str(key))
        except ValueError as exc:
            raise block.error(key, str(exc)) from None
        spec = block.map[key]
        test, absent_ok = compile_spec(spec, sets, lambda message, k=key: block.error(k, message))
        matchers.append(Matcher(path, test, absent_ok, f"{key}: {json.dumps(spec)}"))
    return tuple(matchers)


def _load_batch(fields: Fields, name: str) -> Batch | None:
    block = fields.mapping("batch", None)
    if block is None:
        return None
    window = block.get("window_seconds", float)
    if not 0 < window <= 7 * 86400:
        raise block.error("window_seconds", "must be more than 0 and at most a week")
    key = _compile(block, "key", block.get("key", (str, dict)), f"rules.{name}.batch.key")
    if key.is_literal():
        raise block.error("key", "must be a template over the message (a literal key would batch everything)")
    item = _compile(block, "item", block.get("item", (str, dict, list)), f"rules.{name}.batch.item")
    max_items = block.get("max_items", int, None)
    if max_items is not None and (isinstance(max_items, bool) or max_items < 1):
        raise block.error("max_items", "must be a whole number of at least 1")
    block.done()
    return Batch(key, item, float(window), max_items)
