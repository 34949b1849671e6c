"""rsync --itemize-changes output into changes, and changes into a plan in sync order."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from relengotron.sync.classify import classify
from relengotron.sync.itemize import Change, parse_itemized, plan

OUTPUT = """\
created directory /srv/mirror
*deleting   updates/24/x86_64/old-1.0-1.fc24.noarch.rpm
*deleting   releases/24-1/
cd+++++++++ ./
.d..t...... updates/
>f+++++++++ updates/24/x86_64/new-1.0-1.fc24.noarch.rpm
>f.st...... updates/24/x86_64/repodata/repomd.xml
.f...p..... updates/24/x86_64/perm-only.rpm
cL+++++++++ releases/latest -> 24-2
cL......... releases/stable -> 24-2
cLc.t...... releases/older -> 24-1
>f+++++++++ name with -> arrow.iso
rsync: some warning that is not an item
"""


def test_parse_every_kind_of_line() -> None:
    changes = parse_itemized(OUTPUT, prefix="top")
    assert changes == [
        Change("top/updates/24/x86_64/old-1.0-1.fc24.noarch.rpm", "delete", "file"),
        Change("top/releases/24-1", "delete", "dir"),
        Change("top", "create", "dir"),
        Change("top/updates", "attrs", "dir"),
        Change("top/updates/24/x86_64/new-1.0-1.fc24.noarch.rpm", "create", "file"),
        Change("top/updates/24/x86_64/repodata/repomd.xml", "update", "file"),
        Change("top/updates/24/x86_64/perm-only.rpm", "attrs", "file"),
        Change("top/releases/latest", "create", "link", "24-2"),
        Change("top/releases/stable", "update", "link", "24-2"),
        Change("top/releases/older", "update", "link", "24-1"),
        Change("top/name with -> arrow.iso", "create", "file"),
    ]
    assert parse_itemized("cd+++++++++ ./\n") == []


def test_plan_orders_content_metadata_index_links_then_deletions() -> None:
    roots = frozenset({"atomic/repo"})
    changes = [
        Change("updates/x/repodata/repomd.xml", "update", "file"),
        Change("atomic/repo/refs/heads/f", "update", "file"),
        Change("updates/x/old.rpm", "delete", "file"),
        Change("releases/latest", "update", "link", "24-2"),
        Change("updates/x/repodata/a-primary.xml.gz", "create", "file"),
        Change("atomic/repo/objects/ab/c.commit", "create", "file"),
        Change("atomic/repo/tmp/x", "create", "file"),
        Change("updates/x/new.rpm", "create", "file"),
    ]
    result = plan(changes, lambda path, kind: classify(path, kind=kind, roots=roots))
    assert [c.path for c in result.of("content")] == ["atomic/repo/objects/ab/c.commit", "updates/x/new.rpm"]
    assert result.lines() == [
        "content  create atomic/repo/objects/ab/c.commit",
        "content  create updates/x/new.rpm",
        "metadata create updates/x/repodata/a-primary.xml.gz",
        "index    update atomic/repo/refs/heads/f",
        "index    update updates/x/repodata/repomd.xml",
        "link     update releases/latest -> 24-2",
        "delete   delete updates/x/old.rpm",
    ]
    assert not result.empty
    assert plan([Change("d", "attrs", "dir")], lambda p, k: "content").empty


names = st.text(st.sampled_from("abrepodatsumy/._-"), min_size=1, max_size=30).filter(
    lambda p: p.strip("/.") and ".." not in p and "//" not in p
)


@given(st.lists(st.tuples(names, st.sampled_from(["create", "update", "delete"])), max_size=30))
def test_no_deletion_comes_before_a_transfer_and_indexes_come_after_content(items) -> None:
    changes = [Change(p.strip("/"), a, "file") for p, a in items]  # type: ignore[arg-type]
    result = plan(changes, lambda path, kind: classify(path, kind=kind, roots=frozenset()))
    order = {"content": 0, "metadata": 1, "index": 2, "link": 3}
    seen_delete = False
    last = 0
    for planned in result.changes:
        if planned.change.action == "delete":
            seen_delete = True
            continue
        assert not seen_delete
        assert order[planned.path_class] >= last
        last = order[planned.path_class]
