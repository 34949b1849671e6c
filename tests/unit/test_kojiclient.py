"""The Koji adapter's pure parts: error classes, connection options, URLs, multicall batching, task waiting.

The multicall tests run the real ``koji.ClientSession``/``MultiCallSession`` code with only the transport
(``_callMethod``) replaced, so batching and fault conversion are koji's own.
"""

from __future__ import annotations

import errno
import xmlrpc.client
from typing import Any

import koji
import pytest
import requests

from relengotron.kojiclient import (
    KojiBuild,
    KojiClient,
    KojiConnection,
    KojiError,
    KojiNotFoundError,
    KojiRPM,
    KojiTransientError,
    classify_error,
    rpm_url,
)


class FakeSession(koji.ClientSession):
    """A real ClientSession whose transport answers from ``handlers`` and records every request."""

    def __init__(self, handlers: dict[str, Any]) -> None:
        super().__init__("http://127.0.0.1:9/kojihub")
        self.handlers = handlers
        self.requests: list[tuple[str, int]] = []  # (method, number of calls in it)

    def _callMethod(self, name, args, kwargs=None, retry=True):
        if name == "multiCall":
            (calls,) = args
            self.requests.append((name, len(calls)))
            out = []
            for call in calls:
                params, opts = koji.decode_args(*call["params"])
                try:
                    out.append([self.handlers[call["methodName"]](*params, **opts)])
                except koji.GenericError as exc:
                    out.append({"faultCode": exc.faultCode, "faultString": str(exc)})
            return out
        self.requests.append((name, 1))
        return self.handlers[name](*args, **(kwargs or {}))


def _get_build(nvr: str, strict: bool = False) -> dict[str, Any]:
    if nvr.startswith("nope"):
        raise koji.GenericError(f"No such build: {nvr!r}")
    name, version, release = nvr.rsplit("-", 2)
    return {"id": len(nvr), "nvr": nvr, "name": name, "version": version, "release": release, "epoch": None}


def test_builds_go_in_batches_of_500_and_keep_their_order() -> None:
    session = FakeSession({"getBuild": _get_build})
    client = KojiClient(session, "http://127.0.0.1:9/kojifiles")
    nvrs = [f"pkg{i:04d}-1.0-{i}.fc24" for i in range(1234)]
    found = client.builds(nvrs)
    assert session.requests == [("multiCall", 500), ("multiCall", 500), ("multiCall", 234)]
    assert list(found) == sorted(nvrs) and found["pkg0007-1.0-7.fc24"].release == "7.fc24"


def test_a_multicall_failure_names_every_missing_build() -> None:
    client = KojiClient(FakeSession({"getBuild": _get_build}), "http://x")
    with pytest.raises(KojiNotFoundError) as caught:
        client.builds(["bash-4.3-1.fc24", "nope-1-1", "nope-2-2"])
    assert caught.value.item == "build nope-1-1, build nope-2-2"
    assert str(caught.value) == "build nope-1-1, build nope-2-2: No such build: 'nope-1-1'"


def test_a_transport_failure_of_a_multicall_is_transient() -> None:
    session = FakeSession({})

    def refuse(*args, **kwargs):
        raise requests.ConnectionError("Connection refused")

    session._callMethod = refuse  # type: ignore[method-assign]
    with pytest.raises(KojiTransientError, match=r"^2 getBuild calls: cannot reach Koji"):
        KojiClient(session, "http://x").builds(["a-1-1", "b-1-1"])


def test_rpms_and_signatures_of_many_builds_are_one_request_each() -> None:
    def list_rpms(buildID: int) -> list[dict[str, Any]]:
        return [
            {"id": buildID * 10 + i, "build_id": buildID, "name": f"p{buildID}", "version": "1", "release": "1",
             "arch": arch, "epoch": None, "size": 5, "payloadhash": "ab", "buildtime": 7}
            for i, arch in enumerate(("src", "noarch"))
        ]  # fmt: skip

    def sigs(rpm_id: int) -> list[dict[str, Any]]:
        return [
            {"rpm_id": rpm_id, "sigkey": "", "sighash": "u"},
            {"rpm_id": rpm_id, "sigkey": "ABCD1234", "sighash": "s"},
        ]

    session = FakeSession({"listRPMs": list_rpms, "queryRPMSigs": sigs})
    client = KojiClient(session, "http://x")
    builds = [
        KojiBuild(id=i, nvr=f"p{i}-1-1", name=f"p{i}", version="1", release="1", epoch=None) for i in range(1, 41)
    ]
    rpms = client.rpms_of(builds)
    keys = client.rpm_sigkeys([r for found in rpms.values() for r in found])
    assert session.requests == [("multiCall", 40), ("multiCall", 80)]
    assert [r.arch for r in rpms[3]] == ["noarch", "src"]
    assert keys[30] == {"": "u", "abcd1234": "s"}


@pytest.mark.parametrize(
    ("exc", "kind", "text"),
    [
        (koji.ServerOffline("database outage"), KojiTransientError, "Koji is unavailable"),
        (koji.RetryError("retry"), KojiTransientError, "Koji is unavailable"),
        (requests.ConnectionError("refused"), KojiTransientError, "cannot reach Koji"),
        (requests.Timeout("slow"), KojiTransientError, "cannot reach Koji"),
        (ConnectionResetError(errno.ECONNRESET, "reset"), KojiTransientError, "cannot reach Koji"),
        (OSError(errno.ECONNREFUSED, "refused"), KojiTransientError, "cannot reach Koji"),
        (xmlrpc.client.ProtocolError("u", 503, "Service Unavailable", {}), KojiTransientError, "HTTP 503"),
        (xmlrpc.client.ProtocolError("u", 403, "Forbidden", {}), KojiError, "HTTP 403"),
        (koji.GenericError("No such build: 'x-1-1'"), KojiNotFoundError, "No such build"),
        (koji.GenericError("No such tagInfo: 'f99'"), KojiNotFoundError, "No such tagInfo"),
        (koji.ActionNotAllowed("tag permission required"), KojiError, "ActionNotAllowed: tag permission"),
        (koji.GenericError("build x already tagged (f24)"), KojiError, "GenericError: build x already"),
    ],
)
def test_errors_are_classified(exc: BaseException, kind: type, text: str) -> None:
    error = classify_error(exc, "build x-1-1")
    assert type(error) is kind
    assert error.item == "build x-1-1" and text in str(error)


def test_http_errors_by_status_and_foreign_errors_are_left_alone() -> None:
    def http_error(status: int) -> requests.HTTPError:
        response = requests.Response()
        response.status_code = status
        return requests.HTTPError(f"{status}", response=response)

    assert type(classify_error(http_error(502), "x")) is KojiTransientError
    assert type(classify_error(http_error(404), "x")) is KojiError
    assert classify_error(ValueError("bug"), "x") is None
    assert classify_error(OSError(errno.ENOENT, "no file"), "x") is None


def test_connection_from_airflow_fields() -> None:
    conn = KojiConnection.from_mapping(
        {"host": "https://koji.example/kojihub", "login": "bodhi", "password": "s3cret",
         "topurl": "https://kojipkgs.example", "max_retries": "2", "retry_interval": "0.5"}
    )  # fmt: skip
    assert (conn.hub, conn.user, conn.auth, conn.max_retries, conn.retry_interval) == (
        "https://koji.example/kojihub", "bodhi", "password", 2, 0.5
    )  # fmt: skip
    assert "s3cret" not in repr(conn)
    opts = conn.session_options()
    assert opts["user"] == "bodhi" and opts["password"] == "s3cret"
    assert opts["anon_retry"] is True and opts["offline_retry"] is False and opts["max_retries"] == 2
    anonymous = KojiConnection.from_mapping({"hub": "h", "topurl": "t"})
    assert anonymous.auth == "none" and "password" not in anonymous.session_options()
    ssl = KojiConnection(hub="h", topurl="t", auth="ssl", cert="/c.pem", serverca="/ca.pem")
    assert ssl.session_options()["serverca"] == "/ca.pem"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"hub": "h"}, "'topurl' is required"),
        ({"hub": "h", "topurl": "t", "auth": "kerberos"}, "auth must be one of none, password, gssapi, ssl"),
        ({"hub": "h", "topurl": "t", "auth": "password", "user": "u"}, "password auth needs 'user' and 'password'"),
        ({"hub": "h", "topurl": "t", "auth": "ssl"}, "ssl auth needs 'cert'"),
        ({"hub": "h", "topurl": "t", "colour": "red"}, "unknown field.*colour"),
        ({"hub": "", "topurl": "t"}, "'hub' is required"),
    ],
)
def test_bad_connections_are_refused_with_the_reason(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        KojiConnection.from_mapping(fields)


def test_rpm_urls_follow_kojis_path_layout() -> None:
    build = KojiBuild(id=1, nvr="bash-4.3.42-6.fc24", name="bash", version="4.3.42", release="6.fc24", epoch=None)
    rpm = KojiRPM(id=2, build_id=1, name="bash", version="4.3.42", release="6.fc24", epoch=None, arch="noarch",
                  size=1, payloadhash="", buildtime=0)  # fmt: skip
    top = "https://kojipkgs.example/"
    assert rpm_url(top, build, rpm) == (
        "https://kojipkgs.example/packages/bash/4.3.42/6.fc24/noarch/bash-4.3.42-6.fc24.noarch.rpm"
    )
    assert rpm_url(top, build, rpm, "81B46521") == (
        "https://kojipkgs.example/packages/bash/4.3.42/6.fc24/data/signed/81b46521/noarch/bash-4.3.42-6.fc24.noarch.rpm"
    )
    on_volume = KojiBuild(**{**build.__dict__, "volume_name": "vol2"})
    assert rpm_url(top, on_volume, rpm).startswith("https://kojipkgs.example/vol/vol2/packages/bash/")


def test_builds_from_list_tagged_answers() -> None:
    tagged = {"build_id": 14, "id": 14, "package_name": "bash", "name": "bash", "version": "4.3.42",
              "release": "6.fc24", "epoch": None, "nvr": "bash-4.3.42-6.fc24", "volume_name": "DEFAULT",
              "owner_name": "kdudka", "tag_name": "f24"}  # fmt: skip
    build = KojiBuild.from_koji(tagged)
    assert (build.id, build.nvr, build.name, build.owner) == (14, "bash-4.3.42-6.fc24", "bash", "kdudka")


def test_waiting_for_tasks() -> None:
    states = iter(["FREE", "OPEN", "CLOSED"])

    def info(task_id: int, strict: bool = False) -> dict[str, Any]:
        return {"id": task_id, "state": koji.TASK_STATES[next(states)]}

    def result(task_id: int) -> None:
        raise koji.GenericError("build bash-4.3.42-6.fc24 already tagged (f24)")

    client = KojiClient(FakeSession({"getTaskInfo": info, "getTaskResult": result}), "http://x", poll_interval=0)
    client.wait_task(7, item="tag bash")
    states = iter(["FAILED"])
    with pytest.raises(KojiError, match=r"^tag bash: task 7 failed: build bash-4.3.42-6.fc24 already tagged"):
        client.wait_task(7, item="tag bash")
    states = iter(["OPEN"] * 100)
    with pytest.raises(KojiTransientError, match=r"^tag bash: task 7 still OPEN after 0 s$"):
        client.wait_task(7, item="tag bash", timeout=0)
