"""The release dashboard served by a real Airflow 3 api-server through its plugin: registered in the UI's
navigation, refused to anonymous requests, shown to a logged-in user (JWT as Bearer and as the UI's ``_token``
cookie) as HTML and JSON; the listener's health read from a real listener (``listener_default``), and shown
unreachable once it is stopped."""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import requests
from dashboard_harness import api_server
from listener_harness import Listener, RawPublisher, write_listener
from listener_scenarios import gate_rule

from relengotron_sandbox.testing import wait_for

pytestmark = pytest.mark.integration

ENDPOINTS = (
    "api/pushes",
    "api/gate",
    "api/testing",
    "api/excuses?item=FEDORA-2016-1",
    "api/autosign",
    "api/listener",
)
NOT_JSON = b"{this is not json"


def start_listener(root: Path, publisher: RawPublisher) -> Listener:
    """A real listener subscribed to ``publisher``'s endpoint, with a message routed but not triggered (its
    Airflow is a closed port: it waits, retrying) and a dead letter (a body that is not JSON)."""
    from listener_corpus import TAG_TOPIC, good

    closed = "http://127.0.0.1:9"  # discard: nothing listens there
    listener = write_listener(
        root,
        airflow=SimpleNamespace(url=closed, password="unused"),
        bus={"relay_outbound": publisher.endpoint, "datagrepper": closed + "/"},
        rules={"rules": [gate_rule("dash")]},
    ).start()
    wait_for("subscribed", lambda: publisher.endpoint in listener.health()["subscribed"], 10)
    time.sleep(0.5)  # the subscription itself follows the handshake
    publisher.send_envelope(good("dash-bash-1.0-1.fc26", i=1, username="dash"))
    publisher.send([TAG_TOPIC.encode(), NOT_JSON])
    status = f"{listener.http}/status"
    wait_for("a dead letter and a publisher", lambda: _status_ready(requests.get(status, timeout=5).json()), 30)
    return listener


def _status_ready(status: dict[str, Any]) -> bool:
    return status["dead_letters_total"] >= 1 and bool(status["publishers"])


def test_the_plugin_serves_the_dashboard_behind_airflow_login(tmp_path: Path) -> None:
    publisher = RawPublisher(None)
    listener = start_listener(tmp_path / "listener", publisher)
    connection = {"AIRFLOW_CONN_LISTENER_DEFAULT": json.dumps({"conn_type": "http", "host": listener.http})}
    try:
        with api_server(tmp_path / "airflow", extra_env=connection) as server:
            check_the_dashboard(server)
            check_the_listeners_health(server, listener)
    finally:
        listener.stop()
        publisher.close()


def check_the_listeners_health(server: Any, listener: Listener) -> None:
    """The listener section says what the listener says of itself, and that it is gone once it is."""
    viewer = {"Authorization": f"Bearer {server.token('viewer')}"}
    base = f"{server.url}/releng/"
    health = requests.get(base + "api/listener", headers=viewer, timeout=30).json()
    assert health["state"] == "healthy" and health["url"] == listener.http, health
    assert health["bus"] == {"transport": "fedmsg", "connected": True}
    [letter] = health["dead_letters"]["shown"]
    assert letter["kind"] == "invalid" and letter["reason"], letter
    assert [p["name"] for p in health["publishers"]] == ["dash"] and health["publishers"][0]["last_i"] == 1
    assert health["inbox"]["waiting_on"]["dag_id"] == "rawhide_gating"  # Airflow down: retrying
    assert "Connection refused" in (health["airflow_error"] or health["inbox"]["waiting_on"]["last_error"])
    assert health["counters"]["dead_lettered"] == {"invalid": 1} and health["counters"]["received"]["bus"] == 2
    page = requests.get(base + "listener", headers={**viewer, "Accept": "text/html"}, timeout=30)
    assert page.status_code == 200 and '<span class="state healthy">healthy</span>' in page.text
    assert "Dead letters (1)" in page.text and letter["reason"].split(":")[0] in page.text

    listener.stop()
    gone = requests.get(base + "api/listener", headers=viewer, timeout=30)
    assert gone.status_code == 200 and gone.json()["state"] == "unreachable"
    assert "Connection refused" in gone.json()["problems"][0]
    page = requests.get(base + "listener", headers={**viewer, "Accept": "text/html"}, timeout=30)
    assert page.status_code == 200 and '<span class="state unreachable">unreachable</span>' in page.text


def check_the_dashboard(server: Any) -> None:
    """The plugin's registration, Airflow's login in front of every route, a viewer's pages and JSON."""
    admin = server.token("admin")
    plugins = requests.get(
        f"{server.url}/api/v2/plugins", headers={"Authorization": f"Bearer {admin}"}, timeout=30
    ).json()["plugins"]
    [plugin] = [p for p in plugins if p["name"] == "relengotron_dashboard"]
    assert [(v["name"], v["href"], v["destination"], v["url_route"]) for v in plugin["external_views"]] == [
        ("Release engineering", "releng/", "nav", "release-engineering")
    ]
    assert [a["url_prefix"] for a in plugin["fastapi_apps"]] == ["/releng"]

    # nobody: 401 for the JSON, to the login page for a browser
    base = f"{server.url}/releng/"
    for path in ENDPOINTS:
        assert requests.get(base + path, timeout=30).status_code == 401, path
    browser = requests.get(base, headers={"Accept": "text/html"}, allow_redirects=False, timeout=30)
    assert browser.status_code == 303 and "/auth/login" in browser.headers["location"]
    assert requests.get(base, timeout=30, headers={"Authorization": "Bearer not-a-jwt"}).status_code == 403

    # a logged-in viewer: the page and the JSON, with the token as Bearer or as the UI's cookie
    viewer = server.token("viewer")
    page = requests.get(base, cookies={"_token": viewer}, headers={"Accept": "text/html"}, timeout=30)
    assert page.status_code == 200 and "<h1>Release engineering</h1>" in page.text
    assert "No updates_push run recorded." in page.text and "UTC" in page.text
    for path in ENDPOINTS:
        answer = requests.get(base + path, headers={"Authorization": f"Bearer {viewer}"}, timeout=30)
        assert answer.status_code == 200, (path, answer.text)
        assert answer.json()["links_base"] == base
    assert requests.get(base + "api/pushes", cookies={"_token": viewer}, timeout=30).json()["releases"] == {}
    gate = requests.get(base + "api/gate", cookies={"_token": viewer}, timeout=30).json()
    assert gate["builds"] == 0 and set(gate["sections"]) == {"pending", "quarantined", "promoted", "error"}
    autosign = requests.get(base + "api/autosign", cookies={"_token": viewer}, timeout=30).json()
    assert autosign["builds"] == 0 and autosign["runs"] == []
    page = requests.get(base + "autosign", cookies={"_token": viewer}, timeout=30)
    assert page.status_code == 200 and "No autosign run recorded." in page.text


# A quarantined build and a held-back artifact shown by a real api-server, their links followed in a browser:
# tests/integration/dashcheck.py, run after the held-back push of test_dag_updates_push.py.
