"""Which artifact kinds exist: the classes registered in the ``relengotron.artifacts`` entry point group.

Each entry point's name is a kind as the release configuration spells it, its value the class
(``ami = "relengotron.artifacts.images:AMI"``). Adding a kind is one :class:`ArtifactKind` subclass and one
entry-point line (docs/artifact-kinds.md). The group is read once per process (:func:`reload_kinds` reads it
again); a broken entry point — one that does not import, is not an ArtifactKind, or whose class says another
kind — is an :class:`ArtifactKindError` naming it, as is a name two distributions both register.
"""

from __future__ import annotations

import functools
from importlib import metadata
from pathlib import Path

from relengotron.artifacts.base import ArtifactKind
from relengotron.config import ReleaseConfig, load_config
from relengotron.names import ARTIFACT_KINDS_GROUP as GROUP
from relengotron.planning import Target


class ArtifactKindError(LookupError):
    """The registry is broken, or names no such kind; the message names the entry point or the kind."""


def _where(ep: metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    owner = f" (from {dist.name} {dist.version})" if dist is not None else ""
    return f"entry point {ep.name} = {ep.value!r} in group {GROUP}{owner}"


@functools.cache
def _load() -> dict[str, type[ArtifactKind]]:
    found: dict[str, type[ArtifactKind]] = {}
    seen: dict[str, metadata.EntryPoint] = {}
    for ep in metadata.entry_points(group=GROUP):
        if ep.name in seen:
            if seen[ep.name].value == ep.value:
                continue  # the same distribution seen twice on sys.path
            raise ArtifactKindError(f"{_where(ep)}: kind {ep.name!r} is already registered by {_where(seen[ep.name])}")
        seen[ep.name] = ep
        try:
            cls = ep.load()
        except Exception as exc:
            raise ArtifactKindError(f"{_where(ep)}: cannot be loaded: {type(exc).__name__}: {exc}") from exc
        if not (isinstance(cls, type) and issubclass(cls, ArtifactKind)):
            raise ArtifactKindError(f"{_where(ep)}: {cls!r} is not an ArtifactKind subclass")
        if getattr(cls, "kind", None) != ep.name:
            raise ArtifactKindError(
                f"{_where(ep)}: {cls.__name__}.kind is {getattr(cls, 'kind', None)!r}, not {ep.name!r}"
            )
        found[ep.name] = cls
    if not found:
        raise ArtifactKindError(
            f"no artifact kinds are registered in entry point group {GROUP}: is relengotron installed?"
        )
    return dict(sorted(found.items()))


def kinds() -> dict[str, type[ArtifactKind]]:
    """Kind name → class, for every registered kind (sorted by name). Read-only; cached per process."""
    return dict(_load())


def reload_kinds() -> None:
    """Forget the cached registry: the next :func:`kinds` reads the entry points again (after an install)."""
    _load.cache_clear()


def kind_class(kind: str) -> type[ArtifactKind]:
    """The class registered for ``kind``; :class:`ArtifactKindError` naming it and the known kinds otherwise."""
    known = kinds()
    try:
        return known[kind]
    except KeyError:
        raise ArtifactKindError(f"unknown artifact kind {kind!r} (registered: {', '.join(known)})") from None


def for_target(target: Target) -> ArtifactKind:
    """The plugin instance for one artifact of one release for one arch."""
    return kind_class(target.artifact.kind)(target)


def load_release_config(path: str | Path) -> ReleaseConfig:
    """The release configuration at ``path``, its artifacts checked against the registered kinds (errors name
    the file, line and key; a broken registry is named at the first artifact's ``kind``). Reads only."""
    return load_config(path, kinds)
