"""What an artifact is made of: its manifest, the sorted NVRs of its builds, and the input hash over them. Pure.

One manifest type serves the planner (which artifacts change), the OSTree merge (recorded in each commit)
and the image publication (a JSON file beside each image). It is written and read back in two forms:

- commit metadata (:meth:`Manifest.metadata`): ``relengotron.manifest`` (GVariant ``as``: the NVRs, sorted)
  and ``relengotron.input-hash`` (``s``: :attr:`Manifest.input_hash`);
- JSON (:meth:`Manifest.to_json`): ``{"nvrs": [...], "input_hash": "..."}``.

Reading either back checks that it holds together (NVRs that are NVRs, one build per package, the hash of
exactly these NVRs); a corrupt one is a :class:`ManifestError` naming where it was read from.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import koji

KEY_MANIFEST = "relengotron.manifest"  # commit metadata: the NVRs (as)
KEY_INPUT_HASH = "relengotron.input-hash"  # commit metadata: Manifest.input_hash (s)


class ManifestError(ValueError):
    """A manifest, or an NVR in one, is malformed (given, or read back from what was published); names the item."""


def parse_nvr(nvr: str, *, item: str) -> tuple[str, str, str, str]:
    """(name, epoch, version, release) of ``nvr``; a :class:`ManifestError` names ``item`` and the NVR.

    Builds are named without epoch (Koji's NVR); ``epoch:name-version-release`` and ``name-epoch:version-release``
    are understood too. Whitespace and slashes are never part of an NVR.
    """
    bad = ManifestError(f"{item}: {nvr!r} is not a name-version-release")
    if not isinstance(nvr, str) or any(c.isspace() or c == "/" for c in nvr):
        raise bad
    try:
        parts = koji.parse_NVR(nvr)
    except (koji.GenericError, TypeError, AttributeError):
        raise bad from None
    if not parts["name"] or not parts["version"] or not parts["release"]:
        raise bad
    epoch, version = str(parts["epoch"] or ""), parts["version"]
    if ":" in version and not epoch:  # name-epoch:version-release (koji parses epoch:name-version-release)
        epoch, version = version.split(":", 1)
    return parts["name"], epoch, version, parts["release"]


def input_hash(nvrs: Iterable[str]) -> str:
    """sha256 (hex) of the NVRs in sorted order, one per line, each line ending in a newline."""
    return hashlib.sha256("".join(f"{nvr}\n" for nvr in sorted(nvrs)).encode()).hexdigest()


@dataclass(frozen=True)
class Manifest:
    """The builds an artifact is made of: sorted NVRs, one per package (build it with :meth:`of`)."""

    nvrs: tuple[str, ...]

    @classmethod
    def of(cls, nvrs: Iterable[str], *, item: str = "manifest") -> Manifest:
        """Validate, sort and de-duplicate; two builds of one package is a :class:`ManifestError` naming both."""
        names: dict[str, str] = {}
        for nvr in sorted(set(nvrs)):
            name = parse_nvr(nvr, item=item)[0]
            if name in names:
                raise ManifestError(f"{item}: two builds of {name}: {names[name]} and {nvr}")
            names[name] = nvr
        return cls(tuple(sorted(names.values())))

    @property
    def input_hash(self) -> str:
        """:func:`input_hash` of the NVRs: equal manifests, equal hashes; any changed NVR, another hash."""
        return input_hash(self.nvrs)

    @property
    def packages(self) -> dict[str, str]:
        """Package name → NVR."""
        return {parse_nvr(nvr, item="manifest")[0]: nvr for nvr in self.nvrs}

    def to_json(self) -> str:
        """The manifest JSON written beside each image."""
        return json.dumps({"nvrs": list(self.nvrs), "input_hash": self.input_hash}, indent=1) + "\n"

    @classmethod
    def from_json(cls, text: str, *, source: str) -> Manifest:
        """Read back a published manifest JSON; a corrupt one is a :class:`ManifestError` naming ``source``."""
        try:
            data = json.loads(text)
            nvrs, claimed = data["nvrs"], data["input_hash"]
        except (ValueError, TypeError, KeyError) as exc:
            raise ManifestError(f"{source}: corrupt manifest ({exc.__class__.__name__}: {exc})") from None
        return cls._checked(nvrs, claimed, source=source, what="nvrs", hash_key="input hash")

    def metadata(self) -> dict[str, str | list[str]]:
        """OSTree commit metadata: the NVRs (a string array) and the input hash (a string)."""
        return {KEY_MANIFEST: list(self.nvrs), KEY_INPUT_HASH: self.input_hash}

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any], *, source: str) -> Manifest | None:
        """The manifest recorded in commit metadata; None when there is none (a commit not made by us).

        A recorded manifest that does not hold together is a :class:`ManifestError` naming ``source``.
        """
        if KEY_MANIFEST not in metadata:
            return None
        return cls._checked(
            metadata[KEY_MANIFEST],
            metadata.get(KEY_INPUT_HASH),
            source=source,
            what=KEY_MANIFEST,
            hash_key=KEY_INPUT_HASH,
        )

    @classmethod
    def _checked(cls, nvrs: Any, claimed: Any, *, source: str, what: str, hash_key: str) -> Manifest:
        if not isinstance(nvrs, list) or not all(isinstance(n, str) for n in nvrs):
            raise ManifestError(f"{source}: corrupt manifest ({what} is not a list of strings)")
        manifest = cls.of(nvrs, item=source)
        if claimed != manifest.input_hash:
            raise ManifestError(f"{source}: corrupt manifest ({hash_key} {claimed!r} does not match its NVRs)")
        return manifest
