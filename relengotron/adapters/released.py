"""The last RELEASED manifest of each artifact target, read back from what was published — no hidden state.

- OSTree artifacts: the manifest recorded in the head commit of the target's ref in the RELEASED repository —
  the staging tree's (``<mirror.staging>/<mirror.ostree>``, what the sync carries), never the shared
  repository, whose heads are candidates that may have failed their tests
  (:func:`relengotron.ostree.merge.last_released`).
- Image artifacts: a manifest JSON beside each image on the mirror. Path convention: the image directory
  is the mirror layout's ``images`` template (``{version}``, ``{arch}``, ``{kind}`` filled in), the file is
  ``<image file name>.manifest.json``, e.g.
  ``releases/24/ami/x86_64/Fedora-Cloud-Base-24.x86_64.raw.xz.manifest.json``.
  Its text is :meth:`relengotron.planning.Manifest.to_json`.
  :func:`write_image_manifest` writes it beside an image candidate, and the promotion moves it into the
  public staging tree with the image (:mod:`relengotron.artifacts.images`); the sync carries
  it to the mirror in its metadata pass, after the image itself (``*.json`` is metadata, see
  :mod:`relengotron.sync.classify`), so a manifest never names an image the mirror lacks.

A corrupt manifest is an error naming where it was read (the planner must not guess).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from relengotron.config import Artifact, MirrorLayout, Release
from relengotron.ostree.merge import last_released
from relengotron.ostree.repo import OSTreeRepo
from relengotron.planning import Manifest, Target
from relengotron.sync import MirrorFS
from relengotron.tools.files import write_atomic

MANIFEST_SUFFIX = ".manifest.json"


def image_dir(layout: MirrorLayout, artifact: Artifact, release: Release, arch: str) -> str:
    """The image's directory relative to the staging/master top: the ``images`` template filled in."""
    return layout.images.format(version=release.version, arch=arch, kind=artifact.kind).strip("/")


def image_path(layout: MirrorLayout, artifact: Artifact, release: Release, arch: str) -> str:
    """The image file, relative to the staging/master top."""
    return f"{image_dir(layout, artifact, release, arch)}/{artifact.image_name(release, arch)}"


def image_manifest_path(layout: MirrorLayout, artifact: Artifact, release: Release, arch: str) -> str:
    """The manifest JSON beside the image, relative to the staging/master top."""
    return image_path(layout, artifact, release, arch) + MANIFEST_SUFFIX


def ostree_released(repo: OSTreeRepo, ref: str) -> Manifest | None:
    """The manifest of ``ref``'s head in ``repo`` (the released repository); None if never released (read-only)."""
    released = last_released(repo, ref)
    if released is None:
        return None
    return Manifest.of(released.manifest.nvrs, item=f"{ref} (commit {released.commit})")


def read_image_manifest(mirror: MirrorFS, rel: str) -> Manifest | None:
    """The manifest JSON at ``rel`` on the mirror; None if there is none (read-only)."""
    if not mirror.exists(rel):
        return None
    return Manifest.from_json(mirror.read(rel).decode(errors="replace"), source=mirror.where(rel))


def write_image_manifest(
    root: Path, layout: MirrorLayout, artifact: Artifact, release: Release, arch: str, manifest: Manifest
) -> Path:
    """Write the manifest JSON beside the image in the tree at ``root`` (the staging tree); returns its path.

    Written to a temporary file in the same directory, then renamed: a reader sees the old file or the new
    one. Idempotent: the same manifest again leaves the file untouched (not even its time changes).
    """
    path = Path(root) / image_manifest_path(layout, artifact, release, arch)
    text = manifest.to_json()
    if path.is_file() and path.read_text(errors="replace") == text:
        return path
    return write_atomic(path, text.encode())


def released_manifests(
    release: Release,
    artifacts: Sequence[Artifact],
    layout: MirrorLayout,
    *,
    repo: OSTreeRepo,
    mirror: MirrorFS,
) -> dict[str, Manifest | None]:
    """Target id → its last released manifest (None: never released), for every arch of every artifact —
    the ``released`` argument of :func:`relengotron.planning.plan` (read-only)."""
    out: dict[str, Manifest | None] = {}
    for artifact in artifacts:
        for arch in artifact.arches:
            target = Target(artifact, release, arch)
            if artifact.ref is not None:
                out[target.id] = ostree_released(repo, artifact.ostree_ref(release, arch))
            else:
                out[target.id] = read_image_manifest(mirror, image_manifest_path(layout, artifact, release, arch))
    return out
