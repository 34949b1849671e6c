"""The gating decision: typed answers; a missing result is never "failed"; waivers; batches; properties."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relengotron.gating import (
    ARTIFACT_RELEASE,
    COMPOSE_ARTIFACT,
    KOJI_BUILD,
    RAWHIDE_GATING,
    Failed,
    Failure,
    Missing,
    NoPolicy,
    Passed,
    PassingTestCaseRule,
    Policy,
    PolicySet,
    Subject,
    Verdict,
    Waiting,
    Waived,
    Waiver,
    decide,
    decide_one,
    load_policies,
)
from relengotron_sandbox.world import DEFAULT_WORLD

RAWHIDE = "fedora-rawhide"
TESTS = ("dist.depcheck", "dist.rpmlint", "dist.abicheck")
POLICIES = PolicySet(
    (
        Policy("gate", (RAWHIDE_GATING,), ("fedora-*",), KOJI_BUILD, tuple(PassingTestCaseRule(t) for t in TESTS[:2])),
        Policy("abi", (RAWHIDE_GATING,), (RAWHIDE,), KOJI_BUILD, (PassingTestCaseRule(TESTS[2]),), ("glibc",)),
    )
)
ETCD = Subject.koji_build("etcd-3.0.15-1.fc26")
GLIBC = Subject.koji_build("glibc-2.24.90-2.fc26")
_ids = iter(range(1, 1_000_000))


def result(subject: Subject, testcase: str, outcome: str, minute: int = 0, **data: str) -> dict[str, Any]:
    """A result as ResultsDB API v2.0 returns it (data values are lists)."""
    rid = next(_ids)
    values = {"item": [subject.item], "type": [subject.type], **{k: [v] for k, v in data.items()}}
    return {
        "id": rid,
        "testcase": {"name": testcase, "href": f"http://rdb/api/v2.0/testcases/{testcase}", "ref_url": None},
        "outcome": outcome,
        "data": values,
        "note": f"note {rid}",
        "groups": [],
        "ref_url": None,
        "submit_time": f"2016-11-25T10:{minute:02d}:00.000000",
        "href": f"http://rdb/api/v2.0/results/{rid}",
    }


def waiver(subject: Subject, testcase: str, minute: int = 0, waived: bool = True, **extra: Any) -> Waiver:
    return Waiver.from_waiverdb(
        {
            "id": next(_ids),
            "subject_type": subject.type,
            "subject_identifier": subject.item,
            "testcase": testcase,
            "product_version": RAWHIDE,
            "waived": waived,
            "username": "releng",
            "comment": "known issue",
            "timestamp": f"2016-11-25T11:{minute:02d}:00.000000",
            **extra,
        }
    )


def one(subject: Subject, results: list, waivers: tuple = (), policies: PolicySet = POLICIES) -> Any:
    return decide_one(policies, subject, results, waivers, decision_context=RAWHIDE_GATING, product_version=RAWHIDE)


def test_all_required_passing_or_info_is_passed() -> None:
    answer = one(ETCD, [result(ETCD, TESTS[0], "PASSED"), result(ETCD, TESTS[1], "INFO")])
    assert isinstance(answer, Passed) and answer.passes and answer.policies == ("gate",)
    assert answer.summary() == "etcd-3.0.15-1.fc26: passed"


def test_failures_name_the_test_cases_and_outcomes() -> None:
    results = [result(ETCD, TESTS[0], "FAILED"), result(ETCD, TESTS[1], "NEEDS_INSPECTION")]
    answer = one(ETCD, results)
    assert isinstance(answer, Failed) and not answer.passes
    assert [(f.test_case, f.outcome) for f in answer.failures] == [(TESTS[0], "FAILED"), (TESTS[1], "NEEDS_INSPECTION")]
    assert answer.failures[0].result_id == results[0]["id"] and answer.failures[0].note.startswith("note")
    assert "dist.depcheck FAILED (result" in answer.summary()


def test_missing_and_unfinished_results_are_waiting_never_failed() -> None:
    answer = one(ETCD, [result(ETCD, TESTS[0], "RUNNING")])
    assert isinstance(answer, Waiting) and not answer.passes
    assert answer.missing == (Missing(TESTS[0], None, "RUNNING"), Missing(TESTS[1]))
    assert answer.summary() == (
        "etcd-3.0.15-1.fc26: waiting (results missing: dist.depcheck: RUNNING, dist.rpmlint: no result)"
    )
    assert isinstance(one(ETCD, [result(ETCD, TESTS[0], "queued"), result(ETCD, TESTS[1], "PASSED")]), Waiting)
    assert isinstance(one(ETCD, []), Waiting)


def test_a_failure_with_missing_results_is_failed_and_lists_the_missing_apart() -> None:
    answer = one(ETCD, [result(ETCD, TESTS[0], "ERROR")])
    assert isinstance(answer, Failed)
    assert answer.failures == (Failure(TESTS[0], "ERROR", None, answer.failures[0].result_id, answer.failures[0].note),)
    assert answer.missing == (Missing(TESTS[1]),)
    assert "still waiting for dist.rpmlint: no result" in answer.summary()


def test_the_newest_result_of_a_test_case_counts() -> None:
    fixed = [result(ETCD, TESTS[0], "FAILED", minute=1), result(ETCD, TESTS[0], "PASSED", minute=2)]
    assert isinstance(one(ETCD, [*fixed, result(ETCD, TESTS[1], "PASSED")]), Passed)
    broke = [result(ETCD, TESTS[0], "PASSED", minute=3), result(ETCD, TESTS[0], "FAILED", minute=4)]
    assert isinstance(one(ETCD, [*broke, result(ETCD, TESTS[1], "PASSED")]), Failed)


def test_each_scenario_must_pass() -> None:
    results = [
        result(ETCD, TESTS[0], "PASSED", scenario="x86_64.bios"),
        result(ETCD, TESTS[0], "FAILED", scenario="x86_64.uefi"),
        result(ETCD, TESTS[1], "PASSED"),
    ]
    answer = one(ETCD, results)
    assert isinstance(answer, Failed) and answer.failures[0].scenario == "x86_64.uefi"
    uefi_only = PolicySet(
        (Policy("u", (RAWHIDE_GATING,), (RAWHIDE,), KOJI_BUILD, (PassingTestCaseRule(TESTS[0], "x86_64.bios"),)),)
    )
    assert isinstance(one(ETCD, results, policies=uefi_only), Passed)


def test_results_of_other_items_and_types_are_ignored() -> None:
    other = Subject.koji_build("etcd-3.0.14-1.fc26")
    artifact = Subject(COMPOSE_ARTIFACT, ETCD.item, "etcd")
    results = [result(other, t, "PASSED") for t in TESTS] + [result(artifact, t, "PASSED") for t in TESTS]
    assert isinstance(one(ETCD, results), Waiting)


def test_waivers_satisfy_failed_and_missing_results() -> None:
    results = [result(ETCD, TESTS[0], "FAILED")]
    waivers = (waiver(ETCD, TESTS[0]), waiver(ETCD, TESTS[1]))
    answer = one(ETCD, results, waivers)
    assert isinstance(answer, Waived) and answer.passes and answer.waivers == waivers
    assert "waiver" in answer.summary() and "by releng: known issue" in answer.summary()


def test_the_newest_waiver_wins_and_waivers_are_exact() -> None:
    results = [result(ETCD, TESTS[0], "FAILED"), result(ETCD, TESTS[1], "PASSED")]
    revoked = (waiver(ETCD, TESTS[0], minute=1), waiver(ETCD, TESTS[0], minute=2, waived=False))
    assert isinstance(one(ETCD, results, revoked), Failed)
    assert isinstance(one(ETCD, results, tuple(reversed(revoked))), Failed)  # order given does not matter
    elsewhere = (waiver(ETCD, TESTS[0], product_version="fedora-25"), waiver(GLIBC, TESTS[0]))
    assert isinstance(one(ETCD, results, elsewhere), Failed)
    other_scenario = (waiver(ETCD, TESTS[0], scenario="x86_64.uefi"),)
    assert isinstance(one(ETCD, results, other_scenario), Failed)


def test_static_waivers_from_the_policy_file(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        "--- !Policy\nid: g\nproduct_versions: [fedora-rawhide]\ndecision_context: rawhide_gating\n"
        "subject_type: koji_build\nrules: [!PassingTestCaseRule {test_case_name: dist.depcheck}]\n"
        f"--- !Waiver\nsubject_type: koji_build\nsubject_identifier: {ETCD.item}\ntestcase: dist.depcheck\n"
        "product_version: fedora-rawhide\ncomment: known\n"
    )
    answer = one(ETCD, [result(ETCD, "dist.depcheck", "FAILED")], policies=load_policies(path))
    assert isinstance(answer, Waived) and answer.waivers[0].id is None


def test_no_applicable_policy_is_its_own_answer_and_passes() -> None:
    answer = decide_one(POLICIES, ETCD, [], decision_context="bodhi_push", product_version=RAWHIDE)
    assert isinstance(answer, NoPolicy) and answer.passes and answer.policies == ()
    assert "no applicable policy" in answer.summary()


def test_a_batch_has_one_answer_per_subject_and_an_aggregate_verdict() -> None:
    passed = [result(ETCD, t, "PASSED") for t in TESTS[:2]]
    glibc_results = [result(GLIBC, t, "PASSED") for t in TESTS[:2]]
    batch = decide(
        POLICIES,
        [ETCD, GLIBC, ETCD],
        passed + glibc_results,
        (),
        decision_context=RAWHIDE_GATING,
        product_version=RAWHIDE,
    )
    assert [a.subject for a in batch.answers] == [ETCD, GLIBC]  # each once, in order
    assert batch.answer(GLIBC.item).policies == ("gate", "abi")
    assert batch.verdict is Verdict.WAITING and batch.waiting == (batch.answer(GLIBC.item),)
    assert batch.passing == (batch.answer(ETCD.item),)
    glibc_results.append(result(GLIBC, TESTS[2], "FAILED"))
    batch = decide(
        POLICIES, [ETCD, GLIBC], passed + glibc_results, decision_context=RAWHIDE_GATING, product_version=RAWHIDE
    )
    assert batch.verdict is Verdict.FAILED and [a.subject for a in batch.failing] == [GLIBC]
    assert batch.summary().splitlines()[0] == "rawhide_gating for fedora-rawhide: failed"
    data = json.loads(json.dumps([a.as_dict() for a in batch.answers]))
    assert data[1]["verdict"] == "failed" and data[1]["failures"][0]["test_case"] == TESTS[2]
    assert data[1]["subject"] == {"type": "koji_build", "item": GLIBC.item, "name": "glibc"}
    with pytest.raises(KeyError, match="no decision about 'bash-1-1'"):
        batch.answer("bash-1-1")
    empty = decide(POLICIES, [], [], decision_context=RAWHIDE_GATING, product_version=RAWHIDE)
    assert empty.verdict is Verdict.PASSED


def test_sandbox_policies_gate_the_world_as_the_demo_expects() -> None:
    policies = load_policies(DEFAULT_WORLD.with_name("policies.yaml"))
    broken = Subject.koji_build("python3-requests-2.12.1-1.fc26")
    good = Subject.koji_build("etcd-3.0.15-1.fc26")
    pending = Subject.koji_build("coreutils-8.25-15.fc26")
    results = [
        result(broken, "dist.depcheck", "FAILED", arch="noarch"),
        result(good, "dist.depcheck", "PASSED", arch="noarch"),
    ]
    batch = decide(policies, [broken, good, pending], results, decision_context=RAWHIDE_GATING, product_version=RAWHIDE)
    assert [a.verdict for a in batch.answers] == [Verdict.FAILED, Verdict.PASSED, Verdict.WAITING]
    ami = Subject(COMPOSE_ARTIFACT, "cloud-base-ami-24-x86_64", "cloud-base-ami")
    gce = Subject(COMPOSE_ARTIFACT, "cloud-base-gce-24-x86_64", "cloud-base-gce")
    results = [
        result(s, case, "PASSED") for s in (ami, gce) for case in ("compose.image.checksum", "compose.image.content")
    ]
    results.append(result(ami, "compose.cloud.boot", "FAILED"))
    batch = decide(policies, [ami, gce], results, decision_context=ARTIFACT_RELEASE, product_version="fedora-24")
    assert [a.verdict for a in batch.answers] == [Verdict.FAILED, Verdict.PASSED]


# ------------------------------------------------------------------ properties

OUTCOMES = ("PASSED", "INFO", "FAILED", "NEEDS_INSPECTION", "ERROR", "RUNNING", "QUEUED")
SCENARIOS = (None, "x86_64.bios", "x86_64.uefi")


@st.composite
def situations(draw: st.DrawFn) -> tuple[PolicySet, list[dict[str, Any]]]:
    rules = draw(
        st.lists(
            st.builds(PassingTestCaseRule, st.sampled_from(TESTS), st.sampled_from(SCENARIOS)), min_size=1, max_size=4
        )
    )
    policy_set = PolicySet((Policy("p", (RAWHIDE_GATING,), (RAWHIDE,), KOJI_BUILD, tuple(rules)),))
    results = []
    for testcase, outcome, minute, scenario in draw(
        st.lists(
            st.tuples(
                st.sampled_from(TESTS), st.sampled_from(OUTCOMES), st.integers(0, 59), st.sampled_from(SCENARIOS)
            ),
            max_size=8,
        )
    ):
        data = {"scenario": scenario} if scenario else {}
        results.append(result(ETCD, testcase, outcome, minute, **data))
    return policy_set, results


@given(situations())
@settings(max_examples=150, deadline=None)
def test_a_missing_result_never_yields_failed(situation: tuple) -> None:
    policy_set, results = situation
    answer = one(ETCD, results, policies=policy_set)
    present = {r["testcase"]["name"] for r in results}
    if isinstance(answer, Failed):
        assert all(f.test_case in present for f in answer.failures)
    bad = {"FAILED", "NEEDS_INSPECTION", "ERROR"}
    if not any(r["outcome"] in bad for r in results):
        assert not isinstance(answer, Failed)
    # dropping every result can only make the subject wait, never fail
    assert isinstance(one(ETCD, [], policies=policy_set), Waiting)


@given(situations(), st.sampled_from(TESTS), st.sampled_from(SCENARIOS), st.integers(0, 59))
@settings(max_examples=150, deadline=None)
def test_adding_a_passed_result_never_turns_passed_into_failed(
    situation: tuple, testcase: str, scenario: str | None, minute: int
) -> None:
    policy_set, results = situation
    before = one(ETCD, results, policies=policy_set)
    data = {"scenario": scenario} if scenario else {}
    after = one(ETCD, [*results, result(ETCD, testcase, "PASSED", minute, **data)], policies=policy_set)
    if isinstance(before, Passed):
        assert isinstance(after, Passed)
    if not isinstance(before, Failed):
        assert not isinstance(after, Failed)


@given(situations())
@settings(max_examples=150, deadline=None)
def test_waiving_all_failing_cases_yields_waived(situation: tuple) -> None:
    policy_set, results = situation
    answer = one(ETCD, results, policies=policy_set)
    if not isinstance(answer, Failed):
        return
    waivers = tuple(waiver(ETCD, f.test_case, scenario=f.scenario) for f in answer.failures)
    after = one(ETCD, results, waivers, policies=policy_set)
    assert isinstance(after, Waived | Waiting)  # a waiver without scenario may also cover a missing result
    if not answer.missing:
        assert isinstance(after, Waived)
    everything = waivers + tuple(waiver(ETCD, m.test_case, scenario=m.scenario) for m in answer.missing)
    assert isinstance(one(ETCD, results, everything, policies=policy_set), Waived)
