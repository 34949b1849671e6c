"""Which pass each path of a staging tree goes in: content first, metadata, indexes, links; scratch skipped."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relengotron.sync.classify import PASSES, classify, classify_tree, ostree_roots

TREE = [
    ("updates/24/x86_64/bash-4.3-1.fc24.x86_64.rpm", "file"),
    ("updates/24/x86_64/repodata/abc-primary.xml.gz", "file"),
    ("updates/24/x86_64/repodata/def-updateinfo.xml.xz", "file"),
    ("updates/24/x86_64/repodata/repomd.xml", "file"),
    ("updates/24/x86_64/repodata/repomd.xml.asc", "file"),
    ("atomic/repo/config", "file"),
    ("atomic/repo/objects/ab/cdef.commit", "file"),
    ("atomic/repo/objects/ab/cdef.commitmeta", "file"),
    ("atomic/repo/deltas/ab/cdef/superblock", "file"),
    ("atomic/repo/delta-indexes/ab/cdef.index", "file"),
    ("atomic/repo/refs/heads/fedora/24/x86_64/atomic-host", "file"),
    ("atomic/repo/summary", "file"),
    ("atomic/repo/summary.sig", "file"),
    ("atomic/repo/tmp", "dir"),
    ("atomic/repo/tmp/staging-1/x", "file"),
    ("atomic/repo/state/abc.commitpartial", "file"),
    ("atomic/repo/.lock", "file"),
    ("atomic/repo/refs/remotes", "dir"),
    ("releases/24/Atomic/x86_64/Fedora-Atomic-24.x86_64.qcow2", "file"),
    ("releases/24/Atomic/x86_64/Fedora-Atomic-24.x86_64.manifest.json", "file"),
    ("releases/24/Atomic/x86_64/Fedora-Atomic-24-x86_64-CHECKSUM", "file"),
    ("releases/latest", "link"),
    ("website/index.html", "file"),
    ("website/images.json", "file"),
    ("updates/24/x86_64/.~tmp~/repomd.xml", "file"),
]


def test_a_release_tree_is_classified_pass_by_pass() -> None:
    tree = classify_tree(TREE, website="website")
    assert tree.ostree_roots == {"atomic/repo"}
    assert tree.of("content") == (
        "atomic/repo/deltas/ab/cdef/superblock",
        "atomic/repo/objects/ab/cdef.commit",
        "atomic/repo/objects/ab/cdef.commitmeta",
        "atomic/repo/refs/remotes",
        "atomic/repo/tmp",
        "releases/24/Atomic/x86_64/Fedora-Atomic-24.x86_64.qcow2",
        "updates/24/x86_64/bash-4.3-1.fc24.x86_64.rpm",
    )
    assert tree.of("metadata") == (
        "atomic/repo/delta-indexes/ab/cdef.index",
        "releases/24/Atomic/x86_64/Fedora-Atomic-24.x86_64.manifest.json",
        "updates/24/x86_64/repodata/abc-primary.xml.gz",
        "updates/24/x86_64/repodata/def-updateinfo.xml.xz",
    )
    assert tree.of("index") == (
        "atomic/repo/config",
        "atomic/repo/refs/heads/fedora/24/x86_64/atomic-host",
        "atomic/repo/summary",
        "atomic/repo/summary.sig",
        "releases/24/Atomic/x86_64/Fedora-Atomic-24-x86_64-CHECKSUM",
        "updates/24/x86_64/repodata/repomd.xml",
        "updates/24/x86_64/repodata/repomd.xml.asc",
        "website/images.json",
        "website/index.html",
    )
    assert tree.of("link") == ("releases/latest",)
    assert tree.of("skip") == (
        "atomic/repo/.lock",
        "atomic/repo/state/abc.commitpartial",
        "atomic/repo/tmp/staging-1/x",
        "updates/24/x86_64/.~tmp~/repomd.xml",
    )
    assert PASSES == ("content", "metadata", "index")


def test_an_ostree_repo_at_the_top_and_a_directory_that_only_looks_like_one() -> None:
    assert ostree_roots(["config", "objects/ab/c.commit"]) == {""}
    assert classify("refs/heads/x", roots=frozenset({""})) == "index"
    assert classify("objects/ab/c.filez", roots=frozenset({""})) == "content"
    # a config file without objects beside it is no repository: its refs are just files
    assert ostree_roots(["etc/config", "etc/refs/heads/x"]) == frozenset()
    assert classify("etc/refs/heads/x", roots=frozenset()) == "content"


def test_empty_path_is_refused() -> None:
    with pytest.raises(ValueError, match="not a relative path"):
        classify("./", roots=frozenset())


segment = st.text(st.sampled_from("abcxyz0123-_."), min_size=1, max_size=8).filter(lambda s: s not in (".", ".."))
paths = st.lists(segment, min_size=1, max_size=5).map("/".join)


@given(paths)
def test_anything_below_repodata_is_never_content(path: str) -> None:
    assert classify(f"updates/24/x86_64/repodata/{path}", roots=frozenset()) in ("metadata", "index")


@given(paths)
def test_ostree_objects_are_content_and_refs_are_indexes(path: str) -> None:
    roots = frozenset({"atomic/repo"})
    assert classify(f"atomic/repo/objects/{path}", roots=roots) == "content"
    assert classify(f"atomic/repo/refs/{path}", roots=roots) == "index"
    assert classify(f"atomic/repo/tmp/{path}", roots=roots) == "skip"


@given(paths, st.sampled_from(["file", "link", "dir"]))
def test_links_are_links_and_dirs_are_content_outside_scratch(path: str, kind: str) -> None:
    got = classify(path, kind=kind, roots=frozenset())  # type: ignore[arg-type]
    if kind == "link":
        assert got == "link"
    elif kind == "dir":
        assert got == "content"
    else:
        assert got in ("content", "metadata", "index")
