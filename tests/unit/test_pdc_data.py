"""What the sandbox PDC is seeded with, derived from the world (with a fabricated build of it)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from productmd.images import Images

from relengotron_sandbox import pdc_data
from relengotron_sandbox.world import World
from relengotron_sandbox.worldbuild import BuiltRPM, BuiltWorld

KEY = "0badc0de"


def fabricated(world: World) -> BuiltWorld:
    """A BuiltWorld with plausible RPM records (no files): src + noarch per build, deps from the world."""
    rpms = {}
    for n, build in enumerate(world.builds()):
        rpms[build.nvr] = tuple(
            BuiltRPM(
                build=build.nvr,
                name=build.package,
                version=build.version,
                release=build.release,
                epoch=None,
                arch=arch,
                filename=f"{build.nvr}.{arch}.rpm",
                relpath=f"packages/{build.package}/{build.version}/{build.release}/{arch}/{build.nvr}.{arch}.rpm",
                size=1000,
                payloadhash="0" * 32,
                buildtime=1466000000 + n,
                requires=() if arch == "src" else tuple(str(d) for d in build.requires),
                provides=(f"{build.package} = {build.version}-{build.release}",)
                + (() if arch == "src" else tuple(str(d) for d in build.provides)),
                signed_relpath=None if not build.signed else f"packages/x/{KEY}/{arch}/f.rpm",
            )
            for arch in ("src", "noarch")
        )
    return BuiltWorld(Path("/nonexistent"), world.digest, Path("/t"), Path("/g"), KEY, "0" * 40, Path("/k"), rpms)


@pytest.fixture(scope="module")
def docs(world: World) -> pdc_data.Docs:
    return pdc_data.seed(world, fabricated(world))


def test_releases(world: World, docs: pdc_data.Docs) -> None:
    releases = {r["release_id"]: r for r in docs["releases"]}
    assert set(releases) == {r.pdc_id for r in world.releases.values()}
    f24 = releases["fedora-24"]
    assert (f24["short"], f24["version"], f24["release_type"], f24["active"]) == ("fedora", "24", "ga", True)
    assert f24["sigkey"] == KEY and f24["dist_git"] == {"branch": "f24"}
    assert releases["fedora-rawhide"]["dist_git"] == {"branch": "master"}


def test_an_eol_release_starts_inactive(world: World) -> None:
    eol = dataclasses.replace(world.releases["f23"], state="eol")
    older = dataclasses.replace(world, releases={**world.releases, "f23": eol})
    releases = {r["release_id"]: r["active"] for r in pdc_data.seed(older, fabricated(older))["releases"]}
    assert releases == {"fedora-23": False, "fedora-24": True, "fedora-rawhide": True}


def test_components_are_the_packages_built_for_each_release(world: World, docs: pdc_data.Docs) -> None:
    owner = world.tag_release()
    for release in world.releases.values():
        names = [c["name"] for c in docs["release-components"] if c["release"] == release.pdc_id]
        expected = {b.package for b in world.builds() if any(owner[t].id == release.id for t in b.tags)}
        assert sorted(names) == sorted(expected)
    ids = [c["id"] for c in docs["release-components"]]
    assert ids == list(range(1, len(ids) + 1))


def test_groups_list_each_artifacts_packages(world: World, docs: pdc_data.Docs) -> None:
    by_id = {c["id"]: c for c in docs["release-components"]}
    assert len(docs["component-groups"]) == len(world.artifacts)
    for group, art in zip(docs["component-groups"], world.artifacts, strict=True):
        assert (group["group_type"], group["description"]) == (art.group_type, art.name)
        assert [c["name"] for c in group["components"]] == list(art.packages)
        for member in group["components"]:
            assert by_id[member["id"]]["release"] == group["release"] == world.releases[art.release].pdc_id


def test_executes_relationships_follow_required_paths(docs: pdc_data.Docs) -> None:
    rels = docs["release-component-relationships"]
    pairs = {(r["from_component"]["release"], r["from_component"]["name"], r["to_component"]["name"]) for r in rels}
    assert ("fedora-24", "kubernetes", "docker") in pairs  # Requires /usr/bin/docker
    assert ("fedora-24", "coreutils", "bash") in pairs  # Requires /bin/sh
    assert ("fedora-24", "anaconda", "dnf") in pairs  # installer-iso member, Requires /usr/bin/dnf
    assert not any(name == "anaconda" for rel, name, _ in pairs if rel == "fedora-rawhide")  # not in an artifact
    assert all(r["type"] == "executes" for r in rels)
    assert not any(src == dst for _, src, dst in pairs)


def test_rpms_come_from_stable_tags_only(world: World, docs: pdc_data.Docs) -> None:
    nvrs = {f"{r['srpm_name']}-{r['version']}-{r['release']}" for r in docs["rpms"]}
    assert "glibc-2.23.1-8.fc24" in nvrs  # f24-updates
    assert "bash-4.3.42-6.fc24" not in nvrs  # f24-signing-pending
    assert "systemd-229-9.fc24" not in nvrs  # f24-updates-testing
    assert "etcd-3.0.15-1.fc26" not in nvrs  # rawhide-pending
    updates = next(r for r in docs["rpms"] if r["filename"] == "glibc-2.23.1-8.fc24.noarch.rpm")
    assert updates["linked_composes"] == [] and updates["built_for_release"] == "fedora-24"
    src = next(r for r in docs["rpms"] if r["filename"] == "bash-4.3.42-5.fc24.src.rpm")
    assert src["srpm_nevra"] is None and src["epoch"] == 0
    keys = [(r["name"], r["epoch"], r["version"], r["release"], r["arch"]) for r in docs["rpms"]]
    assert keys == sorted(keys)


def test_composes_and_their_images(world: World, docs: pdc_data.Docs) -> None:
    composes = {c["release"]: c for c in docs["composes"]}
    f24 = composes["fedora-24"]
    assert f24["compose_id"] == f"Fedora-24-{f24['compose_date'].replace('-', '')}.0"
    assert composes["fedora-rawhide"]["compose_id"].endswith(".n.0")
    assert composes["fedora-rawhide"]["compose_type"] == "nightly"
    assert f24["sigkeys"] == [KEY]
    images = {i["compose_id"]: i["images"] for i in docs["compose-images"]}
    manifest = Images()
    manifest.deserialize(images[f24["compose_id"]])
    assert set(manifest.images) == {"Server", "Atomic", "CloudImages"}
    cloud = {img.type for img in manifest.images["CloudImages"]["x86_64"]}
    assert cloud == {"raw-xz", "tar-gz"}


def test_image_format_must_suit_the_type() -> None:
    assert pdc_data.image_format("Fedora-Cloud-Base-24.x86_64.raw.xz", "raw-xz") == "raw.xz"
    with pytest.raises(ValueError, match="does not suit"):
        pdc_data.image_format("a.iso", "raw-xz")
    with pytest.raises(ValueError, match="no productmd image format"):
        pdc_data.image_format("a.exe", "dvd")
