"""The shipped routes (config/listener-rules.yaml, with config/fedora.yaml) on messages in the real shapes of
Bodhi, Koji and ResultsDB: which DAG each one triggers, with which conf — every conf passes that DAG's Params, as
Airflow will check — and which messages are deliberately ignored, and why."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any

import pytest
from listener_samples import (
    bodhi_message,
    bodhi_update,
    compose_composing,
    envelope,
    koji_tag,
    masher_start,
    resultsdb_result,
    taskotron_result,
)

from relengotron.artifacts import load_release_config
from relengotron.listener.rules import MessageView, Route, Routing, RuleSet, load_rules

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "config" / "listener-rules.yaml"
WINDOW = (1466000000.0, 1466000300.0)  # 2016-06-15 14:13:20 UTC, five minutes


@pytest.fixture(scope="module")
def rules() -> RuleSet:
    return load_rules(RULES, load_release_config(REPO / "config" / "fedora.yaml"))


@pytest.fixture(scope="module")
def dags() -> dict[str, Any]:
    from airflow.models import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags"), safe_mode=False)
    assert bag.import_errors == {}
    return bag.dags


def routing(rules: RuleSet, topic: str, body: dict, msg_id: str | None = None) -> Routing:
    message = envelope(topic, body, msg_id=msg_id)
    return rules.route(MessageView(message["topic"], body, message["msg_id"], message["timestamp"], "apache"))


def route(rules: RuleSet, topic: str, body: dict, msg_id: str | None = None) -> tuple[Route, ...]:
    found = routing(rules, topic, body, msg_id)
    assert found.problems == () and found.ignored == ()
    return found.routes


def ignored(rules: RuleSet, topic: str, body: dict, msg_id: str | None = None) -> str:
    """The reason the one rule that wants this message ignores it (nothing routed, nothing dead-lettered)."""
    found = routing(rules, topic, body, msg_id)
    assert found.routes == () and found.problems == (), found
    (one,) = found.ignored
    return one.reason


def conf_of(rules: RuleSet, one: Route, more_items: list[Any] = ()) -> dict[str, Any]:
    if one.batch_key is None:
        assert one.conf is not None
        return one.conf
    return rules.batch_conf(one.rule, one.batch_key, [one.item, *more_items], *WINDOW)


def assert_params_accept(dags: dict[str, Any], dag_id: str, conf: dict[str, Any]) -> None:
    """What Airflow does on POST /dagRuns: the DAG's Params, updated with the conf, must validate."""
    params = copy.deepcopy(dags[dag_id].params)
    params.update(conf)
    params.validate()


def test_a_bodhi_compose_becomes_one_updates_push_run_named_by_its_message(rules, dags) -> None:
    body = compose_composing(
        "f24-updates-testing", [["glibc-2.23.1-8.fc24"], ["curl-7.47.1-6.fc24", "libcurl-7.47.1-6.fc24"]]
    )
    (one,) = route(rules, "bodhi.compose.composing", body, msg_id="2016-1b2c3d4e")
    assert (one.rule, one.dag_id, one.dag_run_id) == ("bodhi-compose", "updates_push", "bodhi-compose__2016-1b2c3d4e")
    assert one.conf == {
        "push_id": "2016-1b2c3d4e",
        "repo": "f24-updates-testing",
        "updates": ["glibc-2.23.1-8.fc24", "curl-7.47.1-6.fc24 libcurl-7.47.1-6.fc24"],
        "agent": "bowlofeggs",
    }
    assert_params_accept(dags, "updates_push", one.conf)
    # the same message again (a replay) is the same run: Airflow answers 409
    assert route(rules, "bodhi.compose.composing", body, msg_id="2016-1b2c3d4e") == (one,)
    # a stable compose of another release; and Bodhi before content types (no ctype) is pushed too
    stable = compose_composing("f25-updates", [["vim-7.4.1842-1.fc25"]], ctype=None)
    (two,) = route(rules, "bodhi.compose.composing", stable)
    assert two.conf["repo"] == "f25-updates" and two.conf["updates"] == ["vim-7.4.1842-1.fc25"]
    assert_params_accept(dags, "updates_push", two.conf)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"ctype": "container"}, "a container compose: releng-o-tron pushes RPM composes only"),
        ({"ctype": "flatpak"}, "a flatpak compose"),
        ({"ctype": "module"}, "a module compose"),
        ({"repo": "epel7-testing"}, "epel7-testing is not the testing or stable tag of a release"),
        ({"repo": "f24-updates-candidate"}, "f24-updates-candidate is not the testing or stable tag"),
        ({"repo": "f99-updates"}, "f99-updates is not the testing or stable tag"),
        (
            {"updates": ...},
            "it names no updates as Bodhi's composer does (a list of NVRs joined by single spaces): \"no",
        ),
        ({"updates": []}, "it names no updates"),
        ({"updates": "glibc-2.23.1-8.fc24"}, 'joined by single spaces): "glibc-2.23.1-8.fc24"'),
        ({"updates": ["glibc-2.23.1-8.fc24", "updates/glibc"]}, '["glibc-2.23.1-8.fc24", "updates/glibc"]'),
        ({"updates": ["glibc-2.23.1-8.fc24  nscd-2.23.1-8.fc24"]}, "it names no updates"),  # two spaces
        ({"updates": [{"nvr": "glibc-2.23.1-8.fc24"}]}, "it names no updates"),
    ],
)
def test_composes_releng_o_tron_cannot_push_are_ignored_saying_why(rules, dags, change, reason) -> None:
    body = compose_composing("f24-updates", [["glibc-2.23.1-8.fc24"]])
    body = {k: v for k, v in {**body, **change}.items() if v is not ...}
    assert reason in ignored(rules, "bodhi.compose.composing", body)


def test_a_compose_whose_message_id_cannot_be_a_push_id_is_ignored(rules) -> None:
    body = compose_composing("f24-updates", [["glibc-2.23.1-8.fc24"]])
    reason = ignored(rules, "bodhi.compose.composing", body, msg_id="2016~1b2c")
    assert reason == "its message id 2016~1b2c cannot be a push id"


def test_a_compose_bodhis_schema_refuses_is_dead_lettered_with_the_schemas_reason(rules) -> None:
    found = routing(rules, "bodhi.compose.composing", {"agent": "bowlofeggs", "updates": ["a-1-1.fc24"]})
    assert found.routes == () and found.ignored == ()
    (problem,) = found.problems
    assert problem.startswith("ComposeComposingV1 (bodhi-messages ") and "'repo' is a required property" in problem


def test_bodhi2_masher_start_becomes_one_masher_start_run(rules, dags) -> None:
    body = masher_start(["glibc-2.23.1-8.fc24 nscd-2.23.1-8.fc24", "vim-7.4.1842-1.fc25"])
    (one,) = route(rules, "bodhi.masher.start", body, msg_id="2016-5e6f")
    assert (one.rule, one.dag_id, one.dag_run_id) == ("bodhi2-masher", "masher_start", "bodhi2-masher__2016-5e6f")
    assert one.conf == {
        "push_id": "2016-5e6f",
        "updates": ["glibc-2.23.1-8.fc24 nscd-2.23.1-8.fc24", "vim-7.4.1842-1.fc25"],
        "resume": False,
        "agent": "bowlofeggs",
    }
    assert_params_accept(dags, "masher_start", one.conf)
    (bare,) = route(rules, "bodhi.masher.start", {"updates": ["vim-7.4.1842-1.fc25"], "resume": None})
    assert (bare.conf["resume"], bare.conf["agent"]) == (False, None)
    assert_params_accept(dags, "masher_start", bare.conf)
    resumed = route(rules, "bodhi.masher.start", {**body, "resume": True})[0]
    assert resumed.conf["resume"] is True
    assert "names no updates by title" in ignored(rules, "bodhi.masher.start", masher_start([]))
    assert "names no updates by title" in ignored(rules, "bodhi.masher.start", masher_start(["not a title"]))
    (problem,) = routing(rules, "bodhi.masher.start", {"updates": "vim-7.4.1842-1.fc25"}).problems
    assert problem == "field 'updates' must be a list, not a string"


def test_update_requests_and_completions_start_nothing(rules) -> None:
    """A request is not a push (Bodhi names its pushes with compose.composing), and update.complete.stable comes
    after releng-o-tron's own push: refreshing on it would send Bodhi a second push.complete."""
    ostree = bodhi_update("FEDORA-2016-0ff1ce", ["ostree-2016.7-1.fc24"])
    for topic in ("bodhi.update.request.stable", "bodhi.update.request.testing", "bodhi.update.complete.stable"):
        found = routing(rules, topic, bodhi_message(ostree))
        assert found == Routing(), topic
    assert routing(rules, "fas.user.update", {"agent": "ralph", "fields": ["ircnick"]}) == Routing()


def test_a_build_tagged_into_rawhide_pending_is_gated_on_its_own(rules, dags) -> None:
    (one,) = route(rules, "buildsys.tag", koji_tag("rawhide-pending", "glibc-2.24-1.fc26"))
    assert (one.rule, one.dag_id) == ("rawhide-pending", "rawhide_gating")
    assert one.dag_run_id.startswith("rawhide-pending__2016-")
    assert one.conf == {"release": "rawhide", "builds": ["glibc-2.24-1.fc26"]}
    assert_params_accept(dags, "rawhide_gating", one.conf)
    assert route(rules, "buildsys.tag", koji_tag("rawhide", "glibc-2.24-1.fc26")) == ()
    assert route(rules, "buildsys.untag", koji_tag("rawhide-pending", "glibc-2.24-1.fc26")) == ()
    # Koji's schema lets a tag event lack its build's version: no build to gate, said so
    no_version = {k: v for k, v in koji_tag("rawhide-pending", "glibc-2.24-1.fc26").items() if k != "version"}
    assert ignored(rules, "buildsys.tag", no_version) == "glibc-?-1.fc26 is not an N-V-R the DAG takes"
    spaced = koji_tag("rawhide-pending", "glibc-2.24-1.fc26") | {"name": "gl ibc"}
    assert ignored(rules, "buildsys.tag", spaced) == "gl ibc-2.24-1.fc26 is not an N-V-R the DAG takes"


def test_passing_results_of_rawhide_builds_gate_them_again(rules, dags) -> None:
    (one,) = route(rules, "resultsdb.result.new", resultsdb_result("glibc-2.24-1.fc26", "dist.depcheck", "PASSED"))
    (two,) = route(rules, "resultsdb.result.new", resultsdb_result("bash-4.3.42-7.fc26", "dist.rpmlint", "INFO"))
    (three,) = route(rules, "resultsdb.result.new", resultsdb_result("glibc-2.24-1.fc26", "dist.rpmlint", "PASSED"))
    assert one.rule == two.rule == "rawhide-result" and one.batch_key == two.batch_key == three.batch_key == '"rawhide"'
    conf = conf_of(rules, one, [two.item, three.item])
    assert conf == {
        "release": "rawhide",
        "builds": ["glibc-2.24-1.fc26", "bash-4.3.42-7.fc26"],
        "include_quarantined": True,
    }
    assert_params_accept(dags, "rawhide_gating", conf)
    for unrouted in (
        resultsdb_result("glibc-2.24-1.fc26", "dist.depcheck", "FAILED"),
        resultsdb_result("glibc-2.23.1-8.fc24", "dist.depcheck", "PASSED"),  # f24 is not gated
        resultsdb_result("atomic-host-24-x86_64", "compose.ostree.fsck", "PASSED", item_type="artifact"),
        resultsdb_result("glibc-2.24-1.fc26", "dist.depcheck", "PASSED")
        | {"data": {"item": [], "type": ["koji_build"]}},
    ):
        assert routing(rules, "resultsdb.result.new", unrouted) == Routing()

    (legacy,) = route(
        rules, "taskotron.result.new", taskotron_result("glibc-2.24-1.fc26", "dist.depcheck", "PASSED", "FAILED")
    )
    assert legacy.rule == "rawhide-taskotron" and legacy.batch_key == '"rawhide"'
    assert_params_accept(dags, "rawhide_gating", conf_of(rules, legacy))
    first = taskotron_result("glibc-2.24-1.fc26", "dist.depcheck", "PASSED", None)
    assert route(rules, "taskotron.result.new", first) == ()  # a first result: the tag event gates it


def test_builds_waiting_for_a_signature_batch_into_autosign_per_tag(rules, dags) -> None:
    (one,) = route(rules, "buildsys.tag", koji_tag("f24-signing-pending", "curl-7.47.1-5.fc24"))
    (two,) = route(rules, "buildsys.tag", koji_tag("f24-signing-pending", "glibc-2.23.1-8.fc24"))
    (again,) = route(rules, "buildsys.tag", koji_tag("f24-signing-pending", "curl-7.47.1-5.fc24"))
    (other,) = route(rules, "buildsys.tag", koji_tag("f25-signing-pending", "vim-7.4.1842-1.fc25"))
    assert one.rule == "autosign" and one.batch_key == two.batch_key != other.batch_key
    conf = conf_of(rules, one, [two.item, again.item])
    assert conf == {"release": "f24", "builds": ["curl-7.47.1-5.fc24", "glibc-2.23.1-8.fc24"]}
    assert_params_accept(dags, "autosign", conf)
    assert conf_of(rules, other) == {"release": "f25", "builds": ["vim-7.4.1842-1.fc25"]}
    # a window never collects more builds than one autosign run may take (its Params refuse more)
    from relengotron.autosign import MAX_BUILDS

    assert one.max_items == MAX_BUILDS
    full = conf_of(rules, one, [f"pkg{n}-1-1.fc24" for n in range(MAX_BUILDS - 1)])
    assert len(full["builds"]) == MAX_BUILDS
    assert_params_accept(dags, "autosign", full)
    assert route(rules, "buildsys.tag", koji_tag("f99-signing-pending", "vim-8-1.fc99")) == ()  # no such release


def test_release_facts_come_from_the_release_configuration(tmp_path: Path, dags) -> None:
    """Branching: Rawhide becomes fc27 with a gate tag of another name, f25's builds wait for their signature in a
    renamed tag — the same rules follow the release configuration."""
    text = (REPO / "config" / "fedora.yaml").read_text()
    branched = (
        text.replace("dist: fc26", "dist: fc27")
        .replace("pending: rawhide-pending", "pending: f27-gate")
        .replace("f25-signing-pending", "f25-signing-waiting")
    )
    assert branched.count("fc27") == 1 and "f27-gate" in branched
    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config)  # with the files it names (kickstarts, treefile, policies)
    (config / "fedora.yaml").write_text(branched)
    rules = load_rules(RULES, load_release_config(config / "fedora.yaml"))
    assert route(rules, "buildsys.tag", koji_tag("rawhide-pending", "glibc-2.25-1.fc27")) == ()
    (gate,) = route(rules, "buildsys.tag", koji_tag("f27-gate", "glibc-2.25-1.fc27"))
    assert gate.conf == {"release": "rawhide", "builds": ["glibc-2.25-1.fc27"]}
    old = resultsdb_result("glibc-2.24-1.fc26", "dist.depcheck", "PASSED")
    assert route(rules, "resultsdb.result.new", old) == ()  # fc26 is nobody's now
    (new,) = route(rules, "resultsdb.result.new", resultsdb_result("glibc-2.25-1.fc27", "dist.depcheck", "PASSED"))
    assert conf_of(rules, new)["release"] == "rawhide"
    assert route(rules, "buildsys.tag", koji_tag("f25-signing-pending", "vim-8.0-1.fc25")) == ()
    (signing,) = route(rules, "buildsys.tag", koji_tag("f25-signing-waiting", "vim-8.0-1.fc25"))
    assert conf_of(rules, signing) == {"release": "f25", "builds": ["vim-8.0-1.fc25"]}
    assert_params_accept(dags, "autosign", conf_of(rules, signing))
