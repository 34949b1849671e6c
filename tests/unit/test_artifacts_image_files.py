"""The files of an image artifact without servers: a complete set for a manifest, the Koji task record beside a
candidate, and the promotion that renames a tested candidate into the public tree — in order, resumable after
a crash half-way, refused (before anything moves) for a candidate that changed or is not signed."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from relengotron.artifacts import ArtifactError
from relengotron.artifacts.image_files import (
    ImageFiles,
    apply_moves,
    plan_promotion,
    read_marker,
    remove_candidate,
    write_marker,
)
from relengotron.manifest import Manifest
from relengotron.signing.base import sha256_file
from relengotron.signing.checksum import ChecksumEntry, render_checksums

REL = "releases/24/ami/x86_64/Fedora-Cloud-Base-24.x86_64.raw.xz"
MANIFEST = Manifest.of(["bash-4.3.42-5.fc24", "glibc-2.23.1-8.fc24"])
OTHER = Manifest.of(["bash-4.3.42-5.fc24", "glibc-2.23.1-7.fc24"])


def make(files: ImageFiles, data: bytes = b"IMAGE", manifest: Manifest = MANIFEST, signed: bool = False) -> str:
    files.image.parent.mkdir(parents=True, exist_ok=True)
    files.image.write_bytes(data)
    files.manifest.write_text(manifest.to_json())
    text = render_checksums([ChecksumEntry(files.image.name, "SHA256", sha256_file(files.image), len(data))])
    if signed:
        head = "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n"
        text = f"{head}{text}-----BEGIN PGP SIGNATURE-----\nx\n-----END PGP SIGNATURE-----\n"
    files.checksum.write_text(text)
    return sha256_file(files.image)


class FakeSigner:
    """Says a clear-signed file is good by its key when ``good`` (no GPG needed here)."""

    key_id = "0123abcd"
    fingerprint = "F" * 32 + "0123ABCD"

    def __init__(self, good: bool) -> None:
        self.keyring = SimpleNamespace(check_clearsigned=lambda path: SimpleNamespace(good_by=lambda fpr: good))


@pytest.fixture
def trees(tmp_path: Path) -> tuple[ImageFiles, ImageFiles, Path]:
    top = tmp_path / "staging"
    return ImageFiles.under(top / ".relengotron/candidates", REL), ImageFiles.under(top, REL), top


def test_a_complete_set_for_a_manifest(trees: Any) -> None:
    candidate, _, _ = trees
    assert candidate.complete_digest(MANIFEST) is None
    digest = make(candidate)
    assert candidate.complete_digest(MANIFEST) == digest
    assert candidate.complete_digest(OTHER) is None  # another manifest
    candidate.image.write_bytes(b"HALF")
    assert candidate.complete_digest(MANIFEST) is None  # the CHECKSUM no longer lists it


def test_the_koji_task_record(trees: Any) -> None:
    candidate, _, _ = trees
    assert read_marker(candidate, MANIFEST) is None
    write_marker(candidate, MANIFEST, 42, datetime(2016, 6, 14, tzinfo=UTC))
    assert read_marker(candidate, MANIFEST) == 42
    assert read_marker(candidate, OTHER) is None  # recorded for another manifest: a new task is needed
    candidate.marker.write_text("{not json")
    assert read_marker(candidate, MANIFEST) is None


def test_promotion_moves_image_manifest_then_checksum_and_resumes(trees: Any) -> None:
    candidate, public, top = trees
    digest = make(candidate)
    write_marker(candidate, MANIFEST, 42, datetime(2016, 6, 14, tzinfo=UTC))
    moves = plan_promotion("ami", candidate, public, sha256=digest, manifest=MANIFEST, signer=None)
    assert [m.step for m in moves] == ["image", "manifest", "checksum"]
    apply_moves(moves[:1])  # a crash after the image moved
    again = plan_promotion("ami", candidate, public, sha256=digest, manifest=MANIFEST, signer=None)
    assert [m.step for m in again] == ["manifest", "checksum"]
    apply_moves(again)
    remove_candidate(candidate, top / ".relengotron/candidates")
    assert public.complete_digest(MANIFEST) == digest
    assert not (top / ".relengotron/candidates/releases").exists()
    assert plan_promotion("ami", candidate, public, sha256=digest, manifest=MANIFEST, signer=None) == []


def test_promotion_is_refused_before_anything_moves(trees: Any) -> None:
    candidate, public, _ = trees
    digest = make(candidate)
    with pytest.raises(ArtifactError, match=r"^ami: candidate .* is not the composed image"):
        plan_promotion("ami", candidate, public, sha256="0" * 64, manifest=MANIFEST, signer=None)
    with pytest.raises(ArtifactError, match=r"does not say manifest"):
        plan_promotion("ami", candidate, public, sha256=digest, manifest=OTHER, signer=None)
    with pytest.raises(ArtifactError, match=r"does not list the image .* and signed with key 0123abcd"):
        plan_promotion("ami", candidate, public, sha256=digest, manifest=MANIFEST, signer=FakeSigner(True))
    make(candidate, signed=True)
    with pytest.raises(ArtifactError, match="signed with key 0123abcd"):
        plan_promotion("ami", candidate, public, sha256=digest, manifest=MANIFEST, signer=FakeSigner(False))
    assert len(plan_promotion("ami", candidate, public, sha256=digest, manifest=MANIFEST, signer=FakeSigner(True))) == 3
    candidate.image.unlink()
    with pytest.raises(ArtifactError, match=r"no candidate .* and no released .* compose again"):
        plan_promotion("ami", candidate, public, sha256=digest, manifest=MANIFEST, signer=None)
    assert not public.image.parent.exists()
