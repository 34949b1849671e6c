"""The files of an image artifact and what is done with them: is a set complete for a manifest, the Koji task
marker, and the promotion that moves a tested candidate into the public staging tree.

An image artifact is three files in one directory — the image, ``<image>.manifest.json`` and
``<image>-CHECKSUM`` — found twice: as a CANDIDATE under the staging tree's private area
(``<staging>/.relengotron/candidates/<images path>/``, never synced) and, once promoted, in the public tree
(``<staging>/<images path>/``, which the sync carries). Beside a candidate, ``<image>.koji-task.json`` records
the Koji image task submitted for a manifest, so that a retry waits for that task instead of submitting
another one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from relengotron.artifacts.base import ArtifactError
from relengotron.manifest import Manifest, ManifestError
from relengotron.signing.base import Signer, sha256_file
from relengotron.signing.checksum import ChecksumFormatError, is_clearsigned, parse_checksums
from relengotron.tools.files import write_atomic

MANIFEST_SUFFIX = ".manifest.json"
CHECKSUM_SUFFIX = "-CHECKSUM"
MARKER_SUFFIX = ".koji-task.json"
STEP_IMAGE = "image"
STEP_MANIFEST = "manifest"
STEP_CHECKSUM = "checksum"


@dataclass(frozen=True)
class ImageFiles:
    """The image, its manifest JSON and its CHECKSUM file, under one tree (absolute paths)."""

    image: Path
    manifest: Path
    checksum: Path

    @classmethod
    def under(cls, root: Path, rel_image: str) -> ImageFiles:
        """The three files of the image ``rel_image`` (relative to the tree's top) under ``root``."""
        image = Path(root) / rel_image
        return cls(image, image.with_name(image.name + MANIFEST_SUFFIX), image.with_name(image.name + CHECKSUM_SUFFIX))

    @property
    def marker(self) -> Path:
        """The Koji task marker beside a candidate image."""
        return self.image.with_name(self.image.name + MARKER_SUFFIX)

    def manifest_is(self, manifest: Manifest) -> bool:
        """Whether the manifest JSON is there and says ``manifest`` (read-only; a corrupt one says no)."""
        if not self.manifest.is_file():
            return False
        try:
            return Manifest.from_json(self.manifest.read_text(errors="replace"), source=str(self.manifest)) == manifest
        except ManifestError:
            return False

    def checksum_lists(self, digest: str) -> bool:
        """Whether the CHECKSUM file lists the image with SHA256 ``digest`` (read-only)."""
        if not self.checksum.is_file():
            return False
        try:
            entry = parse_checksums(self.checksum.read_text(errors="replace")).get(self.image.name)
        except ChecksumFormatError:
            return False
        return entry is not None and entry.algo == "SHA256" and entry.digest == digest

    def complete_digest(self, manifest: Manifest) -> str | None:
        """The image's SHA256 when all three files are there, the JSON says ``manifest`` and the CHECKSUM lists
        the image with that digest; None otherwise (read-only)."""
        if not (self.image.is_file() and self.checksum.is_file() and self.manifest_is(manifest)):
            return None
        digest = sha256_file(self.image)
        return digest if self.checksum_lists(digest) else None


def read_marker(files: ImageFiles, manifest: Manifest) -> int | None:
    """The Koji task recorded beside the candidate for ``manifest``; None when there is none, it is for another
    manifest, or it is unreadable (read-only)."""
    try:
        data = json.loads(files.marker.read_text())
    except (OSError, ValueError):
        return None
    task = data.get("task") if isinstance(data, dict) else None
    if data.get("input_hash") != manifest.input_hash or isinstance(task, bool) or not isinstance(task, int):
        return None
    return task


def write_marker(files: ImageFiles, manifest: Manifest, task_id: int, now: datetime) -> None:
    """Record that Koji task ``task_id`` builds the image of ``manifest`` (replaced atomically)."""
    body = {
        "task": task_id,
        "input_hash": manifest.input_hash,
        "nvrs": list(manifest.nvrs),
        "submitted": now.isoformat(),
    }
    write_atomic(files.marker, (json.dumps(body, indent=1) + "\n").encode())


def signed_by(signer: Signer, path: Path) -> bool:
    """Whether the CHECKSUM file ``path`` is clear-signed with a good signature by ``signer``'s key (read-only)."""
    if not path.is_file() or not is_clearsigned(path.read_text(errors="replace")):
        return False
    return signer.keyring.check_clearsigned(path).good_by(signer.fingerprint)


@dataclass(frozen=True)
class Move:
    source: Path
    dest: Path
    step: str


def plan_promotion(
    label: str,
    candidate: ImageFiles,
    public: ImageFiles,
    *,
    sha256: str,
    manifest: Manifest,
    signer: Signer | None,
) -> list[Move]:
    """The renames that make the candidate of ``manifest`` (image digest ``sha256``) the public image: image
    first, manifest JSON next, CHECKSUM last (the index that names the rest). Read-only.

    A file whose candidate is gone but whose public copy already is the right one needs no move (a rerun, or
    one after a crash half-way). A file that is neither — the candidate changed or vanished, a CHECKSUM not
    signed by ``signer`` — is an :class:`ArtifactError` naming it: nothing is moved then.
    """
    moves: list[Move] = []

    def choose(step: str, source: Path, dest: Path, good: bool, good_public: bool, what: str) -> None:
        if source.is_file():
            if not good:
                raise ArtifactError(label, f"candidate {source} {what}: compose again")
            moves.append(Move(source, dest, step))
        elif not good_public:
            raise ArtifactError(label, f"no candidate {source} and no released {dest} of this compose: compose again")

    choose(
        STEP_IMAGE,
        candidate.image,
        public.image,
        candidate.image.is_file() and sha256_file(candidate.image) == sha256,
        not candidate.image.is_file() and public.image.is_file() and sha256_file(public.image) == sha256,
        f"is not the composed image (SHA256 {sha256})",
    )
    choose(
        STEP_MANIFEST,
        candidate.manifest,
        public.manifest,
        candidate.manifest_is(manifest),
        public.manifest_is(manifest),
        f"does not say manifest {manifest.input_hash[:12]}",
    )

    def checksum_ok(files: ImageFiles) -> bool:
        return files.checksum_lists(sha256) and (signer is None or signed_by(signer, files.checksum))

    key = f" and signed with key {signer.key_id}" if signer is not None else ""
    choose(
        STEP_CHECKSUM,
        candidate.checksum,
        public.checksum,
        checksum_ok(candidate),
        checksum_ok(public),
        f"does not list the image with SHA256 {sha256}{key}",
    )
    return moves


def apply_moves(moves: Sequence[Move]) -> None:
    """Rename each file into place, in order (each rename atomic; parents created)."""
    for move in moves:
        move.dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(move.source, move.dest)


def remove_candidate(files: ImageFiles, top: Path) -> None:
    """Remove the candidate's marker and every empty directory from it up to ``top``. Idempotent."""
    files.marker.unlink(missing_ok=True)
    directory = files.image.parent
    while directory != top and top in directory.parents:
        try:
            directory.rmdir()
        except OSError:
            return
        directory = directory.parent
