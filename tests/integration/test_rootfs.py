"""The root installer with the real dnf and rpm: exactly the requested packages from the built world's signed
yum repository, read back from the root's rpmdb; refusals name the artifact and the package."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from test_ostree_support import BASE, UNSIGNED_BASH, signed_repo

from relengotron.tools import gpg
from relengotron.tools.rootfs import DBPATH, RootfsError, YumRepo, install_root

pytestmark = pytest.mark.integration

ITEM = "atomic-host-24-x86_64"


@pytest.fixture(scope="module")
def repo(built_world, tmp_path_factory: pytest.TempPathFactory) -> YumRepo:
    return signed_repo(built_world, tmp_path_factory.mktemp("yum") / "f24")


def _rpm_qa(root: Path) -> list[str]:
    """What stock rpm reads from the root's rpmdb (gpg-pubkey entries included, were there any)."""
    out = subprocess.run(
        ["rpm", "--dbpath", str(root / DBPATH.lstrip("/")), "-qa", "--qf", "%{NAME}-%{VERSION}-%{RELEASE}\\n"],
        capture_output=True,
        text=True,
        check=True,
    )
    return sorted(out.stdout.split())


def test_the_root_holds_exactly_the_requested_packages(tmp_path: Path, repo: YumRepo) -> None:
    root = tmp_path / "root"
    installed = install_root(root, list(BASE.values()), [repo], releasever="24", item=ITEM)
    assert sorted(p.nvr for p in installed) == sorted(BASE.values())
    assert sorted(p.build for p in installed) == sorted(BASE.values())
    assert _rpm_qa(root) == sorted(BASE.values())  # no gpg-pubkey left behind
    assert sorted(p.name for p in (root / "var/lib/rpm").iterdir()) == ["rpmdb.sqlite"]
    assert (root / "bin/sh").read_text() == "#!/bin/sh\necho 'bash-4.3.42-5.fc24 /bin/sh'\n"
    assert (root / "usr/share/glibc/README").read_text() == "glibc-2.23.1-7.fc24\n"
    # dnf's cache, logs and history stayed out of the root, and nothing was left beside it
    assert not (root / "var/cache").exists() and not (root / "var/log").exists()
    assert not (root / "etc/dnf").exists() and not (root / "var/lib/dnf").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["root"]


def _refused(tmp_path: Path, repo: YumRepo, packages: list[str], message: str) -> None:
    dest = tmp_path / "root"
    with pytest.raises(RootfsError, match=message):
        install_root(dest, packages, [repo], releasever="24", item=ITEM)
    assert list(tmp_path.iterdir()) == []  # nothing half-written


def test_a_package_no_repository_has_is_named(tmp_path: Path, repo: YumRepo) -> None:
    _refused(tmp_path, repo, [*BASE.values(), "nosuch-1-1.fc24"], f"^{ITEM}: package nosuch-1-1.fc24: no repository")


def test_an_unsigned_package_is_refused(tmp_path: Path, repo: YumRepo) -> None:
    packages = [nvr for name, nvr in BASE.items() if name != "bash"] + [UNSIGNED_BASH]
    _refused(tmp_path, repo, packages, f"^{ITEM}: package {UNSIGNED_BASH}.noarch: not signed — refused")


def test_a_package_signed_by_another_key_is_refused(
    tmp_path: Path, repo: YumRepo, tmp_path_factory: pytest.TempPathFactory
) -> None:
    keys = tmp_path_factory.mktemp("other-key")
    key = gpg.generate_key(keys / "gnupg", "Other", "other@example.test")
    other = gpg.export_public_key(keys / "gnupg", key.fingerprint, keys / "other.asc")
    wrong = YumRepo(repo.id, repo.baseurl, (other.as_uri(),))
    _refused(tmp_path, wrong, list(BASE.values()), f"^{ITEM}: signature check failed — refused")


def test_a_dependency_outside_the_set_is_named(tmp_path: Path, repo: YumRepo) -> None:
    packages = [nvr for name, nvr in BASE.items() if name != "bash"]  # coreutils requires /bin/sh
    _refused(
        tmp_path,
        repo,
        packages,
        f"^{ITEM}: dependency cannot be resolved: package coreutils-8.25-6.fc24.noarch requires /bin/sh",
    )


def test_an_existing_destination_is_never_overwritten(tmp_path: Path, repo: YumRepo) -> None:
    (tmp_path / "root").mkdir()
    with pytest.raises(RootfsError, match="already exists"):
        install_root(tmp_path / "root", list(BASE.values()), [repo], releasever="24", item=ITEM)
