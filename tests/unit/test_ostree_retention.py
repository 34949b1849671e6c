"""The prune decision: heads and tagged commits always stay; what goes is what ostree's reachability prune
removes once the frontier commits are deleted — never a kept commit."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relengotron.config import Retention
from relengotron.ostree.retention import DAY, CommitNode, plan_prune, stale_deltas


def _chain(nodes: dict[str, CommitNode], start: str) -> list[CommitNode]:
    out = []
    current: str | None = start
    while current is not None and current in nodes:
        out.append(nodes[current])
        current = nodes[current].parent
    return out


@st.composite
def repositories(draw, monotone: bool = False):
    """Commits forming a forest (a ref's history may also end at a parent that is not present), branches and
    tags pointing into it, a retention policy and a time."""
    count = draw(st.integers(1, 24))
    nodes: dict[str, CommitNode] = {}
    for index in range(count):
        parent_index = draw(st.none() | st.integers(0, index - 1)) if index else None
        parent = f"c{parent_index:02d}" if parent_index is not None else None
        if parent is None and draw(st.booleans()):
            parent = f"gone{index:02d}"  # history beyond this commit is not in the repository
        if monotone:
            base = nodes[parent].timestamp if parent in nodes else 0
            timestamp = base + draw(st.integers(0, 20 * DAY))
        else:
            timestamp = draw(st.integers(0, 200 * DAY))
        nodes[f"c{index:02d}"] = CommitNode(f"c{index:02d}", timestamp, parent)
    names = sorted(nodes)
    heads = draw(st.lists(st.sampled_from(names), min_size=1, max_size=4))
    tagged = draw(st.lists(st.sampled_from(names), max_size=4))
    histories = {f"fedora/{i}/x86_64/atomic-host": _chain(nodes, c) for i, c in enumerate(heads)}
    tags = {f"tags/fedora/24/x86_64/atomic-host/24.{i}": _chain(nodes, c) for i, c in enumerate(tagged)}
    retention = Retention(keep_days=draw(st.integers(1, 60)), keep_last=draw(st.integers(1, 5)))
    now = draw(st.integers(0, 300 * DAY))
    return {**histories, **tags}, frozenset(tags), retention, now


def _after_ostree(histories, plan) -> set[str]:
    """What survives `prune --delete-commit=F` for each frontier commit, then `prune --refs-only`: every
    commit reachable from a ref through commits that were not deleted."""
    reachable: set[str] = set()
    for chain in histories.values():
        for node in chain:
            if node.checksum in plan.frontier:
                break
            reachable.add(node.checksum)
    return reachable


@settings(max_examples=150)
@given(repositories())
def test_heads_and_tags_are_never_deleted(repo) -> None:
    histories, tags, retention, now = repo
    plan = plan_prune(histories, tags, retention, now)
    for chain in histories.values():
        assert chain[0].checksum not in plan.delete
        assert chain[0].checksum in plan.keep


@settings(max_examples=150)
@given(repositories())
def test_keep_and_delete_partition_the_commits(repo) -> None:
    histories, tags, retention, now = repo
    plan = plan_prune(histories, tags, retention, now)
    everything = {node.checksum for chain in histories.values() for node in chain}
    assert set(plan.keep) | plan.delete == everything
    assert not set(plan.keep) & plan.delete
    assert set(plan.frontier) <= plan.delete


@settings(max_examples=150)
@given(repositories())
def test_carrying_out_the_plan_with_ostree_deletes_exactly_the_plan(repo) -> None:
    histories, tags, retention, now = repo
    plan = plan_prune(histories, tags, retention, now)
    assert _after_ostree(histories, plan) == set(plan.keep)


@settings(max_examples=150)
@given(repositories())
def test_the_last_commits_of_each_branch_are_kept(repo) -> None:
    histories, tags, retention, now = repo
    plan = plan_prune(histories, tags, retention, now)
    for ref, chain in histories.items():
        if ref not in tags:
            assert all(node.checksum in plan.keep for node in chain[: retention.keep_last])


@settings(max_examples=150)
@given(repositories(monotone=True))
def test_with_ordered_timestamps_every_young_commit_of_a_branch_is_kept(repo) -> None:
    histories, tags, retention, now = repo
    plan = plan_prune(histories, tags, retention, now)
    cutoff = now - retention.keep_days * DAY
    for ref, chain in histories.items():
        if ref not in tags:
            assert all(node.checksum in plan.keep for node in chain if node.timestamp >= cutoff)


@settings(max_examples=150)
@given(repositories())
def test_a_deleted_commit_is_old_and_beyond_the_last_ones_of_every_branch_holding_it(repo) -> None:
    histories, tags, retention, now = repo
    plan = plan_prune(histories, tags, retention, now)
    cutoff = now - retention.keep_days * DAY
    for ref, chain in histories.items():
        if ref in tags:
            continue
        for index, node in enumerate(chain):
            if node.checksum in plan.delete:
                assert index >= retention.keep_last
                assert any(older.timestamp < cutoff for older in chain[retention.keep_last : index + 1])


@settings(max_examples=150)
@given(repositories())
def test_pruning_again_deletes_nothing(repo) -> None:
    histories, tags, retention, now = repo
    plan = plan_prune(histories, tags, retention, now)
    survivors = {ref: [n for n in chain if n.checksum in plan.keep] for ref, chain in histories.items()}
    remaining = {}
    for ref, chain in histories.items():  # each history as ostree log shows it afterwards
        remaining[ref] = []
        for node in chain:
            if node.checksum not in plan.keep:
                break
            remaining[ref].append(node)
    assert all(remaining[ref] == survivors[ref][: len(remaining[ref])] for ref in histories)
    again = plan_prune(remaining, tags, retention, now)
    assert again.delete == frozenset()
    assert set(again.keep) == set(plan.keep)


@settings(max_examples=100)
@given(repositories(), st.integers(0, 30), st.integers(0, 3))
def test_a_longer_retention_never_deletes_more(repo, more_days: int, more_last: int) -> None:
    histories, tags, retention, now = repo
    longer = Retention(keep_days=retention.keep_days + more_days, keep_last=retention.keep_last + more_last)
    assert plan_prune(histories, tags, longer, now).delete <= plan_prune(histories, tags, retention, now).delete


def test_an_example() -> None:
    """Ten daily commits; keep 3 days or the last 2; the fourth one is tagged."""
    nodes = [CommitNode(f"c{i}", i * DAY, f"c{i - 1}" if i else None) for i in range(10)]
    histories = {
        "fedora/24/x86_64/atomic-host": list(reversed(nodes)),
        "tags/fedora/24/x86_64/atomic-host/24.3": list(reversed(nodes[:4])),
    }
    plan = plan_prune(histories, {"tags/fedora/24/x86_64/atomic-host/24.3"}, Retention(3, 2), now=10 * DAY)
    assert plan.keep == {
        "c9": "head of fedora/24/x86_64/atomic-host",
        "c8": "one of the last 2 commits of fedora/24/x86_64/atomic-host",
        "c7": "younger than 3 days on fedora/24/x86_64/atomic-host",
        "c3": "tagged tags/fedora/24/x86_64/atomic-host/24.3",
    }
    assert plan.delete == {"c0", "c1", "c2", "c4", "c5", "c6"}
    assert plan.frontier == ("c2", "c6")  # behind the tagged commit, and where the branch's walk stopped


def test_a_history_that_is_not_a_chain_is_refused() -> None:
    broken = [CommitNode("b", 2, "a"), CommitNode("x", 1, None)]
    with pytest.raises(ValueError, match="history of fedora/24/x86_64/atomic-host: x is not the parent of b"):
        plan_prune({"fedora/24/x86_64/atomic-host": broken}, set(), Retention(1, 1), now=0)


def test_stale_deltas() -> None:
    deltas = {"a-b", "b-c", "c", "x-c"}
    assert stale_deltas(deltas, {"b", "c"}) == {"a-b", "x-c"}
