"""The gating decision: policies evaluated over ResultsDB results and waivers, as typed answers. Pure, no I/O.

Results are plain dicts as ResultsDB API v2.0 returns them (``{"id", "testcase": {"name"}, "outcome", "data":
{"item": [...], "type": [...], "scenario": [...]}, "submit_time"}``), normally the latest result per test case
of an item (``GET /results/latest``); when several results of one test case are given, the newest one of each
(scenario, system_architecture, system_variant) counts, as in Greenwave.

Outcomes: PASSED and INFO satisfy a rule; RUNNING and QUEUED (legacy Taskotron shapes) mean the test has not
finished, and a result that is absent means it has not run: both are *waiting*, never *failed*. Any other
outcome — FAILED, NEEDS_INSPECTION, ERROR or one ResultsDB was configured to accept — fails the rule unless a
waiver covers it. A waiver also covers a missing or unfinished result, as in Greenwave.

A subject no policy applies to gets :class:`NoPolicy`, which *passes* (Greenwave: "no tests are required"): a
policy file that forgets a subject lets it through, visibly — the answer says so and names no policy.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, ClassVar

from relengotron.gating.policies import PassingTestCaseRule, PolicySet, Subject, Waiver

PASSING = ("PASSED", "INFO")
UNFINISHED = ("RUNNING", "QUEUED")
_GROUP_KEYS = ("scenario", "system_architecture", "system_variant")

Result = Mapping[str, Any]


class Verdict(Enum):
    PASSED = "passed"
    FAILED = "failed"
    WAITING = "waiting"
    WAIVED = "waived"
    NO_POLICY = "no-policy"


@dataclass(frozen=True)
class Failure:
    """A required test case whose latest result failed and is not waived."""

    test_case: str
    outcome: str
    scenario: str | None = None
    result_id: int | None = None
    note: str = ""

    def __str__(self) -> str:
        where = f" [{self.scenario}]" if self.scenario else ""
        ref = f" (result {self.result_id})" if self.result_id is not None else ""
        note = f": {self.note}" if self.note else ""
        return f"{self.test_case}{where} {self.outcome}{ref}{note}"


@dataclass(frozen=True)
class Missing:
    """A required test case with no result yet (``outcome`` None) or an unfinished one (RUNNING, QUEUED)."""

    test_case: str
    scenario: str | None = None
    outcome: str | None = None

    def __str__(self) -> str:
        where = f" [{self.scenario}]" if self.scenario else ""
        return f"{self.test_case}{where}: {self.outcome or 'no result'}"


@dataclass(frozen=True)
class Answer:
    """The decision about one subject; ``policies`` names the applicable policies' ids."""

    verdict: ClassVar[Verdict]
    subject: Subject
    policies: tuple[str, ...]

    @property
    def passes(self) -> bool:
        """May the subject go on (promotion, signing, sync)?"""
        return self.verdict in (Verdict.PASSED, Verdict.WAIVED, Verdict.NO_POLICY)

    def summary(self) -> str:
        return f"{self.subject.item}: {self.verdict.value}{self._details()}"

    def _details(self) -> str:
        return ""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (XCom, bus messages)."""
        out = dataclasses.asdict(self)
        out["verdict"] = self.verdict.value
        out["summary"] = self.summary()
        return out


@dataclass(frozen=True)
class Passed(Answer):
    verdict: ClassVar[Verdict] = Verdict.PASSED


@dataclass(frozen=True)
class Failed(Answer):
    verdict: ClassVar[Verdict] = Verdict.FAILED
    failures: tuple[Failure, ...] = ()
    missing: tuple[Missing, ...] = ()  # also reported, never counted as failures
    waivers: tuple[Waiver, ...] = ()

    def _details(self) -> str:
        text = "; ".join(str(f) for f in self.failures)
        if self.missing:
            text += "; still waiting for " + ", ".join(str(m) for m in self.missing)
        return f" ({text})"


@dataclass(frozen=True)
class Waiting(Answer):
    verdict: ClassVar[Verdict] = Verdict.WAITING
    missing: tuple[Missing, ...] = ()
    waivers: tuple[Waiver, ...] = ()

    def _details(self) -> str:
        return " (results missing: " + ", ".join(str(m) for m in self.missing) + ")"


@dataclass(frozen=True)
class Waived(Answer):
    """Every rule is satisfied, at least one of them only by a waiver."""

    verdict: ClassVar[Verdict] = Verdict.WAIVED
    waivers: tuple[Waiver, ...] = ()

    def _details(self) -> str:
        return " (" + "; ".join(str(w) for w in self.waivers) + ")"


@dataclass(frozen=True)
class NoPolicy(Answer):
    verdict: ClassVar[Verdict] = Verdict.NO_POLICY

    def _details(self) -> str:
        return " (no applicable policy: nothing is required)"


@dataclass(frozen=True)
class BatchDecision:
    """The answers for a batch; failed if any subject failed, else waiting if any waits, else passed."""

    answers: tuple[Answer, ...]
    decision_context: str
    product_version: str

    @property
    def verdict(self) -> Verdict:
        if self.failing:
            return Verdict.FAILED
        if self.waiting:
            return Verdict.WAITING
        return Verdict.PASSED

    @property
    def passing(self) -> tuple[Answer, ...]:
        return tuple(a for a in self.answers if a.passes)

    @property
    def failing(self) -> tuple[Failed, ...]:
        return tuple(a for a in self.answers if isinstance(a, Failed))

    @property
    def waiting(self) -> tuple[Waiting, ...]:
        return tuple(a for a in self.answers if isinstance(a, Waiting))

    def answer(self, item: str) -> Answer:
        for answer in self.answers:
            if answer.subject.item == item:
                return answer
        raise KeyError(f"no decision about {item!r} in this batch")

    def summary(self) -> str:
        head = f"{self.decision_context} for {self.product_version}: {self.verdict.value}"
        return "\n".join([head, *(f"  {a.summary()}" for a in self.answers)])


def decide(
    policy_set: PolicySet,
    subjects: Iterable[Subject],
    results: Iterable[Result],
    waivers: Iterable[Waiver] = (),
    *,
    decision_context: str,
    product_version: str,
) -> BatchDecision:
    """Decide about each subject (in the given order) from all the batch's results and waivers at once."""
    by_subject: dict[tuple[str, str], list[Result]] = {}
    for result in results:
        data = result.get("data") or {}
        for item in _values(data, "item"):
            for kind in _values(data, "type"):
                by_subject.setdefault((kind, item), []).append(result)
    effective = _effective_waivers([*policy_set.waivers, *waivers])
    answers = tuple(
        _decide(policy_set, s, by_subject.get((s.type, s.item), []), effective, decision_context, product_version)
        for s in dict.fromkeys(subjects)
    )
    return BatchDecision(answers, decision_context, product_version)


def decide_one(
    policy_set: PolicySet,
    subject: Subject,
    results: Iterable[Result],
    waivers: Iterable[Waiver] = (),
    *,
    decision_context: str,
    product_version: str,
) -> Answer:
    """The answer about one subject (results about other subjects are ignored)."""
    batch = decide(
        policy_set, [subject], results, waivers, decision_context=decision_context, product_version=product_version
    )
    return batch.answers[0]


def _decide(
    policy_set: PolicySet,
    subject: Subject,
    results: Sequence[Result],
    waivers: Sequence[Waiver],
    decision_context: str,
    product_version: str,
) -> Answer:
    policies = tuple(p.id for p in policy_set.applicable(decision_context, product_version, subject))
    if not policies:
        return NoPolicy(subject, ())
    failures: list[Failure] = []
    missing: list[Missing] = []
    used: dict[Waiver, None] = {}

    def waiver_for(test_case: str, scenario: str | None) -> Waiver | None:
        for waiver in waivers:
            if waiver.covers(subject, test_case, product_version, scenario):
                used[waiver] = None
                return waiver
        return None

    for rule in policy_set.required(decision_context, product_version, subject):
        latest = _latest(r for r in results if _matches(r, rule))
        if not latest:
            if waiver_for(rule.test_case_name, rule.scenario) is None:
                missing.append(Missing(rule.test_case_name, rule.scenario))
            continue
        for result in latest:
            outcome = str(result.get("outcome", "")).upper()
            scenario = _first(result, "scenario")
            if outcome in PASSING or waiver_for(rule.test_case_name, scenario) is not None:
                continue
            if outcome in UNFINISHED:
                missing.append(Missing(rule.test_case_name, scenario, outcome))
            else:
                note = str(result.get("note") or "")
                failures.append(Failure(rule.test_case_name, outcome, scenario, result.get("id"), note))
    applied = tuple(used)
    if failures:
        return Failed(subject, policies, tuple(failures), tuple(missing), applied)
    if missing:
        return Waiting(subject, policies, tuple(missing), applied)
    if applied:
        return Waived(subject, policies, applied)
    return Passed(subject, policies)


def _matches(result: Result, rule: PassingTestCaseRule) -> bool:
    testcase = result.get("testcase")
    name = testcase.get("name") if isinstance(testcase, Mapping) else testcase
    if name != rule.test_case_name:
        return False
    return rule.scenario is None or _first(result, "scenario") == rule.scenario


def _latest(results: Iterable[Result]) -> list[Result]:
    """The newest result of each (scenario, system_architecture, system_variant)."""
    newest: dict[tuple[str | None, ...], Result] = {}
    for result in results:
        group = tuple(_first(result, key) for key in _GROUP_KEYS)
        if group not in newest or _age(result) > _age(newest[group]):
            newest[group] = result
    return [newest[g] for g in sorted(newest, key=lambda g: tuple(v or "" for v in g))]


def _age(result: Result) -> tuple[str, int]:
    result_id = result.get("id")
    return str(result.get("submit_time") or ""), result_id if isinstance(result_id, int) else -1


def _values(data: Mapping[str, Any], key: str) -> list[str]:
    """ResultsDB gives each data key as a list of strings; a bare string is accepted too."""
    value = data.get(key)
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list | tuple) else [str(value)]


def _first(result: Result, key: str) -> str | None:
    values = _values(result.get("data") or {}, key)
    return values[0] if values else None


def _effective_waivers(waivers: Sequence[Waiver]) -> list[Waiver]:
    """The newest waiver of each (subject, test case, product version, scenario), if it waives."""
    newest: dict[tuple[Any, ...], tuple[tuple[str, int, int], Waiver]] = {}
    for index, waiver in enumerate(waivers):
        key = (waiver.subject_type, waiver.subject_identifier, waiver.testcase, waiver.product_version, waiver.scenario)
        order = (waiver.timestamp, waiver.id if waiver.id is not None else -1, index)
        if key not in newest or order > newest[key][0]:
            newest[key] = (order, waiver)
    return [waiver for _, waiver in newest.values() if waiver.waived]
