"""The master mirror's files, reached through a CommandRunner: here (LocalRunner) or on the mirror host (SSH).

Checking a mirror after a sync and switching its "latest" symlinks must happen where the mirror is, so every
operation is a plain POSIX/GNU command (find, stat, cat, sha256sum, readlink, ln, mv) run by the runner;
the same code serves a local directory and a remote host. Paths are relative to ``base``.
"""

from __future__ import annotations

import posixpath
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from relengotron.tools.remote import CommandRunner, LocalRunner, run_checked

_BATCH = 200  # paths per command line
_KINDS = {"regular file": "f", "regular empty file": "f", "directory": "d", "symbolic link": "l"}


@dataclass(frozen=True)
class Stat:
    """One entry as ``lstat`` sees it (what the downstream file lists describe)."""

    mtime: int
    ctime: int
    size: int
    kind: str  # f, d, l, or o (anything else)
    mode: int  # permission bits


class MirrorFS:
    """Read and switch files of the mirror tree rooted at ``base`` on ``runner``'s host."""

    def __init__(self, base: str, runner: CommandRunner | None = None) -> None:
        self.base = base.rstrip("/") or "/"
        self.runner: CommandRunner = runner or LocalRunner()

    def abs(self, rel: str) -> str:
        rel = rel.strip("/")
        return f"{self.base}/{rel}" if rel and rel != "." else self.base

    def where(self, rel: str) -> str:
        host = "" if self.runner.name == "local" else f"{self.runner.name}:"
        return f"{host}{self.abs(rel)}"

    def exists(self, rel: str) -> bool:
        status, _, _ = self.runner.run(["test", "-e", self.abs(rel)])
        return status == 0

    def list_tree(self, rel: str = "") -> list[tuple[str, str]]:
        """(type, path relative to base) of every file ("f") and symlink ("l") under ``rel``; [] if missing."""
        top = self.abs(rel)
        if not self.exists(rel):
            return []
        out = run_checked(
            self.runner,
            ["find", top, "-mindepth", "1", "(", "-type", "f", "-o", "-type", "l", ")", "-printf", "%y %P\\0"],
            item=self.where(rel),
        )
        prefix = rel.strip("/")
        entries = []
        for record in out.decode(errors="surrogateescape").split("\0"):
            if record:
                kind, path = record.split(" ", 1)
                entries.append((kind, f"{prefix}/{path}" if prefix and prefix != "." else path))
        return entries

    def stat(self, rels: Iterable[str]) -> dict[str, Stat]:
        """path → :class:`Stat` (symlinks not followed) of those of ``rels`` that exist, a batch per command."""
        paths = sorted(set(rels))
        out: dict[str, Stat] = {}
        for start in range(0, len(paths), _BATCH):
            batch = paths[start : start + _BATCH]
            fmt = "%Y\\t%Z\\t%s\\t%F\\t%a\\t%n\\0"
            _, stdout, _ = self.runner.run(["stat", "--printf", fmt, "--", *(self.abs(p) for p in batch)])
            by_abs = {self.abs(p): p for p in batch}
            for record in stdout.decode(errors="surrogateescape").split("\0"):
                fields = record.split("\t", 5)
                if len(fields) == 6 and fields[5] in by_abs:
                    kind = _KINDS.get(fields[3], "o")
                    out[by_abs[fields[5]]] = Stat(
                        int(fields[0]), int(fields[1]), int(fields[2]), kind, int(fields[4], 8)
                    )
        return out

    def walk(self, rel: str = "") -> dict[str, Stat]:
        """path → :class:`Stat` of everything under ``rel`` (not ``rel`` itself); {} if it is missing. One
        ``find``: as costly as the tree is big — for a first file list or a whole-root sync only."""
        if not self.exists(rel):
            return {}
        out = run_checked(
            self.runner,
            ["find", self.abs(rel), "-mindepth", "1", "-printf", "%T@\\t%C@\\t%s\\t%y\\t%m\\t%P\\0"],
            item=self.where(rel),
        )
        prefix = rel.strip("/")
        found: dict[str, Stat] = {}
        for record in out.decode(errors="surrogateescape").split("\0"):
            fields = record.split("\t", 5)
            if len(fields) == 6:
                path = f"{prefix}/{fields[5]}" if prefix and prefix != "." else fields[5]
                kind = fields[3] if fields[3] in ("f", "d", "l") else "o"
                found[path] = Stat(
                    int(float(fields[0])), int(float(fields[1])), int(fields[2]), kind, int(fields[4], 8)
                )
        return found

    def remove(self, rels: Iterable[str]) -> list[str]:
        """Remove the files and symlinks ``rels`` (a directory is left alone); those that were there.

        Idempotent: a second call removes nothing and returns [].
        """
        there = sorted(p for p, s in self.stat(rels).items() if s.kind != "d")
        for start in range(0, len(there), _BATCH):
            batch = there[start : start + _BATCH]
            run_checked(self.runner, ["rm", "-f", "--", *(self.abs(p) for p in batch)], item=self.where(batch[0]))
        return there

    def read(self, rel: str) -> bytes:
        return run_checked(self.runner, ["cat", "--", self.abs(rel)], item=self.where(rel))

    def sha256(self, rels: Iterable[str]) -> dict[str, str]:
        """path → hex SHA256 for the files that exist (missing ones are left out)."""
        paths = sorted(set(rels))
        out: dict[str, str] = {}
        for start in range(0, len(paths), _BATCH):
            batch = paths[start : start + _BATCH]
            _, stdout, _ = self.runner.run(["sha256sum", "--zero", "--", *(self.abs(p) for p in batch)])
            by_abs = {self.abs(p): p for p in batch}
            for record in stdout.decode(errors="surrogateescape").split("\0"):
                if record:
                    digest, path = record.split("  ", 1) if "  " in record else record.split(" *", 1)
                    if path in by_abs:
                        out[by_abs[path]] = digest.lower()
        return out

    def resolvable(self, rels: Iterable[str]) -> set[str]:
        """Those of ``rels`` that exist, following symlinks (a dangling link is not resolvable)."""
        paths = sorted(set(rels))
        found: set[str] = set()
        for start in range(0, len(paths), _BATCH):
            batch = paths[start : start + _BATCH]
            _, stdout, _ = self.runner.run(["stat", "-L", "--printf", "%n\\0", "--", *(self.abs(p) for p in batch)])
            by_abs = {self.abs(p): p for p in batch}
            found.update(by_abs[p] for p in stdout.decode(errors="surrogateescape").split("\0") if p in by_abs)
        return found

    def readlink(self, rel: str) -> str | None:
        status, out, _ = self.runner.run(["readlink", "--", self.abs(rel)])
        return out.decode(errors="surrogateescape").rstrip("\n") if status == 0 else None

    def makedirs(self, rel: str) -> None:
        run_checked(self.runner, ["mkdir", "-p", "--", self.abs(rel)], item=self.where(rel))

    def switch_symlink(self, rel: str, target: str) -> bool:
        """Point the symlink ``rel`` at ``target`` atomically: a new link under a temporary name, renamed over.

        Idempotent: a link that already points at ``target`` is left alone (returns False). Readers see the
        old target or the new one, never a missing link.
        """
        if self.readlink(rel) == target:
            return False
        link = self.abs(rel)
        parent = posixpath.dirname(link)
        tmp = posixpath.join(parent, f".{posixpath.basename(link)}.tmp-{secrets.token_hex(4)}")
        run_checked(self.runner, ["mkdir", "-p", "--", parent], item=self.where(rel))
        run_checked(self.runner, ["ln", "-s", "--", target, tmp], item=self.where(rel))
        try:
            run_checked(self.runner, ["mv", "-T", "--", tmp, link], item=self.where(rel))
        except BaseException:
            self.runner.run(["rm", "-f", "--", tmp])
            raise
        return True
