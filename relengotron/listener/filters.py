"""A rule's body filters (``match:``): dotted paths into a message body and what the value there must be.

``path → spec``: a glob (strings, and numbers as text), a number, a boolean, null, a list (any of), or a mapping
with one operator — ``regex`` (its named groups become the rule's ``groups``), ``glob``, ``not``, ``present``,
``in_set`` (a named set of the rules file), ``equals`` (same value and type). A list value in the body matches
when one of its items does. Pure; a filter never raises on a hostile body, it just does not match.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from relengotron.yamlfile import FileError

MATCH_OPERATORS = ("regex", "glob", "not", "present", "in_set", "equals")


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


@dataclass(frozen=True)
class Matcher:
    """One body filter: the value at ``path`` must satisfy ``test`` (any item, for a list)."""

    path: tuple[str, ...]
    test: Callable[[Any, dict[str, str]], bool]
    absent_ok: bool = False
    text: str = ""  # as written in the rules file: ``tag: rawhide-pending`` (for the route command)

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


def compile_spec(spec: Any, sets: Mapping[str, frozenset[str]], fail: Callable[[str], FileError]) -> tuple:
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
        parts = [compile_spec(s, sets, fail) for s in spec]
        return (lambda v, g: any(test(v, g) for test, _ in parts)), any(absent for _, absent in parts)
    if isinstance(spec, dict):
        if len(spec) != 1 or next(iter(spec)) not in MATCH_OPERATORS:
            raise fail(f"a filter mapping has exactly one of {', '.join(MATCH_OPERATORS)}")
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
            return compile_spec(str(arg), sets, fail)
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
        inner, inner_absent = compile_spec(arg, sets, fail)  # not
        return (lambda v, g: not inner(v, {})), not inner_absent
    raise fail(f"a filter must be a string, number, boolean, null, list or mapping, not {type(spec).__name__}")
