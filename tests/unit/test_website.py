"""The download website: productmd images.json (validated by productmd itself); the release's page as a user
reads it — the images by edition and arch with human sizes and UTC times, the commands that download and verify
each (gpgv with the release's keyring, sha256sum -c), the OSTree remote to add — and the top page; read from the
public staging tree only (a candidate is never listed); written idempotently, the key files beside the page."""

from __future__ import annotations

import dataclasses
import json
from html.parser import HTMLParser
from pathlib import Path

import pytest

from relengotron.config import ReleaseConfig
from relengotron.manifest import Manifest
from relengotron.signing.base import sha256_file
from relengotron.signing.checksum import ChecksumEntry, render_checksums
from relengotron.website import (
    OSTreeEntry,
    SigningKey,
    WebsiteError,
    gather,
    human_size,
    images_json,
    iter_image_paths,
    read_images_json,
    release_page,
    write_site,
)
from relengotron_sandbox.releng import render_release_config
from relengotron_sandbox.world import World

MANIFEST = Manifest.of(["bash-4.3.42-5.fc24", "glibc-2.23.1-8.fc24"])
IMAGES = {
    "linux/releases/24/installer-iso/x86_64/Fedora-Server-dvd-x86_64-24.iso": b"ISO" * 10,
    "linux/releases/24/gce/x86_64/Fedora-Cloud-Base-GCE-24.x86_64.tar.gz": b"GCE" * 10,
    "linux/releases/24/pxe2live/x86_64/Fedora-Atomic-pxe2live-x86_64-24.tar.gz": b"PXE" * 10,
}
CANDIDATE = ".relengotron/candidates/linux/releases/24/ami/x86_64/Fedora-Cloud-Base-24.x86_64.raw.xz"


KEY = SigningKey("0123456789ABCDEF0123456789ABCDEF0123ABCD", "Fedora 24 <f24@example.test>", "ARMORED\n", b"\x99KEY")


@pytest.fixture
def config(tmp_path: Path, world: World) -> ReleaseConfig:
    return render_release_config(world, "0123abcd", tmp_path)


class Reading(HTMLParser):
    """What a user reads on a page: its text (one string, whitespace as written) and its links (href → text);
    headings apart."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.links: dict[str, str] = {}
        self.headings: list[str] = []
        self._href: str | None = None
        self._heading: list[str] | None = None
        self._skip = False
        self.feed(page)
        self.text = "".join(self.parts)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._href = dict(attrs).get("href")
            self.links.setdefault(self._href or "", "")
        elif tag in ("h1", "h2", "h3"):
            self._heading = []
        elif tag == "style":
            self._skip = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._href = None
        elif tag in ("h1", "h2", "h3") and self._heading is not None:
            self.headings.append("".join(self._heading))
            self._heading = None
        elif tag == "style":
            self._skip = False
        self.parts.append("\n" if tag in ("p", "li", "tr", "h1", "h2", "h3", "pre", "article") else "")

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        self.parts.append(data)
        if self._href is not None:
            self.links[self._href] += data
        if self._heading is not None:
            self._heading.append(data)


def put_image(top: Path, rel: str, data: bytes, *, signed: bool = True) -> None:
    image = top / rel
    image.parent.mkdir(parents=True, exist_ok=True)
    image.write_bytes(data)
    image.with_name(image.name + ".manifest.json").write_text(MANIFEST.to_json())
    text = render_checksums([ChecksumEntry(image.name, "SHA256", sha256_file(image), len(data))])
    if signed:
        head = "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n"
        text = f"{head}{text}-----BEGIN PGP SIGNATURE-----\n-----END PGP SIGNATURE-----\n"
    image.with_name(image.name + "-CHECKSUM").write_text(text)


def test_images_json_and_page_list_what_is_released(config: ReleaseConfig) -> None:
    top = config.mirror.staging
    for rel, data in IMAGES.items():
        put_image(top, rel, data)
    put_image(top, CANDIDATE, b"AMI" * 10)  # a candidate: never listed
    site = gather(config, "f24")
    assert sorted(e.path for e in site.images) == sorted(IMAGES) and site.ostree == ()

    written = write_site(config, site)
    assert written == ["website/24/images.json", "website/24/index.html", "website/index.html"]
    images = read_images_json(top / "website/24/images.json")  # productmd loads (and so validates) it
    assert sorted(iter_image_paths(images)) == sorted(IMAGES)
    data = json.loads((top / "website/24/images.json").read_text())
    iso = data["payload"]["images"]["installer-iso"]["x86_64"][0]
    assert (iso["type"], iso["format"], iso["bootable"]) == ("dvd", "iso", True)
    assert iso["checksums"] == {"sha256": sha256_file(top / next(iter(IMAGES)))}
    page = Reading((top / "website/24/index.html").read_text())
    # grouped by edition as Fedora's file names say it (Fedora-<edition>-…), each image under its edition
    assert {"Fedora 24 downloads", "Server", "Cloud", "Atomic", "Verify your download", "OSTree"} <= set(page.headings)
    for rel in IMAGES:
        name = Path(rel).name
        assert page.links[f"../../{rel}"] == name and page.links[f"../../{rel}-CHECKSUM"] == "CHECKSUM"
        assert sha256_file(top / rel) in page.text
        # no key given: the CHECKSUM is checked with sha256sum alone, the commands name $MIRROR (no url configured)
        assert f"curl -O $MIRROR/{rel}\n" in page.text and f"curl -O $MIRROR/{rel}-CHECKSUM\n" in page.text
        assert f"sha256sum --ignore-missing -c {name}-CHECKSUM" in page.text and "gpgv" not in page.text
    assert "x86_64 · Installer DVD · 30 B · released " in page.text and " UTC" in page.text
    assert "Fedora-Cloud-Base-24.x86_64.raw.xz" not in page.text + "".join(page.links)
    assert "No OSTree ref is released for this release yet." in page.text
    assert Reading((top / "website/index.html").read_text()).links == {"24/index.html": "Fedora 24"}

    stamps = {p: p.stat().st_mtime_ns for p in (top / "website").rglob("*") if p.is_file()}
    assert write_site(config, gather(config, "f24")) == []  # the same tree: nothing rewritten
    assert {p: p.stat().st_mtime_ns for p in (top / "website").rglob("*") if p.is_file()} == stamps


def test_a_signed_release_says_how_to_verify_with_its_key_and_how_to_add_its_ostree_remote(
    config: ReleaseConfig,
) -> None:
    top = config.mirror.staging
    rel = next(iter(IMAGES))
    put_image(top, rel, IMAGES[rel])
    put_image(top, "linux/releases/24/gce/x86_64/Fedora-Cloud-Base-GCE-24.x86_64.tar.gz", b"GCE", signed=False)
    mirror = dataclasses.replace(config.mirror, url="https://dl.example.test/pub/fedora/")
    config = dataclasses.replace(config, mirror=mirror)
    tree = OSTreeEntry(
        "atomic-host", "x86_64", "fedora/24/x86_64/atomic-host", "c" * 64, "24.1", 1466000000, "linux/atomic/repo", True
    )
    site = dataclasses.replace(gather(config, "f24"), ostree=(tree,), key=KEY)
    page = Reading(release_page(site, config.mirror))
    base = "https://dl.example.test/pub/fedora"
    assert (
        f"curl -O {base}/{rel}\ncurl -O {base}/{rel}-CHECKSUM\ncurl -O {base}/website/24/fedora.gpg\n"
        "gpgv --keyring ./fedora.gpg Fedora-Server-dvd-x86_64-24.iso-CHECKSUM\n"
        "sha256sum --ignore-missing -c Fedora-Server-dvd-x86_64-24.iso-CHECKSUM\n"
    ) in page.text
    # an image whose CHECKSUM is not signed: no gpgv line, and the page says so
    assert "gpgv --keyring ./fedora.gpg Fedora-Cloud-Base-GCE-24.x86_64.tar.gz-CHECKSUM" not in page.text
    assert "CHECKSUM not signed" in page.text and "signed CHECKSUM" in page.text
    # the key: its id and fingerprint as gpg prints them, both files linked
    assert "Key 0123abcd, fingerprint 0123 4567 89AB CDEF 0123  4567 89AB CDEF 0123 ABCD" in page.text
    assert page.links["fedora.gpg"] == "fedora.gpg"
    assert page.links["RPM-GPG-KEY-fedora-24-primary"] == "RPM-GPG-KEY-fedora-24-primary"
    # the OSTree remote: GPG-verified with the armored key, the repository's URL, the ref
    assert (
        f"curl -O {base}/website/24/RPM-GPG-KEY-fedora-24-primary\n"
        "ostree remote add --set=gpg-verify=true --gpg-import=RPM-GPG-KEY-fedora-24-primary fedora-atomic "
        f"{base}/linux/atomic/repo/\nostree pull fedora-atomic:fedora/24/x86_64/atomic-host\n"
    ) in page.text
    assert "c" * 64 in page.text and "24.1" in page.text and "2016-06-15 14:13 UTC" in page.text
    assert page.links["../../linux/atomic/repo/summary.sig"] == "signed summary"

    written = write_site(config, site)  # the key files beside the page
    assert {"website/24/fedora.gpg", "website/24/RPM-GPG-KEY-fedora-24-primary"} <= set(written)
    assert (top / "website/24/fedora.gpg").read_bytes() == KEY.binary
    assert (top / "website/24/RPM-GPG-KEY-fedora-24-primary").read_text() == KEY.armored


def test_a_release_with_nothing_released_says_so(config: ReleaseConfig) -> None:
    site = gather(config, "f24")
    page = Reading(release_page(site, config.mirror))
    assert "No image is released for this release yet." in page.text and "not signed" in page.text
    assert images_json(site)["payload"]["images"] == {}


@pytest.mark.parametrize(
    ("size", "shown"), [(0, "0 B"), (1023, "1023 B"), (1536, "1.5 KiB"), (2_040_109_056, "1.9 GiB")]
)
def test_sizes_read_as_ls_h_prints_them(size: int, shown: str) -> None:
    assert human_size(size) == shown


def test_a_released_image_its_checksum_does_not_list_is_an_error(config: ReleaseConfig) -> None:
    rel = next(iter(IMAGES))
    put_image(config.mirror.staging, rel, b"ISO")
    checksum = config.mirror.staging / f"{rel}-CHECKSUM"
    checksum.write_text(render_checksums([ChecksumEntry("other.iso", "SHA256", "0" * 64, 1)]))
    with pytest.raises(WebsiteError, match=r"does not list Fedora-Server-dvd-x86_64-24\.iso"):
        gather(config, "f24")
