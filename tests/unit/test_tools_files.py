"""Replacing files whole: the destination is the old file or the new one, and nothing is left beside it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from relengotron.tools.files import copy_atomic, write_atomic


def test_write_atomic_replaces_whole_and_leaves_nothing_beside(tmp_path: Path) -> None:
    dest = tmp_path / "deep" / "repomd.xml.asc"
    assert write_atomic(dest, b"one") == dest
    assert dest.read_bytes() == b"one" and (dest.stat().st_mode & 0o777) == 0o644
    write_atomic(dest, b"two", mode=0o600)
    assert dest.read_bytes() == b"two" and (dest.stat().st_mode & 0o777) == 0o600
    assert os.listdir(dest.parent) == ["repomd.xml.asc"]


def test_a_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    dest = tmp_path / "summary.sig"
    write_atomic(dest, b"old")
    with pytest.raises(TypeError):
        write_atomic(dest, "not bytes")  # type: ignore[arg-type]
    assert dest.read_bytes() == b"old" and os.listdir(tmp_path) == ["summary.sig"]


def test_copy_atomic_keeps_the_mode_unless_told(tmp_path: Path) -> None:
    source = tmp_path / "tool"
    source.write_bytes(b"#!/bin/sh\n")
    source.chmod(0o750)
    assert copy_atomic(source, tmp_path / "out" / "tool").read_bytes() == b"#!/bin/sh\n"
    assert ((tmp_path / "out" / "tool").stat().st_mode & 0o777) == 0o750
    copy_atomic(source, tmp_path / "out" / "tool", mode=0o600)
    assert ((tmp_path / "out" / "tool").stat().st_mode & 0o777) == 0o600
    with pytest.raises(FileNotFoundError):
        copy_atomic(tmp_path / "missing", tmp_path / "out" / "tool")
    assert sorted(os.listdir(tmp_path / "out")) == ["tool"]
