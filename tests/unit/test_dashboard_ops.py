"""The dashboard's operations pages from recorded facts: the listener's health (healthy, stalled, with dead
letters, not answering, not configured) and the autosign queue with its refusals — as JSON data and as the page."""

from __future__ import annotations

import json

import pytest
from dashboard_ops_facts import (
    BASH,
    CURL,
    DEAD_REASON,
    NOW,
    OPENSSH,
    REFUSAL,
    SUDO,
    URL,
    autosign_run,
    autosign_running,
    healthy,
    not_answering,
    stalled,
    with_dead_letters,
)

from relengotron.dashboard import render_ops
from relengotron.dashboard.listener import (
    HEALTHY,
    NOT_CONFIGURED,
    UNHEALTHY,
    UNREACHABLE,
    Answer,
    ListenerFacts,
    base_url,
    counters,
    listener_view,
)
from relengotron.dashboard.signing import autosign_view
from relengotron.dashboard.views import Views


def test_a_healthy_listener_shows_its_bus_inbox_publishers_and_counters() -> None:
    view = listener_view(healthy())
    assert view["state"] == HEALTHY and view["problems"] == [] and view["errors"] == []
    assert view["bus"]["connected"] is True and view["bus"]["last_heard_seconds"] == 2.5
    assert view["bus"]["reconnects_by_reason"] == {"connect_failed": 1}
    assert view["inbox"]["pending_messages"] == 2 and view["inbox"]["open_batches"] == 1
    assert view["inbox"]["runs_triggered"] == 39 and view["inbox"]["waiting_on"] is None
    assert view["inbox"]["last_seen_live"] == "2016-06-01 11:59:30 UTC"
    assert view["publishers"] == [
        {
            "name": "koji",
            "last_i": 7,
            "last_topic": "org.fedoraproject.prod.buildsys.tag",
            "last_msg_id": "2016-b7c1",
            "last_sent": "2016-06-01 11:59:30 UTC",
            "last_received": "2016-06-01 11:59:31 UTC",
        }
    ]
    assert view["dead_letters"] == {"total": 0, "shown": []}
    found = view["counters"]
    assert found["received"] == {"bus": 43 - 3, "replay": 3} and found["dropped"] == 5
    assert found["ignored"] == {"bodhi-compose": 2} and found["triggered"] == {"autosign (created)": 39}
    assert found["trigger_latency_mean_seconds"] == 1.0 and found["bus_last_heard_seconds"] == 2.5
    json.dumps(view)  # the JSON endpoint's body
    page = render_ops.listener(view, "now")
    assert '<span class="state healthy">healthy</span>' in page and "koji" in page and "2016-b7c1" in page


def test_a_stalled_listener_is_unhealthy_with_the_listeners_own_reason() -> None:
    view = listener_view(stalled())
    assert view["state"] == UNHEALTHY
    assert view["problems"] == ["nothing heard from the broker for 41 s (heartbeat 10 s): the connection is stalled"]
    assert view["bus"]["last_heard_seconds"] == 41.0 and view["bus"]["reconnects"] == 3
    assert view["bus"]["reconnects_by_reason"] == {"connect_failed": 1, "heartbeat_timeout": 2}
    page = render_ops.listener(view, "now")
    assert '<span class="state unhealthy">unhealthy</span>' in page and "the connection is stalled" in page
    assert "heartbeat_timeout: 2" in page


def test_dead_letters_are_listed_with_their_reasons() -> None:
    view = listener_view(with_dead_letters())
    assert view["state"] == HEALTHY  # dead letters are kept and shown; they do not make the listener unready
    letters = view["dead_letters"]
    assert letters["total"] == 3 and [d["id"] for d in letters["shown"]] == [12, 13, 14]
    assert {d["reason"] for d in letters["shown"]} == {DEAD_REASON}
    assert letters["shown"][0]["created"] == "2016-06-01 11:59:00 UTC" and letters["shown"][0]["kind"] == "route"
    assert view["counters"]["dead_lettered"] == {"route": 3}
    page = render_ops.listener(view, "now")
    assert "Dead letters (3)" in page
    assert "body refused by TagV1: &#39;tag&#39; is a required property" in page  # escaped


def test_a_listener_that_does_not_answer_is_unreachable_with_the_error_never_healthy() -> None:
    view = listener_view(not_answering())
    assert view["state"] == UNREACHABLE
    assert "Connection refused" in view["problems"][0] and view["problems"][0].startswith("/healthz: ConnectionError")
    assert view["bus"] is None and view["inbox"] is None and view["dead_letters"] is None and view["counters"] is None
    page = render_ops.listener(view, "now")
    assert '<span class="state unreachable">unreachable</span>' in page and "Connection refused" in page
    assert "Dead letters" not in page


def test_answers_that_are_not_the_listeners_are_errors_not_health() -> None:
    # something else answers on the port: 404 without JSON on /healthz, HTML on /metrics
    facts = ListenerFacts(
        url=URL,
        read_at=NOW,
        healthz=Answer(status=404, error="HTTP 404, not JSON: '<html>'"),
        status=Answer(status=404, error="HTTP 404, not JSON: '<html>'"),
        metrics=Answer(status=200, body="<html>not metrics</html>"),
    )
    view = listener_view(facts)
    assert view["state"] == UNREACHABLE and view["counters"] is None
    assert "/healthz: HTTP 404, not JSON: '<html>'" in view["errors"]
    assert any(e.startswith("/metrics: not Prometheus text") for e in view["errors"])
    # ready says so only with a 200
    assert (
        listener_view(ListenerFacts(url=URL, read_at=NOW, healthz=Answer(500, {"ready": True})))["state"] == UNHEALTHY
    )


def test_no_connection_is_not_configured_and_says_which() -> None:
    view = listener_view(ListenerFacts(url=None, read_at=NOW, error="connection listener_default: not defined"))
    assert view["state"] == NOT_CONFIGURED and view["problems"] == ["connection listener_default: not defined"]
    assert '<span class="state not-configured">not configured</span>' in render_ops.listener(view, "now")


@pytest.mark.parametrize(
    ("host", "schema", "port", "url"),
    [
        ("http://listener:9910", None, None, "http://listener:9910"),
        ("http://listener/", None, 9910, "http://listener:9910"),
        ("listener", None, 9910, "http://listener:9910"),
        ("listener.example", "https", None, "https://listener.example"),
    ],
)
def test_the_listeners_url_from_an_http_connection(host: str, schema: str | None, port: int | None, url: str) -> None:
    assert base_url(host, schema=schema, port=port) == url


def test_no_host_is_refused_naming_the_connection() -> None:
    with pytest.raises(ValueError, match="listener_default: no host"):
        base_url(None)


def test_metrics_other_than_the_listeners_are_ignored() -> None:
    assert counters("# TYPE other_total counter\nother_total 3\n")["dropped"] is None


def test_an_autosign_run_shows_what_it_signed_found_done_and_refused_with_the_reason() -> None:
    view = autosign_view([autosign_run()])
    sections = {name: [b["nvr"] for b in builds] for name, builds in view["sections"].items()}
    assert sections == {
        "waiting": [],
        "refused": [CURL],
        "failed": [],
        "signed": [BASH],
        "already done": [SUDO],
        "not run": [],
    }
    refused = view["sections"]["refused"][0]
    assert refused["reason"] == REFUSAL and refused["from_tag"] == "f23-signing-pending"
    assert refused["links"]["log"].endswith("/tasks/sign_build/mapped/2")
    signed = view["sections"]["signed"][0]
    assert signed["rpms_signed"] == 3 and signed["key"] == "81b46521" and signed["packager"] == "kdudka"
    assert view["runs"][0]["state"] == "failed" and view["runs"][0]["listed"] == 3
    page = render_ops.autosign(view, "now")
    assert "Refused (1)" in page and "signed with a different key than the release key 81b46521" in page
    assert 'href="../dags/autosign/runs/manual__2016-06-01T12%3A00%3A00%2B00%3A00/tasks/sign_build/mapped/2"' in page


def test_the_queue_is_what_a_run_still_works_on_and_what_it_left_over() -> None:
    view = autosign_view([autosign_running(), autosign_run()])
    waiting = {b["nvr"]: b for b in view["sections"]["waiting"]}
    assert set(waiting) == {OPENSSH, CURL, "zsh-5.2-5.fc24"}
    assert "queued" in waiting[OPENSSH]["reason"] and "left for the next run" in waiting["zsh-5.2-5.fc24"]["reason"]
    # curl is retried by the newer run: waiting, with the older refusal shown beside it
    assert waiting[CURL]["previously"]["state"] == "refused" and waiting[CURL]["previously"]["reason"] == REFUSAL
    assert view["sections"]["refused"] == []
    assert [r["state"] for r in view["runs"]] == ["running", "failed"]
    assert "previously refused" in render_ops.autosign(view, "now")


def test_a_failed_sign_task_without_a_refusal_is_failed_and_points_at_its_log() -> None:
    run = autosign_run()
    xcoms = {k: v for k, v in run.xcoms.items() if k[2] != "refused"}
    view = autosign_view([type(run)(**{**run.__dict__, "xcoms": xcoms})])
    assert [b["nvr"] for b in view["sections"]["failed"]] == [CURL]
    assert view["sections"]["failed"][0]["reason"] == "its signing task failed: see its log"


def test_views_read_the_autosign_runs_and_ask_the_probe() -> None:
    views = Views(lambda dag_id: [autosign_run()] if dag_id == "autosign" else [], probe=stalled)
    assert views.autosign()["builds"] == 3
    assert views.listener()["state"] == UNHEALTHY
