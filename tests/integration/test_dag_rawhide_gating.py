"""rawhide_gating end to end: dag.test() against a whole sandbox, asserting Koji's tags, ResultsDB and the bus.

The world: rawhide-pending holds coreutils-8.25-15.fc26 and etcd-3.0.15-1.fc26 (their dependencies resolve)
and python3-requests-2.12.1-1.fc26 (needs python3-urllib3 >= 1.19, which Rawhide lacks); rawhide-badnewsbears
holds atomic-1.14-1.fc26, for which no result exists. The sandbox's Taskotron runs dist.depcheck when a build
is tagged into a pending tag, so the test re-tags the pending builds first (a packager's action) and waits
for their results.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import koji
import pytest
import requests
from conftest import load_dag
from resultsdb_api import ResultsDBapi

pytestmark = pytest.mark.integration

PENDING, RAWHIDE, JAIL = "rawhide-pending", "rawhide", "rawhide-badnewsbears"
COREUTILS = "coreutils-8.25-15.fc26"
ETCD = "etcd-3.0.15-1.fc26"
REQUESTS = "python3-requests-2.12.1-1.fc26"
ATOMIC = "atomic-1.14-1.fc26"
PENDING_BUILDS = (COREUTILS, ETCD, REQUESTS)
TOPIC = "org.fedoraproject.dev.relengotron.rawhide.gating."
# Long enough for a present result to be read on a loaded 2-core machine; atomic (no result ever) waits it out.
FAST = {"checks_timeout": 8, "checks_poll_interval": 0.2}


@pytest.fixture
def gating(airflow_db: Path, airflow_connections: dict[str, Any]) -> Any:
    return load_dag("rawhide_gating")


def tags_of(session: koji.ClientSession, nvr: str) -> set[str]:
    return {t["name"] for t in session.listTags(build=nvr)}


def retag(session: koji.ClientSession, nvrs: tuple[str, ...]) -> None:
    """The builds leave the pending tag and land in it again: one tag event each (Taskotron reacts)."""
    for nvr in nvrs:
        session.untagBuild(PENDING, nvr)
        task = session.tagBuild(PENDING, nvr)
        while not session.taskFinished(task):
            time.sleep(0.05)


def wait_for_depcheck(url: str, nvrs: tuple[str, ...], timeout: float = 60) -> dict[str, str]:
    api = ResultsDBapi(url)
    deadline = time.monotonic() + timeout
    found: dict[str, str] = {}
    while len(found) < len(nvrs) and time.monotonic() < deadline:
        for nvr in nvrs:
            data = api.get_results(item=nvr, testcases="dist.depcheck")["data"]
            if data:
                found[nvr] = data[0]["outcome"]
        time.sleep(0.1)
    assert set(found) == set(nvrs), f"no depcheck result for {set(nvrs) - set(found)}"
    return found


def gating_messages(endpoints: dict[str, Any], settle: float = 1.0) -> list[dict[str, Any]]:
    """The gating messages archived on the bus, oldest first (after letting the relay catch up)."""
    time.sleep(settle)
    url = endpoints["bus"]["datagrepper"] + "raw"
    out: list[dict[str, Any]] = []
    for outcome in ("promoted", "quarantined", "waiting"):
        answer = requests.get(url, params={"topic": TOPIC + outcome, "rows_per_page": 100}, timeout=10).json()
        out.extend(answer["raw_messages"])
    return sorted(out, key=lambda m: m["timestamp"])


def states(run: Any) -> dict[tuple[str, str], str]:
    """(task id, rendered map index or "") → state, for every task instance of the run."""
    return {(ti.task_id, ti.rendered_map_index or ""): ti.state for ti in run.get_task_instances()}


def xcom(run: Any, task_id: str, key: str = "return_value") -> Any:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.scalars(XComModel.get_many(run_id=run.run_id, task_ids=task_id, key=key)).all()
        assert len(rows) == 1, f"{task_id}/{key}: {len(rows)} XComs"
        return XComModel.deserialize_value(rows[0])


def test_a_batch_is_gated_and_the_broken_build_is_promoted_once_its_check_passes(
    gating: Any, koji_session: koji.ClientSession, airflow_connections: dict[str, Any], capfd: pytest.CaptureFixture
) -> None:
    endpoints = airflow_connections
    retag(koji_session, PENDING_BUILDS)
    assert wait_for_depcheck(endpoints["resultsdb"]["url"], PENDING_BUILDS) == {
        COREUTILS: "PASSED",
        ETCD: "PASSED",
        REQUESTS: "FAILED",
    }
    assert tags_of(koji_session, ATOMIC) == {JAIL}

    # --- run 1: the pending builds are gated; atomic (quarantined, no result ever) waits and stays put -----
    first = gating.test(run_conf=FAST)
    assert first.state == "success"
    ran = states(first)
    assert ran[("wait_for_checks", ATOMIC)] == "failed"  # its results never came: the sensor gave up
    assert all(ran[("wait_for_checks", nvr)] == "success" for nvr in PENDING_BUILDS)
    assert ran[("decide", "")] == ran[("announce", "")] == "success"
    assert "results missing: atomic-1.14-1.fc26 (koji_build): dist.depcheck: no result" in capfd.readouterr().out
    assert tags_of(koji_session, COREUTILS) == {RAWHIDE}
    assert tags_of(koji_session, ETCD) == {RAWHIDE}
    assert tags_of(koji_session, REQUESTS) == {JAIL}
    assert tags_of(koji_session, ATOMIC) == {JAIL}

    messages = gating_messages(endpoints)
    by_topic = {m["topic"].removeprefix(TOPIC): m["msg"] for m in messages}
    assert sorted(by_topic) == ["promoted", "quarantined", "waiting"] and len(messages) == 3
    assert by_topic["quarantined"]["usernames"] == ["ralph"]
    assert by_topic["quarantined"]["packages"] == ["python3-requests"]
    assert "dist.depcheck FAILED" in by_topic["quarantined"]["builds"][0]["summary"]
    assert by_topic["promoted"]["packages"] == ["coreutils", "etcd"]
    assert by_topic["promoted"]["usernames"] == ["jchaloup", "kdudka"]
    assert by_topic["waiting"]["packages"] == ["atomic"] and by_topic["waiting"]["usernames"] == ["lsm5"]
    assert all(m["msg"]["run_id"] == first.run_id for m in messages)

    # --- rerunning the moves of the finished run changes nothing: same tags, no message -------------------
    from operators.koji_tag import KojiTagOperator

    moves = xcom(first, "decide")
    assert {(m["from_tag"], m["tag"]) for m in moves} == {(PENDING, RAWHIDE), (PENDING, JAIL)}
    for move in moves:
        rerun = KojiTagOperator(task_id="move_builds", action="move", **move).execute({})
        assert {r["changed"] for r in rerun} == {False}
    assert tags_of(koji_session, REQUESTS) == {JAIL} and tags_of(koji_session, COREUTILS) == {RAWHIDE}
    assert len(gating_messages(endpoints)) == 3

    # --- python3-urllib3 >= 1.19 landed: Taskotron passes the quarantined build, the next run promotes it ---
    ResultsDBapi(endpoints["resultsdb"]["url"]).create_result(
        "PASSED", "dist.depcheck", item=REQUESTS, type="koji_build", arch="noarch", note="python3-urllib3 1.19 in"
    )
    second = gating.test(run_conf=FAST)
    assert second.state == "success"
    assert {k: v for k, v in states(second).items() if k[0] == "wait_for_checks"} == {
        ("wait_for_checks", ATOMIC): "failed",  # still no result: it waits, in quarantine
        ("wait_for_checks", REQUESTS): "success",
    }
    assert tags_of(koji_session, REQUESTS) == {RAWHIDE}
    assert tags_of(koji_session, ATOMIC) == {JAIL}
    assert xcom(second, "decide") == [{"from_tag": JAIL, "tag": RAWHIDE, "builds": [REQUESTS]}]
    # one message per outcome, each its own mapped publish task: their order on the bus is not a promise
    new = sorted(gating_messages(endpoints)[3:], key=lambda m: m["topic"])
    assert [(m["topic"].removeprefix(TOPIC), m["msg"]["packages"], m["msg"]["usernames"]) for m in new] == [
        ("promoted", ["python3-requests"], ["ralph"]),
        ("waiting", ["atomic"], ["lsm5"]),
    ]
    assert new[0]["msg"]["builds"][0]["from_tag"] == JAIL
    plan = xcom(second, "decide", "plan")
    assert {v["nvr"]: v["outcome"] for v in plan["verdicts"]} == {REQUESTS: "promoted", ATOMIC: "waiting"}


def test_a_named_build_is_gated_alone_and_a_bad_conf_fails_at_once(
    gating: Any, koji_session: koji.ClientSession, airflow_connections: dict[str, Any]
) -> None:
    from airflow.sdk.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError, match="builds"):
        gating.test(run_conf={"builds": ["etcd"]})
    retag(koji_session, (ETCD,))
    wait_for_depcheck(airflow_connections["resultsdb"]["url"], (ETCD,))
    run = gating.test(run_conf={**FAST, "builds": [ETCD]})
    assert run.state == "success"
    assert [k for k in states(run) if k[0] == "wait_for_checks"] == [("wait_for_checks", ETCD)]
    assert tags_of(koji_session, ETCD) == {RAWHIDE}
    assert tags_of(koji_session, COREUTILS) == {PENDING}  # not named: left alone
    messages = gating_messages(airflow_connections)
    assert [(m["topic"].removeprefix(TOPIC), m["msg"]["packages"]) for m in messages] == [("promoted", ["etcd"])]
