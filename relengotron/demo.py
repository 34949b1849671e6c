"""``make demo``: bring up the sandbox and show each of Fedora's services answering through its real client.

The tour also plays one real event chain: a packager's build lands in ``rawhide-pending`` (a Koji tag
operation), the bus carries ``buildsys.tag``, the Taskotron runner runs depcheck on it and ResultsDB records
the outcome — one build whose dependencies resolve and one that is deliberately broken.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import bugzilla
import koji
import requests
from pdc_client import PDCClient
from resultsdb_api import ResultsDBapi
from rich.console import Console
from rich.table import Table

from relengotron.sandbox import control

GATED_BUILDS = ("coreutils-8.25-15.fc26", "python3-requests-2.12.1-1.fc26")
PENDING_TAG = "rawhide-pending"
RESULT_TIMEOUT = 60.0


def run_demo(state_dir: Path, console: Console | None = None) -> int:
    console = console or Console()
    started = time.monotonic()
    with console.status("building the world and starting the sandbox…"):
        running = control.up(state_dir=state_dir, restart=True)
    endpoints = running.endpoints
    console.print(f"[bold green]sandbox up[/] in {time.monotonic() - started:.1f} s (pid {running.pid})")
    console.print(_endpoint_table(endpoints))

    session = koji.ClientSession(endpoints["koji"]["hub"])
    console.print(_koji_table(session))
    console.print(_pdc_table(PDCClient(server=endpoints["pdc"]["url"], develop=True)))
    console.print(_bugzilla_table(bugzilla.Bugzilla(endpoints["bugzilla"]["url"], force_rest=True)))

    with console.status("re-tagging two Rawhide builds into rawhide-pending; waiting for Taskotron's depcheck…"):
        _retag(endpoints)
        results = _wait_for_results(ResultsDBapi(endpoints["resultsdb"]["url"]))
    console.print(_results_table(results))
    bus = endpoints["bus"]
    console.print(_bus_table(bus["datagrepper"], f"{bus['topic_prefix']}.{bus['environment']}"))
    console.print(
        "\nThe sandbox stays up for exploration (endpoints in "
        f"[bold]{Path(state_dir) / 'endpoints.json'}[/]); stop it with [bold]make demo-stop[/]."
    )
    return 0


def _endpoint_table(endpoints: dict[str, Any]) -> Table:
    table = Table(title="Sandbox services (127.0.0.1 only)")
    table.add_column("service")
    table.add_column("endpoint")
    rows = [
        ("Koji hub (XML-RPC)", endpoints["koji"]["hub"]),
        ("Koji files (topurl)", endpoints["koji"]["topurl"]),
        ("PDC (REST)", endpoints["pdc"]["url"]),
        ("ResultsDB (API v2.0)", endpoints["resultsdb"]["url"]),
        ("Bugzilla (REST)", endpoints["bugzilla"]["url"]),
        ("fedmsg relay, publish to", endpoints["bus"]["relay_inbound"]),
        ("fedmsg relay, subscribe to", endpoints["bus"]["relay_outbound"]),
        ("datagrepper", endpoints["bus"]["datagrepper"]),
        ("fedmsg config", endpoints["bus"]["fedmsg_config"]),
    ]
    for name, url in rows:
        table.add_row(name, url)
    return table


def _koji_table(session: koji.ClientSession) -> Table:
    table = Table(title=f"Koji: koji.ClientSession, hub API version {session.getAPIVersion()}")
    table.add_column("tag")
    table.add_column("builds (latest)", justify="right")
    table.add_column("examples")
    tags = sorted(t["name"] for t in session.listTags())
    session.multicall = True
    for tag in tags:
        session.listTagged(tag, latest=True)
    answers = session.multiCall(strict=True)
    for tag, (builds,) in zip(tags, answers, strict=True):
        table.add_row(tag, str(len(builds)), ", ".join(b["nvr"] for b in builds[:3]))
    return table


def _pdc_table(pdc: PDCClient) -> Table:
    table = Table(title="PDC: pdc_client.PDCClient, component groups (what each artifact contains)")
    table.add_column("release")
    table.add_column("group type")
    table.add_column("artifact")
    table.add_column("packages", justify="right")
    for group in pdc["component-groups"].results():
        release = group["release"]["release_id"] if isinstance(group["release"], dict) else group["release"]
        table.add_row(release, group["group_type"], group["description"], str(len(group["components"])))
    return table


def _bugzilla_table(bz: bugzilla.Bugzilla) -> Table:
    table = Table(title="Bugzilla: python-bugzilla, open Fedora 23 bugs (what EOL will close)")
    table.add_column("bug")
    table.add_column("component")
    table.add_column("status")
    table.add_column("summary")
    query = bz.build_query(product="Fedora", version="23", status=["NEW", "ASSIGNED", "POST", "MODIFIED", "ON_QA"])
    for bug in bz.query(query):
        table.add_row(str(bug.id), bug.component, bug.status, bug.summary)
    return table


def _retag(endpoints: dict[str, Any]) -> None:
    """A packager's action: the builds leave the pending tag and land in it again (one tag event each)."""
    session = koji.ClientSession(endpoints["koji"]["hub"], opts={"user": "releng", "password": "releng"})
    session.login()
    for nvr in GATED_BUILDS:
        session.untagBuild(PENDING_TAG, nvr)
        task = session.tagBuild(PENDING_TAG, nvr)
        while not session.taskFinished(task):
            time.sleep(0.05)


def _wait_for_results(resultsdb: ResultsDBapi) -> list[dict[str, Any]]:
    deadline = time.monotonic() + RESULT_TIMEOUT
    found: dict[str, dict[str, Any]] = {}
    while time.monotonic() < deadline and len(found) < len(GATED_BUILDS):
        for nvr in GATED_BUILDS:
            data = resultsdb.get_results(item=nvr, testcases="dist.depcheck")["data"]
            if data:
                found[nvr] = data[0]
        time.sleep(0.2)
    return [found[nvr] for nvr in GATED_BUILDS if nvr in found]


def _results_table(results: list[dict[str, Any]]) -> Table:
    table = Table(title="ResultsDB: resultsdb_api, what Taskotron's depcheck said")
    table.add_column("item")
    table.add_column("testcase")
    table.add_column("outcome")
    table.add_column("note")
    for result in results:
        item = result["data"]["item"]
        item = item[0] if isinstance(item, list) else item
        colour = "green" if result["outcome"] == "PASSED" else "red"
        table.add_row(item, result["testcase"]["name"], f"[{colour}]{result['outcome']}[/]", result.get("note") or "")
    missing = [nvr for nvr in GATED_BUILDS if nvr not in {str(r["data"]["item"]) for r in results}]
    if len(results) < len(GATED_BUILDS):
        table.caption = f"no result yet for {', '.join(missing)}"
    return table


def _bus_table(datagrepper: str, prefix: str) -> Table:
    answer = requests.get(datagrepper + "raw", params={"rows_per_page": 15, "order": "desc"}, timeout=10).json()
    table = Table(title=f"The bus: datagrepper /raw, newest of {answer['total']} messages archived ({prefix}.*)")
    table.add_column("when")
    table.add_column("topic", no_wrap=True)
    table.add_column("about")
    for message in reversed(answer["raw_messages"]):
        topic = message["topic"].removeprefix(f"{prefix}.")
        when = time.strftime("%H:%M:%S", time.localtime(message["timestamp"]))
        table.add_row(when, topic, _about(topic, message["msg"]))
    return table


def _about(topic: str, body: dict[str, Any]) -> str:
    """One line saying what a message is about, for the bus table."""
    if topic.startswith("buildsys.") and "tag" in body:
        nvr = f"{body['name']}-{body['version']}-{body['release']}"
        return f"{nvr} {'left' if topic.endswith('untag') else 'into'} {body['tag']} (by {body.get('user')})"
    if "task" in body:
        return f"{body['task'].get('item')}: {body['task'].get('name')} {body.get('result', {}).get('outcome', '')}"
    data = body.get("data", {})
    item = data.get("item", "")
    item = item[0] if isinstance(item, list) and item else item
    testcase = body.get("testcase", {})
    return f"{item}: {testcase.get('name', '') if isinstance(testcase, dict) else testcase} {body.get('outcome', '')}"
