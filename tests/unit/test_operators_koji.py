"""KojiTagOperator at the client seam: the real KojiClient over a fake Koji session whose tags are the state."""

from __future__ import annotations

import itertools
from typing import Any

import koji
import pytest
from airflow.sdk.exceptions import AirflowFailException
from operators.koji_tag import KojiTagOperator

from relengotron.airflow.hooks import KojiHook
from relengotron.kojiclient import KojiClient, KojiTransientError

PENDING, RAWHIDE, JAIL = "rawhide-pending", "rawhide", "rawhide-badnewsbears"
COREUTILS = "coreutils-8.25-15.fc26"
ETCD = "etcd-3.0.15-1.fc26"
REQUESTS = "python3-requests-2.12.1-1.fc26"


class FakeKoji:
    """Builds and their tags; ``tagBuild`` runs its task at once. ``offline`` NVRs make the hub answer offline."""

    def __init__(self, tags: dict[str, set[str]], known_tags: set[str]) -> None:
        self.tags = tags
        self.known_tags = known_tags
        self.offline: set[str] = set()
        self.locked: set[str] = set()
        self.sent: list[tuple[str, ...]] = []  # state-changing calls, for "nothing was sent"
        self.tasks: dict[int, tuple[str, str]] = {}
        self._ids = itertools.count(100)
        self.logged_in = True
        self.logged_out = False
        self.rsession = None

    def _build(self, nvr: str) -> None:
        if nvr in self.offline:
            raise koji.ServerOffline("hub offline for maintenance")
        if nvr not in self.tags:
            raise koji.GenericError(f"No such build: {nvr!r}")

    def getBuild(self, nvr: str, strict: bool = False) -> dict[str, Any]:
        self._build(nvr)
        return {"nvr": nvr}

    def listTags(self, build: str) -> list[dict[str, Any]]:
        self._build(build)
        return [{"name": t} for t in sorted(self.tags[build])]

    def getTag(self, tag: str) -> dict[str, Any] | None:
        return {"name": tag} if tag in self.known_tags else None

    def tagBuild(self, tag: str, nvr: str, fromtag: str | None = None) -> int:
        self._build(nvr)
        if tag not in self.known_tags:
            raise koji.GenericError(f"No such tagInfo: {tag!r}")
        self.sent.append(("tagBuild", tag, nvr, fromtag or ""))
        task = next(self._ids)
        if tag in self.locked:
            self.tasks[task] = ("FAILED", f"tag {tag} is locked")
            return task
        self.tags[nvr].add(tag)
        if fromtag:
            self.tags[nvr].discard(fromtag)
        self.tasks[task] = ("CLOSED", "")
        return task

    def untagBuild(self, tag: str, nvr: str) -> None:
        self._build(nvr)
        self.sent.append(("untagBuild", tag, nvr))
        self.tags[nvr].discard(tag)

    def getTaskInfo(self, task_id: int, strict: bool = False) -> dict[str, Any]:
        return {"id": task_id, "state": koji.TASK_STATES[self.tasks[task_id][0]]}

    def getTaskResult(self, task_id: int) -> Any:
        state, reason = self.tasks[task_id]
        if state == "FAILED":
            raise koji.GenericError(reason)
        return None

    def logout(self) -> None:
        self.logged_out = True
        self.logged_in = False


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> FakeKoji:
    fake = FakeKoji(
        {COREUTILS: {PENDING}, ETCD: {PENDING}, REQUESTS: {PENDING}},
        {PENDING, RAWHIDE, JAIL},
    )
    import relengotron.kojiclient as kojiclient

    monkeypatch.setattr(KojiHook, "fields", property(lambda self: {"hub": "http://127.0.0.1:9/kojihub", "topurl": "x"}))
    monkeypatch.setattr(kojiclient, "connect", lambda conn: KojiClient(fake, conn.topurl, poll_interval=0.01))
    return fake


def run(**kwargs: Any) -> Any:
    return KojiTagOperator(task_id="t", **kwargs).execute({})


def test_move_moves_each_build_and_a_rerun_changes_nothing(hub: FakeKoji) -> None:
    done = run(action="move", builds=[COREUTILS, ETCD], from_tag=PENDING, tag=RAWHIDE)
    assert done == [{"nvr": COREUTILS, "changed": True}, {"nvr": ETCD, "changed": True}]
    assert hub.tags[COREUTILS] == {RAWHIDE} and hub.tags[ETCD] == {RAWHIDE} and hub.tags[REQUESTS] == {PENDING}
    assert hub.logged_out  # the session is closed after the task
    sent = len(hub.sent)
    again = run(action="move", builds=[COREUTILS, ETCD], from_tag=PENDING, tag=RAWHIDE)
    assert again == [{"nvr": COREUTILS, "changed": False}, {"nvr": ETCD, "changed": False}]
    assert hub.tags[COREUTILS] == {RAWHIDE} and len(hub.sent) == sent  # nothing sent to Koji


def test_a_move_interrupted_half_way_is_finished(hub: FakeKoji) -> None:
    hub.tags[REQUESTS] = {PENDING, JAIL}  # tagged into quarantine, not yet untagged from pending
    assert run(action="move", builds=[REQUESTS], from_tag=PENDING, tag=JAIL) == [{"nvr": REQUESTS, "changed": True}]
    assert hub.tags[REQUESTS] == {JAIL}


def test_tag_and_untag_are_idempotent(hub: FakeKoji) -> None:
    assert run(action="tag", builds=[ETCD], tag=JAIL) == [{"nvr": ETCD, "changed": True}]
    assert run(action="tag", builds=[ETCD], tag=JAIL) == [{"nvr": ETCD, "changed": False}]
    assert hub.tags[ETCD] == {PENDING, JAIL}
    assert run(action="untag", builds=[ETCD], tag=JAIL) == [{"nvr": ETCD, "changed": True}]
    assert run(action="untag", builds=[ETCD], tag=JAIL) == [{"nvr": ETCD, "changed": False}]
    assert hub.tags[ETCD] == {PENDING}


def test_every_build_is_tried_and_permanent_failures_fail_at_once_naming_them(hub: FakeKoji) -> None:
    with pytest.raises(AirflowFailException) as failed:
        run(action="move", builds=["ghost-1.0-1.fc26", COREUTILS, ETCD], from_tag=PENDING, tag=RAWHIDE)
    assert "2 of 3" not in str(failed.value) and "1 of 3" in str(failed.value)
    assert "ghost-1.0-1.fc26" in str(failed.value) and "No such build" in str(failed.value)
    assert hub.tags[COREUTILS] == {RAWHIDE} and hub.tags[ETCD] == {RAWHIDE}  # the others were done


def test_a_failed_koji_task_is_permanent_and_names_the_build(hub: FakeKoji) -> None:
    hub.locked.add(RAWHIDE)
    with pytest.raises(AirflowFailException, match=f"move {COREUTILS} from {PENDING} to {RAWHIDE}.*locked"):
        run(action="move", builds=[COREUTILS], from_tag=PENDING, tag=RAWHIDE)
    assert hub.tags[COREUTILS] == {PENDING}


def test_only_transient_failures_are_raised_for_a_retry_which_finishes_the_work(hub: FakeKoji) -> None:
    hub.offline.add(ETCD)
    with pytest.raises(KojiTransientError, match=ETCD):
        run(action="move", builds=[COREUTILS, ETCD], from_tag=PENDING, tag=RAWHIDE)
    assert hub.tags[COREUTILS] == {RAWHIDE} and hub.tags[ETCD] == {PENDING}
    hub.offline.clear()
    retry = run(action="move", builds=[COREUTILS, ETCD], from_tag=PENDING, tag=RAWHIDE)
    assert retry == [{"nvr": COREUTILS, "changed": False}, {"nvr": ETCD, "changed": True}]
    assert hub.tags[ETCD] == {RAWHIDE}


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"action": "promote", "builds": [ETCD], "tag": RAWHIDE}, "action"),
        ({"action": "move", "builds": [ETCD], "tag": RAWHIDE}, "from_tag"),
        ({"action": "move", "builds": [ETCD], "tag": RAWHIDE, "from_tag": RAWHIDE}, "to itself"),
        ({"action": "tag", "builds": [ETCD], "tag": RAWHIDE, "from_tag": PENDING}, "only a move"),
        ({"action": "tag", "builds": [ETCD], "tag": ""}, "tag"),
        ({"action": "tag", "builds": f"['{ETCD}']", "tag": RAWHIDE}, "list of NVRs"),
        ({"action": "tag", "builds": ["etcd"], "tag": RAWHIDE}, "'etcd' is not a build"),
    ],
)
def test_bad_input_fails_at_once_naming_the_field(hub: FakeKoji, kwargs: dict[str, Any], error: str) -> None:
    with pytest.raises(AirflowFailException, match=error):
        run(**kwargs)
    assert hub.sent == []


def test_no_builds_is_nothing_to_do_and_connects_to_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    import relengotron.kojiclient as kojiclient

    def refuse(conn: Any) -> Any:
        raise AssertionError("no client may be built")

    monkeypatch.setattr(kojiclient, "connect", refuse)
    assert run(action="move", builds=[], from_tag=PENDING, tag=RAWHIDE) == []


def test_the_constructor_only_stores_its_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(KojiHook, "__init__", lambda self, *a, **k: (_ for _ in ()).throw(AssertionError("hook")))
    op = KojiTagOperator(task_id="t", action="move", builds=[ETCD], from_tag=PENDING, tag=RAWHIDE)
    assert set(op.template_fields) == {"action", "builds", "tag", "from_tag"}


def test_a_missing_connection_fails_at_once_naming_it() -> None:
    with pytest.raises(AirflowFailException, match="no_such_koji"):
        run(action="tag", builds=[ETCD], tag=RAWHIDE, koji_conn_id="no_such_koji")
