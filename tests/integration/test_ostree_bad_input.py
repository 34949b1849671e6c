"""Bad input — a package no repository has, an unsigned package, a dependency outside the manifest, a repository
without gpgcheck, a missing key, a corrupt recorded manifest — fails with an error naming the item, nothing is
committed, and the shared repository keeps its refs, objects and summary."""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from test_ostree_support import (
    BASE,
    REF,
    UNSIGNED_BASH,
    UPDATED_GLIBC,
    Payloads,
    compose_and_merge,
    make_signer,
    snapshot,
)

from relengotron.manifest import Manifest, ManifestError
from relengotron.ostree.compose import ComposeError, ComposeRequest, LocalBackend, compose_treefile
from relengotron.ostree.merge import last_released, merge_if_changed
from relengotron.ostree.repo import OSTreeRepo
from relengotron.ostree.treefile import TREEFILE, Treefile, TreefileError
from relengotron.signing import LocalGpgSigner, SigningError

pytestmark = pytest.mark.integration

NOW = datetime(2016, 6, 14, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def payloads(built_world, tmp_path_factory: pytest.TempPathFactory) -> Payloads:
    return Payloads(built_world, tmp_path_factory.mktemp("yum"))


@pytest.fixture(scope="module")
def signer(tmp_path_factory):
    return make_signer(tmp_path_factory.mktemp("gnupg"))


@pytest.fixture
def backend(tmp_path: Path, payloads: Payloads) -> LocalBackend:
    return LocalBackend(tmp_path / "work")


@pytest.fixture
def shared(tmp_path: Path, payloads: Payloads, signer, backend: LocalBackend) -> OSTreeRepo:
    """A shared repository whose ref already has a released head."""
    repo = OSTreeRepo(tmp_path / "shared")
    compose_and_merge(backend, repo, payloads.request(), signer, now=NOW)
    return repo


def _composes_left(backend: LocalBackend) -> list[Path]:
    """What the backend's work directory holds besides the scratch repository of the released compose."""
    return sorted(p for p in backend.workdir.iterdir() if not p.name.endswith(".scratch"))


def test_a_package_no_repository_has_is_named(
    payloads: Payloads, backend: LocalBackend, shared: OSTreeRepo, signer
) -> None:
    before = snapshot(shared)
    request = payloads.request(bash="bash-9.9-1.fc24")
    with pytest.raises(ComposeError, match=f"^{REF}: package bash-9.9-1.fc24: no repository has it$"):
        compose_and_merge(backend, shared, request, signer, now=NOW)
    assert snapshot(shared) == before
    assert _composes_left(backend) == []  # no treefile, root or tree left half-made


def test_an_unsigned_package_is_refused(payloads: Payloads, backend: LocalBackend, shared: OSTreeRepo, signer) -> None:
    before = snapshot(shared)
    with pytest.raises(ComposeError, match=f"^{REF}: package {UNSIGNED_BASH}.noarch: not signed — refused"):
        compose_and_merge(backend, shared, payloads.request(bash=UNSIGNED_BASH), signer, now=NOW)
    assert snapshot(shared) == before
    assert _composes_left(backend) == []


def test_a_dependency_outside_the_manifest_is_named(
    payloads: Payloads, backend: LocalBackend, shared: OSTreeRepo, signer
) -> None:
    before = snapshot(shared)
    nvrs = [nvr for name, nvr in BASE.items() if name != "glibc"]  # bash and coreutils require libc.so.6
    manifest = Manifest.of(nvrs)
    request = ComposeRequest(
        ref=REF, manifest=manifest, packages=manifest.nvrs, repos=(payloads.repo,), releasever="24"
    )
    # dnf resolves libc.so.6 from the repository (its newest glibc), as rpm-ostree would: the tree is then refused
    with pytest.raises(ComposeError, match=rf"^{REF}: the tree holds {UPDATED_GLIBC}, which is not in the manifest$"):
        compose_and_merge(backend, shared, request, signer, now=NOW)
    assert snapshot(shared) == before


def test_a_repository_without_gpgcheck_is_refused(tmp_path: Path, payloads: Payloads) -> None:
    treefile = Treefile(ref=REF, packages=tuple(BASE.values()), repos=(payloads.repo,), extra={"releasever": "24"})
    folder = tmp_path / "compose"
    folder.mkdir()
    for name, content in treefile.files().items():
        (folder / name).write_bytes(content)
    repo_file = folder / f"{payloads.repo.id}.repo"
    repo_file.write_text(repo_file.read_text().replace("gpgcheck=1", "gpgcheck=0"))
    scratch = OSTreeRepo(tmp_path / "repo")
    message = f"{folder}: repository '{payloads.repo.id}' has gpgcheck off or no gpgkey: refused"
    with pytest.raises(TreefileError, match=f"^{re.escape(message)}$"):
        compose_treefile(folder / TREEFILE, scratch, workdir=tmp_path / "work")
    assert not scratch.exists()


def test_a_missing_signing_key_fails_before_anything_is_written(
    tmp_path: Path, payloads: Payloads, backend: LocalBackend, shared: OSTreeRepo, signer
) -> None:
    before = snapshot(shared)
    composed = backend.compose(payloads.request(glibc=UPDATED_GLIBC))
    with pytest.raises(SigningError, match="no secret key '0123456789ABCDEF0123456789ABCDEF01234567'"):
        LocalGpgSigner(signer.gnupghome, "0123456789ABCDEF0123456789ABCDEF01234567")
    home = tmp_path / "gnupg"
    shutil.copytree(signer.gnupghome, home, ignore=shutil.ignore_patterns("S.*"))
    gone = LocalGpgSigner(home, signer.key.fingerprint)
    shutil.rmtree(home / "private-keys-v1.d")  # the secret key went away after the signer was configured
    message = f"gpg:{home}: {home}: no secret key '{signer.key.fingerprint}'"
    with pytest.raises(SigningError, match=f"^{re.escape(message)}$"):
        merge_if_changed(shared, composed, version_prefix="24", signer=gone, now=NOW)
    assert snapshot(shared) == before


def test_a_corrupt_recorded_manifest_is_named(tmp_path: Path, shared: OSTreeRepo) -> None:
    head = shared.rev_parse(REF)
    bad = shared.commit(
        trees=[f"ref={head}"],
        subject="hand-made",
        parent=head,
        metadata={"relengotron.manifest": ["bash-4.3.42-5.fc24"], "relengotron.input-hash": "0" * 64},
    )
    shared.set_ref(REF, bad)
    with pytest.raises(
        ManifestError,
        match=f"^{REF} \\(commit {bad}\\): corrupt manifest \\(relengotron.input-hash '0+' does not match",
    ):
        last_released(shared, REF)
    assert Manifest.of(["bash-4.3.42-5.fc24"]).input_hash != "0" * 64
