"""Running an EOL plan at the adapter seam: facts gathered from stand-in services, each step dispatched to its
function, bug closings batched, the message published once with its marker, and nothing left afterwards."""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from relengotron.adapters.errors import NotFoundError
from relengotron.adapters.mirror import MirrorError, MirrorTrees
from relengotron.artifacts import load_release_config
from relengotron.artifacts.staging import StagingTree
from relengotron.config import ReleaseConfig
from relengotron.eol import EOLError, LockTag, MoveMirrorPath, OpenBug, PublishEOL
from relengotron.eol_run import EOLRun, EOLServices, execute_plan, execute_step, gather_facts, plan_for, run_eol
from relengotron.kojiclient import KojiError, KojiNotFoundError
from relengotron.ostree.repo import OSTreeRepo

REPO = Path(__file__).resolve().parents[2]
DAY = date(2017, 8, 8)


class Koji:
    """Koji's build targets and tags, answering the calls the EOL code makes."""

    def __init__(self) -> None:
        self.targets = {
            "f24-candidate": {
                "id": 1,
                "name": "f24-candidate",
                "build_tag_name": "f24",
                "dest_tag_name": "f24-updates-candidate",
            },
            "f25-candidate": {
                "id": 2,
                "name": "f25-candidate",
                "build_tag_name": "f25",
                "dest_tag_name": "f25-updates-candidate",
            },
        }
        self.tags = {
            name: {"name": name, "locked": name == "f24-updates"}
            for name in ("f24", "f24-updates", "f24-updates-candidate", "f25")
        }
        self.writes: list[tuple[str, tuple[Any, ...]]] = []

    def call(self, method: str, *args: Any, item: str, **kwargs: Any) -> Any:
        if method == "getBuildTargets":
            return list(self.targets.values())
        if method == "getBuildTarget":
            return self.targets.get(args[0])
        self.writes.append((method, args))
        if method == "deleteBuildTarget":
            del self.targets[next(n for n, t in self.targets.items() if t["id"] == args[0])]
        elif method == "editTag2":
            self.tags[args[0]]["locked"] = kwargs["locked"]
        else:
            raise AssertionError(f"unexpected call {method}")
        return None

    def multicall(self, calls: list[tuple[str, tuple[Any, ...], dict[str, Any], str]]) -> list[Any]:
        assert {c[0] for c in calls} == {"getTag"}
        return [self.tags.get(args[0]) for _, args, _, _ in calls]

    def tag_info(self, tag: str) -> dict[str, Any]:
        if tag not in self.tags:
            raise KojiNotFoundError(f"tag {tag}", "No such tagInfo")
        return self.tags[tag]


class PDC:
    def __init__(self) -> None:
        self.active = {"fedora-24": True, "fedora-25": True}
        self.patches = 0

    def release(self, pdc_release: str) -> dict[str, Any]:
        if pdc_release not in self.active:
            raise NotFoundError("pdc", f"release {pdc_release}", "HTTP 404")
        return {"release_id": pdc_release, "active": self.active[pdc_release]}

    def set_release_inactive(self, pdc_release: str) -> bool:
        if not self.release(pdc_release)["active"]:
            return False
        self.active[pdc_release] = False
        self.patches += 1
        return True


class Bugzilla:
    def __init__(self) -> None:
        self.bugs = {1: ("24", "NEW"), 2: ("24", "ASSIGNED"), 3: ("25", "NEW"), 4: ("24", "CLOSED")}
        self.batches: list[list[int]] = []

    def open_bugs(self, product: str, version: str) -> list[OpenBug]:
        return [
            OpenBug(i, product, v, "bash") for i, (v, s) in sorted(self.bugs.items()) if v == version and s != "CLOSED"
        ]

    def close_bugs(self, ids: list[int], comment: str, *, status: str, resolution: str) -> list[int]:
        self.batches.append(list(ids))
        todo = [i for i in ids if self.bugs[i][1] != "CLOSED"]
        for i in todo:
            self.bugs[i] = (self.bugs[i][0], status)
        return todo


class Bus:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, dict[str, Any]]] = []

    def publish(self, modname: str, topic: str, msg: dict[str, Any]) -> None:
        self.sent.append((modname, topic, msg))


@pytest.fixture
def config(tmp_path: Path) -> ReleaseConfig:
    fedora = load_release_config(REPO / "config" / "fedora.yaml")
    mirror = dataclasses.replace(
        fedora.mirror,
        master=str(tmp_path / "master"),
        archive=str(tmp_path / "archive"),
        staging=tmp_path / "staging",
    )
    for rel in (
        "linux/updates/24/x86_64/repomd.xml",
        "linux/updates/testing/24/x86_64/repomd.xml",
        "linux/updates/25/x86_64/repomd.xml",
    ):
        (tmp_path / "master" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "master" / rel).write_text(rel)
    return dataclasses.replace(fedora, mirror=mirror)


@pytest.fixture
def services(config: ReleaseConfig, tmp_path: Path) -> EOLServices:
    return EOLServices(
        koji=Koji(),  # type: ignore[arg-type]
        pdc=PDC(),  # type: ignore[arg-type]
        bugzilla=Bugzilla(),  # type: ignore[arg-type]
        ostree=StagingTree.from_layout(config.mirror).ostree_repo,
        ostree_archive=OSTreeRepo(tmp_path / "no-archive"),
        staging=StagingTree.from_layout(config.mirror),
        mirror=MirrorTrees.from_layout(config.mirror),
        publisher=Bus(),
    )


def test_facts_plan_execute_and_nothing_left(config: ReleaseConfig, services: EOLServices, tmp_path: Path) -> None:
    facts = gather_facts("f24", config, services)
    assert facts.pdc_active == {"fedora-24": True}
    assert {t.name for t in facts.tags} == {"f24", "f24-updates", "f24-updates-candidate"}  # those that exist
    assert [b.id for b in facts.bugs] == [1, 2] and facts.refs == () and facts.announced == frozenset()
    assert "linux/updates/24" in facts.mirror_paths and "linux/updates/25" in facts.mirror_paths

    plan = plan_for("f24", config, services, DAY)
    assert [s.key for s in plan.steps] == [
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
    outcomes = execute_plan(plan, services)
    assert [o.changed for o in outcomes] == [True] * len(plan.steps)
    assert services.bugzilla.batches == [[1, 2]]  # both bugs in one batch
    assert services.koji.writes == [
        ("deleteBuildTarget", (1,)),
        ("editTag2", ("f24",)),
        ("editTag2", ("f24-updates-candidate",)),
    ]
    assert set(services.koji.targets) == {"f25-candidate"} and services.pdc.active["fedora-25"] is True
    assert services.bugzilla.bugs[3] == ("25", "NEW")
    [(modname, topic, body)] = services.publisher.sent
    assert (modname, topic, body["release"], body["date"]) == ("relengotron", "release.eol", "f24", "2017-08-08")
    assert body["steps"] == [s.key for s in plan.steps[:-1]] and len(body["done"]) == 8
    assert services.mirror.read_marker("f24")["topic"] == "relengotron.release.eol"
    assert (tmp_path / "archive/linux/updates/testing/24/x86_64/repomd.xml").is_file()
    assert (tmp_path / "master/linux/updates/25/x86_64/repomd.xml").is_file()

    assert plan_for("f24", config, services, DAY).empty
    again = [execute_step(s, services, plan_steps=plan.steps) for s in plan.steps]
    assert not any(o.changed for o in again)
    assert len(services.publisher.sent) == 1 and services.pdc.patches == 1 and len(services.koji.writes) == 3


def test_dry_run_changes_nothing_and_says_so(config: ReleaseConfig, services: EOLServices, tmp_path: Path) -> None:
    run = run_eol("f24", config, services, eol_date=DAY, dry_run=True)
    assert isinstance(run, EOLRun) and len(run.plan.steps) == 9 and run.outcomes == ()
    assert run.render().endswith("Dry run: nothing was changed.")
    assert services.koji.writes == [] and services.publisher.sent == [] and services.pdc.patches == 0
    assert not (tmp_path / "archive").exists()
    done = run_eol("f24", config, services, eol_date=DAY, dry_run=False)
    assert done.after is not None and done.after.empty
    assert "Afterwards: nothing left to do." in done.render() and "  done: lock tag f24" in done.render()


def test_steps_refuse_what_no_longer_matches_the_plan(services: EOLServices, tmp_path: Path) -> None:
    services.koji.targets["f24-candidate"]["dest_tag_name"] = "f25-updates-candidate"
    step = {
        "kind": "koji-delete-target",
        "name": "f24-candidate",
        "build_tag": "f24",
        "dest_tag": "f24-updates-candidate",
    }
    with pytest.raises(KojiError, match="build target f24-candidate: now builds from f24 into f25-updates-candidate"):
        execute_step(step, services)
    assert services.koji.writes == []
    elsewhere = MoveMirrorPath("linux/updates/24", "/srv/other/updates/24", f"{tmp_path}/archive/linux/updates/24")
    with pytest.raises(MirrorError, match="planned as /srv/other/updates/24"):
        execute_step(elsewhere, services)
    with pytest.raises(KojiNotFoundError, match="tag f26"):
        execute_step(LockTag("f26"), services)
    with pytest.raises(EOLError, match="unknown EOL step kind 'koji-frobnicate'"):
        execute_step({"kind": "koji-frobnicate"}, services)


def test_the_message_is_not_sent_twice(services: EOLServices) -> None:
    step = PublishEOL("f24", "relengotron", "release.eol", {"release": "f24", "eol_date": "2017-08-08"})
    assert execute_step(step, services).changed is True
    assert execute_step(step.as_dict(), services).changed is False
    assert len(services.publisher.sent) == 1 and services.publisher.sent[0][2]["done"] == []
