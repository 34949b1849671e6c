"""What a mash will put in the repository, decided from Koji's answers alone (pure: no I/O).

Given the latest builds of a tag, their RPMs, the signatures Koji has recorded, and the push's updates, the
plan is the list of RPM files to fetch (signed copies for the release's key) and a digest of everything the
result depends on. The plan refuses, naming the item: an update whose build is not the latest of its package
in the tag, and any RPM Koji has no signature of the release's key for.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import cached_property

from relengotron.kojiclient import KojiBuild, KojiRPM, rpm_url
from relengotron.mash.errors import MashError
from relengotron.mash.updateinfo import Collection
from relengotron.updates import Update

PLAN_VERSION = 2  # bump when the repository layout or the createrepo options change
_NAMED = 10  # how many RPMs an error lists before "and N more"


DEBUG_REPO = "debug"  # the debuginfo repository, inside each arch's: updates/<version>/<arch>/debug


def is_debug(name: str) -> bool:
    """Is the package debugging data? rpm's ``%debug_package`` names them ``<name>-debuginfo`` and
    ``<name>-debugsource`` (``<name>-<sub>-debuginfo`` for a subpackage); Fedora's composes put them in the
    arch's ``debug/`` repository."""
    return name.endswith(("-debuginfo", "-debugsource")) or "-debuginfo-" in name


def repo_arches(arch: str) -> tuple[str, ...]:
    """RPM arches that go into the repository of ``arch``: SRPMS/src → ("src",), else (arch, "noarch")."""
    if arch in ("SRPMS", "source", "src"):
        return ("src",)
    return (arch,) if arch == "noarch" else (arch, "noarch")


@dataclass(frozen=True)
class PlannedRPM:
    build: KojiBuild
    rpm: KojiRPM
    url: str
    sigkey: str | None  # None: the release is not signed, the unsigned copy is used
    sighash: str  # Koji's md5 of the signature header for sigkey ("" when unsigned)

    @cached_property
    def repo(self) -> str:
        """Which repository of the arch it goes to: "" (the binary one) or ``debug``."""
        return DEBUG_REPO if self.rpm.arch != "src" and is_debug(self.rpm.name) else ""

    @cached_property
    def relpath(self) -> str:
        """Where it lies: [debug/]Packages/<first letter>/<file>, as Fedora lays repositories out."""
        prefix = f"{self.repo}/" if self.repo else ""
        return f"{prefix}Packages/{self.rpm.name[0].lower()}/{self.rpm.filename}"


@dataclass(frozen=True)
class MashPlan:
    tag: str
    sigkey: str | None
    arches: tuple[str, ...]
    rpms: tuple[PlannedRPM, ...]  # sorted by file name
    updates: tuple[Update, ...]  # the push's
    advisories: tuple[Update, ...]  # the repository's after the push (see carry_advisories)
    groups: str | None  # sha256 of the comps file the binary repository carries
    collection: Collection
    issued: datetime
    digest: str  # sha256 over everything the result depends on

    @property
    def repos(self) -> tuple[str, ...]:
        """The repositories written: the binary (or source) one, "", and for a binary arch its ``debug``."""
        return ("",) if self.arches == ("src",) else ("", DEBUG_REPO)

    @property
    def revision(self) -> int:
        """The repository's revision and every timestamp in its metadata: the push's date."""
        return int(self.issued.timestamp())

    def build_of(self, nvr: str) -> KojiBuild | None:
        for planned in self.rpms:
            if planned.build.nvr == nvr:
                return planned.build
        return None


def carry_advisories(
    previous: Sequence[Update], pushed: Sequence[Update], latest: Iterable[str], *, issued: datetime
) -> tuple[Update, ...]:
    """The advisories of the repository after a push (Bodhi's rule: every advisory with a build in the
    repository), sorted by alias.

    ``previous`` are the advisories of the repository's last compose, ``pushed`` the push's updates and
    ``latest`` the NVRs the repository holds now (the tag's latest builds). A pushed update replaces the
    advisory of the same alias (pushed again: a new build, an edited text) and takes any build an older
    advisory named; an advisory none of whose builds is in the repository any more leaves it. An advisory
    without an issued date gets ``issued`` (the date of the push that first carried it) and keeps it.
    """
    present = set(latest)
    fresh = {u.alias: u for u in pushed}
    taken = {nvr for u in pushed for nvr in u.builds}
    kept: dict[str, Update] = {}
    for update in previous:
        if update.alias in fresh:
            continue
        builds = tuple(nvr for nvr in update.builds if nvr not in taken)
        if builds and any(nvr in present for nvr in builds):
            kept[update.alias] = replace(update, builds=builds)
    kept.update(fresh)
    return tuple(replace(u, issued=issued) if u.issued is None else u for _, u in sorted(kept.items()))


def plan_mash(
    tag: str,
    tagged: Sequence[KojiBuild],
    rpms: Mapping[int, Sequence[KojiRPM]],
    sigs: Mapping[int, Mapping[str, str]],
    updates: Sequence[Update],
    *,
    sigkey: str | None,
    arches: Sequence[str],
    topurl: str,
    collection: Collection,
    issued: datetime,
    previous: Sequence[Update] = (),
    groups: str | None = None,
) -> MashPlan:
    """The plan for mashing ``tag``; :class:`MashError` naming the update, build or RPMs it refuses.

    ``sigkey`` None means the release is not signed: unsigned copies are used and nothing is checked.
    ``previous`` are the advisories of the repository's last compose, carried (:func:`carry_advisories`).
    ``groups`` is the sha256 of the comps file the binary repository carries (None: no comps).
    """
    key = sigkey.lower() if sigkey else None
    if issued.tzinfo is None:
        issued = issued.replace(tzinfo=UTC)
    latest = {b.nvr: b for b in tagged}
    by_name = {b.name: b for b in tagged}
    for update in updates:
        for nvr in update.builds:
            if nvr in latest:
                continue
            name = nvr.rsplit("-", 2)[0]
            current = by_name.get(name)
            detail = f" (the latest {name} there is {current.nvr})" if current else ""
            raise MashError(f"update {update.alias}", f"build {nvr} is not tagged into {tag}{detail}")

    wanted = set(arches)
    planned: list[PlannedRPM] = []
    unsigned: list[str] = []
    for build in tagged:
        for rpm in rpms.get(build.id, ()):
            if rpm.arch not in wanted:
                continue
            known = sigs.get(rpm.id, {})
            if key is not None and key not in known:
                found = ", ".join(sorted(k for k in known if k)) or "none"
                unsigned.append(f"{rpm.filename} (signed by: {found})")
                continue
            planned.append(
                PlannedRPM(
                    build=build,
                    rpm=rpm,
                    url=rpm_url(topurl, build, rpm, key),
                    sigkey=key,
                    sighash=known.get(key, "") if key else "",
                )
            )
    if unsigned:
        shown = ", ".join(unsigned[:_NAMED]) + (f" and {len(unsigned) - _NAMED} more" if len(unsigned) > _NAMED else "")
        raise MashError(f"tag {tag}", f"{len(unsigned)} RPM(s) not signed with key {key}: {shown}")
    planned.sort(key=lambda p: p.rpm.filename)
    seen: dict[str, str] = {}
    for p in planned:
        if p.rpm.filename in seen:
            raise MashError(f"tag {tag}", f"{p.rpm.filename} comes from both {seen[p.rpm.filename]} and {p.build.nvr}")
        seen[p.rpm.filename] = p.build.nvr
    advisories = carry_advisories(previous, updates, latest, issued=issued)
    groups = None if tuple(arches) == ("src",) else groups  # comps groups binary packages only
    digest = _digest(tag, key, tuple(arches), planned, advisories, collection, issued, groups)
    return MashPlan(
        tag=tag,
        sigkey=key,
        arches=tuple(arches),
        rpms=tuple(planned),
        updates=tuple(updates),
        advisories=advisories,
        groups=groups,
        collection=collection,
        issued=issued,
        digest=digest,
    )


def _digest(
    tag: str,
    key: str | None,
    arches: tuple[str, ...],
    planned: Sequence[PlannedRPM],
    advisories: Sequence[Update],
    collection: Collection,
    issued: datetime,
    groups: str | None,
) -> str:
    document = {
        "plan": PLAN_VERSION,
        "tag": tag,
        "sigkey": key,
        "arches": sorted(arches),
        "rpms": [
            [p.rpm.filename, p.rpm.payloadhash, p.sigkey, p.sighash, p.rpm.buildtime, p.build.nvr] for p in planned
        ],
        "advisories": [u.as_dict() for u in advisories],
        "collection": collection.as_dict(),
        "issued": int(issued.timestamp()),
        "groups": groups,
    }
    blob = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()
