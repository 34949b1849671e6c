"""The release dashboard served by a real Airflow 3 api-server through its plugin: registered in the UI's
navigation, refused to anonymous requests, shown to a logged-in user (JWT as Bearer and as the UI's ``_token``
cookie) as HTML and JSON."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from dashboard_harness import api_server

pytestmark = pytest.mark.integration

ENDPOINTS = ("api/pushes", "api/gate", "api/testing", "api/excuses?item=FEDORA-2016-1")


def test_the_plugin_serves_the_dashboard_behind_airflow_login(tmp_path: Path) -> None:
    with api_server(tmp_path / "airflow") as server:
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
