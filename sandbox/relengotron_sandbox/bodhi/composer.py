"""The sandbox Bodhi's pushes: ``bodhi-push`` (composes requested, ``bodhi.compose.composing`` published) and
their end when releng-o-tron's ``relengotron.push.complete`` arrives (docs/bodhi-handshake.md §1, §4, §5).

:func:`push` is ``bodhi-push --yes`` followed by the start of Bodhi's composer: with composes left from an
earlier push it resumes them all (as ``bodhi-push`` does); else it takes the updates requested for testing
and/or stable in the chosen releases (by default every current and pending release composed by Bodhi),
skips those with a build still waiting for its signature (``update_sig_status``: a build is signed once it
has left the release's pending-signing tag), locks them and makes one compose per release and request, in
Bodhi's order (security composes first, then stable before testing). Then it publishes ``bodhi.compose.start``
and one ``bodhi.compose.composing`` per compose (or, ``bodhi2``, Bodhi 2's one ``bodhi.masher.start`` naming
every update by title). Not idempotent: every call publishes again, and resumes what is left.

:func:`finish_push` ends a compose the Bodhi way (``ComposerThread.work`` after the compose); idempotent, see
the handshake: an update already finished is left alone, and a message already handled (by its msg_id) or a
second identical ``push.complete`` changes nothing and publishes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from relengotron_sandbox.bodhi import render
from relengotron_sandbox.bodhi.bugs import bug_message
from relengotron_sandbox.bodhi.finish import (
    ContractError,
    PushComplete,
    UpdateOutcome,
    compose_error,
    compose_of,
    failed_comment,
    is_finished,
    parse_push_complete,
    pushed_comment,
)
from relengotron_sandbox.bodhi.state import BodhiState

log = logging.getLogger(__name__)

COMPOSING_STATE = "punging"  # the compose is releng-o-tron's now ("Waiting for Pungi to finish")
PUSH_REQUESTS = ("testing", "stable")
COMPOSER_AGENT = render.SYSTEM_USER  # who Bodhi's composer says sent bodhi.update.complete.*


class PushError(ValueError):
    """``bodhi-push`` refuses the arguments (an unknown release or request)."""


@dataclass
class PushResult:
    composes: list[dict[str, Any]]
    resumed: bool
    unsigned: list[str] = field(default_factory=list)  # titles of the updates skipped as unsigned


@dataclass
class FinishResult:
    repo: str
    release: str
    request: str
    completed: list[str] = field(default_factory=list)  # aliases pushed (or held back) now
    failed: list[str] = field(default_factory=list)  # aliases commented as failed now
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (alias, why nothing was done)
    compose: str | None = None  # "removed", "failed" or None (no change)
    duplicate: bool = False  # the message was handled before

    @property
    def changed(self) -> bool:
        return bool(self.completed or self.failed or self.compose)


def _releases(state: BodhiState, names: Iterable[str] | None, states: tuple[str, ...]) -> set[str]:
    """``_filter_releases``: the chosen releases composed by Bodhi in ``states`` (all of them by default)."""
    allowed = {r["name"] for r in state.releases().values() if r["composed_by_bodhi"] and r["state"] in states}
    if names is None:
        return allowed
    chosen = set()
    for name in names:
        release = state.push_release(name)
        if release is None or release["name"] not in allowed:
            raise PushError(f"Unknown release, or release not allowed to be composed: {name}")
        chosen.add(release["name"])
    return chosen


def _signed(state: BodhiState, update: dict[str, Any]) -> bool:
    """``update_sig_status``: mark a build signed once it has left the pending-signing tag; all signed?"""
    release = state.releases()[update["release"]]
    builds, changed = [], False
    for build in update["builds"]:
        if not build["signed"] and release["pending_signing_tag"] not in state.koji.tags_of(build["nvr"]):
            build = {**build, "signed": True}
            changed = True
        builds.append(build)
    if changed:
        update["builds"] = builds
        state.save(("updates", update))
    return all(b["signed"] for b in builds)


def push(
    state: BodhiState,
    *,
    agent: str,
    releases: Iterable[str] | None = None,
    requests: Iterable[str] = PUSH_REQUESTS,
    builds: Iterable[str] | None = None,
    updates: Iterable[str] | None = None,
    bodhi2: bool = False,
) -> PushResult:
    """Request the composes of a push and start them (see the module docstring)."""
    wanted = list(dict.fromkeys(requests))
    bad = [r for r in wanted if r not in PUSH_REQUESTS]
    if bad or not wanted:
        raise PushError(f"requests must be testing and/or stable, not {', '.join(bad) or 'none'}")
    with state.lock:
        composes, resumed, unsigned = _resume(state, agent)
        if not resumed:
            composes, unsigned = _new_composes(state, agent, releases, wanted, builds, updates)
        composes.sort(key=lambda c: render.compose_order(c, state.compose_updates(c)))
        if composes:
            _start(state, composes, agent, resumed, bodhi2)
    return PushResult(composes, resumed, unsigned)


def _resume(state: BodhiState, agent: str) -> tuple[list[dict[str, Any]], bool, list[str]]:
    existing = state.composes()
    composes = []
    for compose in existing:
        if not state.compose_updates(compose):
            state.store.delete("composes", compose["key"])  # "has no updates. It is being removed."
            continue
        compose = {**compose, "state": "requested", "error_message": "", "state_date": render.now(), "agent": agent}
        state.save(("composes", compose))
        composes.append(compose)
    return composes, bool(existing), []


def _new_composes(
    state: BodhiState,
    agent: str,
    releases: Iterable[str] | None,
    requests: list[str],
    builds: Iterable[str] | None,
    aliases: Iterable[str] | None,
) -> tuple[list[dict[str, Any]], list[str]]:
    names = list(releases) if releases is not None else None
    testing_releases = _releases(state, names, ("current", "pending", "frozen"))
    stable_states = ("current", "pending", "frozen") if builds or aliases else ("current", "pending")
    stable_releases = _releases(state, names, stable_states)
    build_set = set(builds) if builds is not None else None
    alias_set = set(aliases) if aliases is not None else None
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    unsigned = []
    for update in sorted(state.updates(), key=lambda u: (u["date_submitted"], u["id"])):
        request = update["request"]
        if request not in requests or update["locked"] or not update["builds"]:
            continue
        if update["release"] not in (testing_releases if request == "testing" else stable_releases):
            continue
        if build_set is not None and not build_set & {b["nvr"] for b in update["builds"]}:
            continue
        if alias_set is not None and update["alias"] not in alias_set:
            continue
        update = dict(update)
        if not _signed(state, update):
            unsigned.append(render.title(update))
            continue
        groups.setdefault((update["release"], request), []).append(update)
    composes = []
    stamp = render.now()
    for (release, request), members in groups.items():
        compose = {
            "key": f"{release}/{request}",
            "release": release,
            "request": request,
            "state": "requested",
            "checkpoints": "{}",
            "error_message": None,
            "date_created": stamp,
            "state_date": stamp,
            "updates": [u["alias"] for u in members],
            "agent": agent,
        }
        locked = [("updates", {**u, "locked": True}) for u in members]
        state.save(("composes", compose), *locked)
        composes.append(compose)
    return composes, unsigned


def _start(state: BodhiState, composes: list[dict[str, Any]], agent: str, resumed: bool, bodhi2: bool) -> None:
    """The composer receives the push: compose.start (or masher.start), then compose.composing per compose."""
    if bodhi2:
        titles = [render.title(u) for c in composes for u in state.compose_updates(c)]
        state.publish("masher.start", {"updates": titles, "resume": resumed, "agent": agent})
    else:
        state.publish("compose.start", {"agent": agent})
    for compose in composes:
        release = state.releases()[compose["release"]]
        compose.update(state=COMPOSING_STATE, state_date=render.now())
        state.save(("composes", compose))
        if bodhi2:
            continue
        body = {
            "repo": release[f"{compose['request']}_tag"],
            "updates": [render.build_strings(u) for u in state.compose_updates(compose)],
            "agent": agent,
            "ctype": "rpm",
        }
        state.publish("compose.composing", body)


def finish_push(state: BodhiState, body: Any, msg_id: str | None = None) -> FinishResult:
    """End the compose ``body`` (a ``relengotron.push.complete`` body) reports on (see the module docstring).
    Raises :class:`relengotron_sandbox.bodhi.finish.ContractError` for a body not following the contract."""
    report = parse_push_complete(body)
    with state.lock:
        release_name, request = compose_of(report.repo, state.releases())
        if report.request is not None and report.request != request:
            raise ContractError(f"'request' {report.request!r} disagrees with 'repo' {report.repo!r} ({request})")
        result = FinishResult(report.repo, release_name, request)
        if msg_id and state.store.get("handled", msg_id) is not None:
            result.duplicate = True
            return result
        compose = state.store.get("composes", f"{release_name}/{request}")
        for outcome in report.updates:
            _finish_update(state, outcome, report, release_name, request, result)
        _end_compose(state, compose, report, result)
        if msg_id:
            state.save(("handled", {"msg_id": msg_id, "repo": report.repo, "at": render.now()}))
    log.info("push of %s finished: %s", report.repo, result)
    return result


def _finish_update(
    state: BodhiState, outcome: UpdateOutcome, report: PushComplete, release: str, request: str, result: FinishResult
) -> None:
    update = state.store.get("updates", outcome.alias)
    why = None
    if update is None:
        why = "no such update"
    elif update["release"] != release:
        why = f"an update of {update['release']}, not {release}"
    elif is_finished(update, request):
        why = f"already pushed to {request}"
    elif update["request"] != request:
        why = f"requested for {update['request']}, not {request}"
    if why is not None:
        result.skipped.append((outcome.alias, why))
        return
    assert update is not None
    if outcome.status == "failed":
        text = failed_comment(request, outcome, report)
        latest = [c for c in state.comments() if c["update"] == update["alias"]][-1:]
        if not latest or latest[0]["text"] != text:
            state.new_comment(update, text, render.SYSTEM_USER)
            result.failed.append(update["alias"])
        else:
            result.skipped.append((update["alias"], "its failure is already commented"))
        return
    update = {**update, "status": request, "pushed": True, f"date_{request}": render.now()}
    state.save(("updates", update))
    state.publish(f"update.complete.{request}", {"update": state.message_update(update), "agent": COMPOSER_AGENT})
    _modify_bugs(state, update)
    state.new_comment(update, pushed_comment(request, outcome), render.SYSTEM_USER)
    state.save(("updates", {**update, "request": None, "locked": False}))
    result.completed.append(update["alias"])


def _modify_bugs(state: BodhiState, update: Mapping[str, Any]) -> None:
    """``Update.modify_bugs``: testing → ON_QA; stable → CLOSED ERRATA (a comment only without close_bugs)."""
    release = state.releases()[update["release"]]
    url = f"{state.base_url}updates/{update['alias']}"
    message = bug_message(update, release, render.beautiful_title(update), url)
    versions = {b["nvr"].rsplit("-", 2)[0]: b["nvr"] for b in update["builds"]}
    for bug in update["bugs"]:
        if update["status"] == "testing":
            done = state.bugs.on_qa(bug["bug_id"], message)
        elif update["close_bugs"] and not (update["type"] == "security" and bug["parent"]):
            done = state.bugs.close(bug["bug_id"], versions, message)
        else:
            done = "kept open"
        log.info("bug %s of %s: %s", bug["bug_id"], update["alias"], done)


def _end_compose(state: BodhiState, compose: dict[str, Any] | None, report: PushComplete, result: FinishResult) -> None:
    """``ComposerThread.finish``: success removes the compose (its leftover updates unlocked, requests kept);
    failure marks it failed (its updates stay locked: the next push resumes it). compose.complete either way,
    unless nothing changed."""
    agent = (compose or {}).get("agent") or report.agent or render.SYSTEM_USER
    repo = report.repo
    if report.success:
        if compose is not None:
            leftovers = [u for u in state.compose_updates(compose) if u["locked"]]
            state.save(*[("updates", {**u, "locked": False}) for u in leftovers])
            state.store.delete("composes", compose["key"])
            result.compose = "removed"
        if compose is not None or result.completed or result.failed:
            state.publish("compose.complete", {"success": True, "repo": repo, "agent": agent, "ctype": "rpm"})
        return
    error = compose_error(report)
    if compose is not None and (compose["state"] != "failed" or compose["error_message"] != error):
        state.save(("composes", {**compose, "state": "failed", "error_message": error, "state_date": render.now()}))
        result.compose = "failed"
    if result.compose or result.completed or result.failed:
        state.publish("compose.complete", {"success": False, "repo": repo, "agent": agent, "ctype": "rpm"})
