"""The release dashboard as a release engineer meets it, in a headless Chromium (relengotron_sandbox.browser) logged
in to a real Airflow api-server (dashboard_harness) as a viewer through the UI's ``_token`` cookie: the held-back
artifact of a push and the quarantined build of a gating run shown with their reasons — the same facts the JSON
endpoints return — and every link of theirs followed: the task instance's page and its log in Airflow's UI (the
UI's script renders them), the excuses page, the ResultsDB result each failing check names; then the UI's own
page for the plugin's navigation entry (``/plugin/<url_route>``), which shows the dashboard in the UI's frame.
No tests here.

Screenshots (test artifacts) go to ``$RELENGOTRON_SCREENSHOTS`` (sitecheck.screenshot_dir): ``dashboard.png`` (the
overview), ``dashboard-in-airflow.png`` (the navigation entry's page) and ``dashboard-excuses.png``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import requests
from dashboard_harness import ApiServer
from sitecheck import screenshot_dir

from relengotron.dashboard.links import addresses
from relengotron_sandbox.browser import Browser, Page, airflow_token_cookie

USER = "viewer"  # a user of the simple auth manager with the Viewer role (dashboard_harness.USERS)


def check_dashboard(
    server: ApiServer,
    *,
    push_run: str,
    held_back: str,
    gate_run: str,
    quarantined: str,
    packager: str,
    work: Path,
) -> tuple[Path, ...]:
    """Assert what a logged-in user sees and can follow on the dashboard of ``server`` about ``held_back`` (an
    artifact label of the ``updates_push`` run ``push_run``) and ``quarantined`` (a build NVR of the
    ``rawhide_gating`` run ``gate_run``, owned by ``packager``). Returns the screenshots' paths."""
    base, nav_page = addresses(server.url)["dashboard"], addresses(server.url)["nav"]
    shots = screenshot_dir(work / "screenshots")
    work.mkdir(parents=True, exist_ok=True)
    artifact, build, excuses, candidate = _facts(server, base, push_run, held_back, gate_run, quarantined, packager)
    cookie = airflow_token_cookie(server.url, USER, server.password(USER))
    with Browser(window=(1400, 900)) as browser:
        page = browser.open(base, cookies=cookie, wait_text=quarantined)
        overview = browser.screenshot(shots / "dashboard.png")
        print(f"dashboard screenshot: {overview}")
        # the facts of the JSON, as the page shows them: the table row of each (its cells' text)
        [cells] = _rows(browser, held_back)  # the push's artifacts table: artifact, state, why, task
        assert cells[1:3] == [artifact["state"], artifact["reason"]], cells
        assert cells[3].startswith(artifact["links"]["task_id"]), cells
        [cells] = _rows(browser, quarantined)  # the gate's: build, packager, tag, failing check, why, task
        assert cells[1:3] == [build["packager"], build["tag"]] and cells[4] == build["reason"], cells
        assert cells[3].startswith(f"{build['failing'][0]['test_case']} FAILED"), cells
        [cells] = _rows(browser, held_back, prefix=True)  # community testing: candidate, state, download, sha256
        assert cells[1] == candidate["state"] and cells[3] == candidate["sha256"], cells

        # their links: the task instance in the UI (details and log tabs), the ResultsDB result
        _follow_task(browser, page, base, artifact["links"], held_back, "failed", work)
        _follow_task(browser, page, base, build["links"], quarantined, "success", work)
        page = browser.open(base, wait_text=quarantined)
        _follow_result(browser, page, build["failing"][0]["result"], build["failing"][0]["test_case"], quarantined)

        # the held-back artifact's excuses (its label on the overview links there): the failed test and its result
        page = browser.open(base, wait_text=held_back)
        excuses_page = browser.open(page.link(held_back).href, wait_text=f"Artifact {held_back}")
        excuses_shot = browser.screenshot(shots / "dashboard-excuses.png")
        [failed] = [c for c in excuses["checks"] if (c["check"], c["verdict"]) == ("test", "failed")]
        assert failed["detail"] in excuses_page.text and excuses["reason"] in excuses_page.text
        result = failed["link"]
        assert any(link.href == result for link in excuses_page.links), (result, excuses_page.links)
        _follow_result(browser, excuses_page, result, failed["detail"].split()[0], None)

        # the UI's own page of the navigation entry: the dashboard inside Airflow's frame
        nav = browser.open(nav_page, wait_css="iframe")
        frame = browser.driver.find_element("css selector", "iframe")
        assert urljoin(server.url + "/", frame.get_attribute("src") or "") == base
        browser.driver.switch_to.frame(frame)
        try:
            inside = browser.driver.execute_script("return document.body.innerText")
        finally:
            browser.driver.switch_to.default_content()
        assert "Release engineering" in inside and held_back in inside and quarantined in inside
        assert "Browse" in nav.text  # the UI's navigation around it
        in_airflow = browser.screenshot(shots / "dashboard-in-airflow.png", full_page=False)
    return overview, excuses_shot, in_airflow


def _facts(
    server: ApiServer, base: str, push_run: str, held_back: str, gate_run: str, quarantined: str, packager: str
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The two items as the JSON endpoints give them to the same user (Bearer JWT), checked for what they must
    say: held back by its failed tests, quarantined by its failing check."""
    headers = {"Authorization": f"Bearer {server.token(USER)}"}

    def get(path: str, **params: str) -> dict[str, Any]:
        answer = requests.get(base + path, params=params, headers=headers, timeout=60)
        assert answer.status_code == 200, (path, answer.status_code, answer.text[:500])
        return dict(answer.json())

    pushes = [p for ps in get("api/pushes")["releases"].values() for p in ps if p["run_id"] == push_run]
    assert len(pushes) == 1, pushes
    [artifact] = [a for a in pushes[0]["artifacts"] if a["label"] == held_back]
    assert artifact["state"] == "held-back" and artifact["reason"].startswith("its tests failed"), artifact
    assert artifact["links"]["task_id"].endswith(".tests"), artifact["links"]
    gate = get("api/gate")
    [build] = [b for b in gate["sections"]["quarantined"] if b["nvr"] == quarantined and b["run_id"] == gate_run]
    assert build["packager"] == packager and build["failing"], build
    assert all(f["outcome"] == "FAILED" and f["result"] for f in build["failing"]), build["failing"]
    assert build["failing"][0]["test_case"] in build["reason"], build
    entries = get("api/excuses", item=held_back)["entries"]
    [entry] = [e for e in entries if e["type"] == "artifact"]
    assert (entry["state"], entry["reason"]) == (artifact["state"], artifact["reason"])
    # the community testing page lists it too, with where to download it; the download is there
    [candidate] = [c for c in get("api/testing")["candidates"] if c["label"] == held_back]
    assert candidate["state"] == "held-back" and candidate["sha256"], candidate
    assert requests.head(candidate["download"], timeout=30).status_code == 200, candidate["download"]
    return artifact, build, entry, candidate


def _rows(browser: Browser, item: str, *, prefix: bool = False) -> list[list[str]]:
    """The cells' text of each table row of the current page whose first cell reads ``item`` (or, with
    ``prefix``, begins with it and says more)."""
    rows = browser.driver.execute_script(
        "return Array.from(document.querySelectorAll('tr')).map(r => Array.from(r.cells).map(c => c.innerText.trim()))"
    )
    if prefix:
        return [r for r in rows if r and r[0] != item and r[0].startswith(item)]
    return [r for r in rows if r and r[0] == item]


# What tells the UI's two tabs of a task instance apart once its script rendered them (Airflow 3.3's UI): the
# log viewer's level filter, and the details table's rows.
TAB_SHOWS = {"log": "All Log Levels", "task": "Task ID"}


def _follow_task(
    browser: Browser, page: Page, base: str, links: Mapping[str, str], item: str, state: str, work: Path
) -> None:
    """The item's ``task`` and ``log`` links are on the page and open its task instance in Airflow's UI (the
    UI's script renders it: waited for): the task, its mapped instance (named ``item``) and ``state`` shown,
    on the details tab or on the log viewer. What each showed is kept in ``work`` (``<task id>-<tab>.txt``).

    The log viewer has no lines here: dag.test() runs tasks in process and writes no task log file."""
    for kind, marker in TAB_SHOWS.items():
        href = urljoin(base, links[kind])
        assert any(link.href == href for link in page.links), (kind, href)
        assert requests.get(href, timeout=30).status_code == 200, href  # the UI's route answers
        shown = browser.open(href, wait_text=marker)
        (work / f"{links['task_id']}-{kind}.txt").write_text(shown.text)
        assert shown.url == href, (shown.url, href)
        text = shown.text
        assert f"Task\n{links['task_id']}\nMap Index\n{item}" in text, (kind, text[:3000])  # the breadcrumb
        assert f"{links['task_id']} [{item}]\n{state.capitalize()}" in text, (kind, text[:3000])  # header, state
        assert all(m not in text for m in TAB_SHOWS.values() if m != marker), (kind, text[:3000])  # the right tab
        if kind == "task":
            assert f"Map Index\t{links['map_index']}" in text, text[:3000]  # the instance the dashboard named


def _follow_result(browser: Browser, page: Page, url: str, test_case: str, item: str | None) -> None:
    """A failing check's link on ``page`` opens its ResultsDB result: FAILED, of ``test_case`` (about ``item``)."""
    assert any(link.href == url for link in page.links), (url, page.links)
    shown = browser.open(url, wait_css="body")
    result = json.loads(browser.driver.find_element("css selector", "body").text)
    assert result["outcome"] == "FAILED" and result["testcase"]["name"] == test_case, (shown.url, result)
    if item is not None:
        assert item in json.dumps(result["data"]), result["data"]
