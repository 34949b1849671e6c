"""Where OSTree keeps a static delta the summary names (the modified-base64 path), as the mirror check needs it."""

from __future__ import annotations

from relengotron.sync.verify import _delta_superblock, _join

FROM = "60b3b204a77f6c1fcd104cbd3703461d9f84f83d9c8b252d718e1153f60d5ee4"
TO = "22da353c08004583c5c009db44eb902d4a5ae06bde078b6a3de0fb2506ce73d3"


def test_delta_paths_match_what_ostree_writes() -> None:
    # Paths seen in a repository after `ostree static-delta generate` (libostree 2022.7).
    assert _delta_superblock(f"{FROM}-{TO}") == (
        "deltas/YL/OyBKd_bB_NEEy9NwNGHZ+E+D2ciyUtcY4RU_YNXuQ-Ito1PAgARYPFwAnbROuQLUpa4GveB4tqPeD7JQbOc9M/superblock"
    )
    assert _delta_superblock(TO) == "deltas/It/o1PAgARYPFwAnbROuQLUpa4GveB4tqPeD7JQbOc9M/superblock"


def test_join_normalises_relative_hrefs() -> None:
    assert _join("updates/24/x86_64", "repodata/x.xml.gz") == "updates/24/x86_64/repodata/x.xml.gz"
    assert _join("updates/24/x86_64", "../Packages/a.rpm") == "updates/24/Packages/a.rpm"
    assert _join("", "repodata/repomd.xml") == "repodata/repomd.xml"
