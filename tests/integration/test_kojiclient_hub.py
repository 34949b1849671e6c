"""The Koji adapter against the sandbox hub, through the real koji client: reads, multicalls, tag operations."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from relengotron.kojiclient import (
    KojiClient,
    KojiConnection,
    KojiError,
    KojiNotFoundError,
    KojiTransientError,
    connect,
)
from relengotron.tools import rpmsign
from relengotron_sandbox.koji import KojiHub

pytestmark = pytest.mark.integration


@pytest.fixture
def endpoints(recording_ctx) -> Iterator[dict[str, Any]]:
    hub = KojiHub(recording_ctx)
    endpoints = hub.start()
    yield {**endpoints, "service": hub}
    hub.stop()


def _connect(endpoints: dict[str, Any], **fields: Any) -> KojiClient:
    base = {"hub": endpoints["hub"], "topurl": endpoints["topurl"], "poll_interval": 0.05}
    return connect(KojiConnection.from_mapping({**base, **fields}))


@pytest.fixture
def releng(endpoints) -> Iterator[KojiClient]:
    client = _connect(endpoints, login="releng", password="sandbox")
    yield client
    client.close()


def _count_requests(client: KojiClient) -> list[str]:
    """Record the name of every XML-RPC request the session sends (a multicall is one request)."""
    sent: list[str] = []
    original = client.session._callMethod

    def counting(name, args, kwargs=None, retry=True):  # type: ignore[no-untyped-def]
        sent.append(name)
        return original(name, args, kwargs, retry)

    client.session._callMethod = counting
    return sent


def test_password_login_and_latest_tagged(releng: KojiClient) -> None:
    assert releng.session.getLoggedInUser()["name"] == "releng"
    latest = releng.latest_tagged("f24-updates")
    assert [b.nvr for b in latest] == ["curl-7.47.1-5.fc24", "glibc-2.23.1-8.fc24"]
    assert latest[1].owner is not None and latest[1].name == "glibc"
    inherited = {b.nvr for b in releng.latest_tagged("f24-updates", inherit=True)}
    # f24-updates inherits from f24: its builds show through, shadowed by the newer ones of f24-updates
    assert {"bash-4.3.42-5.fc24", "glibc-2.23.1-8.fc24", "curl-7.47.1-5.fc24"} <= inherited
    assert "glibc-2.23.1-7.fc24" not in inherited


DEBUG = ("", "-debuginfo", "-debugsource")


def test_rpms_and_signatures_of_all_builds_in_one_request_each(releng: KojiClient, built_world) -> None:
    builds = releng.latest_tagged("f24")
    assert len(builds) > 20
    sent = _count_requests(releng)
    rpms = releng.rpms_of(builds)
    sigs = releng.rpm_sigkeys([r for found in rpms.values() for r in found])
    assert sent == ["multiCall", "multiCall"]
    # each build's source and binary RPMs: noarch, or the x86_64 ones of sudo and kernel with their debuginfo
    # and debugsource
    arches = {b.name: {(r.name, r.arch) for r in rpms[b.id]} for b in builds}
    for name in ("sudo", "kernel"):
        assert arches[name] == {(name, "src"), *((f"{name}{s}", "x86_64") for s in DEBUG)}
    noarch = {name: found for name, found in arches.items() if name not in ("sudo", "kernel")}
    assert all(found == {(name, "src"), (name, "noarch")} for name, found in noarch.items())
    assert all(built_world.key_id in keys for keys in sigs.values())
    releng.batch = 10
    releng.rpms_of(builds)
    assert len(sent) == 2 + -(-len(builds) // 10)


def test_signed_and_unsigned_urls_serve_the_right_files(releng: KojiClient, built_world, tmp_path) -> None:
    (glibc,) = [b for b in releng.latest_tagged("f24-updates") if b.name == "glibc"]
    (rpm,) = [r for r in releng.rpms_of([glibc])[glibc.id] if r.arch == "noarch"]
    signed = requests.get(releng.rpm_url(glibc, rpm, built_world.key_id.upper()), timeout=10)
    unsigned = requests.get(releng.rpm_url(glibc, rpm), timeout=10)
    assert signed.status_code == unsigned.status_code == 200
    assert len(unsigned.content) == rpm.size
    (tmp_path / "signed.rpm").write_bytes(signed.content)
    (tmp_path / "unsigned.rpm").write_bytes(unsigned.content)
    found = rpmsign.signing_key_ids([tmp_path / "signed.rpm", tmp_path / "unsigned.rpm"])
    assert list(found.values()) == [built_world.key_id, ""]


def test_missing_builds_and_tags_are_named(releng: KojiClient) -> None:
    with pytest.raises(KojiNotFoundError) as caught:
        releng.builds(["glibc-2.23.1-8.fc24", "nosuch-1-1.fc24", "alsonot-2-2.fc24"])
    assert caught.value.item == "build alsonot-2-2.fc24, build nosuch-1-1.fc24"
    assert releng.builds(["glibc-2.23.1-8.fc24"])["glibc-2.23.1-8.fc24"].name == "glibc"
    with pytest.raises(KojiNotFoundError, match=r"^tag f99: No such tagInfo"):
        releng.latest_tagged("f99")
    with pytest.raises(KojiNotFoundError, match=r"^tag f99: "):
        releng.tag_info("f99")
    with pytest.raises(KojiNotFoundError, match=r"^build nosuch-1-1: No such build"):
        releng.tag_build("f24-updates", "nosuch-1-1")
    with pytest.raises(KojiNotFoundError, match=r"^tag glibc-2.23.1-8.fc24 into f99: No such tagInfo: 'f99'$"):
        releng.tag_build("f99", "glibc-2.23.1-8.fc24")
    with pytest.raises(KojiNotFoundError, match=r"^tag f99: "):
        releng.untag_build("f99", "glibc-2.23.1-8.fc24")


def test_tag_move_untag_are_idempotent(releng: KojiClient, endpoints) -> None:
    nvr = "bash-4.3.42-6.fc24"
    assert releng.tags_of(nvr) == {"f24-signing-pending"}
    assert releng.tag_build("f24-updates-testing", nvr) is True
    assert releng.tag_build("f24-updates-testing", nvr) is False  # already there: success, nothing sent
    assert releng.tags_of(nvr) == {"f24-signing-pending", "f24-updates-testing"}

    assert releng.move_build("f24-updates-testing", "f24-updates", nvr) is True
    assert releng.tags_of(nvr) == {"f24-signing-pending", "f24-updates"}
    assert releng.move_build("f24-updates-testing", "f24-updates", nvr) is False
    # a move that stopped half-way (in both tags) is finished by the rerun
    releng.tag_build("f24-updates-testing", nvr)
    assert releng.move_build("f24-updates-testing", "f24-updates", nvr) is True
    assert releng.tags_of(nvr) == {"f24-signing-pending", "f24-updates"}
    with pytest.raises(KojiError, match=rf"^move {nvr} from f23-updates to f24-updates-testing: .* in neither"):
        releng.move_build("f23-updates", "f24-updates-testing", nvr)

    assert releng.untag_build("f24-updates", nvr) is True
    assert releng.untag_build("f24-updates", nvr) is False
    assert releng.tags_of(nvr) == {"f24-signing-pending"}
    assert nvr in {b.nvr for b in releng.latest_tagged("f24-signing-pending")}
    messages = [m for m in endpoints["service"].ctx.publisher.messages if m[1] in ("tag", "untag")]
    # one message per change, none for the reruns that changed nothing
    assert [(m[1], m[2]["tag"]) for m in messages] == [
        ("tag", "f24-updates-testing"),
        ("untag", "f24-updates-testing"),  # the move: one task, untag from the source then tag
        ("tag", "f24-updates"),
        ("tag", "f24-updates-testing"),
        ("untag", "f24-updates-testing"),  # the half-done move finished
        ("untag", "f24-updates"),
    ]


def test_anonymous_sessions_may_read_but_not_tag(endpoints) -> None:
    client = _connect(endpoints)
    try:
        assert client.latest_tagged("f24-updates")
        with pytest.raises(KojiError) as caught:
            client.tag_build("f24-updates-testing", "glibc-2.23.1-8.fc24")
        assert type(caught.value) is KojiError and "ActionNotAllowed" in str(caught.value)
    finally:
        client.close()


def test_an_unknown_user_cannot_log_in(endpoints) -> None:
    with pytest.raises(KojiError, match=r"^login to http://127.0.0.1:\d+/kojihub: AuthError"):
        _connect(endpoints, user="nobody-at-all", password="x")


def test_a_hub_that_is_gone_is_a_transient_error(endpoints) -> None:
    client = _connect(endpoints, max_retries=1, retry_interval=0)
    endpoints["service"].stop()
    with pytest.raises(KojiTransientError, match=r"^tag f24-updates: cannot reach Koji"):
        client.latest_tagged("f24-updates")
    with pytest.raises(KojiTransientError, match=r"^1 getBuild calls: cannot reach Koji"):
        client.builds(["glibc-2.23.1-8.fc24"])
    client.close()
