"""An updates push carried out against the services, step by step, around the pure decisions of
:mod:`relengotron.push`, :mod:`relengotron.push_report` and :mod:`relengotron.planning`: read the compose's
updates from Bodhi, move their tags, plan, mash, promote one artifact, sync, announce, and the per-(release,
request) turn that lets one push of a release and request run at a time (docs/bodhi-handshake.md).

Each function is one step of the ``updates_push`` DAG, callable and testable without Airflow: it is handed
the release configuration, the push and the services it needs (clients, a signer, the staging tree) and
returns plain data. Each is idempotent, as its docstring says. Failures are the adapters' errors, each
naming its item; :func:`relengotron.adapters.errors.is_transient` tells a retry worth making.
"""

from __future__ import annotations

import posixpath
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from relengotron import mash as masher
from relengotron import website
from relengotron.adapters.bodhi import Bodhi, match_entries
from relengotron.adapters.errors import TransientError
from relengotron.adapters.pdc import PDC
from relengotron.adapters.resultsdb import ResultsDB
from relengotron.artifacts import ArtifactKind, ComposeOutput, PromoteContext, PromoteResult, Published, for_target
from relengotron.artifacts.ostree import OSTreeArtifact
from relengotron.artifacts.staging import StagingTree
from relengotron.config import ReleaseConfig
from relengotron.gating import decide_one, load_policies
from relengotron.gating.decision import Verdict
from relengotron.kojiclient import KojiClient
from relengotron.planning import Plan, Target, plan
from relengotron.push import (
    MODNAME,
    RELEASED_TOPIC,
    SOURCES,
    Push,
    PushError,
    TagPlan,
    fresh_results,
    group_composes,
    plan_items,
    push_arches,
    tag_moves,
    updates_path,
)
from relengotron.push_state import Announced, PushLease
from relengotron.signing.base import Signer
from relengotron.sync import Changeset, MirrorFS

if TYPE_CHECKING:
    from relengotron.messaging import Publisher


class PlanSources(Protocol):
    """Where a push's plan reads from, each asked for only when the plan needs it (a testing push asks none)."""

    @property
    def pdc(self) -> PDC: ...

    @property
    def koji(self) -> KojiClient: ...

    @property
    def published(self) -> Published: ...


class HeldBack(RuntimeError):
    """A candidate whose tests of this compose failed: it is not released (permanent; the message says why)."""


@dataclass(frozen=True)
class PushPlan:
    """The push's plan (None for a testing push, which composes nothing) and its items as the DAG maps them:
    one per artifact target (:func:`relengotron.push.plan_items`)."""

    push: Push
    plan: Plan | None
    items: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        return {
            "push_id": self.push.push_id,
            "release": self.push.release.id,
            "request": self.push.request,
            "items": self.items,
        }


@dataclass(frozen=True)
class MashedRepo:
    """One repository after the mash (``path`` relative to the staging top): its packages and advisories (the
    repository's, carried from earlier pushes). What the sync carries of it is its difference with the
    mirror's copy (:func:`repository_changes`), which also covers a push whose earlier sync failed."""

    arch: str
    path: str
    changed: bool
    packages: list[str]
    updates: list[str]
    revision: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def render(self) -> str:
        state = "written" if self.changed else "already so"
        return f"{self.path}: {len(self.packages)} packages, {len(self.updates)} updates ({state})"


# --- the updates, and their tags -------------------------------------------------------------------------


def read_updates(push: Push, bodhi: Bodhi) -> list[dict[str, Any]]:
    """The compose's updates as Bodhi describes them (the shape :meth:`Push.with_updates` takes), in the
    compose's order: one query per 100 builds. Each must have exactly one entry's builds, belong to the push's
    release and be requested for its request (or already be there: a push Bodhi finished, read again).
    Read-only; :class:`relengotron.push.PushError` naming every update that disagrees with the compose."""
    found = match_entries(push.entries, bodhi.updates_of_builds(n for entry in push.entries for n in entry))
    problems = []
    for update in found.values():
        if update.release != push.release.id:
            problems.append(f"{update.alias} belongs to release {update.release}, not {push.release.id}")
        elif update.request != push.request and not (update.request is None and update.status == push.request):
            problems.append(f"{update.alias} is requested for {update.request} (status {update.status})")
    if problems:
        raise PushError(f"updates: Bodhi's updates disagree with the compose {push.repo}: {'; '.join(problems)}")
    return [found[tuple(sorted(entry))].as_update() for entry in push.entries]


def masher_composes(
    entries: Sequence[Sequence[str]], config: ReleaseConfig, bodhi: Bodhi, *, push_id: str, agent: str | None
) -> list[dict[str, Any]]:
    """The composes of a Bodhi 2 ``masher.start`` (``entries``: its titles, each an update's NVRs), each as an
    ``updates_push`` conf: the updates read from Bodhi (one query per 100 builds) and grouped per release and
    request (:func:`relengotron.push.group_composes`). Read-only."""
    found = match_entries(entries, bodhi.updates_of_builds(n for entry in entries for n in entry))
    described = [
        {"alias": u.alias, "release": u.release, "request": u.request, "type": u.type, "builds": list(u.builds)}
        for u in found.values()
    ]
    return group_composes(described, config, push_id=push_id, agent=agent)


def move_tags(push: Push, koji: KojiClient, *, timeout: float = 3600.0) -> TagPlan:
    """Move the push's builds into the request's tag and remove their pending tags, as Bodhi's composer does
    (:func:`relengotron.push.tag_moves`): the builds' tags read in one multicall, the moves sent in one (each
    a ``tagBuild`` task with ``fromtag``, waited for), the untags in one.

    Idempotent: a build already in place gets nothing sent, so a rerun sends nothing; a rerun after a crash
    half-way finishes the moves. A build in neither tag fails before anything is sent, naming it.
    """
    nvrs = sorted({nvr for update in push.updates for nvr in update.builds})
    found = koji.multicall([("listTags", (), {"build": nvr}, f"build {nvr}") for nvr in nvrs])
    plan = tag_moves(push, {nvr: {t["name"] for t in tags or ()} for nvr, tags in zip(nvrs, found, strict=True)})
    items = [f"move {nvr} from {source} to {target}" for source, target, nvr in plan.moves]
    tasks = koji.multicall(
        [("tagBuild", (t, nvr), {"fromtag": s}, item) for (s, t, nvr), item in zip(plan.moves, items, strict=True)]
    )
    for task, item in zip(tasks, items, strict=True):
        koji.wait_task(task, item=item, timeout=timeout)
    koji.multicall([("untagBuild", (tag, nvr), {}, f"untag {nvr} from {tag}") for tag, nvr in plan.untags])
    return plan


# --- plan ---------------------------------------------------------------------------------------------------


def plan_push(push: Push, config: ReleaseConfig, sources: PlanSources) -> PushPlan:
    """Which of the release's artifact targets the push recomposes, and why the others are skipped.

    A stable push asks PDC once per page for the artifacts' package lists (:meth:`PDC.batch_packages`), Koji
    once for the latest builds of the push's tag (with inheritance: what an image task installs), and each
    artifact kind for what it last released (:meth:`ArtifactKind.released`). A testing push asks nothing: it
    composes no artifacts. Read-only: planning again after a release finds the released targets unchanged.
    """
    artifacts = config.artifacts_of(push.release.id)
    if not push.composes_artifacts:
        return PushPlan(push, None, plan_items(push, None, artifacts))
    found = Plan(())
    if artifacts:
        release = push.release
        packages = sources.pdc.batch_packages(push.plan_updates, [release], artifacts).get(release.id, {})
        published = sources.published
        targets = [Target(a, release, arch) for a in artifacts for arch in a.arches]
        released = {t.id: for_target(t).released(published) for t in targets}
        base = {build.name: build.nvr for build in sources.koji.latest_tagged(push.tag, inherit=True)}
        found = plan(push.plan_updates, release, artifacts, packages, released, base)
    return PushPlan(push, found, plan_items(push, found, artifacts))


def plugin_for(config: ReleaseConfig, item: Mapping[str, Any]) -> ArtifactKind:
    """The artifact plugin of one plan item (:func:`relengotron.push.plan_items`); ValueError naming the item
    when the configuration no longer has it. Pure."""
    release = config.release(str(item["release"]))
    for artifact in config.artifacts_of(release.id):
        if artifact.name == item["artifact"] and item["arch"] in artifact.arches:
            plugin = for_target(Target(artifact, release, str(item["arch"])))
            if plugin.id != item["id"]:
                break
            return plugin
    raise ValueError(f"{item.get('label')}: no artifact {item.get('id')} in the release configuration {config.path}")


# --- mash ---------------------------------------------------------------------------------------------------


def mash_push(
    push: Push, config: ReleaseConfig, koji: KojiClient, signer: Signer | None, *, issued: datetime, workers: int = 4
) -> list[MashedRepo]:
    """Mash the push's Koji tag into the updates repositories of its stream in the staging tree, as Fedora's
    mirrors serve them: per arch of the release the binary repository (``updates/[testing/]<version>/<arch>``)
    and its ``debug/`` repository, and the sources (``updates/[testing/]<version>/SRPMS``); each with the
    repository's advisories as updateinfo (the push's and those carried), each ``repomd.xml`` signed with the
    release's key.

    The RPMs are the copies signed with the release's key (any other is refused, naming it). ``issued`` is
    the push's date (the run's: the same on every retry). Idempotent: the same input leaves a repository and
    its signature untouched (``changed`` False); a rerun after a crash builds beside the old repository and
    swaps it in whole.
    """
    out: list[MashedRepo] = []
    with tempfile.TemporaryDirectory(prefix="mash-keys-") as keys:
        public = [signer.export_public_key(Path(keys) / "release.asc")] if signer is not None else []
        for arch in push_arches(push):
            rel = updates_path(config.mirror, push.release, arch, push.stream)
            try:
                result = masher.mash(
                    koji,
                    push.release,
                    push.tag,
                    Path(config.mirror.staging) / rel,
                    push.updates,
                    arch=arch,
                    issued=issued,
                    status=push.request,
                    public_keys=public,
                    workers=workers,
                )
            except masher.MashTransientError as exc:
                raise TransientError("koji", exc.item, exc.reason) from exc
            if signer is not None:
                for sub in [""] if arch == SOURCES else ["", masher.DEBUG_REPO]:
                    signer.sign_repomd(result.dest / sub)
            out.append(
                MashedRepo(arch, rel, result.changed, list(result.packages), list(result.updates), result.revision)
            )
    return out


# --- one artifact: promote -----------------------------------------------------------------------------------


def check_results(
    push: Push,
    config: ReleaseConfig,
    plugin: ArtifactKind,
    output: ComposeOutput,
    results: ResultsDB,
    *,
    decision_context: str = "artifact_release",
    clock_skew: timedelta = timedelta(seconds=5),
) -> str:
    """That the results required of the artifact pass and are about THIS compose: only results submitted since
    it (less ``clock_skew``, how far ResultsDB's clock may lag ours) count, as ResultsDB keeps one item per
    artifact and an earlier compose's results look the same. Returns the decision's summary.

    Not all in yet: :class:`TransientError` (retry later); failed: :class:`HeldBack`. Read-only.
    """
    if not output.composed_at:
        raise ValueError(f"{plugin.label}: the compose output does not say when it was composed")
    subject = plugin.test_item()
    fresh = fresh_results(results.latest_for([subject], plugin.test_cases()), output.composed_at, skew=clock_skew)
    answer = decide_one(
        load_policies(config.gating_policies),
        subject,
        fresh,
        decision_context=decision_context,
        product_version=push.release.pdc_release,
    )
    if answer.verdict is Verdict.WAITING:
        raise TransientError("resultsdb", plugin.label, f"results of this compose not all in yet: {answer.summary()}")
    if not answer.passes:
        raise HeldBack(f"{plugin.label}: held back: {answer.summary()}")
    return answer.summary()


def promote_candidate(
    push: Push,
    config: ReleaseConfig,
    plugin: ArtifactKind,
    output: ComposeOutput,
    *,
    results: ResultsDB,
    signer: Signer | None,
    decision_context: str = "artifact_release",
    clock_skew: timedelta = timedelta(seconds=5),
) -> PromoteResult:
    """Release a tested, signed candidate: once :func:`check_results` says its tests of this compose passed,
    move it into the public staging tree (:meth:`ArtifactKind.promote`: the only step that makes an artifact
    visible to the sync). The released artifact itself (``changed`` False on the output) needs no results.

    Idempotent: promoting what is released already changes nothing; a rerun after a crash finishes the moves.
    """
    if output.changed:
        check_results(push, config, plugin, output, results, decision_context=decision_context, clock_skew=clock_skew)
    ctx = PromoteContext(layout=config.mirror, signer=signer, static_deltas=config.ostree.static_deltas)
    return plugin.promote(ctx, output)


# --- sync ---------------------------------------------------------------------------------------------------


def sync_push(
    push: Push,
    config: ReleaseConfig,
    items: Sequence[Mapping[str, Any]],
    promoted: Iterable[Mapping[str, Any]],
    staging: StagingTree,
    *,
    mash: Sequence[Mapping[str, Any]],
    dry_run: bool = False,
) -> dict[str, Any]:
    """One sync of what the push changed to the master mirror, under the staging lock
    (:meth:`StagingTree.sync` with its changeset: content, metadata, indexes, deletions of what the mash
    removed, the downstream file lists, then verification of the metadata it touched) — never a candidate,
    which is not in the staging tree. The changeset is :func:`push_changes`'s; the released OSTree
    repository's share is found under the lock (:meth:`StagingTree.ostree_changes`).

    Idempotent: a second sync transfers and deletes nothing; one after a sync killed half-way completes it.
    Returns ``{"changeset": {"written", "removed"}, "ostree_refs", "dry_run", "changes": {pass: [paths]}}``.
    """
    changes, refs = push_changes(config, items, promoted, staging, mash=mash)
    synced = staging.sync(changes=changes, ostree_refs=refs, dry_run=dry_run)
    return {"changeset": changes.as_dict(), "ostree_refs": refs, "dry_run": dry_run, "changes": synced}


def repository_changes(top: Path, fs: MirrorFS, rel: str, *, item: str) -> Changeset:
    """What turns the mirror's copy of the mashed repository ``rel`` into staging's (``top``): the difference
    of their mash records (:func:`relengotron.mash.record_changes`) and the repomd signatures. Read-only; a
    repository staging holds no record of is a :class:`ValueError` naming ``item``."""
    mine = masher.read_record(top / rel) if rel else None
    if mine is None:
        raise ValueError(f"{item}: staging holds no mashed repository there")
    record = f"{rel}/{masher.RECORD}"
    theirs = masher.parse_record(fs.read(record)) if fs.exists(record) else None
    written, removed = masher.record_changes(theirs, mine)
    signed = (f"{rel}/repodata/repomd.xml.asc", f"{rel}/{masher.DEBUG_REPO}/repodata/repomd.xml.asc")
    written = [posixpath.join(rel, p) for p in written] + [p for p in signed if (top / p).is_file()]
    return Changeset.of(written, [posixpath.join(rel, p) for p in removed], item=item)


def push_changes(
    config: ReleaseConfig,
    items: Sequence[Mapping[str, Any]],
    promoted: Iterable[Mapping[str, Any]],
    staging: StagingTree,
    *,
    mash: Sequence[Mapping[str, Any]],
) -> tuple[Changeset, list[str]]:
    """The push's changeset and the OSTree refs whose new objects go with it. Read-only. From:

    - the mashed repositories (each :class:`MashedRepo` dict's ``path``): what turns the mirror's copy into
      staging's, from their mash records (:func:`relengotron.mash.record_changes`: the RPMs and metadata that
      differ, what the mirror has that staging no longer does) and the repomd signatures — against the
      mirror, not the mash's own ``written``, so that a push whose sync failed is carried by its rerun, whose
      mash changes nothing. A repository staging holds no record of is a :class:`ValueError` naming it;
    - the image artifacts: every released file of the plan's image targets that staging holds (what this run
      promoted and what an earlier run did: rsync skips what the mirror has, and a promotion whose sync failed
      is carried by the next push);
    - the OSTree artifacts: the refs of the plan's OSTree targets (and of what was promoted), whose files
      :meth:`StagingTree.ostree_changes` finds against the mirror's refs.
    """
    top = staging.top
    changes = Changeset()
    fs = staging.mirror.fs()
    for index, repo in enumerate(mash):
        rel = str(repo.get("path") or "")
        changes = changes | repository_changes(top, fs, rel, item=f"mash item {index} ({rel or '?'})")
    refs: list[str] = []
    for result in promoted:
        if result.get("kind") != "ostree":  # an OSTree result names the repository: its refs are below
            changes = changes | Changeset.of(result.get("paths", ()), item=f"promoted {result.get('label', '?')}")
    for item in items:
        plugin = plugin_for(config, item)
        if isinstance(plugin, OSTreeArtifact):
            refs.append(plugin.ref)
            continue
        files = [p for p in plugin.mirror_paths(config.mirror) if (top / p).is_file()]
        changes = changes | Changeset.of(files, item=str(item.get("label", item["id"])))
    return changes, sorted(set(refs))


def publish_website(
    push: Push, config: ReleaseConfig, staging: StagingTree, signer: Signer | None = None, *, dry_run: bool = False
) -> dict[str, Any]:
    """The release's download website: its productmd ``images.json``, its page (the images by edition and arch,
    how to verify each with the release's key, the OSTree remote to add; :mod:`relengotron.website`) and the
    release's public key (``signer``'s; None: the release is not signed) written into the staging website path
    from what the public staging tree holds — a held-back candidate is never listed — then the website tree
    synced to the master mirror (an index: it goes last, after the content it names). ``dry_run`` writes into
    staging but only lists what the sync would change.

    Idempotent: unchanged documents are not rewritten and the sync then transfers nothing. Returns
    ``{"written", "changes", "images", "refs"}``.
    """
    site = website.gather(config, push.release.id, signer.keyring if signer is not None else None)
    written = website.write_site(config, site)
    changes = staging.sync([config.mirror.website.strip("/")], dry_run=dry_run)
    return {"written": written, "changes": changes, "images": len(site.images), "refs": len(site.ostree)}


def announced(push: Push, config: ReleaseConfig) -> set[tuple[str, str]]:
    """The (target, identity) pairs whose release this push announced already. Read-only."""
    return Announced(config.mirror.staging, push.push_id).pairs()


def announce_released(push: Push, config: ReleaseConfig, publisher: Publisher, body: Mapping[str, Any]) -> bool:
    """Publish one ``relengotron.artifact.released`` body unless this push announced that release already;
    whether it was published. At least once: published, then recorded (:class:`relengotron.push_state.Announced`)."""
    ledger = Announced(config.mirror.staging, push.push_id)
    target, identity = str(body["item"]), str(body["identity"])
    if (target, identity) in ledger.pairs():
        return False
    publisher.publish(MODNAME, RELEASED_TOPIC, dict(body))
    ledger.record(target, identity)
    return True


# --- the turn -----------------------------------------------------------------------------------------------


def take_turn(
    push: Push, config: ReleaseConfig, *, run_id: str, dag_id: str, is_stale: Callable[[Mapping[str, Any]], bool]
) -> dict[str, Any] | None:
    """Take the push's turn on its release and request for the DAG run ``run_id`` (:class:`PushLease`); None
    when it holds it now, else the record of the push that holds it. Idempotent: a run that holds the turn
    gets it again at once; a holder ``is_stale`` says has ended is replaced."""
    info = {"push_id": push.push_id, "dag_id": dag_id, "run_id": run_id, "since": datetime.now(UTC).isoformat()}
    return PushLease(config.mirror.staging, push.lock_name).acquire(run_id, info, is_stale=is_stale)


def give_back_turn(push: Push, config: ReleaseConfig, *, run_id: str) -> bool:
    """Give the turn back; whether ``run_id`` held it. Idempotent: a turn not held is left alone."""
    return PushLease(config.mirror.staging, push.lock_name).release(run_id)
