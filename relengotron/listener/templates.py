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

Besides Jinja's own, the filters ``nvr_name``, ``strip_suffix``, ``strip_prefix``, ``regex_replace``,
``strftime``, ``last_by``, ``build_nvr`` and the release helpers (:mod:`relengotron.listener.releases`); the tests
``nvr``, ``update_title``, ``push_id`` and ``list_of(test)`` — the shapes the DAGs' Params take, so that a rule
can ignore a message deliberately instead of triggering a run Airflow would refuse.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.sandbox import SandboxedEnvironment

from relengotron.listener import releases
from relengotron.names import NVR, NVR_BODY, WORD

_SINGLE_EXPRESSION = re.compile(r"^\s*\{\{(?P<expr>.*)\}\}\s*$", re.DOTALL)
# One update of a compose as Bodhi names it: its builds' NVRs joined by single spaces (the updates_push and
# masher_start DAGs' Params: relengotron.airflow.dag_defaults.BODHI_UPDATE).
UPDATE_TITLE = re.compile(rf"^{NVR_BODY}( {NVR_BODY})*$")


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


def build_nvr(body: Any) -> str | None:
    """``name-version-release`` of a Koji build body (``buildsys.tag``), or None when one of the three is missing
    or not a string — a rule then ignores the message instead of failing on it."""
    if not isinstance(body, Mapping):
        return None
    parts = [body.get(key) for key in ("name", "version", "release")]
    if not all(isinstance(part, str) for part in parts):
        return None
    return "-".join(parts)


def is_nvr(value: Any) -> bool:
    """An N-V-R as the DAGs' Params take it (``glibc-2.23.1-8.fc24``: no whitespace, no slash)."""
    return isinstance(value, str) and NVR.match(value) is not None


def is_update_title(value: Any) -> bool:
    """An update as Bodhi names it in a compose: its builds' NVRs joined by single spaces."""
    return isinstance(value, str) and UPDATE_TITLE.match(value) is not None


def is_push_id(value: Any) -> bool:
    """An id a DAG takes as ``push_id`` (a message id becomes one)."""
    return isinstance(value, str) and WORD.match(value) is not None


SHAPES = {"nvr": is_nvr, "update_title": is_update_title, "push_id": is_push_id}


def is_list_of(value: Any, shape: str) -> bool:
    """A JSON list (maybe empty) whose every item is of ``shape`` (``nvr``, ``update_title``, ``push_id``)."""
    if shape not in SHAPES:
        raise TemplateError(f"list_of: unknown shape {shape!r} (one of {', '.join(SHAPES)})")
    return isinstance(value, list) and all(SHAPES[shape](item) for item in value)


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
    build_nvr=lambda body: build_nvr(None if isinstance(body, jinja2.Undefined) else body),
    **releases.FILTERS,
)
ENV.tests.update(list_of=is_list_of, **SHAPES)


def filters_used(source: str, *, expression: bool = False) -> list[tuple[str, list[Any]]]:
    """Each filter a template (or a bare expression) applies, with its literal arguments (None where an
    argument is not a literal): lets a rule file be checked when loaded, not on the first message."""
    text = f"{{{{ ({source}) }}}}" if expression else source
    try:
        tree = ENV.parse(text)
    except jinja2.TemplateSyntaxError:
        return []
    used = []
    for node in tree.find_all(nodes.Filter):
        args = []
        for arg in node.args:
            try:
                args.append(arg.as_const())
            except nodes.Impossible:
                args.append(None)
        used.append((node.name, args))
    return used


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

    def sources(self) -> list[str]:
        """The template texts of this tree (for load-time checks)."""
        if self.kind in ("expr", "text"):
            return [self.value]
        if self.kind == "list":
            return [text for child in self.value for text in child.sources()]
        if self.kind == "map":
            return [text for child in self.value.values() for text in child.sources()]
        return []

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
