"""The sandbox Bugzilla's bug logic: seeding, search rules, the update state machine, field selection."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from relengotron_sandbox import bugzilla_data
from relengotron_sandbox.bugzilla import KEYS
from relengotron_sandbox.bugzilla_data import BZError, http_status, select
from relengotron_sandbox.bugzilla_ops import Tracker
from relengotron_sandbox.pdc_store import DocStore
from relengotron_sandbox.world import World

WHO = "releng@fedoraproject.org"


@pytest.fixture
def tracker(tmp_path: Path, world: World) -> Iterator[Tracker]:
    store = DocStore(tmp_path / "bz.sqlite", KEYS, label="Bugzilla")
    store.open(world.digest, lambda: bugzilla_data.seed(world))
    yield Tracker(store)
    store.close()


def code_of(call) -> int:
    with pytest.raises(BZError) as caught:
        call()
    return caught.value.code


def ids(tracker: Tracker, **params: list[str]) -> list[int]:
    return [b["id"] for b in tracker.search(params)]


def test_http_status_follows_bugzillas_map() -> None:
    assert [http_status(c) for c in (51, 101, 410, 505, 32614)] == [404, 404, 401, 401, 404]
    assert [http_status(c) for c in (100, 121, 122, 32000)] == [400, 400, 400, 400]


def test_seed(world: World, tracker: Tracker) -> None:
    bugs = tracker.store.all("bugs")
    assert [b["id"] for b in bugs] == sorted(b.id for b in world.bugs)
    closed = tracker.bug(1300104)
    assert (closed["status"], closed["resolution"]) == ("CLOSED", "ERRATA")
    assert tracker.bug(1300101)["resolution"] == ""
    assert tracker.bug(1300101)["assigned_to"] == f"{world.packages['bash'].owner}@fedoraproject.org"
    assert [c["count"] for c in tracker.comments_of(1300101)] == [0]
    fedora = tracker.product("Fedora")
    assert {"23", "24", "rawhide"} <= set(fedora["versions"])
    assert {c["name"] for c in fedora["components"]} == set(world.packages)


def test_search_rules(tracker: Tracker) -> None:
    assert ids(tracker, product=["fedora"], version=["24"]) == [1300105, 1300106]  # case-insensitive
    assert ids(tracker, bug_status=["NEW", "ON_QA"], version=["24"]) == [1300105, 1300106]
    assert ids(tracker, status=["NEW"], component=["bash", "openssh"]) == [1300101, 1300105]
    assert ids(tracker, id=["1300101,1300103"]) == [1300101, 1300103]
    assert ids(tracker, summary=["cve-2016"]) == [1300105, 1300106]
    assert ids(tracker, product=["Fedora"], limit=["2"], offset=["1"]) == [1300102, 1300103]
    assert ids(tracker, product=["Fedora"], colour=["blue"]) == ids(tracker, product=["Fedora"])  # unknown: ignored
    assert code_of(lambda: ids(tracker, include_fields=["id"])) == 32000  # no search terms
    assert code_of(lambda: ids(tracker, f1=["keywords"])) == 32000  # boolean charts are not supported
    assert code_of(lambda: ids(tracker, id=["abc"])) == 100
    assert code_of(lambda: ids(tracker, product=["Fedora"], limit=["many"])) == 52


def test_bug_lookup_errors(tracker: Tracker) -> None:
    assert code_of(lambda: tracker.bug(42)) == 101
    assert code_of(lambda: tracker.bug("not-an-alias")) == 100


def test_close_reopen_and_the_resolution_rules(tracker: Tracker) -> None:
    results, events = tracker.update(
        WHO, [1300101], {"status": "CLOSED", "resolution": "EOL", "comment": {"comment": "eol"}}
    )
    assert results[0]["changes"] == {
        "status": {"removed": "NEW", "added": "CLOSED"},
        "resolution": {"removed": "", "added": "EOL"},
    }
    assert events[0]["comment"]["text"] == "eol" and events[0]["comment"]["count"] == 1
    # the same values again: no change reported, no event
    again, quiet = tracker.update(WHO, [1300101], {"status": "CLOSED", "resolution": "EOL"})
    assert again[0]["changes"] == {} and quiet == []
    # a closed bug keeps its resolution when only the status is set again; reopening clears it
    tracker.update(WHO, [1300101], {"status": "NEW"})
    assert (tracker.bug(1300101)["status"], tracker.bug(1300101)["resolution"]) == ("NEW", "")
    assert code_of(lambda: tracker.update(WHO, [1300101], {"status": "CLOSED"})) == 121
    assert code_of(lambda: tracker.update(WHO, [1300101], {"resolution": "EOL"})) == 122
    assert code_of(lambda: tracker.update(WHO, [1300101], {"status": "FIXED"})) == 51
    assert code_of(lambda: tracker.update(WHO, [1300101], {"status": "CLOSED", "resolution": "NOPE"})) == 51
    assert code_of(lambda: tracker.update(WHO, [1300101], {"status": "CLOSED", "resolution": "DUPLICATE"})) == 119
    assert code_of(lambda: tracker.update(WHO, [1300101], {"dupe_of": 1300101})) == 118
    tracker.update(WHO, [1300101], {"dupe_of": 1300105})
    bug = tracker.bug(1300101)
    assert (bug["status"], bug["resolution"], bug["dupe_of"]) == ("CLOSED", "DUPLICATE", 1300105)


def test_a_refused_update_changes_nothing(tracker: Tracker) -> None:
    before = [dict(b) for b in tracker.store.all("bugs")]
    comments = len(tracker.store.all("comments"))
    params = {"status": "CLOSED", "resolution": "EOL", "comment": {"comment": "x"}}
    assert code_of(lambda: tracker.update(WHO, [1300101, 1300102, 99], params)) == 101
    assert code_of(lambda: tracker.update(WHO, [1300101], {**params, "component": "nope"})) == 51
    assert code_of(lambda: tracker.update(WHO, [1300101], {**params, "product": "RHEL"})) == 32000
    assert tracker.store.all("bugs") == before and len(tracker.store.all("comments")) == comments


def test_dependencies_are_kept_on_both_ends(tracker: Tracker) -> None:
    tracker.update(WHO, [1300101], {"blocks": {"add": [1300102, 1300103]}})
    assert tracker.bug(1300101)["blocks"] == [1300102, 1300103]
    assert tracker.bug(1300102)["depends_on"] == [1300101] == tracker.bug(1300103)["depends_on"]
    tracker.update(WHO, [1300101], {"blocks": {"remove": [1300102]}})
    assert tracker.bug(1300102)["depends_on"] == []
    assert code_of(lambda: tracker.update(WHO, [1300101], {"depends_on": {"add": [1300101]}})) == 116
    assert code_of(lambda: tracker.update(WHO, [1300101], {"keywords": {"add": ["Shiny"]}})) == 51
    assert code_of(lambda: tracker.update(WHO, [1300101], {"cc": {"add": ["nobody"]}})) == 51
    tracker.update(WHO, [1300101], {"cc": {"add": ["kdudka"]}})
    assert tracker.bug(1300101)["cc"] == ["kdudka@fedoraproject.org"]


def test_create(tracker: Tracker) -> None:
    bug = tracker.create(
        WHO, {"product": "Fedora", "component": "curl", "version": "24", "summary": "s", "description": "d"}
    )
    assert bug["id"] == 1300108 and bug["status"] == "NEW" and bug["assigned_to"] == "kdudka@fedoraproject.org"
    assert [c["text"] for c in tracker.comments_of(bug["id"])] == ["d"]
    assert code_of(lambda: tracker.create(WHO, {"product": "Fedora", "component": "curl", "version": "24"})) == 107
    assert (
        code_of(lambda: tracker.create(WHO, {"product": "RHEL", "component": "c", "version": "1", "summary": "s"}))
        == 106
    )


def test_select_fields() -> None:
    record = {"id": 1, "name": "Fedora", "components": [{"name": "bash", "id": 3}, {"name": "curl", "id": 4}]}
    assert select(record, ["id"], []) == {"id": 1}
    assert select(record, ["id", "components.name"], []) == {
        "id": 1,
        "components": [{"name": "bash"}, {"name": "curl"}],
    }
    assert select(record, ["_default"], ["components"]) == {"id": 1, "name": "Fedora"}
    assert select(record, [], ["components.id"])["components"] == [{"name": "bash"}, {"name": "curl"}]
