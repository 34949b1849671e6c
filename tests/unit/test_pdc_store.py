"""The JSON document store behind the sandbox PDC and Bugzilla: seed once, write atomically, refuse a foreign state."""

from __future__ import annotations

from pathlib import Path

import pytest

from relengotron_sandbox.pdc_store import DocStore

KEYS = {"releases": "release_id", "rpms": "id"}


def seed() -> dict[str, list[dict]]:
    return {"releases": [{"release_id": "fedora-24", "active": True}], "rpms": [{"id": 2}, {"id": 10}]}


def test_seeds_once_and_keeps_state_across_reopen(tmp_path: Path) -> None:
    store = DocStore(tmp_path / "s.sqlite", KEYS)
    store.open("digest-a", seed)
    assert [r["id"] for r in store.all("rpms")] == [2, 10]  # numeric keys in numeric order
    store.put("releases", {"release_id": "fedora-24", "active": False})
    assert store.next_id("rpms") == 11
    store.close()

    again = DocStore(tmp_path / "s.sqlite", KEYS)
    again.open("digest-a", lambda: pytest.fail("a seeded state must not be seeded again"))
    assert again.get("releases", "fedora-24") == {"release_id": "fedora-24", "active": False}
    again.delete("rpms", 2)
    again.delete("rpms", 2)  # idempotent
    assert [r["id"] for r in again.all("rpms")] == [10]
    again.close()


def test_refuses_state_of_another_world(tmp_path: Path) -> None:
    DocStore(tmp_path / "s.sqlite", KEYS).open("digest-a", seed)
    with pytest.raises(RuntimeError, match="reset the sandbox"):
        DocStore(tmp_path / "s.sqlite", KEYS).open("digest-b", seed)


def test_put_many_is_all_or_nothing(tmp_path: Path) -> None:
    store = DocStore(tmp_path / "s.sqlite", KEYS)
    store.open("digest-a", seed)
    with pytest.raises(KeyError):
        store.put_many([("rpms", {"id": 11}), ("rpms", {"no_id": True})])
    assert store.get("rpms", 11) is None
    store.close()
    reopened = DocStore(tmp_path / "s.sqlite", KEYS)
    reopened.open("digest-a", seed)
    assert reopened.get("rpms", 11) is None


def test_a_failed_seed_leaves_nothing(tmp_path: Path) -> None:
    def broken() -> dict[str, list[dict]]:
        return {"rpms": [{"id": 1}, {"oops": 2}]}

    with pytest.raises(KeyError):
        DocStore(tmp_path / "s.sqlite", KEYS).open("digest-a", broken)
    store = DocStore(tmp_path / "s.sqlite", KEYS)
    store.open("digest-a", seed)  # not marked seeded: seeds now
    assert [r["id"] for r in store.all("rpms")] == [2, 10]
