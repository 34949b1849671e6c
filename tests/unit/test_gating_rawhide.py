"""Rawhide gating's pure side: the gate's tags, which builds are gated, and each outcome's moves and message."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relengotron.config import Release
from relengotron.gating import KOJI_BUILD, RAWHIDE_GATING, PassingTestCaseRule, Policy, PolicySet, decide
from relengotron.gating.rawhide import (
    HELD,
    PROMOTED,
    QUARANTINED,
    WAITING,
    Candidate,
    GateTags,
    Move,
    plan,
    select,
)
from relengotron.messaging import schema_message
from relengotron_sandbox import testing

TAGS = GateTags(pending="rawhide-pending", quarantine="rawhide-badnewsbears", target="rawhide")
POLICIES = PolicySet(
    (Policy("gate", (RAWHIDE_GATING,), ("fedora-rawhide",), KOJI_BUILD, (PassingTestCaseRule("dist.depcheck"),)),)
)
COREUTILS = Candidate("coreutils-8.25-15.fc26", "coreutils", "kdudka", TAGS.pending)
REQUESTS = Candidate("python3-requests-2.12.1-1.fc26", "python3-requests", "ralph", TAGS.pending)
ETCD = Candidate("etcd-3.0.15-1.fc26", "etcd", "jchaloup", TAGS.pending)
ATOMIC = Candidate("atomic-1.14-1.fc26", "atomic", "lsm5", TAGS.quarantine)
URLLIB = Candidate("python3-urllib3-1.19-1.fc26", "python3-urllib3", "ralph", TAGS.quarantine)


def release(**tags: str) -> Release:
    return testing.release("rawhide", tags=tags)


def depcheck(nvr: str, outcome: str) -> dict[str, Any]:
    return {
        "id": abs(hash(nvr)) % 10_000,
        "testcase": {"name": "dist.depcheck"},
        "outcome": outcome,
        "data": {"item": [nvr], "type": [KOJI_BUILD]},
    }


def decided(candidates: list[Candidate], outcomes: dict[str, str]) -> Any:
    results = [depcheck(nvr, outcome) for nvr, outcome in outcomes.items()]
    batch = decide(
        POLICIES,
        [c.subject for c in candidates],
        results,
        decision_context=RAWHIDE_GATING,
        product_version="fedora-rawhide",
    )
    return plan("rawhide", TAGS, candidates, batch)


def test_gate_tags_come_from_the_release_or_default_to_rawhides_names() -> None:
    assert GateTags.of(release(build="rawhide", pending="rawhide-pending", quarantine="rawhide-badnewsbears")) == TAGS
    assert GateTags.of(release(build="f27")) == GateTags("f27-pending", "f27-badnewsbears", "f27")
    assert GateTags.of(release(build="rawhide", pending="gate", quarantine="jail")) == GateTags(
        "gate", "jail", "rawhide"
    )


def test_select_gates_pending_and_quarantine_or_only_the_builds_named() -> None:
    every = select([REQUESTS, COREUTILS], [ATOMIC])
    assert [c.nvr for c in every.candidates] == [ATOMIC.nvr, COREUTILS.nvr, REQUESTS.nvr]
    assert select([COREUTILS], [ATOMIC], include_quarantined=False).candidates == (COREUTILS,)
    named = select([COREUTILS, REQUESTS], [ATOMIC], wanted=[REQUESTS.nvr, "gone-1-1.fc26", ATOMIC.nvr])
    assert named.candidates == (ATOMIC, REQUESTS)
    assert named.not_at_gate == ("gone-1-1.fc26",)
    not_quarantined = select([COREUTILS], [ATOMIC], wanted=[ATOMIC.nvr], include_quarantined=False)
    assert not_quarantined.candidates == () and not_quarantined.not_at_gate == (ATOMIC.nvr,)


def test_each_outcome_moves_the_build_where_it_belongs() -> None:
    gating = decided(
        [COREUTILS, ETCD, REQUESTS, ATOMIC, URLLIB],
        {COREUTILS.nvr: "PASSED", REQUESTS.nvr: "FAILED", ATOMIC.nvr: "PASSED", URLLIB.nvr: "FAILED"},
    )
    outcome = {v.candidate.nvr: (v.outcome, v.to_tag) for v in gating.verdicts}
    assert outcome == {
        COREUTILS.nvr: (PROMOTED, "rawhide"),
        ETCD.nvr: (WAITING, TAGS.pending),  # no result: waiting, never failed
        REQUESTS.nvr: (QUARANTINED, TAGS.quarantine),
        ATOMIC.nvr: (PROMOTED, "rawhide"),  # quarantined, but passes now
        URLLIB.nvr: (HELD, TAGS.quarantine),  # still failing: stays, nobody told again
    }
    assert gating.moves == (
        Move(TAGS.quarantine, "rawhide", (ATOMIC.nvr,)),
        Move(TAGS.pending, "rawhide", (COREUTILS.nvr,)),
        Move(TAGS.pending, TAGS.quarantine, (REQUESTS.nvr,)),
    )


def test_one_message_per_announced_outcome_names_packages_and_packagers() -> None:
    gating = decided(
        [COREUTILS, ETCD, REQUESTS, ATOMIC, URLLIB],
        {COREUTILS.nvr: "PASSED", REQUESTS.nvr: "FAILED", ATOMIC.nvr: "PASSED", URLLIB.nvr: "FAILED"},
    )
    messages = gating.messages(run_id="manual__1")
    assert [(m["modname"], m["topic"]) for m in messages] == [
        ("relengotron", "rawhide.gating.promoted"),
        ("relengotron", "rawhide.gating.quarantined"),
        ("relengotron", "rawhide.gating.waiting"),
    ]
    promoted, quarantined, waiting = (m["body"] for m in messages)
    assert promoted["packages"] == ["atomic", "coreutils"] and promoted["usernames"] == ["kdudka", "lsm5"]
    assert quarantined["packages"] == ["python3-requests"] and quarantined["usernames"] == ["ralph"]
    assert quarantined["builds"][0]["from_tag"] == TAGS.pending
    assert "dist.depcheck FAILED" in quarantined["builds"][0]["summary"]
    assert waiting["builds"][0]["nvr"] == ETCD.nvr and "results missing" in waiting["builds"][0]["summary"]
    assert {m["body"]["run_id"] for m in messages} == {"manual__1"}
    sent = [schema_message(m["modname"], m["topic"], m["body"]) for m in messages]  # each follows its schema
    assert {type(m).__name__ for m in sent} == {"GatingDecisionV1"} and sent[1].usernames == ["ralph"]
    assert sent[1].summary == f"releng-o-tron quarantined {REQUESTS.nvr} in rawhide gating"
    assert URLLIB.nvr not in str(messages)
    assert "held" in gating.summary() and URLLIB.nvr in gating.summary()


def test_a_build_not_at_the_gate_is_refused() -> None:
    stray = Candidate("bash-4.3.42-6.fc26", "bash", "x", "rawhide")
    with pytest.raises(ValueError, match="not at the gate"):
        decided([stray], {})


def test_candidate_json_is_also_a_gating_subject() -> None:
    data = ATOMIC.as_dict()
    assert (data["type"], data["item"], data["name"]) == (KOJI_BUILD, ATOMIC.nvr, "atomic")
    assert Candidate.from_dict(data) == ATOMIC
    with pytest.raises(ValueError, match="missing"):
        Candidate.from_dict({"nvr": "a-1-1"})


CANDIDATES = [COREUTILS, ETCD, REQUESTS, ATOMIC, URLLIB]


@given(st.lists(st.sampled_from([None, "PASSED", "FAILED", "RUNNING"]), min_size=5, max_size=5))
def test_a_build_without_a_finished_result_never_moves(outcomes: list[str | None]) -> None:
    results = {c.nvr: o for c, o in zip(CANDIDATES, outcomes, strict=True) if o is not None}
    gating = decided(CANDIDATES, results)
    moved = {nvr for move in gating.moves for nvr in move.builds}
    for candidate, outcome in zip(CANDIDATES, outcomes, strict=True):
        if outcome in (None, "RUNNING"):
            assert candidate.nvr not in moved
        if outcome == "FAILED":
            assert candidate.nvr not in {n for m in gating.moves if m.tag == "rawhide" for n in m.builds}


# --- one build gated on its own (relengotron.gating_run.gate_build) -----------------------------------------


class GateKoji:
    """Koji's tags of the builds; moves counted."""

    def __init__(self, tags: dict[str, set[str]]) -> None:
        self.tags = tags
        self.moves: list[tuple[str, str, str]] = []

    def tags_of(self, nvr: str) -> set[str]:
        return set(self.tags[nvr])

    def move_build(self, source: str, target: str, nvr: str, *, timeout: float) -> bool:
        if target in self.tags[nvr] and source not in self.tags[nvr]:
            return False
        self.tags[nvr] = (self.tags[nvr] - {source}) | {target}
        self.moves.append((source, target, nvr))
        return True


class GateResults:
    def __init__(self, outcomes: dict[str, str]) -> None:
        self.outcomes = outcomes

    def latest_for(self, subjects: Any, testcases: Any = ()) -> list[dict[str, Any]]:
        return [depcheck(s.item, self.outcomes[s.item]) for s in subjects if s.item in self.outcomes]


def test_a_build_is_gated_on_its_own_once_and_announced_once() -> None:
    from relengotron.gating_run import gate_build

    rawhide = release(pending=TAGS.pending, quarantine=TAGS.quarantine, build="rawhide")
    koji = GateKoji({COREUTILS.nvr: {TAGS.pending}, REQUESTS.nvr: {TAGS.pending}, ATOMIC.nvr: {TAGS.quarantine}})
    results = GateResults({COREUTILS.nvr: "PASSED", REQUESTS.nvr: "FAILED"})

    def gate(candidate: Candidate) -> dict[str, Any]:
        return gate_build(koji, results, POLICIES, rawhide, candidate, run_id="run-1")  # type: ignore[arg-type]

    promoted = gate(COREUTILS)
    assert (promoted["verdict"]["outcome"], promoted["moved"], promoted["topic"]) == (
        PROMOTED,
        True,
        "rawhide.gating.promoted",
    )
    assert promoted["body"]["builds"][0]["nvr"] == COREUTILS.nvr and promoted["body"]["usernames"] == ["kdudka"]
    assert gate(COREUTILS)["body"] is None and len(koji.moves) == 1  # gated already (by this run or another)
    assert gate(REQUESTS)["verdict"]["outcome"] == QUARANTINED and koji.tags[REQUESTS.nvr] == {TAGS.quarantine}
    waiting = gate(ATOMIC)  # no result: stays, and says so
    assert (waiting["verdict"]["outcome"], waiting["moved"], waiting["body"]["outcome"]) == (WAITING, False, WAITING)
    # listed as pending, quarantined since by another run: gated where it is now — still failing, held, silent
    held = gate(REQUESTS)
    assert (held["verdict"]["outcome"], held["body"]) == (HELD, None)
