"""The mirror trees as EOL sees them, on local directories: listing, moves into the archive (rename, or copy
then delete), idempotency, crash recovery, the EOL marker; and the image manifest beside each image."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from relengotron.adapters.mirror import MirrorError, MirrorTrees, clean_relative, eol_marker
from relengotron.adapters.released import (
    image_dir,
    image_manifest_path,
    read_image_manifest,
    write_image_manifest,
)
from relengotron.artifacts import load_release_config
from relengotron.manifest import ManifestError
from relengotron.planning import Manifest
from relengotron.sync import MirrorFS
from relengotron.tools.remote import LocalRunner

REPO = Path(__file__).resolve().parents[2]
FEDORA = load_release_config(REPO / "config" / "fedora.yaml")
FILES = (
    "linux/updates/23/x86_64/repodata/repomd.xml",
    "linux/updates/testing/23/x86_64/repodata/repomd.xml",
    "linux/updates/24/x86_64/repodata/repomd.xml",
    "linux/releases/23/Server/x86_64/iso/Fedora-Server-dvd-x86_64-23.iso",
    "linux/atomic/repo/config",
)


@pytest.fixture
def trees(tmp_path: Path) -> MirrorTrees:
    for rel in FILES:
        (tmp_path / "master" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "master" / rel).write_text(rel)
    return MirrorTrees(MirrorFS(str(tmp_path / "master")), MirrorFS(str(tmp_path / "archive")))


def files(top: Path) -> set[str]:
    return {p.relative_to(top).as_posix() for p in top.rglob("*") if p.is_file()} if top.exists() else set()


def test_paths_are_listed_down_to_the_version_part(trees: MirrorTrees) -> None:
    layout = FEDORA.mirror
    assert trees.present_paths([layout.updates, layout.images, layout.ostree, layout.website]) == [
        "linux/releases/23",
        "linux/updates/23",
        "linux/updates/23/x86_64",
        "linux/updates/24",
        "linux/updates/24/x86_64",
        "linux/updates/testing",
        "linux/updates/testing/23",
    ]
    assert trees.present_paths(["pub/{version}"]) == []  # a template whose top is absent


def test_move_is_a_rename_and_idempotent(trees: MirrorTrees, tmp_path: Path) -> None:
    master, archive = tmp_path / "master", tmp_path / "archive"
    inode = (master / "linux/updates/23").stat().st_ino
    assert trees.move_to_archive("linux/updates/23") is True
    assert (archive / "linux/updates/23").stat().st_ino == inode  # renamed, not copied
    assert not (master / "linux/updates/23").exists() and (master / "linux/updates/24").exists()
    assert trees.move_to_archive("linux/updates/23") is False  # already done
    assert trees.move_to_archive("/linux/updates/testing/23/") is True
    assert files(archive) == {
        "linux/updates/23/x86_64/repodata/repomd.xml",
        "linux/updates/testing/23/x86_64/repodata/repomd.xml",
    }
    with pytest.raises(MirrorError, match="linux/updates/25: not on the master mirror and not in the archive"):
        trees.move_to_archive("linux/updates/25")
    for bad in ("", "/", "..", "../etc", "linux/updates/../.."):
        with pytest.raises(MirrorError, match="not a path inside"):
            trees.move_to_archive(bad)


def test_across_filesystems_copy_then_delete_and_a_half_copy_is_completed(
    trees: MirrorTrees, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    master, archive = tmp_path / "master", tmp_path / "archive"
    devices = iter(["1", "2"])
    monkeypatch.setattr(MirrorTrees, "_device", lambda self, path: next(devices))
    assert trees.move_to_archive("linux/releases/23") is True
    assert files(archive) == {"linux/releases/23/Server/x86_64/iso/Fedora-Server-dvd-x86_64-23.iso"}
    assert not (master / "linux/releases/23").exists()
    (archive / "linux/updates/23/x86_64").mkdir(parents=True)  # a copy killed half-way: both sides present
    (archive / "linux/updates/23/x86_64/partial").write_text("half")
    assert trees.move_to_archive("linux/updates/23") is True
    assert (
        archive / "linux/updates/23/x86_64/repodata/repomd.xml"
    ).read_text() == "linux/updates/23/x86_64/repodata/repomd.xml"
    assert not (master / "linux/updates/23").exists()


def test_a_single_file_moves_too(trees: MirrorTrees, tmp_path: Path) -> None:
    rel = "linux/releases/23/Server/x86_64/iso/Fedora-Server-dvd-x86_64-23.iso"
    assert trees.move_to_archive(rel) is True
    assert (tmp_path / "archive" / rel).read_text() == rel


def test_the_eol_marker(trees: MirrorTrees, tmp_path: Path) -> None:
    assert eol_marker("f23") == "eol/f23.json"
    assert trees.read_marker("f23") is None
    trees.write_marker("f23", {"release": "f23", "done": ["a"]})
    assert trees.read_marker("f23") == {"release": "f23", "done": ["a"]}
    assert sorted(p.name for p in (tmp_path / "archive" / "eol").iterdir()) == ["f23.json"]  # no temp left
    (tmp_path / "archive/eol/f22.json").write_text("{half")
    with pytest.raises(MirrorError, match=re.escape("f22.json: corrupt EOL marker")):
        trees.read_marker("f22")


def test_both_trees_must_be_on_one_host(tmp_path: Path) -> None:
    class Elsewhere(LocalRunner):
        name = "root@archive.example.org:22"

    with pytest.raises(ValueError, match="same host"):
        MirrorTrees(MirrorFS(str(tmp_path / "a")), MirrorFS(str(tmp_path / "b"), Elsewhere()))
    assert clean_relative("./updates//23/") == "updates/23"


def test_the_image_manifest_beside_the_image(tmp_path: Path) -> None:
    f24 = FEDORA.releases["f24"]
    ami = next(a for a in FEDORA.artifacts_of("f24") if a.name == "cloud-base-ami")
    assert image_dir(FEDORA.mirror, ami, f24, "x86_64") == "linux/releases/24/ami/x86_64"
    rel = image_manifest_path(FEDORA.mirror, ami, f24, "x86_64")
    assert rel == "linux/releases/24/ami/x86_64/Fedora-Cloud-Base-24.x86_64.raw.xz.manifest.json"
    mirror = MirrorFS(str(tmp_path))
    assert read_image_manifest(mirror, rel) is None
    manifest = Manifest.of(["glibc-2.23.1-8.fc24", "bash-4.3.42-5.fc24"])
    path = write_image_manifest(tmp_path, FEDORA.mirror, ami, f24, "x86_64", manifest)
    assert path == tmp_path / rel and path.read_text() == manifest.to_json()
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # the temporary file is gone
    assert read_image_manifest(mirror, rel) == manifest
    path.write_text("not json")
    with pytest.raises(ManifestError, match=re.escape("Fedora-Cloud-Base-24.x86_64.raw.xz.manifest.json")):
        read_image_manifest(mirror, rel)
