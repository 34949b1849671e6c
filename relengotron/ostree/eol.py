"""EOL carve-out of a ref: a final signed commit telling rpm-ostree clients, then a copy in the archive.

The final commit has the head's tree and metadata plus ``ostree.endoflife`` (the message rpm-ostree shows
to users) and, when a successor exists, ``ostree.endoflife-rebase`` (the ref clients are told to rebase to).
It is a child of the old head, signed, with a static delta, and listed in the signed summary.

Archiving (the choice made here): the ref's whole history is copied into a separate archive repository
(same ref name, archive mode, its own signed summary) — the repository that moves to the mirror's archive
tree. The live ref stays on the EOL commit, because a client can only read the EOL message from a ref it
can still pull; removing the live ref later is the retention policy's business.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from relengotron.ostree import publish
from relengotron.ostree.metadata import KEPT_BY_EOL, KEY_ENDOFLIFE, KEY_ENDOFLIFE_REBASE
from relengotron.ostree.repo import OSTreeRepo, RepoError, check_ref
from relengotron.ostree.signer import OSTreeSigner

STEP_EOL_COMMIT = "eol-commit"
STEP_ARCHIVE = "archive"
STEP_ARCHIVE_SUMMARY = "archive-summary"


@dataclass(frozen=True)
class CarveOutResult:
    ref: str
    commit: str  # the EOL commit (the ref's head)
    message: str  # the ostree.endoflife message it carries
    rebase: str | None
    steps: tuple[str, ...]  # what this run wrote; () when the ref was already carved out and archived


def carve_out(
    repo: OSTreeRepo,
    ref: str,
    *,
    message: str,
    rebase: str | None,
    archive: OSTreeRepo,
    signer: OSTreeSigner | None,
    static_deltas: bool = True,
    now: datetime | None = None,
) -> CarveOutResult:
    """Write the EOL commit on ``ref`` (unless its head already is one) and archive the ref.

    Idempotent: a ref whose head already carries ``ostree.endoflife`` gets no new commit (the message it has
    is kept), and an archive that already holds the head changes nothing; after a crash, a rerun completes
    the signature, delta, summary and archive copy. Raises RepoError naming the ref when it does not exist
    or when ``rebase`` names a ref this repository does not have — before anything is written.
    """
    check_ref(ref)
    if not message.strip():
        raise ValueError(f"{ref}: an end-of-life message is needed")
    if signer is not None:
        signer.check()
    now = now or datetime.now(UTC)
    steps: list[str] = []
    with repo.locked():
        head = repo.rev_parse(ref)
        if head is None:
            raise RepoError(f"{repo.path}: no ref {ref} to carve out")
        if rebase is not None and repo.rev_parse(check_ref(rebase)) is None:
            raise RepoError(f"{repo.path}: {ref} cannot point clients at {rebase}: no such ref")
        info = repo.show(head)
        if not isinstance(info.metadata.get(KEY_ENDOFLIFE), str):
            metadata = {KEY_ENDOFLIFE: message}
            if rebase is not None:
                metadata[KEY_ENDOFLIFE_REBASE] = rebase
            keep = [k for k in KEPT_BY_EOL if k in info.metadata]
            final = repo.commit(
                trees=[f"ref={head}"],
                subject=f"{ref}: end of life",
                body=message,
                parent=head,
                metadata=metadata,
                keep_metadata=keep,
                timestamp=int(now.timestamp()),
                item=f"{ref}: end-of-life commit in {repo.path}",
            )
            if signer is not None:
                signer.sign_ostree_commit(repo.path, final)
            repo.set_ref(ref, final)
            steps.append(STEP_EOL_COMMIT)
            head, info = final, repo.show(final)
        steps += publish.finish(repo, ref, signer=signer, static_deltas=static_deltas)
    archive.init("archive")
    with archive.locked():
        if archive.refs(ref).get(ref) != head:
            archive.pull_local(repo.path, [ref], depth=-1)
            steps.append(STEP_ARCHIVE)
        if archive.update_summary(signer):
            steps.append(STEP_ARCHIVE_SUMMARY)
    eol_message = info.metadata[KEY_ENDOFLIFE]
    rebase_to = info.metadata.get(KEY_ENDOFLIFE_REBASE)
    return CarveOutResult(
        ref=ref,
        commit=head,
        message=eol_message,
        rebase=rebase_to if isinstance(rebase_to, str) else None,
        steps=tuple(steps),
    )
