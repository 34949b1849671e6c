"""ResultsDB's storage semantics, without HTTP: previous results, latest, LIKE filters, upserts."""

from __future__ import annotations

from pathlib import Path

import pytest

from relengotron_sandbox.resultsdb_store import DataFilter, ResultFilter, ResultsStore


@pytest.fixture
def store(tmp_path: Path) -> ResultsStore:
    s = ResultsStore(tmp_path / "r.sqlite")
    yield s
    s.close()


def add(store: ResultsStore, testcase: str, outcome: str, **data: str | list[str]):
    pairs = [(k, v) for k, vals in data.items() for v in ([vals] if isinstance(vals, str) else vals)]
    return store.create_result(
        testcase={"name": testcase}, outcome=outcome, groups=[], note=None, ref_url=None, data=pairs
    )


def test_previous_result_matches_testcase_item_type_and_arch(store: ResultsStore) -> None:
    first, prev = add(store, "dist.depcheck", "PASSED", item="a-1-1", type="koji_build", arch="noarch")
    assert prev is None
    _, prev = add(store, "dist.rpmlint", "FAILED", item="a-1-1", type="koji_build", arch="noarch")
    assert prev is None  # another testcase
    _, prev = add(store, "dist.depcheck", "FAILED", item="a-1-1", type="koji_build", arch="x86_64")
    assert prev is None  # another arch
    second, prev = add(store, "dist.depcheck", "FAILED", item="a-1-1", type="koji_build", arch="noarch", scenario="x")
    assert prev is not None and prev["id"] == first["id"]  # other keys (scenario) do not matter
    _, prev = add(store, "dist.depcheck", "PASSED", item="a-1-1", type="koji_build", arch="noarch")
    assert prev is not None and prev["id"] == second["id"]


def test_latest_per_testcase_and_distinct_on_multi_valued_keys(store: ResultsStore) -> None:
    add(store, "t", "FAILED", item="i", type="k", arch=["x86_64", "noarch"])
    b, _ = add(store, "t", "PASSED", item="i", type="k", arch=["noarch", "x86_64"])
    c, _ = add(store, "t", "PASSED", item="i", type="k", arch="aarch64")
    d, _ = add(store, "u", "INFO", item="i", type="k")
    filt = ResultFilter(data=[DataFilter("item", ("i",))])
    assert [r["id"] for r in store.latest_results(filt)] == [d["id"], c["id"]]
    assert [r["id"] for r in store.latest_results(filt, ["arch"])] == [d["id"], c["id"], b["id"]]


def test_like_is_case_sensitive_and_star_is_the_wildcard(store: ResultsStore) -> None:
    a, _ = add(store, "dist.depcheck", "PASSED", item="Foo-1-1", type="k")
    found = store.select_results(ResultFilter(data=[DataFilter("item", ("Foo*",), like=True)]))
    assert [r["id"] for r in found] == [a["id"]]
    assert store.select_results(ResultFilter(data=[DataFilter("item", ("foo*",), like=True)])) == []
    assert store.select_results(ResultFilter(testcases_like=["dist.*"]))[0]["id"] == a["id"]


def test_groups_and_testcases_are_upserts(store: ResultsStore) -> None:
    g = store.upsert_group("u-1", "first", None)
    assert g == {"uuid": "u-1", "description": "first", "ref_url": None, "results_count": 0}
    assert store.upsert_group("u-1", None, "http://x")["description"] == "first"
    store.create_result(
        testcase={"name": "t", "ref_url": "http://t"},
        outcome="PASSED",
        groups=[{"uuid": "u-1"}, {"uuid": "u-1"}, {"description": "fresh"}],
        note=None,
        ref_url=None,
        data=[],
    )
    assert store.get_group("u-1")["results_count"] == 1
    assert store.get_testcase("t") == {"name": "t", "ref_url": "http://t"}
    assert store.upsert_testcase("t")["ref_url"] == "http://t"
    fresh = store.list_groups([], ["fresh"], [], 0, 10)
    assert len(fresh) == 1 and fresh[0]["results_count"] == 1
