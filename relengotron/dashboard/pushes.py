"""An ``updates_push`` run as the dashboard shows it: the push, each update's outcome and each artifact
target's state with the reason and the task instance that says so. Pure: recorded facts in, plain data out.

The facts are what the DAG's tasks record (dags/updates_push.py): ``plan``'s return value (one item per target,
with the plan's decision and reason), each kind's mapped group ``<kind>.compose`` → ``announce`` → ``tests`` →
``sign`` → ``promote`` (map indexes in the order of the plan's items of that kind:
:func:`relengotron.push.targets_by_kind`), ``tests``' decision (its return value, or its XCom ``answers`` when
the tests failed), and ``report``'s XCom ``outcome`` (:func:`relengotron.push_report.outcome`), the last word
on every target and update once the push is reported. Before that, an artifact's state is read from its steps.

Artifact states: ``unchanged`` (skipped: its manifest did not change), ``composing``, ``composed``, ``under
test``, ``signed`` (tested and signed — or tested, the release having no key — and waiting for its promotion or
the sync), ``released``, ``held-back`` (a step failed: never synced) and ``failed`` (promoted, but the push did
not reach the mirror) — the last three as :mod:`relengotron.push_report` names them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from relengotron.dashboard.facts import RunFacts, utc_text
from relengotron.dashboard.links import run_link, task_links
from relengotron.push import STEPS, targets_by_kind
from relengotron.push_report import FAILED, HELD_BACK, RELEASED, UNCHANGED, held_back_reason

DAG_ID = "updates_push"
COMPOSING, COMPOSED, UNDER_TEST, SIGNED = "composing", "composed", "under test", "signed"
FAILED_STATES = ("failed", "upstream_failed")
DONE_STATES = ("success", "skipped")
WAITING_STATES = ("running", "deferred", "up_for_reschedule", "up_for_retry", "queued", "scheduled")


def _step(facts: RunFacts, kind: str, step: str, index: int) -> str | None:
    return facts.state_of(f"{kind}.{step}", index)


def tests_answers(facts: RunFacts, kind: str, index: int) -> list[dict[str, Any]]:
    """The tests task's decision about one target (``Answer.as_dict()`` each): what it returned, or what it
    recorded before failing (XCom ``answers``); [] when it has not decided."""
    for key in ("return_value", "answers"):
        found = facts.xcom(f"{kind}.tests", index, key)
        if isinstance(found, list) and found:
            return [a for a in found if isinstance(a, Mapping)]
    return []


def _in_progress(facts: RunFacts, kind: str, index: int) -> tuple[str, str, str]:
    """(state, reason, step whose task instance says so) of a recomposed target the report has not covered."""
    states = {step: _step(facts, kind, step, index) for step in STEPS}
    if any(s in FAILED_STATES for s in states.values()):
        step = next(s for s in STEPS if states[s] in FAILED_STATES)
        return HELD_BACK, held_back_reason(states), step
    if states["promote"] == "success":
        sync = facts.state_of("sync")
        if sync == "success":
            return RELEASED, "released", "promote"
        return SIGNED, "promoted into the staging tree, waiting for the sync to the master mirror", "promote"
    if states["sign"] in DONE_STATES:
        unsigned = states["sign"] == "skipped"
        why = "tested, unsigned (the release has no signing key)" if unsigned else "tested and signed"
        return SIGNED, f"{why}; waiting for its promotion", "sign"
    if states["tests"] in WAITING_STATES or states["announce"] == "success":
        return UNDER_TEST, "announced to the test system; waiting for its results", "tests"
    if states["compose"] == "success":
        return COMPOSED, "composed; not yet announced to the test system", "compose"
    return COMPOSING, "being composed" if states["compose"] in WAITING_STATES else "waiting for its compose", "compose"


def artifacts(facts: RunFacts, items: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every target of the push's plan with its state, reason and the links of the task that says so."""
    outcome = facts.xcom("report", key="outcome")
    reported = {t["id"]: t for t in (outcome or {}).get("targets", ())} if isinstance(outcome, Mapping) else {}
    out: list[dict[str, Any]] = []
    grouped = targets_by_kind(items, dict.fromkeys(item["kind"] for item in items))
    indexes = {item["id"]: (kind, index) for kind, found in grouped.items() for index, item in enumerate(found)}
    for item in items:  # in the plan's order
        kind, index = indexes[item["id"]]
        answers: list[dict[str, Any]] = []
        if item["decision"] == "skip":
            state, reason, task_id, map_index = UNCHANGED, str(item["reason"]), "plan", -1
        else:
            state, reason, step = _in_progress(facts, kind, index)
            answers = tests_answers(facts, kind, index)
            if item["id"] in reported:
                state, reason = reported[item["id"]]["state"], reported[item["id"]]["reason"]
            if state == HELD_BACK and step == "tests":
                failing = [a["summary"] for a in answers if a.get("verdict") == "failed"]
                reason = f"{reason}: {'; '.join(failing)}" if failing else reason
            task_id, map_index = f"{kind}.{step}", index
        candidate = facts.xcom(f"{kind}.compose", index) if item["decision"] != "skip" else None
        out.append(
            {
                "id": item["id"],
                "label": item["label"],
                "kind": kind,
                "arch": item.get("arch"),
                "state": state,
                "reason": reason,
                "decision": item["decision"],
                "plan_reason": item.get("reason"),
                "updates": list(item.get("updates", ())),
                "steps": {s: _step(facts, kind, s, index) for s in STEPS} if item["decision"] != "skip" else {},
                "tests": answers,
                "candidate": _candidate(candidate, facts.xcom(f"{kind}.compose", index, "announcement")),
                "links": task_links(facts.dag_id, facts.run_id, task_id, map_index),
            }
        )
    return out


def _candidate(output: Any, announcement: Any) -> dict[str, Any] | None:
    """What the compose made, as the community testing page shows it: paths, identity (commit or sha256) and
    where test systems fetch it (the announcement's URLs)."""
    if not isinstance(output, Mapping):
        return None
    image = output.get("image") or {}
    ostree = output.get("ostree") or {}
    announced = announcement if isinstance(announcement, Mapping) else {}
    return {
        "changed": bool(output.get("changed")),
        "composed_at": output.get("composed_at"),
        "paths": list(output.get("paths") or ()),
        "sha256": image.get("sha256"),
        "commit": ostree.get("commit"),
        "image": announced.get("image"),
        "ostree": announced.get("ostree"),
    }


def updates(facts: RunFacts, arts: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Each update's outcome: the report's once reported, else what its artifacts say so far."""
    outcome = facts.xcom("report", key="outcome")
    if isinstance(outcome, Mapping) and outcome.get("updates"):
        return [dict(u) for u in outcome["updates"]]
    listed = facts.xcom("updates")
    out: list[dict[str, Any]] = []
    for update in listed if isinstance(listed, list) else ():
        alias = update.get("alias")
        carrying = [a for a in arts if alias in a["updates"]]
        held = [{"label": a["label"], "reason": a["reason"]} for a in carrying if a["state"] == HELD_BACK]
        out.append(
            {
                "alias": alias,
                "builds": list(update.get("builds", ())),
                "status": HELD_BACK if held else "in progress",
                "artifacts": [a["label"] for a in carrying if a["state"] in (RELEASED, UNCHANGED)],
                "held_back": held,
                "reason": None,
            }
        )
    return out


def push_view(facts: RunFacts) -> dict[str, Any]:
    """One push as the dashboard shows it (the JSON endpoints return exactly this)."""
    plan = facts.xcom("plan")
    items = list(plan["items"]) if isinstance(plan, Mapping) else []
    arts = artifacts(facts, items)
    outcome = facts.xcom("report", key="outcome")
    conf = facts.conf or {}
    repo = str(conf.get("repo") or "")
    status = outcome.get("status") if isinstance(outcome, Mapping) else None
    if status is None:
        status = FAILED if facts.state == "failed" else "in progress" if facts.state != "success" else "complete"
    return {
        "dag_id": facts.dag_id,
        "run_id": facts.run_id,
        "run_state": facts.state,
        "started": utc_text(facts.started),
        "ended": utc_text(facts.ended),
        "push_id": conf.get("push_id"),
        "repo": repo,
        "release": plan.get("release") if isinstance(plan, Mapping) else None,
        "request": plan.get("request") if isinstance(plan, Mapping) else None,
        "agent": conf.get("agent"),
        "status": status,
        "updates": updates(facts, arts),
        "artifacts": arts,
        "links": {**task_links(facts.dag_id, facts.run_id, "report"), "run": run_link(facts.dag_id, facts.run_id)},
    }


def by_release(views: Iterable[Mapping[str, Any]], latest: int = 5) -> dict[str, list[dict[str, Any]]]:
    """The pushes per release (a push not planned yet under its repo), newest first, ``latest`` of each."""
    out: dict[str, list[dict[str, Any]]] = {}
    for view in views:
        key = str(view.get("release") or view.get("repo") or "?")
        if len(out.setdefault(key, [])) < latest:
            out[key].append(dict(view))
    return out
