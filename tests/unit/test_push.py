"""An updates push as data (relengotron.push, relengotron.push_report) and what it keeps in the staging tree
(relengotron.push_state): the conf checked field by field, the updates Bodhi describes checked against the
compose, Bodhi's tag moves, the updates path of each stream, which updates each artifact carries, what became
of each artifact and update, the messages, the sync roots, the freshness of test results, one push per release
and request at a time, and each release announced once."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from relengotron.config import ReleaseConfig
from relengotron.manifest import Manifest
from relengotron.messaging import schema_message
from relengotron.planning import Decision, Plan, Reason, Target, TargetPlan
from relengotron.push import (
    TESTING_ONLY,
    Push,
    PushError,
    fresh_results,
    plan_items,
    tag_moves,
    targets_by_kind,
    updates_path,
)
from relengotron.push_report import (
    FAILED,
    HELD_BACK,
    PUSHED,
    complete_message,
    held_back_reason,
    outcome,
    released_message,
    report,
)
from relengotron.push_state import Announced, PushLease
from relengotron_sandbox.releng import render_release_config
from relengotron_sandbox.world import World

GLIBC = {"alias": "FEDORA-2016-aaaa", "builds": ["glibc-2.23.1-8.fc24"], "type": "bugfix", "bugs": [1]}
CURL = {
    "alias": "FEDORA-2016-bbbb",
    "builds": ["curl-7.47.1-5.fc24", "libcurl-7.47.1-5.fc24"],
    "type": "security",
    "severity": "high",
    "status": "testing",
}


@pytest.fixture
def config(tmp_path: Path, world: World) -> ReleaseConfig:
    return render_release_config(world, "0123abcd", tmp_path)


def push_of(config: ReleaseConfig, request: str = "stable", updates: list | None = None) -> Push:
    updates = updates or [GLIBC, CURL]
    conf = {
        "push_id": "2016-06-14.0",
        "repo": config.release("f24").tag(request),
        "updates": [" ".join(u["builds"]) for u in updates],
        "agent": "bowlofeggs",
    }
    return Push.from_conf(conf, config, updates)


def test_the_conf_is_checked_naming_the_field(config: ReleaseConfig) -> None:
    push = push_of(config)
    assert (push.release.id, push.repo, push.stream, push.lock_name) == ("f24", "f24-updates", "", "f24-stable")
    assert [u.alias for u in push.updates] == ["FEDORA-2016-aaaa", "FEDORA-2016-bbbb"] and push.agent == "bowlofeggs"
    assert push.entries == (("glibc-2.23.1-8.fc24",), ("curl-7.47.1-5.fc24", "libcurl-7.47.1-5.fc24"))
    testing = push_of(config, "testing")
    assert (testing.tag, testing.stream, testing.composes_artifacts) == ("f24-updates-testing", "testing", False)
    good = {"push_id": "p1", "repo": "f24-updates", "updates": ["glibc-2.23.1-8.fc24"]}
    assert Push.from_conf(good, config).updates == ()  # not read from Bodhi yet
    bad = [
        ({"push_id": "no spaces"}, r"^push_id: "),
        ({"repo": "f24-updates-candidate"}, r"^repo: 'f24-updates-candidate' is not the testing or stable tag"),
        ({"repo": "f99-updates"}, r"^repo: 'f99-updates' is not the testing or stable tag of a configured release"),
        ({"updates": []}, r"^updates: must be a non-empty list"),
        ({"updates": ["glibc"]}, r"^updates\[0\]: 'glibc' is not build NVRs joined by spaces"),
        ({"updates": ["a-1-1  b-1-1"]}, r"^updates\[0\]: "),
        ({"updates": ["a-1-1", "b-1-1 a-1-1"]}, r"^updates\[1\]: names a build twice: a-1-1"),
        ({"agent": 7}, r"^agent: "),
    ]
    for change, message in bad:
        with pytest.raises(PushError, match=message):
            Push.from_conf({**good, **change}, config)


def test_the_updates_bodhi_describes_must_be_the_composes(config: ReleaseConfig) -> None:
    push = push_of(config)
    with pytest.raises(PushError, match=r"missing: \['curl-7.47.1-5.fc24 libcurl-7.47.1-5.fc24'\], extra: \[\]"):
        push.with_updates([GLIBC])
    with pytest.raises(PushError, match="the updates read from Bodhi are missing"):
        push.with_updates(None)
    with pytest.raises(PushError, match=r"^updates: update FEDORA-2016-aaaa: build 'glibc' is not an NVR"):
        push.with_updates([{**GLIBC, "builds": ["glibc"]}, CURL])
    with pytest.raises(PushError, match="status must be one of"):
        push.with_updates([{**GLIBC, "status": "shipped"}, CURL])


def test_bodhis_tag_moves_and_a_second_look_finds_nothing_to_do(config: ReleaseConfig) -> None:
    push = push_of(config)  # stable: glibc is pending (from the candidate tag), curl in testing
    tags = {
        "glibc-2.23.1-8.fc24": {"f24-updates-candidate", "f24-updates-pending"},
        "curl-7.47.1-5.fc24": {"f24-updates-testing", "f24-updates-pending"},
        "libcurl-7.47.1-5.fc24": {"f24-updates-testing", "f24-updates"},  # a move a crash left half done
    }
    plan = tag_moves(push, tags)
    assert plan.moves == (
        ("f24-updates-candidate", "f24-updates", "glibc-2.23.1-8.fc24"),
        ("f24-updates-testing", "f24-updates", "curl-7.47.1-5.fc24"),
    )
    assert set(plan.untags) == {
        ("f24-updates-pending", "glibc-2.23.1-8.fc24"),
        ("f24-updates-pending", "curl-7.47.1-5.fc24"),
        ("f24-updates-testing", "libcurl-7.47.1-5.fc24"),
    }
    after = {nvr: {"f24-updates"} for nvr in tags}
    again = tag_moves(push, after)
    assert (again.moves, again.untags, set(again.done)) == ((), (), set(tags))
    new = push_of(config, "testing", [GLIBC, {**CURL, "status": "pending"}])  # both from the candidate tag
    testing = tag_moves(new, {nvr: {"f24-updates-candidate", "f24-signing-pending"} for nvr in tags})
    assert {m[1] for m in testing.moves} == {"f24-updates-testing"} and len(testing.moves) == 3
    assert {t for t, _ in testing.untags} == {"f24-signing-pending"}
    lost = r"glibc-2.23.1-8.fc24 \(FEDORA-2016-aaaa\) is in neither f24-updates-candidate nor f24-updates"
    with pytest.raises(PushError, match=lost):
        tag_moves(push, {**tags, "glibc-2.23.1-8.fc24": {"f24"}})


def test_updates_paths_of_each_stream(config: ReleaseConfig) -> None:
    f24 = config.release("f24")
    assert updates_path(config.mirror, f24, "x86_64", "") == "linux/updates/24/x86_64"
    assert updates_path(config.mirror, f24, "x86_64", "testing") == "linux/updates/testing/24/x86_64"


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
    kinds = ("ami", "gce", "installer-iso", "ostree", "pxe2live", "vagrant")
    groups = targets_by_kind(items.values(), kinds)
    assert {kind: [i["label"] for i in found] for kind, found in groups.items()} == {
        "ami": ["Fedora-Cloud-Base-24.x86_64.raw.xz"],
        "gce": [],  # a kind with no artifact in this configuration: its group maps over nothing
        "installer-iso": [],
        "ostree": ["fedora/24/x86_64/atomic-host"],
        "pxe2live": ["Fedora-Atomic-pxe2live-x86_64-24.tar.gz"],
        "vagrant": [],
    }
    with pytest.raises(ValueError, match=r"^fedora/24/x86_64/atomic-host: no task group composes a ostree artifact"):
        targets_by_kind(items.values(), ("ami",))

    testing = plan_items(push_of(config, "testing"), None, config.artifacts_of("f24"))
    assert len(testing) == 5 and {(i["decision"], i["reason"]) for i in testing} == {("skip", TESTING_ONLY)}


def _promoted(items: list[dict]) -> dict[str, dict]:
    atomic = next(i for i in items if i["kind"] == "ostree")
    return {
        atomic["id"]: {
            "target": atomic["id"],
            "identity": "c" * 64,
            "input_hash": "a" * 64,
            "manifest": atomic["manifest"],
            "paths": ["linux/atomic/repo"],
            "changed": True,
        }
    }


def test_outcomes_and_messages(config: ReleaseConfig) -> None:
    push = push_of(config)
    items = _items(config, push)
    atomic = next(i for i in items if i["kind"] == "ostree")
    promoted = _promoted(items)
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
    complete = complete_message(push, result, ["linux/updates/24/x86_64"], "run-1", None)
    assert (complete["status"], complete["synced"], complete["repo"], complete["agent"]) == (
        HELD_BACK,
        True,
        "f24-updates",
        "bowlofeggs",
    )
    assert complete["artifacts"]["released"] == ["fedora/24/x86_64/atomic-host"]
    assert complete["artifacts"]["held_back"][0]["label"] == "Fedora-Cloud-Base-24.x86_64.raw.xz"
    # what the bus carries follows its relengotron-messages schema
    assert type(schema_message("relengotron", "artifact.released", message)).__name__ == "ArtifactReleasedV1"
    sent = schema_message("relengotron", "push.complete", complete)
    assert sent.summary.startswith("releng-o-tron's push of 2 updates to f24-updates ended held-back: 1 artifact")
    assert "held back (Fedora-Cloud-Base-24.x86_64.raw.xz)" in str(sent) and "glibc" in sent.packages

    everything = outcome(push, items, {**promoted, ami: {"target": ami}})
    assert [u["status"] for u in everything["updates"]] == [PUSHED, PUSHED]


def test_a_push_that_did_not_reach_the_mirror_claims_nothing(config: ReleaseConfig) -> None:
    push = push_of(config)
    items = _items(config, push)
    why = "the sync to the master mirror failed: rsync exited 23"
    found = report(
        push, items, _promoted(items).values(), {}, repos=["linux/updates/24/x86_64"], run_id="r", failure=why
    )
    assert found.released == [] and found.complete is not None
    assert (found.complete["status"], found.complete["synced"], found.complete["reason"]) == (FAILED, False, why)
    assert [u["status"] for u in found.complete["updates"]] == [FAILED, FAILED]
    assert found.complete["updates"][0]["reason"] == why
    assert found.complete["artifacts"]["released"] == []
    assert found.complete["artifacts"]["failed"] == [{"label": "fedora/24/x86_64/atomic-host", "reason": why}]
    dry = report(push, items, _promoted(items).values(), {}, repos=[], run_id="r", failure=None, dry_run=True)
    assert (dry.complete, dry.released) == (None, []) and dry.would_complete["status"] == HELD_BACK


def test_a_release_is_announced_once_per_push(config: ReleaseConfig, tmp_path: Path) -> None:
    push = push_of(config)
    items = _items(config, push)
    found = report(push, items, _promoted(items).values(), {}, repos=[], run_id="r", failure=None)
    [body] = found.released
    ledger = Announced(tmp_path / "staging", push.push_id)
    assert ledger.pairs() == set() and ledger.record(body["item"], body["identity"])
    assert not ledger.record(body["item"], body["identity"])  # idempotent
    again = report(
        push, items, _promoted(items).values(), {}, repos=[], run_id="r", failure=None, announced=ledger.pairs()
    )
    assert again.released == [] and again.complete is not None  # the outcome is reported again, the release not
    assert ".relengotron/announced" in str(ledger.path)


def test_a_release_promoted_by_a_run_that_never_synced_is_announced_when_it_is(config: ReleaseConfig) -> None:
    # the first run of the push promoted the target, then its sync was refused (or failed): nothing announced
    push = push_of(config)
    items = _items(config, push)
    first = report(push, items, _promoted(items).values(), {}, repos=[], run_id="r1", failure="refused")
    assert first.released == []
    # the run that syncs it finds it promoted already: it is announced then, once
    already = [{**p, "changed": False} for p in _promoted(items).values()]
    found = report(push, items, already, {}, repos=[], run_id="r2", failure=None)
    assert [(b["item"], b["identity"]) for b in found.released] == [(already[0]["target"], "c" * 64)]
    assert found.complete is not None and found.complete["artifacts"]["released"] == ["fedora/24/x86_64/atomic-host"]
    pairs = {(b["item"], b["identity"]) for b in found.released}
    again = report(push, items, already, {}, repos=[], run_id="r2", failure=None, announced=pairs)
    assert again.released == []


def test_held_back_reasons() -> None:
    assert held_back_reason({"compose": "success", "announce": "success", "tests": "failed"}) == "its tests failed"
    assert held_back_reason({"compose": "failed", "tests": "upstream_failed"}) == "its compose step failed"
    assert held_back_reason({"compose": "success", "tests": "success", "sign": "success", "promote": "failed"}) == (
        "its promote step failed"
    )
    assert held_back_reason({}) == "its steps did not finish"


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
