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
from types import SimpleNamespace
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


def xcom(run: Any, task_id: str, nvr: str) -> Any:
    """The XCom of one build's map index of a gate task."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    index = next(
        ti.map_index for ti in run.get_task_instances() if ti.task_id == task_id and ti.rendered_map_index == nvr
    )
    with create_session() as session:
        rows = session.scalars(
            XComModel.get_many(run_id=run.run_id, task_ids=task_id, key="return_value", map_indexes=index)
        ).all()
        assert len(rows) == 1, f"{task_id}[{nvr}]: {len(rows)} XComs"
        return XComModel.deserialize_value(rows[0])


def outcomes(messages: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(outcome, build, packager) of each gating message (one build each), sorted."""
    return sorted(
        (m["topic"].removeprefix(TOPIC), m["msg"]["builds"][0]["nvr"], m["msg"]["usernames"][0]) for m in messages
    )


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

    # --- run 1: each build gated on its own; atomic (quarantined, no result ever) waits and stays put ---------
    first = gating.test(run_conf=FAST)
    assert first.state == "success"
    ran = states(first)
    assert ran[("gate.wait_for_checks", ATOMIC)] == "failed"  # its results never came: its wait gave up
    assert all(ran[("gate.wait_for_checks", nvr)] == "success" for nvr in PENDING_BUILDS)
    assert {ran[("gate.decide", nvr)] for nvr in (*PENDING_BUILDS, ATOMIC)} == {"success"}
    assert "results missing: atomic-1.14-1.fc26 (koji_build): dist.depcheck: no result" in capfd.readouterr().out
    assert tags_of(koji_session, COREUTILS) == {RAWHIDE}
    assert tags_of(koji_session, ETCD) == {RAWHIDE}
    assert tags_of(koji_session, REQUESTS) == {JAIL}
    assert tags_of(koji_session, ATOMIC) == {JAIL}

    messages = gating_messages(endpoints)
    assert outcomes(messages) == [
        ("promoted", COREUTILS, "kdudka"),
        ("promoted", ETCD, "jchaloup"),
        ("quarantined", REQUESTS, "ralph"),
        ("waiting", ATOMIC, "lsm5"),
    ]
    quarantined = next(m["msg"] for m in messages if m["topic"].endswith("quarantined"))
    assert quarantined["packages"] == ["python3-requests"]
    assert "dist.depcheck FAILED" in quarantined["builds"][0]["summary"]
    assert all(m["msg"]["run_id"] == first.run_id for m in messages)

    # --- gating a build again changes nothing and announces nothing --------------------------------------------
    from operators.gating_steps import GateBuildOperator

    for nvr in (COREUTILS, REQUESTS):
        listed = {"nvr": nvr, "package": nvr.rsplit("-", 2)[0], "owner": None, "tag": PENDING}
        pushed: dict[str, Any] = {}
        ti = SimpleNamespace(xcom_push=lambda key, value, into=pushed: into.__setitem__(key, value))
        again = GateBuildOperator(task_id="decide", release="rawhide", candidate=listed).execute(
            {"run_id": "again", "ti": ti}
        )
        assert pushed == {"topic": again["topic"], "body": {}}  # an empty body: publish skips (None fails it)
        assert again["body"] is None and again["moved"] is False
    assert xcom(first, "gate.decide", COREUTILS)["moved"] is True
    assert tags_of(koji_session, REQUESTS) == {JAIL} and tags_of(koji_session, COREUTILS) == {RAWHIDE}
    assert len(gating_messages(endpoints)) == 4

    # --- a run in which the quarantined build still fails: nothing to announce for it, its publish is skipped ---
    still = gating.test(run_conf=FAST)
    assert still.state == "success", states(still)
    publish = {ti.map_index: ti.state for ti in still.get_task_instances() if ti.task_id == "gate.publish"}
    assert sorted(publish.values()) == ["skipped", "success"]  # python3-requests: silent; atomic: waiting
    assert tags_of(koji_session, REQUESTS) == {JAIL}
    assert outcomes(gating_messages(endpoints)[4:]) == [("waiting", ATOMIC, "lsm5")]

    # --- python3-urllib3 >= 1.19 landed: Taskotron passes the quarantined build, the next run promotes it ---
    ResultsDBapi(endpoints["resultsdb"]["url"]).create_result(
        "PASSED", "dist.depcheck", item=REQUESTS, type="koji_build", arch="noarch", note="python3-urllib3 1.19 in"
    )
    second = gating.test(run_conf=FAST)
    assert second.state == "success"
    assert {k: v for k, v in states(second).items() if k[0] == "gate.wait_for_checks"} == {
        ("gate.wait_for_checks", ATOMIC): "failed",  # still no result: it waits, in quarantine
        ("gate.wait_for_checks", REQUESTS): "success",
    }
    assert tags_of(koji_session, REQUESTS) == {RAWHIDE}
    assert tags_of(koji_session, ATOMIC) == {JAIL}
    promoted = xcom(second, "gate.decide", REQUESTS)
    assert (promoted["verdict"]["outcome"], promoted["verdict"]["from_tag"], promoted["moved"]) == (
        "promoted",
        JAIL,
        True,
    )
    new = gating_messages(endpoints)[5:]
    assert outcomes(new) == [("promoted", REQUESTS, "ralph"), ("waiting", ATOMIC, "lsm5")]


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
    assert [k for k in states(run) if k[0] == "gate.wait_for_checks"] == [("gate.wait_for_checks", ETCD)]
    assert tags_of(koji_session, ETCD) == {RAWHIDE}
    assert tags_of(koji_session, COREUTILS) == {PENDING}  # not named: left alone
    messages = gating_messages(airflow_connections)
    assert [(m["topic"].removeprefix(TOPIC), m["msg"]["packages"]) for m in messages] == [("promoted", ["etcd"])]
