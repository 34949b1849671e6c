"""Treefiles and the payload/manifest match: what the compose backends check before running any tool."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from relengotron.manifest import Manifest
from relengotron.ostree.compose import ComposeRequest
from relengotron.ostree.payload import PayloadError, RpmFile, match_manifest
from relengotron.ostree.treefile import TREEFILE, Treefile, TreefileError, YumRepo

REF = "fedora/24/x86_64/atomic-host"


def _treefile() -> Treefile:
    return Treefile(
        ref=REF,
        packages=("bash-4.3.42-5.fc24", "glibc-2.23.1-7.fc24"),
        repos=(YumRepo("f24", "file:///srv/f24"), YumRepo("f24-updates", "http://x/u", gpgkey="file:///k.asc")),
        extra={"selinux": False, "boot-location": "new"},
    )


def test_a_treefile_round_trips_through_its_compose_directory(tmp_path: Path) -> None:
    files = _treefile().files()
    assert sorted(files) == ["f24-updates.repo", "f24.repo", TREEFILE]
    body = json.loads(files[TREEFILE])
    assert body == {
        "ref": REF,
        "repos": ["f24", "f24-updates"],
        "packages": ["bash-4.3.42-5.fc24", "glibc-2.23.1-7.fc24"],
        "selinux": False,
        "boot-location": "new",
    }
    assert "gpgcheck=1\ngpgkey=file:///k.asc" in files["f24-updates.repo"].decode()
    assert "gpgcheck=0" in files["f24.repo"].decode()
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    assert Treefile.load(tmp_path / TREEFILE) == _treefile()


def test_bad_treefiles_name_the_file_and_key(tmp_path: Path) -> None:
    path = tmp_path / TREEFILE
    path.write_text("{not json")
    with pytest.raises(TreefileError, match=f"{path}: unreadable treefile"):
        Treefile.load(path)
    path.write_text(json.dumps({"ref": REF, "packages": "bash", "repos": []}))
    with pytest.raises(TreefileError, match="key 'packages' is missing or not a list"):
        Treefile.load(path)
    path.write_text(json.dumps({"ref": REF, "packages": [], "repos": ["nowhere"]}))
    with pytest.raises(TreefileError, match=r"repository 'nowhere' is in no \.repo file"):
        Treefile.load(path)
    with pytest.raises(TreefileError, match="may not set ref"):
        Treefile(ref=REF, packages=(), repos=(), extra={"ref": "other"})
    with pytest.raises(ValueError, match="not a valid ostree ref"):
        ComposeRequest(ref="../etc", manifest=Manifest.of([]))


def _rpm(nvr: str, arch: str = "noarch") -> RpmFile:
    name, version, release = nvr.rsplit("-", 2)
    return RpmFile(Path(f"/rpms/{nvr}.{arch}.rpm"), name, version, release, arch)


def test_payload_must_match_the_manifest() -> None:
    manifest = Manifest.of(["bash-1-1", "glibc-2-1"])
    rpms = [_rpm("glibc-2-1", "x86_64"), _rpm("bash-1-1"), _rpm("glibc-2-1", "i686")]
    assert [(r.nvr, r.arch) for r in match_manifest(manifest, rpms)] == [
        ("bash-1-1", "noarch"),
        ("glibc-2-1", "i686"),
        ("glibc-2-1", "x86_64"),
    ]
    with pytest.raises(PayloadError, match=r"^glibc-2-1: in the manifest but no RPM was given for it$"):
        match_manifest(manifest, [_rpm("bash-1-1")])
    with pytest.raises(PayloadError, match=r"/rpms/zsh-5-1.noarch.rpm: zsh-5-1 is not in the manifest"):
        match_manifest(manifest, [*rpms, _rpm("zsh-5-1")])
