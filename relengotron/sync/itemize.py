"""Read rsync's ``--itemize-changes`` output into typed changes, and group them into a plan. Pure.

Each line is ``YXcstpoguax NAME`` (``NAME -> TARGET`` for a symlink) or ``*deleting   NAME``; directories
end with "/". Y: ``>``/``<`` a file is transferred, ``c`` something is created locally (directory, link),
``h`` a hard link, ``.`` only attributes change, ``*`` a message. X: ``f`` file, ``d`` directory, ``L``
symlink, ``D`` device, ``S`` special file. Attribute flags are all ``+`` for a new item.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from relengotron.sync.classify import Kind, PathClass

Action = Literal["create", "update", "delete", "attrs"]
FileType = Literal["file", "dir", "link", "other"]
_TYPES: dict[str, FileType] = {"f": "file", "d": "dir", "L": "link"}


@dataclass(frozen=True)
class Change:
    path: str  # relative, '/'-separated, without a trailing '/'
    action: Action
    file_type: FileType
    target: str | None = None  # a symlink's target


@dataclass(frozen=True)
class PlannedChange:
    change: Change
    path_class: PathClass  # which pass makes it ("delete" changes happen in the final delete pass)


@dataclass(frozen=True)
class SyncPlan:
    """What a sync would change on the mirror, in the order the passes would change it."""

    changes: tuple[PlannedChange, ...]

    def of(self, path_class: PathClass) -> tuple[Change, ...]:
        return tuple(p.change for p in self.changes if p.path_class == path_class and p.change.action != "delete")

    @property
    def deletions(self) -> tuple[Change, ...]:
        return tuple(p.change for p in self.changes if p.change.action == "delete")

    @property
    def empty(self) -> bool:
        """True when nothing but directory attributes would change."""
        return all(p.change.action == "attrs" for p in self.changes)

    def lines(self) -> list[str]:
        """Human-readable: one line per change, e.g. ``content  create  updates/24/x86_64/a.rpm``."""
        out = []
        for planned in self.changes:
            change = planned.change
            label = "delete" if change.action == "delete" else planned.path_class
            target = f" -> {change.target}" if change.target else ""
            out.append(f"{label:<8} {change.action:<6} {change.path}{target}")
        return out


def parse_itemized(text: str, prefix: str = "") -> list[Change]:
    """Changes from rsync ``-i`` output; ``prefix`` is joined in front of every name. Unknown lines are ignored."""
    changes: list[Change] = []
    for line in text.splitlines():
        if len(line) < 13 or line[11] != " ":
            continue
        code, name = line[:11], line[12:]
        if code.startswith("*deleting"):
            file_type: FileType = "dir" if name.endswith("/") else "file"
            path = _join(prefix, name)
            if path:
                changes.append(Change(path=path, action="delete", file_type=file_type))
            continue
        if code[0] not in "<>ch." or code[1] not in "fdLDS":
            continue
        file_type = _TYPES.get(code[1], "other")
        target = None
        if file_type == "link" and " -> " in name:
            name, target = name.split(" -> ", 1)
        path = _join(prefix, name)
        if not path:
            continue
        if code[2:] == "+" * 9:
            action: Action = "create"
        elif code[0] in "<>" or (code[0] == "c" and file_type == "link"):
            action = "update"
        else:
            action = "attrs"
        changes.append(Change(path=path, action=action, file_type=file_type, target=target))
    return changes


def plan(changes: Iterable[Change], classify: Callable[[str, Kind], PathClass]) -> SyncPlan:
    """Order changes as the sync makes them: content, metadata, index, links, then deletions last.

    ``classify(path, kind)`` gives each path's class (directories are content); skipped paths are left out.
    """
    order = {"content": 0, "metadata": 1, "index": 2, "link": 3, "skip": 4}
    planned: list[PlannedChange] = []
    for change in changes:
        kind: Kind = "dir" if change.file_type == "dir" else "link" if change.file_type == "link" else "file"
        path_class = classify(change.path, kind)
        if path_class == "skip":
            continue
        planned.append(PlannedChange(change=change, path_class=path_class))
    planned.sort(key=lambda p: (p.change.action == "delete", order[p.path_class], p.change.path))
    return SyncPlan(changes=tuple(planned))


def _join(prefix: str, name: str) -> str:
    name = name.rstrip("/")
    if name in ("", "."):
        return prefix.strip("/")
    return f"{prefix.strip('/')}/{name}" if prefix.strip("/") else name


_FILES = re.compile(r"^Number of files: ([\d,]+)(?: \((.*)\))?")
_DIRS = re.compile(r"\bdir: ([\d,]+)")


def examined(text: str) -> int:
    """How many files and symlinks (not directories) rsync's ``--stats`` says it considered; 0 without stats.

    ``Number of files: 11,140 (reg: 9,344, dir: 1,796)``: the total less the directories.
    """
    for line in text.splitlines():
        found = _FILES.match(line)
        if found:
            dirs = _DIRS.search(found.group(2) or "")
            return int(found.group(1).replace(",", "")) - (int(dirs.group(1).replace(",", "")) if dirs else 0)
    return 0
