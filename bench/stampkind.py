"""A cheap artifact kind for the selective-rebuild figure at large N: ``bench-stamp``.

It is registered the way any third-party kind is — an entry point in the ``relengotron.artifacts`` group,
here of a distribution that exists only on the bench's sys.path while the figure runs (:func:`registered`) —
so the release configuration, :func:`relengotron.artifacts.for_target` and the planner treat it like the
shipped kinds. Its "compose" writes a 4 KiB stamp derived from the manifest plus the manifest JSON into the
candidate area, in about a millisecond: what is measured around it is the push's own overhead (planning,
reading what was released, dispatching composes), which real composes would only hide. Its released manifest
is read back from the master mirror as the image kinds' is (:mod:`relengotron.adapters.released`).
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from relengotron.adapters.released import image_manifest_path, image_path, read_image_manifest, write_image_manifest
from relengotron.artifacts.base import (
    CANDIDATES,
    ArtifactKind,
    ComposeContext,
    ComposeOutput,
    PromoteContext,
    PromoteResult,
    Published,
)
from relengotron.config import MirrorLayout
from relengotron.manifest import Manifest
from relengotron.signing.base import Signer, SignResult
from relengotron.tools.files import write_atomic

KIND = "bench-stamp"
DIST = "relengotron_bench_kinds-0.0.dist-info"


class StampArtifact(ArtifactKind):
    """A file stamped with its manifest's input hash (see the module docstring)."""

    kind = KIND
    template_key = "image"
    compose_backends = ("local",)
    default_compose = "local"

    def mirror_paths(self, layout: MirrorLayout) -> list[str]:
        return [
            image_path(layout, self.artifact, self.release, self.arch),
            image_manifest_path(layout, self.artifact, self.release, self.arch),
        ]

    def released(self, published: Published) -> Manifest | None:
        rel = image_manifest_path(published.layout, self.artifact, self.release, self.arch)
        return read_image_manifest(published.mirror, rel)

    def compose(self, ctx: ComposeContext, manifest: Manifest) -> ComposeOutput:
        """Write the stamp and its manifest JSON into the candidate area. Idempotent: same manifest, same files."""
        stamp = ctx.candidates / image_path(ctx.layout, self.artifact, self.release, self.arch)
        body = hashlib.sha256(manifest.input_hash.encode()).digest() * 128
        if not stamp.is_file() or stamp.read_bytes() != body:
            write_atomic(stamp, body)
        write_image_manifest(ctx.candidates, ctx.layout, self.artifact, self.release, self.arch, manifest)
        released = read_image_manifest_local(ctx.staging, ctx.layout, self)
        return ComposeOutput(
            target=self.id,
            kind=self.kind,
            label=self.label,
            manifest=manifest,
            changed=released != manifest,
            paths=tuple(self.mirror_paths(ctx.layout)),
            composed_at=ctx.now().isoformat(),
        )

    def sign(self, signer: Signer, output: ComposeOutput) -> list[SignResult]:
        """Nothing is published signed."""
        del signer, output
        return []

    def promote(self, ctx: PromoteContext, output: ComposeOutput) -> PromoteResult:
        """Rename the candidate's files into the public staging tree. Idempotent: files already there stay."""
        moved = []
        for rel in self.mirror_paths(ctx.layout):
            source, dest = ctx.staging / CANDIDATES / rel, ctx.staging / rel
            if source.is_file():
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.replace(source, dest)
                moved.append(rel)
        return PromoteResult(
            target=self.id,
            kind=self.kind,
            label=self.label,
            manifest=output.manifest,
            identity=output.manifest.input_hash,
            changed=bool(moved),
            steps=tuple("image" for _ in moved),
            paths=tuple(self.mirror_paths(ctx.layout)),
        )

    def _announce(self, output: ComposeOutput) -> dict[str, Any]:
        return {"image": {"input_hash": output.manifest.input_hash}}


def read_image_manifest_local(root: Path, layout: MirrorLayout, plugin: StampArtifact) -> Manifest | None:
    path = root / image_manifest_path(layout, plugin.artifact, plugin.release, plugin.arch)
    return Manifest.from_json(path.read_text(), source=str(path)) if path.is_file() else None


@contextmanager
def registered(directory: Path) -> Iterator[None]:
    """``bench-stamp`` registered in the ``relengotron.artifacts`` entry point group while the block runs."""
    from relengotron.artifacts import GROUP, reload_kinds

    dist = directory / DIST
    dist.mkdir(parents=True, exist_ok=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: relengotron-bench-kinds\nVersion: 0.0\n")
    (dist / "entry_points.txt").write_text(f"[{GROUP}]\n{KIND} = bench.stampkind:StampArtifact\n")
    sys.path.append(str(directory))
    reload_kinds()
    try:
        yield
    finally:
        sys.path.remove(str(directory))
        reload_kinds()
