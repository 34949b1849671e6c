"""Merge a composed tree into the shared repository — only if it changed — and read back what was released.

:func:`merge_if_changed` compares the composed tree's content checksum with the head of the target ref:

- equal: the result is "unchanged" and nothing is written — no commit, no ref move, no object (the scratch
  commit is not even pulled). Only publication steps a crash left undone are completed (signature, static
  delta, summary; see :func:`relengotron.ostree.publish.finish`).
- different: a child of the head is committed in the scratch repository (same tree, metadata ``version``,
  ``relengotron.manifest``, ``relengotron.input-hash``, and the composed commit's ``rpmostree.rpmdb.pkglist``
  carried over), signed there, pulled into the shared repository,
  the static delta from the old head is generated, and only then does the ref move (an atomic file rename:
  the publication point) and the signed summary get written.

Crash safety: a step failing before the ref moves is rolled back (the delta and the pulled objects are
removed again, so the object count is what it was); a process killed there leaves only unreferenced objects
(invisible to clients, removed by the next prune), and a rerun merges again. After the ref moves, a rerun with the same
input finds the head's content checksum equal and completes the summary. Failures that can be foreseen
(the signing key is missing, the scratch commit is gone) are raised before anything is written.

A manifest change that does not change any file (a rebuild with identical content) is "unchanged": the
head keeps the manifest of the commit that last changed the tree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from relengotron.ostree import publish
from relengotron.ostree.compose import ComposeResult
from relengotron.ostree.metadata import (
    CARRIED_FROM_COMPOSE,
    KEY_VERSION,
    ReleasedManifest,
    next_version,
    released_from_metadata,
)
from relengotron.ostree.repo import OSTreeRepo, RepoError
from relengotron.ostree.signer import OSTreeSigner

UNCHANGED = "unchanged"
MERGED = "merged"
STEP_COMMIT = "commit"


@dataclass(frozen=True)
class MergeResult:
    ref: str
    status: str  # UNCHANGED | MERGED
    head: str  # the ref's head afterwards
    previous: str | None  # the ref's head before (None: the ref is new)
    version: str | None  # the head's version
    content_checksum: str
    steps: tuple[str, ...]  # what this run wrote: "commit", "sign", "static-delta", "summary"


def merge_if_changed(
    shared: OSTreeRepo,
    composed: ComposeResult,
    *,
    version_prefix: str,
    signer: OSTreeSigner | None,
    static_deltas: bool = True,
    now: datetime | None = None,
) -> MergeResult:
    """Make ``composed`` the new head of its ref in ``shared`` if its tree differs from the head's.

    ``version_prefix`` is the release's version ("24"); the new head's version is
    ``<prefix>.<YYYYMMDD of now>.<n>``. Idempotent: a second call with the same compose is "unchanged" and
    writes nothing; a call after a crash finishes the publication (see the module docstring).
    """
    now = now or datetime.now(UTC)
    ref = composed.ref
    scratch = OSTreeRepo(composed.repo)
    new = scratch.show(composed.commit)
    if new.content_checksum != composed.content_checksum:
        raise RepoError(f"{scratch.path}: commit {composed.commit} is not the composed tree of {ref}")
    if signer is not None:
        signer.check()
    shared.init("archive")
    with shared.locked():
        head = shared.rev_parse(ref)
        head_info = shared.show(head) if head else None
        if head_info is not None and head_info.content_checksum == new.content_checksum:
            steps = publish.finish(shared, ref, signer=signer, static_deltas=static_deltas)
            version = head_info.metadata.get(KEY_VERSION)
            return MergeResult(
                ref=ref,
                status=UNCHANGED,
                head=head_info.checksum,
                previous=head_info.checksum,
                version=version if isinstance(version, str) else None,
                content_checksum=head_info.content_checksum,
                steps=steps,
            )
        previous_version = head_info.metadata.get(KEY_VERSION) if head_info else None
        version = next_version(
            version_prefix, now.date(), previous_version if isinstance(previous_version, str) else None
        )
        child = scratch.commit(
            trees=[f"ref={composed.commit}"],
            subject=f"{ref} {version}",
            parent=head,
            metadata={
                KEY_VERSION: version,
                **composed.manifest.metadata(),
                **{key: new.metadata[key] for key in CARRIED_FROM_COMPOSE if key in new.metadata},
            },
            timestamp=int(now.timestamp()),
            item=f"{ref}: commit {version} in {scratch.path}",
        )
        if signer is not None:
            signer.sign_ostree_commit(scratch.path, child)
        shared.pull_local(scratch.path, [child])
        try:
            if static_deltas and head:
                shared.generate_static_delta(head, child)
            shared.set_ref(ref, child)
        except BaseException:
            _roll_back(shared, head, child)
            raise
        steps = (STEP_COMMIT, *publish.finish(shared, ref, signer=signer, static_deltas=static_deltas))
        return MergeResult(
            ref=ref,
            status=MERGED,
            head=child,
            previous=head,
            version=version,
            content_checksum=new.content_checksum,
            steps=steps,
        )


def _roll_back(shared: OSTreeRepo, head: str | None, child: str) -> None:
    """Remove what a merge that failed before its ref moved added: the delta and the unreferenced objects.

    Best effort (the original error is what the caller must see); a leftover is removed by the next prune.
    """
    try:
        if child in shared.refs().values():
            return  # the ref did move: nothing to roll back
        if head:
            shared.delete_static_delta(f"{head}-{child}")
        shared.prune_unreachable()  # not --delete-commit: that would leave a tombstone file behind
    except Exception:  # keep the error that made us roll back
        pass


def last_released(repo: OSTreeRepo, ref: str) -> ReleasedManifest | None:
    """The manifest recorded in the head commit of ``ref`` (read-only), for the planner.

    None when the repository or the ref does not exist, or the head carries no manifest (not made by a
    merge). A manifest that does not hold together raises :class:`relengotron.manifest.ManifestError`
    naming the ref and commit.
    """
    if not repo.exists():
        return None
    head = repo.rev_parse(ref)
    if head is None:
        return None
    info = repo.show(head)
    return released_from_metadata(ref, head, info.timestamp, info.metadata)
