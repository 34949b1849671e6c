"""The download website's data: what a release currently offers, as productmd's ``images.json`` and as a static
HTML page listing each artifact with its checksum and signature links.

Read from the public staging tree (what is released — candidates in ``.relengotron/`` are never listed), built
by pure functions (:func:`images_json`, :func:`release_page`, :func:`index_page`), and written into the staging
tree's website path (``mirror.website``) by :func:`write_site`, from where the sync publishes it (the website is
an index: synced after the content it names)::

    website/index.html              every release with a page
    website/<version>/images.json   productmd images metadata (validated with productmd.images.Images)
    website/<version>/index.html    the release's artifacts: image, size, SHA256, CHECKSUM (clear-signed), manifest;
                                    OSTree refs with their commit, version and the signed summary

The content is deterministic (no clock: the compose date is the newest released artifact's), so writing it
again for the same tree changes no file.
"""

from __future__ import annotations

import html
import io
import json
import posixpath
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import productmd.images

from relengotron.adapters.released import image_path
from relengotron.artifacts import kind_class, staging_ostree_repo
from relengotron.config import MirrorLayout, Release, ReleaseConfig
from relengotron.manifest import Manifest, ManifestError
from relengotron.ostree.metadata import KEY_VERSION
from relengotron.signing.checksum import ChecksumFormatError, is_clearsigned, parse_checksums
from relengotron.tools.files import write_atomic

IMAGES_JSON = "images.json"
PAGE = "index.html"


class WebsiteError(ValueError):
    """The website data cannot be made (a released file is unreadable, images.json does not validate)."""


@dataclass(frozen=True)
class ImageEntry:
    artifact: str
    kind: str
    arch: str
    path: str  # relative to the mirror top
    size: int
    mtime: int
    sha256: str
    checksum_path: str  # the CHECKSUM file, relative to the mirror top
    signed: bool  # the CHECKSUM file is clear-signed
    manifest_path: str
    input_hash: str
    productmd_type: str
    productmd_format: str


@dataclass(frozen=True)
class OSTreeEntry:
    artifact: str
    arch: str
    ref: str
    commit: str
    version: str | None
    timestamp: int
    repo_path: str  # relative to the mirror top
    summary_signed: bool


@dataclass(frozen=True)
class ReleaseSite:
    release: Release
    images: tuple[ImageEntry, ...]
    ostree: tuple[OSTreeEntry, ...]

    @property
    def newest(self) -> int:
        """Epoch seconds of the newest released artifact (0 when there is none)."""
        return max([i.mtime for i in self.images] + [o.timestamp for o in self.ostree] + [0])


# --- reading what is released ----------------------------------------------------------------------------


def gather(config: ReleaseConfig, release_id: str) -> ReleaseSite:
    """What ``release_id`` currently offers in the public staging tree (read-only)."""
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
    return ReleaseSite(release, tuple(images), tuple(trees))


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


# --- the documents (pure) ----------------------------------------------------------------------------------


def compose_date(site: ReleaseSite) -> str:
    """YYYYMMDD of the newest released artifact (19700101 when nothing is released)."""
    return datetime.fromtimestamp(site.newest, UTC).strftime("%Y%m%d")


def images_json(site: ReleaseSite) -> dict[str, Any]:
    """productmd ``images.json`` (format 1.2) of the release's images; validated by productmd (WebsiteError)."""
    date = compose_date(site)
    images = productmd.images.Images()
    images.compose.id = f"Fedora-{site.release.version}-updates-{date}.0"
    images.compose.type = "production"
    images.compose.date = date
    images.compose.respin = 0
    for entry in sorted(site.images, key=lambda e: (e.artifact, e.arch)):
        image = productmd.images.Image(images)
        image.path = entry.path
        image.mtime = entry.mtime
        image.size = entry.size
        image.volume_id = None
        image.type = entry.productmd_type
        image.format = entry.productmd_format
        image.arch = entry.arch
        image.disc_number = 1
        image.disc_count = 1
        image.checksums = {"sha256": entry.sha256}
        image.implant_md5 = None
        image.bootable = entry.productmd_type in ("dvd", "boot", "netinst", "live")
        image.subvariant = entry.artifact
        try:
            images.add(entry.artifact, entry.arch, image)
        except ValueError as exc:
            raise WebsiteError(f"images.json: {entry.path}: {exc}") from exc
    out = io.StringIO()
    try:
        images.dump(out)
    except (ValueError, TypeError) as exc:  # productmd validates while dumping
        raise WebsiteError(f"images.json does not validate: {exc}") from exc
    return json.loads(out.getvalue())


def _link(page_dir: str, target: str, text: str) -> str:
    href = posixpath.relpath(target, page_dir)
    return f'<a href="{html.escape(href)}">{html.escape(text)}</a>'


def release_page(site: ReleaseSite, website: str) -> str:
    """The release's static page (HTML), its links relative to where it lies (``<website>/<version>/``)."""
    here = f"{website.strip('/')}/{site.release.version}"
    name = html.escape(site.release.name)
    rows = []
    for e in sorted(site.images, key=lambda e: (e.artifact, e.arch)):
        signature = "clear-signed" if e.signed else "unsigned"
        rows.append(
            "<tr>"
            f"<td>{html.escape(e.artifact)}</td><td>{html.escape(e.arch)}</td>"
            f"<td>{_link(here, e.path, posixpath.basename(e.path))}</td><td>{e.size}</td>"
            f"<td><code>{e.sha256}</code></td>"
            f"<td>{_link(here, e.checksum_path, 'CHECKSUM')} ({signature})</td>"
            f"<td>{_link(here, e.manifest_path, 'manifest')}</td>"
            "</tr>"
        )
    trees = []
    for t in sorted(site.ostree, key=lambda t: (t.artifact, t.arch)):
        summary = f"{t.repo_path}/summary.sig" if t.summary_signed else f"{t.repo_path}/summary"
        trees.append(
            "<tr>"
            f"<td>{html.escape(t.artifact)}</td><td>{html.escape(t.arch)}</td><td><code>{html.escape(t.ref)}</code></td>"
            f"<td><code>{t.commit}</code></td><td>{html.escape(t.version or '')}</td>"
            f"<td>{_link(here, t.repo_path + '/', 'repository')}</td>"
            f"<td>{_link(here, summary, 'signed summary' if t.summary_signed else 'summary')}</td>"
            "</tr>"
        )
    empty = "<tr><td colspan='7'>nothing released yet</td></tr>"
    return "\n".join(
        [
            "<!DOCTYPE html>",
            f'<html lang="en"><head><meta charset="utf-8"><title>{name} downloads</title></head><body>',
            f"<h1>{name}</h1>",
            f"<p>{_link(here, f'{here}/{IMAGES_JSON}', IMAGES_JSON)} (productmd) · "
            f"compose date {compose_date(site)}</p>",
            "<h2>Images</h2>",
            "<table><tr><th>artifact</th><th>arch</th><th>image</th><th>bytes</th><th>SHA256</th>"
            "<th>signature</th><th>manifest</th></tr>",
            *(rows or [empty]),
            "</table>",
            "<h2>OSTree</h2>",
            "<table><tr><th>artifact</th><th>arch</th><th>ref</th><th>commit</th><th>version</th>"
            "<th>repository</th><th>summary</th></tr>",
            *(trees or [empty]),
            "</table>",
            "</body></html>",
            "",
        ]
    )


def index_page(releases: Sequence[tuple[str, str]]) -> str:
    """The top page: a link to each release's page (``(version, name)`` pairs)."""
    items = [f'<li><a href="{html.escape(version)}/{PAGE}">{html.escape(name)}</a></li>' for version, name in releases]
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8"><title>Fedora downloads</title></head><body>',
            "<h1>Fedora downloads</h1>",
            "<ul>",
            *items,
            "</ul>",
            "</body></html>",
            "",
        ]
    )


# --- writing ---------------------------------------------------------------------------------------------


def _write_if_changed(path: Path, data: bytes) -> bool:
    if path.is_file() and path.read_bytes() == data:
        return False
    write_atomic(path, data)
    return True


def write_site(config: ReleaseConfig, site: ReleaseSite) -> list[str]:
    """Write the release's images.json and page, and the top page, into the staging website path; the files
    written (relative to the staging top).

    Idempotent: a file whose content is unchanged is not rewritten (nothing is returned for it). Each file is
    replaced whole (atomically).
    """
    website = config.mirror.website.strip("/")
    top = Path(config.mirror.staging)
    folder = top / website / site.release.version
    documents = {
        folder / IMAGES_JSON: (json.dumps(images_json(site), indent=2, sort_keys=True) + "\n").encode(),
        folder / PAGE: release_page(site, website).encode(),
    }
    written = [str(p.relative_to(top)) for p, data in documents.items() if _write_if_changed(p, data)]
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
