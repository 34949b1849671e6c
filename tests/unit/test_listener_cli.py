"""`relengotron listener`: a bad rule stops `run` naming the file, line, rule and reason; `status` shows what is
pending, the dead letters with their reasons and the publishers; `retry-dead-letter` and time arguments."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from listener_samples import envelope, koji_tag

from relengotron.cli import main
from relengotron.listener.cli import parse_when
from relengotron.listener.inbox import Inbox
from relengotron.listener.rules import Route, Routing
from relengotron.listener.validate import Rejected, Validator

RULES = """\
rules:
  - name: gate
    topics: ["*.buildsys.tag"]
    dag_id: rawhide_gating
    conf: {builds: ["{{ msg.name }}"]}
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    (tmp_path / "rules.yaml").write_text(RULES)
    path = tmp_path / "listener.yaml"
    path.write_text(
        "bus: {endpoints: ['tcp://127.0.0.1:9']}\n"
        "airflow: {url: 'http://127.0.0.1:9', username: admin, password_file: pw}\n"
        "inbox: {path: inbox.sqlite}\n"
        "rules: rules.yaml\n"
    )
    return path


def invoke(*args: str) -> click.testing.Result:
    return CliRunner().invoke(main, ["listener", *args], catch_exceptions=False)


def test_a_bad_rule_stops_run_before_anything_starts(config: Path) -> None:
    rules = config.parent / "rules.yaml"
    rules.write_text(RULES.replace("dag_id: rawhide_gating", "dag_id: 'rawhide gating'"))
    result = invoke("run", "--config", str(config))
    assert result.exit_code == 1
    assert f"bad rule: {rules}:4: rules.gate.dag_id: 'rawhide gating' is not a DAG id" in result.output
    assert not (config.parent / "inbox.sqlite").exists()


def test_run_without_a_password_says_where_it_looked(config: Path) -> None:
    result = invoke("run", "--config", str(config))
    assert result.exit_code == 1 and "airflow.password_file" in result.output and "pw" in result.output


def test_status_shows_pending_dead_letters_and_publishers(config: Path) -> None:
    assert "no inbox" in invoke("status", "--config", str(config)).output
    inbox = Inbox(config.parent / "inbox.sqlite")
    validator = Validator(max_body_bytes=4096)
    env = validator.envelope(envelope("buildsys.tag", koji_tag("t", "a-1-1"), i=41, username="kojihub"))
    inbox.store(
        env, Routing((Route("gate", "rawhide_gating", dag_run_id=f"gate__{env.msg_id}", conf={}),)), source="bus"
    )
    inbox.defer(inbox.next_unit().id, 1e12, "Airflow unreachable: ConnectionError")
    inbox.reject(Rejected("the envelope is not JSON (Expecting value)", b"{", topic="org.x.y"), source="bus")
    inbox.close()

    text = invoke("status", "--config", str(config)).output
    assert "pending messages: 1 (runs to trigger: 1, open batches: 0, retrying: 1)" in text
    assert f"waiting on: rawhide_gating gate__{env.msg_id} after 1 attempt(s):" in text
    assert "dead letters: 1" in text and "#1 invalid" in text and "the envelope is not JSON" in text
    assert "kojihub: i=41 at " in text and env.msg_id in text
    state = json.loads(invoke("status", "--config", str(config), "--json").output)
    assert state["pending_messages"] == 1 and state["dead_letters"][0]["topic"] == "org.x.y"

    assert invoke("retry-dead-letter", "--config", str(config)).exit_code == 2  # neither ids nor --all
    result = invoke("retry-dead-letter", "1", "--config", str(config))
    assert result.exit_code == 0 and "dead letter 1: still invalid: the envelope is not JSON" in result.output
    result = invoke("retry-dead-letter", "7", "--config", str(config))
    assert result.exit_code == 1 and "no dead letter 7" in result.output


def test_replay_needs_a_datagrepper(config: Path) -> None:
    result = invoke("replay", "--since", "2h", "--config", str(config))
    assert result.exit_code == 1 and "no datagrepper.url" in result.output


def test_times_given_as_iso_epoch_or_durations() -> None:
    now = 1_466_000_000.0
    assert parse_when("2016-06-15T14:13:20", now) == 1_466_000_000.0  # UTC unless it says otherwise
    assert parse_when("2016-06-15T16:13:20+02:00", now) == 1_466_000_000.0
    assert parse_when("1465999000", now) == 1_465_999_000.0
    assert [parse_when(d, now) for d in ("90s", "30m", "2h", "1.5d")] == [
        now - 90,
        now - 1800,
        now - 7200,
        now - 129600,
    ]
    with pytest.raises(click.BadParameter, match="duration like 2h"):
        parse_when("yesterday", now)


# --------------------------------------------------------------------------- route: what the rules make of a message

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def shipped(tmp_path: Path) -> Path:
    """A listener config with the shipped rules and release configuration."""
    path = tmp_path / "shipped.yaml"
    path.write_text(
        "bus: {endpoints: ['tcp://127.0.0.1:9']}\n"
        "airflow: {url: 'http://127.0.0.1:9', username: admin, password_file: pw}\n"
        "inbox: {path: inbox.sqlite}\n"
        f"rules: {REPO / 'config' / 'listener-rules.yaml'}\n"
        f"release_config: {REPO / 'config' / 'fedora.yaml'}\n"
    )
    return path


def route(config: Path, tmp_path: Path, message: object, *more: str) -> click.testing.Result:
    path = tmp_path / "message.json"
    path.write_text(message if isinstance(message, str) else json.dumps(message))
    return invoke("route", "--config", str(config), "--message", str(path), *more)


def test_route_says_which_rule_dag_run_id_and_conf_a_message_gets(shipped: Path, tmp_path: Path) -> None:
    body = {"agent": "bowlofeggs", "repo": "f24-updates", "ctype": "rpm", "updates": ["glibc-2.23.1-8.fc24"]}
    message = envelope("bodhi.compose.composing", body, msg_id="2016-1b2c3d4e")
    result = route(shipped, tmp_path, message)
    assert result.exit_code == 0, result.output
    assert "schema: ComposeComposingV1 (bodhi-messages " in result.output
    assert "rule bodhi-compose → updates_push: routed" in result.output
    assert "dag_run_id: bodhi-compose__2016-1b2c3d4e" in result.output
    assert '"updates": [\n      "glibc-2.23.1-8.fc24"\n    ]' in result.output
    assert result.output.rstrip().endswith("outcome: routed (1 route(s))")
    verdict = json.loads(route(shipped, tmp_path, message, "--json").output)
    assert verdict["outcome"] == "routed" and verdict["exit_code"] == 0
    (rule,) = verdict["rules"]
    assert rule["conf"] == {"push_id": "2016-1b2c3d4e", "repo": "f24-updates", "updates": body["updates"],
                            "agent": "bowlofeggs"}  # fmt: skip
    assert not (shipped.parent / "inbox.sqlite").exists()  # the inbox is not touched
    # a batch: the window it joins, and the conf if it held only this message
    tag = route(shipped, tmp_path, koji_tag("f24-signing-pending", "curl-7.47.1-5.fc24"), "--topic", "o.p.buildsys.tag")
    assert tag.exit_code == 0 and "rule autosign → autosign: routed" in tag.output
    assert (
        'joins the batch "f24-signing-pending" (a 30 s window' in tag.output
        and "dag_run_id: autosign__f24-" in tag.output
    )
    assert "rule rawhide-pending → rawhide_gating: not matched" in tag.output


def test_route_says_why_a_message_is_ignored_or_dropped(shipped: Path, tmp_path: Path) -> None:
    container = {"agent": "bowlofeggs", "repo": "f24-updates", "ctype": "container", "updates": ["a-1-1.fc24"]}
    result = route(shipped, tmp_path, container, "--topic", "org.fedoraproject.prod.bodhi.compose.composing")
    assert result.exit_code == 4, result.output
    assert (
        "rule bodhi-compose → updates_push: ignored:\n  a container compose: releng-o-tron pushes RPM" in result.output
    )
    assert "outcome: ignored on purpose" in result.output and "note: a bare body" in result.output

    candidate = koji_tag("f24-updates-candidate", "glibc-2.23.1-8.fc24")
    result = route(shipped, tmp_path, envelope("buildsys.tag", candidate))
    assert result.exit_code == 3, result.output
    assert "its `when: msg.tag | release_of_tag('signing_pending')` does not hold" in result.output
    assert "outcome: dropped (no rule wants it" in result.output
    from listener_samples import resultsdb_result

    failed = resultsdb_result("glibc-2.24-1.fc26", "dist.depcheck", "FAILED")
    result = route(shipped, tmp_path, envelope("resultsdb.result.new", failed))
    assert result.exit_code == 3
    assert 'its filter `outcome: ["PASSED", "INFO"]` refuses the body (found: "FAILED")' in result.output
    result = route(shipped, tmp_path, envelope("fas.user.update", {"agent": "ralph"}))
    assert result.exit_code == 3 and "rules: none listens to this topic" in result.output


def test_route_says_why_a_message_would_be_dead_lettered(shipped: Path, tmp_path: Path) -> None:
    refused = envelope("bodhi.compose.composing", {"agent": "bowlofeggs", "updates": ["a-1-1.fc24"]})
    result = route(shipped, tmp_path, refused)
    assert result.exit_code == 5, result.output
    assert "problem: ComposeComposingV1 (bodhi-messages " in result.output
    assert "'repo' is a required property" in result.output and "outcome: dead-lettered" in result.output
    bad_id = envelope("buildsys.tag", koji_tag("rawhide-pending", "a-1-1.fc26"), msg_id="../../etc/passwd")
    result = route(shipped, tmp_path, bad_id)
    assert result.exit_code == 5 and "invalid: field 'msg_id' is not an id" in result.output
    result = route(shipped, tmp_path, "{not json")
    assert result.exit_code == 5 and "the file is not JSON" in result.output
    # a bare body without its topic is a usage mistake, not a verdict
    result = route(shipped, tmp_path, {"agent": "x", "repo": "f24-updates"})
    assert result.exit_code == 1 and "for a bare body give --topic" in result.output
