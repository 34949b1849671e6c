"""The autosign queue and its refusals as the dashboard shows them: the builds waiting for a signature, and
what the latest runs signed, found done already, refused (with the reason) or failed on. Pure: recorded facts
in, plain data out.

The facts are what the ``autosign`` DAG records (dags/autosign.py): ``list_builds``' return value (the builds
of the run, :meth:`relengotron.autosign.Item.as_dict`, one per map index of ``sign_build``, in that order) and
its XCom ``left_over`` (what a sweep left for the next run); ``sign_build``'s return value
(:meth:`relengotron.autosign.Outcome.as_dict`: ``signed`` or ``done``, with the reason) or, for a refused
build, its XCom ``refused`` (``{"nvr", "reason"}``: the task fails with that reason); and each task instance's
state. The newest run that finished with a build says where it is; one still at work says it waits.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from relengotron.autosign import DONE, REFUSED_XCOM, SIGNED
from relengotron.dashboard.facts import RunFacts, utc_text
from relengotron.dashboard.links import run_link, task_links

DAG_ID = "autosign"
WAITING, REFUSED, FAILED, NOT_RUN = "waiting", "refused", "failed", "not run"
ALREADY_DONE = "already done"
SECTIONS = (WAITING, REFUSED, FAILED, SIGNED, ALREADY_DONE)
_AT_WORK = (None, "none", "scheduled", "queued", "running", "up_for_retry", "up_for_reschedule", "deferred")
_NOT_RUN = ("upstream_failed", "skipped", "removed")


def _build(facts: RunFacts, index: int, item: Mapping[str, Any]) -> dict[str, Any]:
    """One build of one run: its state and why."""
    nvr = str(item.get("nvr"))
    outcome = facts.xcom("sign_build", index)
    refused = facts.xcom("sign_build", index, REFUSED_XCOM)
    state = facts.state_of("sign_build", index)
    task = facts.task("sign_build", index)
    entry: dict[str, Any] = {
        "nvr": nvr,
        "release": item.get("release") or facts.conf.get("release"),
        "from_tag": item.get("from_tag"),
        "to_tag": item.get("to_tag"),
        "run_id": facts.run_id,
        "when": utc_text(task.ended or task.started) if task else None,
        "links": task_links(facts.dag_id, facts.run_id, "sign_build", index),
    }
    if isinstance(outcome, Mapping) and outcome.get("outcome") in (SIGNED, DONE):
        signed = outcome["outcome"] == SIGNED
        return {
            **entry,
            "state": SIGNED if signed else ALREADY_DONE,
            "key": outcome.get("key"),
            "rpms_signed": outcome.get("rpms_signed"),
            "packager": outcome.get("owner"),
            "reason": str(outcome.get("reason") or ""),
        }
    if isinstance(refused, Mapping) and state not in _AT_WORK:
        return {**entry, "state": REFUSED, "reason": str(refused.get("reason"))}
    if state == "failed":
        return {**entry, "state": FAILED, "reason": "its signing task failed: see its log"}
    if state in _NOT_RUN:
        return {**entry, "state": NOT_RUN, "reason": f"its signing task did not run ({state})"}
    why = (
        "retrying after a transient failure"
        if state == "up_for_retry"
        else f"in run {facts.run_id} ({state or 'not started'})"
    )
    return {**entry, "state": WAITING, "reason": f"waiting for its signature: {why}"}


def _left_over(facts: RunFacts) -> list[dict[str, Any]]:
    found = facts.xcom("list_builds", key="left_over")
    return [
        {
            "nvr": str(nvr),
            "release": facts.conf.get("release"),
            "from_tag": None,
            "to_tag": None,
            "run_id": facts.run_id,
            "when": utc_text(facts.started),
            "state": WAITING,
            "reason": "waiting in the signing-pending tag: left for the next run (a run signs at most 1000 builds)",
            "links": task_links(facts.dag_id, facts.run_id, "list_builds"),
        }
        for nvr in (found if isinstance(found, list) else ())
    ]


def _run(facts: RunFacts) -> dict[str, Any]:
    summary = facts.xcom("summarize")
    listed = facts.xcom("list_builds")
    return {
        "run_id": facts.run_id,
        "release": facts.conf.get("release"),
        "requested": list(facts.conf.get("builds") or ()),
        "state": facts.state,
        "started": utc_text(facts.started),
        "ended": utc_text(facts.ended),
        "listed": len(listed) if isinstance(listed, list) else None,
        "summary": summary if isinstance(summary, Mapping) else None,
        "list_state": facts.state_of("list_builds"),
        "links": {"run": run_link(facts.dag_id, facts.run_id), **task_links(facts.dag_id, facts.run_id, "list_builds")},
    }


def autosign_view(runs: Iterable[RunFacts]) -> dict[str, Any]:
    """Every build the given ``autosign`` runs (newest first) worked on, as the newest run that says something
    about it says (a newer run still waiting on a build does not hide an older run's verdict: it is shown
    waiting, with the older verdict as ``previously``), grouped by section; and the runs themselves."""
    seen: dict[str, dict[str, Any]] = {}
    shown: list[dict[str, Any]] = []
    for facts in runs:
        shown.append(_run(facts))
        items = facts.xcom("list_builds")
        found = [_build(facts, i, item) for i, item in enumerate(items if isinstance(items, list) else ())]
        for build in (*found, *_left_over(facts)):
            newer = seen.get(build["nvr"])
            if newer is None:
                seen[build["nvr"]] = build
            elif newer["state"] == WAITING and build["state"] != WAITING and "previously" not in newer:
                newer["previously"] = {k: build[k] for k in ("state", "reason", "run_id")}
    sections: dict[str, list[dict[str, Any]]] = {name: [] for name in (*SECTIONS, NOT_RUN)}
    for build in sorted(seen.values(), key=lambda b: b["nvr"]):
        sections[build["state"]].append(build)
    return {"dag_id": DAG_ID, "sections": sections, "builds": len(seen), "runs": shown}
