"""How the sandbox Bodhi reads ``relengotron.push.complete`` and what it writes back (docs/bodhi-handshake.md
§4 and §5): the body's shape, which compose it ends, whether an update is already finished, and the comments.

The body is the contract: ``repo`` names the compose (a release's testing or stable tag), ``status`` the push's
outcome (complete, held-back or failed), ``updates`` each update's (pushed, held-back or failed, with the
artifacts it was released in, those held back and why, and the reason of a failure). A body that does not
have this shape is a :class:`ContractError` (the consumer logs it; nothing changes). Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

PUSH_STATUSES = ("complete", "held-back", "failed")
UPDATE_STATUSES = ("pushed", "held-back", "failed")
REQUESTS = ("testing", "stable")


class ContractError(ValueError):
    """A ``relengotron.push.complete`` body that does not follow docs/bodhi-handshake.md §4."""


@dataclass(frozen=True)
class UpdateOutcome:
    alias: str
    status: str  # pushed | held-back | failed
    builds: tuple[str, ...]
    artifacts: tuple[str, ...]
    held_back: tuple[tuple[str, str], ...]  # (artifact label, why)
    reason: str | None


@dataclass(frozen=True)
class PushComplete:
    repo: str
    release: str | None
    request: str | None
    status: str  # complete | held-back | failed
    agent: str | None
    synced: bool | None
    updates: tuple[UpdateOutcome, ...]
    failures: tuple[tuple[str, str], ...]  # artifacts.failed: (label, why)

    @property
    def success(self) -> bool:
        """What ``bodhi.compose.complete`` says: the updates repositories reached the mirror."""
        return self.status != "failed"


def _text(body: Mapping[str, Any], key: str, *, optional: bool = False) -> str | None:
    value = body.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise ContractError(f"{key!r} must be a non-empty string, not {value!r}")
    return value


def _labels(items: Any, where: str) -> tuple[tuple[str, str], ...]:
    """A list of ``{"label", "reason"}`` as (label, reason) pairs."""
    if items is None:
        return ()
    if not isinstance(items, list):
        raise ContractError(f"{where} must be a list")
    out = []
    for item in items:
        if not isinstance(item, Mapping) or not isinstance(item.get("label"), str):
            raise ContractError(f"each of {where} must be an object with a 'label'")
        out.append((item["label"], str(item.get("reason") or "no reason given")))
    return tuple(out)


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ContractError(f"{where} must be a list of strings")
    return tuple(value)


def parse_push_complete(body: Any) -> PushComplete:
    """The body of a ``relengotron.push.complete`` message, checked against the contract."""
    if not isinstance(body, Mapping):
        raise ContractError("the body must be an object")
    status = _text(body, "status")
    if status not in PUSH_STATUSES:
        raise ContractError(f"'status' must be one of {', '.join(PUSH_STATUSES)}, not {status!r}")
    request = _text(body, "request", optional=True)
    if request is not None and request not in REQUESTS:
        raise ContractError(f"'request' must be testing or stable, not {request!r}")
    if not isinstance(body.get("updates"), list):
        raise ContractError("'updates' must be a list")
    updates = []
    for index, item in enumerate(body["updates"]):
        where = f"updates[{index}]"
        if not isinstance(item, Mapping):
            raise ContractError(f"{where} must be an object")
        alias = _text(item, "alias")
        outcome = _text(item, "status")
        if outcome not in UPDATE_STATUSES:
            raise ContractError(f"{where}.status must be one of {', '.join(UPDATE_STATUSES)}, not {outcome!r}")
        reason = item.get("reason")
        updates.append(
            UpdateOutcome(
                alias=str(alias),
                status=str(outcome),
                builds=_strings(item.get("builds"), f"{where}.builds"),
                artifacts=_strings(item.get("artifacts"), f"{where}.artifacts"),
                held_back=_labels(item.get("held_back"), f"{where}.held_back"),
                reason=str(reason) if reason else None,
            )
        )
    artifacts = body.get("artifacts") or {}
    if not isinstance(artifacts, Mapping):
        raise ContractError("'artifacts' must be an object")
    synced = body.get("synced")
    return PushComplete(
        repo=str(_text(body, "repo")),
        release=_text(body, "release", optional=True),
        request=request,
        status=str(status),
        agent=_text(body, "agent", optional=True),
        synced=synced if isinstance(synced, bool) else None,
        updates=tuple(updates),
        failures=_labels(artifacts.get("failed"), "artifacts.failed"),
    )


def compose_of(repo: str, releases: Mapping[str, Mapping[str, Any]]) -> tuple[str, str]:
    """(release name, request) of the compose whose Koji tag is ``repo`` (``ComposerThread.id``)."""
    for release in releases.values():
        if release["stable_tag"] == repo:
            return release["name"], "stable"
        if release["testing_tag"] == repo:
            return release["name"], "testing"
    raise ContractError(f"'repo' {repo!r} is no release's testing or stable tag")


def is_finished(update: Mapping[str, Any], request: str) -> bool:
    """Whether ``update`` was already pushed to ``request`` and has no request left (finishing it is done)."""
    return bool(update["pushed"]) and update["status"] == request and update["request"] is None


def pushed_comment(request: str, outcome: UpdateOutcome) -> str:
    """Bodhi's ``status_comment`` ("This update has been pushed to stable."), then what releng-o-tron
    released the update's builds in and what it held back, and why."""
    lines = [f"This update has been pushed to {request}."]
    if outcome.artifacts:
        lines.append(f"Released in: {', '.join(outcome.artifacts)}.")
    if outcome.held_back:
        held = "; ".join(f"{label} ({why})" for label, why in outcome.held_back)
        lines.append(f"Held back (not released with this push): {held}.")
    return "\n\n".join(lines)


def failed_comment(request: str, outcome: UpdateOutcome, push: PushComplete) -> str:
    """The comment on an update whose push failed: why, and that the next push takes it again."""
    why = outcome.reason or compose_error(push)
    return f"This update could not be pushed to {request}: {why}. Its request is kept: the next push takes it again."


def compose_error(push: PushComplete) -> str:
    """``Compose.error_message`` of a failed push."""
    reasons = [u.reason for u in push.updates if u.status == "failed" and u.reason]
    if reasons:
        return reasons[0]
    if push.failures:
        label, why = push.failures[0]
        return f"{label}: {why}"
    if push.synced is False:
        return "the updates repositories did not reach the master mirror"
    return "the push failed"
