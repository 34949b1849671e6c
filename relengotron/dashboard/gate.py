"""The Rawhide gate as the dashboard shows it: the builds pending, promoted and quarantined, each with the
check that failed, its packager and the task instance that decided. Pure: recorded facts in, plain data out.

The facts are what ``rawhide_gating`` records (dags/rawhide_gating.py): ``list_builds``' return value (the
candidates, one per map index of the ``gate`` group, in that order), ``gate.wait_for_checks``' decision (its
return value: ``Answer.as_dict()`` per subject, :mod:`relengotron.gating.decision`) and ``gate.decide``'s return
value (``{"verdict": Verdict.as_dict() | None, "moved", ...}``, :mod:`relengotron.gating.rawhide`). The newest
run that decided a build says where it is; a build no run has decided yet is pending.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from relengotron.dashboard.facts import RunFacts, utc_text
from relengotron.dashboard.links import result_link, task_links
from relengotron.gating.rawhide import HELD, PROMOTED, QUARANTINED, WAITING

DAG_ID = "rawhide_gating"
PENDING = "pending"
ERROR = "error"
SECTIONS = (PENDING, QUARANTINED, PROMOTED)


def failing_checks(answers: Iterable[Mapping[str, Any]], resultsdb_api: str | None = None) -> list[dict[str, Any]]:
    """The failed checks of a decision (``Answer.as_dict()`` each): test case, outcome, scenario, result link."""
    out: list[dict[str, Any]] = []
    for answer in answers:
        for failure in answer.get("failures") or ():
            out.append(
                {
                    "test_case": failure.get("test_case"),
                    "outcome": failure.get("outcome"),
                    "scenario": failure.get("scenario"),
                    "note": failure.get("note") or "",
                    "result": result_link(resultsdb_api, failure.get("result_id")),
                }
            )
    return out


def _build(facts: RunFacts, index: int, candidate: Mapping[str, Any], resultsdb_api: str | None) -> dict[str, Any]:
    """One build of one run: where it went (or that it is pending) and why."""
    answers = facts.xcom("gate.wait_for_checks", index)
    answers = [a for a in answers if isinstance(a, Mapping)] if isinstance(answers, list) else []
    decided = facts.xcom("gate.decide", index)
    verdict = decided.get("verdict") if isinstance(decided, Mapping) else None
    decide_state = facts.state_of("gate.decide", index)
    base = {
        "nvr": candidate.get("nvr"),
        "package": candidate.get("package"),
        "packager": candidate.get("owner"),
        "tag": candidate.get("tag"),
        "run_id": facts.run_id,
        "decided": utc_text((facts.task("gate.decide", index) or _NONE).ended),
        "failing": failing_checks(answers, resultsdb_api),
        "answers": answers,
    }
    if isinstance(verdict, Mapping):
        outcome = str(verdict.get("outcome"))
        section = QUARANTINED if outcome in (QUARANTINED, HELD) else PENDING if outcome == WAITING else outcome
        reason = str(verdict.get("summary") or outcome)
        if outcome == HELD:
            reason = f"still failing, stays in {verdict.get('to_tag')}: {reason}"
        return {
            **base,
            "state": section,
            "outcome": outcome,
            "tag": verdict.get("to_tag"),
            "reason": reason,
            "links": task_links(facts.dag_id, facts.run_id, "gate.decide", index),
        }
    if decide_state in ("failed", "upstream_failed"):
        return {
            **base,
            "state": ERROR,
            "outcome": ERROR,
            "reason": "its gating step failed (see the log); it stays where it was",
            "links": task_links(facts.dag_id, facts.run_id, "gate.decide", index),
        }
    return {
        **base,
        "state": PENDING,
        "outcome": PENDING,
        "reason": "waiting for its checks' results",
        "links": task_links(facts.dag_id, facts.run_id, "gate.wait_for_checks", index),
    }


class _None:
    ended = None


_NONE = _None()


def gate_view(runs: Iterable[RunFacts], resultsdb_api: str | None = None) -> dict[str, Any]:
    """Every build the given ``rawhide_gating`` runs (newest first) handled, as the newest run that decided it
    says — a run that found it gated by another (verdict None) says nothing — grouped by section."""
    seen: dict[str, dict[str, Any]] = {}
    for facts in runs:
        candidates = facts.xcom("list_builds")
        for index, candidate in enumerate(candidates if isinstance(candidates, list) else ()):
            nvr = candidate.get("nvr")
            if not nvr or (nvr in seen and seen[nvr]["state"] != PENDING):
                continue
            build = _build(facts, index, candidate, resultsdb_api)
            decided = facts.xcom("gate.decide", index)
            gone = isinstance(decided, Mapping) and decided.get("verdict") is None
            if gone or (nvr in seen and build["state"] == PENDING):
                continue
            seen[nvr] = build
    sections: dict[str, list[dict[str, Any]]] = {name: [] for name in (*SECTIONS, ERROR)}
    for build in sorted(seen.values(), key=lambda b: str(b["nvr"])):
        sections[build["state"]].append(build)
    return {"dag_id": DAG_ID, "sections": sections, "builds": len(seen)}
