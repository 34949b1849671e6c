"""Where an OSTree repository keeps commits and static deltas (what signers and the mirror check read). Pure."""

from __future__ import annotations

from pathlib import Path

import pytest

from relengotron.ostree.repo import OSTreeRepo, commit_object, delta_superblock

FROM = "60b3b204a77f6c1fcd104cbd3703461d9f84f83d9c8b252d718e1153f60d5ee4"
TO = "22da353c08004583c5c009db44eb902d4a5ae06bde078b6a3de0fb2506ce73d3"


def test_delta_paths_match_what_ostree_writes() -> None:
    # Paths seen in a repository after `ostree static-delta generate` (libostree 2022.7).
    assert delta_superblock(f"{FROM}-{TO}") == (
        "deltas/YL/OyBKd_bB_NEEy9NwNGHZ+E+D2ciyUtcY4RU_YNXuQ-Ito1PAgARYPFwAnbROuQLUpa4GveB4tqPeD7JQbOc9M/superblock"
    )
    assert delta_superblock(TO) == "deltas/It/o1PAgARYPFwAnbROuQLUpa4GveB4tqPeD7JQbOc9M/superblock"


def test_commit_paths() -> None:
    assert commit_object(TO) == f"objects/22/{TO[2:]}.commit"
    repo = OSTreeRepo("/srv/ostree")
    assert repo.commit_path(TO) == Path(f"/srv/ostree/objects/22/{TO[2:]}.commit")
    assert repo.commitmeta_path(TO) == Path(f"/srv/ostree/objects/22/{TO[2:]}.commitmeta")
    for bad in ("fedora/24/x86_64/atomic-host", TO[:63], TO.upper()):
        with pytest.raises(ValueError, match="is not a full 64-digit commit checksum"):
            commit_object(bad)
    assert not repo.has_commit("not-a-checksum")
