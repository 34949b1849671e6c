"""Approval decisions (relengotron.approval): which pushes wait for a release engineer (only stable pushes of a
frozen release, only with the switch on; a misspelt or mistyped switch is named), what the question shows, and
how an answer (the HITL provider's payload) reads — by whom, or nobody before the timeout."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from test_config import GOOD, write

from relengotron.approval import (
    APPROVE,
    EOL_TIMEOUT,
    REJECT,
    Decision,
    decision_of,
    push_approval_reason,
    question,
    refusal,
    timeout_text,
)
from relengotron.artifacts import load_release_config
from relengotron.yamlfile import FileError

FROZEN = GOOD.replace("    state: active\n    dist: fc24", "    state: frozen\n    dist: fc24", 1)


@pytest.mark.parametrize(
    ("text", "switch", "release", "push_request", "waits"),
    [
        (FROZEN, "approvals: {frozen_stable_pushes: true}\n", "f24", "stable", True),
        (FROZEN, "approvals: {frozen_stable_pushes: true}\n", "f24", "testing", False),  # testing goes on in a freeze
        (FROZEN, "approvals: {frozen_stable_pushes: true}\n", "f25", "stable", False),  # f25 is not frozen
        (FROZEN, "approvals: {frozen_stable_pushes: false}\n", "f24", "stable", False),
        (FROZEN, "", "f24", "stable", False),  # off by default
        (GOOD, "approvals: {frozen_stable_pushes: true}\n", "f24", "stable", False),  # f24 active
    ],
)
def test_only_stable_pushes_of_a_frozen_release_wait_and_only_with_the_switch(
    tmp_path: Path, text: str, switch: str, release: str, push_request: str, waits: bool
) -> None:
    config = load_release_config(write(tmp_path, text + switch))
    reason = push_approval_reason(config, release, push_request)
    assert (reason is not None) == waits
    if waits:
        assert reason is not None and "Fedora 24 (f24) is frozen" in reason


@pytest.mark.parametrize(
    ("switch", "key", "words"),
    [
        ("approvals: {frozen_pushes: true}\n", "approvals.frozen_pushes", "unknown key"),
        ("approvals: {frozen_stable_pushes: 'yes'}\n", "approvals.frozen_stable_pushes", "must be"),
        ("approvals: [frozen_stable_pushes]\n", "approvals", "must be"),
    ],
)
def test_a_bad_switch_is_named(tmp_path: Path, switch: str, key: str, words: str) -> None:
    with pytest.raises(FileError) as caught:
        load_release_config(write(tmp_path, FROZEN + switch))
    assert caught.value.key == key and words in str(caught.value)


def test_an_unknown_release_is_named(tmp_path: Path) -> None:
    config = load_release_config(write(tmp_path, FROZEN))
    with pytest.raises(KeyError, match="f99"):
        push_approval_reason(config, "f99", "stable")


def test_the_question_shows_the_plan_verbatim_and_what_each_answer_does() -> None:
    plan = "EOL plan for Fedora 23 (f23): 2 steps\n   1. [pdc] set PDC release fedora-23 inactive\n   2. [koji] x"
    body = question(plan, approve="go on", reject="stop", timeout=EOL_TIMEOUT)
    assert f"```text\n{plan}\n```" in body
    assert f"- **{APPROVE}**: go on" in body and f"- **{REJECT}**: stop" in body
    assert "within 24 hours is the same as Reject" in body
    fenced = question("a\n```\nb", approve="a", reject="r", timeout=timedelta(minutes=90))
    assert "````text\na\n```\nb\n````" in fenced and "within 90 minutes" in fenced


def test_timeouts_read_as_people_say_them() -> None:
    assert [timeout_text(timedelta(hours=h)) for h in (1, 24)] == ["1 hour", "24 hours"]
    assert timeout_text(timedelta(minutes=1)) == "1 minute"


def test_an_answer_says_who_decided_or_that_nobody_did() -> None:
    at = datetime(2016, 12, 20, 9, 30, tzinfo=UTC)
    user = {"id": "admin", "name": "Admin"}
    approved = decision_of({"chosen_options": [APPROVE], "responded_by_user": user, "responded_at": at})
    assert approved == Decision(True, "Admin", "2016-12-20T09:30:00+00:00")
    assert approved.describe() == "approved by Admin at 2016-12-20T09:30:00+00:00"
    rejected = decision_of({"chosen_options": [REJECT], "responded_by_user": user, "responded_at": at})
    assert rejected.describe() == "rejected by Admin at 2016-12-20T09:30:00+00:00"
    timed_out = decision_of({"chosen_options": [REJECT], "responded_by_user": None, "responded_at": at})
    assert not timed_out.approved and timed_out.describe().startswith("rejected by default: nobody answered")
    assert refusal(approved.as_dict()) is None and refusal(None) is None
    assert refusal(rejected.as_dict()) == (
        "the push waited for a release engineer's approval before its sync and was rejected by Admin at "
        "2016-12-20T09:30:00+00:00"
    )


@pytest.mark.parametrize("chosen", [[], ["Maybe"], [APPROVE, REJECT], None])
def test_an_answer_that_is_not_one_option_is_refused(chosen: object) -> None:
    with pytest.raises(ValueError, match="chosen_options"):
        decision_of({"chosen_options": chosen, "responded_by_user": None, "responded_at": None})
