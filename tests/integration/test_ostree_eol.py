"""EOL carve-out with the real ostree: a final signed commit carrying ostree.endoflife (and the rebase target),
readable with `ostree show`; the ref's history copied to the archive repository; a rerun changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from test_ostree_support import REF, UPDATED_GLIBC, Payloads, compose_and_merge, make_signer, ostree, snapshot

from relengotron.ostree.compose import LocalBackend
from relengotron.ostree.eol import carve_out
from relengotron.ostree.merge import last_released
from relengotron.ostree.repo import OSTreeRepo, RepoError

pytestmark = pytest.mark.integration

NOW = datetime(2017, 8, 8, 12, 0, tzinfo=UTC)
SUCCESSOR = "fedora/25/x86_64/atomic-host"
MESSAGE = "Fedora 24 is end of life; rebase to Fedora 25: rpm-ostree rebase fedora/25/x86_64/atomic-host"


@pytest.fixture(scope="module")
def signer(tmp_path_factory):
    return make_signer(tmp_path_factory.mktemp("gnupg"))


@pytest.fixture
def shared(tmp_path: Path, built_world, signer) -> OSTreeRepo:
    payloads = Payloads(built_world, tmp_path / "yum")
    backend = LocalBackend(tmp_path / "work")
    repo = OSTreeRepo(tmp_path / "shared")
    compose_and_merge(backend, repo, payloads.request(), signer, now=NOW)
    compose_and_merge(backend, repo, payloads.request(glibc=UPDATED_GLIBC), signer, now=NOW)
    compose_and_merge(backend, repo, payloads.request(ref=SUCCESSOR), signer, now=NOW)
    return repo


def test_carve_out_then_nothing_more(tmp_path: Path, shared: OSTreeRepo, signer) -> None:
    old_head = shared.rev_parse(REF)
    released_before = last_released(shared, REF)
    archive = OSTreeRepo(tmp_path / "archive")
    result = carve_out(shared, REF, message=MESSAGE, rebase=SUCCESSOR, archive=archive, signer=signer, now=NOW)
    assert result.steps == ("eol-commit", "static-delta", "summary", "archive", "archive-summary")
    assert (result.message, result.rebase) == (MESSAGE, SUCCESSOR)

    # What rpm-ostree reads, as the ostree client prints it.
    repo = f"--repo={shared.path}"
    assert ostree(repo, "show", "--print-metadata-key=ostree.endoflife", REF).stdout.strip() == f"'{MESSAGE}'"
    assert ostree(repo, "show", "--print-metadata-key=ostree.endoflife-rebase", REF).stdout.strip() == f"'{SUCCESSOR}'"
    info = shared.show(REF)
    assert info.checksum == result.commit and info.parent == old_head
    assert info.content_checksum == shared.show(old_head).content_checksum  # same tree, only the message is new
    assert signer.commit_signed(shared.path, result.commit)
    released = last_released(shared, REF)
    assert released is not None and released.endoflife == MESSAGE
    assert (released.manifest, released.version) == (released_before.manifest, released_before.version)
    assert shared.summary().refs[REF] == result.commit
    assert shared.rev_parse(SUCCESSOR) is not None  # the successor is untouched

    assert archive.refs() == {REF: result.commit}
    assert len(archive.log(REF)) == 3  # the whole history: two releases and the EOL commit
    assert signer.commit_signed(archive.path, result.commit) and archive.summary().signed
    archive.fsck()

    before = snapshot(shared), snapshot(archive)
    again = carve_out(shared, REF, message="another text", rebase=None, archive=archive, signer=signer, now=NOW)
    assert (again.steps, again.commit, again.message, again.rebase) == ((), result.commit, MESSAGE, SUCCESSOR)
    assert (snapshot(shared), snapshot(archive)) == before


def test_without_a_successor_there_is_no_rebase_key(tmp_path: Path, shared: OSTreeRepo, signer) -> None:
    result = carve_out(
        shared, SUCCESSOR, message="gone", rebase=None, archive=OSTreeRepo(tmp_path / "a"), signer=signer, now=NOW
    )
    assert "ostree.endoflife-rebase" not in shared.show(SUCCESSOR).metadata
    assert result.rebase is None and shared.show(SUCCESSOR).metadata["ostree.endoflife"] == "gone"


def test_bad_input_changes_nothing(tmp_path: Path, shared: OSTreeRepo, signer) -> None:
    before = snapshot(shared)
    archive = OSTreeRepo(tmp_path / "archive")
    with pytest.raises(RepoError, match=f"{REF} cannot point clients at fedora/99/x86_64/atomic-host: no such ref"):
        carve_out(shared, REF, message=MESSAGE, rebase="fedora/99/x86_64/atomic-host", archive=archive, signer=signer)
    with pytest.raises(RepoError, match="no ref fedora/23/x86_64/atomic-host to carve out"):
        carve_out(shared, "fedora/23/x86_64/atomic-host", message=MESSAGE, rebase=None, archive=archive, signer=signer)
    with pytest.raises(ValueError, match="an end-of-life message is needed"):
        carve_out(shared, REF, message=" ", rebase=None, archive=archive, signer=signer)
    assert snapshot(shared) == before
    assert not archive.exists()
