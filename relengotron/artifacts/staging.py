"""The staging tree as a publisher: what is released there, under its lock, and carried to the master mirror.

Pushes, the EOL carve-out and OSTree maintenance all change what clients pull — the staging tree's OSTree
repository and files — and each must then carry the change to the master mirror, without racing a promotion
or another sync. :class:`StagingTree` is that one path: :meth:`StagingTree.locked` for writing, and
:meth:`StagingTree.sync` (which takes the lock itself) for the two-pass sync of some roots.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from relengotron.artifacts.base import staging_lock, staging_ostree_repo
from relengotron.config import MirrorLayout
from relengotron.ostree.repo import OSTreeRepo
from relengotron.sync import Mirror, MirrorSync
from relengotron.tools.remote import SSHRunner


@dataclass(frozen=True)
class StagingTree:
    """The staging tree of ``layout`` and the master mirror it is synced to (``bwlimit`` in KiB/s).

    ``ssh`` says how to reach a remote master mirror (``host:/path``): asked for only when the mirror is first
    used, so writing the staging tree never needs the mirror host's connection.
    """

    layout: MirrorLayout
    ssh: Callable[[], SSHRunner | None] = lambda: None
    bwlimit: int | None = None

    @classmethod
    def from_layout(
        cls,
        layout: MirrorLayout,
        ssh: SSHRunner | Callable[[], SSHRunner | None] | None = None,
        bwlimit: int | None = None,
    ) -> StagingTree:
        """From the release configuration's mirror layout (a remote master mirror needs ``ssh``: a runner, or
        what makes one on first use)."""
        return cls(layout, ssh if callable(ssh) else (lambda: ssh), bwlimit)

    @cached_property
    def mirror(self) -> Mirror:
        """The master mirror; ValueError naming it when it is remote and there is no SSH connection to it."""
        return Mirror.from_location(self.layout.master, self.ssh())

    @property
    def top(self) -> Path:
        return Path(self.layout.staging)

    @property
    def ostree_repo(self) -> OSTreeRepo:
        """The released OSTree repository: what clients pull (through the mirror)."""
        return staging_ostree_repo(self.layout)

    @property
    def ostree_root(self) -> str:
        """The OSTree repository's directory relative to the staging top (a sync root)."""
        return self.layout.ostree.strip("/")

    def locked(self) -> AbstractContextManager[None]:
        """The staging tree's exclusive lock (not re-entrant): hold it while writing released content."""
        return staging_lock(self.layout)

    def sync(self, roots: Iterable[str], *, dry_run: bool = False) -> dict[str, list[str]]:
        """Sync ``roots`` (those that exist) to the master mirror under the lock; the changed paths per pass,
        or ``{"planned": [...]}`` for a dry run.

        Idempotent: a mirror already equal to the staging roots gets nothing written (every pass empty).
        Raises :class:`relengotron.sync.SyncError` naming the pass when rsync fails or the mirror does not
        verify; a sync killed half-way is completed by the next one.
        """
        present = [r for r in dict.fromkeys(roots) if (self.top / r).is_dir()]
        if not present:
            return {}
        sync = MirrorSync(
            self.top, self.mirror, roots=present, website=self.layout.website.strip("/"), bwlimit=self.bwlimit
        )
        with self.locked():
            if dry_run:
                return {"planned": sync.dry_run().lines()}
            result = sync.sync()
        return {name: [c.path for c in found] for name, found in result.changes.items()}
