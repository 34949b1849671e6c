"""The download website's data: productmd images.json (validated by productmd itself), the release's page with
checksums and signature links, the top page; read from the public staging tree only (a candidate is never
listed); written idempotently."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from relengotron.config import ReleaseConfig
from relengotron.manifest import Manifest
from relengotron.signing.base import sha256_file
from relengotron.signing.checksum import ChecksumEntry, render_checksums
from relengotron.website import (
    OSTreeEntry,
    WebsiteError,
    gather,
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


@pytest.fixture
def config(tmp_path: Path, world: World) -> ReleaseConfig:
    return render_release_config(world, "0123abcd", tmp_path)


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
    page = (top / "website/24/index.html").read_text()
    for rel in IMAGES:
        name = Path(rel).name
        assert f'href="../../{rel}"' in page and f'href="../../{rel}-CHECKSUM"' in page and name in page
        assert sha256_file(top / rel) in page
    assert "Fedora-Cloud-Base-24.x86_64.raw.xz" not in page and "clear-signed" in page
    assert 'href="24/index.html"' in (top / "website/index.html").read_text()

    stamps = {p: p.stat().st_mtime_ns for p in (top / "website").rglob("*") if p.is_file()}
    assert write_site(config, gather(config, "f24")) == []  # the same tree: nothing rewritten
    assert {p: p.stat().st_mtime_ns for p in (top / "website").rglob("*") if p.is_file()} == stamps


def test_the_page_lists_ostree_refs_with_their_signed_summary(config: ReleaseConfig) -> None:
    site = gather(config, "f24")
    entry = OSTreeEntry(
        "atomic-host", "x86_64", "fedora/24/x86_64/atomic-host", "c" * 64, "24.1", 0, "linux/atomic/repo", True
    )
    page = release_page(dataclasses.replace(site, ostree=(entry,)), "website")
    assert "fedora/24/x86_64/atomic-host" in page and "c" * 64 in page and "24.1" in page
    assert 'href="../../linux/atomic/repo/summary.sig"' in page and "nothing released yet" in page  # no image yet
    assert images_json(site)["payload"]["images"] == {}


def test_a_released_image_its_checksum_does_not_list_is_an_error(config: ReleaseConfig) -> None:
    rel = next(iter(IMAGES))
    put_image(config.mirror.staging, rel, b"ISO")
    checksum = config.mirror.staging / f"{rel}-CHECKSUM"
    checksum.write_text(render_checksums([ChecksumEntry("other.iso", "SHA256", "0" * 64, 1)]))
    with pytest.raises(WebsiteError, match=r"does not list Fedora-Server-dvd-x86_64-24\.iso"):
        gather(config, "f24")
