"""Paths the mirror check joins (the layout of an OSTree repository is tested in test_ostree_layout.py)."""

from __future__ import annotations

from relengotron.sync.verify import _commit_object, _join


def test_join_normalises_relative_hrefs() -> None:
    assert _join("updates/24/x86_64", "repodata/x.xml.gz") == "updates/24/x86_64/repodata/x.xml.gz"
    assert _join("updates/24/x86_64", "../Packages/a.rpm") == "updates/24/Packages/a.rpm"
    assert _join("", "repodata/repomd.xml") == "repodata/repomd.xml"


def test_a_ref_naming_no_checksum_points_at_no_object() -> None:
    commit = "22da353c08004583c5c009db44eb902d4a5ae06bde078b6a3de0fb2506ce73d3"
    assert _commit_object("atomic/repo", commit) == f"atomic/repo/objects/22/{commit[2:]}.commit"
    assert _commit_object("atomic/repo", "garbage") == "atomic/repo/objects/garbage.commit"
