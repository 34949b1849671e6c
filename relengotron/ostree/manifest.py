"""What a tree is made of, as recorded in its commit: the manifest, its input hash and the version. Pure.

A commit on a shared ref carries (GVariant metadata):

- ``version`` (``s``): ``<release version>.<YYYYMMDD>.<n>``, e.g. ``24.20160614.0`` (n counts from 0 per day);
- ``relengotron.manifest`` (``as``): the NVRs of the binary packages in the tree, sorted;
- ``relengotron.input-hash`` (``s``): sha256 of the manifest (see :attr:`Manifest.input_hash`).

The planner reads the last released manifest back from the head commit (:func:`released_from_metadata`), so
the system keeps no state beside what it published.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

KEY_VERSION = "version"
KEY_MANIFEST = "relengotron.manifest"
KEY_INPUT_HASH = "relengotron.input-hash"
KEY_ENDOFLIFE = "ostree.endoflife"
KEY_ENDOFLIFE_REBASE = "ostree.endoflife-rebase"

# name-version-release: the name may hold dashes, version and release may not.
_NVR = re.compile(r"^(?P<name>[A-Za-z0-9_+.][A-Za-z0-9_+.\-]*)-(?P<version>[^-\s/]+)-(?P<release>[^-\s/]+)$")


class ManifestError(ValueError):
    """A manifest (given, or read back from a commit) is malformed; the message names the item."""


def split_nvr(nvr: str) -> tuple[str, str, str]:
    """``bash-4.3.42-1.fc24`` → ``("bash", "4.3.42", "1.fc24")``; :class:`ManifestError` names a bad NVR."""
    match = _NVR.match(nvr)
    if not match:
        raise ManifestError(f"{nvr!r} is not a name-version-release")
    return match.group("name"), match.group("version"), match.group("release")


@dataclass(frozen=True)
class Manifest:
    """The NVRs of the binary packages in a tree, sorted and unique (build with :meth:`of`)."""

    nvrs: tuple[str, ...]

    @classmethod
    def of(cls, nvrs: Iterable[str]) -> Manifest:
        """Validate, sort and de-duplicate; two NVRs of one package name are an error naming both."""
        unique = sorted(set(nvrs))
        names: dict[str, str] = {}
        for nvr in unique:
            name = split_nvr(nvr)[0]
            if name in names:
                raise ManifestError(f"package {name} appears twice in the manifest: {names[name]} and {nvr}")
            names[name] = nvr
        return cls(tuple(unique))

    @property
    def input_hash(self) -> str:
        """sha256 (hex) of the NVRs, one per line in sorted order, each followed by a newline."""
        return hashlib.sha256("".join(f"{nvr}\n" for nvr in self.nvrs).encode()).hexdigest()

    def names(self) -> dict[str, str]:
        """Package name → NVR."""
        return {split_nvr(nvr)[0]: nvr for nvr in self.nvrs}


@dataclass(frozen=True)
class ReleasedManifest:
    """What the head commit of a ref says it contains."""

    ref: str
    commit: str
    version: str | None
    manifest: Manifest
    input_hash: str
    timestamp: int  # commit time, seconds since the epoch
    endoflife: str | None  # the EOL message when the ref has been carved out


def released_from_metadata(
    ref: str, commit: str, timestamp: int, metadata: Mapping[str, Any]
) -> ReleasedManifest | None:
    """The manifest recorded in a commit's metadata; None for a commit made without one (not by us).

    Raises :class:`ManifestError` naming the ref and commit when the metadata is there but does not hold
    together (not a string list, an NVR that is not one, or a hash that does not match the list).
    """
    if KEY_MANIFEST not in metadata:
        return None
    where = f"{ref} (commit {commit})"
    nvrs = metadata[KEY_MANIFEST]
    if not isinstance(nvrs, list) or not all(isinstance(n, str) for n in nvrs):
        raise ManifestError(f"{where}: {KEY_MANIFEST} is not a list of strings")
    try:
        manifest = Manifest.of(nvrs)
    except ManifestError as exc:
        raise ManifestError(f"{where}: {exc}") from None
    recorded = metadata.get(KEY_INPUT_HASH)
    if recorded != manifest.input_hash:
        raise ManifestError(f"{where}: {KEY_INPUT_HASH} {recorded!r} does not match the manifest")
    version = metadata.get(KEY_VERSION)
    eol = metadata.get(KEY_ENDOFLIFE)
    return ReleasedManifest(
        ref=ref,
        commit=commit,
        version=version if isinstance(version, str) else None,
        manifest=manifest,
        input_hash=recorded,
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
