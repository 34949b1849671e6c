"""updateinfo.xml from a push's updates: pure, deterministic, and readable by dnf and modifyrepo_c.

The format is the one createrepo_c's ``UpdateInfo`` writes and Bodhi publishes: ``<updates>`` holding one
``<update from= status= type= version="2.0">`` per update with id, title, issued/updated dates, release,
severity, summary, description, Bugzilla references and a ``<pkglist>`` collection naming every package file
(name, epoch, version, release, arch, src, filename, sha256 sum).

Same input, same bytes: updates are sorted by alias, packages by name/arch/filename, bugs by number, and no
clock is read (dates come from the input). Text is escaped by the XML writer; characters XML 1.0 cannot carry
(control characters) are dropped, and line ends are normalized to ``\\n``.

:func:`parse_updateinfo` reads such a document back into updates (a repository's advisories are carried from
one compose to the next): what it reads, :func:`build_updateinfo` writes again byte for byte.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from relengotron.updates import SEVERITIES, UPDATE_TYPES, Bug, Update, clean_text, format_date

DEFAULT_ISSUER = "updates@fedoraproject.org"
DEFAULT_BUGZILLA = "https://bugzilla.redhat.com"


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
        ET.SubElement(node, "issued", {"date": format_date(when)})
        ET.SubElement(node, "updated", {"date": format_date(update.updated or when)})
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


class UpdateinfoError(ValueError):
    """An updateinfo document cannot be read back; the message names the document and the advisory."""


def parse_updateinfo(document: bytes, *, item: str = "updateinfo.xml") -> tuple[Update, ...]:
    """The advisories of an updateinfo document, sorted by alias (pure; read-only).

    An advisory's builds are the source packages its pkglist names (``src="glibc-2.23.1-8.fc24.src.rpm"`` →
    ``glibc-2.23.1-8.fc24``): one with no package in the repository names no build. ``item`` names the
    document in errors (:class:`UpdateinfoError`, naming the advisory too).
    """
    try:
        root = ET.fromstring(document)
    except ET.ParseError as exc:
        raise UpdateinfoError(f"{item}: not XML: {exc}") from None
    if root.tag != "updates":
        raise UpdateinfoError(f"{item}: the root element is <{root.tag}>, not <updates>")
    found: dict[str, Update] = {}
    for node in root.findall("update"):
        alias = (node.findtext("id") or "").strip()
        where = f"{item}: advisory {alias or '(without id)'}"
        if not alias or alias in found:
            raise UpdateinfoError(f"{where}: {'no <id>' if not alias else 'listed twice'}")
        kind = node.get("type", "")
        severity = (node.findtext("severity") or "None").strip()
        if kind not in UPDATE_TYPES or severity.lower() not in SEVERITIES:
            raise UpdateinfoError(f"{where}: type {kind!r} or severity {severity!r} is not one Bodhi uses")
        sources = {p.get("src", "") for p in node.iterfind("pkglist/collection/package")}
        builds = tuple(sorted(s.removesuffix(".src.rpm") for s in sources if s.endswith(".src.rpm")))
        bugs = tuple(
            sorted(
                Bug(int(ref.get("id", "0")), ref.get("title", ""))
                for ref in node.iterfind("references/reference")
                if ref.get("type") == "bugzilla" and ref.get("id", "").isdigit()
            )
        )
        found[alias] = Update(
            alias=alias,
            builds=builds,
            type=kind,
            severity=SEVERITIES[severity.lower()],
            bugs=bugs,
            title=node.findtext("title") or "",
            notes=node.findtext("description") or "",
            issued=_date(node.find("issued"), where),
            updated=_date(node.find("updated"), where),
            status="stable" if node.get("status") == "stable" else "testing",
        )
    return tuple(found[alias] for alias in sorted(found))


def _date(node: ET.Element | None, where: str) -> datetime | None:
    if node is None or not node.get("date"):
        return None
    try:
        return datetime.strptime(node.get("date", ""), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        raise UpdateinfoError(f"{where}: date {node.get('date')!r} is not YYYY-MM-DD HH:MM:SS") from None
