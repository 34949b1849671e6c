"""Templates over a message: the conf a rule builds, a batch's key and items, a rule's ``when`` condition.

Jinja, as in Airflow's own templates, but sandboxed (a rule file is configuration, a message is hostile data)
and strict: a field the message lacks is an error naming the template, never an empty string sent to Airflow.
In a template tree (a YAML value):

* a string that is exactly one ``{{ expression }}`` keeps the expression's type — ``"{{ items }}"`` is a
  list, ``"{{ msg.build_id }}"`` an integer;
* any other string containing ``{{`` or ``{%`` is rendered to a string;
* every other value (numbers, booleans, null, plain strings) is literal; lists and mappings are walked.

A message's mappings are read by key first: ``msg.update`` is the Bodhi body's ``update`` field, not the
``dict.update`` method. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

_SINGLE_EXPRESSION = re.compile(r"^\s*\{\{(?P<expr>.*)\}\}\s*$", re.DOTALL)


class TemplateError(ValueError):
    """A template cannot be compiled or rendered; the message names where (``conf.builds[0]``)."""


def nvr_name(nvr: Any) -> str:
    """The package name of an N-V-R (``glibc-2.23.1-8.fc24`` → ``glibc``)."""
    if not isinstance(nvr, str) or nvr.count("-") < 2:
        raise TemplateError(f"not an N-V-R: {nvr!r}")
    name, version, release = nvr.rsplit("-", 2)
    if not (name and version and release):
        raise TemplateError(f"not an N-V-R: {nvr!r}")
    return name


def strip_suffix(text: Any, suffix: str) -> str:
    """``text`` without ``suffix``; an error if it does not end with it (a rule must not guess)."""
    if not isinstance(text, str) or not text.endswith(suffix) or text == suffix:
        raise TemplateError(f"{text!r} does not end with {suffix!r}")
    return text[: -len(suffix)]


def strip_prefix(text: Any, prefix: str) -> str:
    """``text`` without ``prefix``; an error if it does not start with it."""
    if not isinstance(text, str) or not text.startswith(prefix) or text == prefix:
        raise TemplateError(f"{text!r} does not start with {prefix!r}")
    return text[len(prefix) :]


def regex_replace(text: Any, pattern: str, replacement: str) -> str:
    return re.sub(pattern, replacement, str(text))


def strftime(epoch: Any, fmt: str) -> str:
    """An epoch (seconds) formatted in UTC."""
    return datetime.fromtimestamp(float(epoch), UTC).strftime(fmt)


def last_by(items: Any, attribute: str) -> list[Any]:
    """One item per value of ``attribute`` — the last one given (an update edited within a batch window
    counts as it was last) — in the order the values first appeared."""
    latest: dict[Any, Any] = {}
    for item in items:
        if not isinstance(item, Mapping) or attribute not in item:
            raise TemplateError(f"last_by({attribute!r}): item without {attribute!r}: {item!r}"[:300])
        latest[item[attribute]] = item
    return list(latest.values())


class _Environment(SandboxedEnvironment):
    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, Mapping):
            if attribute in obj:
                return obj[attribute]
            return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)


ENV = _Environment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=False)
ENV.filters.update(
    nvr_name=nvr_name,
    strip_suffix=strip_suffix,
    strip_prefix=strip_prefix,
    regex_replace=regex_replace,
    strftime=strftime,
    last_by=last_by,
)

_RENDER_ERRORS = (
    jinja2.TemplateError,
    TemplateError,
    TypeError,
    ValueError,
    KeyError,
    IndexError,
    AttributeError,
    ArithmeticError,
    RecursionError,
)


def _plain(value: Any, where: str) -> Any:
    """A rendered value as JSON data: iterators (``map(...)`` without ``| list``) and tuples become lists."""
    if isinstance(value, jinja2.Undefined):
        try:
            str(value)
        except jinja2.UndefinedError as exc:
            raise TemplateError(f"{where}: {exc}") from None
        raise TemplateError(f"{where}: undefined")
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, Iterable) and not isinstance(value, bytes | bytearray):
        return [_plain(v, f"{where}[{n}]") for n, v in enumerate(value)]
    raise TemplateError(f"{where}: a {type(value).__name__} is not JSON data")


@dataclass(frozen=True)
class Node:
    """A compiled template tree; :meth:`render` gives JSON data or raises :class:`TemplateError`."""

    kind: str  # literal | expr | text | list | map
    where: str
    value: Any = None
    compiled: Any = None

    def render(self, variables: Mapping[str, Any]) -> Any:
        if self.kind == "literal":
            return self.value
        if self.kind == "list":
            return [child.render(variables) for child in self.value]
        if self.kind == "map":
            return {key: child.render(variables) for key, child in self.value.items()}
        try:
            if self.kind == "expr":
                return _plain(self.compiled(**variables), self.where)
            return self.compiled.render(**variables)
        except TemplateError as exc:
            text = str(exc)
            raise TemplateError(text if text.startswith(self.where) else f"{self.where}: {text}") from None
        except _RENDER_ERRORS as exc:
            raise TemplateError(f"{self.where}: {exc}") from None

    def is_literal(self) -> bool:
        return self.kind == "literal" or (
            self.kind in ("list", "map")
            and all(c.is_literal() for c in (self.value if self.kind == "list" else self.value.values()))
        )


def compile_tree(value: Any, where: str) -> Node:
    """Compile a YAML value into a template tree; syntax errors raise :class:`TemplateError` naming ``where``."""
    if isinstance(value, Mapping):
        return Node("map", where, {str(k): compile_tree(v, f"{where}.{k}") for k, v in value.items()})
    if isinstance(value, list):
        return Node("list", where, [compile_tree(v, f"{where}[{n}]") for n, v in enumerate(value)])
    if isinstance(value, str) and ("{{" in value or "{%" in value):
        single = _SINGLE_EXPRESSION.match(value)
        try:
            if single and "}}" not in single.group("expr") and "{{" not in single.group("expr"):
                expression = ENV.compile_expression(single.group("expr").strip(), undefined_to_none=False)
                return Node("expr", where, value, expression)
            return Node("text", where, value, ENV.from_string(value))
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(f"{where}: template syntax error: {exc.message}") from None
    return Node("literal", where, value)


@dataclass(frozen=True)
class Condition:
    """A bare Jinja expression (``msg.outcome in ['PASSED', 'INFO']``) deciding whether a rule applies."""

    source: str
    where: str
    compiled: Any

    @classmethod
    def compile(cls, source: str, where: str) -> Condition:
        try:
            return cls(source, where, ENV.compile_expression(source, undefined_to_none=False))
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(f"{where}: expression syntax error: {exc.message}") from None

    def holds(self, variables: Mapping[str, Any]) -> bool:
        try:
            result = self.compiled(**variables)
            if isinstance(result, jinja2.Undefined):
                _plain(result, self.where)
            return bool(result)
        except TemplateError as exc:
            raise TemplateError(str(exc)) from None
        except _RENDER_ERRORS as exc:
            raise TemplateError(f"{self.where}: {exc}") from None
