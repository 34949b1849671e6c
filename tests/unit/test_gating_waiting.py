"""What a sensor waits for: required rules minus static waivers; absent results; the JSON forms round-trip."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relengotron.gating import (
    COMPOSE_ARTIFACT,
    KOJI_BUILD,
    RAWHIDE_GATING,
    PassingTestCaseRule,
    Policy,
    PolicySet,
    Subject,
    Waiver,
    decide,
)
from relengotron.gating.waiting import (
    Absent,
    Awaited,
    absent,
    absent_from_json,
    absent_to_json,
    awaited,
    awaited_from_json,
    awaited_to_json,
    describe_absent,
    slim_result,
    subject_from_mapping,
)

RAWHIDE = "fedora-rawhide"
ETCD = Subject.koji_build("etcd-3.0.15-1.fc26")
GLIBC = Subject.koji_build("glibc-2.24.90-2.fc26")
POLICIES = PolicySet(
    (
        Policy("gate", (RAWHIDE_GATING,), ("fedora-*",), KOJI_BUILD, (PassingTestCaseRule("dist.depcheck"),)),
        Policy(
            "abi",
            (RAWHIDE_GATING,),
            (RAWHIDE,),
            KOJI_BUILD,
            (PassingTestCaseRule("dist.abicheck"), PassingTestCaseRule("dist.boot", "uefi")),
            ("glibc",),
        ),
    ),
    (Waiver(KOJI_BUILD, GLIBC.item, "dist.abicheck", RAWHIDE, comment="known ABI break"),),
)


def result(subject: Subject, testcase: str, outcome: str, rid: int, **data: str) -> dict[str, Any]:
    values = {"item": [subject.item], "type": [subject.type], **{k: [v] for k, v in data.items()}}
    return {
        "id": rid,
        "testcase": {"name": testcase, "href": "http://rdb/x"},
        "outcome": outcome,
        "data": values,
        "submit_time": f"2016-11-2{rid % 10}T10:00:00",
        "groups": ["g"],
    }


def test_awaited_is_the_policies_rules_minus_static_waivers() -> None:
    found = awaited(POLICIES, [ETCD, GLIBC, ETCD], decision_context=RAWHIDE_GATING, product_version=RAWHIDE)
    assert found == [
        Awaited(ETCD, (PassingTestCaseRule("dist.depcheck"),)),
        Awaited(GLIBC, (PassingTestCaseRule("dist.depcheck"), PassingTestCaseRule("dist.boot", "uefi"))),
    ]
    other = awaited(POLICIES, [ETCD], decision_context="other", product_version=RAWHIDE)
    assert other == [Awaited(ETCD, ())]


def test_absent_names_each_missing_or_unfinished_result() -> None:
    waiting_for = awaited(POLICIES, [ETCD, GLIBC], decision_context=RAWHIDE_GATING, product_version=RAWHIDE)
    results = [
        result(ETCD, "dist.depcheck", "RUNNING", 1),
        result(GLIBC, "dist.depcheck", "FAILED", 2),
        result(GLIBC, "dist.boot", "PASSED", 3, scenario="bios"),  # another scenario: not the one required
    ]
    missing = absent(waiting_for, results)
    assert [str(m) for m in missing] == [
        "etcd-3.0.15-1.fc26 (koji_build): dist.depcheck: RUNNING",
        "glibc-2.24.90-2.fc26 (koji_build): dist.boot [uefi]: no result",
    ]
    assert describe_absent(missing).startswith("results missing: etcd-3.0.15-1.fc26")
    done = [
        *results,
        result(ETCD, "dist.depcheck", "PASSED", 4),
        result(GLIBC, "dist.boot", "FAILED", 5, scenario="uefi"),
    ]
    assert absent(waiting_for, done) == []  # a FAILED result is present: deciding is now possible


def test_a_result_about_another_type_of_subject_does_not_count() -> None:
    artifact = Subject(COMPOSE_ARTIFACT, ETCD.item, "etcd")
    entry = [Awaited(ETCD, (PassingTestCaseRule("dist.depcheck"),))]
    assert len(absent(entry, [result(artifact, "dist.depcheck", "PASSED", 1)])) == 1


def test_json_forms_round_trip() -> None:
    entries = awaited(POLICIES, [ETCD, GLIBC], decision_context=RAWHIDE_GATING, product_version=RAWHIDE)
    data = awaited_to_json(entries)
    assert data[1]["testcases"] == ["dist.depcheck", ["dist.boot", "uefi"]]
    assert awaited_from_json(data) == entries
    missing = absent(entries, [])
    assert absent_from_json(absent_to_json(missing)) == missing


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"item": "x-1-1"}, "'type' and 'item'"),
        ({"type": "koji_build", "item": "notannvr"}, "not a build name-version-release"),
        ("etcd", "must be a mapping"),
        ({"type": "koji_build", "item": "a-1-1", "name": ""}, "'name'"),
    ],
)
def test_bad_subjects_are_refused_naming_them(data: Any, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        subject_from_mapping(data)


def test_bad_testcase_in_json_is_refused() -> None:
    with pytest.raises(ValueError, match="bad test case"):
        awaited_from_json([{"type": "koji_build", "item": "a-1-1", "testcases": [["x"]]}])


def test_subject_keeps_extra_keys_out_and_parses_the_package() -> None:
    subject = subject_from_mapping({"type": KOJI_BUILD, "item": ETCD.item, "owner": "jchaloup", "tag": "t"})
    assert subject == ETCD
    assert subject_from_mapping({"type": COMPOSE_ARTIFACT, "item": "atomic-host-24-x86_64"}).name == (
        "atomic-host-24-x86_64"
    )


def test_slim_result_keeps_what_a_decision_reads() -> None:
    full = result(ETCD, "dist.depcheck", "PASSED", 7)
    slim = slim_result(full)
    assert "groups" not in slim and slim["testcase"] == {"name": "dist.depcheck"}
    ours = decide(POLICIES, [ETCD], [slim], decision_context=RAWHIDE_GATING, product_version=RAWHIDE)
    assert ours.answers[0].passes


OUTCOMES = st.sampled_from(["PASSED", "FAILED", "RUNNING", "QUEUED", "INFO", "NEEDS_INSPECTION"])


@given(st.lists(st.tuples(st.sampled_from([ETCD, GLIBC]), OUTCOMES), max_size=6))
def test_nothing_absent_means_the_decision_is_never_waiting(pairs: list[tuple[Subject, str]]) -> None:
    """Once a sensor stops waiting, the decision it makes is passed, failed or waived — never waiting."""
    results = [result(s, "dist.depcheck", o, i + 1) for i, (s, o) in enumerate(pairs)]
    results += [result(GLIBC, "dist.boot", "PASSED", 50, scenario="uefi")]
    entries = awaited(POLICIES, [ETCD, GLIBC], decision_context=RAWHIDE_GATING, product_version=RAWHIDE)
    batch = decide(POLICIES, [ETCD, GLIBC], results, decision_context=RAWHIDE_GATING, product_version=RAWHIDE)
    if not absent(entries, results):
        assert not batch.waiting
    else:
        assert all(isinstance(m, Absent) for m in absent(entries, results))
        assert batch.waiting or batch.failing  # something is missing: the decision cannot be a plain pass
