"""YAML files whose errors name the file, the line and the key.

Configuration written by people (the release configuration, world files, listener rules) is validated when
loaded; a person fixing it needs to be told *where*. PyYAML throws line numbers away once it has built plain
dicts, so this loader keeps them: mappings become :class:`Node` dicts that remember the line of each key.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")

_MISSING = object()


class FileError(ValueError):
    """A human-written file is wrong; the message names the file, the line and the key."""

    def __init__(self, path: str | Path, line: int | None, key: str | None, message: str) -> None:
        self.path = str(path)
        self.line = line
        self.key = key
        self.reason = message
        where = self.path if line is None else f"{self.path}:{line}"
        what = f" {key}:" if key else ""
        super().__init__(f"{where}:{what} {message}")


class Node(dict):
    """A YAML mapping that remembers where it and each of its keys were written (1-based lines)."""

    line: int = 0
    key_lines: dict[str, int]
    tag: str | None = None  # an application tag (``!Policy`` → "Policy"), only from :func:`load_all`


class Seq(list):
    """A YAML sequence that remembers its line and the line of each item."""

    line: int = 0
    item_lines: list[int]


class _Loader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> Node:
    loader.flatten_mapping(node)
    out = Node()
    out.line = node.start_mark.line + 1
    out.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            key = str(key)
        if key in out:
            raise FileError(loader.name, key_node.start_mark.line + 1, key, "duplicate key")
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[key] = key_node.start_mark.line + 1
    return out


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> Seq:
    out = Seq(loader.construct_object(child, deep=True) for child in node.value)
    out.line = node.start_mark.line + 1
    out.item_lines = [child.start_mark.line + 1 for child in node.value]
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def load(path: str | Path) -> Any:
    """Parse ``path``; syntax errors and duplicate keys become :class:`FileError`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise FileError(path, None, None, f"cannot read: {exc.strerror}") from exc
    loader = _Loader(text)
    loader.name = str(path)
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise FileError(path, line, None, f"not valid YAML: {exc.problem}") from exc
    finally:
        loader.dispose()


class _TaggedLoader(_Loader):
    """Also accepts application tags (``--- !Policy``, ``!PassingTestCaseRule {...}``) on mappings."""


def _construct_tagged(loader: _TaggedLoader, suffix: str, node: yaml.Node) -> Node:
    if not isinstance(node, yaml.MappingNode):
        raise FileError(loader.name, node.start_mark.line + 1, None, f"tag !{suffix} must be on a mapping")
    out = _construct_mapping(loader, node)
    out.tag = suffix
    return out


_TaggedLoader.add_multi_constructor("!", _construct_tagged)


def load_all(path: str | Path) -> list[Any]:
    """Parse every document of ``path`` (Greenwave-style policy files); a tagged mapping keeps its tag."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise FileError(path, None, None, f"cannot read: {exc.strerror}") from exc
    loader = _TaggedLoader(text)
    loader.name = str(path)
    try:
        docs = []
        while loader.check_data():
            docs.append(loader.get_data())
        return docs
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise FileError(path, line, None, f"not valid YAML: {exc.problem}") from exc
    finally:
        loader.dispose()


class Fields:
    """Typed, strict access to one mapping of a file: unknown keys and wrong types are errors.

    ``prefix`` is the dotted path of the mapping (``releases.f24``) so that a message names the item.
    """

    def __init__(self, path: str | Path, value: Any, prefix: str, line: int | None = None) -> None:
        self.path = str(path)
        self.prefix = prefix
        if not isinstance(value, dict):
            raise FileError(self.path, getattr(value, "line", line), prefix, "must be a mapping")
        self.map: dict = value
        self.line = getattr(value, "line", line)
        self._seen: set[str] = set()

    def key_path(self, key: str) -> str:
        return f"{self.prefix}.{key}" if self.prefix else key

    def line_of(self, key: str) -> int | None:
        lines = getattr(self.map, "key_lines", {})
        return lines.get(key, self.line)

    def error(self, key: str | None, message: str) -> FileError:
        if key is None:
            return FileError(self.path, self.line, self.prefix or None, message)
        return FileError(self.path, self.line_of(key), self.key_path(key), message)

    def item_error(self, key: str, index: int, message: str) -> FileError:
        """An error about item ``index`` of the list ``key``, at that item's own line."""
        line = _item_line(self.map.get(key) or [], index, self.line_of(key))
        return FileError(self.path, line, f"{self.key_path(key)}[{index}]", message)

    def get(self, key: str, kind: type[T] | tuple[type, ...], default: Any = _MISSING) -> T:
        """The value of ``key``, which must be of ``kind``; absent → ``default`` or a 'missing' error."""
        self._seen.add(key)
        if key not in self.map or self.map[key] is None:
            if default is _MISSING:
                raise self.error(None, f"missing required key '{key}'")
            return default
        value = self.map[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if bool not in kinds and isinstance(value, bool):
            raise self.error(key, f"must be {_names(kinds)}, not a boolean")
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            return value  # type: ignore[return-value]
        if not isinstance(value, kinds):
            raise self.error(key, f"must be {_names(kinds)}, not {type(value).__name__}")
        return value  # type: ignore[return-value]

    def text(self, key: str, default: Any = _MISSING) -> str:
        """A string; numbers written bare in YAML (``version: 24``) are accepted as their text."""
        self._seen.add(key)
        value = self.map.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        result = self.get(key, str, default)
        if isinstance(result, str) and not result.strip():
            raise self.error(key, "must not be empty")
        return result

    def strings(self, key: str, default: Any = _MISSING) -> list[str]:
        """A list of non-empty strings."""
        items = self.get(key, list, default)
        if items is default:
            return items
        out = []
        for index, item in enumerate(items):
            if isinstance(item, int | float) and not isinstance(item, bool):
                item = str(item)
            if not isinstance(item, str) or not item.strip():
                raise self.item_error(key, index, "must be a non-empty string")
            out.append(item)
        return out

    def choice(self, key: str, choices: tuple[str, ...], default: Any = _MISSING) -> str:
        value = self.text(key, default)
        if value not in choices:
            raise self.error(key, f"must be one of {', '.join(choices)}, not {value!r}")
        return value

    def items(self, key: str, default: Any = _MISSING) -> Iterator[tuple[int, Fields]]:
        """Each mapping of the list ``key``, wrapped, with its index."""
        items = self.get(key, list, default)
        for index, item in enumerate(items or []):
            line = _item_line(items, index, self.line_of(key))
            yield index, Fields(self.path, item, f"{self.key_path(key)}[{index}]", line)

    def mapping(self, key: str, default: Any = _MISSING) -> Fields | None:
        value = self.get(key, dict, default)
        if value is None or value is default:
            return None if value is None else value
        return Fields(self.path, value, self.key_path(key), self.line_of(key))

    def check(self, key: str, ok: Callable[[Any], bool], message: str) -> None:
        if key in self.map and not ok(self.map[key]):
            raise self.error(key, message)

    def done(self) -> None:
        """Reject keys nobody asked for: a misspelt key must not be silently ignored."""
        unknown = [k for k in self.map if k not in self._seen]
        if unknown:
            raise self.error(unknown[0], f"unknown key '{unknown[0]}'")


def _item_line(items: list, index: int, fallback: int | None) -> int | None:
    lines = getattr(items, "item_lines", None)
    if lines and index < len(lines):
        return lines[index]
    return fallback


def _names(kinds: tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "a boolean", list: "a list"}
    names[dict] = "a mapping"
    return " or ".join(names.get(k, k.__name__) for k in kinds)
