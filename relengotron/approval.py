"""A release engineer's approval where release engineering wants one: what they are asked, how long the question
waits, and what their answer means. Pure, no I/O.

The question is asked with Airflow's human-in-the-loop ``ApprovalOperator`` (the standard provider's
``airflow.providers.standard.operators.hitl``): its two options are ``Approve`` and ``Reject``, the body is
Markdown shown on the task's *Required actions* page, and an unanswered question is resolved, once its
``response_timeout`` has passed, with the operator's ``defaults`` — here always ``Reject``, so that nobody
answering never changes anything. The answer comes back as the provider's ``HITLTriggerEventSuccessPayload``
(``chosen_options``, ``params_input``, ``responded_at``, ``responded_by_user`` — ``None`` when the timeout's
default answered): :func:`decision_of` reads it.

Where approval is asked (this project's proposal; Fedora's tools have no such switch):

- the ``eol`` DAG, always before a real run changes anything (a dry run asks nothing);
- the ``updates_push`` DAG, before the sync to the master mirror, for a *stable* push of a release whose
  ``state`` is ``frozen`` when the release configuration's ``approvals.frozen_stable_pushes`` is true
  (:func:`push_approval_reason`). Only stable pushes: in a freeze Fedora keeps pushing updates-testing, and
  holds back stable updates for release engineering's go (Bodhi's ``frozen`` release state and update status:
  "the package is held back in the testing repository for additional checks", bodhi docs
  ``user/update_states.rst``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from relengotron.config import ReleaseConfig
from relengotron.push import Push

# ApprovalOperator.APPROVE / REJECT: the options the UI and the REST API answer with.
APPROVE = "Approve"
REJECT = "Reject"
# How long a question waits before its default (Reject) answers it. An EOL run holds the eol DAG's only active
# run meanwhile, a push its release's and request's turn (and Bodhi waits for the push): a day leaves time to
# answer from another time zone without blocking the next run for longer.
EOL_TIMEOUT = timedelta(hours=24)
PUSH_TIMEOUT = timedelta(hours=24)


@dataclass(frozen=True)
class Decision:
    """A release engineer's answer: approved or not, by whom (None: nobody answered, the default rejected) and
    when (ISO 8601, UTC)."""

    approved: bool
    by: str | None
    at: str | None

    def describe(self) -> str:
        """``approved by NAME at T``, ``rejected by NAME at T`` or ``rejected by default: nobody answered …``."""
        if self.by is None:
            return f"rejected by default: nobody answered before the timeout ({self.at})"
        return f"{'approved' if self.approved else 'rejected'} by {self.by} at {self.at}"

    def as_dict(self) -> dict[str, Any]:
        """What the approval task records (XCom ``decision``): approved, by, at and the sentence."""
        return {"approved": self.approved, "by": self.by, "at": self.at, "text": self.describe()}


def decision_of(answer: Mapping[str, Any]) -> Decision:
    """The decision an ``ApprovalOperator``'s answer holds (the event it resumes with, or its return value:
    the provider's ``HITLTriggerEventSuccessPayload``); a ValueError names what is missing or wrong."""
    chosen = answer.get("chosen_options")
    if not isinstance(chosen, list | tuple) or len(chosen) != 1 or chosen[0] not in (APPROVE, REJECT):
        raise ValueError(f"chosen_options: one of {APPROVE!r} or {REJECT!r} expected, not {chosen!r}")
    user = answer.get("responded_by_user")
    by = None
    if isinstance(user, Mapping):
        by = str(user.get("name") or user.get("id") or "") or None
    at = answer.get("responded_at")
    if isinstance(at, datetime):
        at = at.isoformat()
    return Decision(approved=chosen[0] == APPROVE, by=by, at=str(at) if at is not None else None)


def timeout_text(timeout: timedelta) -> str:
    """``24 hours``, ``90 minutes``: how long a question waits, for people."""
    minutes = int(timeout.total_seconds() // 60)
    if minutes % 60 == 0:
        hours = minutes // 60
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def question(plan: str, *, approve: str, reject: str, timeout: timedelta) -> str:
    """The Markdown body of an approval: the plan as it was logged (verbatim, in a code block), what each
    answer does, and what happens when nobody answers."""
    fence = "````" if "```" in plan else "```"
    return "\n".join(
        [
            "The plan, as made from what the services hold now:",
            "",
            f"{fence}text",
            plan.rstrip("\n"),
            fence,
            "",
            f"- **{APPROVE}**: {approve}",
            f"- **{REJECT}**: {reject}",
            "",
            f"Nobody answering within {timeout_text(timeout)} is the same as {REJECT}.",
        ]
    )


def push_approval_reason(config: ReleaseConfig, release_id: str, request: str) -> str | None:
    """Why a push of ``release_id``'s ``request`` waits for approval before its sync, or None when it does not:
    only a stable push of a ``frozen`` release, and only with ``approvals.frozen_stable_pushes`` on."""
    release = config.release(release_id)
    if not config.approvals.frozen_stable_pushes or release.state != "frozen" or request != "stable":
        return None
    return (
        f"{release.name} ({release.id}) is frozen and approvals.frozen_stable_pushes is on: its stable pushes "
        "reach the master mirror only with a release engineer's approval"
    )


def push_summary(push: Push, items: list[Mapping[str, Any]]) -> str:
    """What a push's sync would publish, for its approval: the push, each update's builds, and each artifact
    target's plan decision (recomposed or not, and why)."""
    lines = [f"Push {push.push_id} of {push.release.name} ({push.release.id}), {push.request} request"]
    if push.agent:
        lines[0] += f", started by {push.agent}"
    lines += [f"{len(push.entries)} update(s):", *(f"  - {' '.join(entry)}" for entry in push.entries)]
    if items:
        lines.append("Artifacts:")
        lines += [f"  - {i.get('label')}: {i.get('decision')} ({i.get('reason')})" for i in items]
    return "\n".join(lines)


def refusal(decision: Any) -> str | None:
    """Why a push did not reach the mirror when its approval was refused — ``decision``: the approval task's
    XCom ``decision`` (:meth:`Decision.as_dict`) — or None when it was approved or never asked (no XCom)."""
    if not isinstance(decision, Mapping) or decision.get("approved", True):
        return None
    return f"the push waited for a release engineer's approval before its sync and was {decision.get('text')}"
