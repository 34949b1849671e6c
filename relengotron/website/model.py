"""What the download website says about a release, as data (read from the staging tree by
:mod:`relengotron.website.tree`), and the pure documents made of it that are not HTML: productmd's
``images.json``, the compose date, human sizes, the edition an image belongs to.

Everything here is pure (data in, data out) and deterministic: no clock, no filesystem.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import productmd.images

from relengotron.config import Release

IMAGES_JSON = "images.json"
PAGE = "index.html"
# The key files the website publishes beside a release's page. Fedora's verify page
# (https://fedoraproject.org/security) has users fetch ``fedora.gpg`` (a binary keyring, which ``gpgv --keyring``
# reads; Debian 12's gpgv 2.2 refuses an armored one) and check the CHECKSUM with ``gpgv --keyring ./fedora.gpg``;
# the armored key is named as Fedora's fedora-gpg-keys package installs it (/etc/pki/rpm-gpg/
# RPM-GPG-KEY-fedora-24-primary), the file ``ostree remote add --gpg-import`` and ``rpm --import`` take.
KEYRING = "fedora.gpg"


def armored_key_name(release: Release) -> str:
    """``RPM-GPG-KEY-fedora-24-primary``: the release's armored public key as fedora-gpg-keys names it."""
    return f"RPM-GPG-KEY-fedora-{release.version}-primary"


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

    @property
    def name(self) -> str:
        return self.path.rpartition("/")[2]

    @property
    def checksum_name(self) -> str:
        return self.checksum_path.rpartition("/")[2]

    @property
    def edition(self) -> str:
        """The edition a user picks the image by: the variant Fedora's image file names carry after ``Fedora-``
        (Fedora-Server-dvd-x86_64-24.iso, Fedora-Cloud-Base-24.x86_64.raw.xz, Fedora-Atomic-pxe2live-…: Server,
        Cloud, Atomic); the artifact's name for a file not named that way."""
        parts = self.name.split("-")
        if len(parts) > 2 and parts[0] == "Fedora" and parts[1].isalpha():
            return parts[1]
        return self.artifact


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
class SigningKey:
    """The release's public signing key as the website shows it: its fingerprint and user id, published beside
    the page as :data:`KEYRING` (binary) and :func:`armored_key_name` (armored)."""

    fingerprint: str  # 40 hex digits
    uid: str
    armored: str
    binary: bytes

    @property
    def key_id(self) -> str:
        return self.fingerprint[-8:].lower()


@dataclass(frozen=True)
class ReleaseSite:
    release: Release
    images: tuple[ImageEntry, ...]
    ostree: tuple[OSTreeEntry, ...]
    key: SigningKey | None = None  # None: the release is not signed by us

    @property
    def newest(self) -> int:
        """Epoch seconds of the newest released artifact (0 when there is none)."""
        return max([i.mtime for i in self.images] + [o.timestamp for o in self.ostree] + [0])


def compose_date(site: ReleaseSite) -> str:
    """YYYYMMDD of the newest released artifact (19700101 when nothing is released)."""
    return datetime.fromtimestamp(site.newest, UTC).strftime("%Y%m%d")


def utc(epoch: int, *, time: bool = True) -> str:
    """``2016-06-14 09:30 UTC`` (or the date alone) of epoch seconds."""
    when = datetime.fromtimestamp(epoch, UTC)
    return when.strftime("%Y-%m-%d %H:%M UTC" if time else "%Y-%m-%d")


def human_size(size: int) -> str:
    """Bytes as a person reads them, in binary units as GNU ``ls -lh`` counts (``1.9 GiB``, ``512 B``)."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


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
