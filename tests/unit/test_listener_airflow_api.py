"""The listener's Airflow REST API v2 client: what each answer means (done, retry, dead letter), the JWT from
/auth/token fetched again on a 401, the request Airflow gets; and the backoff between retries."""

from __future__ import annotations

import json
import random
from collections.abc import Callable

import pytest
import requests
from requests.adapters import BaseAdapter

from relengotron.listener.airflow_api import CREATED, EXISTS, REFUSED, RETRY, AirflowClient, Backoff

URL = "http://airflow.test:8080"


class Scripted(BaseAdapter):
    """A transport answering from ``answer(request) -> (status, body)``, recording every request."""

    def __init__(self, answer: Callable[[requests.PreparedRequest], tuple[int, object]]) -> None:
        super().__init__()
        self.answer = answer
        self.seen: list[requests.PreparedRequest] = []

    def send(self, request: requests.PreparedRequest, **kwargs: object) -> requests.Response:
        self.seen.append(request)
        status, body = self.answer(request)
        if isinstance(body, Exception):
            raise body
        response = requests.Response()
        response.status_code = status
        response._content = body if isinstance(body, bytes) else json.dumps(body).encode()
        response.url = request.url
        response.request = request
        return response

    def close(self) -> None:
        pass


def client_with(answer: Callable[[requests.PreparedRequest], tuple[int, object]]) -> tuple[AirflowClient, Scripted]:
    client = AirflowClient(URL, "releng", "s3cret", timeout=5)
    transport = Scripted(answer)
    client._session.mount("http://", transport)
    return client, transport


def runs_answer(status: int, body: object, tokens: list[str] | None = None):
    tokens = tokens if tokens is not None else ["t1"]

    def answer(request: requests.PreparedRequest) -> tuple[int, object]:
        if request.url.endswith("/auth/token"):
            return 201, {"access_token": tokens.pop(0) if len(tokens) > 1 else tokens[0]}
        return status, body

    return answer


def test_a_created_run_and_what_airflow_was_sent() -> None:
    client, transport = client_with(runs_answer(200, {"dag_run_id": "gate__2016-x", "state": "queued"}))
    result = client.trigger("rawhide gating/x", "gate__2016-x", {"builds": ["a-1-1.fc26"]})
    assert (result.outcome, result.status, result.done) == (CREATED, 200, True)
    token, post = transport.seen
    assert json.loads(token.body) == {"username": "releng", "password": "s3cret"}
    assert post.method == "POST" and post.url == f"{URL}/api/v2/dags/rawhide%20gating%2Fx/dagRuns"
    assert post.headers["Authorization"] == "Bearer t1"
    assert json.loads(post.body) == {
        "dag_run_id": "gate__2016-x",
        "logical_date": None,
        "conf": {"builds": ["a-1-1.fc26"]},
    }
    client.trigger("d", "r2", {})
    assert len(transport.seen) == 3  # the token is kept
    assert "s3cret" not in repr(client)


@pytest.mark.parametrize(
    ("status", "body", "outcome", "detail"),
    [
        (409, {"detail": {"reason": "Unique constraint violation"}}, EXISTS, "Unique constraint"),
        (400, {"detail": "Invalid input for param builds: 'a b' does not match"}, REFUSED, "HTTP 400: Invalid input"),
        (404, {"detail": "Dag with dag_id: 'nosuch' not found"}, REFUSED, "HTTP 404: Dag with dag_id"),
        (422, {"detail": [{"loc": ["body", "logical_date"], "msg": "Field required"}]}, REFUSED, "Field required"),
        (500, {"detail": "Internal Server Error"}, RETRY, "HTTP 500"),
        (503, b"<html>Service Unavailable</html>", RETRY, "Service Unavailable"),
        (429, {"detail": "slow down"}, RETRY, "HTTP 429"),
        (403, {"detail": "Forbidden"}, RETRY, "HTTP 403"),
    ],
)
def test_each_answer_means_done_retry_or_dead_letter(status: int, body: object, outcome: str, detail: str) -> None:
    client, _ = client_with(runs_answer(status, body))
    result = client.trigger("rawhide_gating", "gate__2016-x", {})
    assert (result.outcome, result.status) == (outcome, status)
    assert detail in result.detail


def test_an_expired_token_is_fetched_again_once() -> None:
    tokens = ["old", "new"]

    def answer(request: requests.PreparedRequest) -> tuple[int, object]:
        if request.url.endswith("/auth/token"):
            return 201, {"access_token": tokens.pop(0)}
        return (401, {"detail": "expired"}) if request.headers["Authorization"] == "Bearer old" else (200, {})

    client, transport = client_with(answer)
    assert client.trigger("d", "r", {}).outcome == CREATED
    assert [r.url.rsplit("/", 1)[-1] for r in transport.seen] == ["token", "dagRuns", "token", "dagRuns"]


def test_refused_credentials_and_no_airflow_are_retried_not_dead_lettered() -> None:
    client, _ = client_with(lambda request: (401, {"detail": "Invalid credentials"}))
    result = client.trigger("d", "r", {})
    assert result.outcome == RETRY and "refused the listener's credentials" in result.detail

    client, _ = client_with(runs_answer(401, {"detail": "no"}))  # a valid token that is refused anyway
    assert client.trigger("d", "r", {}).outcome == RETRY

    client, _ = client_with(lambda request: (0, requests.ConnectionError("Connection refused")))
    result = client.trigger("d", "r", {})
    assert (result.outcome, result.status) == (RETRY, None) and "unreachable" in result.detail

    client, _ = client_with(lambda request: (201, {"no": "token"}))
    assert "without an access_token" in client.trigger("d", "r", {}).detail


def test_backoff_is_exponential_capped_and_jittered() -> None:
    backoff = Backoff(initial=1.0, maximum=30.0)
    rng = random.Random(7)
    for attempt, ceiling in [(0, 1), (1, 2), (2, 4), (3, 8), (4, 16), (5, 30), (40, 30), (10_000, 30)]:
        delays = [backoff.delay(attempt, rng) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays), (attempt, min(delays), max(delays))
        assert len(set(delays)) > 150  # jittered: listeners do not retry in lockstep
