"""The shape a message body must have before any rule looks at it: the publishers' own schemas first.

* **Schema packages**: the JSON schemas of the message classes Bodhi (``bodhi-messages``) and Koji
  (``koji-fedoramessaging-messages``) publish with, fedora-messaging ``Message`` subclasses registered in the
  ``fedora.messages`` entry point group. A class names the topic without the bus's prefix
  (``bodhi.compose.composing``); on the fedmsg bus it arrives as ``<topic_prefix>.<environment>.<topic>``, so a
  topic is covered by the class whose ``topic`` is its longest dotted suffix. Where several versions of a class
  share a topic, a body any of them accepts passes.
* **Field checks** (the rules file's ``schemas:``), for topics no schema package covers (``bodhi.masher.start``
  of Bodhi 2, ResultsDB's and Taskotron's results): dotted paths and a type each.

A body its schema refuses is dead-lettered with the schema's reason. Pure but for reading the installed
packages' metadata once, at load; validators are immutable, so checking is thread-safe and idempotent.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from importlib.metadata import PackageNotFoundError, entry_points, version
from typing import Any

import jsonschema
from jsonschema.exceptions import best_match

ENTRY_POINT_GROUP = "fedora.messages"
DEFAULT_PACKAGES = ("bodhi-messages", "koji-fedoramessaging-messages")
FIELD_KINDS: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "list": (list,),
    "mapping": (dict,),
    "any": (object,),
}
_JSON_TYPES = {
    "string": "string",
    "integer": "integer",
    "number": "number",
    "boolean": "boolean",
    "list": "array",
    "mapping": "object",
}
REASON_MAX = 400


class SchemaPackageError(LookupError):
    """A schema package named by the rules is not installed, or one of its classes cannot be loaded."""


def _type_name(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), f"{'an' if type(value).__name__[0] in 'aeiou' else 'a'} {type(value).__name__}"
    )


def _article(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


def canonical_name(distribution: str) -> str:
    """A distribution's name as PyPI compares them (``koji_fedoramessaging_messages`` → ``koji-fedoramessaging-
    messages``)."""
    return re.sub(r"[-_.]+", "-", distribution).lower()


# --------------------------------------------------------------------------- the publishers' schemas


@dataclass(frozen=True)
class MessageClass:
    """One registered message class: its topic, its body schema and where it comes from."""

    topic: str
    name: str  # ComposeComposingV1
    package: str  # bodhi-messages 26.4.0
    body_schema: dict[str, Any] = field(repr=False)
    validator: Any = field(repr=False, compare=False)

    @classmethod
    def of(cls, message_class: type, package: str) -> MessageClass:
        schema = message_class.body_schema  # type: ignore[attr-defined]
        validator_class = jsonschema.validators.validator_for(schema)
        validator_class.check_schema(schema)
        return cls(message_class.topic, message_class.__name__, package, schema, validator_class(schema))  # type: ignore[attr-defined]

    def problem(self, body: Any) -> str | None:
        """Why this class's body schema refuses ``body`` (its most relevant error), or None."""
        error = best_match(self.validator.iter_errors(body))
        if error is None:
            return None
        where = _json_path(error.absolute_path)
        text = f"field {where!r}: {error.message}" if where else error.message
        return f"{self.name} ({self.package}) refuses the body: {text}"[:REASON_MAX]


def _json_path(path: Iterable[Any]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def load_message_classes(packages: Sequence[str]) -> dict[str, tuple[MessageClass, ...]]:
    """The message classes the ``packages`` register in ``fedora.messages``, by topic (the bus prefix left
    out). A package that is not installed, or a class that does not load, raises :class:`SchemaPackageError`."""
    wanted = {canonical_name(p): p for p in packages}
    versions = {}
    for name, given in wanted.items():
        try:
            versions[name] = version(given)
        except PackageNotFoundError:
            raise SchemaPackageError(f"schema package {given!r} is not installed") from None
    by_topic: dict[str, list[MessageClass]] = {}
    for point in entry_points(group=ENTRY_POINT_GROUP):
        owner = canonical_name(point.dist.name) if point.dist is not None else ""
        if owner not in wanted:
            continue
        try:
            loaded = point.load()
            one = MessageClass.of(loaded, f"{owner} {versions[owner]}")
        except Exception as exc:  # a broken package: say which class, refuse to start half-validated
            raise SchemaPackageError(f"{owner}: message class {point.name} does not load: {exc}") from None
        if one.topic:
            by_topic.setdefault(one.topic, []).append(one)
    return {topic: tuple(sorted(found, key=lambda c: c.name)) for topic, found in by_topic.items()}


# --------------------------------------------------------------------------- the rules file's field checks


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
            return self._kind_problem(where, value)
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

    def _kind_problem(self, where: str, value: Any) -> str | None:
        if value is None:
            return None if self.optional else f"field {where!r} is null"
        kinds = FIELD_KINDS[self.kind]
        if (isinstance(value, bool) and bool not in kinds and self.kind != "any") or not isinstance(value, kinds):
            return f"field {where!r} must be {_article(self.kind)}, not {_type_name(value)}"
        return None


@dataclass(frozen=True)
class FieldSchema:
    """The rules file's checks of the bodies of some topics (ResultsDB's result.new, Bodhi 2's masher.start)."""

    topics: tuple[str, ...]
    fields: tuple[FieldRule, ...]
    name: str = "the rules file's schemas"

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

    def json_schema(self) -> dict[str, Any]:
        """The same checks as a JSON schema (to generate bodies from, in the property tests). Every body this
        schema accepts passes :meth:`problem`."""
        root: dict[str, Any] = {"type": "object", "properties": {}, "required": []}
        for rule in self.fields:
            _add_to_schema(root, rule.path, rule)
        return _prune(root)


def _add_to_schema(node: dict[str, Any], path: tuple[str, ...], rule: FieldRule) -> None:
    """Merge one field rule into a JSON schema node (``_nullable`` marks nodes every rule lets be null)."""
    head, rest = path[0], path[1:]
    if head == "*":
        child = node.setdefault("items", {})
        nullable = rule.optional and not rest  # an item on the way to a field must be a mapping
    else:
        node["type"] = "object"
        child = node.setdefault("properties", {}).setdefault(head, {})
        nullable = rule.optional
        if not rule.optional and head not in node.setdefault("required", []):
            node["required"].append(head)
    child["_nullable"] = child.get("_nullable", True) and nullable
    if rest:
        child["type"] = "array" if rest[0] == "*" else "object"
        _add_to_schema(child, rest, rule)
    elif rule.kind != "any":
        child["type"] = _JSON_TYPES[rule.kind]


def _prune(node: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in node.items() if not k.startswith("_")}
    if node.get("_nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    if "properties" in out:
        out["properties"] = {k: _prune(v) for k, v in out["properties"].items()}
    if "items" in out:
        out["items"] = _prune(out["items"])
    if not out.get("required", True):
        del out["required"]
    return out


# --------------------------------------------------------------------------- both, by topic


@dataclass(frozen=True)
class BodySchemas:
    """Which schema judges a topic's bodies: the class of a schema package covering it, else a field schema of
    the rules file, else none (the rules alone decide)."""

    classes: dict[str, tuple[MessageClass, ...]] = field(default_factory=dict)
    fields: tuple[FieldSchema, ...] = ()
    packages: tuple[str, ...] = ()

    def classes_for(self, topic: str) -> tuple[MessageClass, ...]:
        """The message classes covering ``topic``: those whose topic is its longest dotted suffix."""
        parts = topic.split(".")
        for start in range(len(parts)):
            found = self.classes.get(".".join(parts[start:]))
            if found:
                return found
        return ()

    def covering_package(self, glob: str) -> MessageClass | None:
        """A message class whose topic a field schema's topic glob would match on the bus, if any."""
        for topic, found in self.classes.items():
            if fnmatchcase(f"org.fedoraproject.prod.{topic}", glob):
                return found[0]
        return None

    def describe(self, topic: str) -> str:
        """Which schema judges ``topic`` (for the route command)."""
        classes = self.classes_for(topic)
        if classes:
            return ", ".join(f"{c.name} ({c.package})" for c in classes)
        for schema in self.fields:
            if schema.applies(topic):
                return f"{schema.name} ({', '.join(schema.topics)})"
        return "none (no schema package or field check covers this topic)"

    def problem(self, topic: str, body: Any) -> str | None:
        """Why ``body`` breaks the schema of ``topic``, or None (also when no schema covers the topic)."""
        classes = self.classes_for(topic)
        if classes:
            problems = [c.problem(body) for c in classes]
            if any(p is None for p in problems):
                return None
            return "; ".join(p for p in problems if p)[:REASON_MAX]
        for schema in self.fields:
            if schema.applies(topic):
                problem = schema.problem(body)
                if problem:
                    return problem
        return None
