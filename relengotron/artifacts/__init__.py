"""Artifact plugins: one class per kind of release artifact, found through the ``relengotron.artifacts``
entry point group. See :mod:`.base` for the interface, :mod:`.registry` for the lookup, :mod:`.ostree` and
:mod:`.images` for the five kinds shipped, and docs/artifact-kinds.md for how to add one."""

from relengotron.artifacts.base import (
    CANDIDATES,
    COMPOSED_TOPIC,
    ArtifactError,
    ArtifactKind,
    ComposeContext,
    ComposeOutput,
    ImageOutput,
    OSTreeOutput,
    PromoteContext,
    PromoteResult,
    Published,
    staging_lock,
    staging_ostree_repo,
)
from relengotron.artifacts.registry import (
    GROUP,
    ArtifactKindError,
    for_target,
    kind_class,
    kinds,
    load_release_config,
    reload_kinds,
)

__all__ = [
    "CANDIDATES",
    "COMPOSED_TOPIC",
    "GROUP",
    "ArtifactError",
    "ArtifactKind",
    "ArtifactKindError",
    "ComposeContext",
    "ComposeOutput",
    "ImageOutput",
    "OSTreeOutput",
    "PromoteContext",
    "PromoteResult",
    "Published",
    "for_target",
    "kind_class",
    "kinds",
    "load_release_config",
    "reload_kinds",
    "staging_lock",
    "staging_ostree_repo",
]
