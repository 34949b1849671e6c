"""Compose from RPMs and merge into the shared repository only if the tree changed — with the real ostree,
dnf, rpm and gpg, from a signed yum repository of the built world."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from test_ostree_support import REF, UPDATED_GLIBC, Payloads, compose_and_merge, make_signer, ostree, snapshot

from relengotron.artifacts import load_release_config
from relengotron.ostree import publish
from relengotron.ostree.compose import LocalBackend
from relengotron.ostree.merge import MERGED, UNCHANGED, last_released, merge_if_changed
from relengotron.ostree.repo import OSTreeRepo, RepoError
from relengotron.tools.run import ToolError

pytestmark = pytest.mark.integration

NOW = datetime(2016, 6, 14, 12, 0, tzinfo=UTC)
CONFIG = Path(__file__).resolve().parents[2] / "config" / "fedora.yaml"


@pytest.fixture(scope="module")
def payloads(built_world, tmp_path_factory: pytest.TempPathFactory) -> Payloads:
    return Payloads(built_world, tmp_path_factory.mktemp("yum"))


@pytest.fixture(scope="module")
def signer(tmp_path_factory):
    return make_signer(tmp_path_factory.mktemp("gnupg"))


@pytest.fixture
def backend(tmp_path: Path, payloads: Payloads) -> LocalBackend:
    return LocalBackend(tmp_path / "work")


def test_same_inputs_write_nothing_and_one_changed_package_writes_one_child_commit(
    tmp_path: Path, payloads: Payloads, signer, backend: LocalBackend
) -> None:
    shared = OSTreeRepo(tmp_path / "shared")
    first, merged = compose_and_merge(backend, shared, payloads.request(), signer, now=NOW)
    assert (merged.status, merged.previous, merged.version) == (MERGED, None, "24.20160614.0")
    assert merged.steps == ("commit", "summary")
    assert signer.commit_signed(shared.path, merged.head)
    assert shared.summary().refs == {REF: merged.head} and shared.summary().signed

    before = snapshot(shared)
    again, unchanged = compose_and_merge(backend, shared, payloads.request(), signer, now=NOW)
    assert again.content_checksum == first.content_checksum
    assert (unchanged.status, unchanged.head, unchanged.steps) == (UNCHANGED, merged.head, ())
    assert snapshot(shared) == before  # no commit, no ref move, no object, summary untouched
    assert len(shared.log(REF)) == 1

    request = payloads.request(glibc=UPDATED_GLIBC)
    _, changed = compose_and_merge(backend, shared, request, signer, now=NOW)
    assert (changed.status, changed.previous, changed.version) == (MERGED, merged.head, "24.20160614.1")
    history = shared.log(REF)
    assert [entry.checksum for entry in history] == [changed.head, merged.head]
    info = shared.show(REF)
    assert info.parent == merged.head
    assert info.metadata["relengotron.manifest"] == list(request.manifest.nvrs)
    assert UPDATED_GLIBC in info.metadata["relengotron.manifest"]
    assert info.metadata["relengotron.input-hash"] == request.manifest.input_hash
    assert info.metadata["version"] == "24.20160614.1"
    assert signer.commit_signed(shared.path, changed.head)
    assert f"{merged.head}-{changed.head}" in shared.static_deltas()
    assert shared.summary().refs == {REF: changed.head}
    assert shared.summary().deltas == {f"{merged.head}-{changed.head}"}

    # What a user sees with the ostree client: the metadata and the new glibc's files.
    printed = ostree(f"--repo={shared.path}", "show", "--print-metadata-key=relengotron.manifest", REF).stdout
    assert f"'{UPDATED_GLIBC}'" in printed
    assert UPDATED_GLIBC in ostree(f"--repo={shared.path}", "cat", REF, "/usr/share/glibc/README").stdout
    released = last_released(shared, REF)
    assert released is not None
    assert (released.commit, released.manifest, released.version) == (
        changed.head,
        request.manifest,
        info.metadata["version"],
    )
    shared.fsck()


def test_a_rerun_after_a_crash_once_the_ref_moved_only_completes_the_publication(
    tmp_path: Path, payloads: Payloads, signer, backend: LocalBackend, monkeypatch
) -> None:
    shared = OSTreeRepo(tmp_path / "shared")
    _, base = compose_and_merge(backend, shared, payloads.request(), signer, now=NOW)
    composed = backend.compose(payloads.request(glibc=UPDATED_GLIBC))

    def crash(self, repo, *, regenerate):
        raise ToolError(f"summary of {repo}", ["ostree", "summary"], None, "killed")

    with monkeypatch.context() as patch:
        patch.setattr(type(signer), "_sign_summary", crash)
        with pytest.raises(ToolError, match="summary of"):
            merge_if_changed(shared, composed, version_prefix="24", signer=signer, now=NOW)
    head = shared.rev_parse(REF)
    assert head != base.head and shared.show(head).parent == base.head
    assert shared.summary().refs == {REF: base.head}  # stale: the crash came before the summary

    rerun = merge_if_changed(shared, composed, version_prefix="24", signer=signer, now=NOW)
    assert (rerun.status, rerun.head, rerun.steps) == (UNCHANGED, head, ("summary",))
    assert shared.summary().refs == {REF: head}
    assert merge_if_changed(shared, composed, version_prefix="24", signer=signer, now=NOW).steps == ()


def test_a_rerun_completes_a_missing_signature_and_delta(
    tmp_path: Path, payloads: Payloads, signer, backend: LocalBackend
) -> None:
    shared = OSTreeRepo(tmp_path / "shared")
    compose_and_merge(backend, shared, payloads.request(), None, now=NOW, static_deltas=False)
    composed, bare = compose_and_merge(
        backend, shared, payloads.request(glibc=UPDATED_GLIBC), None, now=NOW, static_deltas=False
    )
    assert not signer.commit_signed(shared.path, bare.head) and not shared.static_deltas()
    rerun = merge_if_changed(shared, composed, version_prefix="24", signer=signer, now=NOW)
    assert (rerun.status, rerun.steps) == (UNCHANGED, ("sign", "static-delta", "summary"))
    assert signer.commit_signed(shared.path, bare.head)
    assert shared.static_deltas() == {f"{bare.previous}-{bare.head}"}
    assert len(shared.show(bare.head).signatures) == 1
    assert merge_if_changed(shared, composed, version_prefix="24", signer=signer, now=NOW).steps == ()
    assert len(shared.show(bare.head).signatures) == 1  # signing again would have added a second one


def test_a_failure_before_the_ref_moves_leaves_the_shared_repository_as_it_was(
    tmp_path: Path, payloads: Payloads, signer, backend: LocalBackend, monkeypatch
) -> None:
    shared = OSTreeRepo(tmp_path / "shared")
    _, base = compose_and_merge(backend, shared, payloads.request(), signer, now=NOW)
    before = snapshot(shared)
    composed = backend.compose(payloads.request(glibc=UPDATED_GLIBC))

    def broken(self, from_commit, to_commit):
        raise ToolError(f"static delta in {self.path}", ["ostree", "static-delta"], 1, "disk full")

    with monkeypatch.context() as patch:
        patch.setattr(OSTreeRepo, "generate_static_delta", broken)
        with pytest.raises(ToolError, match="disk full"):
            merge_if_changed(shared, composed, version_prefix="24", signer=signer, now=NOW)
    assert snapshot(shared) == before  # the pulled objects were removed again

    rerun = merge_if_changed(shared, composed, version_prefix="24", signer=signer, now=NOW)
    assert rerun.status == MERGED and rerun.previous == base.head
    assert [e.checksum for e in shared.log(REF)] == [rerun.head, base.head]


def test_streams_are_separate_refs_and_tags_name_released_versions(
    tmp_path: Path, payloads: Payloads, signer, backend: LocalBackend
) -> None:
    config = load_release_config(CONFIG)
    release = config.release("f24")
    artifact = next(a for a in config.artifacts_of("f24") if a.name == "atomic-host")
    refs = [artifact.ostree_ref(release, "x86_64", stream) for stream in (None, "updates", "testing")]
    assert refs == [REF, "fedora/24/x86_64/updates/atomic-host", "fedora/24/x86_64/testing/atomic-host"]
    shared = OSTreeRepo(tmp_path / "shared")
    for ref in refs:
        compose_and_merge(backend, shared, payloads.request(ref=ref), signer, now=NOW)
    _, testing = compose_and_merge(backend, shared, payloads.request(ref=refs[2], glibc=UPDATED_GLIBC), signer, now=NOW)
    assert testing.status == MERGED
    assert len(shared.log(refs[0])) == len(shared.log(refs[1])) == 1 and len(shared.log(refs[2])) == 2

    tag, steps = publish.tag_head(shared, refs[0], signer=signer)
    assert tag == f"tags/{REF}/24.20160614.0"
    assert steps == ("tag", "summary")
    assert shared.refs()[tag] == shared.rev_parse(REF)
    assert shared.summary().refs[tag] == shared.rev_parse(REF)
    assert publish.tag_head(shared, refs[0], signer=signer) == (tag, ())
    with pytest.raises(RepoError, match=f"tag {tag} already names commit"):
        shared.create_tag(REF, "24.20160614.0", testing.head)


def test_metadata_strings_round_trip_through_ostree(tmp_path: Path) -> None:
    repo = OSTreeRepo(tmp_path / "repo").init()
    (tmp_path / "tree").mkdir()
    odd = ["it's", 'say "hi"', "back\\slash", "tab\there", "ünïcode", "new\nline", ""]
    commit = repo.commit(
        trees=[f"dir={tmp_path / 'tree'}"], subject="s", metadata={"x.list": odd, "x.empty": [], "x.str": "a=b 'c'"}
    )
    metadata = repo.show(commit).metadata
    assert (metadata["x.list"], metadata["x.empty"], metadata["x.str"]) == (odd, [], "a=b 'c'")


def test_nothing_released_yet(tmp_path: Path) -> None:
    assert last_released(OSTreeRepo(tmp_path / "none"), REF) is None
    assert last_released(OSTreeRepo(tmp_path / "empty").init(), REF) is None
