"""The sandbox Koji hub's store, query options, faults, seeding helpers and inheritance walk."""

from __future__ import annotations

from pathlib import Path

import koji
import pytest
from koji.xmlrpcplus import Fault

from relengotron_sandbox.koji.hub import Caller, Hub
from relengotron_sandbox.koji.rpc import fault_of
from relengotron_sandbox.koji.seed import image_package_name
from relengotron_sandbox.koji.store import Store, apply_query_opts


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "koji.sqlite")


def test_transaction_rolls_back_and_drops_after_commit_work(store: Store) -> None:
    done: list[str] = []
    with pytest.raises(RuntimeError), store.transaction():
        store.execute("INSERT INTO packages (name) VALUES ('a')")
        store.after_commit(lambda: done.append("a"))
        raise RuntimeError("boom")
    with store.transaction():
        assert store.value("SELECT COUNT(*) FROM packages") == 0
        store.execute("INSERT INTO packages (name) VALUES ('b')")
        with store.transaction():  # nested: joins the outer transaction and its event
            first = store.event()
            assert store.event() == first
            store.after_commit(lambda: done.append("b"))
        assert done == []
    assert done == ["b"]
    with store.transaction():
        assert store.value("SELECT name FROM packages") == "b"
        assert store.event() == first + 1


def test_apply_query_opts() -> None:
    rows = [{"id": 2, "name": "b"}, {"id": 1, "name": "a"}, {"id": 3, "name": "c"}]
    assert [r["id"] for r in apply_query_opts(rows, {"order": "-id"})] == [3, 2, 1]
    assert [r["name"] for r in apply_query_opts(rows, {"order": "name", "offset": 1, "limit": 1})] == ["b"]
    assert apply_query_opts(rows, {"countOnly": True}) == 3
    assert apply_query_opts(rows, None) is rows


def test_faults_carry_the_koji_code_and_text() -> None:
    fault = fault_of(koji.TagError("build x already tagged (t)"))
    assert (fault.faultCode, fault.faultString) == (koji.TagError.faultCode, "build x already tagged (t)")
    assert isinstance(koji.convertFault(fault), koji.TagError)
    other = fault_of(KeyError("k"))
    assert other.faultCode == 1 and "KeyError" in other.faultString
    same = Fault(1003, "x")
    assert fault_of(same) is same


def test_caller_permission_errors_match_the_real_hub() -> None:
    anonymous = Caller()
    with pytest.raises(koji.ActionNotAllowed, match=r"^you must be logged in for this operation$"):
        anonymous.assert_login()
    with pytest.raises(koji.ActionNotAllowed, match=r"^sign permission required \(user not logged in\)$"):
        anonymous.assert_perm("sign")
    user = Caller(user={"id": 3, "name": "bodhi"}, perms=frozenset({"tag"}))
    user.assert_perm("tag")
    with pytest.raises(koji.ActionNotAllowed, match=r"^sign permission required \(logged in as bodhi\)$"):
        user.assert_perm("sign")
    Caller(user={"id": 1, "name": "kojiadmin"}, perms=frozenset({"admin"})).assert_perm("sign")


@pytest.mark.parametrize(
    ("template", "version", "name"),
    [
        ("Fedora-Cloud-Base-24.{arch}.raw.xz", "24", "Fedora-Cloud-Base"),
        ("Fedora-Server-dvd-{arch}-24.iso", "24", "Fedora-Server-dvd"),
        ("Fedora-Atomic-pxe2live-{arch}-24.tar.gz", "24", "Fedora-Atomic-pxe2live"),
        ("Fedora-Cloud-Base-GCE-23.{arch}.tar.gz", "23", "Fedora-Cloud-Base-GCE"),
    ],
)
def test_image_package_names(template: str, version: str, name: str) -> None:
    assert image_package_name(template, version) == name


def test_full_inheritance_walks_by_priority_and_respects_maxdepth(store: Store, tmp_path: Path) -> None:
    hub = Hub(store, tmp_path, lambda *a: None)
    with store.transaction():
        for name in ("child", "p1", "p2", "grand"):
            store.execute("INSERT INTO tags (name) VALUES (?)", (name,))
        links = [(1, 2, 10, None), (1, 3, 5, None), (2, 4, 0, None), (3, 4, 0, None)]
        for tag, parent, prio, maxdepth in links:
            store.execute(
                "INSERT INTO tag_inheritance (tag_id, parent_id, priority, maxdepth) VALUES (?, ?, ?, ?)",
                (tag, parent, prio, maxdepth),
            )
        order = hub.full_inheritance(1)
        assert [(link["name"], link["currdepth"]) for link in order] == [("p2", 1), ("grand", 2), ("p1", 1)]
        assert [link["name"] for link in hub.full_inheritance(4, reverse=True)] == ["p1", "child", "p2"]
        store.execute("UPDATE tag_inheritance SET maxdepth = 0 WHERE tag_id = 1")
        assert [link["name"] for link in hub.full_inheritance(1)] == ["p2", "p1"]
        with pytest.raises(koji.GenericError, match=r"^No such tagInfo: 'nope'$"):
            hub.tag("nope", strict=True)
