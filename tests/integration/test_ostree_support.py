"""Helpers shared by the test_ostree_* integration tests (no tests here): a signed yum repository of the built
world, throwaway signing keys, the state of a repository, the real ostree and rpm clients on a commit."""

from __future__ import annotations

import subprocess
from pathlib import Path

from relengotron.manifest import Manifest
from relengotron.ostree.compose import ComposeRequest, ComposeResult, LocalBackend
from relengotron.ostree.merge import MergeResult, merge_if_changed
from relengotron.ostree.repo import OSTreeRepo
from relengotron.signing import LocalGpgSigner
from relengotron.tools import gpg
from relengotron.tools.rootfs import YumRepo

REF = "fedora/24/x86_64/atomic-host"
# A small atomic-host: F24 builds of the world's base packages (all signed by the world's key).
BASE = {
    "filesystem": "filesystem-3.2-37.fc24",
    "setup": "setup-2.10.1-1.fc24",
    "glibc": "glibc-2.23.1-7.fc24",
    "bash": "bash-4.3.42-5.fc24",
    "coreutils": "coreutils-8.25-6.fc24",
}
UPDATED_GLIBC = "glibc-2.23.1-8.fc24"
UNSIGNED_BASH = "bash-4.3.42-6.fc24"


class Payloads:
    """The built world's F24 RPMs as a signed yum repository (:func:`signed_repo`) and compose requests of it."""

    def __init__(self, built, directory: Path) -> None:
        self.public_key: Path = built.public_key
        self.repo = signed_repo(built, directory / "fedora-24")

    def request(self, ref: str = REF, **changes: str) -> ComposeRequest:
        """The base set with some packages replaced (``glibc="glibc-2.23.1-8.fc24"``)."""
        nvrs = {**BASE, **changes}
        manifest = Manifest.of(nvrs.values())
        # the world's builds each ship one binary RPM named as the build: its NVR is the pinned package spec
        return ComposeRequest(ref=ref, manifest=manifest, packages=manifest.nvrs, repos=(self.repo,), releasever="24")


def signed_repo(built, directory: Path, *, repo_id: str = "fedora-24") -> YumRepo:
    """A yum repository (createrepo_c) at ``directory`` of the world's F24 binary RPMs as Koji keeps them: the
    signed copy of each signed build, the unsigned RPM of a build Koji has no signature of (a repository may
    hold one: gpgcheck refuses it when it is chosen); checked against the world's key."""
    directory.mkdir(parents=True, exist_ok=True)
    for rpms in built.rpms.values():
        for rpm in rpms:
            if rpm.arch != "src" and rpm.release.endswith(".fc24"):
                (directory / rpm.filename).symlink_to(built.topdir / (rpm.signed_relpath or rpm.relpath))
    subprocess.run(["createrepo_c", "--quiet", str(directory)], check=True, capture_output=True)
    return YumRepo(repo_id, directory.as_uri(), (built.public_key.as_uri(),))


def make_signer(home: Path, name: str = "Releng Test") -> LocalGpgSigner:
    """A throwaway key in ``home`` and the local GPG signer of the release-signing interface for it."""
    key = gpg.generate_key(home, name, f"{name.lower().replace(' ', '-')}@example.test")
    return LocalGpgSigner(home, key.fingerprint)


def snapshot(repo: OSTreeRepo) -> tuple[dict[str, str], int, bytes | None]:
    """What a failed operation must not change: the refs, the object count, the summary's bytes."""
    summary = repo.path / "summary"
    return repo.refs(), repo.object_count(), summary.read_bytes() if summary.exists() else None


def ostree(*args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    """The real ostree client, as a user would run it; with ``check`` a failure shows what ostree said."""
    result = subprocess.run(["ostree", *map(str, args)], capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"ostree {' '.join(map(str, args))} failed: {result.stderr.strip()}")
    return result


def checkout_packages(repo: OSTreeRepo, rev: str, directory: Path) -> list[str]:
    """``ostree checkout`` of ``rev``, then what stock rpm lists from its ``usr/share/rpm`` (sorted NVRs)."""
    ostree(f"--repo={repo.path}", "checkout", "--user-mode", rev, directory)
    out = subprocess.run(
        ["rpm", "--dbpath", str(directory / "usr/share/rpm"), "-qa", "--qf", "%{NAME}-%{VERSION}-%{RELEASE}\\n"],
        capture_output=True,
        text=True,
        check=True,
    )
    return sorted(out.stdout.split())


def compose_and_merge(
    backend: LocalBackend, shared: OSTreeRepo, request: ComposeRequest, signer: LocalGpgSigner | None, **kwargs
) -> tuple[ComposeResult, MergeResult]:
    composed = backend.compose(request)
    return composed, merge_if_changed(shared, composed, version_prefix="24", signer=signer, **kwargs)
