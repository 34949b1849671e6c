"""The demo's scenario against the SHIPPED listener rules and the DAGs' Params: every message it plays (Bodhi's
bodies built here, Koji's tag events as the sandbox hub sends them) is routed to the DAG the story says, with a
conf that DAG accepts; and the story's claims hold in the default world (which artifacts each batch touches).
"""

from __future__ import annotations

import copy
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from relengotron.config import ReleaseConfig
from relengotron.listener.rules import MessageView, RuleSet, load_rules
from relengotron_sandbox.demo import scenario
from relengotron_sandbox.demo.listener_embed import SHIPPED_RULES, demo_rules
from relengotron_sandbox.releng import render_release_config
from relengotron_sandbox.world import World

REPO = Path(__file__).resolve().parents[2]
PREFIX = "org.fedoraproject.dev."


@pytest.fixture(scope="module")
def rules() -> RuleSet:
    return load_rules(SHIPPED_RULES)


@pytest.fixture
def releng(world: World, tmp_path: Path) -> ReleaseConfig:
    return render_release_config(world, "0badc0de", tmp_path)


@pytest.fixture(scope="module")
def dags() -> dict[str, Any]:
    from airflow.models import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags"), safe_mode=False)
    return {dag_id: bag.dags[dag_id] for dag_id in ("updates_push", "rawhide_gating", "autosign")}


def validate(dag: Any, conf: dict[str, Any]) -> dict[str, Any]:
    params = copy.deepcopy(dag.params)
    params.update(conf)
    return params.validate()


def koji_tag_body(world: World, tag: str, nvr: str) -> dict[str, Any]:
    """``buildsys.tag`` as the sandbox hub (and Koji's fedmsg plugin) publishes it."""
    name, version, release = nvr.rsplit("-", 2)
    return {
        "build_id": 42,
        "name": name,
        "version": version,
        "release": release,
        "tag": tag,
        "tag_id": 7,
        "user": "releng",
        "owner": world.packages[name].owner,
        "instance": "primary",
    }


def messages_of(act: scenario.Act, world: World, releng: ReleaseConfig) -> list[tuple[str, dict[str, Any]]]:
    """(topic, body) of everything ``act`` puts on the bus, in order."""
    out = [(f"{PREFIX}buildsys.tag", koji_tag_body(world, tag, nvr)) for tag, nvr in act.retag]
    for spec in act.request_stable:
        owner = world.packages[spec.builds[0].rsplit("-", 2)[0]].owner
        body = scenario.request_stable_body(spec, releng.release(spec.release), owner)
        out.append((f"{PREFIX}bodhi.update.request.stable", body))
    for spec in act.complete_stable:
        owner = world.packages[spec.builds[0].rsplit("-", 2)[0]].owner
        body = scenario.complete_stable_body(spec, releng.release(spec.release), owner)
        out.append((f"{PREFIX}bodhi.update.complete.stable", body))
    return out


def runs_of(rules: RuleSet, messages: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, str, dict[str, Any]]]:
    """(rule, dag_id, conf) of every run the rules make of ``messages``: single rules one per message, batch
    rules one per key with the items in arrival order (as the listener's inbox closes a window)."""
    runs: list[tuple[str, str, dict[str, Any]]] = []
    batches: dict[tuple[str, str, str], list[Any]] = defaultdict(list)
    for n, (topic, body) in enumerate(messages):
        routing = rules.route(MessageView(topic, json.loads(json.dumps(body)), f"2016-{n:08d}", 1465898400.0 + n))
        assert routing.problems == (), (topic, routing.problems)
        for route in routing.routes:
            if route.batch_key is None:
                runs.append((route.rule, route.dag_id, route.conf or {}))
            else:
                batches[(route.rule, route.dag_id, route.batch_key)].append(route.item)
    for (rule, dag_id, key), items in batches.items():
        runs.append((rule, dag_id, rules.batch_conf(rule, key, items, 1465898400.0, 1465898700.0)))
    return runs


def act(key: str) -> scenario.Act:
    [found] = [a for a in scenario.SCENARIO if a.key == key]
    return found


def test_signing_events_become_one_autosign_run_per_release(
    rules: RuleSet, world: World, releng: ReleaseConfig, dags: dict[str, Any]
) -> None:
    runs = runs_of(rules, messages_of(act("signing"), world, releng))
    assert {(rule, dag) for rule, dag, _ in runs} == {("autosign", "autosign")}
    confs = {conf["release"]: validate(dags["autosign"], conf) for _, _, conf in runs}
    assert confs["f24"]["builds"] == ["bash-4.3.42-6.fc24", "openssh-7.2p2-10.fc24"]
    assert confs["f23"]["builds"] == ["curl-7.43.0-8.fc23"]
    assert set(scenario.EXPECTED.signed) == {nvr for _, nvr in act("signing").retag}


def test_gating_events_become_one_rawhide_gating_run_per_build(
    rules: RuleSet, world: World, releng: ReleaseConfig, dags: dict[str, Any]
) -> None:
    runs = runs_of(rules, messages_of(act("gating"), world, releng))
    assert [(rule, dag) for rule, dag, _ in runs] == [("rawhide-pending", "rawhide_gating")] * 3
    gated = [validate(dags["rawhide_gating"], conf)["builds"] for _, _, conf in runs]
    assert gated == [[nvr] for _, nvr in act("gating").retag]
    assert set(scenario.EXPECTED.promoted) | set(scenario.EXPECTED.quarantined) == {
        nvr for _, nvr in act("gating").retag
    }


@pytest.mark.parametrize("key", ["first-push", "push"])
def test_bodhi_requests_become_one_push_per_release_with_every_update(
    key: str, rules: RuleSet, world: World, releng: ReleaseConfig, dags: dict[str, Any]
) -> None:
    played = act(key)
    runs = runs_of(rules, messages_of(played, world, releng))
    assert {(rule, dag) for rule, dag, _ in runs} == {("bodhi-push", "updates_push")}
    by_release = {conf["release"]: validate(dags["updates_push"], conf) for _, _, conf in runs}
    assert set(by_release) == {"f23", "f24"}  # a push of two releases, one run each
    for release, conf in by_release.items():
        assert conf["request"] == "stable"
        expected = [s for s in played.request_stable if s.release == release]
        assert [u["alias"] for u in conf["updates"]] == [s.alias for s in expected]
        assert [u["builds"] for u in conf["updates"]] == [list(s.builds) for s in expected]
        assert conf["poll_interval"] == 30  # the shipped rules leave the DAG's default


def test_the_refresh_is_the_ostree_refresh_rule_and_only_for_ostree_packages(
    rules: RuleSet, world: World, releng: ReleaseConfig, dags: dict[str, Any]
) -> None:
    runs = runs_of(rules, messages_of(act("refresh"), world, releng))
    assert [(rule, dag) for rule, dag, _ in runs] == [("ostree-refresh", "updates_push")]
    conf = validate(dags["updates_push"], runs[0][2])
    assert (conf["release"], conf["request"]) == ("f24", "stable")
    assert conf["updates"][0]["builds"] == list(scenario.DOCKER.builds)
    # the same message for an update of a package outside the OSTree manifest refreshes nothing
    not_ostree = scenario.complete_stable_body(scenario.ANACONDA, releng.release("f24"), "bcl")
    assert runs_of(rules, [(f"{PREFIX}bodhi.update.complete.stable", not_ostree)]) == []


def test_demo_pace_changes_windows_and_polls_but_not_the_routing(
    rules: RuleSet, world: World, releng: ReleaseConfig, dags: dict[str, Any], tmp_path: Path
) -> None:
    import yaml

    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(demo_rules(yaml.safe_load(SHIPPED_RULES.read_text()), window=4, poll=1)))
    fast = load_rules(path)
    assert [r.name for r in fast.rules] == [r.name for r in rules.rules]
    assert all(r.batch is None or r.batch.window_seconds <= 4 for r in fast.rules)
    for played in scenario.SCENARIO:
        messages = messages_of(played, world, releng)
        shipped, demo = runs_of(rules, messages), runs_of(fast, messages)
        assert [(rule, dag) for rule, dag, _ in demo] == [(rule, dag) for rule, dag, _ in shipped]
        for (_, dag_id, conf), (_, _, shipped_conf) in zip(demo, shipped, strict=True):
            poll_key = {"updates_push": "poll_interval", "rawhide_gating": "checks_poll_interval"}.get(dag_id)
            assert {k: v for k, v in conf.items() if k != poll_key} == shipped_conf
            if poll_key:
                assert validate(dags[dag_id], conf)[poll_key] == 1


def test_each_batch_touches_the_artifacts_the_story_says(world: World, rules: RuleSet) -> None:
    """vim-minimal is in f23's Atomic Host only, anaconda in f24's installer ISO only, docker in f24's Atomic
    Host (and in the listener's OSTree package set); the scenario's builds exist where it expects them."""

    def touched(spec: scenario.UpdateSpec) -> set[str]:
        names = {nvr.rsplit("-", 2)[0] for nvr in spec.builds}
        return {a.name for a in world.artifacts if a.release == spec.release and names & set(a.packages)}

    assert touched(scenario.VIM) == {"atomic-host"}
    assert touched(scenario.ANACONDA) == {"installer-iso"}
    assert "atomic-host" in touched(scenario.DOCKER) and "docker" in rules.sets["ostree_packages"]
    builds = {f"{p.name}-{b.version}-{b.release}": b for p in world.packages.values() for b in p.builds}
    for played in scenario.SCENARIO:
        for tag, nvr in played.retag:
            assert tag in builds[nvr].tags, (nvr, tag)
        for spec in (*played.request_stable, *played.complete_stable):
            release = world.releases[spec.release]
            waiting = {release.tags[r] for r in ("stable", *scenario.WAITING_ROLES) if r in release.tags}
            for nvr in spec.builds:
                assert builds[nvr].signed and waiting & set(builds[nvr].tags), nvr
    forced = {(f.item, f.outcome) for f in world.forced_results}
    assert ("cloud-base-ami-24-x86_64", "FAILED") in forced  # the artifact whose tests fail


def test_bodhi_bodies_have_bodhi_2s_shape(releng: ReleaseConfig) -> None:
    body = scenario.request_stable_body(scenario.GLIBC, releng.release("f24"), "siddhesh")
    update = body["update"]
    assert body["agent"] == "siddhesh"
    assert (update["alias"], update["request"], update["status"]) == (scenario.GLIBC.alias, "stable", "testing")
    assert update["release"]["branch"] == "f24" and update["release"]["stable_tag"] == "f24-updates"
    assert update["builds"] == [{"nvr": "glibc-2.23.1-8.fc24", "epoch": 0, "signed": True}]
    assert update["bugs"][0]["bug_id"] == 1300105 and update["user"]["name"] == "siddhesh"
    done = scenario.complete_stable_body(scenario.GLIBC, releng.release("f24"), "siddhesh")["update"]
    assert (done["request"], done["status"]) == (None, "stable")
    assert scenario.GLIBC.alias == scenario.UpdateSpec("f24", ("glibc-2.23.1-8.fc24",)).alias  # stable per builds
    assert len({u.alias for a in scenario.SCENARIO for u in (*a.request_stable, *a.complete_stable)}) == 6
    with pytest.raises(ValueError, match="f24"):
        scenario.request_stable_body(scenario.GLIBC, releng.release("f23"), "siddhesh")


def test_acts_wait_for_the_pushes_they_follow() -> None:
    acts = scenario.SCENARIO
    first = {"signing", "gating", "first-push"}
    assert {a.key for a in scenario.ready_acts(acts, set(), set())} == first
    # the push waits until every update of the first push was pushed (complete or held back)
    some = {scenario.SUDO.alias, scenario.GLIBC.alias}
    assert [a.key for a in scenario.ready_acts(acts, first, some)] == []
    pushed = scenario.completed_aliases(
        [
            {"updates": [{"alias": scenario.SUDO.alias, "status": "complete"}]},
            {"updates": [{"alias": a, "status": "held-back"} for a in (scenario.GLIBC.alias, scenario.CURL.alias)]},
            {"updates": "garbage"},
        ]
    )
    assert [a.key for a in scenario.ready_acts(acts, first, pushed)] == ["push"]
    assert [a.key for a in scenario.ready_acts(acts, first | {"push"}, pushed)] == []
    pushed |= {scenario.VIM.alias, scenario.ANACONDA.alias}
    assert [a.key for a in scenario.ready_acts(acts, first | {"push"}, pushed)] == ["refresh"]


def test_waiting_tag_prefers_the_pending_stable_tag(releng: ReleaseConfig) -> None:
    f24 = releng.release("f24")
    assert scenario.waiting_tag(f24, {"f24-updates-candidate", "f24-updates-pending"}) == "f24-updates-pending"
    assert scenario.waiting_tag(f24, {"f24-updates-testing"}) == "f24-updates-testing"
    assert scenario.waiting_tag(f24, {"f24"}) is None
