"""The product's pxe2live: the PXE tarball derived from the live ISO Koji built (relengotron.tools.livepxe, through
Pxe2Live.published_file), on small live ISOs written here with stock xorriso in lorax's layout."""

from __future__ import annotations

import gzip
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest

from relengotron.artifacts import ArtifactError, for_target, load_release_config
from relengotron.planning import Target
from relengotron.tools.livepxe import MEMBERS, pxe_config, pxe_tarball_from_live_iso

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def sh(*args: str | Path) -> str:
    proc = subprocess.run([str(a) for a in args], capture_output=True, check=False)
    assert proc.returncode == 0, f"{args[0]} exited {proc.returncode}: {proc.stderr.decode(errors='replace')}"
    return proc.stdout.decode(errors="replace")


def live_iso(top: Path, name: str, *, without: str | None = None) -> Path:
    """A live ISO as lorax lays it out (LiveOS/squashfs.img of a tiny root, images/pxeboot/vmlinuz and initrd.img),
    ``without`` one of those paths."""
    root = top / f"{name}-root"
    (root / "usr" / "bin").mkdir(parents=True)
    (root / "usr" / "bin" / "sh").write_text("#!/bin/sh\n")
    (root / "etc").mkdir()
    (root / "etc" / "os-release").write_text("NAME=Fedora\nVERSION_ID=24\n")
    tree = top / f"{name}-tree"
    files = {
        "LiveOS/squashfs.img": None,
        "images/pxeboot/vmlinuz": b"kernel " * 100,
        "images/pxeboot/initrd.img": b"initrd " * 100,
    }
    for rel, data in files.items():
        if rel == without:
            continue
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        if data is None:
            sh("mksquashfs", root, tree / rel, "-noappend", "-quiet", "-no-progress")
        else:
            (tree / rel).write_bytes(data)
    iso = top / f"{name}.iso"
    sh("xorriso", "-as", "mkisofs", "-volid", "Fedora-AH-pxe2live-24-1", "-J", "-rational-rock", "-o", iso, tree)
    return iso


def pxe2live() -> Any:
    config = load_release_config(REPO / "config" / "fedora.yaml")
    artifact = next(a for a in config.artifacts_of("f24") if a.kind == "pxe2live")
    return for_target(Target(artifact, config.release("f24"), "x86_64"))


def test_the_tarball_holds_lorax_pxe_live_results_and_is_byte_identical_when_made_again(tmp_path: Path) -> None:
    iso = live_iso(tmp_path, "live")
    first = pxe_tarball_from_live_iso(iso, tmp_path / "one" / "pxe.tar.gz", item="pxe2live")
    second = pxe_tarball_from_live_iso(iso, tmp_path / "two" / "pxe.tar.gz", item="pxe2live")
    assert first.read_bytes() == second.read_bytes()  # the same ISO: the same bytes
    assert sorted(p.name for p in first.parent.iterdir()) == ["pxe.tar.gz"]  # no staging directory left
    assert "gzip compressed data" in sh("file", first)
    with gzip.open(first) as stream:  # gzip -n: no name, no timestamp in the header
        stream.read(1)
    header = first.read_bytes()[:10]
    assert header[3] & 0x08 == 0 and header[4:8] == b"\0\0\0\0"

    with tarfile.open(first) as tar:
        members = tar.getmembers()
        assert [m.name for m in members] == list(MEMBERS)  # sorted, nothing else
        assert {(m.uid, m.gid, m.mode, m.isfile()) for m in members} == {(0, 0, 0o644, True)}
        assert len({m.mtime for m in members}) == 1
        read = {m.name: tar.extractfile(m).read() for m in members}  # type: ignore[union-attr]
    assert read["vmlinuz"] == b"kernel " * 100 and read["initrd.img"] == b"initrd " * 100
    assert read["PXE_CONFIG"].decode() == pxe_config()
    squashfs = tmp_path / "live-rootfs.squashfs.img"
    squashfs.write_bytes(read["live-rootfs.squashfs.img"])
    listing = sh("unsquashfs", "-l", squashfs).split()
    assert {"squashfs-root/usr/bin/sh", "squashfs-root/etc/os-release"} <= set(listing)

    # through the artifact kind's hook: the same file, under the published name
    kind = pxe2live()
    work = tmp_path / "work"
    work.mkdir()
    published = kind.published_file(iso, work)
    assert published.name == kind.image_name == "Fedora-Atomic-pxe2live-x86_64-24.tar.gz"
    assert published.read_bytes() == first.read_bytes()


@pytest.mark.parametrize("missing", ["LiveOS/squashfs.img", "images/pxeboot/initrd.img"])
def test_an_iso_lacking_a_file_is_an_artifact_error_naming_it_and_writes_nothing(tmp_path: Path, missing: str) -> None:
    iso = live_iso(tmp_path, "bad", without=missing)
    kind = pxe2live()
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(ArtifactError, match=rf"/{missing}") as err:
        kind.published_file(iso, work)
    assert err.value.label == kind.label and str(err.value).startswith(f"{kind.label}: ")
    assert list(work.iterdir()) == []
    for content in (b"not an ISO at all" * 100, b"\0" * 4096, b""):  # xorriso: a new image, blank media
        not_iso = tmp_path / "not.iso"
        not_iso.write_bytes(content)
        with pytest.raises(ArtifactError, match=r"not\.iso is not an ISO 9660 image"):
            kind.published_file(not_iso, work)
    assert list(work.iterdir()) == []
