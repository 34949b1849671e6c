"""The push's side of the handshake with Bodhi, at the client seam: the Bodhi adapter over the real BodhiClient (its
HTTP answered by a stand-in of Bodhi's ``/updates/``), the compose's updates read and checked, Bodhi 2's
masher.start split into composes, and Bodhi's tag moves sent to Koji in multicalls — none twice."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from push_support import PARAMS, FakeTI, context

from relengotron.adapters.bodhi import Bodhi, BodhiConnection, BodhiUpdate, match_entries
from relengotron.adapters.errors import AdapterError, TransientError
from relengotron.config import ReleaseConfig
from relengotron.push import PushError, group_composes
from relengotron_sandbox.releng import render_release_config
from relengotron_sandbox.world import World


def bodhi_json(
    alias: str, builds: list[str], *, release: str = "f24", request: str | None = "stable", **kw: Any
) -> dict:
    """An update as Bodhi's ``Update.__json__`` gives it (the fields the push reads, and some it does not)."""
    return {
        "alias": alias,
        "title": " ".join(builds),
        "type": kw.get("type", "bugfix"),
        "severity": kw.get("severity", "medium"),
        "notes": "Fixes things.",
        "status": kw.get("status", "testing"),
        "request": request,
        "pushed": False,
        "release": {"name": release.upper(), "branch": release, "dist_tag": release, "id_prefix": "FEDORA"},
        "builds": [{"nvr": nvr, "signed": True, "type": "rpm"} for nvr in builds],
        "bugs": [{"bug_id": 1300101, "title": "crash", "security": False}],
        "user": {"name": "kdudka"},
    }


class BodhiHTTP:
    """Answers BodhiClient's requests like Bodhi's ``GET /updates/?builds=…`` (paged), counting them."""

    def __init__(self, updates: list[dict], status: int = 200, body: str | None = None) -> None:
        self.updates = updates
        self.status = status
        self.body = body
        self.asked: list[dict] = []

    def __call__(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        params = kwargs.get("params") or {}
        self.asked.append({"url": url, **params, "timeout": kwargs.get("timeout")})
        response = requests.Response()
        response.status_code = self.status
        if self.body is not None:
            response._content = self.body.encode()
            return response
        wanted = set(str(params.get("builds", "")).split())
        found = [u for u in self.updates if wanted & {b["nvr"] for b in u["builds"]}]
        size, page = int(params.get("rows_per_page", 20)), int(params.get("page", 1))
        pages = max(1, -(-len(found) // size))
        body = {"updates": found[(page - 1) * size : page * size], "page": page, "pages": pages, "total": len(found)}
        response._content = json.dumps(body).encode()
        return response


GLIBC = bodhi_json("FEDORA-2016-aaaa", ["glibc-2.23.1-8.fc24"], status="pending")
CURL = bodhi_json("FEDORA-2016-bbbb", ["curl-7.47.1-5.fc24", "libcurl-7.47.1-5.fc24"], type="security")


@pytest.fixture
def config(tmp_path: Any, world: World, monkeypatch: pytest.MonkeyPatch) -> ReleaseConfig:
    rendered = render_release_config(world, "0123abcd", tmp_path)
    monkeypatch.setattr("relengotron.airflow.hooks.release_config", lambda path=None: rendered)
    return rendered


def provider(url: str, **kwargs: Any) -> requests.Response:
    """The OpenID Connect provider's metadata, which BodhiClient reads when it is built."""
    response = requests.Response()
    response.status_code = 200
    base = "http://id.test/openidc"
    response._content = json.dumps(
        {"issuer": base, "token_endpoint": f"{base}/Token", "userinfo_endpoint": f"{base}/UserInfo"}
    ).encode()
    return response


def serve(monkeypatch: pytest.MonkeyPatch, http: BodhiHTTP) -> Bodhi:
    monkeypatch.setattr("bodhi.client.oidcclient.requests.get", provider)
    monkeypatch.setattr("bodhi.client.bindings.requests.request", http)
    bodhi = Bodhi.connect(
        BodhiConnection.from_mapping(
            {"host": "http://bodhi.test", "id_provider": "http://id.test/openidc", "timeout": "5"}
        )
    )
    monkeypatch.setattr("relengotron.airflow.hooks.BodhiHook.client", property(lambda self: bodhi))
    return bodhi


def test_the_adapter_asks_for_many_builds_at_once_and_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    many = [bodhi_json(f"FEDORA-2016-{n:04x}", [f"pkg{n}-1-1.fc24"]) for n in range(150)]
    http = BodhiHTTP(many)
    bodhi = serve(monkeypatch, http)
    found = bodhi.updates_of_builds(f"pkg{n}-1-1.fc24" for n in range(150))
    assert len(found) == 150 and bodhi.requests == len(http.asked) == 2  # 100 builds a query, one page each
    assert http.asked[0]["url"] == "http://bodhi.test/updates/" and http.asked[0]["timeout"] == 5.0
    update = BodhiUpdate.from_json(CURL)
    assert update.builds == ("curl-7.47.1-5.fc24", "libcurl-7.47.1-5.fc24") and update.release == "f24"
    assert update.as_update()["bugs"] == [{"id": 1300101, "title": "crash"}]
    with pytest.raises(AdapterError, match="update FEDORA-2016-aaaa: Bodhi's answer lacks or mangles 'builds'"):
        BodhiUpdate.from_json({k: v for k, v in GLIBC.items() if k != "builds"})


def test_bodhis_refusals_are_permanent_and_anything_else_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    refusal = json.dumps({"status": "error", "errors": [{"name": "builds", "description": "Invalid build"}]})
    with pytest.raises(AdapterError, match="Invalid build") as caught:
        serve(monkeypatch, BodhiHTTP([], 400, refusal)).updates_of_builds(["a-1-1"])
    assert not isinstance(caught.value, TransientError)
    with pytest.raises(TransientError, match="Service Unavailable"):
        serve(monkeypatch, BodhiHTTP([], 503, "<html>Service Unavailable</html>")).updates_of_builds(["a-1-1"])

    def refused(*args: Any, **kwargs: Any) -> None:
        raise requests.ConnectionError("Connection refused")

    monkeypatch.setattr("bodhi.client.bindings.requests.request", refused)
    with pytest.raises(TransientError, match="Connection refused"):
        Bodhi.connect(BodhiConnection("http://bodhi.test")).updates_of_builds(["a-1-1"])
    monkeypatch.setattr("bodhi.client.oidcclient.requests.get", refused)
    with pytest.raises(TransientError, match="Connection refused"):
        Bodhi.connect(BodhiConnection("http://bodhi.test"))
    with pytest.raises(ValueError, match="unknown field"):
        BodhiConnection.from_mapping({"host": "http://bodhi.test", "token": "x"})


def test_entries_match_updates_with_exactly_their_builds() -> None:
    found = [BodhiUpdate.from_json(GLIBC), BodhiUpdate.from_json(CURL)]
    matched = match_entries([("glibc-2.23.1-8.fc24",), ("libcurl-7.47.1-5.fc24", "curl-7.47.1-5.fc24")], found)
    assert [u.alias for u in matched.values()] == ["FEDORA-2016-aaaa", "FEDORA-2016-bbbb"]
    with pytest.raises(AdapterError, match=r"no update of exactly these builds: curl-7\.47\.1-5\.fc24"):
        match_entries([("curl-7.47.1-5.fc24",)], found)  # curl's update has libcurl too


def test_the_updates_task_reads_the_compose_from_bodhi(config: ReleaseConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk.exceptions import AirflowFailException
    from operators.push import PushUpdatesOperator

    serve(monkeypatch, BodhiHTTP([GLIBC, CURL]))
    conf = {**PARAMS, "updates": ["glibc-2.23.1-8.fc24", "curl-7.47.1-5.fc24 libcurl-7.47.1-5.fc24"]}
    updates = PushUpdatesOperator(task_id="updates").execute(context(conf))
    assert [(u["alias"], u["status"], u["type"]) for u in updates] == [
        ("FEDORA-2016-aaaa", "pending", "bugfix"),
        ("FEDORA-2016-bbbb", "testing", "security"),
    ]
    testing = {**conf, "repo": "f24-updates-testing"}
    with pytest.raises(AirflowFailException, match="FEDORA-2016-aaaa is requested for stable"):
        PushUpdatesOperator(task_id="updates").execute(context(testing))
    serve(monkeypatch, BodhiHTTP([{**GLIBC, "release": {**GLIBC["release"], "branch": "f23"}}, CURL]))
    with pytest.raises(AirflowFailException, match="FEDORA-2016-aaaa belongs to release f23, not f24"):
        PushUpdatesOperator(task_id="updates").execute(context(conf))
    serve(monkeypatch, BodhiHTTP([CURL]))
    with pytest.raises(AirflowFailException, match=r"no update of exactly these builds: glibc-2\.23\.1-8\.fc24"):
        PushUpdatesOperator(task_id="updates").execute(context(conf))


def test_masher_start_becomes_one_compose_per_release_and_request_security_first(
    config: ReleaseConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.sdk.exceptions import AirflowFailException
    from operators.masher import MasherComposesOperator

    sudo = bodhi_json("FEDORA-2016-cccc", ["sudo-1.8.15-2.fc23"], release="f23", type="security")
    vim = bodhi_json("FEDORA-2016-dddd", ["vim-7.4.1989-2.fc23"], release="f23", request="testing")
    serve(monkeypatch, BodhiHTTP([GLIBC, CURL, sudo, vim]))
    titles = [
        "vim-7.4.1989-2.fc23",
        "glibc-2.23.1-8.fc24",
        "sudo-1.8.15-2.fc23",
        "curl-7.47.1-5.fc24 libcurl-7.47.1-5.fc24",
    ]
    task = MasherComposesOperator(task_id="composes", push_id="2016-abc", titles=titles, agent="bowlofeggs")
    runs = task.execute(context(run_id="manual__1"))
    assert [(r["trigger_run_id"], r["conf"]["updates"]) for r in runs] == [
        ("manual__1__f23-updates", ["sudo-1.8.15-2.fc23"]),  # security, stable
        ("manual__1__f24-updates", ["glibc-2.23.1-8.fc24", "curl-7.47.1-5.fc24 libcurl-7.47.1-5.fc24"]),  # security
        ("manual__1__f23-updates-testing", ["vim-7.4.1989-2.fc23"]),
    ]
    assert runs[1]["conf"] == {
        "push_id": "2016-abc.f24-stable",
        "repo": "f24-updates",
        "updates": ["glibc-2.23.1-8.fc24", "curl-7.47.1-5.fc24 libcurl-7.47.1-5.fc24"],
        "agent": "bowlofeggs",
    }
    assert task.execute(context(run_id="manual__1")) == runs  # read-only: the same composes again
    with pytest.raises(PushError, match=r"FEDORA-2016-eeee: release 'f24', request 'unpush'"):
        group_composes(
            [
                {
                    "alias": "FEDORA-2016-eeee",
                    "release": "f24",
                    "request": "unpush",
                    "type": "bugfix",
                    "builds": ["a-1-1"],
                }
            ],
            config,
            push_id="p",
            agent=None,
        )
    with pytest.raises(AirflowFailException, match="not build NVRs joined by spaces"):
        MasherComposesOperator(task_id="composes", push_id="p", titles=["glibc"]).execute(context())


class FakeKojiTags:
    """The hub's tags of builds, its multicalls and tag tasks (a moved build lands when its task is waited on)."""

    def __init__(self, tags: dict[str, set[str]]) -> None:
        self.tags = tags
        self.sent: list[tuple[str, tuple]] = []
        self.tasks: dict[int, tuple] = {}

    def multicall(self, calls: list[tuple]) -> list[Any]:
        out = []
        for method, args, kwargs, _item in calls:
            if method == "listTags":
                out.append([{"name": t} for t in sorted(self.tags[kwargs["build"]])])
                continue
            self.sent.append((method, args))
            if method == "tagBuild":
                self.tasks[len(self.tasks) + 1] = (args, kwargs)
                out.append(len(self.tasks))
            elif method == "untagBuild":
                self.tags[args[1]].discard(args[0])
                out.append(None)
        return out

    def wait_task(self, task: int, *, item: str, timeout: float) -> None:
        (tag, nvr), kwargs = self.tasks[task]
        self.tags[nvr] = (self.tags[nvr] - {kwargs["fromtag"]}) | {tag}

    def close(self) -> None:
        pass


def test_the_tag_step_moves_as_bodhi_does_and_a_rerun_sends_nothing(
    config: ReleaseConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.sdk.exceptions import AirflowFailException
    from operators.push import TagUpdatesOperator

    koji = FakeKojiTags(
        {
            "glibc-2.23.1-8.fc24": {"f24-updates-candidate", "f24-updates-pending"},
            "curl-7.47.1-5.fc24": {"f24-updates-testing", "f24-updates-pending"},
            "libcurl-7.47.1-5.fc24": {"f24-updates-testing", "f24-updates-pending"},
        }
    )
    monkeypatch.setattr("relengotron.airflow.hooks.KojiHook.client", property(lambda self: koji))
    updates = [BodhiUpdate.from_json(GLIBC).as_update(), BodhiUpdate.from_json(CURL).as_update()]
    conf = {**PARAMS, "updates": ["glibc-2.23.1-8.fc24", "curl-7.47.1-5.fc24 libcurl-7.47.1-5.fc24"]}
    done = TagUpdatesOperator(task_id="tag_updates", updates=updates).execute(context(conf, ti=FakeTI()))
    assert len(done["moves"]) == 3 and len(done["untags"]) == 3
    assert koji.tags == {nvr: {"f24-updates"} for nvr in koji.tags}  # moved, and the pending tags removed
    sent = len(koji.sent)
    again = TagUpdatesOperator(task_id="tag_updates", updates=updates).execute(context(conf, ti=FakeTI()))
    assert (again["moves"], again["untags"], len(koji.sent)) == ([], [], sent)  # nothing sent the second time
    koji.tags["glibc-2.23.1-8.fc24"] = {"f24"}
    with pytest.raises(AirflowFailException, match=r"glibc-2\.23\.1-8\.fc24 .* is in neither"):
        TagUpdatesOperator(task_id="tag_updates", updates=updates).execute(context(conf, ti=FakeTI()))
