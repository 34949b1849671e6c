"""The sandbox's release configuration: it renders, loads, and agrees with the world and its policies."""

from __future__ import annotations

from pathlib import Path

import pytest

from relengotron.gating.policies import ARTIFACT_RELEASE, Subject, load_policies
from relengotron_sandbox.releng import render_release_config
from relengotron_sandbox.world import World


@pytest.fixture
def rendered(world: World, tmp_path: Path):
    return render_release_config(world, "0badc0de", tmp_path)


def test_renders_with_the_world_key_and_paths_inside_the_state_dir(rendered, tmp_path: Path) -> None:
    assert rendered.path == tmp_path / "releng.yaml"
    assert {r.signing_key for r in rendered.releases.values()} == {"0badc0de"}
    assert "@WORLD_KEY@" not in rendered.path.read_text()
    assert rendered.ostree.repo == tmp_path / "ostree" / "repo"
    assert Path(rendered.mirror.master).is_dir() and Path(rendered.mirror.master).is_relative_to(tmp_path)
    assert rendered.gating_policies == tmp_path / "policies.yaml" and rendered.gating_policies.is_file()
    assert not list(tmp_path.glob(".*.tmp"))


def test_rendering_twice_gives_the_same_file(world: World, rendered, tmp_path: Path) -> None:
    first = rendered.path.read_bytes()
    render_release_config(world, "0badc0de", tmp_path)
    assert rendered.path.read_bytes() == first


def test_releases_and_tags_are_the_worlds(world: World, rendered) -> None:
    assert set(rendered.releases) == set(world.releases)
    for release_id, release in world.releases.items():
        assert rendered.release(release_id).tags == release.tags, release_id
        assert rendered.release(release_id).pdc_release == release.pdc_id
        assert rendered.release(release_id).dist == release.dist


def test_artifacts_are_the_worlds(world: World, rendered) -> None:
    def shape(a) -> tuple:
        return (a.release, a.name, a.kind, a.ref, a.image, a.arches)

    from_world = {shape(a) for a in world.artifacts}
    from_config = set()
    for a in rendered.artifacts:
        release = rendered.release(a.release)
        # the world writes templates with the version filled in; the configuration keeps {version}
        template = (a.ref or a.image).replace("{version}", release.version)
        from_config.add(
            (a.release, a.name, a.kind, template if a.ref else None, template if a.image else None, a.arches)
        )
    assert from_config == from_world


def test_each_artifacts_tests_are_what_the_policies_require(rendered) -> None:
    policies = load_policies(rendered.gating_policies)
    for artifact in rendered.artifacts:
        release = rendered.release(artifact.release)
        for arch in artifact.arches:
            subject = Subject.artifact(artifact, release, arch)
            required = {r.test_case_name for r in policies.required(ARTIFACT_RELEASE, release.pdc_release, subject)}
            assert required == set(artifact.tests), (artifact.release, artifact.name)


def test_a_world_without_a_release_config_cannot_render(world: World, tmp_path: Path) -> None:
    from dataclasses import replace

    with pytest.raises(ValueError, match="names no release_config"):
        render_release_config(replace(world, release_config=None), "0badc0de", tmp_path)
