"""The demo's pure parts: the embedded Airflow's environment, the listener's config, the progress rows, the
summary's verdict, which DAGs are unpaused — and the process record that ``demo-stop`` relies on."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from relengotron_sandbox import testing
from relengotron_sandbox.demo import processes, progress, summary
from relengotron_sandbox.demo.airflow_embed import LISTENER_USER, airflow_env
from relengotron_sandbox.demo.listener_embed import listener_config, write_files
from relengotron_sandbox.demo.run import Layout, Stack, unpaused, way_in
from relengotron_sandbox.demo.scenario import CURL, DOCKER, EXPECTED, GLIBC, SUDO

ENDPOINTS: dict[str, Any] = {
    "koji": {"hub": "http://127.0.0.1:1/kojihub", "topurl": "http://127.0.0.1:1/kojifiles"},
    "pdc": {"url": "http://127.0.0.1:2/rest_api/v1/"},
    "resultsdb": {"url": "http://127.0.0.1:3/api/v2.0/"},
    "bugzilla": {"url": "http://127.0.0.1:4/rest/"},
    "bodhi": {
        "url": "http://127.0.0.1:6/",
        "id_provider": "http://127.0.0.1:7/openidc",
        "client_id": "bodhi-client",
        "oidc_storage": "/state/bodhi/client.json",
        "user": "releng",
    },
    "bus": {
        "fedmsg_config": "/state/bus/fedmsg.d/sandbox.py",
        "datagrepper": "http://127.0.0.1:5/",
        "topic_prefix": "org.fedoraproject",
        "environment": "dev",
    },
    "signing": {"gnupghome": "/cache/gnupg"},
    "releng": {"config": "/state/releng.yaml"},
}


def test_airflow_runs_on_loopback_with_the_repos_dags_and_the_sandbox_connections(tmp_path: Path) -> None:
    base = {"PATH": "/usr/bin:/bin", "HOME": "/root", "AIRFLOW__CORE__DAGS_FOLDER": "/elsewhere"}
    env = airflow_env(tmp_path / "home", Path("/repo"), 8793, ENDPOINTS, base=base, jwt_secret="s", venv_bin=Path("/v"))
    assert env["PATH"] == "/v:/usr/bin:/bin"  # the components spawn `airflow`: the venv's comes first
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == "/repo/dags" and env["AIRFLOW__CORE__PLUGINS_FOLDER"] == "/repo/plugins"
    assert env["AIRFLOW_HOME"] == str(tmp_path / "home")
    assert (env["AIRFLOW__API__HOST"], env["AIRFLOW__API__PORT"]) == ("127.0.0.1", "8793")
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:8793/execution/"
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False" and env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert f"{LISTENER_USER}:user" in env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"]
    assert env["AIRFLOW_VAR_RELENGOTRON_CONFIG"] == "/state/releng.yaml"
    assert '"http://127.0.0.1:1/kojihub"' in env["AIRFLOW_CONN_KOJI_DEFAULT"]
    assert '"id_provider": "http://127.0.0.1:7/openidc"' in env["AIRFLOW_CONN_BODHI_DEFAULT"]
    assert env["HOME"] == "/root"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == f"sqlite:///{tmp_path / 'home' / 'airflow.db'}"


def test_the_embedded_airflows_sqlite_database_is_put_in_wal_mode(tmp_path: Path) -> None:
    import sqlite3

    from relengotron_sandbox.demo.airflow_local import use_wal

    path = tmp_path / "airflow.db"
    sqlite3.connect(path).close()
    assert use_wal(f"sqlite:///{path}") is True and use_wal(f"sqlite:///{path}") is True  # idempotent
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # kept by the file
    assert use_wal("postgresql+psycopg2://airflow@127.0.0.1/airflow") is False


def test_the_dashboard_finds_the_demo_listener_through_listener_default(tmp_path: Path) -> None:
    """The demo chooses the listener's port before Airflow starts: the api-server's listener_default (as Airflow
    reads an AIRFLOW_CONN_ JSON) is where the listener's config makes it listen."""
    from airflow.models.connection import Connection

    from relengotron.dashboard.listener import base_url

    url = "http://127.0.0.1:8799"
    env = airflow_env(tmp_path / "home", Path("/repo"), 8793, ENDPOINTS, base={}, jwt_secret="s", listener_url=url)
    found = Connection.from_json(env["AIRFLOW_CONN_LISTENER_DEFAULT"], conn_id="listener_default")
    config = listener_config(ENDPOINTS, "http://127.0.0.1:8793", LISTENER_USER, password_file="pw",
                             rules_file="rules.yaml", http_port=8799)  # fmt: skip
    assert base_url(found.host, schema=found.schema, port=found.port) == url
    assert f"http://{config['http']['host']}:{config['http']['port']}" == url
    assert "AIRFLOW_CONN_LISTENER_DEFAULT" not in airflow_env(
        tmp_path / "home", Path("/repo"), 8793, ENDPOINTS, base={}, jwt_secret="s"
    )  # no listener: no connection (the dashboard says "not configured")


def test_the_listener_listens_to_the_sandbox_bus_and_triggers_as_its_own_user(tmp_path: Path) -> None:
    config = listener_config(
        ENDPOINTS, "http://127.0.0.1:8793", LISTENER_USER, password_file="pw", rules_file="rules.yaml"
    )
    assert config["bus"]["fedmsg_config"] == "/state/bus/fedmsg.d/sandbox.py"
    assert config["datagrepper"]["url"] == "http://127.0.0.1:5/"
    assert config["airflow"] == {
        "url": "http://127.0.0.1:8793",
        "username": LISTENER_USER,
        "password_file": "pw",
        "timeout_seconds": 30,
        "retry": {"initial_seconds": 0.5, "max_seconds": 5},
    }
    assert config["http"] == {"host": "127.0.0.1", "port": 0}
    assert config["release_config"] == "/state/releng.yaml"  # the sandbox's releases, for the rules' helpers


def test_the_written_files_load_and_the_password_is_private(tmp_path: Path) -> None:
    from relengotron.listener.config import load_config
    from relengotron.messaging import write_fedmsg_config

    fedmsg = write_fedmsg_config(
        tmp_path / "fedmsg.py", {"endpoints": {"relay": ["tcp://127.0.0.1:9940"]}, "relay_inbound": ["tcp://x:1"]}
    )
    endpoints = {
        **ENDPOINTS,
        "bus": {**ENDPOINTS["bus"], "fedmsg_config": str(fedmsg)},
        "releng": {"config": str(testing.REPO / "config" / "fedora.yaml")},  # the rules' release helpers read it
    }
    path = write_files(tmp_path / "listener", endpoints, "http://127.0.0.1:8793", LISTENER_USER, "s3cret")
    config = load_config(path)
    assert config.endpoints == ("tcp://127.0.0.1:9940",)
    assert config.airflow.password() == "s3cret"
    assert (tmp_path / "listener" / "airflow.password").stat().st_mode & 0o777 == 0o600
    assert config.rules_path == tmp_path / "listener" / "rules.yaml"
    assert "s3cret" not in path.read_text()
    assert config.load_rules().releases is not None  # the release helpers read the sandbox's configuration
    from relengotron_sandbox.demo.listener_embed import dag_ids

    assert dag_ids(config.rules_path) == ["autosign", "masher_start", "rawhide_gating", "updates_push"]


def test_on_the_amqp_bus_the_listener_and_the_dags_use_the_sandbox_s_rabbitmq(tmp_path: Path) -> None:
    """``make demo BUS=amqp``: the listener consumes a durable queue of its own on the sandbox's broker (its
    password in a private file, never in the config) and the DAGs' bus connection publishes with fedora-messaging."""
    from relengotron.listener.config import load_config
    from relengotron_sandbox.connections import airflow_connections

    url = "amqp://relengotron-sandbox:p%40ss@127.0.0.1:5672/%2Fpubsub"
    endpoints = {
        **ENDPOINTS,
        "bus": {**ENDPOINTS["bus"], "amqp_url": url, "fedora_messaging_config": "/state/bus/fedora-messaging.toml"},
        "releng": {"config": str(testing.REPO / "config" / "fedora.yaml")},
    }
    path = write_files(tmp_path / "listener", endpoints, "http://127.0.0.1:8793", LISTENER_USER, "s3cret",
                       transport="amqp")  # fmt: skip
    config = load_config(path)
    assert config.transport == "amqp" and config.amqp is not None
    assert config.amqp.url == "amqp://relengotron-sandbox@127.0.0.1:5672/%2Fpubsub"
    assert config.amqp.queue == "relengotron-demo-listener" and config.amqp.password() == "p@ss"
    assert (tmp_path / "listener" / "amqp-password").stat().st_mode & 0o777 == 0o600
    assert "p%40ss" not in path.read_text() and "p@ss" not in path.read_text()
    bus = airflow_connections(endpoints, transport="amqp")["bus_default"]["extra"]
    assert bus == {"transport": "amqp", "config": "/state/bus/fedora-messaging.toml"}
    assert airflow_connections(endpoints)["bus_default"]["extra"]["transport"] == "fedmsg"  # the default
    with pytest.raises(ValueError, match="the sandbox runs no broker"):
        airflow_connections(ENDPOINTS, transport="amqp")


def test_progress_rows_count_each_runs_tasks_and_say_what_it_is_about() -> None:
    runs = [
        {
            "dag_id": "updates_push",
            "dag_run_id": "bodhi-compose__2016-1",
            "state": "running",
            "start_date": "2016-06-14T10:00:00Z",
            "end_date": None,
            "conf": {"push_id": "2016-1", "repo": "f24-updates", "updates": ["glibc-2.23.1-8.fc24"], "agent": "x"},
        },
        {"dag_id": "autosign", "dag_run_id": "a", "state": "queued", "conf": {"release": "f23", "builds": []}},
    ]
    tis = [
        {"dag_id": "updates_push", "dag_run_id": "bodhi-compose__2016-1", "state": state}
        for state in ("success", "skipped", "upstream_failed", "running", None)
    ]
    now = datetime(2016, 6, 14, 10, 1, 30, tzinfo=UTC)
    push, sign = progress.run_rows(runs, tis, now)
    assert (push.about, push.done, push.total, push.state, push.seconds) == ("f24-updates: glibc", 3, 5, "running", 90)
    assert (sign.about, sign.done, sign.total, sign.seconds) == ("f23: every build waiting", 0, 0, None)
    assert not progress.all_finished([push, sign])
    assert progress.describe("rawhide_gating", {"builds": ["etcd-3.0.15-1.fc26"]}) == "rawhide: etcd-3.0.15-1.fc26"
    titles = ["docker-1.10.3-26.fc24", "curl-7.47.1-6.fc24 libcurl-7.47.1-6.fc24"]
    assert progress.describe("masher_start", {"updates": titles}) == "Bodhi 2 push: docker, curl, libcurl"
    assert progress.describe("updates_push", {"repo": "f23-updates", "updates": "garbage"}) == "f23-updates: -"


def test_bodhis_side_of_a_push_is_told_in_one_line_a_message() -> None:
    line = progress.bus_line
    assert line("bodhi.compose.start", {"agent": "releng"}) == "bodhi: compose.start (agent releng)"
    composing = {"repo": "f24-updates", "updates": ["glibc-2.23.1-8.fc24", "curl-7.47.1-5.fc24"], "ctype": "rpm"}
    assert line("bodhi.compose.composing", composing) == (
        "bodhi: compose.composing f24-updates: glibc-2.23.1-8.fc24, curl-7.47.1-5.fc24"
    )
    masher = {"updates": ["docker-1.10.3-26.fc24"], "resume": False}
    assert line("bodhi.masher.start", masher) == "bodhi: masher.start (Bodhi 2): docker-1.10.3-26.fc24"
    held = {"repo": "f24-updates", "status": "held-back", "artifacts": {"held_back": [{"label": "AMI"}]}}
    assert (
        line("relengotron.push.complete", held) == "releng-o-tron: push.complete f24-updates: held-back; held back: AMI"
    )
    done = {"update": {"alias": "FEDORA-2016-1d1d97e08f", "title": "glibc-2.23.1-8.fc24"}}
    assert line("bodhi.update.complete.stable", done) == (
        "bodhi: FEDORA-2016-1d1d97e08f (glibc-2.23.1-8.fc24) pushed to stable"
    )
    assert line("bodhi.compose.complete", {"repo": "f23-updates", "success": False}) == (
        "bodhi: compose.complete f23-updates: FAILED"
    )
    assert line("buildsys.tag", {"tag": "f24"}) is None and line("bodhi.update.comment", {}) is None


def facts(**changes: Any) -> summary.Facts:
    """The end state the scenario must reach, as messages and reads; ``changes`` spoil it."""
    p = "org.fedoraproject.dev.relengotron."

    def gated(outcome: str, nvrs: tuple[str, ...], tag: str) -> dict[str, Any]:
        builds = [{"nvr": nvr, "to_tag": tag} for nvr in nvrs]
        return {"topic": f"{p}rawhide.gating.{outcome}", "msg": {"outcome": outcome, "builds": builds}}

    held_back = [{"label": label, "reason": "its tests failed"} for label in EXPECTED.held_back]
    held = {
        "release": "f24",
        "request": "stable",
        "status": "held-back",
        "run_id": "bodhi2-masher__2016-9__f24-updates",
        "push_id": "f24-stable-1",
        "updates": [{"alias": "FEDORA-2016-1", "builds": ["docker-1.10.3-26.fc24"]}],
        "artifacts": {"released": ["fedora/24/x86_64/atomic-host"], "unchanged": [], "held_back": held_back},
    }
    composed = [
        {"topic": f"{p}artifact.composed", "msg": {"label": label, "item": item}}
        for label, item in (
            ("fedora/24/x86_64/atomic-host", "atomic-host-24-x86_64"),
            ("Fedora-Cloud-Base-24.x86_64.raw.xz", "cloud-base-ami-24-x86_64"),
        )
    ]
    messages = [
        gated("promoted", EXPECTED.promoted, "rawhide"),
        gated("quarantined", EXPECTED.quarantined, "rawhide-badnewsbears"),
        *({"topic": f"{p}f24.autosign.signed", "msg": {"nvr": n, "to_tag": t}} for n, t in EXPECTED.signed.items()),
        *composed,
        {"topic": f"{p}push.complete", "msg": held},
    ]
    tags = {nvr: [tag] for nvr, tag in EXPECTED.signed.items()}
    runs = [
        {"dag_id": "masher_start", "dag_run_id": "bodhi2-masher__2016-9", "state": "success", "conf": {}},
        {"dag_id": "updates_push", "dag_run_id": "bodhi2-masher__2016-9__f24-updates", "state": "failed"},
    ]
    found = summary.Facts(messages=messages, runs=runs, tags=tags, on_mirror={"fedora/24/x86_64/atomic-host": True})
    found.labels = {m["msg"]["label"]: m["msg"]["item"] for m in composed}
    found.tests = {"cloud-base-ami-24-x86_64": {"compose.cloud.boot": "FAILED"}}
    found.updates = {alias: bodhi_update(alias) for alias in EXPECTED.pushed}
    found.bugs = {bug: ("CLOSED", "ERRATA") for bug in EXPECTED.bugs_closed}
    for key, value in changes.items():
        setattr(found, key, value)
    return found


def bodhi_update(alias: str) -> dict[str, Any]:
    """An update as the sandbox Bodhi shows it once it has finished pushing it to stable."""
    held = EXPECTED.held_back_in.get(alias, ())
    text = "This update has been pushed to stable."
    if held:
        text += f"\n\nHeld back (not released with this push): {held[0]} (its tests failed)."
    return {
        "alias": alias,
        "status": "stable",
        "pushed": True,
        "request": None,
        "builds": [{"nvr": f"{alias.lower()}-1-1.fc24"}],
        "bugs": [{"bug_id": bug} for bug, owner in EXPECTED.bugs_closed.items() if owner == alias],
        "comments": [
            {"user": {"name": "bodhi"}, "text": "This update has been submitted for stable by x. "},
            {"user": {"name": "bodhi"}, "text": text},
        ],
    }


def test_the_verdict_is_empty_when_the_end_state_is_as_designed() -> None:
    assert summary.problems(facts(), EXPECTED) == []


@pytest.mark.parametrize(
    ("spoil", "says"),
    [
        (lambda f: f.messages.pop(0), "coreutils-8.25-15.fc26 was not promoted (got nothing)"),
        (lambda f: f.messages.pop(1), "python3-requests-2.12.1-1.fc26 was not quarantined"),
        (lambda f: f.tags.update({"curl-7.43.0-8.fc23": ["f23-signing-pending"]}), "curl-7.43.0-8.fc23 was not signed"),
        (lambda f: f.messages.pop(), "Fedora-Cloud-Base-24.x86_64.raw.xz was not held back"),
        (lambda f: f.on_mirror.update({"fedora/23/x86_64/atomic-host": False}), "not on the master mirror"),
        (lambda f: setattr(f, "dead_letters", 2), "dead-lettered 2"),
        (lambda f: f.runs.append({"dag_id": "rawhide_gating", "dag_run_id": "r1", "state": "failed"}), "r1 failed"),
        (lambda f: f.updates.pop(GLIBC.alias), f"Bodhi does not show the update {GLIBC.alias}"),
        (lambda f: f.updates[DOCKER.alias].update(request="stable"), f"{DOCKER.alias} was not finished by Bodhi"),
        (lambda f: f.updates[CURL.alias].update(comments=[]), f"Bodhi posted no comment on {CURL.alias}"),
        (
            lambda f: f.updates[GLIBC.alias]["comments"][-1].update(text="This update has been pushed to stable."),
            f"Bodhi's comment on {GLIBC.alias} does not name Fedora-Cloud-Base-24.x86_64.raw.xz",
        ),
        (
            lambda f: f.updates[SUDO.alias]["comments"][-1].update(
                text="This update has been pushed to stable. Held back"
            ),
            f"Bodhi's comment on {SUDO.alias} says something was held back",
        ),
        (lambda f: f.bugs.update({1300103: ("MODIFIED", "")}), "bug 1300103 of FEDORA-2016-110e4b3ae2 is MODIFIED"),
        (lambda f: f.updates[DOCKER.alias].update(bugs=[]), "bug 1300103 is not a bug of FEDORA-2016-110e4b3ae2"),
    ],
)
def test_the_verdict_names_what_differs(spoil: Any, says: str) -> None:
    spoilt = facts()
    spoil(spoilt)
    assert any(says in problem for problem in summary.problems(spoilt, EXPECTED))


def test_tables_render_from_the_facts() -> None:
    from rich.console import Console

    console = Console(width=200, record=True)
    for table in summary.tables(facts()):
        console.print(table)
    text = console.export_text()
    assert "python3-requests-2.12.1-1.fc26" in text and "quarantined" in text
    assert "relengotron.push.complete" in text
    assert "atomic-host ✓" in text and "cloud-base-ami: its tests failed" in text  # synced, held back
    assert "docker-1.10.3-26.fc24" in text and "compose.cloud.boot FAILED" in text
    assert "Bodhi 2: masher_start" in text and "bodhi2-masher__2016-9" in text  # how the push was announced
    assert "1300103 CLOSED ERRATA" in text and f"{GLIBC.alias}" in text and "Held back" in text  # Bodhi's view


def test_listener_dags_and_manual_dags_are_unpaused_scheduled_ones_are_not() -> None:
    dags = {
        "updates_push": {"timetable_summary": None},
        "eol": {"timetable_summary": None},
        "ostree_maintenance": {"timetable_summary": "@daily"},
    }
    assert unpaused(["updates_push", "autosign"], dags) == ["autosign", "eol", "updates_push"]


def test_demo_stop_stops_a_recorded_session_and_never_a_stranger(tmp_path: Path) -> None:
    script = "import subprocess, time; subprocess.Popen(['sleep', '60']); time.sleep(60)"
    started = testing.start(
        "sleeper", [sys.executable, "-c", script], env={"PATH": "/usr/bin:/bin"}, log=tmp_path / "s.log",
        cwd=tmp_path, marker="subprocess.Popen(['sleep'",
    )  # fmt: skip
    stranger = subprocess.Popen(["sleep", "60"])
    try:
        processes.record(tmp_path, [started])
        [recorded] = processes.read_record(tmp_path)
        assert recorded.record() == started.record()
        testing.wait_for("it and its child", lambda: len(testing.session_processes(recorded.pid)) == 2, 10)
        assert recorded.ours()
        imposter = testing.Process("sleeper", stranger.pid, Path(), "subprocess.Popen(['sleep'")
        assert processes.stop(imposter) is False and stranger.poll() is None  # a pid that is not ours
        assert processes.stop(recorded) is True
        assert testing.session_processes(recorded.pid) == [] and not recorded.ours()
        assert processes.stop(recorded) is False  # idempotent
    finally:
        stranger.kill()
        stranger.wait()


def test_the_embedded_airflow_retries_at_demo_pace_and_only_tasks_that_retry(tmp_path: Path) -> None:
    from datetime import timedelta
    from types import SimpleNamespace

    from relengotron_sandbox.demo.airflow_embed import DEMO_MAX_RETRY_DELAY, DEMO_RETRY_DELAY, write_local_settings

    path = write_local_settings(tmp_path)
    assert path == tmp_path / "config" / "airflow_local_settings.py"  # on sys.path of every Airflow component
    namespace: dict[str, Any] = {}
    exec(compile(path.read_text(), str(path), "exec"), namespace)

    def task(task_type: str, retries: int) -> SimpleNamespace:
        found = SimpleNamespace(task_type=task_type, retries=retries, retry_delay=timedelta(seconds=30))
        namespace["task_policy"](found)
        return found

    retrying = task("MashOperator", 4)
    assert (retrying.retries, retrying.retry_delay) == (4, timedelta(seconds=DEMO_RETRY_DELAY))
    assert retrying.max_retry_delay == timedelta(seconds=DEMO_MAX_RETRY_DELAY)
    once = task("PushCheckOperator", 0)  # a task that must not retry is left alone
    assert (once.retries, once.retry_delay) == (0, timedelta(seconds=30))
    sensor = task("TaskotronResultSensor", 0)  # survives apache/airflow#72716 (its verdicts never retry)
    assert (sensor.retries, sensor.retry_delay) == (2, timedelta(seconds=DEMO_RETRY_DELAY))


def test_the_demo_gives_up_when_nothing_moves_or_time_is_up(tmp_path: Path) -> None:
    from relengotron_sandbox.demo import run

    log = tmp_path / "listener.log"
    log.write_text('{"event": "dispatcher step failed"}\n')
    watch = run._Watch(timeout=1000, listener_log=log)
    watch.check(0, ("a", 1), "")
    watch.check(run.STALL - 1, ("a", 1), "")  # nothing moved, not for long enough yet
    watch.check(run.STALL + 10, ("b", 0), "")  # something moved: the clock starts again
    with pytest.raises(run.DemoError, match=r"nothing moved(.|\n)*dispatcher step failed"):
        watch.check(2 * run.STALL + 11, ("b", 0), "runs unfinished: x")
    with pytest.raises(run.DemoError, match="did not finish within 5 s; acts waiting"):
        run._Watch(timeout=5, listener_log=log).check(6, ("c",), "acts waiting: Push")
    status = run._status(12, {"pending": 3, "problems": ["not subscribed"], "airflow_error": "HTTP 503"})
    assert status == "12 s; listener: 3 message(s) not yet turned into runs; listener says: not subscribed; HTTP 503"


def test_the_demo_wipes_only_a_directory_it_made(tmp_path: Path) -> None:
    from relengotron_sandbox.demo import run

    layout = run.Layout(tmp_path / "demo")
    assert layout.strangers() == []  # not there yet
    for name in ("sandbox", "airflow", "logs"):
        (layout.root / name).mkdir(parents=True)
    (layout.root / "demo.json").write_text("{}")
    (layout.root / ".processes.json.tmp1").write_text("")  # an atomic write interrupted
    assert layout.strangers() == []
    (layout.root / "thesis.tex").write_text("years of work")
    assert layout.strangers() == ["thesis.tex"]
    with pytest.raises(run.DemoError, match="not a demo's state directory"):
        run.start(layout.root, console=None)  # type: ignore[arg-type]
    assert (layout.root / "thesis.tex").read_text() == "years of work"


def test_the_demo_ends_with_the_dashboards_address_beside_the_airflow_uis(tmp_path: Path) -> None:
    from rich.console import Console

    endpoints = {**ENDPOINTS, "bus": {**ENDPOINTS["bus"], "datagrepper": "http://127.0.0.1:5/"}}
    stopped = testing.Process("x", 0, tmp_path / "x.log")
    stack = Stack(
        Layout(tmp_path),
        endpoints,
        "http://127.0.0.1:8793",
        {"admin": "pw"},
        "http://127.0.0.1:9",
        tmp_path / "l.yaml",
        stopped,
        stopped,
    )
    console = Console(width=300, record=True)
    way_in(stack, console)
    lines = console.export_text().splitlines()
    [ui] = [i for i, line in enumerate(lines) if line.startswith("Airflow UI: http://127.0.0.1:8793 ")]
    [dashboard] = [i for i, line in enumerate(lines) if line.startswith("Release dashboard: ")]
    assert lines[dashboard].startswith("Release dashboard: http://127.0.0.1:8793/releng/ ")
    assert "http://127.0.0.1:8793/plugin/release-engineering" in lines[dashboard]
    assert ui < dashboard <= ui + 2  # beside it
