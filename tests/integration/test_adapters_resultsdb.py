"""The ResultsDB adapter over resultsdb_api against the sandbox ResultsDB: the latest results of a whole batch
of builds in one request, fed to the gating decision (a missing result is waiting, never failed)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from test_adapters_support import resultsdb_of

from relengotron.adapters.errors import AdapterError, NotFoundError, TransientError
from relengotron.adapters.resultsdb import ResultsDB, ResultsDBConnection
from relengotron.gating import RAWHIDE_GATING, Failed, Passed, Subject, Verdict, Waiting, decide, load_policies
from relengotron_sandbox.resultsdb import ResultsDBService
from relengotron_sandbox.service import SandboxContext
from relengotron_sandbox.world import DEFAULT_WORLD

pytestmark = pytest.mark.integration

POLICIES = DEFAULT_WORLD.parent / "policies.yaml"
DEPCHECK = "dist.depcheck"


@pytest.fixture
def rdb(recording_ctx: SandboxContext) -> Iterator[ResultsDB]:
    service = ResultsDBService(recording_ctx)
    recording_ctx.endpoints["resultsdb"] = service.start()
    adapter = resultsdb_of(recording_ctx.endpoints)
    yield adapter
    adapter.close()
    service.stop()


def _build(n: int) -> str:
    return f"pkg{n}-1.0-{n}.fc26"


def test_latest_of_a_batch_in_one_request_decides_passed_failed_waiting(rdb: ResultsDB) -> None:
    nvrs = [_build(n) for n in range(30)]
    for n, nvr in enumerate(nvrs[:-3]):
        # an old failure, then the newest result: passed for all but one
        rdb.post_result(DEPCHECK, "FAILED", data={"item": nvr, "type": "koji_build"})
        rdb.post_result(DEPCHECK, "FAILED" if n == 5 else "PASSED", data={"item": nvr, "type": "koji_build"})
    rdb.post_result(DEPCHECK, "PASSED", data={"item": nvrs[-3], "type": "bodhi_update"})  # another type
    rdb.post_result("dist.rpmlint", "FAILED", data={"item": nvrs[-2], "type": "koji_build"})  # not required
    # nvrs[-1] has no result at all

    subjects = [Subject.koji_build(nvr) for nvr in nvrs]
    before = rdb.requests
    results = rdb.latest_for(subjects, [DEPCHECK])
    assert rdb.requests - before == 1  # thirty builds, one request
    assert len(results) == 27 and all(r["testcase"]["name"] == DEPCHECK for r in results)
    assert {r["data"]["type"][0] for r in results} == {"koji_build"}

    batch = decide(
        load_policies(POLICIES), subjects, results, decision_context=RAWHIDE_GATING, product_version="fedora-rawhide"
    )
    assert batch.verdict is Verdict.FAILED
    assert [a.subject.item for a in batch.failing] == [nvrs[5]]
    assert isinstance(batch.answer(nvrs[5]), Failed) and batch.answer(nvrs[5]).failures[0].test_case == DEPCHECK
    waiting = {a.subject.item: a for a in batch.waiting}
    assert set(waiting) == {nvrs[-3], nvrs[-2], nvrs[-1]}  # another type's result, a non-required one, none
    assert all(isinstance(w, Waiting) and w.missing[0].outcome is None for w in waiting.values())
    assert all(isinstance(batch.answer(n), Passed) for n in nvrs[:5] + nvrs[6:-3])


def test_items_go_in_batches(recording_ctx: SandboxContext, rdb: ResultsDB) -> None:
    nvrs = [_build(n) for n in range(7)]
    for nvr in nvrs:
        rdb.post_result(DEPCHECK, "PASSED", data={"item": nvr, "type": "koji_build"})
    small = resultsdb_of(recording_ctx.endpoints, batch=3)
    try:
        found = small.latest(nvrs, type="koji_build")
        assert small.requests == 3  # ceil(7 / 3)
        assert sorted(r["data"]["item"][0] for r in found) == nvrs
    finally:
        small.close()


def test_posting_needs_item_and_type_and_ensure_is_idempotent(rdb: ResultsDB) -> None:
    before = rdb.requests
    with pytest.raises(ValueError, match="'type'"):
        rdb.post_result(DEPCHECK, "PASSED", data={"item": _build(1)})
    with pytest.raises(ValueError, match="'item'"):
        rdb.post_result(DEPCHECK, "PASSED", data={"type": "koji_build"})
    assert rdb.requests == before  # refused before anything was sent

    data = {"item": "atomic-host-24-x86_64", "type": "compose-artifact", "arch": "x86_64"}
    created = rdb.ensure_result("compose.ostree.fsck", "PASSED", data=data, ref_url="https://example.test/1")
    assert created is not None and created["outcome"] == "PASSED"
    assert created["data"]["arch"] == ["x86_64"]
    again = rdb.ensure_result("compose.ostree.fsck", "PASSED", data=data, ref_url="https://example.test/1")
    assert again is None
    assert len(rdb.latest(["atomic-host-24-x86_64"], type="compose-artifact")) == 1
    newer = rdb.ensure_result("compose.ostree.fsck", "FAILED", data=data)
    assert newer is not None and newer["id"] > created["id"]


def test_errors_name_the_item_and_say_whether_to_retry(rdb: ResultsDB) -> None:
    with pytest.raises(AdapterError, match=re.escape("result dist.depcheck MAYBE")) as bad:
        rdb.post_result(DEPCHECK, "MAYBE", data={"item": _build(1), "type": "koji_build"})
    assert not isinstance(bad.value, TransientError | NotFoundError) and "outcome" in bad.value.reason.lower()
    with pytest.raises(ValueError, match="comma"):
        rdb.latest(["a,b"], type="koji_build")
    gone = ResultsDB.connect(ResultsDBConnection("http://127.0.0.1:9/api/v2.0/", max_retries=0, timeout=5))
    with pytest.raises(TransientError, match="latest results of 1 koji_build"):
        gone.latest([_build(1)], type="koji_build")
