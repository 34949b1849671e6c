"""The download website's I/O: what a release offers, read from the public staging tree (what is released —
candidates in ``.relengotron/`` are never listed), and the site's files written into the staging tree's website
path (``mirror.website``), from where the sync publishes them (the website is an index: synced after the
content it names)::

    website/index.html                              every release with a page
    website/<version>/index.html                    the release's page (relengotron.website.page)
    website/<version>/images.json                   productmd images metadata (validated with productmd)
    website/<version>/fedora.gpg                    the release's public key, a binary keyring (gpgv --keyring)
    website/<version>/RPM-GPG-KEY-fedora-<version>-primary   the same key, armored

The content is deterministic (no clock), so writing it again for the same tree changes no file.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import productmd.images

from relengotron.adapters.released import image_path
from relengotron.artifacts import kind_class, staging_ostree_repo
from relengotron.config import MirrorLayout, Release, ReleaseConfig
from relengotron.manifest import Manifest, ManifestError
from relengotron.ostree.metadata import KEY_VERSION
from relengotron.signing.checksum import ChecksumFormatError, is_clearsigned, parse_checksums
from relengotron.signing.verify import Keyring
from relengotron.tools.files import write_atomic
from relengotron.website.model import (
    IMAGES_JSON,
    KEYRING,
    PAGE,
    ImageEntry,
    OSTreeEntry,
    ReleaseSite,
    SigningKey,
    WebsiteError,
    armored_key_name,
    images_json,
)
from relengotron.website.page import index_page, release_page


def gather(config: ReleaseConfig, release_id: str, keyring: Keyring | None = None) -> ReleaseSite:
    """What ``release_id`` currently offers in the public staging tree (read-only); ``keyring``: the release's
    public signing key (the signer's), None when the release is not signed by us."""
    release = config.release(release_id)
    layout = config.mirror
    top = Path(layout.staging)
    images: list[ImageEntry] = []
    trees: list[OSTreeEntry] = []
    repo = staging_ostree_repo(layout)
    for artifact in config.artifacts_of(release_id):
        for arch in artifact.arches:
            if artifact.ref is not None:
                ref = artifact.ostree_ref(release, arch)
                commit = repo.rev_parse(ref) if repo.exists() else None
                if commit is None:
                    continue
                info = repo.show(commit)
                version = info.metadata.get(KEY_VERSION)
                trees.append(
                    OSTreeEntry(
                        artifact=artifact.name,
                        arch=arch,
                        ref=ref,
                        commit=commit,
                        version=version if isinstance(version, str) else None,
                        timestamp=info.timestamp,
                        repo_path=layout.ostree.strip("/"),
                        summary_signed=(repo.path / "summary.sig").is_file(),
                    )
                )
                continue
            entry = _image_entry(top, layout, artifact, release, arch)
            if entry is not None:
                images.append(entry)
    key = None
    if keyring is not None:
        key = SigningKey(keyring.fingerprint, keyring.uid, keyring.armored, keyring.binary)
    return ReleaseSite(release, tuple(images), tuple(trees), key)


def _image_entry(top: Path, layout: MirrorLayout, artifact: Any, release: Release, arch: str) -> ImageEntry | None:
    rel = image_path(layout, artifact, release, arch)
    image = top / rel
    checksum = image.with_name(image.name + "-CHECKSUM")
    manifest = image.with_name(image.name + ".manifest.json")
    if not (image.is_file() and checksum.is_file() and manifest.is_file()):
        return None
    try:
        text = checksum.read_text(errors="replace")
        entry = parse_checksums(text).get(image.name)
        released = Manifest.from_json(manifest.read_text(errors="replace"), source=str(manifest))
    except (ChecksumFormatError, ManifestError) as exc:
        raise WebsiteError(f"{image}: {exc}") from exc
    if entry is None:
        raise WebsiteError(f"{checksum}: does not list {image.name}")
    cls = kind_class(artifact.kind)
    stat = image.stat()
    return ImageEntry(
        artifact=artifact.name,
        kind=artifact.kind,
        arch=arch,
        path=rel,
        size=stat.st_size,
        mtime=int(stat.st_mtime),
        sha256=entry.digest,
        checksum_path=str(Path(rel).with_name(checksum.name)),
        signed=is_clearsigned(text),
        manifest_path=str(Path(rel).with_name(manifest.name)),
        input_hash=released.input_hash,
        productmd_type=getattr(cls, "productmd_type", "raw"),
        productmd_format=getattr(cls, "productmd_format", "raw"),
    )


def _write_if_changed(path: Path, data: bytes) -> bool:
    if path.is_file() and path.read_bytes() == data:
        return False
    write_atomic(path, data)
    return True


def site_documents(config: ReleaseConfig, site: ReleaseSite) -> dict[str, bytes]:
    """The release's files (paths relative to the staging top → content): images.json, the page and, for a
    signed release, its key files. Pure."""
    website = config.mirror.website.strip("/")
    folder = f"{website}/{site.release.version}"
    documents = {
        f"{folder}/{IMAGES_JSON}": (json.dumps(images_json(site), indent=2, sort_keys=True) + "\n").encode(),
        f"{folder}/{PAGE}": release_page(site, config.mirror).encode(),
    }
    if site.key is not None:
        documents[f"{folder}/{KEYRING}"] = site.key.binary
        documents[f"{folder}/{armored_key_name(site.release)}"] = site.key.armored.encode()
    return documents


def write_site(config: ReleaseConfig, site: ReleaseSite) -> list[str]:
    """Write the release's documents (:func:`site_documents`) and the top page into the staging website path;
    the files written (relative to the staging top).

    Idempotent: a file whose content is unchanged is not rewritten (nothing is returned for it). Each file is
    replaced whole (atomically).
    """
    website = config.mirror.website.strip("/")
    top = Path(config.mirror.staging)
    written = [rel for rel, data in site_documents(config, site).items() if _write_if_changed(top / rel, data)]
    listed = _listed_releases(config, top / website)
    index = top / website / PAGE
    if _write_if_changed(index, index_page(listed).encode()):
        written.append(str(index.relative_to(top)))
    return written


def _listed_releases(config: ReleaseConfig, website: Path) -> list[tuple[str, str]]:
    """Configured releases that have a page, in configuration order."""
    return [(r.version, r.name) for r in config.releases.values() if (website / r.version / PAGE).is_file()]


def read_images_json(path: Path) -> productmd.images.Images:
    """Load (and so validate) an images.json with productmd."""
    images = productmd.images.Images()
    images.load(str(path))
    return images


def iter_image_paths(images: productmd.images.Images) -> Iterable[str]:
    """Every image path an images.json lists."""
    for variant in images.images.values():
        for found in variant.values():
            for image in found:
                yield image.path
