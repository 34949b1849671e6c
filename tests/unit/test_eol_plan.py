"""The EOL plan: complete, ordered, idempotent, and it never touches another release."""

from __future__ import annotations

import dataclasses
import json
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relengotron.artifacts import load_release_config
from relengotron.config import ReleaseConfig
from relengotron.eol import (
    BUG_COMMENT,
    CarveOutRef,
    CloseBug,
    DeleteBuildTarget,
    EOLError,
    EOLFacts,
    KojiTag,
    KojiTarget,
    LockTag,
    MoveMirrorPath,
    OpenBug,
    PublishEOL,
    RefHead,
    SetReleaseInactive,
    Step,
    plan_eol,
    step_from_dict,
)
from relengotron.messaging import schema_message
from relengotron_sandbox import testing

REPO = Path(__file__).resolve().parents[2]
FEDORA = load_release_config(REPO / "config" / "fedora.yaml")
DAY = date(2017, 8, 8)
MASTER = "mirror-master.example.org:/srv/pub/fedora"
ARCHIVE = "mirror-master.example.org:/srv/pub/archive/fedora"

FACTS = EOLFacts(
    pdc_active={"fedora-24": True, "fedora-25": True, "fedora-rawhide": True},
    targets=(
        KojiTarget("f24-candidate", "f24-build", "f24-updates-candidate"),
        KojiTarget("f24", "f24-build", "f24"),
        KojiTarget("f25-candidate", "f25-build", "f25-updates-candidate"),
        KojiTarget("rawhide", "rawhide-build", "rawhide-pending"),
    ),
    tags=(
        KojiTag("f24", False),
        KojiTag("f24-updates", True),
        KojiTag("f24-updates-testing", False),
        KojiTag("f25", False),
    ),
    bugs=(
        OpenBug(1300106, "Fedora", "24", "kernel"),
        OpenBug(1300105, "Fedora", "24"),
        OpenBug(1300107, "Fedora", "25"),
    ),
    refs=(
        RefHead("fedora/24/x86_64/atomic-host", False),
        RefHead("fedora/24/x86_64/testing/atomic-host", False),
        RefHead("fedora/24/x86_64/updates/atomic-host", True),  # carved out already
        RefHead("fedora/25/x86_64/atomic-host", False),
        RefHead("fedora/rawhide/x86_64/atomic-host", False),
    ),
    mirror_paths=(
        "linux/updates/24",
        "linux/updates/24/x86_64",  # moved with its parent
        "/linux/updates/testing/24/",
        "linux/releases/24",
        "linux/updates/25",
        "linux/releases/rawhide",
        "updates",
        "linux/atomic/repo",
        "website",
    ),
)


def apply(facts: EOLFacts, steps: tuple[Step, ...] | list[Step]) -> EOLFacts:
    """What executing the steps does to the world (as the I/O side would see it afterwards)."""
    pdc = dict(facts.pdc_active)
    targets, tags, bugs = list(facts.targets), list(facts.tags), list(facts.bugs)
    refs, paths, announced = list(facts.refs), list(facts.mirror_paths), set(facts.announced)
    for step in steps:
        if isinstance(step, SetReleaseInactive):
            pdc[step.pdc_release] = False
        elif isinstance(step, DeleteBuildTarget):
            targets = [t for t in targets if t.name != step.name]
        elif isinstance(step, LockTag):
            tags = [KojiTag(t.name, t.locked or t.name == step.tag) for t in tags]
        elif isinstance(step, CloseBug):
            bugs = [b for b in bugs if b.id != step.bug_id]
        elif isinstance(step, CarveOutRef):
            refs = [RefHead(r.ref, r.endoflife or r.ref == step.ref) for r in refs]
        elif isinstance(step, MoveMirrorPath):
            paths = [p for p in paths if not (p.strip("/") + "/").startswith(step.path + "/")]
        elif isinstance(step, PublishEOL):
            announced.add(step.release)
    return EOLFacts(pdc, tuple(targets), tuple(tags), tuple(bugs), tuple(refs), tuple(paths), frozenset(announced))


def test_the_complete_plan_in_order() -> None:
    plan = plan_eol("f24", FEDORA, FACTS, DAY)
    assert [s.key for s in plan.steps] == [
        "pdc-release-inactive:fedora-24",
        "koji-delete-target:f24",
        "koji-delete-target:f24-candidate",
        "koji-lock-tag:f24",
        "koji-lock-tag:f24-updates-testing",
        "bugzilla-close:1300105",
        "bugzilla-close:1300106",
        "ostree-carve-out:fedora/24/x86_64/atomic-host",
        "ostree-carve-out:fedora/24/x86_64/testing/atomic-host",
        "mirror-archive:linux/releases/24",
        "mirror-archive:linux/updates/24",
        "mirror-archive:linux/updates/testing/24",
        "publish-eol:f24",
    ]
    carve, testing = (s for s in plan.steps if isinstance(s, CarveOutRef))
    assert carve.rebase == "fedora/25/x86_64/atomic-host"  # the successor's matching ref exists
    assert "Fedora 24 is end of life (EOL) since 2017-08-08" in carve.endoflife
    assert "rpm-ostree rebase fedora/25/x86_64/atomic-host" in carve.endoflife
    assert testing.rebase is None  # f25 has no testing ref
    move = next(s for s in plan.steps if isinstance(s, MoveMirrorPath))
    assert (move.source, move.destination) == (f"{MASTER}/linux/releases/24", f"{ARCHIVE}/linux/releases/24")
    publish = plan.steps[-1]
    assert isinstance(publish, PublishEOL) and (publish.modname, publish.topic) == ("relengotron", "release.eol")
    assert str(schema_message(publish.modname, publish.topic, publish.body)) == (
        "releng-o-tron ended the life of Fedora 24 on 2017-08-08"
    )
    assert publish.body == {
        "release": "f24",
        "name": "Fedora 24",
        "version": "24",
        "pdc_release": "fedora-24",
        "eol_date": "2017-08-08",
    }


def test_bugs_are_closed_as_eol_with_fedoras_comment() -> None:
    bug = next(s for s in plan_eol("f24", FEDORA, FACTS, DAY).steps if isinstance(s, CloseBug))
    assert (bug.status, bug.resolution, bug.product, bug.version) == ("CLOSED", "EOL", "Fedora", "24")
    assert bug.comment.startswith("Fedora 24 changed to end-of-life (EOL) status on 2017-08-08. Fedora 24 is\n")
    assert "If you can reproduce this bug against a currently maintained version of\nFedora" in bug.comment
    assert bug.comment.endswith("Thank you for reporting this bug and we are sorry it could not be fixed.")
    assert bug.comment == BUG_COMMENT.format(name="Fedora 24", date="2017-08-08")


def test_the_dry_run_text() -> None:
    text = plan_eol("f24", FEDORA, FACTS, DAY).render()
    lines = text.splitlines()
    assert lines[0] == "EOL plan for Fedora 24 (f24), end of life on 2017-08-08: 13 steps"
    assert lines[1] == "   1. [pdc] set PDC release fedora-24 inactive"
    assert "   4. [koji] lock tag f24" in lines
    assert "   6. [bugzilla] close bug 1300105 (Fedora 24) as CLOSED EOL" in lines
    assert f"  10. [mirror] move {MASTER}/linux/releases/24 to {ARCHIVE}/linux/releases/24" in lines
    assert "  13. [bus] publish relengotron.release.eol for f24" in lines
    assert "  | Thank you for reporting this bug and we are sorry it could not be fixed." in lines
    assert all(line == line.rstrip() for line in lines)


def test_replanning_after_execution_is_empty_and_a_cut_short_run_is_finished() -> None:
    plan = plan_eol("f24", FEDORA, FACTS, DAY)
    done = apply(FACTS, plan.steps)
    again = plan_eol("f24", FEDORA, done, DAY)
    assert again.empty and again.render().endswith("nothing to do, every change is already made.")
    for cut in range(len(plan.steps)):
        assert plan_eol("f24", FEDORA, apply(FACTS, plan.steps[:cut]), DAY).steps == plan.steps[cut:]


def test_steps_travel_as_json() -> None:
    steps = plan_eol("f24", FEDORA, FACTS, DAY).steps
    assert {type(s) for s in steps} == {
        SetReleaseInactive,
        DeleteBuildTarget,
        LockTag,
        CloseBug,
        CarveOutRef,
        MoveMirrorPath,
        PublishEOL,
    }
    assert len({s.key for s in steps}) == len(steps)
    for step in steps:
        assert step_from_dict(json.loads(json.dumps(step.as_dict()))) == step
    with pytest.raises(EOLError, match="unknown EOL step kind 'koji-untag'"):
        step_from_dict({"kind": "koji-untag"})


@pytest.mark.parametrize(
    ("release", "facts", "message"),
    [
        ("f23", FACTS, "unknown release 'f23' (configured: f24, f25, rawhide)"),
        ("rawhide", FACTS, "release rawhide is Rawhide: Rawhide is never end-of-life"),
        ("f24", EOLFacts(pdc_active={"fedora-25": True}), "PDC has no release fedora-24 (release f24)"),
    ],
)
def test_releases_that_cannot_be_planned(release: str, facts: EOLFacts, message: str) -> None:
    with pytest.raises(EOLError) as caught:
        plan_eol(release, FEDORA, facts, DAY)
    assert message in str(caught.value)


def test_a_release_without_successor_gets_no_rebase_and_shared_templates_are_never_touched() -> None:
    shared = dataclasses.replace(FEDORA.artifacts[0], release="f25", ref="fedora/{arch}/atomic-host")
    config = dataclasses.replace(
        FEDORA,
        artifacts=(*FEDORA.artifacts, shared),
        mirror=dataclasses.replace(FEDORA.mirror, images="images/{arch}"),
    )
    facts = EOLFacts(
        pdc_active={"fedora-25": False},
        refs=(RefHead("fedora/25/x86_64/atomic-host", False), RefHead("fedora/x86_64/atomic-host", False)),
        mirror_paths=("linux/releases/25", "images/x86_64", "linux/updates/25"),
        announced=frozenset({"f25"}),
    )
    plan = plan_eol("f25", config, facts, DAY)
    assert [s.key for s in plan.steps] == [
        "ostree-carve-out:fedora/25/x86_64/atomic-host",
        "mirror-archive:linux/updates/25",
    ]
    carve = plan.steps[0]
    assert isinstance(carve, CarveOutRef) and carve.rebase is None and "rebase" not in carve.endoflife.lower()


def test_targets_building_into_another_release_are_left_alone() -> None:
    facts = EOLFacts(
        pdc_active={"fedora-24": False},
        targets=(KojiTarget("odd", "f24", "f25-updates-candidate"), KojiTarget("side", "f24", "side-tag")),
        announced=frozenset({"f24"}),
    )
    assert [s.key for s in plan_eol("f24", FEDORA, facts, DAY).steps] == ["koji-delete-target:side"]


# ------------------------------------------------------------------ property: nothing of another release

ROLES = ("build", "candidate", "testing", "stable")
STREAMS = (None, "testing", "updates")
ARCHES = ("x86_64", "aarch64")


def make_config(count: int, successors: list[int | None]) -> ReleaseConfig:
    releases = [
        testing.release(
            f"r{i}",
            version=str(20 + i),
            arches=ARCHES,
            tags={role: f"r{i}-{role}" for role in ROLES},
            successor=f"r{successors[i]}" if successors[i] is not None and successors[i] != i else None,
        )
        for i in range(count)
    ]
    return testing.release_config(releases, [testing.artifact(release=r.id, arches=ARCHES) for r in releases])


@st.composite
def worlds(draw: st.DrawFn) -> tuple[ReleaseConfig, EOLFacts, dict[str, str | None], str]:
    count = draw(st.integers(2, 4))
    successors = draw(st.lists(st.none() | st.integers(0, count - 1), min_size=count, max_size=count))
    config = make_config(count, successors)
    rids = list(config.releases)
    owner: dict[str, str | None] = {}  # a fact's key → the release it belongs to (None: no release)
    all_tags = [t for r in config.releases.values() for t in r.tags.values()] + ["side-tag", "trunk"]
    targets = []
    for index, (build, dest) in enumerate(
        draw(st.lists(st.tuples(st.sampled_from(all_tags), st.sampled_from(all_tags)), max_size=8))
    ):
        targets.append(KojiTarget(f"t{index}", build, dest))
    tags = tuple(
        KojiTag(tag, draw(st.booleans())) for tag in draw(st.sets(st.sampled_from(all_tags), max_size=len(all_tags)))
    )
    versions = [config.releases[r].version for r in rids] + ["rawhide", "19"]
    bugs = tuple(
        OpenBug(1000 + i, product, version)
        for i, (product, version) in enumerate(
            draw(st.lists(st.tuples(st.sampled_from(["Fedora", "Fedora EPEL"]), st.sampled_from(versions)), max_size=8))
        )
    )
    refs = []
    for rid, arch, stream, eol in draw(
        st.lists(
            st.tuples(st.sampled_from([*rids, None]), st.sampled_from(ARCHES), st.sampled_from(STREAMS), st.booleans())
        )
    ):
        ref = f"fedora/{config.releases[rid].version}/{arch}/atomic-host" if rid else f"fedora/{arch}/junk"
        if rid:
            ref = config.artifacts_of(rid)[0].ostree_ref(config.releases[rid], arch, stream)
        owner[f"ref:{ref}"] = rid
        refs.append(RefHead(ref, eol))
    paths = []
    for rid, kind, stream, depth in draw(
        st.lists(
            st.tuples(
                st.sampled_from([*rids, None]),
                st.sampled_from(["updates", "images"]),
                st.sampled_from(["", "testing"]),
                st.integers(0, 1),
            )
        )
    ):
        if rid is None:
            path = draw(
                st.sampled_from(["linux", "linux/updates", "linux/updates/testing", "linux/atomic/repo", "website"])
            )
        elif kind == "updates":
            path = f"linux/updates/{stream}/{config.releases[rid].version}" + ("/x86_64" if depth else "")
        else:
            path = f"linux/releases/{config.releases[rid].version}" + ("/atomic/x86_64" if depth else "")
        path = path.replace("//", "/")
        owner[f"path:{path}"] = rid
        paths.append(path)
    pdc = {r.pdc_release: draw(st.booleans()) for r in config.releases.values()}
    facts = EOLFacts(
        pdc,
        tuple(targets),
        tags,
        bugs,
        tuple(dict.fromkeys(refs)),
        tuple(paths),
        frozenset(draw(st.sets(st.sampled_from(rids)))),
    )
    return config, facts, owner, draw(st.sampled_from(rids))


@given(worlds())
@settings(max_examples=200, deadline=None)
def test_the_eol_plan_of_a_release_touches_nothing_of_another_release(world: tuple) -> None:
    config, facts, owner, rid = world
    release = config.releases[rid]
    own = set(release.tags.values())
    others = {t for r in config.releases.values() if r.id != rid for t in r.tags.values()}
    plan = plan_eol(rid, config, facts, DAY)
    for step in plan.steps:
        if isinstance(step, SetReleaseInactive):
            assert step.pdc_release == release.pdc_release
        elif isinstance(step, DeleteBuildTarget):
            assert step.dest_tag not in others and own & {step.build_tag, step.dest_tag}
        elif isinstance(step, LockTag):
            assert step.tag in own
        elif isinstance(step, CloseBug):
            assert (step.product, step.version) == ("Fedora", release.bugzilla_version)
        elif isinstance(step, CarveOutRef):
            assert owner[f"ref:{step.ref}"] == rid
            if step.rebase:
                successor = config.releases[release.successor]
                assert step.rebase.startswith(f"fedora/{successor.version}/")
        elif isinstance(step, MoveMirrorPath):
            assert owner[f"path:{step.path}"] == rid
            assert step.source == f"/master/{step.path}" and step.destination == f"/archive/{step.path}"
        else:
            assert isinstance(step, PublishEOL) and step.release == rid
    # complete: everything of the release that is not done yet is in the plan, and then nothing is left
    assert {s.ref for s in plan.steps if isinstance(s, CarveOutRef)} == {
        r.ref for r in facts.refs if owner[f"ref:{r.ref}"] == rid and not r.endoflife
    }
    assert {s.tag for s in plan.steps if isinstance(s, LockTag)} == {
        t.name for t in facts.tags if t.name in own and not t.locked
    }
    assert plan_eol(rid, config, apply(facts, plan.steps), DAY).empty
