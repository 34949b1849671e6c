"""An updates push as data (relengotron.push) and its lease (relengotron.push_lease.PushLease): the conf checked
field by field, the updates path of each stream, which updates each artifact carries, what became of each
artifact and update, the messages, the sync roots, the freshness of test results — and one push per release
and request at a time."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from relengotron.config import ReleaseConfig
from relengotron.manifest import Manifest
from relengotron.planning import Decision, Plan, Reason, Target, TargetPlan
from relengotron.push import (
    HELD_BACK,
    TESTING_ONLY,
    Push,
    PushError,
    complete_message,
    fresh_results,
    held_back_reason,
    outcome,
    plan_items,
    released_message,
    split_by_kind,
    sync_roots,
    updates_path,
)
from relengotron.push_lease import PushLease
from relengotron_sandbox.releng import render_release_config
from relengotron_sandbox.world import World

GLIBC = {"alias": "FEDORA-2016-aaaa", "builds": ["glibc-2.23.1-8.fc24"], "type": "bugfix", "bugs": [1]}
CURL = {"alias": "FEDORA-2016-bbbb", "builds": ["curl-7.47.1-5.fc24"], "type": "security", "severity": "high"}


@pytest.fixture
def config(tmp_path: Path, world: World) -> ReleaseConfig:
    return render_release_config(world, "0123abcd", tmp_path)


def push_of(config: ReleaseConfig, request: str = "stable", updates: list | None = None) -> Push:
    conf = {"push_id": "2016-06-14.0", "release": "f24", "request": request, "updates": updates or [GLIBC, CURL]}
    return Push.from_conf(conf, config)


def test_the_conf_is_checked_naming_the_field(config: ReleaseConfig) -> None:
    push = push_of(config)
    assert (push.release.id, push.tag, push.stream, push.lock_name) == ("f24", "f24-updates", "", "f24-stable")
    assert [u.alias for u in push.updates] == ["FEDORA-2016-aaaa", "FEDORA-2016-bbbb"]
    testing = push_of(config, "testing")
    assert (testing.tag, testing.stream, testing.composes_artifacts) == ("f24-updates-testing", "testing", False)
    good = {"push_id": "p1", "release": "f24", "request": "stable", "updates": [GLIBC]}
    bad = [
        ({"push_id": "no spaces"}, r"^push_id: "),
        ({"request": "oldstable"}, r"^request: must be one of testing, stable"),
        ({"release": "f99"}, r"^release: 'f99' is not in the release configuration \(configured: f23, f24, rawhide\)"),
        ({"release": "rawhide"}, r"^release: rawhide has no stable tag"),
        ({"updates": []}, r"^updates: must be a non-empty list"),
        (
            {"updates": [{**GLIBC, "builds": ["glibc"]}]},
            r"^updates: update FEDORA-2016-aaaa: build 'glibc' is not an NVR",
        ),
        ({"updates": [GLIBC, {**CURL, "builds": GLIBC["builds"]}]}, r"already in update FEDORA-2016-aaaa"),
    ]
    for change, message in bad:
        with pytest.raises(PushError, match=message):
            Push.from_conf({**good, **change}, config)


def test_updates_paths_of_each_stream(config: ReleaseConfig) -> None:
    f24 = config.release("f24")
    assert updates_path(config.mirror, f24, "x86_64", "") == "updates/24/x86_64"
    assert updates_path(config.mirror, f24, "x86_64", "testing") == "updates/testing/24/x86_64"


def _target(config: ReleaseConfig, name: str, decision: Decision, reason: Reason, nvrs: list[str]) -> TargetPlan:
    artifact = next(a for a in config.artifacts_of("f24") if a.name == name)
    manifest = Manifest.of(nvrs)
    return TargetPlan(Target(artifact, config.release("f24"), "x86_64"), decision, reason, manifest, None, (), (), ())


def _items(config: ReleaseConfig, push: Push) -> list[dict]:
    plan = Plan(
        (
            _target(
                config, "atomic-host", Decision.RECOMPOSE, Reason.CHANGED, ["glibc-2.23.1-8.fc24", "bash-4.3.42-5.fc24"]
            ),
            _target(
                config,
                "cloud-base-ami",
                Decision.RECOMPOSE,
                Reason.CHANGED,
                ["glibc-2.23.1-8.fc24", "curl-7.47.1-5.fc24"],
            ),
            _target(config, "pxe2live", Decision.SKIP, Reason.NOT_AFFECTED, ["bash-4.3.42-5.fc24"]),
        )
    )
    return plan_items(push, plan)


def test_plan_items_say_which_updates_each_artifact_carries(config: ReleaseConfig) -> None:
    push = push_of(config)
    items = {i["label"]: i for i in _items(config, push)}
    assert items["fedora/24/x86_64/atomic-host"]["updates"] == ["FEDORA-2016-aaaa"]
    assert items["Fedora-Cloud-Base-24.x86_64.raw.xz"]["updates"] == ["FEDORA-2016-aaaa", "FEDORA-2016-bbbb"]
    assert items["Fedora-Atomic-pxe2live-x86_64-24.tar.gz"]["decision"] == "skip"
    groups = split_by_kind(items.values())
    assert [i["kind"] for i in groups["ostree"]] == ["ostree"] and len(groups["images"]) == 2

    testing = plan_items(push_of(config, "testing"), None, config.artifacts_of("f24"))
    assert len(testing) == 5 and {(i["decision"], i["reason"]) for i in testing} == {("skip", TESTING_ONLY)}


def test_outcomes_and_messages(config: ReleaseConfig) -> None:
    push = push_of(config)
    items = _items(config, push)
    atomic = next(i for i in items if i["kind"] == "ostree")
    promoted = {
        atomic["id"]: {
            "target": atomic["id"],
            "identity": "c" * 64,
            "input_hash": "h",
            "manifest": atomic["manifest"],
            "paths": ["atomic/repo"],
            "changed": True,
        }
    }
    ami = "cloud-base-ami-24-x86_64"
    result = outcome(push, items, promoted, {ami: "its tests failed"})
    assert {t["label"]: t["state"] for t in result["targets"]} == {
        "fedora/24/x86_64/atomic-host": "released",
        "Fedora-Cloud-Base-24.x86_64.raw.xz": "held-back",
        "Fedora-Atomic-pxe2live-x86_64-24.tar.gz": "unchanged",
    }
    glibc, curl = result["updates"]
    assert glibc["status"] == curl["status"] == HELD_BACK  # both are in the held-back AMI
    assert glibc["artifacts"] == ["fedora/24/x86_64/atomic-host"] and curl["artifacts"] == []
    assert curl["held_back"] == [{"label": "Fedora-Cloud-Base-24.x86_64.raw.xz", "reason": "its tests failed"}]
    message = released_message(push, atomic, promoted[atomic["id"]], "run-1")
    assert (message["label"], message["identity"], message["updates"]) == (
        atomic["label"],
        "c" * 64,
        ["FEDORA-2016-aaaa"],
    )
    complete = complete_message(push, result, ["updates/24/x86_64"], "run-1", synced=True)
    assert complete["status"] == HELD_BACK and complete["artifacts"]["released"] == ["fedora/24/x86_64/atomic-host"]
    assert complete["artifacts"]["held_back"][0]["label"] == "Fedora-Cloud-Base-24.x86_64.raw.xz"

    everything = outcome(push, items, {**promoted, ami: {"target": ami}})
    assert [u["status"] for u in everything["updates"]] == ["complete", "complete"]


def test_held_back_reasons() -> None:
    assert held_back_reason({"compose": "success", "announce": "success", "tests": "failed"}) == "its tests failed"
    assert held_back_reason({"compose": "failed", "tests": "upstream_failed"}) == "its compose step failed"
    assert held_back_reason({"compose": "success", "tests": "success", "sign": "success", "promote": "failed"}) == (
        "its promote step failed"
    )
    assert held_back_reason({}) == "its steps did not finish"


def test_sync_roots(config: ReleaseConfig) -> None:
    push = push_of(config)
    released = ["atomic/repo", "releases/24/ami/x86_64/A.raw.xz", "releases/24/ami/x86_64/A.raw.xz-CHECKSUM"]
    assert sync_roots(push, config.mirror, released) == ["atomic/repo", "releases/24/ami/x86_64", "updates/24/x86_64"]
    assert sync_roots(push_of(config, "testing"), config.mirror, []) == ["updates/testing/24/x86_64"]


def test_only_results_of_this_compose_count() -> None:
    composed = datetime(2016, 6, 14, 12, 0, tzinfo=UTC)
    results = [
        {"id": 1, "submit_time": "2016-06-13T09:00:00.000000", "outcome": "PASSED"},  # an earlier compose
        {"id": 2, "submit_time": "2016-06-14T12:00:01.000000", "outcome": "FAILED"},
        {"id": 3, "submit_time": "2016-06-14T11:59:58+00:00", "outcome": "PASSED"},
        {"id": 4, "submit_time": None},
    ]
    assert [r["id"] for r in fresh_results(results, composed.isoformat())] == [2]
    assert [r["id"] for r in fresh_results(results, composed.isoformat(), skew=timedelta(seconds=5))] == [2, 3]
    with pytest.raises(ValueError, match="since"):
        fresh_results(results, "yesterday")


def test_one_push_per_release_and_request(tmp_path: Path) -> None:
    lock = PushLease(tmp_path / "staging", "f24-stable")
    running = {"run-1"}

    def stale(held: dict) -> bool:
        return held["run_id"] not in running

    assert lock.acquire("run-1", {"run_id": "run-1", "push_id": "p1"}, is_stale=stale) is None
    assert lock.acquire("run-1", {"run_id": "run-1", "push_id": "p1"}, is_stale=stale) is None  # again: still its
    running.add("run-2")
    holder = lock.acquire("run-2", {"run_id": "run-2", "push_id": "p2"}, is_stale=stale)
    assert holder is not None and holder["push_id"] == "p1"
    assert PushLease(tmp_path / "staging", "f23-stable").acquire("run-2", {"run_id": "run-2"}, is_stale=stale) is None
    assert not lock.release("run-2")  # not its lease
    running.discard("run-1")  # run-1 ended without giving the lease back: stale, taken over
    assert lock.acquire("run-2", {"run_id": "run-2", "push_id": "p2"}, is_stale=stale) is None
    assert lock.holder()["owner"] == "run-2"
    assert lock.release("run-2") and lock.holder() is None and not lock.release("run-2")
    assert ".relengotron/locks" in str(lock.path)


def test_two_pushes_racing_for_a_turn_never_both_win(tmp_path: Path) -> None:
    wins: list[str] = []
    barrier = threading.Barrier(8)

    def contend(n: int) -> None:
        barrier.wait()
        if (
            PushLease(tmp_path, "f24-stable").acquire(f"run-{n}", {"run_id": f"run-{n}"}, is_stale=lambda _: False)
            is None
        ):
            wins.append(f"run-{n}")

    threads = [threading.Thread(target=contend, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(wins) == 1
