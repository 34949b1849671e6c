"""The daily upkeep of the OSTree repositories, carried out against the staging tree: each function is one step
of the ``ostree_maintenance`` DAG, callable and testable without Airflow.

Two repositories: the RELEASED one (the staging tree's, which the sync carries to the master mirror and
clients pull) gets everything — prune, finished heads, the signed summary, then the sync; the shared COMPOSE
repository (``ostree.repo``, where candidates are merged; never pulled by clients) is pruned by the same
retention. Every write to the released repository holds the staging lock, so upkeep never races a push's
promotion or sync, nor an EOL carve-out. The per-repository work is :mod:`relengotron.ostree.maintenance`'s
and :func:`relengotron.ostree.prune.prune`'s. With ``dry_run`` a step says what it would do and writes
nothing; without, each looks before it writes, so a second run writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

from relengotron.artifacts.staging import StagingTree
from relengotron.config import ReleaseConfig
from relengotron.ostree.maintenance import RefUpkeep, release_refs, upkeep_ref, upkeep_summary
from relengotron.ostree.prune import PruneResult, prune
from relengotron.ostree.repo import OSTreeRepo
from relengotron.ostree.signer import OSTreeSigner


@dataclass(frozen=True)
class Pruned:
    """What one prune did to the released repository and to the compose one (None: it does not exist)."""

    released: PruneResult
    compose: PruneResult | None

    def as_dict(self) -> dict[str, Any]:
        return {**_pruned(self.released), "compose": _pruned(self.compose) if self.compose is not None else None}


@contextmanager
def released_repo(staging: StagingTree, *, write: bool) -> Iterator[OSTreeRepo]:
    """The released OSTree repository, held under the staging lock when ``write``."""
    with staging.locked() if write else nullcontext():
        yield staging.ostree_repo


def compose_repo(config: ReleaseConfig) -> OSTreeRepo:
    """The shared compose repository (``ostree.repo``): where composes merge their candidates."""
    return OSTreeRepo(config.ostree.repo)


def released_refs(config: ReleaseConfig, staging: StagingTree) -> tuple[list[dict[str, str]], PruneResult] | None:
    """Each configured release's refs in the released repository (``{"release", "ref"}``) and what a prune
    would delete now; None while nothing was released yet (no released repository). Read-only."""
    with released_repo(staging, write=False) as repo:
        if not repo.exists():
            return None
        return release_refs(config, repo.refs()), prune(repo, config.ostree.retention, signer=None, dry_run=True)


def prune_repositories(
    config: ReleaseConfig, staging: StagingTree, signer: OSTreeSigner | None, *, dry_run: bool = False
) -> Pruned:
    """Prune the released repository by the configured retention (never a head or a tagged commit; stale
    static deltas go too) and re-sign its summary with ``signer`` (the summary key); then the compose
    repository the same way (its candidates that were never released age out like the rest).

    Idempotent: a second run deletes and writes nothing; a run after a crash half-way deletes the rest.
    """
    with released_repo(staging, write=not dry_run) as repo:
        released = prune(repo, config.ostree.retention, signer=signer, dry_run=dry_run)
    compose = compose_repo(config)
    pruned = prune(compose, config.ostree.retention, signer=None, dry_run=dry_run) if compose.exists() else None
    return Pruned(released, pruned)


def finish_released_ref(
    config: ReleaseConfig,
    staging: StagingTree,
    release: str,
    ref: str,
    signer: OSTreeSigner | None,
    *,
    dry_run: bool = False,
) -> RefUpkeep:
    """One released ref finished: its head signed by the release's key and the static delta from its parent
    generated, where missing. Idempotent: a head already signed with its delta in place gets nothing written."""
    with released_repo(staging, write=not dry_run) as repo:
        return upkeep_ref(
            repo, ref, release=release, signer=signer, static_deltas=config.ostree.static_deltas, dry_run=dry_run
        )


def refresh_summary(staging: StagingTree, signer: OSTreeSigner | None, *, dry_run: bool = False) -> bool:
    """The released repository's summary regenerated over every ref and static delta and signed by ``signer``
    (the summary key); whether it was (would be) rewritten. Idempotent: a current summary carrying that key's
    good signature is left alone."""
    with released_repo(staging, write=not dry_run) as repo:
        return upkeep_summary(repo, signer, dry_run=dry_run)


def sync_released(staging: StagingTree, *, dry_run: bool = False) -> dict[str, list[str]]:
    """The released repository carried to the master mirror (objects and deltas first, refs and summary after,
    so a client never sees a ref before its objects), under the staging lock. Idempotent: a mirror already
    equal gets nothing written. The changed paths per pass (``{"planned": [...]}`` for a dry run)."""
    return staging.sync([staging.ostree_root], dry_run=dry_run)


def _pruned(result: PruneResult) -> dict[str, Any]:
    return {
        "deleted": list(result.deleted),
        "deltas_deleted": list(result.deltas_deleted),
        "steps": list(result.steps),
        "dry_run": result.dry_run,
    }
