"""What a commit on a shared ref records besides its tree, and the version scheme. Pure.

A commit on a shared ref carries (GVariant metadata):

- ``version`` (``s``): ``<release version>.<YYYYMMDD>.<n>``, e.g. ``24.20160614.0`` (n counts from 0 per day);
- the manifest and its input hash (:meth:`relengotron.manifest.Manifest.metadata`);
- ``rpmostree.rpmdb.pkglist`` (``a(sssss)``: name, epoch, version, release, arch of every package in the
  tree's rpmdb), which rpm-ostree writes on its composes and reads for ``rpm-ostree db diff``; a compose
  writes it, the merge carries it to the shared commit;
- on an end-of-life commit, ``ostree.endoflife`` (``s``, the message rpm-ostree shows its users) and
  ``ostree.endoflife-rebase`` (``s``, the ref to rebase to).

The planner reads the last released manifest back from the head commit (:func:`released_from_metadata`), so
the system keeps no state beside what it published.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from relengotron.manifest import KEY_INPUT_HASH, KEY_MANIFEST, Manifest

KEY_VERSION = "version"
KEY_PKGLIST = "rpmostree.rpmdb.pkglist"
# What the merge copies from the composed commit onto the shared one (the rest it writes itself).
CARRIED_FROM_COMPOSE = (KEY_PKGLIST,)
KEY_ENDOFLIFE = "ostree.endoflife"
KEY_ENDOFLIFE_REBASE = "ostree.endoflife-rebase"
# What an end-of-life commit keeps of its parent's metadata.
KEPT_BY_EOL = (KEY_VERSION, KEY_MANIFEST, KEY_INPUT_HASH)


@dataclass(frozen=True)
class ReleasedManifest:
    """What the head commit of a ref says it contains."""

    ref: str
    commit: str
    version: str | None
    manifest: Manifest
    timestamp: int  # commit time, seconds since the epoch
    endoflife: str | None  # the EOL message when the ref has been carved out

    @property
    def input_hash(self) -> str:
        return self.manifest.input_hash


def released_from_metadata(
    ref: str, commit: str, timestamp: int, metadata: Mapping[str, Any]
) -> ReleasedManifest | None:
    """The manifest recorded in a commit's metadata; None for a commit made without one (not by us).

    Raises :class:`relengotron.manifest.ManifestError` naming the ref and commit when the metadata is there
    but does not hold together (not a string list, an NVR that is not one, or a hash that does not match).
    """
    manifest = Manifest.from_metadata(metadata, source=f"{ref} (commit {commit})")
    if manifest is None:
        return None
    version = metadata.get(KEY_VERSION)
    eol = metadata.get(KEY_ENDOFLIFE)
    return ReleasedManifest(
        ref=ref,
        commit=commit,
        version=version if isinstance(version, str) else None,
        manifest=manifest,
        timestamp=timestamp,
        endoflife=eol if isinstance(eol, str) else None,
    )


def next_version(prefix: str, day: date, previous: str | None) -> str:
    """The version of the next commit: ``<prefix>.<YYYYMMDD>.<n>``, n one above the previous one of that day.

    ``next_version("24", date(2016, 6, 14), "24.20160614.0") == "24.20160614.1"``; any other previous version
    (another day, another scheme, none) gives ``.0``.
    """
    stem = f"{prefix}.{day:%Y%m%d}."
    if previous and previous.startswith(stem) and previous[len(stem) :].isdigit():
        return f"{stem}{int(previous[len(stem) :]) + 1}"
    return f"{stem}0"
