"""Which commits a prune deletes: a pure decision from each ref's history and the retention policy.

Rules (``Retention(keep_days, keep_last)`` from the release configuration):

- the head of every branch and every tagged commit are always kept;
- walking a branch back from its head, a commit is kept while it is one of the branch's last ``keep_last``
  commits or younger than ``keep_days``; the walk stops at the first commit that is neither, and everything
  behind it that no other rule keeps is deleted (the same "stop at the first old commit" rule ostree's own
  ``--keep-younger-than`` follows);
- a tag keeps its commit only, not the tagged commit's ancestors.

Every kept commit is therefore reachable from a ref through kept commits. That is what makes the plan safe
to carry out with ostree: delete the :attr:`PrunePlan.frontier` commits (the first deleted commit on each
chain) with ``ostree prune --refs-only --delete-commit``, and the reachability prune removes exactly the rest
of :attr:`PrunePlan.delete` — it can never remove a kept commit.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise

from relengotron.config import Retention

DAY = 86400


@dataclass(frozen=True)
class CommitNode:
    checksum: str
    timestamp: int  # seconds since the epoch
    parent: str | None


@dataclass(frozen=True)
class PrunePlan:
    keep: Mapping[str, str]  # commit → why it is kept (the first rule that keeps it)
    delete: frozenset[str]
    frontier: tuple[str, ...]  # the deleted commits a kept commit (or a ref) names as parent; sorted


def plan_prune(
    histories: Mapping[str, Sequence[CommitNode]], tags: Collection[str], retention: Retention, now: int
) -> PrunePlan:
    """Decide which commits to delete.

    ``histories`` maps every ref (branches and tags) to its history, newest first, as far back as it is
    present (each entry's parent is the next entry). ``tags`` names the refs that are tags. ``now`` is the
    current time in seconds since the epoch. Raises ValueError naming a ref whose history is not a chain.
    """
    cutoff = now - retention.keep_days * DAY
    keep: dict[str, str] = {}
    for ref, chain in sorted(histories.items()):
        _check_chain(ref, chain)
        if not chain:
            continue
        if ref in tags:
            keep.setdefault(chain[0].checksum, f"tagged {ref}")
            continue
        keep.setdefault(chain[0].checksum, f"head of {ref}")
    for ref, chain in sorted(histories.items()):
        if ref in tags:
            continue
        for index, node in enumerate(chain):
            if index < retention.keep_last:
                keep.setdefault(node.checksum, f"one of the last {retention.keep_last} commits of {ref}")
            elif node.timestamp >= cutoff:
                keep.setdefault(node.checksum, f"younger than {retention.keep_days} days on {ref}")
            else:
                break
    everything = {node.checksum for chain in histories.values() for node in chain}
    delete = frozenset(everything - keep.keys())
    frontier = {
        chain[index].checksum
        for chain in histories.values()
        for index in range(1, len(chain))
        if chain[index].checksum in delete and chain[index - 1].checksum in keep
    }
    return PrunePlan(keep=keep, delete=delete, frontier=tuple(sorted(frontier)))


def stale_deltas(deltas: Iterable[str], present: Collection[str]) -> frozenset[str]:
    """The static deltas (``FROM-TO`` or ``TO``) whose source or target commit is no longer ``present``."""
    stale = set()
    for name in deltas:
        if any(part not in present for part in name.split("-")):
            stale.add(name)
    return frozenset(stale)


def _check_chain(ref: str, chain: Sequence[CommitNode]) -> None:
    for newer, older in pairwise(chain):
        if newer.parent != older.checksum:
            raise ValueError(f"history of {ref}: {older.checksum} is not the parent of {newer.checksum}")
