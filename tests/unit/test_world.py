"""The world schema: the default world loads as expected; each kind of mistake is named by file, line and item."""

from __future__ import annotations

from pathlib import Path

import pytest

from relengotron.yamlfile import FileError
from relengotron_sandbox.rpmdeps import Dep
from relengotron_sandbox.world import World, load_world

GOOD = """\
signing_key:
  name: Test Key
  email: test@example.test
releases:
  f24:
    name: Fedora 24
    version: 24
    state: active
    dist: fc24
    tags:
      build: f24
      stable: f24-updates
packages:
  - name: bash
    owner: kdudka
    summary: The shell
    provides: [/bin/sh]
    builds:
      - {version: "4.3", release: "1.fc24", tags: [f24]}
  - name: coreutils
    owner: kdudka
    summary: Utilities
    requires: [/bin/sh]
    builds:
      - {version: "8.25", release: "1.fc24", tags: [f24]}
artifacts:
  - name: atomic-host
    kind: ostree
    release: f24
    ref: fedora/24/{arch}/atomic-host
    packages: [bash, coreutils]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "world.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def line_of(text: str, needle: str) -> int:
    """1-based line of the first line containing ``needle`` (asserting it is unique)."""
    hits = [n for n, line in enumerate(text.splitlines(), 1) if needle in line]
    assert len(hits) == 1, (needle, hits)
    return hits[0]


def load_bad(tmp_path: Path, text: str) -> FileError:
    path = write(tmp_path, text)
    with pytest.raises(FileError) as info:
        load_world(path)
    assert info.value.path == str(path)
    assert str(path) in str(info.value)
    return info.value


def test_default_world_counts(world: World) -> None:
    assert sorted(world.releases) == ["f23", "f24", "rawhide"]
    assert len(world.packages) == 32
    assert len(world.builds()) == 111
    assert sum(1 for b in world.builds() if not b.signed) == 3
    assert len(world.artifacts) == 11
    assert len(world.bugs) == 7
    assert len(world.stand_ins) == 1 and "failing AMI" in world.stand_ins[0].reason
    assert world.releases["f24"].tags["signing_pending"] == "f24-signing-pending"
    assert world.releases["rawhide"].pdc_id == "fedora-rawhide"
    assert world.tag_release()["f24-updates-testing"].id == "f24"
    assert len(world.digest) == 64


def test_default_world_known_build(world: World) -> None:
    build = world.build("bash-4.3.42-6.fc24")
    assert build.package == "bash"
    assert build.tags == ("f24-signing-pending",)
    assert build.signed is False
    assert build.requires == (Dep("libc.so.6"),)
    assert build.provides == (Dep("/bin/sh"), Dep("/bin/bash"))
    assert build.owner == "kdudka"
    # a per-build requires overrides the package's
    requests = world.build("python3-requests-2.12.1-1.fc26")
    assert requests.requires == (Dep("python(abi)", "=", "3.5"), Dep("python3-urllib3", ">=", "1.19"))
    with pytest.raises(KeyError):
        world.build("bash-0-0")


def test_small_world_loads(tmp_path: Path) -> None:
    world = load_world(write(tmp_path, GOOD))
    assert [b.nvr for b in world.builds()] == ["bash-4.3-1.fc24", "coreutils-8.25-1.fc24"]
    assert world.artifacts[0].packages == ("bash", "coreutils")
    assert world.artifacts[0].arches == ("x86_64",)
    assert world.users == ("kdudka",)


def test_missing_required_field(tmp_path: Path) -> None:
    text = GOOD.replace("    owner: kdudka\n    summary: Utilities\n", "    summary: Utilities\n")
    err = load_bad(tmp_path, text)
    assert err.line == line_of(text, "name: coreutils")
    assert err.key == "packages[1]"
    assert "missing required key 'owner'" in str(err)


def test_duplicate_package(tmp_path: Path) -> None:
    text = GOOD.replace("name: coreutils", "name: bash")
    err = load_bad(tmp_path, text)
    assert err.key == "packages[1].name"
    assert err.line == [n for n, line in enumerate(text.splitlines(), 1) if line == "  - name: bash"][1]
    assert "duplicate package 'bash'" in str(err)


def test_unparseable_requires(tmp_path: Path) -> None:
    text = GOOD.replace("requires: [/bin/sh]", "requires: ['/bin/sh >> 2']")
    err = load_bad(tmp_path, text)
    assert err.line == line_of(text, "requires:")
    assert err.key == "packages[1].requires[0]"
    assert "unknown operator '>>'" in str(err)


def test_unknown_tag(tmp_path: Path) -> None:
    text = GOOD.replace('release: "1.fc24", tags: [f24]', 'release: "1.fc24", tags: [f25-updates]', 1)
    err = load_bad(tmp_path, text)
    assert err.line == line_of(text, "f25-updates")
    assert err.key == "packages[0].builds[0].tags[0]"
    assert "unknown tag 'f25-updates'" in str(err)


def test_unknown_artifact_package(tmp_path: Path) -> None:
    text = GOOD.replace("packages: [bash, coreutils]", "packages: [bash, zsh]")
    err = load_bad(tmp_path, text)
    assert err.line == line_of(text, "packages: [bash, zsh]")
    assert err.key == "artifacts[0].packages[1]"
    assert "unknown package 'zsh'" in str(err)


def test_unknown_key(tmp_path: Path) -> None:
    text = GOOD.replace("    summary: Utilities\n", "    summary: Utilities\n    sumary: typo\n")
    err = load_bad(tmp_path, text)
    assert err.line == line_of(text, "sumary:")
    assert err.key == "packages[1].sumary"
    assert "unknown key 'sumary'" in str(err)


def test_duplicate_build(tmp_path: Path) -> None:
    text = GOOD.replace(
        '      - {version: "4.3", release: "1.fc24", tags: [f24]}\n',
        '      - {version: "4.3", release: "1.fc24", tags: [f24]}\n'
        '      - {version: "4.3", release: "1.fc24", tags: [f24-updates]}\n',
    )
    err = load_bad(tmp_path, text)
    assert err.line == line_of(text, "f24-updates]")
    assert "duplicate build bash-4.3-1.fc24" in str(err)


def test_an_arch_package_builds_its_debuginfo_and_debugsource(tmp_path: Path) -> None:
    from relengotron_sandbox.worldbuild import spec_text

    world = load_world(
        write(tmp_path, GOOD.replace("    summary: Utilities\n", "    summary: Utilities\n    arch: x86_64\n"))
    )
    [coreutils] = world.packages["coreutils"].builds
    [bash] = world.packages["bash"].builds
    assert (coreutils.arch, bash.arch) == ("x86_64", "noarch")
    assert coreutils.rpm_names == ("coreutils", "coreutils-debuginfo", "coreutils-debugsource")
    spec = spec_text(coreutils, frozenset())
    assert "BuildArch" not in spec and "BuildArch: noarch" in spec_text(bash, frozenset())
    for sub in ("debuginfo", "debugsource"):  # rpm's %debug_package subpackages, with its summaries
        assert f"%package {sub}" in spec and f"%files {sub}" in spec
    assert "Summary: Debug information for package coreutils" in spec


def test_an_unknown_build_arch_is_refused_naming_it(tmp_path: Path) -> None:
    text = GOOD.replace("    summary: Utilities\n", "    summary: Utilities\n    arch: ppc64le\n")
    err = load_bad(tmp_path, text)
    assert err.key == "packages[1].arch" and "must be one of noarch, x86_64, not 'ppc64le'" in str(err)


def test_a_broken_image_of_the_scenario_names_a_package_of_the_world(tmp_path: Path) -> None:
    scenario = (
        "scenario:\n  broken_images:\n"
        '    - {name: Fedora-Cloud-Base-GCE, version: "24", arch: x86_64, drop: coreutils, reason: lost}\n'
    )
    world = load_world(write(tmp_path, GOOD + scenario))
    [broken] = world.broken_images
    assert (broken.name, broken.version, broken.arch, broken.drop) == (
        "Fedora-Cloud-Base-GCE",
        "24",
        "x86_64",
        "coreutils",
    )
    text = GOOD + scenario.replace("drop: coreutils", "drop: zsh")
    err = load_bad(tmp_path, text)
    assert err.key == "scenario.broken_images[0].drop" and "unknown package 'zsh'" in str(err)
