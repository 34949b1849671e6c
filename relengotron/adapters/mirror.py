"""The master mirror and its archive tree, as end of life sees them: what is there, moving a release's trees
into the archive, and the EOL marker that records the announcement.

Both trees are reached through one :class:`relengotron.tools.remote.CommandRunner` (here, or the mirror host
over SSH), via :class:`relengotron.sync.MirrorFS`; they must live on the same host (``master`` and ``archive``
of :class:`relengotron.config.MirrorLayout`, both local paths or both ``host:path`` on one host).

Moving (:meth:`MirrorTrees.move_to_archive`): on one filesystem, a single ``rename(2)`` (``mv -T`` after
checking both sides are on the same device) — mirror clients see the tree in one place or the other, never
half; on two filesystems, ``rsync -a`` into the archive then removal from the master (not atomic: the
archive fills up first, the master copy goes last).

The EOL marker (``<archive>/eol/<release id>.json``) is how "announced" is known without hidden state: it is
written right after the EOL message was published, and it holds that message's body. A crash between the
two publishes the message again on the next run (at least once, never silently lost).
"""

from __future__ import annotations

import json
import posixpath
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from relengotron.config import MirrorLayout
from relengotron.sync import Mirror, MirrorFS
from relengotron.tools.remote import SSHRunner, run_checked

EOL_MARKER_DIR = "eol"
_PLACEHOLDER_START = "{"


class MirrorError(RuntimeError):
    """The mirror is not in a state the operation can handle; the message names the path."""


def clean_relative(path: str) -> str:
    """``path`` normalised as relative to a tree (leading and trailing slashes dropped, as the EOL planner
    does); ``..`` out of the tree and the top itself are refused."""
    norm = posixpath.normpath(path.strip().strip("/")) if path.strip().strip("/") else ""
    if norm in ("", ".", "..") or norm.startswith("../"):
        raise MirrorError(f"{path!r} is not a path inside the mirror tree")
    return norm


def eol_marker(release_id: str) -> str:
    """Where the EOL marker of ``release_id`` lives, relative to the archive tree."""
    return f"{EOL_MARKER_DIR}/{clean_relative(release_id)}.json"


@dataclass(frozen=True)
class MirrorTrees:
    """The master tree (``master``) and the archive tree (``archive``) on the same host."""

    master: MirrorFS
    archive: MirrorFS

    def __post_init__(self) -> None:
        if self.master.runner.name != self.archive.runner.name:
            raise ValueError(
                f"mirror: the master ({self.master.where('')}) and the archive ({self.archive.where('')}) "
                "must be on the same host"
            )

    @classmethod
    def from_layout(cls, layout: MirrorLayout, ssh: SSHRunner | None = None) -> MirrorTrees:
        """From the release configuration's ``master`` and ``archive`` (a remote pair needs ``ssh``)."""
        return cls(Mirror.from_location(layout.master, ssh).fs(), Mirror.from_location(layout.archive, ssh).fs())

    # --- reads ------------------------------------------------------------------------------------------

    def present_paths(self, templates: Iterable[str]) -> list[str]:
        """Paths on the master mirror down to the ``{version}`` part of each template (read-only).

        For ``updates/{stream}/{version}/{arch}`` that is every ``updates/*`` and ``updates/*/*``; for
        ``releases/{version}/{kind}/{arch}`` every ``releases/*``. Templates without ``{version}`` (shared by
        all releases) list nothing.
        """
        found: set[str] = set()
        for template in templates:
            parts = [p for p in template.split("/") if p]
            first = next((i for i, p in enumerate(parts) if "{version}" in p), None)
            if first is None:
                continue
            static = next((i for i, p in enumerate(parts) if _PLACEHOLDER_START in p), len(parts))
            top = "/".join(parts[:static])
            if top and not self.master.exists(top):
                continue
            depth = first + 1 - static
            out = run_checked(
                self.master.runner,
                ["find", self.master.abs(top), "-mindepth", "1", "-maxdepth", str(depth), "-printf", "%P\\0"],
                item=f"list {self.master.where(top)}",
            )
            for name in out.decode(errors="surrogateescape").split("\0"):
                if name:
                    found.add(f"{top}/{name}" if top else name)
        return sorted(found)

    def read_marker(self, release_id: str) -> dict[str, Any] | None:
        """The EOL marker's body, or None when the release was not announced (read-only)."""
        rel = eol_marker(release_id)
        if not self.archive.exists(rel):
            return None
        try:
            body = json.loads(self.archive.read(rel))
        except ValueError as exc:
            raise MirrorError(f"{self.archive.where(rel)}: corrupt EOL marker ({exc})") from None
        if not isinstance(body, dict):
            raise MirrorError(f"{self.archive.where(rel)}: corrupt EOL marker (not a JSON object)")
        return body

    # --- writes -----------------------------------------------------------------------------------------

    def write_marker(self, release_id: str, body: dict[str, Any]) -> None:
        """Write the EOL marker (replaced whole: the file is copied under a temporary name, then renamed).

        Idempotent: writing the same body again leaves the same file.
        """
        rel = eol_marker(release_id)
        target = self.archive.abs(rel)
        run_checked(self.archive.runner, ["mkdir", "-p", "--", posixpath.dirname(target)], item=self.archive.where(rel))
        with tempfile.TemporaryDirectory(prefix="eol-marker-") as tmp:
            local = Path(tmp) / "eol.json"
            local.write_text(json.dumps(body, indent=1, sort_keys=True) + "\n")
            self.archive.runner.put(local, target)

    def move_to_archive(self, path: str) -> bool:
        """Move ``path`` (relative to both trees) from the master mirror to the archive; whether it moved.

        Idempotent: a path already gone from the master but present in the archive is done (False). After a
        crash in a copy across filesystems (both present), the copy is completed and the master's removed.
        A path in neither tree is a :class:`MirrorError` naming it (nothing to archive: something else
        removed it).
        """
        rel = clean_relative(path)
        runner = self.master.runner
        src, dst = self.master.abs(rel), self.archive.abs(rel)
        where = f"{self.master.where(rel)} -> {self.archive.where(rel)}"
        in_master, in_archive = self.master.exists(rel), self.archive.exists(rel)
        if not in_master:
            if in_archive:
                return False
            raise MirrorError(f"{self.master.where(rel)}: not on the master mirror and not in the archive")
        parent = posixpath.dirname(dst)
        run_checked(runner, ["mkdir", "-p", "--", parent], item=where)
        if not in_archive and self._device(src) == self._device(parent):
            run_checked(runner, ["mv", "-T", "--", src, dst], item=where)  # rename(2): atomic
            return True
        is_dir = runner.run(["test", "-d", src])[0] == 0
        source, dest = (f"{src}/", f"{dst}/") if is_dir else (src, dst)
        run_checked(runner, ["rsync", "-a", "--", source, dest], item=where)
        run_checked(runner, ["rm", "-rf", "--", src], item=where)
        return True

    def _device(self, path: str) -> str:
        out = run_checked(self.master.runner, ["stat", "-c", "%d", "--", path], item=f"stat {path}")
        return out.decode().strip()
