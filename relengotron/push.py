"""An updates push as data: the trigger's conf checked, the artifacts it touches, what became of each artifact
and each update, and the messages that say so. Pure: plain data in, plain data out, no I/O.

A push (Bodhi's, for one release and one request — ``testing`` or ``stable``) mashes the request's Koji tag
into the updates repository of its stream (``updates/<version>/<arch>`` for stable, ``updates/testing/…``
for testing) and — for stable pushes — recomposes the release's artifacts whose manifest the push changes
(:mod:`relengotron.planning`). Testing pushes compose no artifacts: the artifacts are released from stable
content only. Every artifact target ends in one of three states:

- ``released``: recomposed, tested, signed and promoted into the staging tree (then synced);
- ``unchanged``: its manifest did not change (nothing composed);
- ``held-back``: recomposed but not promoted — its tests failed, or a step failed; it is never synced.

An update is ``complete`` when every artifact that carries one of its builds was released or already had
it, ``held-back`` when one of them was held back (its builds are in the updates repository all the same).
The push-complete message carries every update's outcome: Bodhi needs it to finish its push.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from relengotron.config import MirrorLayout, Release, ReleaseConfig
from relengotron.names import WORD
from relengotron.planning import Plan, TargetPlan
from relengotron.planning import Update as PlanUpdate
from relengotron.updates import Update, UpdateError, parse_updates

MODNAME = "relengotron"
COMPOSED_TOPIC = "artifact.composed"  # relengotron.artifacts.COMPOSED_TOPIC without the modname
RELEASED_TOPIC = "artifact.released"
COMPLETE_TOPIC = "push.complete"
REQUESTS = ("testing", "stable")
RELEASED, UNCHANGED, HELD_BACK = "released", "unchanged", "held-back"
COMPLETE = "complete"
TESTING_ONLY = "unchanged, skipped: testing pushes compose no artifacts (they are released from stable pushes)"
# The steps of one artifact target, in order, as the DAG names its tasks (the reason an artifact is held back
# is the first of them that failed).
STEPS = ("compose", "announce", "tests", "sign", "promote")


class PushError(ValueError):
    """The push's conf (or what it names) is wrong; the message names the field."""


@dataclass(frozen=True)
class Push:
    """One push: its id, the release, the request and the updates (parsed as the mash needs them)."""

    push_id: str
    release: Release
    request: str
    updates: tuple[Update, ...]

    @classmethod
    def from_conf(cls, conf: Mapping[str, Any], config: ReleaseConfig) -> Push:
        """Check the trigger conf against the release configuration; a :class:`PushError` names the field."""
        push_id = conf.get("push_id")
        if not isinstance(push_id, str) or not WORD.match(push_id):
            raise PushError(f"push_id: must be a word like 2016-06-14.0, not {push_id!r}")
        request = conf.get("request")
        if request not in REQUESTS:
            raise PushError(f"request: must be one of {', '.join(REQUESTS)}, not {request!r}")
        release_id = conf.get("release")
        if not isinstance(release_id, str) or release_id not in config.releases:
            known = ", ".join(sorted(config.releases))
            raise PushError(f"release: {release_id!r} is not in the release configuration (configured: {known})")
        release = config.releases[release_id]
        if request not in release.tags:
            raise PushError(f"release: {release_id} has no {request} tag: it takes no {request} pushes")
        raw = conf.get("updates")
        if not isinstance(raw, Sequence) or isinstance(raw, str) or not raw:
            raise PushError("updates: must be a non-empty list of updates")
        try:
            updates = parse_updates(raw)
        except UpdateError as exc:
            raise PushError(f"updates: {exc}") from None
        return cls(push_id=push_id, release=release, request=request, updates=updates)

    @property
    def tag(self) -> str:
        """The Koji tag this push mashes (and its artifacts are composed from)."""
        return self.release.tag(self.request)

    @property
    def stream(self) -> str:
        """The updates repository's stream: "" for stable (``updates/24``), "testing" (``updates/testing/24``)."""
        return "" if self.request == "stable" else self.request

    @property
    def composes_artifacts(self) -> bool:
        return self.request == "stable"

    @property
    def plan_updates(self) -> tuple[PlanUpdate, ...]:
        return tuple(PlanUpdate(u.alias, u.builds) for u in self.updates)

    @property
    def lock_name(self) -> str:
        """What one push at a time is counted per: the release and the request."""
        return f"{self.release.id}-{self.request}"


def updates_path(layout: MirrorLayout, release: Release, arch: str, stream: str) -> str:
    """The updates repository of ``stream`` for ``arch``, relative to the staging/mirror top: the layout's
    ``updates`` template filled in, an empty stream leaving no empty path part (``updates/24/x86_64``)."""
    filled = layout.updates.format(version=release.version, arch=arch, stream=stream)
    return posixpath.normpath("/".join(p for p in filled.split("/") if p))


# --- the plan, as the DAG maps it ------------------------------------------------------------------------


def _carried(target: TargetPlan, updates: Sequence[Update]) -> list[str]:
    """Aliases of the updates one of whose builds is in the target's (new) manifest."""
    nvrs = set(target.manifest.nvrs)
    return sorted(u.alias for u in updates if any(b in nvrs for b in u.builds))


def plan_items(push: Push, plan: Plan | None, artifacts: Sequence[Any] = ()) -> list[dict[str, Any]]:
    """One item per artifact target (the mapped task group's input, labelled with the target's label), in
    the plan's order: :meth:`TargetPlan.as_dict` plus ``updates`` (the aliases it carries).

    ``plan`` None (a testing push): every target of ``artifacts`` (configuration artifacts) is skipped.
    """
    if plan is None:
        from relengotron.planning import Target

        targets = [Target(a, push.release, arch) for a in artifacts for arch in a.arches]
        return [
            {
                "id": t.id,
                "artifact": t.artifact.name,
                "kind": t.artifact.kind,
                "release": push.release.id,
                "arch": t.arch,
                "label": t.label,
                "decision": "skip",
                "reason": TESTING_ONLY,
                "manifest": [],
                "input_hash": None,
                "released": None,
                "changes": [],
                "updates": [],
            }
            for t in sorted(targets, key=lambda t: t.id)
        ]
    return [{**t.as_dict(), "updates": _carried(t, push.updates)} for t in plan.targets]


def split_by_kind(items: Iterable[Mapping[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The items for the OSTree task group and for the image task group."""
    out: dict[str, list[dict[str, Any]]] = {"ostree": [], "images": []}
    for item in items:
        out["ostree" if item["kind"] == "ostree" else "images"].append(dict(item))
    return out


# --- what became of each artifact and update ---------------------------------------------------------------


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
) -> dict[str, Any]:
    """Each target's and each update's outcome. ``promoted``: target id → its promotion's result (dict);
    ``reasons``: target id → why a recomposed target was not promoted (default "not released")."""
    reasons = dict(reasons or {})
    targets: list[dict[str, Any]] = []
    for item in items:
        if item["decision"] == "skip":
            state, why = UNCHANGED, item["reason"]
        elif item["id"] in promoted:
            state, why = RELEASED, "released"
        else:
            state, why = HELD_BACK, reasons.get(item["id"], "not released")
        targets.append({"id": item["id"], "label": item["label"], "state": state, "reason": why})
    by_id = {t["id"]: t for t in targets}
    updates: list[dict[str, Any]] = []
    for update in push.updates:
        carrying = [item for item in items if update.alias in item.get("updates", ())]
        held = [by_id[i["id"]] for i in carrying if by_id[i["id"]]["state"] == HELD_BACK]
        updates.append(
            {
                "alias": update.alias,
                "builds": list(update.builds),
                "status": HELD_BACK if held else COMPLETE,
                "artifacts": [by_id[i["id"]]["label"] for i in carrying if by_id[i["id"]]["state"] != HELD_BACK],
                "held_back": [{"label": t["label"], "reason": t["reason"]} for t in held],
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
    push: Push, result: Mapping[str, Any], repos: Sequence[str], run_id: str, synced: bool
) -> dict[str, Any]:
    """The body of the ``relengotron.push.complete`` message: every update's outcome and every artifact's."""
    targets = result["targets"]
    held = [{"label": t["label"], "reason": t["reason"]} for t in targets if t["state"] == HELD_BACK]
    return {
        "push_id": push.push_id,
        "run_id": run_id,
        "release": push.release.id,
        "request": push.request,
        "status": HELD_BACK if held else COMPLETE,
        "synced": synced,
        "repos": list(repos),
        "updates": list(result["updates"]),
        "artifacts": {
            "released": [t["label"] for t in targets if t["state"] == RELEASED],
            "unchanged": [t["label"] for t in targets if t["state"] == UNCHANGED],
            "held_back": held,
        },
    }


@dataclass(frozen=True)
class PushReport:
    """What the push tells the bus once synced: one ``relengotron.artifact.released`` body per artifact this run
    released, the ``relengotron.push.complete`` body (Bodhi finishes its push with it), and the outcome of
    every target and update. Not synced (a dry run, a sync that did not finish): nothing is announced —
    ``released`` is empty and ``complete`` None, and ``would_complete`` says what would have gone out."""

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
    synced: bool,
) -> PushReport:
    """The push's report from its plan ``items``, the promotions' results (``promoted``, each naming its
    ``target``), why each recomposed target that was not promoted was held back (``reasons``, target id →
    :func:`held_back_reason`) and the updates repositories mashed (``repos``)."""
    done = {r["target"]: r for r in promoted}
    result = outcome(push, items, done, reasons)
    by_id = {item["id"]: item for item in items}
    released = [
        released_message(push, by_id[target], found, run_id)
        for target, found in sorted(done.items())
        if found.get("changed") and target in by_id
    ]
    complete = complete_message(push, result, repos, run_id, synced=synced)
    summary = {**result, "status": complete["status"], "held_back": complete["artifacts"]["held_back"]}
    return PushReport(released if synced else [], complete if synced else None, complete, summary)


# --- the sync and the tests' freshness -----------------------------------------------------------------


def sync_roots(push: Push, layout: MirrorLayout, released_paths: Iterable[str]) -> list[str]:
    """The staging directories one sync of the push carries: the updates repositories of its stream and the
    directory of each released output (an OSTree repository is its own root). Sorted, without duplicates and
    without a root inside another. The website is synced by the website step."""
    roots = {updates_path(layout, push.release, arch, push.stream) for arch in push.release.arches}
    ostree = layout.ostree.strip("/")
    for path in released_paths:
        path = path.strip("/")
        roots.add(path if path == ostree or path.startswith(ostree + "/") else posixpath.dirname(path))
    ordered = sorted(r for r in roots if r)
    return [r for r in ordered if not any(r != o and r.startswith(o.rstrip("/") + "/") for o in ordered)]


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        stamp = datetime.fromisoformat(value)
    except ValueError:
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def fresh_results(
    results: Iterable[Mapping[str, Any]], since: str, *, skew: timedelta = timedelta(0)
) -> list[dict[str, Any]]:
    """The ResultsDB results submitted at or after ``since`` (the ISO time of a compose) less ``skew`` (how
    far ResultsDB's clock may lag ours): those about this compose of an artifact, not an earlier one of the
    same artifact (whose item is the same)."""
    start = _when(since)
    if start is None:
        raise ValueError(f"since: {since!r} is not an ISO date and time")
    start -= skew
    out = []
    for result in results:
        stamp = _when(result.get("submit_time"))
        if stamp is not None and stamp >= start:
            out.append(dict(result))
    return out
