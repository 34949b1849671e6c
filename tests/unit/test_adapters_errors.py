"""How the adapters sort failures (transient / not found / permanent), name the item, and read connections."""

from __future__ import annotations

import pytest
import requests
from beanbag import BeanBagException
from bugzilla.exceptions import BugzillaError, BugzillaHTTPError
from resultsdb_api import ResultsDBapiException

from relengotron.adapters import bugzilla as bz_adapter
from relengotron.adapters import pdc as pdc_adapter
from relengotron.adapters import resultsdb as rdb_adapter
from relengotron.adapters.bugzilla import BugzillaConnection
from relengotron.adapters.errors import (
    AdapterError,
    NotFoundError,
    TransientError,
    from_requests,
    from_status,
    is_transient,
)
from relengotron.adapters.pdc import PDCConnection
from relengotron.adapters.resultsdb import ResultsDB, ResultsDBConnection
from relengotron.kojiclient import KojiError, KojiTransientError


def response(status: int, body: bytes = b"{}") -> requests.Response:
    answer = requests.Response()
    answer.status_code = status
    answer._content = body
    return answer


@pytest.mark.parametrize(
    ("status", "kind"),
    [(None, TransientError), (500, TransientError), (503, TransientError), (404, NotFoundError), (400, AdapterError)],
)
def test_status_decides_the_class(status: int | None, kind: type) -> None:
    error = from_status("pdc", "release fedora-24", status, "why")
    assert type(error) is kind
    assert str(error) == "pdc: release fedora-24: why" and error.item == "release fedora-24"


def test_what_is_worth_a_retry() -> None:
    assert is_transient(TransientError("pdc", "release f24", "HTTP 503"))
    assert is_transient(KojiTransientError("tag f24", "Koji is unavailable"))
    assert not is_transient(NotFoundError("pdc", "release f99", "HTTP 404"))
    assert not is_transient(KojiError("lock tag f24", "ActionNotAllowed"))
    assert not is_transient(ValueError("bad input"))


def test_an_interrupted_rsync_is_worth_a_retry_a_refused_one_is_not() -> None:
    from relengotron.sync.mirror import SyncError, SyncInterrupted, rsync_failure

    killed = rsync_failure("content", "mirror:/pub", -9, b"rsync: some output\nrsync error: received SIGKILL\n")
    assert isinstance(killed, SyncInterrupted) and is_transient(killed)
    assert str(killed) == (
        "content pass to mirror:/pub: rsync was killed by signal 9: rsync: some output | rsync error: received SIGKILL"
    )
    for status in (10, 12, 20, 30, 35, 255):  # socket, stream, signal, timeouts; ssh's connection failure
        assert is_transient(rsync_failure("index", "mirror:/pub", status, b""))
    for status in (1, 11, 23, 24):  # usage, the disk, a file in the way, vanished sources: not by waiting
        refused = rsync_failure("index", "mirror:/pub", status, b"rsync error: some files could not be transferred")
        assert type(refused) is SyncError and not is_transient(refused), status
        assert f"failed (exit {status})" in str(refused)


def test_requests_failures() -> None:
    assert isinstance(from_requests("x", "i", requests.ConnectionError("refused")), TransientError)
    assert isinstance(from_requests("x", "i", requests.Timeout("slow")), TransientError)
    assert isinstance(from_requests("x", "i", TimeoutError("slow")), TransientError)
    http = requests.HTTPError("boom", response=response(502))
    assert isinstance(from_requests("x", "i", http), TransientError)
    gone = requests.HTTPError("gone", response=response(404))
    assert isinstance(from_requests("x", "i", gone), NotFoundError)
    assert from_requests("x", "i", KeyError("no")) is None


def test_pdc_faults_carry_pdc_detail() -> None:
    bad = pdc_adapter._classify(
        BeanBagException(response(400, b'{"detail": "Unknown query params: description."}'), "Bad"), "groups"
    )
    assert type(bad) is AdapterError and "Unknown query params: description." in str(bad)
    assert isinstance(pdc_adapter._classify(BeanBagException(response(404, b"x"), "nf"), "r"), NotFoundError)
    assert isinstance(pdc_adapter._classify(BeanBagException(response(500, b"<html>"), "e"), "r"), TransientError)
    assert type(pdc_adapter._classify(RuntimeError("odd"), "r")) is AdapterError


def test_resultsdb_faults() -> None:
    exhausted = ResultsDBapiException("Maximum number of retries exceeded", None)
    assert isinstance(rdb_adapter._classify(exhausted, "latest"), TransientError)
    refused = ResultsDBapiException("outcome 'MAYBE' not one of ... (HTTP 400)", response(400))
    error = rdb_adapter._classify(refused, "result x")
    assert type(error) is AdapterError and "MAYBE" in error.reason
    assert isinstance(rdb_adapter._classify(ResultsDBapiException("nf", response(404)), "r"), NotFoundError)


def test_bugzilla_faults() -> None:
    assert isinstance(bz_adapter._classify(BugzillaError("Bug #4242 does not exist.", code=101), "b"), NotFoundError)
    assert type(bz_adapter._classify(BugzillaError("You must log in", code=410), "b")) is AdapterError
    http = BugzillaHTTPError("503 Server Error", response=response(503))
    assert isinstance(bz_adapter._classify(http, "b"), TransientError)
    assert isinstance(bz_adapter._classify(requests.ConnectionError("refused"), "b"), TransientError)
    assert bz_adapter._version({"version": ["22", "23"]}, "23") == "23"
    assert bz_adapter._version({"version": "23"}, "23") == "23"
    assert bz_adapter._version({}, "24") == "24"


def test_connections_from_plain_fields() -> None:
    pdc = PDCConnection.from_mapping({"host": "http://pdc/rest_api/v1/", "password": "tok", "develop": "false"})
    assert (pdc.server, pdc.token, pdc.develop, pdc.ssl_verify) == ("http://pdc/rest_api/v1/", "tok", False, True)
    assert "tok" not in repr(pdc)
    assert PDCConnection.from_mapping({"server": "u", "ssl_verify": "/etc/ca.pem"}).ssl_verify == "/etc/ca.pem"
    assert PDCConnection.from_mapping({"server": "u", "ssl_verify": "false", "timeout": "5"}).ssl_verify is False
    with pytest.raises(ValueError, match="develop must be a boolean"):
        PDCConnection.from_mapping({"server": "u", "develop": "perhaps"})
    with pytest.raises(ValueError, match="'server'"):
        PDCConnection.from_mapping({"token": "t"})
    rdb = ResultsDBConnection.from_mapping({"host": "http://r/api/v2.0/", "max_retries": "0", "timeout": "3"})
    assert (rdb.url, rdb.max_retries, rdb.timeout) == ("http://r/api/v2.0/", 0, 3.0)
    with pytest.raises(ValueError, match="unknown field"):
        ResultsDBConnection.from_mapping({"url": "u", "colour": "blue"})
    bz = BugzillaConnection.from_mapping({"host": "http://b/rest/", "password": "key"})
    assert (bz.url, bz.api_key) == ("http://b/rest/", "key") and "key" not in repr(bz)
    with pytest.raises(ValueError, match="'url'"):
        BugzillaConnection.from_mapping({})


class NoNetwork:
    """A stand-in for ResultsDBapi: any request is a test failure."""

    url = "http://resultsdb.invalid/api/v2.0"
    session = requests.Session()

    def create_result(self, *args: object, **kwargs: object) -> None:
        raise AssertionError("nothing may be sent")


def test_bad_results_are_refused_before_any_request() -> None:
    rdb = ResultsDB(NoNetwork())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="data must include 'type'"):
        rdb.post_result("dist.depcheck", "PASSED", data={"item": "bash-1-1.fc26"})
    with pytest.raises(ValueError, match="data must include 'item'"):
        rdb.post_result("dist.depcheck", "PASSED", data={"item": [], "type": "koji_build"})
    with pytest.raises(ValueError, match="no name"):
        rdb.post_result({"ref_url": "x"}, "PASSED", data={"item": "a", "type": "b"})
    with pytest.raises(ValueError, match="holds a comma"):
        rdb.latest(["a-1-1,b-1-1"], type="koji_build")
    with pytest.raises(ValueError, match="bad testcase"):
        rdb.latest(["a-1-1"], type="koji_build", testcases=[""])
    with pytest.raises(ValueError, match="batch"):
        ResultsDB(NoNetwork(), batch=0)  # type: ignore[arg-type]
    assert rdb.latest([], type="koji_build") == [] and rdb.requests == 0
