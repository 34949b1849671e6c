"""The downstream-mirror file lists (create-filelist's format) and a push's changeset: read, written, updated."""

from __future__ import annotations

import pytest

from relengotron.sync import Changeset, ChangesetError
from relengotron.sync.classify import classify_tree
from relengotron.sync.filelist import (
    FileEntry,
    FileList,
    FileListError,
    entry_of,
    listed,
    parse,
    render,
    render_images,
    updated,
)

SUMS = {"SHA1": "a" * 40, "MD5": "b" * 32, "SHA256": "c" * 64, "SHA512": "d" * 128}
REPOMD = "linux/updates/24/x86_64/repodata/repomd.xml"

# As fedora-infra's create-filelist prints it (-c -s): version, files, four checksum sections, end marker.
SAMPLE = (
    "[Version]\n2\n\n[Files]\n"
    "1767700953\tf\t282\tlinux/extras/README\n"
    "1366880149\td\t4096\tlinux/extras\n"
    f"1700000000\tf\t3000\t{REPOMD}\n"
    "1700000001\tl\t5\tlinux/releases/latest\n"
    "1700000002\tf-\t10\tlinux/private\n"
    "1700000003\tf\t99\tlinux/releases/24/Cloud/x86_64/images/Fedora-Cloud-Base-24.x86_64.qcow2\n"
    "\n[Checksums SHA1]\n" + f"{'a' * 40}\t{REPOMD}\n"
    "\n[Checksums MD5]\n" + f"{'b' * 32}\t{REPOMD}\n"
    "\n[Checksums SHA256]\n" + f"{'c' * 64}\t{REPOMD}\n"
    "\n[Checksums SHA512]\n" + f"{'d' * 128}\t{REPOMD}\n"
    "\n[End]\n"
)


def test_parse_and_render_round_trip() -> None:
    files = parse(SAMPLE)
    assert files.version == "2"
    assert files.entries["linux/extras"] == FileEntry(1366880149, "d", 4096, "linux/extras")
    assert files.entries["linux/private"].ftype == "f-"
    assert files.checksums["SHA256"] == {REPOMD: "c" * 64}
    again = parse(render(files))
    assert again == files
    text = render(files)
    assert text.startswith("[Version]\n2\n\n[Files]\n") and text.endswith("\n\n[End]\n")
    assert text.index("[Checksums SHA1]") < text.index("[Checksums MD5]") < text.index("[Checksums SHA512]")


def test_a_truncated_or_malformed_list_is_refused() -> None:
    with pytest.raises(FileListError, match="no \\[End\\]"):
        parse(SAMPLE.replace("[End]\n", ""))
    with pytest.raises(FileListError, match="line 5"):
        parse(SAMPLE.replace("1767700953\tf\t282\t", "1767700953 f 282 "))


def test_image_list_names_productmd_image_formats_with_a_dot_slash() -> None:
    assert render_images(parse(SAMPLE)) == "./linux/releases/24/Cloud/x86_64/images/Fedora-Cloud-Base-24.x86_64.qcow2\n"


def test_an_update_changes_mtime_and_size_and_a_deletion_removes_the_entry() -> None:
    files = parse(SAMPLE)
    new_repomd = entry_of(REPOMD, mtime=1800000000, ctime=1800000005, size=3100, kind="f", mode=0o644)
    sums = {REPOMD: {**SUMS, "SHA1": "e" * 40}}
    after = updated(files, {REPOMD: new_repomd, "linux/extras": None}, checksums=sums)
    assert after.entries[REPOMD] == FileEntry(1800000005, "f", 3100, REPOMD)  # max(mtime, ctime)
    assert "linux/extras" not in after.entries and "linux/extras/README" not in after.entries  # the whole dir
    assert after.checksums["SHA1"] == {REPOMD: "e" * 40}
    assert parse(render(after)) == after


def test_a_removed_repomd_loses_its_checksums_and_a_new_one_needs_them() -> None:
    gone = updated(parse(SAMPLE), {REPOMD: None})
    assert all(not sums for sums in gone.checksums.values())
    entry = entry_of(REPOMD, mtime=1, ctime=1, size=1, kind="f", mode=0o644)
    with pytest.raises(ValueError, match="no checksum"):
        updated(FileList(), {REPOMD: entry})


def test_replace_under_drops_the_old_entries_of_a_rewalked_root() -> None:
    fresh = entry_of("linux/extras/NEW", mtime=5, ctime=6, size=1, kind="f", mode=0o644)
    after = updated(parse(SAMPLE), {"linux/extras/NEW": fresh}, replace_under=["linux/extras"])
    assert "linux/extras/README" not in after.entries and "linux/extras/NEW" in after.entries
    assert REPOMD in after.entries


def test_what_create_filelist_leaves_out() -> None:
    assert not listed("fullfiletimelist-fedora", "fedora") and not listed("imagelist-fedora", "fedora")
    assert listed("linux/fullfiletimelist-fedora", "fedora")  # only at the top
    assert not listed("a/.~tmp~/x", "fedora") and not listed("a/.nfs0001", "fedora")
    assert entry_of("x", mtime=1, ctime=1, size=1, kind="f", mode=0o600) is None  # not group-readable
    assert entry_of("x", mtime=1, ctime=1, size=1, kind="d", mode=0o750).ftype == "d-"  # restricted


def test_changeset_paths_are_normalized_and_contradictions_refused() -> None:
    changes = Changeset.of(["b/c.rpm", "./a/x", "b/c.rpm"], ["old.rpm"])
    assert changes.written == ("a/x", "b/c.rpm") and changes.removed == ("old.rpm",)
    with pytest.raises(ChangesetError, match="written and removed at once: a"):
        Changeset.of(["a"], ["a"])
    with pytest.raises(ChangesetError, match="not a path inside"):
        Changeset.of(["../etc/passwd"])
    assert (Changeset.of(["a"], ["b"]) | Changeset.of(["b"])).removed == ()


def test_classification_of_a_changeset_uses_the_given_ostree_roots() -> None:
    """A changeset names a repository's new objects and ref, never its config: the roots are given."""
    entries = [
        ("atomic/repo/objects/ab/cdef.filez", "file"),
        ("atomic/repo/refs/heads/fedora/24/x86_64/atomic-host", "file"),
        ("atomic/repo/summary", "file"),
        ("updates/24/x86_64/Packages/g/glibc.rpm", "file"),
        ("updates/24/x86_64/repodata/abc-primary.xml.gz", "file"),
        ("updates/24/x86_64/repodata/repomd.xml", "file"),
        ("fullfiletimelist-fedora", "file"),
    ]
    classes = classify_tree(entries, roots=["atomic/repo"]).classes
    assert classes["atomic/repo/objects/ab/cdef.filez"] == "content"
    assert classes["atomic/repo/refs/heads/fedora/24/x86_64/atomic-host"] == "index"
    assert classes["atomic/repo/summary"] == "index"
    assert classes["updates/24/x86_64/Packages/g/glibc.rpm"] == "content"
    assert classes["updates/24/x86_64/repodata/abc-primary.xml.gz"] == "metadata"
    assert classes["updates/24/x86_64/repodata/repomd.xml"] == "index"
    assert classes["fullfiletimelist-fedora"] == "skip"  # published by the file-list step, last
    assert classify_tree(entries).classes["atomic/repo/summary"] == "content"  # no config among them: not a repo
