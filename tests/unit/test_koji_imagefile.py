"""The sandbox Koji image files: newc cpio reading, safe unpacking paths, packing and the manifest."""

from __future__ import annotations

import stat
import tarfile
from pathlib import Path

import koji
import pytest

from relengotron_sandbox.koji import imagefile


def newc_entry(name: str, mode: int, content: bytes = b"") -> bytes:
    fields = [0, mode, 0, 0, 1, 0, len(content), 0, 0, 0, 0, len(name) + 1, 0]
    header = b"070701" + b"".join(b"%08X" % f for f in fields)
    out = header + name.encode() + b"\0"
    out += b"\0" * (-len(out) % 4)
    out += content + b"\0" * (-len(content) % 4)
    return out


def newc(*entries: tuple[str, int, bytes]) -> bytes:
    return b"".join(newc_entry(*e) for e in entries) + newc_entry("TRAILER!!!", 0)


def test_read_newc_yields_entries_until_the_trailer() -> None:
    data = newc(
        ("./usr", stat.S_IFDIR | 0o755, b""),
        ("./usr/bin/tool", stat.S_IFREG | 0o755, b"#!/bin/sh\necho hi\n"),
        ("./bin/sh", stat.S_IFLNK | 0o777, b"bash"),
    )
    entries = list(imagefile.read_newc(data))
    assert [(n, c) for n, _, c in entries] == [
        ("./usr", b""),
        ("./usr/bin/tool", b"#!/bin/sh\necho hi\n"),
        ("./bin/sh", b"bash"),
    ]
    assert stat.S_ISLNK(entries[2][1])


@pytest.mark.parametrize("bad", [b"", b"070707" + b"0" * 104, newc(("./x", stat.S_IFREG, b"abc"))[:-130]])
def test_read_newc_rejects_garbage_and_truncation(bad: bytes) -> None:
    with pytest.raises(imagefile.CpioError):
        list(imagefile.read_newc(bad))


def test_entries_escaping_the_tree_are_refused() -> None:
    assert imagefile._safe_relpath("./usr/bin/x") is not None
    assert str(imagefile._safe_relpath("/etc/passwd")) == "etc/passwd"
    assert imagefile._safe_relpath("../../etc/passwd") is None
    assert imagefile._safe_relpath("./a/../../b") is None
    assert imagefile._safe_relpath(".") is None


@pytest.mark.parametrize(("fmt", "opener"), [("raw", "r:"), ("raw-xz", "r:xz"), ("tar-gz", "r:gz")])
def test_pack_tree_writes_the_format_and_the_manifest(tmp_path: Path, fmt: str, opener: str) -> None:
    tree = tmp_path / "tree"
    (tree / "usr/share/doc").mkdir(parents=True)
    (tree / "usr/share/doc/README").write_text("hello\n")
    imagefile.write_manifest(tree, ["b-1-1.noarch", "a-2-1.noarch"])
    dest = tmp_path / f"img.{imagefile.FORMATS[fmt][0]}"
    imagefile.pack_tree(tree, dest, fmt)
    with tarfile.open(dest, opener) as tar:
        names = tar.getnames()
        member = tar.getmember("usr/share/doc/README")
    assert names == sorted(names) and "usr/share/doc/README" in names
    assert (member.uid, member.uname, member.mtime) == (0, "root", 0)
    assert imagefile.read_manifest(dest) == ["a-2-1.noarch", "b-1-1.noarch"]


def test_unknown_format_is_an_appliance_error(tmp_path: Path) -> None:
    with pytest.raises(koji.ApplianceError, match="Invalid format: vmdk"):
        imagefile.pack_tree(tmp_path, tmp_path / "x", "vmdk")
