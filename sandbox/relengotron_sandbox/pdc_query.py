"""PDC's query-string rules: filters, paging, ordering and field selection.

These are the rules Django REST framework and PDC's filter classes apply, reproduced so that clients written
against the real PDC (pdc-client, or plain requests) see the same answers: unknown query parameters are a
400 naming them, a bad boolean or integer is a 400 naming the filter, a page out of range is DRF's 404
"Invalid page.", ``page_size`` <= 0 turns paging off (a plain JSON list), and a page has exactly the keys
count/next/previous/results with ``next``/``previous`` as absolute URLs. Pure functions over JSON-like
records; no I/O.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from relengotron_sandbox.rpmdeps import evrcmp
from relengotron_sandbox.web import HTTPError

PAGE_SIZE = 20  # PDC's REST_API_PAGE_SIZE
MAX_PAGE_SIZE = 100  # PDC's REST_API_MAX_PAGE_SIZE: larger page_size values are cut to this
COMMON_PARAMS = ("page", "page_size", "ordering", "fields", "exclude_fields")

# Filter kinds, named after the PDC filter classes they reproduce.
MULTI = "multi"  # MultiValueFilter: exact match, repeated values are OR-ed
MULTI_CI = "multi_ci"  # MultiValueCaseInsensitiveFilter
BOOL = "bool"  # CaseInsensitiveBooleanFilter: true/t/1, false/f/0 in any case
INT = "int"  # MultiIntFilter
CHAR = "char"  # CharFilter: one exact value
NULLABLE = "nullable"  # NullableCharFilter: "null"/"None" match a missing value
REGEX = "regex"  # MultiValueRegexFilter: regular-expression search, OR-ed
DEP = "dep"  # RPM dependency filter: "name [op version]"
PRESENT = "present"  # has_base_product-style: "True" keeps records with a value, "False" those without

TRUE_STRINGS = ("true", "t", "1")
FALSE_STRINGS = ("false", "f", "0")
NULL_STRINGS = ("Null", "NULL", "null", "None")
_DEP = re.compile(r"^(?P<name>[^ <>=]+)( *(?P<op>=|>=|<=|<|>) *(?P<version>[^ <>=]+))?$")

Query = dict[str, list[str]]


@dataclass(frozen=True)
class Filter:
    """One query filter: its kind and how to read the compared value(s) from a stored record."""

    kind: str
    get: Callable[[dict[str, Any]], Any]  # a value, or a list of values (any may match)
    check: Callable[[str], None] | None = None  # validates each given value (raises HTTPError)


def field(*path: str) -> Callable[[dict[str, Any]], Any]:
    """A getter for ``record[path[0]][path[1]]...`` (None when a step is missing)."""

    def get(record: dict[str, Any]) -> Any:
        value: Any = record
        for step in path:
            if not isinstance(value, dict):
                return None
            value = value.get(step)
        return value

    return get


def check_params(query: Query, filters: Iterable[str], extra: Iterable[str] = ()) -> None:
    """Reject query parameters the resource does not know, as PDC's StrictQueryParamMixin does."""
    allowed = set(filters) | set(COMMON_PARAMS) | set(extra)
    unknown = sorted(set(query) - allowed)
    if unknown:
        raise HTTPError(400, f"Unknown query params: {', '.join(unknown)}.")


def parse_bool(name: str, value: str) -> bool:
    """PDC's boolean filter value; a 400 naming the filter otherwise."""
    if value.lower() in TRUE_STRINGS:
        return True
    if value.lower() in FALSE_STRINGS:
        return False
    raise HTTPError(400, f"Value [{value}] of {name} is not a boolean")


def parse_int(name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise HTTPError(400, f"Value [{value}] of {name} is not an integer") from None


def parse_dep_query(name: str, value: str) -> tuple[str, str | None, str | None]:
    """``name [op version]`` as PDC's dependency filters read it."""
    match = _DEP.match(value)
    if not match:
        raise HTTPError(400, f"Unrecognized value for filter for {name}")
    return match["name"], match["op"], match["version"]


def dep_matches(op: str, version: str, dep_op: str | None, dep_version: str) -> bool:
    """Does a dependency ``name dep_op dep_version`` overlap the queried ``op version``? (PDC's predicate)."""
    cmp = evrcmp(dep_version, version)  # <0: the dependency's version is lower than the queried one
    if op == "=":
        return {
            "=": cmp == 0,
            "<": cmp > 0,
            ">": cmp < 0,
            "<=": cmp >= 0,
            ">=": cmp <= 0,
        }.get(dep_op or "=", False)
    if op == ">":
        return ">" in (dep_op or "") or cmp > 0
    if op == "<":
        return "<" in (dep_op or "") or cmp < 0
    if op == ">=":
        return dep_matches(">", version, dep_op, dep_version) or dep_matches("=", version, dep_op, dep_version)
    return dep_matches("<", version, dep_op, dep_version) or dep_matches("=", version, dep_op, dep_version)


def _values(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _predicate(name: str, flt: Filter, given: list[str]) -> Callable[[dict[str, Any]], bool] | None:
    """The test one filter applies to each record, or None when the filter is to be ignored."""
    last = given[-1] if given else ""
    if flt.check is not None:
        for value in given:
            if value != "":
                flt.check(value)
    if flt.kind == MULTI:
        wanted = set(given)
        return lambda r: any(v in wanted for v in _values(flt.get(r)))
    if flt.kind == MULTI_CI:
        wanted_ci = {v.casefold() for v in given}
        return lambda r: any(isinstance(v, str) and v.casefold() in wanted_ci for v in _values(flt.get(r)))
    if flt.kind == INT:
        numbers = {parse_int(name, v) for v in given if v != ""}
        if not numbers:
            return None
        return lambda r: any(v in numbers for v in _values(flt.get(r)))
    if flt.kind == REGEX:
        patterns = []
        for text in given:
            try:
                patterns.append(re.compile(text))
            except re.error:
                raise HTTPError(400, f"At least one parameter is invalid regular expression: {text}") from None
        return lambda r: any(isinstance(v, str) and p.search(v) for p in patterns for v in _values(flt.get(r)))
    if last == "":  # single-valued filters ignore an empty value
        return None
    if flt.kind == BOOL:
        flag = parse_bool(name, last)
        return lambda r: bool(flt.get(r)) is flag
    if flt.kind == CHAR:
        return lambda r: last in _values(flt.get(r))
    if flt.kind == NULLABLE:
        if last in NULL_STRINGS:
            return lambda r: flt.get(r) is None
        return lambda r: last in _values(flt.get(r))
    if flt.kind == PRESENT:
        if last not in ("True", "False"):
            return None
        return lambda r: (flt.get(r) is not None) is (last == "True")
    if flt.kind == DEP:
        dep_name, op, version = parse_dep_query(name, last)
        return lambda r: _deps_match(_values(flt.get(r)), dep_name, op, version)
    raise ValueError(f"unknown filter kind {flt.kind!r}")


def _deps_match(deps: list[Any], name: str, op: str | None, version: str | None) -> bool:
    found = False
    for text in deps:
        match = _DEP.match(text) if isinstance(text, str) else None
        if not match or match["name"] != name:
            continue
        found = True
        if op and version and match["version"] and not dep_matches(op, version, match["op"], match["version"]):
            return False
    return found


def apply_filters(records: Sequence[dict[str, Any]], filters: dict[str, Filter], query: Query) -> list[dict[str, Any]]:
    """Keep the records every given filter accepts (values of one filter are OR-ed, filters AND-ed)."""
    out = list(records)
    for name, flt in filters.items():
        if name not in query:
            continue
        predicate = _predicate(name, flt, query[name])
        if predicate is not None:
            out = [r for r in out if predicate(r)]
    return out


def page_size(query: Query) -> int | None:
    """DRF/PDC page size: default 20, cut to 100, None (no paging) for a value <= 0; junk means default."""
    try:
        size = int(query["page_size"][-1])
    except (KeyError, IndexError, ValueError):
        return PAGE_SIZE
    if size <= 0:
        return None
    return min(size, MAX_PAGE_SIZE)


def page_url(base: str, query: Query, page: int | None) -> str:
    """``base`` with ``query``'s parameters (sorted, as DRF writes them) and ``page`` set or removed."""
    params = {k: v for k, v in query.items() if k != "page"}
    if page is not None:
        params["page"] = [str(page)]
    text = urlencode(sorted(params.items()), doseq=True)
    return f"{base}?{text}" if text else base


def paginate(items: list[Any], query: Query, base: str) -> list[Any] | dict[str, Any]:
    """One page of ``items`` as DRF's PageNumberPagination answers, or all of them when paging is off."""
    size = page_size(query)
    if size is None:
        return items
    pages = max(1, math.ceil(len(items) / size))
    raw = query.get("page", ["1"])[-1]
    if raw == "last":
        number = pages
    else:
        try:
            number = int(raw)
        except ValueError:
            raise HTTPError(404, "Invalid page.") from None
    if number < 1 or number > pages:
        raise HTTPError(404, "Invalid page.")
    if number == 1:
        previous = None
    elif number == 2:
        previous = page_url(base, query, None)
    else:
        previous = page_url(base, query, number - 1)
    return {
        "count": len(items),
        "next": page_url(base, query, number + 1) if number < pages else None,
        "previous": previous,
        "results": items[(number - 1) * size : number * size],
    }


def _split(values: list[str]) -> list[str]:
    return [part for value in values for part in value.split(",") if part]


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (2, "")
    if isinstance(value, bool | int | float):
        return (0, value)
    if isinstance(value, str):
        return (1, value)
    return (1, json.dumps(value, sort_keys=True))


def order(records: list[dict[str, Any]], query: Query, field_names: Sequence[str]) -> list[dict[str, Any]]:
    """Sort by ``ordering=key,-key,...``; keys may reach into nested objects with ``__``."""
    keys = _split(query.get("ordering", []))
    if not keys:
        return records
    plain = [k.lstrip("-") for k in keys if "__" not in k]
    unknown = [k for k in plain if k not in field_names]
    if unknown:
        raise HTTPError(400, f"Unknown query key: {unknown} not in fields: {list(field_names)}")
    out = list(records)
    for key in reversed(keys):
        getter = field(*key.lstrip("-").split("__"))
        out.sort(key=lambda r, g=getter: _sort_key(g(r)), reverse=key.startswith("-"))
    return out


def select_fields(records: list[dict[str, Any]], query: Query, field_names: Sequence[str]) -> list[dict[str, Any]]:
    """Apply ``fields`` / ``exclude_fields`` (each repeatable and comma-separated), validating the names."""
    chosen = set(_split(query.get("fields", [])))
    excluded = set(_split(query.get("exclude_fields", [])))
    for param, names in (("fields", chosen), ("exclude_fields", excluded)):
        unknown = sorted(names - set(field_names))
        if unknown:
            raise HTTPError(400, f'Unknown fields in "{param}" filter: {", ".join(unknown)}')
    if not chosen and not excluded:
        return records
    keep = [f for f in field_names if (not chosen or f in chosen) and f not in excluded]
    return [{k: r[k] for k in keep if k in r} for r in records]
