"""The sandbox Bugzilla driven only through python-bugzilla's REST backend."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import bugzilla
import pytest
from bugzilla.exceptions import BugzillaError

from relengotron_sandbox.bugzilla import BugzillaService
from relengotron_sandbox.service import SandboxContext

pytestmark = pytest.mark.integration


@pytest.fixture
def service(recording_ctx: SandboxContext) -> Iterator[str]:
    svc = BugzillaService(recording_ctx)
    endpoint = svc.start()
    assert endpoint["url"].startswith("http://127.0.0.1:") and endpoint["url"].endswith("/rest/")
    yield endpoint["url"]
    svc.stop()


def connect(url: str, api_key: str | None = None) -> bugzilla.Bugzilla:
    return bugzilla.Bugzilla(url, force_rest=True, use_creds=False, api_key=api_key)


@pytest.fixture
def anon(service: str) -> bugzilla.Bugzilla:
    return connect(service)


@pytest.fixture
def bz(service: str) -> bugzilla.Bugzilla:
    return connect(service, api_key="sandbox-key")


def fault(call: Any) -> BugzillaError:
    with pytest.raises(BugzillaError) as caught:
        call()
    return caught.value


def test_connects_over_rest(anon: bugzilla.Bugzilla) -> None:
    assert anon.is_rest() and anon.bz_ver_major == 5
    assert anon.logged_in is False


def test_search_by_product_version_status(anon: bugzilla.Bugzilla, recording_ctx: SandboxContext) -> None:
    world = recording_ctx.world
    open23 = anon.query(anon.build_query(product="Fedora", version="23", status=["NEW", "ASSIGNED", "MODIFIED"]))
    expected = [b.id for b in world.bugs if b.version == "23" and b.status in ("NEW", "ASSIGNED", "MODIFIED")]
    assert sorted(b.id for b in open23) == sorted(expected) and expected
    all23 = anon.query(anon.build_query(product="Fedora", version="23"))
    assert sorted(b.id for b in all23) == sorted(b.id for b in world.bugs if b.version == "23")
    kernel = anon.query(anon.build_query(product="Fedora", component="kernel"))
    assert {b.id for b in kernel} == {b.id for b in world.bugs if b.component == "kernel"}
    bug = kernel[0]
    source = next(b for b in world.bugs if b.id == bug.id)
    assert (bug.product, bug.version, bug.status, bug.summary) == (
        source.product,
        source.version,
        source.status,
        source.summary,
    )
    assert bug.assigned_to == f"{world.packages['kernel'].owner}@fedoraproject.org"
    assert [b.id for b in anon.query(anon.build_query(bug_id=[1300105]))] == [1300105]
    assert [b.id for b in anon.query(anon.build_query(short_desc="CVE-2016-5696"))] == [1300106]
    assert anon.query(anon.build_query(product="Fedora", version="rawhide", status="CLOSED")) == []
    limited = anon.query(anon.build_query(product="Fedora", include_fields=["id", "status"]))
    assert limited and set(limited[0].get_raw_data()) == {"id", "status"}
    assert fault(lambda: anon.query({})).code == 32000  # no search terms
    assert fault(lambda: anon.query(anon.build_query(quicksearch="kernel"))).code == 32000


def test_getbug_and_getbugs(anon: bugzilla.Bugzilla) -> None:
    bug = anon.getbug(1300104)
    assert (bug.status, bug.resolution, bug.component, bug.is_open) == ("CLOSED", "ERRATA", "anaconda", False)
    assert [b.id for b in anon.getbugs([1300101, 1300103])] == [1300101, 1300103]
    err = fault(lambda: anon.getbug(4242))
    assert err.code == 101 and "Bug #4242 does not exist." in str(err)


def test_update_with_comment_then_reread(bz: bugzilla.Bugzilla, recording_ctx: SandboxContext) -> None:
    ids = [b.id for b in bz.query(bz.build_query(product="Fedora", version="23", status=["NEW", "ASSIGNED"]))]
    assert len(ids) == 2
    text = "Fedora 23 changed to end-of-life (EOL) status."
    answer = bz.update_bugs(ids, bz.build_update(status="CLOSED", resolution="EOL", comment=text))
    assert [b["id"] for b in answer["bugs"]] == ids
    assert answer["bugs"][0]["changes"]["status"]["added"] == "CLOSED"
    for bug in bz.getbugs(ids):
        assert (bug.status, bug.resolution) == ("CLOSED", "EOL")
        comments = bug.getcomments()
        assert comments[0]["count"] == 0 and comments[-1]["text"] == text
        assert comments[-1]["creator"] == "releng@fedoraproject.org"
    assert bz.query(bz.build_query(product="Fedora", version="23", status=["NEW", "ASSIGNED"])) == []
    raw = bz.get_comments(ids)
    assert set(raw["bugs"]) == {str(i) for i in ids}
    messages = [m for m in recording_ctx.publisher.messages if m[:2] == ("bugzilla", "bug.update")]
    assert len(messages) == 2
    body = messages[0][2]
    assert body["bug"]["id"] == ids[0] and body["comment"]["text"] == text
    assert {c["field"] for c in body["event"]["changes"]} == {"status", "resolution"}
    history = bz.bugs_history_raw([ids[0]])["bugs"][0]["history"]
    assert {c["field_name"] for c in history[-1]["changes"]} == {"status", "resolution"}


def test_writes_need_a_login(anon: bugzilla.Bugzilla) -> None:
    err = fault(lambda: anon.update_bugs([1300101], anon.build_update(status="ASSIGNED")))
    assert err.code == 410 and "You must log in before using this part of Bugzilla." in str(err)
    assert anon.getbug(1300101).status == "NEW"
    assert fault(lambda: anon.getbug(1300101).addcomment("hello")).code == 410


def test_login_with_password_gives_a_token(service: str) -> None:
    client = connect(service)
    err = fault(lambda: client.login("nobody@example.test", "secret"))
    assert "The username or password you entered is not valid. (code=300)" in str(err)
    client.login("kdudka@fedoraproject.org", "secret")
    assert client.logged_in
    client.getbug(1300101).setstatus("ASSIGNED", comment="taking it")
    bug = client.getbug(1300101)
    assert bug.status == "ASSIGNED" and bug.getcomments()[-1]["creator"] == "kdudka@fedoraproject.org"
    client.logout()


def test_bad_updates_are_refused_and_change_nothing(bz: bugzilla.Bugzilla) -> None:
    assert fault(lambda: bz.update_bugs([1300101], bz.build_update(status="DONE"))).code == 51
    err = fault(lambda: bz.update_bugs([1300101], bz.build_update(status="CLOSED", resolution="LATER")))
    assert err.code == 51 and "LATER" in str(err)
    err = fault(lambda: bz.update_bugs([1300101], bz.build_update(status="CLOSED", comment="no resolution")))
    assert err.code == 121
    assert fault(lambda: bz.update_bugs([1300101], bz.build_update(resolution="EOL"))).code == 122
    assert fault(lambda: bz.update_bugs([1300101], bz.build_update(component="no-such-package"))).code == 51
    assert (
        fault(lambda: bz.update_bugs([1300101, 4242], bz.build_update(status="CLOSED", resolution="EOL"))).code == 101
    )
    bug = bz.getbug(1300101)
    assert (bug.status, bug.resolution) == ("NEW", "")
    assert len(bug.getcomments()) == 1  # the refused updates added no comment


def test_reopen_duplicate_and_dependencies(bz: bugzilla.Bugzilla) -> None:
    bz.getbug(1300104).setstatus("NEW", comment="reopened")
    bug = bz.getbug(1300104)
    assert (bug.status, bug.resolution) == ("NEW", "")
    bz.getbug(1300102).close("DUPLICATE", dupeid=1300106)
    dupe = bz.getbug(1300102)
    assert (dupe.status, dupe.resolution, dupe.dupe_of) == ("CLOSED", "DUPLICATE", 1300106)
    assert fault(lambda: bz.getbug(1300103).close("DUPLICATE")).code == 119
    bz.update_bugs([1300105], bz.build_update(blocks_add=[1300106], keywords_add=["Security"]))
    assert bz.getbug(1300105).blocks == [1300106] and bz.getbug(1300105).keywords == ["Security"]
    assert bz.getbug(1300106).depends_on == [1300105]
    assert fault(lambda: bz.update_bugs([1300105], bz.build_update(blocks_add=[1300105]))).code == 116


def test_create_bug(bz: bugzilla.Bugzilla, anon: bugzilla.Bugzilla) -> None:
    info = bz.build_createbug(
        product="Fedora", version="24", component="docker", summary="docker: fails on btrfs", description="Steps..."
    )
    new = bz.createbug(info)
    bug = bz.getbug(new.id)
    assert (bug.status, bug.component, bug.creator) == ("NEW", "docker", "releng@fedoraproject.org")
    assert bug.getcomments()[0]["text"] == "Steps..."
    assert (
        fault(
            lambda: bz.createbug(bz.build_createbug(product="Fedora", version="99", component="docker", summary="x"))
        ).code
        == 51
    )
    assert fault(lambda: anon.createbug(info)).code == 410


def test_products_components_and_users(anon: bugzilla.Bugzilla, bz: bugzilla.Bugzilla, recording_ctx) -> None:
    world = recording_ctx.world
    assert set(anon.getcomponents("Fedora")) == set(world.packages)
    product = anon.product_get(names=["Fedora"])[0]
    assert {v["name"] for v in product["versions"]} >= {"23", "24", "rawhide"}
    user = anon.getuser("kdudka@fedoraproject.org")
    assert (user.name, user.real_name, user.can_login) == ("kdudka@fedoraproject.org", "kdudka", False)
    assert bz.getuser("kdudka@fedoraproject.org").can_login is True  # logged-in callers see more
    assert fault(lambda: anon.searchusers("kdudka")).code == 505
    assert [u.name for u in bz.searchusers("kdudka")] == ["kdudka@fedoraproject.org"]
    assert fault(lambda: anon.getuser("nobody@example.test")).code == 51
    assert bz.logged_in is True


def test_state_survives_a_restart(recording_ctx: SandboxContext) -> None:
    first = BugzillaService(recording_ctx)
    client = connect(first.start()["url"], api_key="k")
    client.update_bugs([1300107], client.build_update(status="POST", comment="patch posted"))
    first.stop()
    second = BugzillaService(recording_ctx)
    client = connect(second.start()["url"], api_key="k")
    try:
        bug = client.getbug(1300107)
        assert bug.status == "POST" and bug.getcomments()[-1]["text"] == "patch posted"
    finally:
        second.stop()
