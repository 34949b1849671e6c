"""Mash: the latest builds of a Koji tag, signed with the release's key, as a yum repository with updateinfo.

Koji is asked in a handful of multicalls (tag, latest builds, their RPMs, their signatures); the pure
:func:`relengotron.mash.plan.plan_mash` decides what goes in; :mod:`relengotron.mash.repo` fetches, checks,
writes and swaps the repository into place.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from relengotron.config import Release
from relengotron.kojiclient import KojiClient
from relengotron.mash import repo
from relengotron.mash.errors import MashError
from relengotron.mash.plan import MashPlan, plan_mash, repo_arches
from relengotron.mash.updateinfo import Collection, PackageEntry, build_updateinfo
from relengotron.updates import Update, parse_updates

log = logging.getLogger(__name__)
STATUSES = ("stable", "testing")


@dataclass(frozen=True)
class MashResult:
    dest: Path
    changed: bool  # False: the destination already held exactly this result and was not touched
    digest: str  # of the plan (see relengotron.mash.plan)
    revision: int
    packages: tuple[str, ...]  # file names, sorted
    updates: tuple[str, ...]  # the repository's advisories (aliases, sorted): the push's and those carried
    checksums: dict[str, str]  # repomd data type → checksum (primary, filelists, other, updateinfo)
    written: tuple[str, ...] = ()  # paths (relative to dest) this mash wrote or replaced (per the records), sorted
    removed: tuple[str, ...] = ()  # paths (relative to dest) of the previous compose's record it removed, sorted
    fetched: int = 0  # bytes fetched from Koji (RPMs new to the repository)
    reused: int = 0  # RPMs taken from the previous compose (hard links)


def mash(
    client: KojiClient,
    release: Release,
    tag: str,
    dest: str | Path,
    updates: Sequence[Mapping[str, Any] | Update] = (),
    *,
    arch: str,
    issued: datetime,
    status: str = "stable",
    inherit: bool = False,
    public_keys: Iterable[str | Path] = (),
    workers: int = 4,
    collection: Collection | None = None,
) -> MashResult:
    """Write the repository of ``tag`` for ``arch`` (``SRPMS`` for sources) to ``dest``, with updateinfo.

    The RPMs are the signed copies for ``release.signing_key``; any RPM Koji has no such copy of, or whose
    header is not signed with that key, is refused (:class:`MashError` naming the RPM, the key expected and
    found). Every build of ``updates`` must be the latest of its package in ``tag``; a build Koji does not
    know raises :class:`relengotron.kojiclient.KojiNotFoundError` naming it. ``issued`` is the push's date:
    the repository revision, every metadata timestamp and the date of updates that give none.

    updateinfo is the repository's, not the push's: the advisories of the previous compose in ``dest`` are
    carried (:func:`relengotron.mash.plan.carry_advisories`). Incremental: an RPM the previous compose holds
    with the same signature is hard-linked from it, not fetched, and its metadata is reused (createrepo_c's
    update mode); only RPMs new to the repository are fetched and checked. The result is the same bytes as a
    mash from nothing.

    Idempotent: when ``dest`` already holds the complete result of the same input (same RPMs and signatures,
    advisories, date and options) nothing is fetched or written and ``changed`` is False. Atomic: the result
    is built beside ``dest`` and swapped in at once; on any failure ``dest`` is untouched, and a staging
    directory left by a killed mash is removed by the next one.
    """
    if status not in STATUSES:
        raise MashError(f"tag {tag}", f"status must be one of {', '.join(STATUSES)}, not {status!r}")
    dest = Path(dest).absolute()
    if dest.exists() and (dest.is_symlink() or not dest.is_dir()):
        raise MashError(str(dest), "the destination exists and is not a directory")
    parsed = tuple(updates) if all(isinstance(u, Update) for u in updates) else parse_updates(updates)
    collection = collection or Collection(release_name=release.name, short=release.id.upper(), status=status)

    previous = repo.previous_advisories(dest)
    comps = repo.comps_digest(release.comps) if release.comps else None
    plan = _plan(
        client,
        release,
        tag,
        parsed,
        arch=arch,
        issued=issued,
        inherit=inherit,
        collection=collection,
        previous=previous,
        groups=comps,
    )
    if repo.is_current(dest, plan.digest, repo.read_record(dest)):
        return _result(dest, plan, changed=False)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with repo.locked(dest.parent):
        record = repo.read_record(dest)  # again: another mash may have swapped a compose in while we waited
        if repo.is_current(dest, plan.digest, record):
            return _result(dest, plan, changed=False)
        for leftover in repo.remove_leftovers(dest):
            log.info("removed %s left by an interrupted mash", leftover)
        staging = repo.new_staging(dest)
        try:
            built = staging / "repo"
            built.mkdir()
            item = f"mash of {tag} for {arch}"
            groupfile = release.comps if plan.groups else None
            fetched, reused, new_record = _build(
                plan, built, staging, dest, record, groupfile, public_keys=public_keys, workers=workers, item=item
            )
            written, removed = repo.record_changes(record, new_record)
            repo.swap_into_place(built, dest)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    log.info("%s: %d RPMs fetched (%d bytes), %d reused from the previous compose", item, *fetched, reused)
    return _result(dest, plan, changed=True, written=written, removed=removed, fetched=fetched[1], reused=reused)


def _plan(
    client: KojiClient,
    release: Release,
    tag: str,
    updates: Sequence[Update],
    *,
    arch: str,
    issued: datetime,
    inherit: bool,
    collection: Collection,
    previous: Sequence[Update],
    groups: str | None,
) -> MashPlan:
    """Ask Koji (4 or 5 requests, whatever the number of builds) and decide with :func:`plan_mash`."""
    client.tag_info(tag)
    tagged = client.latest_tagged(tag, inherit=inherit)
    latest = {b.nvr for b in tagged}
    outside = {nvr for u in updates for nvr in u.builds} - latest
    if outside:
        client.builds(outside)  # a build Koji does not know → KojiNotFoundError naming it
    arches = repo_arches(arch)
    rpms = {build_id: [r for r in found if r.arch in arches] for build_id, found in client.rpms_of(tagged).items()}
    key = release.signing_key
    wanted = [r for found in rpms.values() for r in found]
    sigs = client.rpm_sigkeys(wanted) if key and wanted else {}
    return plan_mash(
        tag,
        tagged,
        rpms,
        sigs,
        updates,
        sigkey=key,
        arches=arches,
        topurl=client.topurl,
        collection=collection,
        issued=issued,
        previous=previous,
        groups=groups,
    )


def _build(
    plan: MashPlan,
    built: Path,
    staging: Path,
    previous: Path,
    record: dict | None,
    groupfile: Path | None,
    *,
    public_keys: Iterable[str | Path],
    workers: int,
    item: str,
) -> tuple[tuple[int, int], int, dict]:
    """Reuse, fetch, check, createrepo, updateinfo and the record, all inside ``built`` (not yet visible).

    ``record`` is the previous compose's (in ``previous``). Returns ((RPMs fetched, bytes fetched), RPMs
    reused from ``previous``, the new compose's record)."""
    reused = repo.reuse_rpms(plan.rpms, previous, record, built)
    fetched = repo.fetch_rpms([p for p in plan.rpms if p.rpm.filename not in reused], built, workers=workers)
    entries = {**{name: r.entry for name, r in reused.items()}, **repo.check_rpms(fetched, public_keys)}
    for sub in sorted(plan.repos, reverse=True):  # debug/ first: the binary repository excludes it
        here = [p for p in plan.rpms if p.repo == sub]
        root = built / sub if sub else built
        root.mkdir(exist_ok=True)
        old = previous / sub if sub else previous
        reuse = any(p.rpm.filename in reused for p in here) and (old / "repodata" / "repomd.xml").is_file()
        inner = [f"{s}/*" for s in plan.repos if s]
        where = f"{item}{f' ({sub})' if sub else ''}"
        repo.createrepo(
            root,
            plan.revision,
            item=where,
            previous=old if reuse else None,
            exclude=[] if sub else inner,
            groupfile=None if sub else groupfile,
        )
        by_build: dict[str, list[PackageEntry]] = {}
        for planned in here:
            by_build.setdefault(planned.build.nvr, []).append(entries[planned.rpm.filename])
        updateinfo = build_updateinfo(plan.advisories, by_build, plan.collection, issued=plan.issued)
        repo.add_updateinfo(root, updateinfo, plan.revision, staging, item=where)
    files = {f.planned.rpm.filename: (f.sha256, f.size) for f in fetched}
    files.update({name: (r.entry.sha256, r.size) for name, r in reused.items()})
    new_record = {
        "digest": plan.digest,
        "tag": plan.tag,
        "sigkey": plan.sigkey,
        "arches": list(plan.arches),
        "revision": plan.revision,
        "rpms": [repo.record_entry(p, entries[p.rpm.filename], files[p.rpm.filename][1]) for p in plan.rpms],
        "updates": [u.alias for u in plan.advisories],
        "repodata": repo.metadata_files(built, plan.repos),
        "checksums": repo.repomd_checksums(built),
    }
    repo.write_record(built, new_record)
    return (len(fetched), sum(f.size for f in fetched)), len(reused), new_record


def _result(
    dest: Path,
    plan: MashPlan,
    *,
    changed: bool,
    written: Sequence[str] = (),
    removed: Sequence[str] = (),
    fetched: int = 0,
    reused: int = 0,
) -> MashResult:
    return MashResult(
        dest=dest,
        changed=changed,
        digest=plan.digest,
        revision=plan.revision,
        packages=tuple(sorted(p.rpm.filename for p in plan.rpms)),
        updates=tuple(u.alias for u in plan.advisories),
        checksums=repo.repomd_checksums(dest),
        written=tuple(written),
        removed=tuple(removed),
        fetched=fetched,
        reused=reused,
    )
