"""Garbage collection of the shared repository by the retention policy (the I/O around :mod:`.retention`).

How the plan is carried out, and why this way: ``ostree prune --keep-younger-than`` knows neither tags nor
"keep the last N", so the decision is ours (:func:`relengotron.ostree.retention.plan_prune`) and ostree only
executes it: each frontier commit is deleted with ``ostree prune --refs-only --delete-commit=C`` (ostree
itself refuses to delete a commit a ref points at), then ``ostree prune --refs-only`` drops every object no
ref reaches — exactly the planned commits, because every kept commit is reachable through kept commits.
Static deltas from or to a deleted commit are removed, and the summary is regenerated (signed).

The whole run holds the repository lock (:meth:`OSTreeRepo.locked`), so it never races a merge.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from relengotron.config import Retention
from relengotron.ostree.publish import STEP_SUMMARY
from relengotron.ostree.repo import TAG_PREFIX, OSTreeRepo, RepoError
from relengotron.ostree.retention import CommitNode, PrunePlan, plan_prune, stale_deltas
from relengotron.ostree.signer import OSTreeSigner


@dataclass(frozen=True)
class PruneResult:
    plan: PrunePlan
    deleted: tuple[str, ...]  # commits that were present and are gone now (sorted)
    deltas_deleted: tuple[str, ...]
    steps: tuple[str, ...]  # "delete-objects", "static-deltas", "summary": what this run wrote
    dry_run: bool


def histories(repo: OSTreeRepo) -> tuple[dict[str, list[CommitNode]], frozenset[str]]:
    """Every ref's history as present (newest first) and which refs are tags (read-only)."""
    refs = repo.refs()
    out = {
        ref: [CommitNode(e.checksum, e.timestamp, e.parent) for e in repo.log(commit)] for ref, commit in refs.items()
    }
    return out, frozenset(ref for ref in refs if ref.startswith(TAG_PREFIX))


def prune(
    repo: OSTreeRepo,
    retention: Retention,
    *,
    signer: OSTreeSigner | None,
    now: int | None = None,
    dry_run: bool = False,
) -> PruneResult:
    """Delete what the retention policy lets go; with ``dry_run`` only say what that would be.

    Idempotent: a second run plans nothing new and writes nothing (the summary is only rewritten when it no
    longer matches the refs and deltas). A run after a crash half-way deletes the rest. Never deletes a head
    or a tagged commit; after deleting it checks that every kept commit is still there (RepoError if not).
    """
    now = int(time.time()) if now is None else now
    if signer is not None and not dry_run:
        signer.check()
    with repo.locked():
        chains, tags = histories(repo)
        plan = plan_prune(chains, tags, retention, now)
        present_before = {c for c in plan.delete if repo.has_commit(c)}
        deltas = stale_deltas(repo.static_deltas(), plan.keep.keys())
        if dry_run:
            return PruneResult(plan, tuple(sorted(present_before)), tuple(sorted(deltas)), (), True)
        steps: list[str] = []
        removed = sum(repo.delete_commit(commit) for commit in plan.frontier) + repo.prune_unreachable()
        if removed:
            steps.append("delete-objects")
        missing = [c for c in plan.keep if not repo.has_commit(c)]
        if missing:
            raise RepoError(f"{repo.path}: prune removed kept commit {missing[0]} ({plan.keep[missing[0]]})")
        left = [c for c in plan.delete if repo.has_commit(c)]
        if left:
            raise RepoError(f"{repo.path}: commit {left[0]} should have been pruned but is still there")
        for name in sorted(deltas):
            repo.delete_static_delta(name)
        if deltas:
            steps.append("static-deltas")
        if repo.update_summary(signer):
            steps.append(STEP_SUMMARY)
        return PruneResult(plan, tuple(sorted(present_before)), tuple(sorted(deltas)), tuple(steps), False)
