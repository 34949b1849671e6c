"""Finishing what clients see of a ref: the head's signature, the static delta to it, the signed summary.

These are the steps after a ref moves. Each is checked before it is done, so :func:`finish` is what a rerun
after a crash calls to complete a half-published head, and it writes nothing when everything is in place.
"""

from __future__ import annotations

from relengotron.ostree.metadata import KEY_VERSION
from relengotron.ostree.repo import OSTreeRepo, RepoError
from relengotron.ostree.signer import OSTreeSigner

STEP_SIGN = "sign"
STEP_DELTA = "static-delta"
STEP_SUMMARY = "summary"
STEP_TAG = "tag"


def finish(repo: OSTreeRepo, ref: str, *, signer: OSTreeSigner | None, static_deltas: bool) -> tuple[str, ...]:
    """Make sure ``ref``'s head is signed, has a static delta from its parent and is in a signed summary.

    Returns the steps that had to be done (empty when nothing was missing). Idempotent: a second call
    returns ``()`` and changes nothing. The delta is made only when the parent commit is present.
    """
    head = repo.rev_parse(ref)
    if head is None:
        raise RepoError(f"{repo.path}: no ref {ref}")
    done: list[str] = []
    if signer is not None and signer.sign_ostree_commit(repo.path, head).action == "signed":
        done.append(STEP_SIGN)
    if static_deltas:
        parent = repo.show(head).parent
        if parent and repo.has_commit(parent) and repo.generate_static_delta(parent, head):
            done.append(STEP_DELTA)
    if repo.update_summary(signer):
        done.append(STEP_SUMMARY)
    return tuple(done)


def tag_head(repo: OSTreeRepo, ref: str, *, signer: OSTreeSigner | None) -> tuple[str, tuple[str, ...]]:
    """Tag ``ref``'s head with its version (``tags/<ref>/<version>``) and update the summary.

    Returns the tag and the steps done. Idempotent: the tag already on the head → nothing is written. A head
    without a ``version`` cannot be tagged (RepoError naming the ref and commit).
    """
    with repo.locked():
        head = repo.rev_parse(ref)
        if head is None:
            raise RepoError(f"{repo.path}: no ref {ref}")
        version = repo.show(head).metadata.get(KEY_VERSION)
        if not isinstance(version, str) or not version:
            raise RepoError(f"{repo.path}: {ref} head {head} has no version to tag it with")
        before = repo.refs()
        tag = repo.create_tag(ref, version, head)
        done = [STEP_TAG] if repo.refs() != before else []
        if repo.update_summary(signer):
            done.append(STEP_SUMMARY)
        return tag, tuple(done)
