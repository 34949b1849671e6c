"""The eol DAG's operators at the service seam (stand-in Koji, PDC, Bugzilla, bus; real mirror trees in tmp): the
plan is shown and changes nothing, a dry run stops at the gate, the plan becomes mapped items in order with
unique keys and the message last, each item's steps are done once (a rerun changes nothing), the message goes
out once; transient failures are left for Airflow's retries, permanent ones fail at once; clients are built
only when a step needs them."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException
from operators.eol_steps import EOLGateOperator, EOLPlanOperator, EOLPublishOperator, EOLStepOperator
from test_adapters_eol_run import PDC, Bugzilla, Bus, Koji

from relengotron.adapters.mirror import MirrorTrees
from relengotron.airflow import eol as seam
from relengotron.airflow.arguments import flag, seconds
from relengotron.airflow.connections import Lazy
from relengotron.airflow.eol import check_release, eol_date, publish_step, task_items
from relengotron.artifacts import load_release_config
from relengotron.artifacts.staging import StagingTree
from relengotron.config import ReleaseConfig
from relengotron.eol import BUG_COMMENT, CloseBug, EOLError, EOLFacts, OpenBug, plan_eol, step_from_dict
from relengotron.eol_run import EOLServices
from relengotron.kojiclient import KojiError, KojiTransientError
from relengotron.ostree.repo import OSTreeRepo

REPO = Path(__file__).resolve().parents[2]
DAY = date(2017, 8, 8)


@dataclasses.dataclass
class TI:
    pushed: dict[str, Any] = dataclasses.field(default_factory=dict)

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value


@dataclasses.dataclass
class Run:
    run_after: datetime


def context() -> dict[str, Any]:
    return {"ti": TI(), "dag_run": Run(datetime(2017, 8, 8, 9, 30))}


@dataclasses.dataclass
class World:
    config: ReleaseConfig
    koji: Koji
    pdc: PDC
    bugzilla: Bugzilla
    bus: Bus
    tmp: Path
    opened: list[dict[str, Any]]


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    """Fedora's configuration with the mirror in tmp; the operators get stand-in services for it."""
    fedora = load_release_config(REPO / "config" / "fedora.yaml")
    mirror = dataclasses.replace(
        fedora.mirror,
        master=str(tmp_path / "master"),
        archive=str(tmp_path / "archive"),
        staging=tmp_path / "staging",
    )
    ostree = dataclasses.replace(fedora.ostree, repo=tmp_path / "ostree" / "repo")
    config = dataclasses.replace(fedora, mirror=mirror, ostree=ostree)
    for rel in (
        "linux/updates/24/x86_64/repomd.xml",
        "linux/updates/testing/24/x86_64/repomd.xml",
        "linux/updates/25/x86_64/repomd.xml",
    ):
        (tmp_path / "master" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "master" / rel).write_text(rel)
    found = World(config, Koji(), PDC(), Bugzilla(), Bus(), tmp_path, [])

    @contextmanager
    def eol_services(
        config: ReleaseConfig, release_id: str, *, ostree_archive: Path, connections: Any
    ) -> Iterator[Any]:
        found.opened.append({"release": release_id, "ostree_archive": ostree_archive, "archive": config.mirror.archive})
        yield EOLServices(
            koji=found.koji,  # type: ignore[arg-type]
            pdc=found.pdc,  # type: ignore[arg-type]
            bugzilla=found.bugzilla,  # type: ignore[arg-type]
            ostree=StagingTree.from_layout(config.mirror).ostree_repo,
            ostree_archive=OSTreeRepo(ostree_archive),
            staging=StagingTree.from_layout(config.mirror),
            mirror=MirrorTrees.from_layout(config.mirror),
            publisher=found.bus,
        )

    monkeypatch.setattr("relengotron.airflow.hooks.release_config", lambda: config)
    monkeypatch.setattr(seam, "eol_services", eol_services)
    return found


def state(world: World) -> Any:
    files = sorted(p.relative_to(world.tmp).as_posix() for p in world.tmp.rglob("*") if p.is_file())
    return (
        dict(world.koji.targets),
        {n: t["locked"] for n, t in world.koji.tags.items()},
        dict(world.pdc.active),
        dict(world.bugzilla.bugs),
        list(world.bus.sent),
        files,
    )


def plan_task(**kwargs: Any) -> list[dict[str, Any]]:
    return EOLPlanOperator(task_id="plan", release="f24", **kwargs).execute(context())


# --- the plan becomes mapped items --------------------------------------------------------------------------


def big_plan(bugs: int) -> list[dict[str, Any]]:
    """A plan of f24 with ``bugs`` open bugs, as it travels between tasks."""
    config = load_release_config(REPO / "config" / "fedora.yaml")
    facts = EOLFacts(
        pdc_active={"fedora-24": True},
        tags=(),
        bugs=tuple(OpenBug(1000 + n, "Fedora", "24") for n in range(bugs)),
        mirror_paths=("linux/updates/24", "linux/releases/24", "linux/updates/25"),
    )
    return [s.as_dict() for s in plan_eol("f24", config, facts, DAY).steps]


def test_plan_items_keep_the_order_with_unique_keys_and_leave_the_message_for_last() -> None:
    plan = big_plan(3)
    items = task_items(plan)
    keys = [item["key"] for item in items]
    assert keys == [step_from_dict(s).key for s in plan[:-1]]  # every step but the message, in plan order
    assert len(set(keys)) == len(keys) and all(len(item["steps"]) == 1 for item in items)
    assert [s for item in items for s in item["steps"]] == plan[:-1]
    assert keys[0] == "pdc-release-inactive:fedora-24" and "bugzilla-close:1001" in keys
    assert publish_step(plan) == plan[-1] and plan[-1]["kind"] == "publish-eol"
    assert publish_step(plan[:-1]) is None


def test_bug_closings_share_items_only_when_the_plan_would_map_too_many_tasks() -> None:
    plan = big_plan(10)  # pdc, 10 bugs, 2 mirror paths, the message
    assert len(task_items(plan, max_items=13)) == 13
    items = task_items(plan, max_items=6)  # 3 other steps leave room for 3 bug items: 4 + 4 + 2 bugs
    assert len(items) == 6
    assert [item["key"] for item in items] == [
        "pdc-release-inactive:fedora-24",
        "bugzilla-close:1000..1003 (4 bugs)",
        "bugzilla-close:1004..1007 (4 bugs)",
        "bugzilla-close:1008..1009 (2 bugs)",
        "mirror-archive:linux/releases/24",
        "mirror-archive:linux/updates/24",
    ]
    assert [s for item in items for s in item["steps"]] == plan[:-1]  # order kept, nothing lost
    with pytest.raises(EOLError, match="3 steps besides bug closings: more than 3 tasks"):
        task_items(plan, max_items=3)


def test_a_plan_with_a_repeated_step_or_the_message_not_last_is_refused() -> None:
    plan = big_plan(2)
    with pytest.raises(EOLError, match="names step bugzilla-close:1000 twice"):
        task_items([*plan[:2], plan[1], *plan[2:]])
    with pytest.raises(EOLError, match="the EOL message must come once, as the plan's last step"):
        task_items([plan[-1], *plan[:-1]])
    with pytest.raises(EOLError, match="unknown EOL step kind 'nope'"):
        task_items([{"kind": "nope"}])


def test_release_date_and_overrides_are_checked_naming_the_field(world: World) -> None:
    assert check_release(world.config, " f24 ") == "f24"
    with pytest.raises(EOLError, match=r"release 'f99' is not in the release configuration .*\(configured: f24, f25"):
        check_release(world.config, "f99")
    assert eol_date(None, DAY) == DAY and eol_date("2016-12-20", DAY) == date(2016, 12, 20)
    with pytest.raises(EOLError, match="eol_date: '20/12/2016' is not a date"):
        eol_date("20/12/2016", DAY)
    assert flag("True", "dry_run") is True and flag(False, "dry_run") is False
    with pytest.raises(ValueError, match="dry_run: 'maybe' is not true or false"):
        flag("maybe", "dry_run")
    assert seconds("2.5", 60, "poll_interval") == 2.5 and seconds(None, 60, "poll_interval") == 60.0
    for bad, reason in (("soon", "'soon' is not a number of seconds"), (0, "must be positive"), ("nan", "positive")):
        with pytest.raises(ValueError, match=f"wait_timeout: .*{reason}"):
            seconds(bad, 60, "wait_timeout")
    assert seam.eol_config(world.config, None) is world.config
    assert seam.eol_config(world.config, "mirror:/srv/archive").mirror.archive == "mirror:/srv/archive"
    with pytest.raises(ValueError, match="archive: 'elsewhere' is neither an absolute path"):
        seam.eol_config(world.config, "elsewhere")
    assert seam.ostree_archive_path(world.config, None) == world.tmp / "ostree" / "archive-repo"
    assert seam.ostree_archive_path(world.config, "/srv/ostree-archive") == Path("/srv/ostree-archive")
    with pytest.raises(ValueError, match="ostree_archive: 'host:/srv/x' must be a local path"):
        seam.ostree_archive_path(world.config, "host:/srv/x")


# --- the operators ---------------------------------------------------------------------------------------------


def test_the_plan_is_shown_and_changes_nothing(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    before = state(world)
    plan = plan_task(eol_date="2016-12-20")
    assert [step_from_dict(s).key for s in plan] == [
        "pdc-release-inactive:fedora-24",
        "koji-delete-target:f24-candidate",
        "koji-lock-tag:f24",
        "koji-lock-tag:f24-updates-candidate",
        "bugzilla-close:1",
        "bugzilla-close:2",
        "mirror-archive:linux/updates/24",
        "mirror-archive:linux/updates/testing/24",
        "publish-eol:f24",
    ]
    assert plan[4]["comment"] == BUG_COMMENT.format(name="Fedora 24", date="2016-12-20")
    assert "EOL plan for Fedora 24 (f24), end of life on 2016-12-20: 9 steps" in capsys.readouterr().out
    assert state(world) == before
    assert world.opened == [
        {
            "release": "f24",
            "ostree_archive": world.tmp / "ostree" / "archive-repo",
            "archive": str(world.tmp / "archive"),
        }
    ]
    assert plan_task()[-1]["body"]["eol_date"] == "2017-08-08"  # default: the day the run was triggered


def test_a_dry_run_stops_at_the_gate(world: World) -> None:
    plan = plan_task()
    ctx = context()
    with pytest.raises(AirflowSkipException, match="dry run"):
        EOLGateOperator(task_id="go_ahead", plan=plan, preview=True).execute(ctx)
    assert ctx["ti"].pushed == {}
    items = EOLGateOperator(task_id="go_ahead", plan=plan, preview="False").execute(ctx)
    assert items == task_items(plan) and ctx["ti"].pushed == {"plan": plan}


def test_each_step_is_done_once_and_the_message_goes_out_last_once(world: World) -> None:
    plan = plan_task(archive=str(world.tmp / "other-archive"))
    items = task_items(plan)
    for item in items:
        outcomes = EOLStepOperator(task_id="step", release="f24", archive=str(world.tmp / "other-archive"), **item)
        assert [o["changed"] for o in outcomes.execute(context())] == [True]
    assert world.pdc.active == {"fedora-24": False, "fedora-25": True}
    assert set(world.koji.targets) == {"f25-candidate"}
    assert {n for n, t in world.koji.tags.items() if t["locked"]} == {"f24", "f24-updates", "f24-updates-candidate"}
    assert world.bugzilla.bugs == {1: ("24", "CLOSED"), 2: ("24", "CLOSED"), 3: ("25", "NEW"), 4: ("24", "CLOSED")}
    assert (world.tmp / "other-archive/linux/updates/testing/24/x86_64/repomd.xml").is_file()  # the overridden archive
    assert not (world.tmp / "master/linux/updates/24").exists() and (world.tmp / "master/linux/updates/25").exists()
    assert world.bus.sent == []  # the message is not one of the mapped steps

    publish = EOLPublishOperator(
        task_id="publish_eol", release="f24", archive=str(world.tmp / "other-archive"), plan=plan
    )
    assert publish.execute(context())["changed"] is True
    [(_, topic, body)] = world.bus.sent
    assert topic == "release.eol" and body["steps"] == [item["key"] for item in items]

    done = state(world)
    for item in items:  # every task of the finished run, again: nothing changes
        again = EOLStepOperator(task_id="step", release="f24", archive=str(world.tmp / "other-archive"), **item)
        assert [o["changed"] for o in again.execute(context())] == [False]
    assert publish.execute(context())["changed"] is False
    assert state(world) == done
    with pytest.raises(AirflowSkipException, match="announced before"):
        EOLPublishOperator(task_id="publish_eol", release="f24", plan=plan[:-1]).execute(context())


def test_a_batch_of_bug_closings_is_one_bugzilla_update(world: World) -> None:
    bugs = [s for s in plan_task() if s["kind"] == CloseBug.kind]
    EOLStepOperator(task_id="step", release="f24", key="bugzilla-close:1..2 (2 bugs)", steps=bugs).execute(context())
    assert world.bugzilla.batches == [[1, 2]]
    assert world.bugzilla.bugs[1][1] == world.bugzilla.bugs[2][1] == "CLOSED"


def test_transient_failures_are_retried_and_permanent_ones_fail_at_once(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    lock = {"key": "koji-lock-tag:f24", "steps": [{"kind": "koji-lock-tag", "tag": "f24"}]}

    def busy(*args: Any, **kwargs: Any) -> Any:
        raise KojiTransientError("lock tag f24", "the hub is busy")

    monkeypatch.setattr(world.koji, "call", busy)
    with pytest.raises(KojiTransientError, match="busy"):  # not AirflowFailException: Airflow retries it
        EOLStepOperator(task_id="step", release="f24", **lock).execute(context())

    def refused(*args: Any, **kwargs: Any) -> Any:
        raise KojiError("lock tag f24", "permission denied")

    monkeypatch.setattr(world.koji, "call", refused)
    with pytest.raises(AirflowFailException, match="lock tag f24: permission denied"):
        EOLStepOperator(task_id="step", release="f24", **lock).execute(context())
    with pytest.raises(AirflowFailException, match=r"release 'f99' is not in the release configuration"):
        EOLPlanOperator(task_id="plan", release="f99").execute(context())
    with pytest.raises(AirflowFailException, match="eol_date: 'soon' is not a date"):
        plan_task(eol_date="soon")
    assert world.koji.tags["f24"]["locked"] is False


# --- the services: built from the hooks on first use, closed afterwards ---------------------------------------


def test_a_step_connects_only_to_the_service_it_needs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[str] = []
    closed: list[str] = []

    def hook(name: str, attribute: str, client: Any) -> type:
        class Hook:
            def __init__(self, conn_id: str) -> None:
                assert conn_id == f"{name}_default"

            def __getattr__(self, wanted: str) -> Any:
                if wanted != attribute:
                    raise AttributeError(wanted)
                built.append(name)
                client.close = lambda: closed.append(name)
                return client

        return Hook

    bugzilla = Bugzilla()
    monkeypatch.setattr("relengotron.airflow.hooks.KojiHook", hook("koji", "client", Koji()))
    monkeypatch.setattr("relengotron.airflow.hooks.PDCHook", hook("pdc", "client", PDC()))
    monkeypatch.setattr("relengotron.airflow.hooks.BugzillaHook", hook("bugzilla", "client", bugzilla))
    monkeypatch.setattr("relengotron.airflow.hooks.BusHook", hook("fedmsg", "publisher", Bus()))
    config = load_release_config(REPO / "config" / "fedora.yaml")
    local = dataclasses.replace(config.mirror, master=str(tmp_path / "m"), archive=str(tmp_path / "a"))
    config = dataclasses.replace(config, mirror=local)
    step = {"kind": "bugzilla-close", "bug_id": 1, "product": "Fedora", "version": "24", "comment": "EOL"}
    from relengotron.eol_run import execute_steps

    with seam.eol_services(config, "f24", ostree_archive=tmp_path / "archive-repo") as services:
        assert built == [] and isinstance(services.signer, Lazy) and not services.signer.built
        [outcome] = execute_steps([step], services)
        assert outcome.changed and bugzilla.bugs[1] == ("24", "CLOSED")
        assert built == ["bugzilla"]
    assert closed == ["bugzilla"]
    with seam.eol_services(config, "rawhide", ostree_archive=tmp_path / "archive-repo") as services:
        assert services.ostree.path == config.mirror.staging / "linux/atomic/repo"  # the released repository
        assert services.ostree_archive.path == tmp_path / "archive-repo"
    assert built == ["bugzilla"]
