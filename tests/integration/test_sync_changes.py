"""A sync driven by a push's changeset, with real rsync between local directories: only the changed paths are
examined and transferred, the removed ones are deleted after the indexes, the downstream file lists
(fullfiletimelist/imagelist) describe exactly the mirror and are published last, a second sync transfers
nothing, and a path staging lacks is refused before anything is copied."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from relengotron.signing.checksum import ChecksumEntry, render_checksums
from relengotron.sync import Changeset, Mirror, MirrorSync, SyncError
from relengotron.sync.filelist import parse

pytestmark = pytest.mark.integration

IMAGES = "releases/24/Cloud/x86_64/images"
IMAGE = f"{IMAGES}/Fedora-Cloud-Base-24.x86_64.qcow2"
CHECKSUM = f"{IMAGES}/Fedora-Cloud-Base-24-x86_64-CHECKSUM"
PACKAGES = "updates/24/x86_64/Packages"
MANY = 400


def write_image(staging: Path, content: bytes) -> None:
    (staging / IMAGE).write_bytes(content)
    entry = ChecksumEntry(Path(IMAGE).name, "SHA256", hashlib.sha256(content).hexdigest(), len(content))
    (staging / CHECKSUM).write_text(render_checksums([entry]))


@pytest.fixture
def trees(tmp_path: Path) -> tuple[Path, Path]:
    """A staging tree of ~400 files synced whole (roots mode) once, with its file lists."""
    staging, mirror = tmp_path / "staging", tmp_path / "mirror"
    (staging / PACKAGES).mkdir(parents=True)
    for i in range(MANY):
        (staging / PACKAGES / f"pkg{i}-1-1.fc24.noarch.rpm").write_bytes(b"rpm %d" % i)
    (staging / IMAGES).mkdir(parents=True)
    write_image(staging, b"image v1" * 100)
    first = MirrorSync(staging, Mirror(str(mirror)), website=None, module="fedora").sync()
    assert first.filelists == ("fullfiletimelist-fedora", "imagelist-fedora")
    return staging, mirror


def mirror_files(mirror: Path) -> dict[str, tuple[int, str, int]]:
    """What create-filelist would list, read with os.lstat (not the code under test)."""
    out: dict[str, tuple[int, str, int]] = {}
    for path in mirror.rglob("*"):
        rel = path.relative_to(mirror).as_posix()
        if rel in ("fullfiletimelist-fedora", "imagelist-fedora"):
            continue
        st = path.lstat()
        kind = "l" if path.is_symlink() else "d" if path.is_dir() else "f"
        out[rel] = (int(max(st.st_mtime, st.st_ctime)), kind, st.st_size)
    return out


def listed(mirror: Path) -> dict[str, tuple[int, str, int]]:
    files = parse((mirror / "fullfiletimelist-fedora").read_text())
    return {p: (e.mtime, e.ftype, e.size) for p, e in files.entries.items()}


def test_a_three_file_change_examines_and_transfers_only_those(trees: tuple[Path, Path]) -> None:
    staging, mirror = trees
    assert listed(mirror) == mirror_files(mirror)  # the first list, built once from a walk

    write_image(staging, b"image v2" * 120)
    new = f"{PACKAGES}/new-2-1.fc24.noarch.rpm"
    (staging / new).write_bytes(b"new rpm")
    gone = f"{PACKAGES}/pkg7-1-1.fc24.noarch.rpm"
    (staging / gone).unlink()
    changes = Changeset.of([IMAGE, CHECKSUM, new], [gone])

    seen: list[tuple[str, bool, bool]] = []

    def observe(name: str, process: subprocess.Popen[bytes]) -> None:
        del process
        seen.append((name, (mirror / gone).exists(), (mirror / new).exists()))

    sync = MirrorSync(staging, Mirror(str(mirror)), changes=changes, website=None, module="fedora", observer=observe)
    result = sync.sync()

    assert set(result.transferred_paths) == {IMAGE, CHECKSUM, new, "fullfiletimelist-fedora"}
    assert result.examined < 20, result.examined  # not the ~400 files of the tree
    assert [c.path for c in result.changes["delete"]] == [gone]
    # the order of the passes: content, then the CHECKSUM (an index), deletion, the file lists last
    assert [name for name, _, _ in seen] == ["content", "index", "filelists"]
    assert seen[0] == ("content", True, False) and seen[1] == ("index", True, True)
    assert seen[2] == ("filelists", False, True)  # the lists go out once the deletion is done
    assert not (mirror / gone).exists() and (mirror / new).read_bytes() == b"new rpm"
    # the lists name exactly what the mirror holds, with create-filelist's times and sizes
    assert listed(mirror) == mirror_files(mirror)
    assert (mirror / "imagelist-fedora").read_text() == f"./{IMAGE}\n"
    lists_ctime = (mirror / "fullfiletimelist-fedora").stat().st_ctime
    assert lists_ctime >= max((mirror / p).stat().st_ctime for p in (IMAGE, CHECKSUM, new))

    again = MirrorSync(staging, Mirror(str(mirror)), changes=changes, website=None, module="fedora").sync()
    assert again.transferred == 0 and again.deleted == 0 and again.filelists == ()
    assert listed(mirror) == mirror_files(mirror)


def test_a_path_staging_lacks_is_refused_naming_it_and_the_mirror_is_untouched(trees: tuple[Path, Path]) -> None:
    staging, mirror = trees
    before = {p: p.stat().st_mtime_ns for p in mirror.rglob("*")}
    (staging / f"{PACKAGES}/real-1-1.fc24.noarch.rpm").write_bytes(b"real")
    changes = Changeset.of([f"{PACKAGES}/real-1-1.fc24.noarch.rpm", f"{PACKAGES}/ghost-1-1.fc24.noarch.rpm"])
    with pytest.raises(SyncError, match=r"ghost-1-1\.fc24\.noarch\.rpm") as raised:
        MirrorSync(staging, Mirror(str(mirror)), changes=changes, website=None, module="fedora").sync()
    assert "real-1-1" not in str(raised.value)
    assert {p: p.stat().st_mtime_ns for p in mirror.rglob("*")} == before


def test_a_changed_checksum_file_naming_a_missing_image_is_refused_before_copying(trees: tuple[Path, Path]) -> None:
    """Verification reads the metadata the changes touch: here the CHECKSUM beside the changed image."""
    staging, mirror = trees
    (staging / CHECKSUM).write_text(render_checksums([ChecksumEntry("Missing.qcow2", "SHA256", "0" * 64, None)]))
    with pytest.raises(SyncError, match=r"Missing\.qcow2"):
        MirrorSync(staging, Mirror(str(mirror)), changes=Changeset.of([CHECKSUM]), website=None).sync()
    assert "Missing" not in (mirror / CHECKSUM).read_text()


def test_roots_and_changes_keep_one_list(trees: tuple[Path, Path]) -> None:
    """A whole-root sync (the EOL carve-out, OSTree upkeep) rewalks its root on the mirror for the lists."""
    staging, mirror = trees
    for i in range(3):
        (staging / f"{PACKAGES}/pkg{i}-1-1.fc24.noarch.rpm").unlink()
    os.symlink("24", staging / "releases/latest")
    MirrorSync(staging, Mirror(str(mirror)), roots=[PACKAGES, "releases"], website=None, module="fedora").sync()
    assert listed(mirror) == mirror_files(mirror)
    assert listed(mirror)["releases/latest"][1] == "l"


def test_a_push_syncing_its_ostree_ref_carries_another_refs_unsynced_promotion(tmp_path: Path) -> None:
    """Two pushes share the released OSTree repository: f24's promoted its ref and has not synced yet when
    f23's sync runs. f23's sync publishes every ref file and the summary, which name f24's new head, so it
    must carry that head's objects too — the mirror verifies, and pulls of either ref work."""
    from relengotron.artifacts.staging import StagingTree
    from relengotron.ostree.repo import OSTreeRepo
    from relengotron_sandbox import testing

    config = testing.release_config(root=tmp_path)
    staging = StagingTree.from_layout(config.mirror)
    repo = OSTreeRepo(Path(config.mirror.staging) / "atomic/repo")
    repo.init()
    refs = {"23": "fedora/23/x86_64/atomic-host", "24": "fedora/24/x86_64/atomic-host"}

    def release(version: str, content: str) -> str:
        tree = tmp_path / f"tree-{version}-{content}"
        (tree / "usr/share").mkdir(parents=True, exist_ok=True)
        (tree / "usr/share/release").write_text(f"{version} {content}\n")
        commit = repo.commit(trees=[f"dir={tree}"], subject=content, branch=refs[version])
        repo.update_summary(None)
        return commit

    release("23", "one"), release("24", "one")
    first = staging.ostree_changes(refs.values())
    assert MirrorSync(Path(config.mirror.staging), staging.mirror, changes=first, website=None).sync().report.ok
    f24 = release("24", "two")  # f24's push promoted, its sync not run yet
    f23 = release("23", "two")  # f23's push promoted too, and syncs first
    changes = staging.ostree_changes([refs["23"]])
    assert f"atomic/repo/objects/{f24[:2]}/{f24[2:]}.commit" in changes.written
    result = MirrorSync(Path(config.mirror.staging), staging.mirror, changes=changes, website=None).sync()
    assert result.report.ok, result.report.problems
    mirror = OSTreeRepo(Path(config.mirror.master) / "atomic/repo")
    assert (mirror.rev_parse(refs["23"]), mirror.rev_parse(refs["24"])) == (f23, f24)
    run = subprocess.run(["ostree", "fsck", f"--repo={mirror.path}"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
