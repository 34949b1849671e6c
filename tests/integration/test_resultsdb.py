"""The sandbox ResultsDB driven through the unmodified resultsdb_api client."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from resultsdb_api import ResultsDBapi, ResultsDBapiException

from relengotron_sandbox.resultsdb import ResultsDBService
from relengotron_sandbox.service import SandboxContext

pytestmark = pytest.mark.integration

NVR = "python3-requests-2.12.1-1.fc26"


@pytest.fixture
def service(recording_ctx: SandboxContext) -> Iterator[ResultsDBService]:
    svc = ResultsDBService(recording_ctx)
    recording_ctx.endpoints["resultsdb"] = svc.start()
    yield svc
    svc.stop()


@pytest.fixture
def api(service: ResultsDBService) -> ResultsDBapi:
    return ResultsDBapi(service.ctx.endpoints["resultsdb"]["url"], max_retries=0)


def latest(api: ResultsDBapi, **params: str) -> list[dict]:
    """GET /results/latest (the client has no method for it: its own session, with its error handling)."""
    return api.session.get(f"{api.url}/results/latest", params=params).json()["data"]


def messages(ctx: SandboxContext, modname: str) -> list[dict]:
    return [msg for mod, topic, msg in ctx.publisher.messages if mod == modname and topic == "result.new"]


def test_endpoint_is_api_v2_on_loopback(service: ResultsDBService) -> None:
    url = service.ctx.endpoints["resultsdb"]["url"]
    assert url.startswith("http://127.0.0.1:") and url.endswith("/api/v2.0/")
    assert (service.ctx.state_dir / "resultsdb" / "resultsdb.sqlite").is_file()


def test_create_and_get_a_result(api: ResultsDBapi) -> None:
    created = api.create_result(
        "passed",  # ResultsDB upper-cases outcomes
        {"name": "dist.depcheck", "ref_url": "https://example.test/depcheck"},
        groups=[{"uuid": "27f94e36-62ec-11e6-83fd-525400d7d6a4", "description": "Taskotron job"}],
        note="all dependencies resolved",
        ref_url="https://example.test/log",
        item=NVR,
        type="koji_build",
        arch=["noarch", "x86_64"],
    )
    assert created["outcome"] == "PASSED"
    assert created["testcase"] == {
        "name": "dist.depcheck",
        "ref_url": "https://example.test/depcheck",
        "href": f"{api.url}/testcases/dist.depcheck",
    }
    assert created["data"] == {"item": [NVR], "type": ["koji_build"], "arch": ["noarch", "x86_64"]}
    assert created["groups"] == ["27f94e36-62ec-11e6-83fd-525400d7d6a4"]
    assert created["href"] == f"{api.url}/results/{created['id']}"
    submitted = datetime.fromisoformat(created["submit_time"])
    assert abs(submitted - datetime.now(UTC).replace(tzinfo=None)) < timedelta(minutes=1)
    assert api.get_result(created["id"]) == created
    group = api.get_group("27f94e36-62ec-11e6-83fd-525400d7d6a4")
    assert group["description"] == "Taskotron job" and group["results_count"] == 1


def test_search_by_data_testcases_outcome_since_and_groups(api: ResultsDBapi) -> None:
    group = api.create_group(description="openQA run")["uuid"]
    a = api.create_result("PASSED", "dist.depcheck", item=NVR, type="koji_build")
    b = api.create_result("FAILED", "dist.rpmlint", item=NVR, type="koji_build", groups=[group])
    c = api.create_result("PASSED", "dist.depcheck", item="etcd-3.0.15-1.fc26", type="koji_build")
    d = api.create_result("INFO", "compose.ostree.fsck", item="atomic-host-24-x86_64", type="compose-artifact")

    def ids(page: dict) -> list[int]:
        return [r["id"] for r in page["data"]]

    assert ids(api.get_results()) == [d["id"], c["id"], b["id"], a["id"]]  # newest first
    assert ids(api.get_results(item=NVR)) == [b["id"], a["id"]]
    assert ids(api.get_results(item=[NVR, "etcd-3.0.15-1.fc26"], type="koji_build")) == [c["id"], b["id"], a["id"]]
    assert ids(api.get_results(item_like="*-1.fc26")) == [c["id"], b["id"], a["id"]]
    assert ids(api.get_results(testcases=["dist.rpmlint", "compose.ostree.fsck"])) == [d["id"], b["id"]]
    assert ids(api.get_results(testcases_like="dist.*")) == [c["id"], b["id"], a["id"]]
    assert ids(api.get_results(testcases_like="Dist.*")) == []  # LIKE is case-sensitive, as on PostgreSQL
    assert ids(api.get_results(outcome=["FAILED", "info"])) == [d["id"], b["id"]]
    assert ids(api.get_results(groups=group)) == [b["id"]]
    assert ids(api.get_results(type="compose-artifact", item=NVR)) == []
    assert ids(api.get_results(_sort="asc:submit_time")) == [a["id"], b["id"], c["id"], d["id"]]
    future = (datetime.now(UTC) + timedelta(hours=1)).replace(tzinfo=None).isoformat()
    past = (datetime.now(UTC) - timedelta(hours=1)).replace(tzinfo=None).isoformat()
    assert ids(api.get_results(since=future)) == []
    assert ids(api.get_results(since=f"{past},{future}", item=NVR)) == [b["id"], a["id"]]
    tc_results = api.session.get(f"{api.url}/testcases/dist.depcheck/results").json()
    assert ids(tc_results) == [c["id"], a["id"]]
    group_results = api.session.get(api.get_group(group)["results"]).json()
    assert ids(group_results) == [b["id"]]


def test_latest_result_per_testcase(api: ResultsDBapi) -> None:
    api.create_result("FAILED", "dist.depcheck", item=NVR, type="koji_build", arch="noarch")
    newest_depcheck = api.create_result("PASSED", "dist.depcheck", item=NVR, type="koji_build", arch="noarch")
    rpmlint = api.create_result("PASSED", "dist.rpmlint", item=NVR, type="koji_build", arch="noarch")
    x86 = api.create_result("FAILED", "dist.depcheck", item="other-1-1.fc26", type="koji_build", arch="x86_64")

    found = latest(api, item=NVR, type="koji_build")
    assert [r["id"] for r in found] == [rpmlint["id"], newest_depcheck["id"]]
    assert [r["id"] for r in latest(api, item=NVR, testcases="dist.depcheck")] == [newest_depcheck["id"]]
    assert [r["id"] for r in latest(api, **{"testcases:like": "dist.dep*"})] == [x86["id"]]
    distinct = latest(api, type="koji_build", testcases="dist.depcheck", _distinct_on="item")
    assert [r["id"] for r in distinct] == [x86["id"], newest_depcheck["id"]]
    with pytest.raises(ResultsDBapiException) as err:
        latest(api, _distinct_on="item")
    assert err.value.response.status_code == 400
    assert "at least one filter beside '_distinct_on'" in err.value.message


def test_paging_follows_next_and_prev_links(api: ResultsDBapi) -> None:
    created = [
        api.create_result("PASSED", "dist.depcheck", item=f"pkg-{i}-1.fc26", type="koji_build") for i in range(25)
    ]
    newest_first = [r["id"] for r in reversed(created)]

    first = api.get_results(testcases="dist.depcheck", limit=10)
    assert first["prev"] is None and first["next"]
    assert "page=1" in first["next"] and "limit=10" in first["next"] and "testcases=dist.depcheck" in first["next"]
    seen, page = [r["id"] for r in first["data"]], first
    while page["next"]:
        page = api.session.get(page["next"]).json()
        seen.extend(r["id"] for r in page["data"])
    assert seen == newest_first
    assert len(page["data"]) == 5 and page["prev"] and "page=1" in page["prev"]
    assert [r["id"] for r in api.get_results(page=2, limit=10)["data"]] == newest_first[20:]
    assert len(api.get_results()["data"]) == 20  # ResultsDB's default page size


def test_testcases(api: ResultsDBapi) -> None:
    assert api.create_testcase("dist.depcheck", ref_url="https://example.test/a")["ref_url"] == "https://example.test/a"
    api.create_testcase("dist.rpmlint")
    api.create_testcase("compose.ostree.fsck")
    assert api.update_testcase("dist.depcheck", url="https://example.test/b")["ref_url"] == "https://example.test/b"
    api.create_testcase("dist.depcheck")  # again, without ref_url: the existing one is kept
    tc = api.get_testcase("dist.depcheck")
    assert tc == {
        "name": "dist.depcheck",
        "ref_url": "https://example.test/b",
        "href": f"{api.url}/testcases/dist.depcheck",
    }
    assert [t["name"] for t in api.get_testcases()["data"]] == ["compose.ostree.fsck", "dist.depcheck", "dist.rpmlint"]
    assert [t["name"] for t in api.get_testcases(name_like="dist.*")["data"]] == ["dist.depcheck", "dist.rpmlint"]
    assert [t["name"] for t in api.get_testcases(name="dist.rpmlint")["data"]] == ["dist.rpmlint"]
    paged = api.get_testcases(limit=2)
    assert len(paged["data"]) == 2 and paged["next"]


def test_groups(api: ResultsDBapi) -> None:
    made = api.create_group(description="Taskotron job on koji_build x", ref_url="https://example.test/job")
    uid = made["uuid"]
    assert made["results_count"] == 0
    assert made["href"] == f"{api.url}/groups/{uid}"
    assert made["results"] == f"{api.url}/results?groups={uid}"
    own = api.create_group(uuid="8c4a8b1e-0000-5000-8000-000000000001", description="openQA job")
    assert own["uuid"] == "8c4a8b1e-0000-5000-8000-000000000001"
    updated = api.update_group(uid, description="renamed")
    assert updated["description"] == "renamed" and updated["ref_url"] == "https://example.test/job"
    api.create_result("PASSED", "dist.depcheck", groups=[uid], item=NVR, type="koji_build")
    assert api.get_group(uid)["results_count"] == 1
    assert [g["uuid"] for g in api.get_groups()["data"]] == [own["uuid"], uid]  # newest first
    assert [g["uuid"] for g in api.get_groups(description_like="open*")["data"]] == [own["uuid"]]
    assert [g["uuid"] for g in api.get_groups(uuid=uid)["data"]] == [uid]


@pytest.mark.parametrize(
    ("call", "status", "words"),
    [
        (lambda a: a.create_result("WAIVED", "dist.depcheck", item=NVR, type="koji_build"), 400, ["'WAIVED'"]),
        (lambda a: a.create_result(None, "dist.depcheck", item=NVR, type="koji_build"), 400, ["outcome"]),
        (lambda a: a.create_result("PASSED", None, item=NVR, type="koji_build"), 400, ["testcase"]),
        (lambda a: a.create_result("PASSED", "dist.depcheck", type="koji_build"), 400, ["data", "item"]),
        (lambda a: a.create_result("PASSED", "dist.depcheck", item=NVR), 400, ["data", "type"]),
        (lambda a: a.create_result("PASSED", "dist.depcheck", item="", type="koji_build"), 400, ["item"]),
        (lambda a: a.create_result("PASSED", {"ref_url": "x"}, item=NVR, type="k"), 400, ["testcase.name"]),
        (lambda a: a.create_result("PASSED", "t", item=NVR, type="k", **{"a:b": "c"}), 400, ["Colon", "a:b"]),
        (lambda a: a.create_testcase(""), 400, ["name"]),
        (lambda a: a.get_results(outcome="BROKEN"), 400, ["'BROKEN'"]),
        (lambda a: a.get_results(since="yesterday"), 400, ["since", "ISO8601"]),
        (lambda a: a.get_results(limit="ten"), 400, ["limit"]),
        (lambda a: a.get_result(424242), 404, ["Result not found"]),
        (lambda a: a.get_result("not-a-number"), 404, ["Result not found"]),
        (lambda a: a.get_testcase("no.such.testcase"), 404, ["Testcase not found"]),
        (lambda a: a.get_group("00000000-0000-0000-0000-000000000000"), 404, ["Group not found"]),
        (lambda a: a.session.get(f"{a.url}/nothing/here"), 404, ["Not found"]),
    ],
)
def test_errors_are_resultsdb_json(api: ResultsDBapi, call, status: int, words: list[str]) -> None:
    with pytest.raises(ResultsDBapiException) as err:
        call(api)
    assert err.value.response is not None and err.value.response.status_code == status
    for word in words:
        assert word in err.value.message
    assert api.get_results()["data"] == []  # nothing was stored


def test_messages_resultsdb_on_each_taskotron_on_outcome_change(api: ResultsDBapi, service: ResultsDBService) -> None:
    ctx = service.ctx
    first = api.create_result("PASSED", "dist.depcheck", item=NVR, type="koji_build", arch="noarch")
    api.create_result("PASSED", "dist.depcheck", item=NVR, type="koji_build", arch="noarch")  # same outcome
    changed = api.create_result("FAILED", "dist.depcheck", item=NVR, type="koji_build", arch="noarch")
    other_arch = api.create_result("FAILED", "dist.depcheck", item=NVR, type="koji_build", arch="x86_64")
    api.create_result("FAILED", "dist.depcheck", item=NVR, type="koji_build", arch="noarch")  # same again

    resultsdb_msgs = messages(ctx, "resultsdb")
    assert len(resultsdb_msgs) == 5
    assert resultsdb_msgs[0] == first  # the API form of the result, as ResultsDB publishes it
    legacy = messages(ctx, "taskotron")
    assert [m["result"]["id"] for m in legacy] == [first["id"], changed["id"], other_arch["id"]]
    assert legacy[0] == {
        "task": {"item": NVR, "type": "koji_build", "name": "dist.depcheck"},
        "result": {
            "id": first["id"],
            "submit_time": datetime.fromisoformat(first["submit_time"]).strftime("%Y-%m-%d %H:%M:%S UTC"),
            "prev_outcome": None,
            "outcome": "PASSED",
            "log_url": None,
        },
    }
    assert legacy[1]["result"]["prev_outcome"] == "PASSED" and legacy[1]["result"]["outcome"] == "FAILED"
    assert legacy[2]["result"]["prev_outcome"] is None  # x86_64 had no result before


def test_results_survive_a_restart(service: ResultsDBService) -> None:
    ctx = service.ctx
    api = ResultsDBapi(ctx.endpoints["resultsdb"]["url"], max_retries=0)
    made = api.create_result("PASSED", "dist.depcheck", item=NVR, type="koji_build")
    service.stop()
    ctx.endpoints["resultsdb"] = service.start()
    again = ResultsDBapi(ctx.endpoints["resultsdb"]["url"], max_retries=0)
    assert again.get_result(made["id"])["data"] == made["data"]
