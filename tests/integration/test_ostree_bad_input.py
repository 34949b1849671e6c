"""Bad input — a damaged, missing or unsigned RPM, a failing tool, a missing key, a corrupt recorded manifest —
fails with an error naming the item, and the shared repository keeps its refs, objects and summary."""

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
from relengotron.ostree import payload
from relengotron.ostree.compose import ComposeRequest, LocalBackend
from relengotron.ostree.merge import last_released, merge_if_changed
from relengotron.ostree.payload import PayloadError
from relengotron.ostree.repo import OSTreeRepo
from relengotron.signing import LocalGpgSigner, SigningError
from relengotron.tools.run import ToolError

pytestmark = pytest.mark.integration

NOW = datetime(2016, 6, 14, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def payloads(built_world) -> Payloads:
    return Payloads(built_world)


@pytest.fixture(scope="module")
def signer(tmp_path_factory):
    return make_signer(tmp_path_factory.mktemp("gnupg"))


@pytest.fixture
def backend(tmp_path: Path, payloads: Payloads) -> LocalBackend:
    return LocalBackend(tmp_path / "work", public_keys=[payloads.public_key])


@pytest.fixture
def shared(tmp_path: Path, payloads: Payloads, signer, backend: LocalBackend) -> OSTreeRepo:
    """A shared repository whose ref already has a released head."""
    repo = OSTreeRepo(tmp_path / "shared")
    compose_and_merge(backend, repo, payloads.request(), signer, now=NOW)
    return repo


def _with(payloads: Payloads, nvr: str, path: Path) -> ComposeRequest:
    """The base request with the RPM of ``nvr`` replaced by the file at ``path``."""
    request = payloads.request()
    return ComposeRequest(
        ref=REF, manifest=request.manifest, rpms=tuple(path if p == payloads.paths[nvr] else p for p in request.rpms)
    )


def test_a_damaged_rpm_is_named(tmp_path: Path, payloads: Payloads, backend: LocalBackend, shared: OSTreeRepo) -> None:
    before = snapshot(shared)
    damaged = tmp_path / "bash-4.3.42-5.fc24.noarch.rpm"
    shutil.copy(payloads.paths[BASE["bash"]], damaged)
    data = bytearray(damaged.read_bytes())
    data[-20] ^= 0xFF
    damaged.write_bytes(bytes(data))
    with pytest.raises(PayloadError, match=f"^{damaged}: damaged RPM \\(DIGESTS NOT OK\\)"):
        backend.compose(_with(payloads, BASE["bash"], damaged))
    damaged.write_bytes(bytes(data[:300]))  # truncated: not even a readable header
    with pytest.raises(PayloadError, match=f"^{damaged}: damaged RPM"):
        backend.compose(_with(payloads, BASE["bash"], damaged))
    assert snapshot(shared) == before


def test_a_missing_rpm_is_named(tmp_path: Path, payloads: Payloads, backend: LocalBackend, shared: OSTreeRepo) -> None:
    before = snapshot(shared)
    request = payloads.request()
    without_glibc = ComposeRequest(
        ref=REF, manifest=request.manifest, rpms=tuple(p for p in request.rpms if "glibc" not in p.name)
    )
    with pytest.raises(PayloadError, match=f"^{BASE['glibc']}: in the manifest but no RPM was given for it$"):
        backend.compose(without_glibc)
    gone = tmp_path / "glibc-2.23.1-7.fc24.noarch.rpm"
    with pytest.raises(PayloadError, match=f"^{gone}: no such RPM file$"):
        backend.compose(_with(payloads, BASE["glibc"], gone))
    extra = ComposeRequest(ref=REF, manifest=request.manifest, rpms=(*request.rpms, payloads.paths[UPDATED_GLIBC]))
    with pytest.raises(PayloadError, match=f"{UPDATED_GLIBC} is not in the manifest"):
        backend.compose(extra)
    assert snapshot(shared) == before


def test_an_unsigned_rpm_is_refused(payloads: Payloads, backend: LocalBackend, shared: OSTreeRepo) -> None:
    before = snapshot(shared)
    request = payloads.request(bash=UNSIGNED_BASH)
    with pytest.raises(PayloadError, match=f"{payloads.paths[UNSIGNED_BASH]}: not signed"):
        backend.compose(request)
    assert snapshot(shared) == before


def test_a_failing_tool_is_named_with_the_rpm(
    tmp_path: Path, payloads: Payloads, backend: LocalBackend, shared: OSTreeRepo, monkeypatch
) -> None:
    before = snapshot(shared)
    failing = tmp_path / "rpm2cpio"
    failing.write_text("#!/bin/sh\necho 'rpm2cpio: cannot decompress payload' >&2\nexit 2\n")
    failing.chmod(0o755)
    monkeypatch.setattr(payload, "RPM2CPIO", str(failing))
    first = payloads.paths[payloads.request().manifest.nvrs[0]]
    with pytest.raises(ToolError) as caught:
        backend.compose(payloads.request(glibc=UPDATED_GLIBC))
    assert caught.value.item == str(first)
    assert str(caught.value) == f"{first}: rpm2cpio failed (exit 2): rpm2cpio: cannot decompress payload"
    assert snapshot(shared) == before


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
