"""Excuses, in the spirit of Debian britney's excuses page: for one update, build or artifact, every check's
verdict in one place — its tests (passed, failed, missing, each with its result), the gating policies that
required them and the waivers that covered them, its signature, and whether its manifest changed. Pure.

Nothing is decided again here: the verdicts are the ones the runs recorded — the tests tasks' decisions
(``Answer.as_dict()``, :mod:`relengotron.gating.decision`: ``verdict``, ``policies``, ``failures``,
``missing``, ``waivers``) and the results they were decided on — and the plan's, sign's and report's records,
as :mod:`relengotron.dashboard.pushes` and :mod:`relengotron.dashboard.gate` read them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from relengotron.dashboard.links import result_link
from relengotron.gating.decision import PASSING, Verdict

PASSED, FAILED, MISSING, WAIVED = "passed", "failed", "missing", "waived"


def _check(check: str, verdict: str, detail: str, link: str | None = None) -> dict[str, Any]:
    return {"check": check, "verdict": verdict, "detail": detail, "link": link}


def _testcase(result: Mapping[str, Any]) -> str:
    case = result.get("testcase")
    return str(case.get("name") if isinstance(case, Mapping) else case)


def test_checks(
    answers: Iterable[Mapping[str, Any]], results: Sequence[Mapping[str, Any]] = (), resultsdb_api: str | None = None
) -> list[dict[str, Any]]:
    """One check per test verdict of the recorded decisions: each failure and each missing result the answer
    names, each waiver it used, each passing result it was decided on, and the gating policies that applied."""
    out: list[dict[str, Any]] = []
    for answer in answers:
        policies = list(answer.get("policies") or ())
        verdict = str(answer.get("verdict"))
        if verdict == Verdict.NO_POLICY.value:
            out.append(_check("gating policy", PASSED, "no policy applies: nothing is required"))
            continue
        out.append(_check("gating policy", verdict, f"{', '.join(policies) or 'none'}: {answer.get('summary', '')}"))
        named: set[str] = set()
        for failure in answer.get("failures") or ():
            named.add(str(failure.get("test_case")))
            where = f" [{failure['scenario']}]" if failure.get("scenario") else ""
            note = f": {failure['note']}" if failure.get("note") else ""
            detail = f"{failure.get('test_case')}{where} {failure.get('outcome')}{note}"
            out.append(_check("test", FAILED, detail, result_link(resultsdb_api, failure.get("result_id"))))
        for missing in answer.get("missing") or ():
            named.add(str(missing.get("test_case")))
            detail = f"{missing.get('test_case')}: {missing.get('outcome') or 'no result yet'}"
            out.append(_check("test", MISSING, detail))
        for waiver in answer.get("waivers") or ():
            named.add(str(waiver.get("testcase")))
            who = f" by {waiver['username']}" if waiver.get("username") else ""
            why = f": {waiver['comment']}" if waiver.get("comment") else ""
            out.append(_check("waiver", WAIVED, f"{waiver.get('testcase')} waived{who}{why}"))
        for result in results:
            if _testcase(result) in named or str(result.get("outcome", "")).upper() not in PASSING:
                continue
            detail = f"{_testcase(result)} {result.get('outcome')}"
            out.append(_check("test", PASSED, detail, result_link(resultsdb_api, result.get("id"))))
    return out


def artifact_excuses(
    artifact: Mapping[str, Any], results: Sequence[Mapping[str, Any]] = (), resultsdb_api: str | None = None
) -> dict[str, Any]:
    """Every check of one artifact target of a push (an item of :func:`relengotron.dashboard.pushes.artifacts`)."""
    checks = []
    if artifact["decision"] == "skip":
        checks.append(_check("manifest", "unchanged", str(artifact.get("plan_reason")), artifact["links"]["log"]))
    else:
        checks.append(_check("manifest", "changed", str(artifact.get("plan_reason")), artifact["links"]["log"]))
        steps = artifact.get("steps") or {}
        checks.extend(test_checks(artifact.get("tests") or (), results, resultsdb_api))
        if not artifact.get("tests"):
            checks.append(
                _check("test", MISSING, f"no decision recorded yet (tests: {steps.get('tests') or 'not run'})")
            )
        sign = steps.get("sign")
        verdict = {"success": "signed", "skipped": "unsigned", "failed": FAILED}.get(str(sign), "pending")
        detail = {
            "signed": "signed with the release's key",
            "unsigned": "the release has no signing key",
            FAILED: "signing failed",
        }.get(verdict, f"not signed yet ({sign or 'not run'})")
        checks.append(_check("signature", verdict, detail))
    return {
        "item": artifact["label"],
        "type": "artifact",
        "state": artifact["state"],
        "reason": artifact["reason"],
        "links": artifact["links"],
        "checks": checks,
    }


def build_excuses(build: Mapping[str, Any], resultsdb_api: str | None = None) -> dict[str, Any]:
    """Every check of one build at the Rawhide gate (an entry of :func:`relengotron.dashboard.gate.gate_view`)."""
    checks = test_checks(build.get("answers") or (), (), resultsdb_api)
    if not checks:
        checks.append(_check("test", MISSING, "no decision recorded yet: its checks are awaited"))
    return {
        "item": build["nvr"],
        "type": "build",
        "state": build["state"],
        "reason": build["reason"],
        "packager": build.get("packager"),
        "links": build["links"],
        "checks": checks,
    }


def update_excuses(
    update: Mapping[str, Any], artifacts: Iterable[Mapping[str, Any]], resultsdb_api: str | None = None
) -> dict[str, Any]:
    """An update of a push: its outcome and, for every artifact that carries it, that artifact's excuses."""
    carrying = [a for a in artifacts if update.get("alias") in a.get("updates", ())]
    held = update.get("held_back") or []
    reason = update.get("reason") or (
        "held back by " + "; ".join(f"{h['label']} ({h['reason']})" for h in held) if held else str(update["status"])
    )
    return {
        "item": update.get("alias"),
        "type": "update",
        "state": update.get("status"),
        "reason": reason,
        "builds": list(update.get("builds") or ()),
        "artifacts": [artifact_excuses(a, (), resultsdb_api) for a in carrying],
    }
