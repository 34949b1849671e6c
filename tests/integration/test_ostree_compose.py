"""The local OSTree compose of the sandbox world's f24 Atomic Host from a treefile, opened with stock tools: ostree
fsck, the rpmdb in usr/share/rpm listing exactly the manifest (rpm --dbpath on a checkout), rpm-ostree's package
list metadata (on the composed commit and on the shared one the merge writes), rpm-ostree's layout."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from test_ostree_support import REF, checkout_packages, make_signer, ostree, signed_repo

from relengotron.manifest import Manifest
from relengotron.ostree.compose import ComposeRequest, LocalBackend
from relengotron.ostree.merge import MERGED, merge_if_changed
from relengotron.ostree.metadata import KEY_PKGLIST
from relengotron.ostree.repo import OSTreeRepo
from relengotron.ostree.treefile import load_base, pinned_packages

pytestmark = pytest.mark.integration

NOW = datetime(2016, 6, 14, 12, 0, tzinfo=UTC)
TREEFILE = Path(__file__).resolve().parents[2] / "sandbox/relengotron_sandbox/worlds/atomic-host.yaml"


def _atomic_f24(world) -> Manifest:
    """The f24 Atomic Host's manifest: each of the artifact's packages at its build tagged f24."""
    [atomic] = [a for a in world.artifacts if a.name == "atomic-host" and a.release == "f24"]
    tagged = {b.package: b.nvr for b in world.builds() if "f24" in b.tags}
    return Manifest.of(tagged[name] for name in atomic.packages)


def test_the_atomic_host_commit_holds_exactly_its_manifest(tmp_path: Path, world, built_world) -> None:
    manifest = _atomic_f24(world)
    assert len(manifest.nvrs) == 23
    base, names = load_base(TREEFILE)
    binaries = {nvr.rsplit("-", 2)[0]: nvr for nvr in manifest.nvrs}  # each world build ships one, named as it
    packages = pinned_packages(names, binaries, source="atomic-host.yaml")
    assert len(packages) == 21  # the other two (python3, openssl-libs) come in as dependencies, as rpm-ostree's do
    request = ComposeRequest(
        ref=REF,
        manifest=manifest,
        packages=packages,
        repos=(signed_repo(built_world, tmp_path / "yum"),),
        releasever="24",
        treefile_base=base,
    )
    composed = LocalBackend(tmp_path / "work").compose(request)
    scratch = OSTreeRepo(composed.repo)
    ostree(f"--repo={scratch.path}", "fsck")
    assert scratch.rev_parse(REF) == composed.commit

    expected = sorted(manifest.nvrs)  # the world's build names are its package names
    assert checkout_packages(scratch, composed.commit, tmp_path / "checkout") == expected
    tree = tmp_path / "checkout"
    assert (tree / "usr/share/rpm/rpmdb.sqlite").is_file()
    assert not (tree / "var/lib/rpm").exists() and sorted(p.name for p in (tree / "var").iterdir()) == []
    assert (tree / "usr/etc").is_dir() and not (tree / "etc").exists()
    assert {p.name: str(p.readlink()) for p in tree.iterdir() if p.is_symlink()} == {
        "opt": "var/opt",
        "srv": "var/srv",
        "mnt": "var/mnt",
        "root": "var/roothome",
        "home": "var/home",
        "media": "run/media",
        "ostree": "sysroot/ostree",
        "tmp": "sysroot/tmp",
    }
    assert (tree / "usr/local").readlink() == Path("../var/usrlocal")
    assert (tree / "bin/sh").is_file() and (tree / "usr/share/rpm-ostree/treefile.json").is_file()
    autovar = (tree / "usr/lib/tmpfiles.d/rpm-ostree-autovar.conf").read_text()
    assert "d /var/lib 0755 0 0 - -" in autovar

    pkglist = scratch.show(composed.commit).metadata[KEY_PKGLIST]
    assert [f"{name}-{version}-{release}" for name, _epoch, version, release, _arch in pkglist] == expected
    assert all(epoch == "0" for _, epoch, *_ in pkglist)

    shared = OSTreeRepo(tmp_path / "shared")
    merged = merge_if_changed(shared, composed, version_prefix="24", signer=make_signer(tmp_path / "gnupg"), now=NOW)
    assert merged.status == MERGED
    ostree(f"--repo={shared.path}", "fsck")
    head = shared.show(REF)
    assert head.metadata[KEY_PKGLIST] == pkglist  # carried onto the released commit
    assert head.metadata["relengotron.manifest"] == list(manifest.nvrs)
    assert checkout_packages(shared, REF, tmp_path / "shared-checkout") == expected
