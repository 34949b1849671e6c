"""The autosign decisions, pure: the chain steps of a release, which builds a run takes, what happens to each build
(done, sign, or one of the refusals), the messages and the summary."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from relengotron.autosign import (
    AutosignError,
    BuildState,
    Item,
    Outcome,
    RpmSigs,
    Step,
    messages,
    plan_build,
    release_steps,
    select,
    summary,
)
from relengotron.config import ReleaseConfig
from relengotron.messaging import schema_message
from relengotron_sandbox.releng import render_release_config
from relengotron_sandbox.world import World

KEY, OTHER = "0123abcd", "deadbeef"
PENDING, NEXT = "f24-signing-pending", "f24-updates-testing-pending"
BASH = "bash-4.3.42-6.fc24"
ITEM = Item(BASH, "f24", PENDING, NEXT)


@pytest.fixture
def config(world: World, tmp_path: Path) -> ReleaseConfig:
    return render_release_config(world, KEY, tmp_path)


def state(tags: set[str], *sigs: set[str]) -> BuildState:
    """bash with one RPM per entry of ``sigs`` (src first, then noarch, ...), each with those keys."""
    arches = ("src", "noarch", "x86_64", "aarch64")
    rpms = tuple(RpmSigs(i + 1, f"{BASH}.{arches[i]}.rpm", frozenset(keys)) for i, keys in enumerate(sigs))
    return BuildState(BASH, frozenset(tags), rpms)


# --- the chain and the selection -------------------------------------------------------------------------


def test_a_release_signs_along_its_chain(config: ReleaseConfig) -> None:
    assert release_steps(config.release("f24")) == (Step(PENDING, NEXT),)


def test_a_release_without_a_chain_still_lists_its_signing_pending_tag_going_nowhere(config: ReleaseConfig) -> None:
    f24 = dataclasses.replace(config.release("f24"), signing_key=None, signing_chain=())
    assert release_steps(f24) == (Step(PENDING, None),)
    with pytest.raises(AutosignError, match=r"^release rawhide: has neither a signing chain nor a signing_pending"):
        release_steps(config.release("rawhide"))


def test_a_sweep_takes_every_waiting_build_by_nvr_up_to_the_limit() -> None:
    steps = (Step(PENDING, NEXT),)
    waiting = {PENDING: ["openssh-7.2p2-10.fc24", BASH, "zsh-5.2-1.fc24"]}
    chosen = select("f24", steps, waiting)
    assert [i.nvr for i in chosen.items] == [BASH, "openssh-7.2p2-10.fc24", "zsh-5.2-1.fc24"]
    assert chosen.items[0] == ITEM and chosen.not_waiting == () and chosen.left_over == ()
    limited = select("f24", steps, waiting, limit=2)
    assert [i.nvr for i in limited.items] == [BASH, "openssh-7.2p2-10.fc24"]
    assert limited.left_over == ("zsh-5.2-1.fc24",)


def test_named_builds_are_taken_as_named_and_those_not_waiting_are_pointed_out() -> None:
    steps = (Step(PENDING, NEXT), Step("f24-other-pending", "f24-other"))
    waiting = {PENDING: [BASH], "f24-other-pending": ["zsh-5.2-1.fc24"]}
    chosen = select("f24", steps, waiting, ["zsh-5.2-1.fc24", "gone-1-1.fc24", BASH, "zsh-5.2-1.fc24"])
    assert chosen.items == (
        Item("zsh-5.2-1.fc24", "f24", "f24-other-pending", "f24-other"),
        Item("gone-1-1.fc24", "f24", PENDING, NEXT),  # its plan says whether it is done or refused
        ITEM,
    )
    assert chosen.not_waiting == ("gone-1-1.fc24",)
    with pytest.raises(AutosignError, match=r"^builds: 3 builds named; at most 2 per run"):
        select("f24", steps, waiting, ["a-1-1", "b-1-1", "c-1-1"], limit=2)


def test_items_round_trip_and_a_bad_one_names_what_is_missing() -> None:
    assert Item.from_dict(ITEM.as_dict()) == ITEM
    assert Item.from_dict({**ITEM.as_dict(), "to_tag": None}).to_tag is None
    with pytest.raises(ValueError, match="missing 'from_tag'"):
        Item.from_dict({"nvr": BASH, "release": "f24"})


# --- one build ---------------------------------------------------------------------------------------------


def test_unsigned_rpms_are_signed_then_the_build_moves() -> None:
    plan = plan_build(state({PENDING}, set(), set()), ITEM, KEY)
    assert (plan.action, plan.to_sign) == ("sign", (1, 2))
    assert plan.reason == f"sign 2 of 2 RPM(s) with {KEY}; move {PENDING} → {NEXT}"


def test_only_the_rpms_without_the_key_are_signed() -> None:
    assert plan_build(state({PENDING}, {KEY}, set()), ITEM, KEY).to_sign == (2,)
    assert plan_build(state({PENDING}, {KEY, OTHER}, set()), ITEM, KEY).to_sign == (2,)  # ours is there too


def test_a_build_signed_but_not_moved_only_moves() -> None:
    plan = plan_build(state({PENDING}, {KEY}, {KEY}), ITEM, KEY)
    assert (plan.action, plan.to_sign) == ("sign", ())
    assert plan.reason == f"every RPM carries {KEY}; move {PENDING} → {NEXT}"
    half_moved = plan_build(state({PENDING, NEXT}, {KEY}, {KEY}), ITEM, KEY)  # tagged, not yet untagged
    assert (half_moved.action, half_moved.to_sign) == ("sign", ())


def test_a_build_in_the_next_tag_or_signed_and_gone_is_done() -> None:
    assert plan_build(state({NEXT}, {KEY}, {KEY}), ITEM, KEY).action == "done"
    assert plan_build(state({NEXT}, set()), ITEM, KEY).reason == f"already in {NEXT}"
    gone = plan_build(state({"f24-updates"}, {KEY}, {KEY}), ITEM, KEY)  # Bodhi pushed it on since
    assert (gone.action, gone.reason) == ("done", f"every RPM already carries key {KEY} and it left {PENDING} "
                                                  "(tags: f24-updates)")  # fmt: skip


def test_refused_a_tag_without_a_key_configured() -> None:
    plan = plan_build(state({PENDING}, set()), Item(BASH, "f24", PENDING, None), None)
    assert (plan.action, plan.reason) == ("refuse", f"tag {PENDING} has no signing key configured (release f24)")


def test_refused_an_rpm_signed_with_a_different_key() -> None:
    plan = plan_build(state({PENDING}, set(), {OTHER}), ITEM, KEY)
    assert plan.action == "refuse"
    assert plan.reason == (
        f"1 RPM(s) signed with a different key than the release key {KEY}: {BASH}.noarch.rpm (signed with {OTHER})"
    )
    many = plan_build(state({PENDING}, *([{OTHER}] * 4)), ITEM, KEY)
    assert many.reason.startswith(f"4 RPM(s) signed with a different key than the release key {KEY}: {BASH}.src.rpm")


def test_refused_a_key_the_signer_does_not_have() -> None:
    plan = plan_build(state({PENDING}, set()), ITEM, KEY, signer_problem="gpg:/srv/gnupg: no secret key '0123abcd'")
    assert plan.action == "refuse"
    assert plan.reason == f"the release key {KEY} is not available to the signer: gpg:/srv/gnupg: no secret key '{KEY}'"
    # a foreign signature is the first thing said: it is what the packager must fix
    both = plan_build(state({PENDING}, {OTHER}), ITEM, KEY, signer_problem="no key")
    assert "different key" in both.reason


def test_refused_a_build_not_waiting_a_build_without_rpms_and_a_tag_leading_nowhere() -> None:
    away = plan_build(state({"f24-updates-candidate"}, set()), ITEM, KEY)
    assert (away.action, away.reason) == (
        "refuse",
        f"not waiting for signing: not in {PENDING} (tags: f24-updates-candidate) and not signed with key {KEY}",
    )
    assert plan_build(state({PENDING}), ITEM, KEY).reason == "the build has no RPMs to sign"
    nowhere = plan_build(state({PENDING}, set()), Item(BASH, "f24", PENDING, None), KEY)
    assert nowhere.reason == f"no signing chain step of release f24 leads out of {PENDING}"


# --- messages and the summary --------------------------------------------------------------------------------


def outcome(nvr: str, kind: str) -> dict:
    return Outcome(nvr, "f24", KEY, PENDING, NEXT, kind, 2 if kind == "signed" else 0, kind == "signed", "r",
                   nvr.rsplit("-", 2)[0], "kdudka").as_dict()  # fmt: skip


def test_one_message_per_build_signed_and_none_for_builds_done_or_failed() -> None:
    found = messages([outcome("zsh-5.2-1.fc24", "signed"), None, outcome(BASH, "signed"), outcome("a-1-1", "done")],
                     run_id="run-1")  # fmt: skip
    assert [m["body"]["nvr"] for m in found] == [BASH, "zsh-5.2-1.fc24"]
    assert found[0] == {
        "modname": "relengotron",
        "topic": "f24.autosign.signed",
        "body": {
            "release": "f24",
            "nvr": BASH,
            "key": KEY,
            "from_tag": PENDING,
            "to_tag": NEXT,
            "rpms_signed": 2,
            "packages": ["bash"],
            "usernames": ["kdudka"],
            "run_id": "run-1",
        },
    }
    assert messages([outcome(BASH, "done")]) == []
    # what the bus carries: each body follows its relengotron-messages schema
    sent = schema_message(found[0]["modname"], found[0]["topic"], found[0]["body"])
    assert type(sent).__name__ == "AutosignSignedV1" and sent.packages == ["bash"] and sent.usernames == ["kdudka"]
    assert str(sent) == f"releng-o-tron signed {BASH} with key {KEY} and moved it from {PENDING} to {NEXT}"


def test_the_summary_counts_what_happened_to_each_listed_build() -> None:
    items = [{"nvr": n} for n in (BASH, "zsh-5.2-1.fc24", "curl-7.47.1-6.fc24")]
    found = summary(items, [outcome(BASH, "signed"), outcome("zsh-5.2-1.fc24", "done"), None], ["x-1-1"])
    assert found == {
        "listed": 3,
        "signed": 1,
        "already_done": 1,
        "not_done": 1,
        "left_for_next_run": 1,
        "builds": {"signed": [BASH], "already_done": ["zsh-5.2-1.fc24"], "not_done": ["curl-7.47.1-6.fc24"]},
    }
