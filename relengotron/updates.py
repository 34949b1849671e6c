"""The updates of a push as Bodhi describes them, checked: each update's alias, builds, type, severity, bugs,
texts and dates (the ``updates_push`` DAG conf's ``updates``). Pure: plain data in, plain data out.

A bad update is an :class:`UpdateError` naming the update (its alias, or its position) and the field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from relengotron.names import NVR, WORD

UPDATE_TYPES = ("bugfix", "security", "enhancement", "newpackage")
# Bodhi's severities and dnf's (--sec-severity) names for them; updateinfo carries dnf's.
SEVERITIES = {
    "unspecified": "None",
    "none": "None",
    "low": "Low",
    "medium": "Moderate",
    "moderate": "Moderate",
    "high": "Important",
    "important": "Important",
    "urgent": "Critical",
    "critical": "Critical",
}
UPDATE_FIELDS = ("alias", "builds", "type", "severity", "bugs", "title", "notes", "issued", "updated", "status")
# Bodhi's update statuses; a push reads the status an update has before it (where its builds are tagged).
STATUSES = ("pending", "testing", "stable", "unpushed", "obsolete")
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


class UpdateError(ValueError):
    """An update of a push is wrong; ``item`` names the update, the message the field."""

    def __init__(self, item: str, message: str) -> None:
        self.item = item
        self.reason = message
        super().__init__(f"{item}: {message}")


@dataclass(frozen=True, order=True)
class Bug:
    id: int
    title: str = ""


@dataclass(frozen=True)
class Update:
    """One update of a push, as Bodhi describes it (:class:`relengotron.adapters.bodhi.BodhiUpdate`)."""

    alias: str  # FEDORA-2016-1a2b3c4d5e
    builds: tuple[str, ...]  # NVRs, sorted
    type: str  # bugfix | security | enhancement | newpackage
    severity: str  # dnf's name: None | Low | Moderate | Important | Critical
    bugs: tuple[Bug, ...]  # sorted by number
    title: str  # defaults to the NVRs joined by spaces
    notes: str
    issued: datetime | None = None  # None: the push's date
    updated: datetime | None = None  # None: the issued date
    status: str = "pending"  # Bodhi's status before the push: where the builds are tagged

    def as_dict(self) -> dict[str, Any]:
        """A JSON-able form of what the updates repository says of it (for digests and records; the status
        before the push is not part of it)."""
        return {
            "alias": self.alias,
            "builds": list(self.builds),
            "type": self.type,
            "severity": self.severity,
            "bugs": [[b.id, b.title] for b in self.bugs],
            "title": self.title,
            "notes": self.notes,
            "issued": format_date(self.issued) if self.issued else None,
            "updated": format_date(self.updated) if self.updated else None,
        }


def parse_updates(items: Sequence[Mapping[str, Any]]) -> tuple[Update, ...]:
    """Validate the updates of a push; a :class:`UpdateError` names the update (alias or position) and field.

    An alias may appear once, and a build may belong to one update only. Sorted by alias.
    """
    if not isinstance(items, Sequence) or isinstance(items, str | bytes):
        raise UpdateError("updates", f"must be a list of updates, not {type(items).__name__}")
    updates: list[Update] = []
    owner: dict[str, str] = {}
    for index, raw in enumerate(items):
        update = _parse_update(raw, index)
        if any(u.alias == update.alias for u in updates):
            raise UpdateError(f"update {update.alias}", "appears twice in the push")
        for nvr in update.builds:
            if nvr in owner:
                raise UpdateError(f"update {update.alias}", f"build {nvr} is already in update {owner[nvr]}")
            owner[nvr] = update.alias
        updates.append(update)
    return tuple(sorted(updates, key=lambda u: u.alias))


def _parse_update(raw: Any, index: int) -> Update:
    where = f"updates[{index}]"
    if not isinstance(raw, Mapping):
        raise UpdateError(where, f"must be a mapping, not {type(raw).__name__}")
    alias = raw.get("alias")
    if not isinstance(alias, str) or not WORD.match(alias):
        raise UpdateError(where, f"alias must be a word like FEDORA-2016-1a2b3c4d5e, not {alias!r}")
    where = f"update {alias}"
    unknown = sorted(set(raw) - set(UPDATE_FIELDS))
    if unknown:
        raise UpdateError(where, f"unknown field(s): {', '.join(map(str, unknown))}")
    builds = raw.get("builds")
    if not isinstance(builds, Sequence) or isinstance(builds, str) or not builds:
        raise UpdateError(where, "builds must be a non-empty list of NVRs")
    for nvr in builds:
        if not isinstance(nvr, str) or not NVR.match(nvr):
            raise UpdateError(where, f"build {nvr!r} is not an NVR (name-version-release)")
    if len(set(builds)) != len(builds):
        raise UpdateError(where, "lists a build twice")
    kind = raw.get("type")
    if kind not in UPDATE_TYPES:
        raise UpdateError(where, f"type must be one of {', '.join(UPDATE_TYPES)}, not {kind!r}")
    severity = raw.get("severity", "unspecified")
    if severity is None:
        severity = "unspecified"
    if not isinstance(severity, str) or severity.lower() not in SEVERITIES:
        raise UpdateError(where, f"severity must be one of {', '.join(SEVERITIES)}, not {severity!r}")
    bugs = _parse_bugs(raw.get("bugs") or [], where)
    title = raw.get("title") or ""
    notes = raw.get("notes") or ""
    for name, value in (("title", title), ("notes", notes)):
        if not isinstance(value, str):
            raise UpdateError(where, f"{name} must be text, not {type(value).__name__}")
    issued = _parse_date(raw.get("issued"), where, "issued")
    updated = _parse_date(raw.get("updated"), where, "updated")
    status = raw.get("status") or "pending"
    if status not in STATUSES:
        raise UpdateError(where, f"status must be one of {', '.join(STATUSES)}, not {status!r}")
    return Update(
        alias=alias,
        builds=tuple(sorted(builds)),
        type=kind,
        severity=SEVERITIES[severity.lower()],
        bugs=bugs,
        title=clean_text(title).strip() or " ".join(sorted(builds)),
        notes=clean_text(notes),
        issued=issued,
        updated=updated,
        status=status,
    )


def _parse_bugs(raw: Any, where: str) -> tuple[Bug, ...]:
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        raise UpdateError(where, "bugs must be a list of Bugzilla numbers")
    bugs: dict[int, Bug] = {}
    for entry in raw:
        title = ""
        if isinstance(entry, Mapping):
            title = entry.get("title") or ""
            entry = entry.get("id")
        if isinstance(entry, str) and entry.strip().isdigit():
            entry = int(entry.strip())
        if not isinstance(entry, int) or isinstance(entry, bool) or entry <= 0:
            raise UpdateError(where, f"bug {entry!r} is not a Bugzilla number")
        if not isinstance(title, str):
            raise UpdateError(where, f"bug {entry}: title must be text")
        previous = bugs.get(entry)
        bugs[entry] = Bug(entry, clean_text(title).strip() or (previous.title if previous else ""))
    return tuple(sorted(bugs.values()))


def _parse_date(value: Any, where: str, name: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise UpdateError(where, f"{name} must be an ISO date, not {value!r}") from None
    if not isinstance(value, datetime):
        raise UpdateError(where, f"{name} must be an ISO date, not {type(value).__name__}")
    return value


def clean_text(text: str) -> str:
    """``text`` as XML 1.0 can carry it: control characters dropped, CRLF/CR turned into LF."""
    return _INVALID_XML.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def format_date(value: datetime) -> str:
    """updateinfo's date form, in UTC: ``2016-06-01 12:00:00`` (naive datetimes are taken as UTC)."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M:%S")
