"""What became of a push's artifacts and updates, and the messages that say so (docs/bodhi-handshake.md §4).
Pure: plain data in, plain data out.

Every artifact target ends in one of four states:

- ``released``: recomposed, tested, signed, promoted into the staging tree and synced to the master mirror;
- ``unchanged``: its manifest did not change (nothing composed);
- ``held-back``: recomposed but not promoted — its tests failed, or a step failed; it is never synced;
- ``failed``: promoted, but the push failed before the sync carried it to the master mirror.

An update is ``pushed`` when its builds reached the master mirror's updates repository and every artifact that
carries one of them was released or already had it; ``held-back`` when it was pushed but one of those
artifacts was held back; ``failed`` when the push failed before its builds reached the mirror. The push is
``complete``, ``held-back`` or ``failed`` accordingly. Bodhi finishes its push with these outcomes, so the
report never claims what did not reach the mirror: a push that was not synced releases nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from relengotron.push import STEPS, Push

RELEASED, UNCHANGED, HELD_BACK, FAILED = "released", "unchanged", "held-back", "failed"
PUSHED, COMPLETE = "pushed", "complete"


def held_back_reason(step_states: Mapping[str, str | None]) -> str:
    """Why a recomposed target was not released, from its steps' task states (step → state, :data:`STEPS`)."""
    for step in STEPS:
        state = step_states.get(step)
        if state == "failed":
            return "its tests failed" if step == "tests" else f"its {step} step failed"
    return "its steps did not finish"


def outcome(
    push: Push,
    items: Sequence[Mapping[str, Any]],
    promoted: Mapping[str, Mapping[str, Any]],
    reasons: Mapping[str, str] | None = None,
    failure: str | None = None,
) -> dict[str, Any]:
    """Each target's and each update's outcome. ``promoted``: target id → its promotion's result; ``reasons``:
    target id → why a recomposed target was not promoted (default "not released"); ``failure``: why the push
    did not reach the master mirror (None: it did)."""
    reasons = dict(reasons or {})
    targets: list[dict[str, Any]] = []
    for item in items:
        if item["decision"] == "skip":
            state, why = UNCHANGED, item["reason"]
        elif item["id"] in promoted:
            state, why = (RELEASED, "released") if failure is None else (FAILED, failure)
        else:
            state, why = HELD_BACK, reasons.get(item["id"], "not released")
        targets.append({"id": item["id"], "label": item["label"], "state": state, "reason": why})
    by_id = {t["id"]: t for t in targets}
    updates: list[dict[str, Any]] = []
    for update in push.updates:
        carrying = [by_id[item["id"]] for item in items if update.alias in item.get("updates", ())]
        held = [t for t in carrying if t["state"] == HELD_BACK]
        status = FAILED if failure is not None else HELD_BACK if held else PUSHED
        updates.append(
            {
                "alias": update.alias,
                "builds": list(update.builds),
                "status": status,
                "artifacts": [t["label"] for t in carrying if t["state"] in (RELEASED, UNCHANGED)],
                "held_back": [{"label": t["label"], "reason": t["reason"]} for t in held],
                "reason": failure,
            }
        )
    return {"targets": targets, "updates": updates}


def released_message(push: Push, item: Mapping[str, Any], promoted: Mapping[str, Any], run_id: str) -> dict[str, Any]:
    """The body of one ``relengotron.artifact.released`` message (one per artifact released by the push)."""
    return {
        "push_id": push.push_id,
        "run_id": run_id,
        "release": push.release.id,
        "request": push.request,
        "item": item["id"],
        "artifact": item["artifact"],
        "kind": item["kind"],
        "arch": item["arch"],
        "label": item["label"],
        "identity": promoted["identity"],
        "input_hash": promoted["input_hash"],
        "manifest": list(promoted["manifest"]),
        "paths": list(promoted["paths"]),
        "updates": list(item.get("updates", ())),
    }


def complete_message(
    push: Push, result: Mapping[str, Any], repos: Sequence[str], run_id: str, failure: str | None
) -> dict[str, Any]:
    """The body of the ``relengotron.push.complete`` message: every update's outcome and every artifact's."""
    targets = result["targets"]

    def labelled(state: str) -> list[dict[str, str]]:
        return [{"label": t["label"], "reason": t["reason"]} for t in targets if t["state"] == state]

    held = labelled(HELD_BACK)
    return {
        "push_id": push.push_id,
        "run_id": run_id,
        "repo": push.repo,
        "release": push.release.id,
        "request": push.request,
        "agent": push.agent,
        "status": FAILED if failure is not None else HELD_BACK if held else COMPLETE,
        "synced": failure is None,
        "reason": failure,
        "repos": list(repos),
        "updates": list(result["updates"]),
        "artifacts": {
            "released": [t["label"] for t in targets if t["state"] == RELEASED],
            "unchanged": [t["label"] for t in targets if t["state"] == UNCHANGED],
            "held_back": held,
            "failed": labelled(FAILED),
        },
    }


@dataclass(frozen=True)
class PushReport:
    """What the push tells the bus: one ``relengotron.artifact.released`` body per artifact released and not
    announced before, the ``relengotron.push.complete`` body (None for a dry run, which announces nothing) and
    the outcome of every target and update. ``would_complete``: the complete body a dry run would send."""

    released: list[dict[str, Any]]
    complete: dict[str, Any] | None
    would_complete: dict[str, Any]
    outcome: dict[str, Any]


def report(
    push: Push,
    items: Sequence[Mapping[str, Any]],
    promoted: Iterable[Mapping[str, Any]],
    reasons: Mapping[str, str],
    *,
    repos: Sequence[str],
    run_id: str,
    failure: str | None,
    dry_run: bool = False,
    announced: Iterable[tuple[str, str]] = (),
) -> PushReport:
    """The push's report from its plan ``items``, the promotions' results (``promoted``, each naming its
    ``target``), why each recomposed target that was not promoted was held back (``reasons``, target id →
    :func:`held_back_reason`), the updates repositories mashed (``repos``) and why the push did not reach the
    mirror (``failure``, None when it did). ``announced``: (target, identity) pairs whose release this push
    announced already (an earlier try or run of it): not announced again.

    Every target promoted and synced is announced once, whether or not this run's promotion moved it: a run of
    the push that promoted it but never reached the mirror (a refused approval, a failed sync) announced
    nothing, and the run that finally syncs it finds it promoted already (``changed`` false)."""
    done = {r["target"]: r for r in promoted}
    result = outcome(push, items, done, reasons, failure)
    by_id = {item["id"]: item for item in items}
    seen = set(announced)
    released = [
        released_message(push, by_id[target], found, run_id)
        for target, found in sorted(done.items())
        if target in by_id and (target, found.get("identity")) not in seen
    ]
    complete = complete_message(push, result, repos, run_id, failure)
    summary = {
        **result,
        "status": complete["status"],
        "held_back": complete["artifacts"]["held_back"],
        "reason": failure,
    }
    if dry_run:
        return PushReport([], None, complete, summary)
    return PushReport(released if failure is None else [], complete, complete, summary)


@dataclass(frozen=True)
class Verdict:
    """The push run's verdict (its ``check`` task): ``ok`` false fails the run — something needs on-call — and
    ``text`` says what became of the push either way."""

    ok: bool
    text: str


def verdict(outcome: Mapping[str, Any], decision: Mapping[str, Any] | None = None) -> Verdict:
    """The verdict on a reported push: ``outcome`` is :func:`report`'s ``outcome`` (``status``, ``held_back``,
    ``reason``), ``decision`` the approval's (``relengotron.approval.Decision.as_dict``: ``approved``, ``by``,
    ``text``; None when no approval was asked).

    - held-back artifacts: not ok, naming each and why (whatever else happened: they need fixing);
    - the approval refused by a release engineer: ok — a deliberate decision, carried out (nothing reached the
      mirror, Bodhi was told the push failed); the text says who refused it;
    - the approval refused because nobody answered before its timeout: not ok — nobody decided, the push's
      updates did not go out, and someone has to look;
    - any other failure the report records: not ok, with its reason;
    - otherwise ok: every artifact the push touched is released (or was unchanged).
    """
    held = list(outcome.get("held_back") or [])
    refusal = None
    if isinstance(decision, Mapping) and decision.get("approved") is False:
        refusal = (
            f"the push was {decision.get('text')}: nothing reached the master mirror, and Bodhi was told the push "
            "failed (its updates keep their request for the next push)"
        )
    if held:
        names = "; ".join(f"{h['label']} ({h['reason']})" for h in held)
        if refusal is not None:
            return Verdict(False, f"held back, not synced: {names}. Besides, {refusal}")
        return Verdict(
            False,
            f"held back, not synced: {names}. The rest of the push is released; rerun a held-back artifact "
            "by clearing its map index (with downstream) once it is fixed",
        )
    if refusal is not None:
        if decision is not None and decision.get("by") is None:
            return Verdict(False, f"nobody answered the approval: {refusal}")
        return Verdict(True, refusal[0].upper() + refusal[1:])
    if outcome.get("status") == FAILED:
        return Verdict(False, f"the push failed: {outcome.get('reason') or 'see the report'}")
    return Verdict(True, "every artifact the push touched is released")
