"""Daily upkeep of the shared repository: prune by the retention policy, finish every release ref's head, and
one signed summary over the result.

1. Prune (:func:`relengotron.ostree.prune.prune`): the whole repository, by the configured retention; never a
   head or a tagged commit; stale static deltas go with the commits.
2. Finish each ref a configured release owns (:func:`release_refs`, matched by the release's artifact ref
   templates): its head signed by the release's key and the static delta from its parent (when the parent is
   still there) — what a merge cut short may have left undone. Refs no release claims are pruned but not
   finished: there is no key to sign them with.
3. The summary, listing every ref and delta, signed by the key of :func:`summary_release`.

Which key signs the summary: the repository holds every release's refs but its summary carries one signature
here, by the newest release that is still maintained (active or frozen, the highest version) — the key
clients of current releases have; failing that Rawhide's, failing that any release's; none when no release
has a key. (Merges and carve-outs sign the summary with their own release's key; the next upkeep puts this
key back.)

Idempotent: each step looks before it writes, so a second run writes nothing. With ``dry_run`` each says
what it would do and writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from relengotron.config import Release, ReleaseConfig
from relengotron.eol import release_refs as _refs_of
from relengotron.ostree.prune import PruneResult
from relengotron.ostree.publish import STEP_DELTA, STEP_SIGN
from relengotron.ostree.repo import OSTreeRepo, RepoError
from relengotron.ostree.signer import OSTreeSigner

MAINTAINED = ("active", "frozen")


@dataclass(frozen=True)
class RefUpkeep:
    """What finishing one ref did (or, in a dry run, would do): ``steps`` empty means nothing was missing."""

    release: str
    ref: str
    head: str
    steps: tuple[str, ...]  # "sign", "static-delta"
    dry_run: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "release": self.release,
            "ref": self.ref,
            "head": self.head,
            "steps": list(self.steps),
            "dry_run": self.dry_run,
        }


def release_refs(config: ReleaseConfig, refs: Iterable[str]) -> list[dict[str, str]]:
    """``{"release", "ref"}`` for each of ``refs`` a configured release owns, by release then ref. Pure."""
    names = list(refs)
    return [
        {"release": release.id, "ref": ref}
        for release in sorted(config.releases.values(), key=lambda r: r.id)
        for ref in _refs_of(release, config, names)
    ]


def summary_release(config: ReleaseConfig) -> Release | None:
    """The release whose key signs the shared summary (see the module docstring); None: unsigned. Pure."""
    keyed = [r for r in config.releases.values() if r.signing_key is not None]
    maintained = [r for r in keyed if r.state in MAINTAINED]
    if maintained:
        return max(maintained, key=_version_order)
    rawhide = [r for r in keyed if r.state == "rawhide"]
    pool = rawhide or keyed
    return max(pool, key=_version_order) if pool else None


def upkeep_ref(
    repo: OSTreeRepo,
    ref: str,
    *,
    release: str,
    signer: OSTreeSigner | None,
    static_deltas: bool,
    dry_run: bool = False,
) -> RefUpkeep:
    """Sign ``ref``'s head with ``signer`` and generate the static delta from its parent, where missing.

    Idempotent: a head already signed by this key with its delta present gets nothing written. Holds the
    repository lock (never races a merge or a prune). RepoError naming the ref when it does not exist.
    """
    if signer is not None and not dry_run:
        signer.check()
    with repo.locked():
        head = repo.rev_parse(ref)
        if head is None:
            raise RepoError(f"{repo.path}: no ref {ref}")
        steps: list[str] = []
        if signer is not None and not signer.commit_signed(repo.path, head):
            if not dry_run:
                signer.sign_ostree_commit(repo.path, head)
            steps.append(STEP_SIGN)
        parent = repo.show(head).parent if static_deltas else None
        if parent and repo.has_commit(parent) and f"{parent}-{head}" not in repo.static_deltas():
            if not dry_run:
                repo.generate_static_delta(parent, head)
            steps.append(STEP_DELTA)
        return RefUpkeep(release, ref, head, tuple(steps), dry_run)


def upkeep_summary(repo: OSTreeRepo, signer: OSTreeSigner | None, *, dry_run: bool = False) -> bool:
    """Make the summary list the present refs and deltas, signed by ``signer``; whether it was (would be)
    rewritten.

    Idempotent: a current summary carrying this key's good signature is left alone. Holds the repository lock.
    """
    with repo.locked():
        stale = not repo.summary_current() or (signer is not None and not signer.summary_signed(repo.path))
        if dry_run:
            return stale
        return repo.update_summary(signer)


def render_prune(result: PruneResult) -> str:
    """What a prune did (or would do), for the task log."""
    verb = "would delete" if result.dry_run else "deleted"
    lines = [
        f"prune: {verb} {len(result.deleted)} commit(s) and {len(result.deltas_deleted)} static delta(s); "
        f"kept {len(result.plan.keep)} commit(s)"
    ]
    lines += [f"  {verb}: {commit}" for commit in result.deleted]
    lines += [f"  kept {commit[:12]}: {why}" for commit, why in sorted(result.plan.keep.items(), key=lambda kv: kv[1])]
    if result.steps:
        lines.append(f"  wrote: {', '.join(result.steps)}")
    return "\n".join(lines)


def render_upkeep(done: RefUpkeep) -> str:
    if not done.steps:
        return f"{done.ref} ({done.release}): head {done.head[:12]} already signed, delta in place"
    verb = "would do" if done.dry_run else "did"
    return f"{done.ref} ({done.release}): head {done.head[:12]}: {verb} {', '.join(done.steps)}"


def _version_order(release: Release) -> tuple[int, int, str]:
    """Numeric versions in number order, after them anything else (Rawhide), by name."""
    if release.version.isdigit():
        return (0, int(release.version), release.id)
    return (1, 0, release.id)
