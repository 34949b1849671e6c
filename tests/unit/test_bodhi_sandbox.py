"""The sandbox Bodhi's pure parts: the world's updates, the seed, Bodhi's JSON, the updates query, the reading of
``relengotron.push.complete``, and the OpenID Connect provider's endpoints (called without a server)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from relengotron.yamlfile import FileError
from relengotron_sandbox.bodhi import render
from relengotron_sandbox.bodhi.bugs import bug_message, install_command
from relengotron_sandbox.bodhi.finish import (
    ContractError,
    compose_error,
    compose_of,
    failed_comment,
    is_finished,
    parse_push_complete,
    pushed_comment,
)
from relengotron_sandbox.bodhi.oidc import OOB, SERVER_CLIENT_ID, Provider
from relengotron_sandbox.bodhi.query import BodhiError, query_releases, query_updates, split
from relengotron_sandbox.bodhi.seed import seed
from relengotron_sandbox.web import Request
from relengotron_sandbox.world import World, load_world

BASE = "http://127.0.0.1:1/"
GLIBC = "FEDORA-2016-1d1d97e08f"  # f24, testing, request stable
KERNEL = "FEDORA-2016-e26aae6802"  # f24, testing, bug 1300106
OPENSSH = "FEDORA-2016-87932e2a7b"  # f24, pending, request testing, unsigned


@pytest.fixture(scope="module")
def records(world: World) -> dict[str, Any]:
    data = seed(world)
    return {
        "releases": {r["name"]: r for r in data["releases"]},
        "users": {u["name"]: u for u in data["users"]},
        "updates": {u["alias"]: u for u in data["updates"]},
        "comments": data["comments"],
    }


# ---- the world's updates


def test_world_updates_are_bodhi_updates_of_its_koji_builds(world: World) -> None:
    assert len(world.updates) >= 10
    for update in world.updates:
        assert update.alias.startswith("FEDORA-2016-") and len(update.alias) == len("FEDORA-2016-") + 10
        for nvr in update.builds:
            build = world.build(nvr)
            assert {world.tag_release()[t].id for t in build.tags} == {update.release}
        assert update.user == world.packages[world.build(update.builds[0]).package].owner
    assert {u.release for u in world.updates} == {"f23", "f24"}
    assert {u.request for u in world.updates} == {None, "testing", "stable"}


WORLD = """\
signing_key: {name: K, email: k@example.test}
releases:
  f24:
    name: Fedora 24
    version: 24
    state: active
    dist: fc24
    tags: {build: f24, candidate: f24-c, signing_pending: f24-sp, testing_pending: f24-tp, testing: f24-t,
           stable_pending: f24-p, stable: f24-u}
  rawhide:
    name: Rawhide
    version: rawhide
    state: rawhide
    dist: fc26
    tags: {build: rawhide}
packages:
  - name: bash
    owner: kdudka
    summary: The shell
    builds:
      - {version: "4.3", release: "1.fc24", tags: [f24-c]}
      - {version: "4.4", release: "1.fc26", tags: [rawhide]}
bugs:
  - {id: 7, product: Fedora, version: 24, component: bash, summary: "broken"}
updates:
"""


@pytest.mark.parametrize(
    ("update", "message"),
    [
        ("{alias: FEDORA-2016-abc, release: f24, builds: [bash-4.3-1.fc24]}", "bad alias"),
        ("{alias: FEDORA-2016-0123456789, release: rawhide, builds: [bash-4.4-1.fc26]}", "Bodhi cannot manage"),
        ("{alias: FEDORA-2016-0123456789, release: f24, builds: [bash-9-1.fc24]}", "unknown build"),
        ("{alias: FEDORA-2016-0123456789, release: f24, builds: [bash-4.3-1.fc24], bugs: [8]}", "unknown bug"),
        ("{alias: FEDORA-2016-0123456789, release: f24, builds: [bash-4.3-1.fc24], request: soon}", "must be one of"),
        ("{alias: FEDORA-2016-0123456789, release: f24, builds: [bash-4.3-1.fc24], colour: red}", "unknown key"),
    ],
)
def test_world_update_mistakes_are_named(tmp_path: Path, update: str, message: str) -> None:
    path = tmp_path / "world.yaml"
    path.write_text(WORLD + f"  - {update}\n")
    with pytest.raises(FileError, match=message) as caught:
        load_world(path)
    assert "updates[0]" in str(caught.value)


def test_a_build_in_two_updates_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "world.yaml"
    one = "{alias: FEDORA-2016-%s, release: f24, builds: [bash-4.3-1.fc24]}"
    path.write_text(WORLD + f"  - {one % '0123456789'}\n  - {one % 'abcdefabcd'}\n")
    with pytest.raises(FileError, match="already in update FEDORA-2016-0123456789"):
        load_world(path)


# ---- the seed and the JSON


def test_seeded_releases_are_bodhis(records: dict[str, Any]) -> None:
    f24 = records["releases"]["F24"]
    assert set(records["releases"]) == {"F23", "F24"}  # Rawhide has no updates tags
    assert render.release_json(f24) == {
        "name": "F24",
        "long_name": "Fedora 24",
        "version": "24",
        "id_prefix": "FEDORA",
        "branch": "f24",
        "dist_tag": "f24",
        "stable_tag": "f24-updates",
        "testing_tag": "f24-updates-testing",
        "candidate_tag": "f24-updates-candidate",
        "pending_signing_tag": "f24-signing-pending",
        "pending_testing_tag": "f24-updates-testing-pending",
        "pending_stable_tag": "f24-updates-pending",
        "override_tag": "f24-override",
        "mail_template": "fedora_errata_template",
        "state": "current",
        "composed_by_bodhi": True,
        "create_automatic_updates": False,
        "package_manager": "dnf",
        "testing_repository": "updates-testing",
        "released_on": None,
        "eol": None,
        "setting_status": None,
    }


def test_update_json_has_bodhis_keys(records: dict[str, Any]) -> None:
    kernel = records["updates"][KERNEL]
    out = render.update_json(
        kernel, records["releases"], records["users"], records["comments"], base_url=BASE, web=True
    )
    assert set(render.UPDATE_COLUMNS) <= set(out)
    assert {"date_pushed", "meets_testing_requirements", "url", "title", "version_hash", "updateid"} <= set(out)
    assert out["alias"] == out["updateid"] == KERNEL and out["title"] == "kernel-4.6.4-301.fc24"
    assert out["url"] == f"{BASE}updates/{KERNEL}" and out["content_type"] == "rpm" and out["karma"] == 0
    assert out["status"] == "testing" and out["request"] is None and out["pushed"] is True
    assert out["date_pushed"] == out["date_testing"] == "2016-06-01 12:00:00"
    assert out["builds"] == [
        {"nvr": "kernel-4.6.4-301.fc24", "release_id": 2, "signed": True, "type": "rpm", "epoch": 0}
    ]
    assert out["bugs"][0]["bug_id"] == 1300106 and "CVE-2016-5696" in out["bugs"][0]["title"]
    assert out["user"]["name"] == "jforbes" and out["user"]["openid"] == "jforbes.id.fedoraproject.org"
    assert [c["text"] for c in out["comments"]] == [
        "This update has been submitted for testing by jforbes. ",
        "This update has been pushed to testing.",
    ]
    assert "update" not in out["comments"][0] and out["comments"][0]["user"]["name"] == "bodhi"
    message = render.message_update(kernel, records["releases"], records["users"], records["comments"], BASE)
    assert message["user"]["avatar"] is None and message["user"]["openid"] is None  # no web request


def test_a_comment_on_its_own_carries_its_update(records: dict[str, Any]) -> None:
    glibc = records["updates"][GLIBC]
    comment = next(c for c in records["comments"] if c["update"] == GLIBC)
    out = render.full_comment_json(
        comment, glibc, records["releases"], records["users"], records["comments"], base_url=BASE, web=False
    )
    assert out["author"] == "bodhi" and out["update_alias"] == GLIBC
    assert out["update"]["alias"] == GLIBC and "comments" not in out["update"] and out["update"]["karma"] == 0


def test_titles_and_compose_order() -> None:
    three = {"alias": "A", "builds": [{"nvr": n} for n in ("c-1-1", "a-1-1", "b-1-1")], "display_name": ""}
    assert render.title(three) == "a-1-1 b-1-1 c-1-1"
    assert render.beautiful_title(three) == "a-1-1, b-1-1, and 1 more"
    assert render.beautiful_title({**three, "builds": three["builds"][:2]}) == "a-1-1 and c-1-1"
    assert render.build_strings(three) == "a-1-1 b-1-1 c-1-1"
    security = [{"type": "security"}]
    plain = [{"type": "bugfix"}]
    order = sorted(
        [
            ("testing", plain),
            ("stable", plain),
            ("testing", security),
        ],
        key=lambda c: render.compose_order({"request": c[0]}, c[1]),
    )
    assert order == [("testing", security), ("stable", plain), ("testing", plain)]


# ---- GET /updates/ and /releases/


def test_query_filters_pages_and_releases(records: dict[str, Any]) -> None:
    updates = list(records["updates"].values())

    def aliases(**query: Any) -> list[str]:
        found, _ = query_updates({k: [str(v)] for k, v in query.items()}, updates, records["releases"], {})
        return [u["alias"] for u in found]

    assert set(aliases(releases="f24", request="stable")) == {
        GLIBC,
        "FEDORA-2016-3529251174",
        "FEDORA-2016-d9f90dc905",
        "FEDORA-2016-110e4b3ae2",
    }
    assert aliases(builds="glibc-2.23.1-8.fc24") == [GLIBC]
    assert aliases(updateid=KERNEL) == aliases(alias=KERNEL) == [KERNEL]
    assert set(aliases(packages="curl")) == {"FEDORA-2016-3529251174", "FEDORA-2016-a6de6f6e8a"}
    assert aliases(bugs="1300105") == [OPENSSH]
    assert set(aliases(releases="F23,24", type="bugfix", status="testing")) == {
        "FEDORA-2016-ae02ecfbd5",
        GLIBC,
        "FEDORA-2016-68eb5db5a9",
    }
    assert aliases(pushed="false", request="testing", releases="f23") == ["FEDORA-2016-a6de6f6e8a"]
    assert aliases(search="GLIBC") == [GLIBC]
    assert aliases(staging="False", builds="glibc-2.23.1-8.fc24") == [GLIBC]  # unknown parameters are ignored
    page, extra = query_updates({"rows_per_page": ["3"], "page": ["2"]}, updates, records["releases"], {})
    assert len(page) == 3 and extra["page"] == 2 and extra["rows_per_page"] == 3
    assert extra["total"] == len(updates) and extra["pages"] == -(-len(updates) // 3)
    assert split(["a,b  c", "d"]) == ["a", "b", "c", "d"]


@pytest.mark.parametrize(
    ("query", "name", "text"),
    [
        ({"releases": ["f99"]}, "releases", "Invalid releases specified: f99"),
        ({"request": ["soon"]}, "request", '"soon" is not one of'),
        ({"status": ["testing,gone"]}, "status", '"gone" is not one of'),
        ({"rows_per_page": ["0"]}, "rows_per_page", "less than minimum value 1"),
        ({"page": ["x"]}, "page", "is not a number"),
        ({"pushed": ["maybe"]}, "pushed", "neither in"),
        ({"user": ["nobody"]}, "user", "Invalid users specified: nobody"),
    ],
)
def test_query_errors_are_bodhis(records: dict[str, Any], query: dict[str, list[str]], name: str, text: str) -> None:
    with pytest.raises(BodhiError) as caught:
        query_updates(query, list(records["updates"].values()), records["releases"], records["users"])
    assert caught.value.status == 400
    [error] = caught.value.body()["errors"]
    assert error["location"] == "querystring" and error["name"] == name and text in error["description"]


def test_query_releases(records: dict[str, Any]) -> None:
    releases = list(records["releases"].values())
    found, paging = query_releases({}, releases)
    assert [r["name"] for r in found] == ["F23", "F24"] and paging["total"] == 2
    assert [r["name"] for r in query_releases({"name": ["F2%"], "state": ["current"]}, releases)[0]] == ["F23", "F24"]
    assert query_releases({"name": ["F24"]}, releases)[0][0]["version"] == "24"


# ---- relengotron.push.complete


PUSH = {
    "push_id": "p",
    "run_id": "r",
    "repo": "f24-updates",
    "release": "f24",
    "request": "stable",
    "agent": "bowlofeggs",
    "status": "held-back",
    "synced": True,
    "repos": ["updates/24/x86_64"],
    "updates": [
        {"alias": GLIBC, "builds": ["glibc-2.23.1-8.fc24"], "status": "pushed", "artifacts": ["a/b"]},
        {
            "alias": KERNEL,
            "builds": ["kernel-4.6.4-301.fc24"],
            "status": "held-back",
            "artifacts": [],
            "held_back": [{"label": "Fedora-Cloud-Base-24.x86_64.raw.xz", "reason": "its tests failed"}],
            "reason": None,
        },
    ],
    "artifacts": {"released": [], "unchanged": [], "held_back": [], "failed": []},
}


def test_push_complete_is_read_as_the_contract_says(records: dict[str, Any]) -> None:
    push = parse_push_complete(json.loads(json.dumps(PUSH)))
    assert push.success and push.repo == "f24-updates" and [u.status for u in push.updates] == ["pushed", "held-back"]
    assert compose_of("f24-updates", records["releases"]) == ("F24", "stable")
    assert compose_of("f23-updates-testing", records["releases"]) == ("F23", "testing")
    assert pushed_comment("stable", push.updates[0]) == ("This update has been pushed to stable.\n\nReleased in: a/b.")
    assert "Fedora-Cloud-Base-24.x86_64.raw.xz (its tests failed)" in pushed_comment("stable", push.updates[1])
    failed = parse_push_complete(
        {
            **PUSH,
            "status": "failed",
            "synced": False,
            "updates": [{"alias": GLIBC, "status": "failed", "reason": "rsync"}],
        }
    )
    assert not failed.success and compose_error(failed) == "rsync"
    assert failed_comment("stable", failed.updates[0], failed).startswith(
        "This update could not be pushed to stable: rsync"
    )
    assert is_finished({"pushed": True, "status": "stable", "request": None}, "stable")
    assert not is_finished({"pushed": True, "status": "testing", "request": "stable"}, "stable")


@pytest.mark.parametrize(
    "change",
    [
        {"status": "done"},
        {"repo": ""},
        {"updates": "all"},
        {"updates": [{"alias": GLIBC, "status": "shipped"}]},
        {"updates": [{"status": "pushed"}]},
        {"request": "unpush"},
        {"artifacts": {"failed": [{"reason": "no label"}]}},
    ],
)
def test_push_complete_off_the_contract_is_refused(change: dict[str, Any]) -> None:
    with pytest.raises(ContractError):
        parse_push_complete({**PUSH, **change})
    with pytest.raises(ContractError):
        compose_of("f99-updates", {})


# ---- bugs


def test_bug_messages_are_bodhis(records: dict[str, Any]) -> None:
    release = records["releases"]["F24"]
    kernel = {**records["updates"][KERNEL], "status": "stable"}
    text = bug_message(kernel, release, "kernel-4.6.4-301.fc24", f"{BASE}updates/{KERNEL}")
    assert text == (
        f"{KERNEL} (kernel-4.6.4-301.fc24) has been pushed to the Fedora 24 stable repository.\n"
        "If problem still persists, please make note of it in this bug report."
    )
    testing = {**kernel, "status": "testing"}
    assert install_command(testing, release) == (
        f"sudo dnf upgrade --enablerepo=updates-testing --refresh --advisory={KERNEL}"
    )
    assert f"You can provide feedback for this update here: {BASE}updates/{KERNEL}" in bug_message(
        testing, release, "x", f"{BASE}updates/{KERNEL}"
    )


# ---- the OpenID Connect provider


def call(provider: Provider, method: str, path: str, query: str = "", body: str = "", **headers: str) -> Any:
    from urllib.parse import parse_qs

    request = Request(
        method, path, parse_qs(query), {k.replace("_", "-"): v for k, v in headers.items()}, body.encode()
    )
    return provider.app().dispatch(request)


def test_provider_code_flow_userinfo_and_introspection() -> None:
    provider = Provider(["releng", "kdudka"], "releng")
    issuer = provider.serve_at("http://127.0.0.1:9")
    meta = json.loads(call(provider, "GET", "/.well-known/openid-configuration/openidc").body)
    assert (
        meta["issuer"] == issuer
        and meta["token_endpoint"] == f"{issuer}/Token"
        and "oob" in meta["response_modes_supported"]
    )
    page = call(
        provider,
        "GET",
        "/openidc/Authorization",
        f"response_type=code&client_id=bodhi-client&redirect_uri={OOB}&state=xyz&login_hint=kdudka",
    ).body.decode()
    title = page.split("<title>")[1].split("</title>")[0]
    code = title.split("&")[0].removeprefix("code=")
    assert title.endswith("&state=xyz")
    answer = call(
        provider, "POST", "/openidc/Token", body=f"grant_type=authorization_code&code={code}&redirect_uri={OOB}"
    )
    token = json.loads(answer.body)
    assert token["token_type"] == "Bearer" and token["expires_at"] > 0
    again = call(provider, "POST", "/openidc/Token", body=f"grant_type=authorization_code&code={code}")
    assert again.status == 400  # a code is good once
    info = json.loads(call(provider, "GET", "/openidc/UserInfo", authorization=f"Bearer {token['access_token']}").body)
    assert info["nickname"] == "kdudka" and info["email"] == "kdudka@fedoraproject.org"
    assert call(provider, "GET", "/openidc/UserInfo", authorization="Bearer nope").status == 401
    form = f"token={token['access_token']}&client_id={SERVER_CLIENT_ID}&client_secret={provider.server_secret}"
    assert json.loads(call(provider, "POST", "/openidc/TokenInfo", body=form).body)["username"] == "kdudka"
    assert call(provider, "POST", "/openidc/TokenInfo", body=f"token={token['access_token']}").status == 401
    refreshed = json.loads(
        call(
            provider, "POST", "/openidc/Token", body=f"grant_type=refresh_token&refresh_token={token['refresh_token']}"
        ).body
    )
    assert refreshed["access_token"] != token["access_token"] and provider.token_info(token["access_token"]) is None


def test_provider_writes_the_clients_token_storage(tmp_path: Path) -> None:
    provider = Provider(["releng"], "releng")
    provider.serve_at("http://127.0.0.1:9")
    path = provider.write_client_storage(tmp_path / "bodhi" / "client.json")
    stored = json.loads(path.read_text())
    token = stored["tokens"]["http://127.0.0.1:9/openidc"]
    assert provider.token_info(token["access_token"])["user"] == "releng"
    assert path.stat().st_mode & 0o777 == 0o600
