"""Prune by the retention policy with the real ostree: tagged and head commits stay, old untagged ones go,
their static deltas with them; the summary is re-signed; a second run and a dry run change nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_ostree_support import REF, make_signer, ostree, snapshot

from relengotron.config import Retention
from relengotron.ostree.prune import prune
from relengotron.ostree.repo import OSTreeRepo
from relengotron.ostree.retention import DAY

pytestmark = pytest.mark.integration

NOW = 1_500_000_000
TESTING = "fedora/24/x86_64/testing/atomic-host"
TAG = f"tags/{REF}/24.20170504.0"


@pytest.fixture(scope="module")
def signer(tmp_path_factory):
    return make_signer(tmp_path_factory.mktemp("gnupg"))


def _history(repo: OSTreeRepo, tree: Path, ref: str, ages: list[int]) -> list[str]:
    """One commit per age (days before NOW), oldest first, each with a file of its own."""
    commits = []
    for age in ages:
        (tree / f"{ref.replace('/', '_')}-{age}").write_text(f"{ref} {age} days ago\n")
        commits.append(repo.commit(trees=[f"dir={tree}"], subject=f"{age}", branch=ref, timestamp=NOW - age * DAY))
    return commits


@pytest.fixture
def repo(tmp_path: Path, signer) -> tuple[OSTreeRepo, dict[str, str], dict[str, str]]:
    repo = OSTreeRepo(tmp_path / "repo").init()
    main_tree, testing_tree = tmp_path / "main", tmp_path / "testing"
    main_tree.mkdir()
    testing_tree.mkdir()
    main = dict(
        zip(
            ["100", "90", "80", "70", "60", "20", "10", "1"],
            _history(repo, main_tree, REF, [100, 90, 80, 70, 60, 20, 10, 1]),
            strict=True,
        )
    )
    testing = dict(zip(["200", "150", "120"], _history(repo, testing_tree, TESTING, [200, 150, 120]), strict=True))
    repo.create_tag(REF, "24.20170504.0", main["90"])
    for older, newer in (("60", "20"), ("20", "10"), ("10", "1"), ("100", "90"), ("90", "80")):
        repo.generate_static_delta(main[older], main[newer])
    repo.update_summary(signer)
    return repo, main, testing


def test_prune_keeps_heads_tags_and_recent_commits(repo, signer) -> None:
    repo, main, testing = repo
    before = snapshot(repo)
    dry = prune(repo, Retention(keep_days=30, keep_last=2), signer=signer, now=NOW, dry_run=True)
    assert snapshot(repo) == before
    expected_gone = {main[a] for a in ("100", "80", "70", "60")} | {testing["200"]}
    assert set(dry.deleted) == expected_gone and dry.dry_run and dry.steps == ()

    result = prune(repo, Retention(keep_days=30, keep_last=2), signer=signer, now=NOW)
    assert set(result.deleted) == expected_gone
    assert result.plan.keep[main["90"]] == f"tagged {TAG}"
    assert result.plan.keep[main["1"]] == f"head of {REF}"
    assert result.plan.keep[main["20"]] == f"younger than 30 days on {REF}"
    assert result.plan.keep[testing["150"]] == f"one of the last 2 commits of {TESTING}"
    for commit in expected_gone:
        assert not repo.has_commit(commit)
    for commit in (main["90"], main["20"], main["10"], main["1"], testing["150"], testing["120"]):
        assert repo.has_commit(commit)
    assert [e.checksum for e in repo.log(REF)] == [main["1"], main["10"], main["20"]]
    assert [e.checksum for e in repo.log(TAG)] == [main["90"]]
    assert set(result.deltas_deleted) == {
        f"{main['60']}-{main['20']}",
        f"{main['100']}-{main['90']}",
        f"{main['90']}-{main['80']}",
    }
    assert repo.static_deltas() == {f"{main['20']}-{main['10']}", f"{main['10']}-{main['1']}"}
    assert result.steps == ("delete-objects", "static-deltas", "summary")
    view = repo.summary()
    assert view.signed and view.refs == repo.refs() and view.deltas == repo.static_deltas()
    assert repo.object_count() < before[1]
    repo.fsck()
    assert (
        ostree(f"--repo={repo.path}", "cat", TAG, "/fedora_24_x86_64_atomic-host-90").stdout == f"{REF} 90 days ago\n"
    )

    after = snapshot(repo)
    again = prune(repo, Retention(keep_days=30, keep_last=2), signer=signer, now=NOW)
    assert (again.deleted, again.deltas_deleted, again.steps) == ((), (), ())
    assert snapshot(repo) == after


def test_a_prune_interrupted_half_way_is_finished_by_the_next_run(repo, signer) -> None:
    repo, main, testing = repo
    retention = Retention(keep_days=30, keep_last=2)
    plan = prune(repo, retention, signer=signer, now=NOW, dry_run=True).plan
    assert plan.frontier == tuple(sorted([main["100"], main["60"], testing["200"]]))
    repo.delete_commit(plan.frontier[0])  # what the first step of a killed run did
    result = prune(repo, retention, signer=signer, now=NOW)
    assert all(not repo.has_commit(c) for c in plan.delete)
    assert all(repo.has_commit(c) for c in plan.keep)
    assert "summary" in result.steps
    repo.fsck()


def test_the_policy_never_deletes_a_head_even_when_everything_is_old(tmp_path: Path, signer) -> None:
    repo = OSTreeRepo(tmp_path / "old").init()
    tree = tmp_path / "tree"
    tree.mkdir()
    commits = _history(repo, tree, REF, [400, 300, 200])
    result = prune(repo, Retention(keep_days=1, keep_last=1), signer=None, now=NOW)
    assert set(result.deleted) == set(commits[:2])
    assert repo.refs() == {REF: commits[2]} and repo.has_commit(commits[2])
