"""The sandbox world's kickstarts: each image artifact of releng.yaml names one, it parses for each of the
artifact's releases, and its %packages is exactly the world's package list for that image (worlds/fedora.yaml),
so the image a task installs from it is the artifact's manifest."""

from __future__ import annotations

from pathlib import Path

from relengotron.imagerequest import check_kickstart_file, packages_of
from relengotron.yamlfile import load
from relengotron_sandbox.rpmdeps import Dep, satisfies
from relengotron_sandbox.world import load_world

WORLDS = Path(__file__).resolve().parents[2] / "sandbox/relengotron_sandbox/worlds"


def test_every_world_image_has_a_kickstart_of_its_packages() -> None:
    world = load_world(WORLDS / "fedora.yaml")
    releng = load(WORLDS / "releng.yaml")
    versions = {rel_id: str(rel["version"]) for rel_id, rel in releng["releases"].items()}
    images = [a for a in releng["artifacts"] if "image" in a]
    assert images
    for artifact in images:
        request = artifact["image_request"]
        path = WORLDS / request["kickstart"]
        for rel_id in artifact["releases"]:
            parser = check_kickstart_file(path, f"F{versions[rel_id]}")
            [listed] = [a for a in world.artifacts if a.name == artifact["name"] and a.release == rel_id]
            assert sorted(packages_of(parser)) == sorted(listed.packages), (artifact["name"], rel_id)
            assert not parser.handler.packages.groupList and not parser.handler.repo.repoList


def test_every_world_image_is_closed_under_its_dependencies() -> None:
    """An image installs its %packages and what they require: the world's list must already hold all of it, or
    the image would hold more than its manifest and the gatekeeper (ImageArtifact.finish) refuse it."""
    world = load_world(WORLDS / "fedora.yaml")
    for artifact in (a for a in world.artifacts if a.image):
        tag = world.releases[artifact.release].tags["build"]
        builds = [b for p in artifact.packages for b in world.packages[p].builds if tag in b.tags]
        provided = [Dep(b.package) for b in builds] + [d for b in builds for d in b.provides]
        for build in builds:
            for need in build.requires:
                assert any(satisfies(p, need) for p in provided), (artifact.name, artifact.release, build.nvr, need)
