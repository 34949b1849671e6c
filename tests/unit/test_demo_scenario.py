"""The demo's scenario against the SHIPPED listener rules and the DAGs' Params: every message it makes happen
(Koji's tag events as the sandbox hub sends them; Bodhi's compose.start, compose.composing and masher.start as the
sandbox Bodhi's own composer publishes them for the act's bodhi-push) is routed to the DAG the story says, with a
conf that DAG accepts; the story's claims hold in the default world (which updates exist, where their builds
are, which artifacts each push touches); and the acts wait for Bodhi to finish, as bodhi-push does.
"""

from __future__ import annotations

import copy
import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from relengotron.config import ReleaseConfig
from relengotron.listener.rules import MessageView, RuleSet, load_rules
from relengotron.push import group_composes, parse_entries
from relengotron_sandbox.bodhi import composer
from relengotron_sandbox.bodhi.seed import seed
from relengotron_sandbox.bodhi.state import KEYS, BodhiState
from relengotron_sandbox.demo import scenario
from relengotron_sandbox.demo.listener_embed import SHIPPED_RULES, demo_rules
from relengotron_sandbox.pdc_store import DocStore
from relengotron_sandbox.releng import render_release_config
from relengotron_sandbox.world import World

REPO = Path(__file__).resolve().parents[2]
PREFIX = "org.fedoraproject.dev."


@pytest.fixture
def releng(world: World, tmp_path: Path) -> ReleaseConfig:
    return render_release_config(world, "0badc0de", tmp_path)


@pytest.fixture
def rules(releng: ReleaseConfig) -> RuleSet:
    return load_rules(SHIPPED_RULES, releng)  # the rules' release helpers read the sandbox's release configuration


@pytest.fixture(scope="module")
def dags() -> dict[str, Any]:
    from airflow.models import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags"), safe_mode=False)
    return {d: bag.dags[d] for d in ("updates_push", "masher_start", "rawhide_gating", "autosign")}


def validate(dag: Any, conf: dict[str, Any]) -> dict[str, Any]:
    params = copy.deepcopy(dag.params)
    params.update(conf)
    return params.validate()


class WorldKoji:
    """What the sandbox Bodhi asks Koji (a build's tags), answered from the world file."""

    def __init__(self, world: World) -> None:
        self.tags = {f"{b.package}-{b.version}-{b.release}": set(b.tags) for b in world.builds()}

    def tags_of(self, nvr: str) -> set[str]:
        return set(self.tags.get(nvr, ()))

    def close(self) -> None:
        pass


class Bugs:
    """The sandbox Bodhi's bug tracker, recording what Bodhi does to bugs."""

    def __init__(self) -> None:
        self.closed: list[int] = []

    def close(self, bug_id: int, versions: Any, comment: str) -> str:
        self.closed.append(bug_id)
        return "CLOSED ERRATA"

    def on_qa(self, bug_id: int, comment: str) -> str:
        return "ON_QA"


@dataclass
class Bodhi:
    """The sandbox Bodhi's state, seeded from the world, what it published and did to bugs (no server, no bus)."""

    state: BodhiState
    published: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    bugs: Bugs = field(default_factory=Bugs)

    @classmethod
    def of(cls, world: World, directory: Path) -> Bodhi:
        directory.mkdir(parents=True, exist_ok=True)
        store = DocStore(directory / "bodhi.sqlite", KEYS, label="Bodhi")
        store.open(world.digest, lambda: seed(world))
        published: list[tuple[str, dict[str, Any]]] = []
        bugs = Bugs()
        record = lambda modname, topic, body: published.append((f"{PREFIX}{modname}.{topic}", body))  # noqa: E731
        state = BodhiState(store, record, "", WorldKoji(world), bugs)  # type: ignore[arg-type]
        return cls(state, published, bugs)

    def updates(self) -> list[dict[str, Any]]:
        """Every update as Bodhi's REST API shows it."""
        return [self.state.update_json(u, web=False) for u in self.state.updates()]

    def close(self) -> None:
        self.state.store.close()


@pytest.fixture
def bodhi(world: World, tmp_path: Path) -> Iterator[Bodhi]:
    found = Bodhi.of(world, tmp_path / "bodhi")
    yield found
    found.close()


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


def messages_of(act: scenario.Act, world: World, bodhi: Bodhi) -> list[tuple[str, dict[str, Any]]]:
    """(topic, body) of everything ``act`` makes happen on the bus, in order: Koji's tag events, then what the
    sandbox Bodhi's composer publishes for the act's bodhi-push (its own code, the world's updates)."""
    out = [(f"{PREFIX}buildsys.tag", koji_tag_body(world, tag, nvr)) for tag, nvr in act.retag]
    if act.push is not None:
        before = len(bodhi.published)
        result = composer.push(
            bodhi.state,
            agent=scenario.AGENT,
            releases=act.push.releases,
            requests=[act.push.request],
            updates=act.push.aliases,
            bodhi2=act.push.bodhi2,
        )
        assert not result.resumed and result.unsigned == []
        out += bodhi.published[before:]
    return out


def runs_of(rules: RuleSet, messages: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, str, dict[str, Any]]]:
    """(rule, dag_id, conf) of every run the rules make of ``messages``: single rules one per message, batch
    rules one per key with the items in arrival order (as the listener's inbox closes a window)."""
    runs: list[tuple[str, str, dict[str, Any]]] = []
    batches: dict[tuple[str, str, str], list[Any]] = defaultdict(list)
    for n, (topic, body) in enumerate(messages):
        routing = rules.route(MessageView(topic, json.loads(json.dumps(body)), f"2016-{n:08d}", 1465898400.0 + n))
        assert routing.problems == () and routing.ignored == (), (topic, routing)
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
    rules: RuleSet, world: World, bodhi: Bodhi, dags: dict[str, Any]
) -> None:
    runs = runs_of(rules, messages_of(act("signing"), world, bodhi))
    assert {(rule, dag) for rule, dag, _ in runs} == {("autosign", "autosign")}
    confs = {conf["release"]: validate(dags["autosign"], conf) for _, _, conf in runs}
    assert confs["f24"]["builds"] == ["bash-4.3.42-6.fc24", "openssh-7.2p2-10.fc24"]
    assert confs["f23"]["builds"] == ["curl-7.43.0-8.fc23"]
    assert set(scenario.EXPECTED.signed) == {nvr for _, nvr in act("signing").retag}


def test_gating_events_become_one_rawhide_gating_run_per_build(
    rules: RuleSet, world: World, bodhi: Bodhi, dags: dict[str, Any]
) -> None:
    runs = runs_of(rules, messages_of(act("gating"), world, bodhi))
    assert [(rule, dag) for rule, dag, _ in runs] == [("rawhide-pending", "rawhide_gating")] * 3
    gated = [validate(dags["rawhide_gating"], conf)["builds"] for _, _, conf in runs]
    assert gated == [[nvr] for _, nvr in act("gating").retag]
    assert set(scenario.EXPECTED.promoted) | set(scenario.EXPECTED.quarantined) == {
        nvr for _, nvr in act("gating").retag
    }


@pytest.mark.parametrize("key", ["first-push", "push"])
def test_a_bodhi_push_becomes_one_updates_push_run_per_compose(
    key: str, rules: RuleSet, world: World, bodhi: Bodhi, dags: dict[str, Any]
) -> None:
    played = act(key)
    messages = messages_of(played, world, bodhi)
    assert [topic.removeprefix(PREFIX) for topic, _ in messages] == [
        "bodhi.compose.start",
        "bodhi.compose.composing",
        "bodhi.compose.composing",
    ]
    runs = runs_of(rules, messages)
    assert [(rule, dag) for rule, dag, _ in runs] == [("bodhi-compose", "updates_push")] * 2
    by_repo = {conf["repo"]: validate(dags["updates_push"], conf) for _, _, conf in runs}
    assert set(by_repo) == {"f23-updates", "f24-updates"}  # a push of two releases' stable updates, one run each
    for repo, conf in by_repo.items():
        expected = [u.title for u in played.push.updates if u.release == repo.split("-")[0]]  # type: ignore[union-attr]
        assert sorted(conf["updates"]) == sorted(expected)
        assert conf["agent"] == scenario.AGENT and conf["push_id"].startswith("2016-")
        assert conf["poll_interval"] == 30  # the shipped rules leave the DAG's default


def test_the_bodhi2_push_is_one_masher_start_run_splitting_into_one_f24_push(
    rules: RuleSet, world: World, bodhi: Bodhi, releng: ReleaseConfig, dags: dict[str, Any]
) -> None:
    messages = messages_of(act("bodhi2"), world, bodhi)
    assert messages == [
        (
            f"{PREFIX}bodhi.masher.start",
            {"updates": [scenario.DOCKER.title], "resume": False, "agent": scenario.AGENT},
        )
    ]
    [(rule, dag_id, conf)] = runs_of(rules, messages)
    assert (rule, dag_id) == ("bodhi2-masher", "masher_start")
    conf = validate(dags["masher_start"], conf)
    # what masher_start makes of it: Bodhi's update of each title, grouped into one updates_push conf per compose
    entries = parse_entries(conf["updates"])
    update = bodhi.state.update(scenario.DOCKER.alias)
    described = [{**update, "release": "f24", "builds": [b["nvr"] for b in update["builds"]]}]
    assert [sorted(e) for e in entries] == [sorted(d["builds"]) for d in described]
    [push] = group_composes(described, releng, push_id=conf["push_id"], agent=conf["agent"])
    push = validate(dags["updates_push"], push)
    assert (push["repo"], push["updates"]) == ("f24-updates", [scenario.DOCKER.title])


def test_demo_pace_changes_windows_and_polls_but_not_the_routing(
    rules: RuleSet, world: World, releng: ReleaseConfig, dags: dict[str, Any], tmp_path: Path
) -> None:
    import yaml

    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(demo_rules(yaml.safe_load(SHIPPED_RULES.read_text()), window=4, poll=1)))
    fast = load_rules(path, releng)
    assert [r.name for r in fast.rules] == [r.name for r in rules.rules]
    assert all(r.batch is None or r.batch.window_seconds <= 4 for r in fast.rules)
    for played in scenario.SCENARIO:
        bodhi = Bodhi.of(world, tmp_path / played.key)  # each push on a Bodhi without composes
        messages = messages_of(played, world, bodhi)
        bodhi.close()
        shipped, demo = runs_of(rules, messages), runs_of(fast, messages)
        assert [(rule, dag) for rule, dag, _ in demo] == [(rule, dag) for rule, dag, _ in shipped]
        for (_, dag_id, conf), (_, _, shipped_conf) in zip(demo, shipped, strict=True):
            poll_key = {"updates_push": "poll_interval", "rawhide_gating": "checks_poll_interval"}.get(dag_id)
            assert {k: v for k, v in conf.items() if k != poll_key} == shipped_conf
            if poll_key:
                assert validate(dags[dag_id], conf)[poll_key] == 1


def test_the_worlds_updates_are_the_storys_and_each_push_touches_the_artifacts_it_says(world: World) -> None:
    """Every update the story pushes is the world's, requested for stable, signed, its builds where Bodhi's
    composer takes them from (the testing tag for an update in testing, else the candidate tag — or already in
    the stable tag); vim-minimal is in f23's Atomic Host only, anaconda in f24's installer ISO only, docker in
    f24's Atomic Host; the f24 AMI (whose boot test the world fails) carries glibc and curl."""
    updates = {u.alias: u for u in world.updates}
    builds = {f"{b.package}-{b.version}-{b.release}": b for b in world.builds()}
    pushed = [u for a in scenario.SCENARIO if a.push for u in a.push.updates]
    assert [u.alias for u in pushed] == list(scenario.EXPECTED.pushed)
    for update in pushed:
        mine = updates[update.alias]
        assert (mine.release, set(mine.builds), mine.request) == (update.release, set(update.builds), "stable")
        tags = world.releases[update.release].tags
        source = tags["testing"] if mine.status == "testing" else tags["candidate"]
        for nvr in update.builds:
            assert builds[nvr].signed and {source, tags["stable"]} & set(builds[nvr].tags), nvr
    for bug, alias in scenario.EXPECTED.bugs_closed.items():
        assert bug in updates[alias].bugs and next(b for b in world.bugs if b.id == bug).status != "CLOSED"

    def touched(update: scenario.Update) -> set[str]:
        names = {nvr.rsplit("-", 2)[0] for nvr in update.builds}
        return {a.name for a in world.artifacts if a.release == update.release and names & set(a.packages)}

    assert touched(scenario.VIM) == {"atomic-host"}
    assert touched(scenario.ANACONDA) == {"installer-iso"}
    assert touched(scenario.DOCKER) == {"atomic-host"}
    carried = {u.alias for u in pushed if u.release == "f24" and "cloud-base-ami" in touched(u)}
    assert carried == set(scenario.EXPECTED.held_back_in) == {scenario.GLIBC.alias, scenario.CURL.alias}
    for played in scenario.SCENARIO:
        for tag, nvr in played.retag:
            assert tag in builds[nvr].tags, (nvr, tag)
    assert ("cloud-base-ami-24-x86_64", "FAILED") in {(f.item, f.outcome) for f in world.stand_ins}


def test_acts_wait_until_bodhi_has_finished_the_pushes_before_them(bodhi: Bodhi, world: World) -> None:
    """Played against the sandbox Bodhi's composer: the second push waits for Bodhi to finish the first (its
    updates pushed and no compose left), not for push.complete; pushed too early, bodhi-push would resume."""
    acts = scenario.SCENARIO
    first = {"signing", "gating", "first-push"}
    assert {a.key for a in scenario.ready_acts(acts, set(), set())} == first
    messages_of(act("first-push"), world, bodhi)
    assert bodhi.state.composes()
    assert scenario.ready_acts(acts, first, scenario.finished_aliases(bodhi.updates()), composing=True) == []
    assert composer.push(bodhi.state, agent="releng").resumed  # what a push played now would do

    for repo in ("f23-updates", "f24-updates"):
        mine = [u for u in act("first-push").push.updates if repo.startswith(u.release)]  # type: ignore[union-attr]
        held = [{"label": scenario.AMI_24, "reason": "its tests failed"}] if repo == "f24-updates" else []
        composer.finish_push(bodhi.state, push_complete(repo, mine, held))
    done = scenario.finished_aliases(bodhi.updates())
    assert done == {u.alias for u in act("first-push").push.updates}  # type: ignore[union-attr]
    assert scenario.ready_acts(acts, first, done, composing=True) == []  # a compose left: bodhi-push would resume
    composing = bool(bodhi.state.composes())
    assert [a.key for a in scenario.ready_acts(acts, first, done, composing=composing)] == ["push"]
    glibc = bodhi.state.update_json(bodhi.state.update(scenario.GLIBC.alias), web=False)
    assert scenario.AMI_24 in (scenario.pushed_comment(glibc) or "")
    assert bodhi.bugs.closed == []  # none of the first push's updates fixes a bug


def push_complete(repo: str, updates: list[scenario.Update], held: list[dict[str, str]]) -> dict[str, Any]:
    """``relengotron.push.complete`` for a compose whose updates were all pushed (docs/bodhi-handshake.md §4)."""
    status = "held-back" if held else "complete"
    return {
        "push_id": f"push-{repo}",
        "run_id": f"run-{repo}",
        "repo": repo,
        "release": repo.split("-")[0],
        "request": "stable",
        "agent": "releng",
        "status": status,
        "synced": True,
        "repos": [],
        "updates": [
            {
                "alias": u.alias,
                "builds": list(u.builds),
                "status": "held-back" if held else "pushed",
                "artifacts": [],
                "held_back": held,
                "reason": None,
            }
            for u in updates
        ],
        "artifacts": {"released": [], "unchanged": [], "held_back": held, "failed": []},
    }


def test_bodhis_finished_updates_and_comments_are_read_from_its_json() -> None:
    pushed = {"alias": "A", "pushed": True, "status": "stable", "request": None}
    assert scenario.finished(pushed) and scenario.finished_aliases([pushed]) == {"A"}
    assert not scenario.finished({**pushed, "request": "stable"})  # locked in a compose, not finished
    assert not scenario.finished({**pushed, "status": "testing"})  # pushed to testing before
    comments = [
        {"user": {"name": "bodhi"}, "text": "This update has been pushed to stable.\n\nHeld back: x."},
        {"user": {"name": "releng"}, "text": "This update has been pushed to stable, says me."},
        {"user": {"name": "bodhi"}, "text": "This update has been submitted for stable by kdudka. "},
    ]
    assert scenario.pushed_comment({"comments": comments}) == comments[0]["text"]
    assert scenario.pushed_comment({"comments": comments[1:]}) is None
