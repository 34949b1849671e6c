"""Routing rules: which bus messages become which DAG runs, with which conf. Pure: no I/O besides reading the file.

A rules file (YAML, errors name the file, the line, the rule and the reason)::

    sets:                      # named lists usable in filters (in_set) and templates (sets.NAME)
      ostree_packages: [glibc, kernel]
    schemas:                   # the body shape of known topics: a message breaking it is dead-lettered
      - topics: ["*.buildsys.tag"]
        fields: {tag: string, name: string, build_id: integer, owner: "string?"}
    rules:
      - name: rawhide-pending          # part of every dag_run_id: [A-Za-z0-9_.+-]
        topics: ["*.buildsys.tag"]     # globs over the full topic
        match: {tag: rawhide-pending}  # body filters: dotted path → glob | value | [any of] | {regex|glob|
                                       #   not|present|in_set|equals: ...}; a list value matches if any item does
        when: "msg.owner != 'bot'"     # optional Jinja expression
        dag_id: rawhide_gating
        conf: {release: rawhide, builds: ["{{ msg.name }}-{{ msg.version }}-{{ msg.release }}"]}
        batch:                         # optional: coalesce matching messages with the same key
          key: "{{ msg.tag }}"         #   (a template: string or mapping)
          item: "{{ msg.name }}"       #   one item per message; the conf then sees key, items, window_start…
          window_seconds: 60
          max_items: 1000              #   optional: a window holding this many distinct items closes early
                                       #   (the next distinct item opens a new one): a run the DAG's Params
                                       #   would refuse as too large is never made

Every rule that matches a message routes it (fan-out). A single rule's ``dag_run_id`` is ``<rule>__<msg_id>``
(a replayed message gets the same id, so Airflow answers 409 and nothing runs twice); a batch's is
``<rule>__<key>__<window start>``, fixed when the window opens.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from relengotron import yamlfile
from relengotron.listener.templates import Condition, Node, TemplateError, compile_tree
from relengotron.yamlfile import Fields, FileError

RULE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+\-]{0,63}$")
DAG_ID = re.compile(r"^[A-Za-z0-9_.\-]{1,200}$")  # Airflow's KEY_REGEX, bounded
RUN_ID = re.compile(r"^[A-Za-z0-9_.~:+\-]{1,250}$")  # Airflow's allowed_run_id_pattern
FIELD_KINDS: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "list": (list,),
    "mapping": (dict,),
    "any": (object,),
}
_MATCH_OPERATORS = ("regex", "glob", "not", "present", "in_set", "equals")


class RouteError(ValueError):
    """A message cannot be routed by a rule that applies to it (a template failed on its body)."""


# --------------------------------------------------------------------------- paths into a message body


def parse_path(text: str) -> tuple[str, ...]:
    """``update.builds.*.nvr`` → ("update", "builds", "*", "nvr")."""
    parts = tuple(text.split("."))
    if not text or any(not p for p in parts):
        raise ValueError(f"not a dotted path: {text!r}")
    return parts


def values_at(obj: Any, path: Sequence[str]) -> list[tuple[str, Any]]:
    """Every (where, value) the path reaches: ``*`` walks a list's items, a number indexes a list."""
    found: list[tuple[str, Any]] = [("", obj)]
    for part in path:
        step: list[tuple[str, Any]] = []
        for where, value in found:
            if isinstance(value, dict):
                if part in value:
                    step.append((f"{where}.{part}" if where else part, value[part]))
            elif isinstance(value, list):
                if part == "*":
                    step.extend((f"{where}[{n}]", item) for n, item in enumerate(value))
                elif part.isdigit() and int(part) < len(value):
                    step.append((f"{where}[{part}]", value[int(part)]))
        found = step
    return found


# --------------------------------------------------------------------------- schemas


@dataclass(frozen=True)
class FieldRule:
    path: tuple[str, ...]
    kind: str
    optional: bool

    def problem(self, body: Any) -> str | None:
        """Why ``body`` breaks this field rule, or None."""
        return self._check(body, self.path, "")

    def _check(self, value: Any, path: tuple[str, ...], where: str) -> str | None:
        if not path:
            return _kind_problem(where, value, self)
        head, rest = path[0], path[1:]
        if head == "*":
            if not isinstance(value, list):
                return f"field {where!r} must be a list, not {_type_name(value)}"
            for n, item in enumerate(value):
                problem = self._check(item, rest, f"{where}[{n}]")
                if problem:
                    return problem
            return None
        if not isinstance(value, dict):
            return f"field {where!r} must be a mapping, not {_type_name(value)}"
        here = f"{where}.{head}" if where else head
        if value.get(head) is None and rest:
            return None if self.optional else f"field {here!r} is missing"
        if head not in value:
            return None if self.optional else f"field {here!r} is missing"
        return self._check(value[head], rest, here)


def _kind_problem(where: str, value: Any, rule: FieldRule) -> str | None:
    if value is None:
        return None if rule.optional else f"field {where!r} is null"
    kinds = FIELD_KINDS[rule.kind]
    if (isinstance(value, bool) and bool not in kinds and rule.kind != "any") or not isinstance(value, kinds):
        return f"field {where!r} must be {_article(rule.kind)}, not {_type_name(value)}"
    return None


def _article(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


def _type_name(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), f"{'an' if type(value).__name__[0] in 'aeiou' else 'a'} {type(value).__name__}"
    )


@dataclass(frozen=True)
class Schema:
    """The shape of the bodies of some topics (Koji's buildsys.tag, Bodhi's update.request.*...)."""

    topics: tuple[str, ...]
    fields: tuple[FieldRule, ...]

    def applies(self, topic: str) -> bool:
        return any(fnmatchcase(topic, glob) for glob in self.topics)

    def problem(self, body: Any) -> str | None:
        if not isinstance(body, dict):
            return f"body must be a mapping, not {_type_name(body)}"
        for rule in self.fields:
            problem = rule.problem(body)
            if problem:
                return problem
        return None


# --------------------------------------------------------------------------- filters


@dataclass(frozen=True)
class Matcher:
    """One body filter: the value at ``path`` must satisfy ``test`` (any item, for a list)."""

    path: tuple[str, ...]
    test: Callable[[Any, dict[str, str]], bool]
    absent_ok: bool = False

    def matches(self, body: Any, groups: dict[str, str]) -> bool:
        found = values_at(body, self.path)
        if not found:
            return self.absent_ok
        for _where, value in found:
            candidates = value if isinstance(value, list) else [value]
            if any(self.test(candidate, groups) for candidate in candidates):
                return True
        return False


def _scalar_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def _compile_spec(spec: Any, sets: Mapping[str, frozenset[str]], fail: Callable[[str], FileError]) -> tuple:
    """(test, absent_ok) for one filter spec."""
    if isinstance(spec, str):
        return (lambda v, _g: (t := _scalar_text(v)) is not None and fnmatchcase(t, spec)), False
    if spec is None:
        return (lambda v, _g: v is None), True
    if isinstance(spec, bool):
        return (lambda v, _g: isinstance(v, bool) and v == spec), False
    if isinstance(spec, int | float):
        return (lambda v, _g: not isinstance(v, bool) and isinstance(v, int | float) and v == spec), False
    if isinstance(spec, list):
        if not spec:
            raise fail("an empty list matches nothing")
        parts = [_compile_spec(s, sets, fail) for s in spec]
        return (lambda v, g: any(test(v, g) for test, _ in parts)), any(absent for _, absent in parts)
    if isinstance(spec, dict):
        if len(spec) != 1 or next(iter(spec)) not in _MATCH_OPERATORS:
            raise fail(f"a filter mapping has exactly one of {', '.join(_MATCH_OPERATORS)}")
        op, arg = next(iter(spec.items()))
        if op == "regex":
            try:
                pattern = re.compile(str(arg))
            except re.error as exc:
                raise fail(f"bad regex {arg!r}: {exc}") from None

            def regex_test(v: Any, groups: dict[str, str]) -> bool:
                text = _scalar_text(v)
                found = pattern.fullmatch(text) if text is not None else None
                if found:
                    groups.update({k: val for k, val in found.groupdict().items() if val is not None})
                return found is not None

            return regex_test, False
        if op == "glob":
            return _compile_spec(str(arg), sets, fail)
        if op == "equals":
            return (lambda v, _g: v == arg and type(v) is type(arg)), arg is None
        if op == "present":
            if not isinstance(arg, bool):
                raise fail("present takes true or false")
            return (lambda _v, _g: arg), not arg
        if op == "in_set":
            if arg not in sets:
                raise fail(f"unknown set {arg!r} (defined: {', '.join(sorted(sets)) or 'none'})")
            members = sets[arg]
            return (lambda v, _g: (t := _scalar_text(v)) is not None and t in members), False
        inner, inner_absent = _compile_spec(arg, sets, fail)  # not
        return (lambda v, g: not inner(v, {})), not inner_absent
    raise fail(f"a filter must be a string, number, boolean, null, list or mapping, not {type(spec).__name__}")


# --------------------------------------------------------------------------- rules and routes


@dataclass(frozen=True)
class Batch:
    key: Node
    item: Node
    window_seconds: float
    max_items: int | None = None  # distinct items a window holds at most


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

    def applies(self, topic: str, body: Any) -> dict[str, str] | None:
        """The regex groups captured if this rule's topic and filters accept the message, else None."""
        if not any(fnmatchcase(topic, glob) for glob in self.topics):
            return None
        groups: dict[str, str] = {}
        for matcher in self.matchers:
            if not matcher.matches(body, groups):
                return None
        return groups


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
class Routing:
    """What the rules make of one message. ``problems`` (schema breaches, failed templates) dead-letter it."""

    routes: tuple[Route, ...] = ()
    problems: tuple[str, ...] = ()

    @property
    def unrouted(self) -> bool:
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
    schemas: tuple[Schema, ...] = ()
    sets: dict[str, frozenset[str]] = field(default_factory=dict)
    path: str = "<rules>"

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
        }

    def route(self, message: MessageView) -> Routing:
        """The routes of ``message`` (every rule that accepts it), or why it is dead-lettered."""
        for schema in self.schemas:
            if schema.applies(message.topic):
                problem = schema.problem(message.body)
                if problem:
                    return Routing(problems=(problem,))
        routes: list[Route] = []
        problems: list[str] = []
        for rule in self.rules:
            try:
                groups = rule.applies(message.topic, message.body)
                if groups is None:
                    continue
                variables = self._variables(message, groups)
                if rule.when is not None and not rule.when.holds(variables):
                    continue
                routes.append(self._route(rule, message, variables))
            except (TemplateError, RouteError) as exc:
                problems.append(f"rule {rule.name}: {exc}")
        return Routing(tuple(routes), tuple(problems))

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


def load_rules(path: str | Path) -> RuleSet:
    """Read and validate a rules file; any problem raises :class:`FileError` naming the file, line, rule, reason."""
    data = yamlfile.load(path)
    top = Fields(path, data if data is not None else {}, "")
    sets = _load_sets(top)
    schemas = tuple(_load_schema(entry) for _i, entry in top.items("schemas", []))
    rules: list[Rule] = []
    seen: dict[str, int] = {}
    for index, entry in top.items("rules"):
        rule = _load_rule(entry, index, sets)
        if rule.name in seen:
            raise entry.error("name", f"duplicate rule name {rule.name!r} (first at rules[{seen[rule.name]}])")
        seen[rule.name] = index
        rules.append(rule)
    top.done()
    if not rules:
        raise top.error("rules", "no rules: the listener would route nothing")
    return RuleSet(tuple(rules), schemas, sets, str(path))


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


def _load_schema(entry: Fields) -> Schema:
    topics = _topics(entry)
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
    return Schema(topics, tuple(fields))


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
    fields.done()
    return Rule(name, topics, matchers, when, dag_id, conf, batch, entry.line, description)


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
        test, absent_ok = _compile_spec(block.map[key], sets, lambda message, k=key: block.error(k, message))
        matchers.append(Matcher(path, test, absent_ok))
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
