"""Treefiles (rpm-ostree's format, includes, signed repositories only), the manifest check of a composed tree,
rpm-ostree's package list: what the compose backends decide without running any tool."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from relengotron.manifest import Manifest
from relengotron.ostree.compose import ComposeError, ComposeRequest, check_manifest
from relengotron.ostree.postprocess import pkglist
from relengotron.ostree.treefile import TREEFILE, Treefile, TreefileError, YumRepo, load_base, pinned_packages
from relengotron.tools.rootfs import InstalledPackage

REF = "fedora/24/x86_64/atomic-host"


def _treefile() -> Treefile:
    return Treefile(
        ref=REF,
        packages=("bash-4.3.42-5.fc24", "glibc-2.23.1-7.fc24"),
        repos=(YumRepo("f24", "file:///srv/f24", ("file:///k.asc",)), YumRepo("f24-updates", "http://x/u", ("k",))),
        extra={"selinux": False, "boot-location": "new"},
    )


def test_a_treefile_round_trips_through_its_compose_directory(tmp_path: Path) -> None:
    files = _treefile().files()
    assert sorted(files) == ["f24-updates.repo", "f24.repo", TREEFILE]
    body = json.loads(files[TREEFILE])
    assert body == {
        "recommends": False,
        "ref": REF,
        "repos": ["f24", "f24-updates"],
        "packages": ["bash-4.3.42-5.fc24", "glibc-2.23.1-7.fc24"],
        "selinux": False,
        "boot-location": "new",
    }
    assert "gpgcheck=1\nrepo_gpgcheck=0\ngpgkey=file:///k.asc\n" in files["f24.repo"].decode()
    assert "gpgcheck=1\nrepo_gpgcheck=0\ngpgkey=k\n" in files["f24-updates.repo"].decode()
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    loaded = Treefile.load(tmp_path / TREEFILE)
    assert (loaded.ref, loaded.packages, loaded.repos) == (_treefile().ref, _treefile().packages, _treefile().repos)
    assert loaded.extra == {**_treefile().extra, "recommends": False}


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
        ComposeRequest(ref="../etc", manifest=Manifest.of([]), packages=(), repos=(), releasever="24")
    with pytest.raises(TreefileError, match="'recommends' must be false"):
        Treefile(ref=REF, packages=(), repos=(), extra={"recommends": True})
    (tmp_path / "f24.repo").write_text("[f24]\nbaseurl=file:///srv/f24\ngpgcheck=0\n")
    path.write_text(json.dumps({"ref": REF, "packages": [], "repos": ["f24"]}))
    with pytest.raises(TreefileError, match=r"repository 'f24' has gpgcheck off or no gpgkey: refused"):
        Treefile.load(path)
    (tmp_path / "f24.repo").write_text("[f24]\nbaseurl=file:///srv/f24\ngpgcheck=1\n")
    with pytest.raises(TreefileError, match=r"repository 'f24' has gpgcheck off or no gpgkey: refused"):
        Treefile.load(path)


def test_includes_merge_as_rpm_ostree_does(tmp_path: Path) -> None:
    """Non-array values of the including file override, arrays concatenate (the included first); YAML or JSON."""
    (tmp_path / "base.yaml").write_text("selinux: true\nunits: [docker.service]\npackages: [filesystem glibc]\n")
    (tmp_path / "host.json").write_text(
        json.dumps({"include": "base.yaml", "selinux": False, "units": ["etcd.service"], "packages": ["bash"]})
    )
    base, names = load_base(tmp_path / "host.json")
    assert base == {"selinux": False, "units": ["docker.service", "etcd.service"]}
    assert names == ("filesystem", "glibc", "bash")  # entries split on whitespace, as rpm-ostree does
    (tmp_path / "loop.yaml").write_text("include: [loop.yaml]\n")
    with pytest.raises(TreefileError, match="included more than once"):
        load_base(tmp_path / "loop.yaml")
    (tmp_path / "ref.yaml").write_text("ref: fedora/24/x86_64/other\n")
    with pytest.raises(TreefileError, match="key 'ref' is set by the compose"):
        load_base(tmp_path / "ref.yaml")


def test_the_sandbox_and_fedora_treefiles_load() -> None:
    repo = Path(__file__).resolve().parents[2]
    for path in (repo / "sandbox/relengotron_sandbox/worlds/atomic-host.yaml", repo / "config/fedora-atomic-host.json"):
        base, names = load_base(path)
        assert {"filesystem", "glibc", "bash", "ostree", "rpm-ostree"} <= set(names)
        assert base["recommends"] is False


def _pkg(nvr: str, arch: str = "noarch", source: str | None = None) -> InstalledPackage:
    name, version, release = nvr.rsplit("-", 2)
    return InstalledPackage(name, "0", version, release, arch, f"{source or nvr}.src.rpm")


def test_the_tree_must_hold_exactly_the_manifest() -> None:
    manifest = Manifest.of(["bash-1-1", "openssl-2-1"])
    installed = [_pkg("openssl-libs-2-1", "x86_64", "openssl-2-1"), _pkg("bash-1-1")]
    check_manifest(REF, installed, manifest)  # compared by build (source RPM), not by binary package name
    with pytest.raises(ComposeError, match=f"^{REF}: the tree lacks openssl-2-1, which the manifest holds$"):
        check_manifest(REF, installed[1:], manifest)
    with pytest.raises(ComposeError, match=f"^{REF}: the tree holds zsh-5-1, which is not in the manifest$"):
        check_manifest(REF, [*installed, _pkg("zsh-5-1")], manifest)


def test_the_package_list_is_rpm_ostrees() -> None:
    """``rpmostree.rpmdb.pkglist``: (name, epoch, version, release, arch), sorted."""
    assert pkglist([_pkg("glibc-2-7.fc24", "x86_64"), _pkg("bash-4-5.fc24")]) == [
        ("bash", "0", "4", "5.fc24", "noarch"),
        ("glibc", "0", "2", "7.fc24", "x86_64"),
    ]


# What Fedora's openssl build ships for x86_64 (no binary is named after the source package's build alone).
OPENSSL = {
    "openssl": "openssl-1.0.2h-1.fc24",
    "openssl-libs": "openssl-libs-1.0.2h-1.fc24",
    "openssl-devel": "openssl-devel-1.0.2h-1.fc24",
    "glibc": "glibc-2.23.1-7.fc24",
}


def test_treefile_names_are_pinned_to_the_binaries_the_manifest_ships() -> None:
    assert pinned_packages(["openssl-libs", "glibc", "openssl-libs"], OPENSSL, source="t.json") == (
        "openssl-libs-1.0.2h-1.fc24",
        "glibc-2.23.1-7.fc24",
    )
    # without a treefile of its own, the tree is every binary the manifest's builds ship (sorted by name)
    assert pinned_packages(None, OPENSSL, source="the manifest") == tuple(OPENSSL[n] for n in sorted(OPENSSL))


def test_a_treefile_name_no_build_ships_is_named() -> None:
    with pytest.raises(TreefileError, match=r"^the treefile t.json names zsh, which no build of the manifest ships$"):
        pinned_packages(["glibc", "zsh"], OPENSSL, source="the treefile t.json")
    with pytest.raises(TreefileError, match=r"names zsh, which no build .* ships \(and 1 more: tmux\)$"):
        pinned_packages(["zsh", "tmux"], OPENSSL, source="t.json")
