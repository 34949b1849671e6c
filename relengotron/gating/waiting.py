"""What a sensor waits for before a gating decision can be made, and what is still missing. Pure, no I/O.

A decision made too early says *waiting*; a sensor therefore waits until every required result of every
subject is there and finished (not RUNNING or QUEUED), then lets :func:`relengotron.gating.decide` answer.
What "required" means is the policies' (:meth:`PolicySet.required`), minus the rules a static waiver of the
policy file already covers (no result will ever come for a test nobody runs). Results from WaiverDB are not
known here: a rule they waive is still awaited, and the sensor's timeout reports it missing, never failed.

Subjects and their required test cases travel through an Airflow trigger as plain JSON
(:func:`subject_to_json`, :func:`subject_from_json`): ``{"type", "item", "name"?, "testcases": [name |
[name, scenario]]}``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from relengotron.gating.decision import UNFINISHED, Missing, Result, _latest, _matches
from relengotron.gating.policies import KOJI_BUILD, PassingTestCaseRule, PolicySet, Subject


@dataclass(frozen=True)
class Awaited:
    """One subject and the rules whose results must be present before deciding about it."""

    subject: Subject
    rules: tuple[PassingTestCaseRule, ...]


@dataclass(frozen=True)
class Absent:
    """A required result that is not there yet (or not finished), about ``subject``."""

    subject: Subject
    missing: Missing

    def __str__(self) -> str:
        return f"{self.subject.item} ({self.subject.type}): {self.missing}"


def subject_from_mapping(data: Mapping[str, Any]) -> Subject:
    """A subject from ``{"type", "item", "name"?}``; a koji_build's name is parsed from its NVR.

    Other keys (a build's owner, its tag) are ignored. A ValueError names what is wrong.
    """
    if not isinstance(data, Mapping):
        raise ValueError(f"a subject must be a mapping with 'type' and 'item', not {data!r}")
    kind, item = data.get("type"), data.get("item")
    if not isinstance(kind, str) or not kind or not isinstance(item, str) or not item:
        raise ValueError(f"subject {dict(data)!r}: 'type' and 'item' must be non-empty strings")
    name = data.get("name")
    if name is not None and (not isinstance(name, str) or not name):
        raise ValueError(f"subject {item}: 'name' must be a non-empty string")
    if kind == KOJI_BUILD and name is None:
        return Subject.koji_build(item)
    return Subject(kind, item, name or item)


def awaited(
    policy_set: PolicySet,
    subjects: Iterable[Subject],
    *,
    decision_context: str,
    product_version: str,
) -> list[Awaited]:
    """For each subject (in order, each once), the rules to wait for: the applicable policies' rules minus
    those a static waiver of the policy file covers. A subject no policy applies to awaits nothing."""
    out: list[Awaited] = []
    for subject in dict.fromkeys(subjects):
        rules = tuple(
            rule
            for rule in policy_set.required(decision_context, product_version, subject)
            if not any(
                w.waived and w.covers(subject, rule.test_case_name, product_version, rule.scenario)
                for w in policy_set.waivers
            )
        )
        out.append(Awaited(subject, rules))
    return out


def absent(awaiting: Iterable[Awaited], results: Iterable[Result]) -> list[Absent]:
    """The required results not yet present: no result of the rule's test case (and scenario) for the
    subject's item and type, or its newest one still RUNNING/QUEUED. Empty: everything is there to decide."""
    by_subject: dict[tuple[str, str], list[Result]] = {}
    for result in results:
        data = result.get("data") or {}
        for item in _strings(data.get("item")):
            for kind in _strings(data.get("type")):
                by_subject.setdefault((kind, item), []).append(result)
    out: list[Absent] = []
    for entry in awaiting:
        mine = by_subject.get((entry.subject.type, entry.subject.item), [])
        for rule in entry.rules:
            latest = _latest(r for r in mine if _matches(r, rule))
            if not latest:
                out.append(Absent(entry.subject, Missing(rule.test_case_name, rule.scenario)))
                continue
            for result in latest:
                outcome = str(result.get("outcome", "")).upper()
                if outcome in UNFINISHED:
                    scenario = _strings((result.get("data") or {}).get("scenario"))
                    out.append(
                        Absent(entry.subject, Missing(rule.test_case_name, scenario[0] if scenario else None, outcome))
                    )
    return out


def describe_absent(missing: Sequence[Absent]) -> str:
    """``results missing: etcd-3.0.15-1.fc26 (koji_build): dist.depcheck: no result; …``."""
    return "results missing: " + "; ".join(str(m) for m in missing)


# --- JSON forms (Airflow trigger kwargs and events) ----------------------------------------------------------


def awaited_to_json(entries: Iterable[Awaited]) -> list[dict[str, Any]]:
    """The JSON form of what is awaited (a trigger's kwargs): each rule a name, or [name, scenario]."""
    return [
        {
            "type": e.subject.type,
            "item": e.subject.item,
            "name": e.subject.name,
            "testcases": [r.test_case_name if r.scenario is None else [r.test_case_name, r.scenario] for r in e.rules],
        }
        for e in entries
    ]


def awaited_from_json(data: Iterable[Mapping[str, Any]]) -> list[Awaited]:
    """The inverse of :func:`awaited_to_json`; a ValueError names a malformed entry."""
    out: list[Awaited] = []
    for entry in data:
        subject = subject_from_mapping(entry)
        rules: list[PassingTestCaseRule] = []
        for case in entry.get("testcases") or []:
            if isinstance(case, str) and case:
                rules.append(PassingTestCaseRule(case))
            elif isinstance(case, list | tuple) and len(case) == 2 and all(isinstance(v, str) and v for v in case):
                rules.append(PassingTestCaseRule(case[0], case[1]))
            else:
                raise ValueError(f"subject {subject.item}: bad test case {case!r} (a name or [name, scenario])")
        out.append(Awaited(subject, tuple(rules)))
    return out


def absent_to_json(missing: Iterable[Absent]) -> list[dict[str, Any]]:
    return [
        {
            "type": m.subject.type,
            "item": m.subject.item,
            "testcase": m.missing.test_case,
            "scenario": m.missing.scenario,
            "outcome": m.missing.outcome,
        }
        for m in missing
    ]


def absent_from_json(data: Iterable[Mapping[str, Any]]) -> list[Absent]:
    return [
        Absent(
            subject_from_mapping({"type": m["type"], "item": m["item"]}),
            Missing(str(m["testcase"]), m.get("scenario"), m.get("outcome")),
        )
        for m in data
    ]


RESULT_KEYS = ("id", "testcase", "outcome", "data", "note", "ref_url", "submit_time")


def slim_result(result: Mapping[str, Any]) -> dict[str, Any]:
    """A ResultsDB result with only what a decision reads (the trigger event stays small)."""
    out = {k: result[k] for k in RESULT_KEYS if k in result}
    testcase = out.get("testcase")
    if isinstance(testcase, Mapping):
        out["testcase"] = {"name": testcase.get("name")}
    return out


def _strings(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list | tuple) else [str(value)]
