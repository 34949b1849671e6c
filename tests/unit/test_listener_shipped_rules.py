"""The shipped routes (config/listener-rules.yaml) on messages in the real shapes of Bodhi, Koji and ResultsDB:
which DAG each one triggers, with which conf — and every conf passes that DAG's Params, as Airflow will check."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from listener_samples import (
    bodhi_message,
    bodhi_update,
    envelope,
    koji_tag,
    masher_start,
    resultsdb_result,
    taskotron_result,
)

from relengotron.listener.rules import MessageView, Route, RuleSet, load_rules

REPO = Path(__file__).resolve().parents[2]
WINDOW = (1466000000.0, 1466000300.0)  # 2016-06-15 14:13:20 UTC, five minutes


@pytest.fixture(scope="module")
def rules() -> RuleSet:
    return load_rules(REPO / "config" / "listener-rules.yaml")


@pytest.fixture(scope="module")
def dags() -> dict[str, Any]:
    from airflow.models import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags"), safe_mode=False)
    assert bag.import_errors == {}
    return bag.dags


def route(rules: RuleSet, topic: str, body: dict) -> tuple[Route, ...]:
    message = envelope(topic, body)
    routing = rules.route(MessageView(message["topic"], body, message["msg_id"], message["timestamp"], "apache"))
    assert routing.problems == ()
    return routing.routes


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


def test_bodhi_push_requests_batch_into_one_updates_push_per_release_and_request(rules, dags) -> None:
    glibc = bodhi_update("FEDORA-2016-1a2b3c", ["glibc-2.23.1-8.fc24", "nscd-2.23.1-8.fc24"], bugs=(1337140,))
    (one,) = route(rules, "bodhi.update.request.stable", bodhi_message(glibc))
    curl = bodhi_update("FEDORA-2016-9f8e7d", ["curl-7.47.1-5.fc24"], update_type="security", severity="high")
    (two,) = route(rules, "bodhi.update.request.stable", bodhi_message(curl))
    assert (one.rule, one.dag_id, one.batch_key) == ("bodhi-push", "updates_push", two.batch_key)
    assert one.batch_key == '{"release":"f24","request":"stable"}'
    conf = conf_of(rules, one, [two.item])
    assert conf == {
        "push_id": "f24-stable-20160615.141320",
        "release": "f24",
        "request": "stable",
        "updates": [
            {
                "alias": "FEDORA-2016-1a2b3c",
                "builds": ["glibc-2.23.1-8.fc24", "nscd-2.23.1-8.fc24"],
                "type": "bugfix",
                "severity": "medium",
                "bugs": [1337140],
                "title": "glibc-2.23.1-8.fc24 nscd-2.23.1-8.fc24",
            },
            {
                "alias": "FEDORA-2016-9f8e7d",
                "builds": ["curl-7.47.1-5.fc24"],
                "type": "security",
                "severity": "high",
                "bugs": [1337140],
                "title": "curl-7.47.1-5.fc24",
            },
        ],
    }
    assert_params_accept(dags, "updates_push", conf)
    # testing requests of another release go to another batch
    testing = bodhi_update("FEDORA-2016-5c5c5c", ["vim-7.4.1842-1.fc25"], release="f25", request="testing")
    (other,) = route(rules, "bodhi.update.request.testing", bodhi_message(testing))
    assert other.batch_key == '{"release":"f25","request":"testing"}'
    assert_params_accept(dags, "updates_push", conf_of(rules, other))


def test_an_update_without_alias_yet_and_an_update_edited_within_the_window(rules, dags) -> None:
    """Bodhi 2 gives an update its alias when first pushed: before, the title stands in (spaces made '+')."""
    new = bodhi_update(None, ["glibc-2.23.1-8.fc24", "nscd-2.23.1-8.fc24"], request="testing", bugs=())
    (first,) = route(rules, "bodhi.update.request.testing", bodhi_message(new))
    edited = bodhi_update(None, ["glibc-2.23.1-8.fc24", "nscd-2.23.1-8.fc24"], request="testing", severity="urgent")
    (second,) = route(rules, "bodhi.update.request.testing", bodhi_message(edited))
    conf = conf_of(rules, first, [second.item])
    (update,) = conf["updates"]  # one entry per alias: the last request of it wins
    assert update["alias"] == "glibc-2.23.1-8.fc24+nscd-2.23.1-8.fc24" and update["severity"] == "urgent"
    assert_params_accept(dags, "updates_push", conf)


def test_a_build_tagged_into_rawhide_pending_is_gated_on_its_own(rules, dags) -> None:
    (one,) = route(rules, "buildsys.tag", koji_tag("rawhide-pending", "glibc-2.24-1.fc26"))
    assert (one.rule, one.dag_id) == ("rawhide-pending", "rawhide_gating")
    assert one.dag_run_id.startswith("rawhide-pending__2016-")
    assert one.conf == {"release": "rawhide", "builds": ["glibc-2.24-1.fc26"]}
    assert_params_accept(dags, "rawhide_gating", one.conf)
    assert route(rules, "buildsys.tag", koji_tag("rawhide", "glibc-2.24-1.fc26")) == ()
    assert route(rules, "buildsys.untag", koji_tag("rawhide-pending", "glibc-2.24-1.fc26")) == ()


def test_passing_results_of_rawhide_builds_gate_them_again(rules, dags) -> None:
    (one,) = route(rules, "resultsdb.result.new", resultsdb_result("glibc-2.24-1.fc26", "dist.depcheck", "PASSED"))
    (two,) = route(rules, "resultsdb.result.new", resultsdb_result("bash-4.3.42-7.fc26", "dist.rpmlint", "INFO"))
    (three,) = route(rules, "resultsdb.result.new", resultsdb_result("glibc-2.24-1.fc26", "dist.rpmlint", "PASSED"))
    assert one.rule == two.rule == "rawhide-result" and one.batch_key == two.batch_key == three.batch_key
    conf = conf_of(rules, one, [two.item, three.item])
    assert conf == {
        "release": "rawhide",
        "builds": ["glibc-2.24-1.fc26", "bash-4.3.42-7.fc26"],
        "include_quarantined": True,
    }
    assert_params_accept(dags, "rawhide_gating", conf)
    for unrouted in (
        resultsdb_result("glibc-2.24-1.fc26", "dist.depcheck", "FAILED"),
        resultsdb_result("glibc-2.23.1-8.fc24", "dist.depcheck", "PASSED"),
        resultsdb_result("atomic-host-24-x86_64", "compose.ostree.fsck", "PASSED", item_type="artifact"),
    ):
        assert route(rules, "resultsdb.result.new", unrouted) == ()

    (legacy,) = route(
        rules, "taskotron.result.new", taskotron_result("glibc-2.24-1.fc26", "dist.depcheck", "PASSED", "FAILED")
    )
    assert legacy.rule == "rawhide-taskotron"
    assert_params_accept(dags, "rawhide_gating", conf_of(rules, legacy))
    first = taskotron_result("glibc-2.24-1.fc26", "dist.depcheck", "PASSED", None)
    assert route(rules, "taskotron.result.new", first) == ()  # a first result: the tag event gates it


def test_stable_updates_of_atomic_host_packages_refresh_the_ostree_artifacts(rules, dags) -> None:
    update = bodhi_update("FEDORA-2016-0ff1ce", ["ostree-2016.7-1.fc24"], request=None)
    (one,) = route(rules, "bodhi.update.complete.stable", bodhi_message(update))
    assert (one.rule, one.dag_id, one.batch_key) == ("ostree-refresh", "updates_push", '"f24"')
    conf = conf_of(rules, one)
    assert conf["push_id"] == "refresh-f24-20160615.141320" and conf["request"] == "stable"
    assert [u["builds"] for u in conf["updates"]] == [["ostree-2016.7-1.fc24"]]
    assert_params_accept(dags, "updates_push", conf)
    cowsay = bodhi_update("FEDORA-2016-c0ffee", ["cowsay-3.03-18.fc24"], request=None)
    assert route(rules, "bodhi.update.complete.stable", bodhi_message(cowsay)) == ()
    assert route(rules, "bodhi.update.complete.testing", bodhi_message(update)) == ()


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


def test_masher_start_and_unknown_topics_are_dropped(rules) -> None:
    assert route(rules, "bodhi.masher.start", masher_start(["glibc-2.23.1-8.fc24"])) == ()
    assert route(rules, "fas.user.update", {"agent": "ralph", "fields": ["ircnick"]}) == ()
