"""End of life of Fedora 23 against the sandbox services, a real ostree repository and a mirror tree: the dry
run changes nothing anywhere; the real run does every step, touches nothing of Fedora 24, publishes one EOL
message; a second run (and every step run again) changes nothing; a run cut short is finished by the next."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from conftest import bus_messages
from test_adapters_support import bugzilla_of, koji_of, pdc_of, sandbox_config

from relengotron.adapters.mirror import MirrorTrees
from relengotron.artifacts.staging import StagingTree
from relengotron.config import ReleaseConfig
from relengotron.eol import BUG_COMMENT, CarveOutRef, CloseBug, MoveMirrorPath, PublishEOL
from relengotron.eol_run import EOLServices, execute_step, plan_for, run_eol
from relengotron.messaging import FedmsgPublisher, load_fedmsg_config
from relengotron.ostree.repo import OSTreeRepo
from relengotron.planning import Manifest
from relengotron.signing import LocalGpgSigner
from relengotron.tools import gpg
from relengotron_sandbox.service import SandboxContext

pytestmark = pytest.mark.integration

EOL_DAY = date(2016, 12, 20)
EOL_TOPIC = "org.fedoraproject.dev.relengotron.release.eol"
SENTINEL = "org.fedoraproject.dev.test.sentinel"
REFS = {
    "fedora/23/x86_64/atomic-host": ["bash-4.3.42-1.fc23", "glibc-2.22-18.fc23"],
    "fedora/23/x86_64/updates/atomic-host": ["bash-4.3.42-1.fc23", "glibc-2.22-18.fc23"],
    "fedora/24/x86_64/atomic-host": ["bash-4.3.42-5.fc24", "glibc-2.23.1-7.fc24"],
    "fedora/rawhide/x86_64/atomic-host": ["bash-4.4.5-1.fc26", "glibc-2.24.90-1.fc26"],
}
MIRROR_FILES = (
    "linux/updates/23/x86_64/Packages/b/bash-4.3.42-1.fc23.noarch.rpm",
    "linux/updates/23/x86_64/repodata/repomd.xml",
    "linux/updates/testing/23/x86_64/repodata/repomd.xml",
    "linux/updates/24/x86_64/repodata/repomd.xml",
    "linux/updates/testing/24/x86_64/repodata/repomd.xml",
    "linux/releases/23/installer-iso/x86_64/Fedora-Server-dvd-x86_64-23.iso",
    "linux/releases/24/installer-iso/x86_64/Fedora-Server-dvd-x86_64-24.iso",
    "linux/atomic/repo/config",
    "website/index.html",
)
F23_TREES = ("linux/releases/23", "linux/updates/23", "linux/updates/testing/23")


@pytest.fixture(scope="module")
def signer(tmp_path_factory: pytest.TempPathFactory) -> LocalGpgSigner:
    home = tmp_path_factory.mktemp("gnupg")
    key = gpg.generate_key(home, "EOL Test", "eol@example.test")
    return LocalGpgSigner(home, key.fingerprint)


@dataclass
class Setup:
    config: ReleaseConfig
    services: EOLServices
    ctx: SandboxContext
    master: Path
    archive: Path


@pytest.fixture
def setup(services: SandboxContext, tmp_path: Path, signer: LocalGpgSigner) -> Iterator[Setup]:
    config = sandbox_config(tmp_path / "releng", services.world, services.built)
    staging = StagingTree.from_layout(config.mirror)
    repo = staging.ostree_repo.init("archive")  # the released repository: what clients pull
    for n, (ref, nvrs) in enumerate(sorted(REFS.items())):
        tree = tmp_path / "trees" / str(n)
        (tree / "usr").mkdir(parents=True)
        (tree / "usr" / "os-release").write_text(f"{ref}\n")
        metadata = {"version": f"{ref.split('/')[1]}.0", **Manifest.of(nvrs).metadata()}
        repo.commit(trees=[f"dir={tree}"], subject=ref, branch=ref, metadata=metadata)
    master, archive = Path(config.mirror.master), Path(config.mirror.archive)
    for rel in MIRROR_FILES:
        (master / rel).parent.mkdir(parents=True, exist_ok=True)
        (master / rel).write_text(f"{rel}\n")
    endpoints = services.endpoints
    koji, pdc, bugzilla = koji_of(endpoints), pdc_of(endpoints), bugzilla_of(endpoints)
    publisher = FedmsgPublisher(load_fedmsg_config(endpoints["bus"]["fedmsg_config"]))
    eol = EOLServices(
        koji=koji,
        pdc=pdc,
        bugzilla=bugzilla,
        ostree=repo,
        ostree_archive=OSTreeRepo(tmp_path / "ostree-archive"),
        staging=staging,
        mirror=MirrorTrees.from_layout(config.mirror),
        publisher=publisher,
        signer=signer,
        static_deltas=config.ostree.static_deltas,
    )
    yield Setup(config, eol, services, master, archive)
    publisher.close()
    bugzilla.close()
    pdc.close()
    koji.close()


def settled(setup: Setup) -> list[dict[str, Any]]:
    """Every message the bus archived so far (sentinels left out), once a fresh sentinel has come through:
    anything published before it is in the archive by then."""
    marker = time.monotonic_ns()
    setup.services.publisher.publish("test", "sentinel", {"n": marker})
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if any(m["msg"].get("n") == marker for m in bus_messages(setup.ctx, SENTINEL)):
            return [m for m in bus_messages(setup.ctx) if m["topic"] != SENTINEL]
        time.sleep(0.05)
    raise AssertionError("the sentinel message never reached the bus archive")


def tree_state(top: Path) -> dict[str, str]:
    return {
        p.relative_to(top).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        for p in sorted(top.rglob("*"))
    }


def snapshot(setup: Setup) -> dict[str, Any]:
    """What an EOL may change, in every service and tree (read through the adapters' clients)."""
    svc = setup.services
    koji = svc.koji.session
    bug_ids = [b.id for b in setup.ctx.world.bugs]
    return {
        "pdc": {r: svc.pdc.release(r)["active"] for r in ("fedora-23", "fedora-24", "fedora-rawhide")},
        "targets": sorted((t["name"], t["build_tag_name"], t["dest_tag_name"]) for t in koji.getBuildTargets()),
        "tags": sorted((t["name"], t["locked"]) for t in koji.listTags()),
        "bugs": svc.bugzilla.statuses(bug_ids),
        "comments": {i: len(c["comments"]) for i, c in svc.bugzilla.client.get_comments(bug_ids)["bugs"].items()},
        "ostree": (svc.ostree.refs(), svc.ostree.object_count(), tree_state(svc.ostree.path / "refs")),
        "ostree_archive": svc.ostree_archive.path.exists(),
        "master": tree_state(setup.master),
        "archive": tree_state(setup.archive) if setup.archive.exists() else None,
        "bus": [(m["topic"], m["msg_id"]) for m in settled(setup)],
    }


def f24_part(snap: dict[str, Any]) -> dict[str, Any]:
    """What belongs to Fedora 24 (and to no other release) in a snapshot."""
    return {
        "pdc": snap["pdc"]["fedora-24"],
        "targets": [t for t in snap["targets"] if t[0].startswith("f24")],
        "tags": [t for t in snap["tags"] if t[0].startswith("f24")],
        "bugs": {i: s for i, s in snap["bugs"].items() if i in (1300105, 1300106)},
        "ref": snap["ostree"][0]["fedora/24/x86_64/atomic-host"],
        # the OSTree repository on the mirror is shared by every release: its f24 ref is "ref" above
        "mirror": {
            p: h
            for p, h in snap["master"].items()
            if ("/24" in p or p.startswith("website")) and not p.startswith("linux/atomic/")
        },
    }


def test_dry_run_shows_the_plan_and_changes_nothing(setup: Setup) -> None:
    before = snapshot(setup)
    run = run_eol("f23", setup.config, setup.services, eol_date=EOL_DAY, dry_run=True)
    assert run.dry_run and run.outcomes == () and run.after is None
    assert len(run.plan.steps) == 18
    text = run.render()
    assert text.startswith("EOL plan for Fedora 23 (f23), end of life on 2016-12-20: 18 steps")
    assert "set PDC release fedora-23 inactive" in text and "Dry run: nothing was changed." in text
    assert f"move {setup.master}/linux/updates/testing/23 to {setup.archive}/linux/updates/testing/23" in text
    assert snapshot(setup) == before


def test_eol_of_f23_for_real_then_nothing_more(setup: Setup) -> None:
    config, svc, ctx = setup.config, setup.services, setup.ctx
    before = snapshot(setup)
    plan = plan_for("f23", config, svc, EOL_DAY)
    kinds = [s.kind for s in plan.steps]
    assert kinds == [
        "pdc-release-inactive",
        "koji-delete-target",
        *["koji-lock-tag"] * 7,
        *["bugzilla-close"] * 3,
        *["ostree-carve-out"] * 2,
        *["mirror-archive"] * 3,
        "publish-eol",
    ]

    run = run_eol("f23", config, svc, eol_date=EOL_DAY, dry_run=False)
    assert [o.key for o in run.outcomes] == [s.key for s in plan.steps]
    assert all(o.changed for o in run.outcomes)
    assert run.after is not None and run.after.empty  # re-gathered facts: nothing left to do
    after = snapshot(setup)

    # PDC, Koji, Bugzilla
    assert after["pdc"] == {"fedora-23": False, "fedora-24": True, "fedora-rawhide": True}
    assert svc.koji.session.getBuildTarget("f23-candidate") is None
    assert {n: locked for n, locked in after["tags"] if n in config.releases["f23"].tags.values()} == dict.fromkeys(
        config.releases["f23"].tags.values(), True
    )
    comment = BUG_COMMENT.format(name="Fedora 23", date="2016-12-20")
    for bug_id in (1300101, 1300102, 1300103):
        assert after["bugs"][bug_id] == ("CLOSED", "EOL")
        assert svc.bugzilla.client.getbug(bug_id).getcomments()[-1]["text"] == comment
    assert after["bugs"][1300104] == ("CLOSED", "ERRATA")

    # ostree: both f23 refs carved out (the one with a successor twin told to rebase), archived, signed
    head = svc.ostree.show("fedora/23/x86_64/atomic-host")
    assert head.metadata["ostree.endoflife-rebase"] == "fedora/24/x86_64/atomic-host"
    assert head.metadata["ostree.endoflife"].startswith("Fedora 23 is end of life (EOL) since 2016-12-20")
    assert head.metadata["relengotron.manifest"] == REFS["fedora/23/x86_64/atomic-host"]  # kept
    assert svc.signer.commit_signed(svc.ostree.path, head.checksum)
    updates = svc.ostree.show("fedora/23/x86_64/updates/atomic-host")
    assert "ostree.endoflife" in updates.metadata and "ostree.endoflife-rebase" not in updates.metadata
    carved = {r: c for r, c in after["ostree"][0].items() if r.startswith("fedora/23/")}
    assert svc.ostree_archive.refs() == carved
    for ref in ("fedora/24/x86_64/atomic-host", "fedora/rawhide/x86_64/atomic-host"):
        assert after["ostree"][0][ref] == before["ostree"][0][ref]
    # ... and carried to the master mirror, where clients pull it: every ref there as in the released repository
    assert OSTreeRepo(setup.master / config.mirror.ostree).refs() == after["ostree"][0]

    # mirror: the f23 trees moved whole into the archive; everything else stayed
    for tree in F23_TREES:
        assert not (setup.master / tree).exists()
        assert {p for p in after["archive"] if p.startswith(f"{tree}/")} == {
            p for p in before["master"] if p.startswith(f"{tree}/")
        }
    moved = {p: h for p, h in before["master"].items() if p.startswith(F23_TREES)}
    assert {p: h for p, h in after["archive"].items() if p in moved} == moved
    ostree = f"{config.mirror.ostree}/"  # the shared repository, checked above
    lists = ("fullfiletimelist-fedora", "imagelist-fedora")  # the downstream mirrors' file lists, kept by the syncs
    kept = {p: h for p, h in after["master"].items() if not p.startswith((ostree, *lists))}
    assert kept == {p: h for p, h in before["master"].items() if not p.startswith((*F23_TREES, ostree, *lists))}
    listed = (setup.master / lists[0]).read_text()
    assert not any(f"\t{tree}/" in listed or listed.count(f"\t{tree}\n") for tree in F23_TREES)

    # the bus: one EOL message, saying what was done; the marker on the archive tree holds it
    eol = bus_messages(ctx, EOL_TOPIC)
    assert len(eol) == 1
    body = eol[0]["msg"]
    assert (body["release"], body["name"], body["date"]) == ("f23", "Fedora 23", "2016-12-20")
    assert len(body["done"]) == 17 and "set PDC release fedora-23 inactive" in body["done"]
    assert body["steps"] == [s.key for s in plan.steps if not isinstance(s, PublishEOL)]
    assert svc.mirror.read_marker("f23")["done"] == body["done"]
    assert (setup.archive / "eol" / "f23.json").is_file()
    new_topics = [t for t, _ in after["bus"][len(before["bus"]) :]]
    assert new_topics.count("org.fedoraproject.dev.pdc.releases.changed") == 1
    assert new_topics.count("org.fedoraproject.dev.bugzilla.bug.update") == 3
    assert new_topics.count(EOL_TOPIC) == 1

    # nothing of Fedora 24 was touched
    assert f24_part(after) == f24_part(before)

    # a second run: an empty plan, nothing changed, no message
    again = run_eol("f23", config, svc, eol_date=EOL_DAY, dry_run=False)
    assert again.plan.empty and again.outcomes == () and again.after is not None and again.after.empty
    assert "nothing to do" in again.plan.render()
    # every step of the first plan run again, as it travels between tasks (a dict): each already done
    rerun = [execute_step(step.as_dict(), svc, plan_steps=[s.as_dict() for s in plan.steps]) for step in plan.steps]
    assert [o.changed for o in rerun] == [False] * len(plan.steps)
    assert snapshot(setup) == after


def test_a_run_cut_short_is_finished_by_the_next(setup: Setup) -> None:
    config, svc = setup.config, setup.services
    plan = plan_for("f23", config, svc, EOL_DAY)
    first_carve = next(i for i, s in enumerate(plan.steps) if isinstance(s, CarveOutRef))
    for step in plan.steps[: first_carve + 1]:  # a crash after the first carve-out
        assert execute_step(step, svc, plan_steps=plan.steps).changed
    half = plan_for("f23", config, svc, EOL_DAY)
    assert [s.key for s in half.steps] == [s.key for s in plan.steps[first_carve + 1 :]]
    assert not any(isinstance(s, CloseBug) for s in half.steps)

    (setup.archive / "linux/updates").mkdir(parents=True)  # a copy across filesystems killed half-way
    (setup.archive / "linux/updates/23").mkdir()
    (setup.archive / "linux/updates/23/partial").write_text("half\n")
    run = run_eol("f23", config, svc, eol_date=EOL_DAY, dry_run=False)
    assert [o.key for o in run.outcomes] == [s.key for s in half.steps] and all(o.changed for o in run.outcomes)
    assert run.after is not None and run.after.empty
    assert not (setup.master / "linux/updates/23").exists()
    assert (setup.archive / "linux/updates/23/x86_64/repodata/repomd.xml").read_text() == (
        "linux/updates/23/x86_64/repodata/repomd.xml\n"
    )
    assert sum(isinstance(s, MoveMirrorPath) for s in half.steps) == 3
    assert len(bus_messages(setup.ctx, EOL_TOPIC)) == 1
