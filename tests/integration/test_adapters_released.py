"""Last released manifests read back from what was published: the head commit of a real ostree ref, and the
manifest JSON beside each image on a mirror tree — written when the image is released, carried by the sync."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_adapters_support import sandbox_config

from relengotron.adapters.released import (
    image_manifest_path,
    image_path,
    ostree_released,
    read_image_manifest,
    released_manifests,
    write_image_manifest,
)
from relengotron.manifest import ManifestError
from relengotron.ostree.repo import OSTreeRepo
from relengotron.planning import Decision, Manifest, Reason, Update, plan
from relengotron.sync import MirrorFS, MirrorSync
from relengotron.sync.mirror import Mirror
from relengotron_sandbox.world import World

pytestmark = pytest.mark.integration

OLD = Manifest.of(["bash-4.3.42-5.fc24", "glibc-2.23.1-7.fc24", "kernel-4.5.7-300.fc24"])
PACKAGES = ("bash", "glibc", "kernel")


def test_released_manifests_feed_the_plan(tmp_path: Path, world: World, built_world) -> None:
    config = sandbox_config(tmp_path / "cfg", world, built_world)
    f24 = config.releases["f24"]
    artifacts = [a for a in config.artifacts_of("f24") if a.name in ("atomic-host", "installer-iso", "pxe2live")]
    atomic, iso, pxe = artifacts
    assert (atomic.kind, iso.kind, pxe.kind) == ("ostree", "installer-iso", "pxe2live")

    repo = OSTreeRepo(config.ostree.repo).init("archive")
    tree = tmp_path / "tree"
    (tree / "usr").mkdir(parents=True)
    (tree / "usr" / "os-release").write_text("Fedora 24\n")
    ref = atomic.ostree_ref(f24, "x86_64")
    repo.commit(trees=[f"dir={tree}"], subject="24.1", branch=ref, metadata={"version": "24.1", **OLD.metadata()})
    assert ostree_released(repo, ref) == OLD
    assert ostree_released(repo, "fedora/24/x86_64/testing/atomic-host") is None

    staging, master = config.mirror.staging, Path(config.mirror.master)
    (staging / Path(image_path(config.mirror, iso, f24, "x86_64")).parent).mkdir(parents=True)
    (staging / image_path(config.mirror, iso, f24, "x86_64")).write_bytes(b"ISO" * 100)
    written = write_image_manifest(staging, config.mirror, iso, f24, "x86_64", OLD)
    assert written == staging / "linux/releases/24/installer-iso/x86_64/Fedora-Server-dvd-x86_64-24.iso.manifest.json"
    stamp = written.stat().st_mtime_ns
    assert write_image_manifest(staging, config.mirror, iso, f24, "x86_64", OLD) == written
    assert written.stat().st_mtime_ns == stamp  # the same manifest again: untouched
    MirrorSync(staging, Mirror.from_location(str(master)), website=None).sync()

    mirror = MirrorFS(str(master))
    released = released_manifests(f24, artifacts, config.mirror, repo=repo, mirror=mirror)
    assert released == {
        "atomic-host-24-x86_64": OLD,
        "installer-iso-24-x86_64": OLD,
        "pxe2live-24-x86_64": None,  # never released
    }
    packages = {a.name: PACKAGES for a in artifacts}
    base = {"bash": "bash-4.3.42-5.fc24", "glibc": "glibc-2.23.1-7.fc24", "kernel": "kernel-4.5.7-300.fc24"}
    decided = plan([Update("FEDORA-2016-1", ("glibc-2.23.1-8.fc24",))], f24, artifacts, packages, released, base)
    reasons = {t.target.id: (t.decision, t.reason) for t in decided.targets}
    assert reasons["atomic-host-24-x86_64"] == (Decision.RECOMPOSE, Reason.CHANGED)
    assert reasons["pxe2live-24-x86_64"] == (Decision.RECOMPOSE, Reason.NEVER_RELEASED)
    nothing = plan([], f24, artifacts, packages, released, base)
    assert {t.target.id for t in nothing.skipped} == {"atomic-host-24-x86_64", "installer-iso-24-x86_64"}


def test_a_corrupt_manifest_names_where_it_was_read(tmp_path: Path, world: World, built_world) -> None:
    config = sandbox_config(tmp_path / "cfg", world, built_world)
    f24 = config.releases["f24"]
    iso = next(a for a in config.artifacts_of("f24") if a.name == "installer-iso")
    rel = image_manifest_path(config.mirror, iso, f24, "x86_64")
    target = Path(config.mirror.master) / rel
    target.parent.mkdir(parents=True)
    target.write_text(OLD.to_json().replace("bash-4.3.42-5", "bash-4.3.42-6"))  # the hash no longer matches
    with pytest.raises(ManifestError, match=re.escape("Fedora-Server-dvd-x86_64-24.iso.manifest.json")):
        read_image_manifest(MirrorFS(config.mirror.master), rel)
