"""updateinfo.xml from a push's updates: pure, deterministic, and readable by dnf and modifyrepo_c.

The format is the one createrepo_c's ``UpdateInfo`` writes and Bodhi publishes: ``<updates>`` holding one
``<update from= status= type= version="2.0">`` per update with id, title, issued/updated dates, release,
severity, summary, description, Bugzilla references and a ``<pkglist>`` collection naming every package file
(name, epoch, version, release, arch, src, filename, sha256 sum).

Same input, same bytes: updates are sorted by alias, packages by name/arch/filename, bugs by number, and no
clock is read (dates come from the input). Text is escaped by the XML writer; characters XML 1.0 cannot carry
(control characters) are dropped, and line ends are normalized to ``\\n``.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from relengotron.mash.errors import MashError
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
UPDATE_FIELDS = ("alias", "builds", "type", "severity", "bugs", "title", "notes", "issued", "updated")
DEFAULT_ISSUER = "updates@fedoraproject.org"
DEFAULT_BUGZILLA = "https://bugzilla.redhat.com"

_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


@dataclass(frozen=True, order=True)
class Bug:
    id: int
    title: str = ""


@dataclass(frozen=True)
class Update:
    """One update of a push (the updates_push DAG conf's ``updates`` entries)."""

    alias: str  # FEDORA-2016-1a2b3c4d5e
    builds: tuple[str, ...]  # NVRs, sorted
    type: str  # bugfix | security | enhancement | newpackage
    severity: str  # dnf's name: None | Low | Moderate | Important | Critical
    bugs: tuple[Bug, ...]  # sorted by number
    title: str  # defaults to the NVRs joined by spaces
    notes: str
    issued: datetime | None = None  # None: the push's date
    updated: datetime | None = None  # None: the issued date

    def as_dict(self) -> dict[str, Any]:
        """A JSON-able form (for digests and records)."""
        return {
            "alias": self.alias,
            "builds": list(self.builds),
            "type": self.type,
            "severity": self.severity,
            "bugs": [[b.id, b.title] for b in self.bugs],
            "title": self.title,
            "notes": self.notes,
            "issued": _date(self.issued) if self.issued else None,
            "updated": _date(self.updated) if self.updated else None,
        }


@dataclass(frozen=True)
class PackageEntry:
    """One package file of an update as it lies in the repository."""

    name: str
    epoch: int
    version: str
    release: str
    arch: str  # noarch, x86_64, src …
    filename: str  # as in the repository (basename)
    src: str  # the source RPM's file name
    sha256: str


@dataclass(frozen=True)
class Collection:
    """Where the updates go: the release (``<release>`` and the pkglist collection) and the push's status."""

    release_name: str  # Fedora 24
    short: str  # F24
    status: str = "stable"  # stable | testing
    issuer: str = DEFAULT_ISSUER
    bugzilla_url: str = DEFAULT_BUGZILLA

    def as_dict(self) -> dict[str, str]:
        return {
            "release_name": self.release_name,
            "short": self.short,
            "status": self.status,
            "issuer": self.issuer,
            "bugzilla_url": self.bugzilla_url,
        }


def parse_updates(items: Sequence[Mapping[str, Any]]) -> tuple[Update, ...]:
    """Validate the updates of a push; a :class:`MashError` names the update (alias or position) and field.

    An alias may appear once, and a build may belong to one update only. Sorted by alias.
    """
    if not isinstance(items, Sequence) or isinstance(items, str | bytes):
        raise MashError("updates", f"must be a list of updates, not {type(items).__name__}")
    updates: list[Update] = []
    owner: dict[str, str] = {}
    for index, raw in enumerate(items):
        update = _parse_update(raw, index)
        if any(u.alias == update.alias for u in updates):
            raise MashError(f"update {update.alias}", "appears twice in the push")
        for nvr in update.builds:
            if nvr in owner:
                raise MashError(f"update {update.alias}", f"build {nvr} is already in update {owner[nvr]}")
            owner[nvr] = update.alias
        updates.append(update)
    return tuple(sorted(updates, key=lambda u: u.alias))


def _parse_update(raw: Any, index: int) -> Update:
    where = f"updates[{index}]"
    if not isinstance(raw, Mapping):
        raise MashError(where, f"must be a mapping, not {type(raw).__name__}")
    alias = raw.get("alias")
    if not isinstance(alias, str) or not WORD.match(alias):
        raise MashError(where, f"alias must be a word like FEDORA-2016-1a2b3c4d5e, not {alias!r}")
    where = f"update {alias}"
    unknown = sorted(set(raw) - set(UPDATE_FIELDS))
    if unknown:
        raise MashError(where, f"unknown field(s): {', '.join(map(str, unknown))}")
    builds = raw.get("builds")
    if not isinstance(builds, Sequence) or isinstance(builds, str) or not builds:
        raise MashError(where, "builds must be a non-empty list of NVRs")
    for nvr in builds:
        if not isinstance(nvr, str) or not NVR.match(nvr):
            raise MashError(where, f"build {nvr!r} is not an NVR (name-version-release)")
    if len(set(builds)) != len(builds):
        raise MashError(where, "lists a build twice")
    kind = raw.get("type")
    if kind not in UPDATE_TYPES:
        raise MashError(where, f"type must be one of {', '.join(UPDATE_TYPES)}, not {kind!r}")
    severity = raw.get("severity", "unspecified")
    if severity is None:
        severity = "unspecified"
    if not isinstance(severity, str) or severity.lower() not in SEVERITIES:
        raise MashError(where, f"severity must be one of {', '.join(SEVERITIES)}, not {severity!r}")
    bugs = _parse_bugs(raw.get("bugs") or [], where)
    title = raw.get("title") or ""
    notes = raw.get("notes") or ""
    for name, value in (("title", title), ("notes", notes)):
        if not isinstance(value, str):
            raise MashError(where, f"{name} must be text, not {type(value).__name__}")
    issued = _parse_date(raw.get("issued"), where, "issued")
    updated = _parse_date(raw.get("updated"), where, "updated")
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
    )


def _parse_bugs(raw: Any, where: str) -> tuple[Bug, ...]:
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        raise MashError(where, "bugs must be a list of Bugzilla numbers")
    bugs: dict[int, Bug] = {}
    for entry in raw:
        title = ""
        if isinstance(entry, Mapping):
            title = entry.get("title") or ""
            entry = entry.get("id")
        if isinstance(entry, str) and entry.strip().isdigit():
            entry = int(entry.strip())
        if not isinstance(entry, int) or isinstance(entry, bool) or entry <= 0:
            raise MashError(where, f"bug {entry!r} is not a Bugzilla number")
        if not isinstance(title, str):
            raise MashError(where, f"bug {entry}: title must be text")
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
            raise MashError(where, f"{name} must be an ISO date, not {value!r}") from None
    if not isinstance(value, datetime):
        raise MashError(where, f"{name} must be an ISO date, not {type(value).__name__}")
    return value


def clean_text(text: str) -> str:
    """``text`` as XML 1.0 can carry it: control characters dropped, CRLF/CR turned into LF."""
    return _INVALID_XML.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def _date(value: datetime) -> str:
    """updateinfo's date form, in UTC: ``2016-06-01 12:00:00`` (naive datetimes are taken as UTC)."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M:%S")


def build_updateinfo(
    updates: Sequence[Update],
    packages: Mapping[str, Sequence[PackageEntry]],
    collection: Collection,
    *,
    issued: datetime,
) -> bytes:
    """The updateinfo.xml document (UTF-8 bytes) for ``updates``.

    ``packages`` maps a build NVR to its package files in the repository; a build with none there (e.g. an
    arch-specific build in another arch's repository) just contributes no package. ``issued`` is the date of
    updates that carry none of their own.
    """
    root = ET.Element("updates")
    for update in sorted(updates, key=lambda u: u.alias):
        when = update.issued or issued
        node = ET.SubElement(
            root,
            "update",
            {"from": clean_text(collection.issuer), "status": collection.status, "type": update.type, "version": "2.0"},
        )
        _text(node, "id", update.alias)
        _text(node, "title", update.title)
        ET.SubElement(node, "issued", {"date": _date(when)})
        ET.SubElement(node, "updated", {"date": _date(update.updated or when)})
        _text(node, "release", collection.release_name)
        _text(node, "severity", update.severity)
        _text(node, "summary", f"{collection.release_name} {update.type} update: {update.title}")
        _text(node, "description", update.notes or update.title)
        refs = ET.SubElement(node, "references")
        base = collection.bugzilla_url.rstrip("/")
        for bug in update.bugs:
            ET.SubElement(
                refs,
                "reference",
                {
                    "href": f"{base}/show_bug.cgi?id={bug.id}",
                    "id": str(bug.id),
                    "type": "bugzilla",
                    "title": bug.title or f"Bug {bug.id}",
                },
            )
        pkglist = ET.SubElement(node, "pkglist")
        coll = ET.SubElement(pkglist, "collection", {"short": clean_text(collection.short)})
        _text(coll, "name", collection.release_name)
        entries = [p for nvr in update.builds for p in packages.get(nvr, ())]
        for pkg in sorted(entries, key=lambda p: (p.name, p.arch, p.filename)):
            elem = ET.SubElement(
                coll,
                "package",
                {
                    "name": pkg.name,
                    "version": pkg.version,
                    "release": pkg.release,
                    "epoch": str(pkg.epoch),
                    "arch": pkg.arch,
                    "src": pkg.src,
                },
            )
            _text(elem, "filename", pkg.filename)
            ET.SubElement(elem, "sum", {"type": "sha256"}).text = pkg.sha256
    ET.indent(root, space="  ")
    body = ET.tostring(root, encoding="unicode", short_empty_elements=True)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n").encode("utf-8")


def _text(parent: ET.Element, tag: str, text: str) -> ET.Element:
    elem = ET.SubElement(parent, tag)
    elem.text = clean_text(text)
    return elem
