"""The staging tree as a publisher: what is released there, under its lock, and carried to the master mirror.

Pushes, the EOL carve-out and OSTree maintenance all change what clients pull — the staging tree's OSTree
repository and files — and each must then carry the change to the master mirror, without racing a promotion
or another sync. :class:`StagingTree` is that one path: :meth:`StagingTree.locked` for writing, and
:meth:`StagingTree.sync` (which takes the lock itself) for the passes of the sync: of a push's changes
(:class:`relengotron.sync.Changeset`, its cost following the push) or of some roots walked whole (the EOL
carve-out, OSTree upkeep, the website). Every sync keeps the downstream mirrors' file lists of the layout's
``module`` (:mod:`relengotron.sync.filelist`).
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
from relengotron.sync import Changeset, Mirror, MirrorSync, SyncResult
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

    def sync(
        self,
        roots: Iterable[str] = (),
        *,
        changes: Changeset | None = None,
        ostree_refs: Iterable[str] = (),
        dry_run: bool = False,
    ) -> dict[str, list[str]]:
        """Sync ``changes`` — or else ``roots`` (those that exist) — to the master mirror under the lock; the
        changed paths per pass, or ``{"planned": [...]}`` for a dry run. ``ostree_refs``: with ``changes``,
        add what the released OSTree repository's refs need (:meth:`ostree_changes`, found under the same
        lock, so that no promotion moves a ref in between).

        Idempotent: a mirror already equal to staging gets nothing written (every pass empty). Raises
        :class:`relengotron.sync.SyncError` naming the pass when rsync fails or the mirror does not verify,
        and naming the path when the changes name one staging does not have (then nothing is copied); a sync
        killed half-way is completed by the next one.
        """
        if dry_run:
            with self.locked():
                sync = self._sync(roots, changes, ostree_refs)
                return {} if sync is None else {"planned": sync.dry_run().lines()}
        result = self.sync_result(roots, changes=changes, ostree_refs=ostree_refs)
        if result is None:
            return {}
        return {name: [c.path for c in found] for name, found in result.changes.items()}

    def sync_result(
        self, roots: Iterable[str] = (), *, changes: Changeset | None = None, ostree_refs: Iterable[str] = ()
    ) -> SyncResult | None:
        """:meth:`sync`, returning the :class:`relengotron.sync.SyncResult` (what each pass changed, how many
        files were examined and transferred); None when there is nothing to sync."""
        with self.locked():
            sync = self._sync(roots, changes, ostree_refs)
            return None if sync is None else sync.sync()

    def _sync(self, roots: Iterable[str], changes: Changeset | None, ostree_refs: Iterable[str]) -> MirrorSync | None:
        """Under the lock."""
        refs = list(ostree_refs)
        if changes is not None and refs:
            changes = changes | self.ostree_changes(refs)
        present = [r for r in dict.fromkeys(roots) if (self.top / r).is_dir()]
        if changes is None and not present:
            return None
        return MirrorSync(
            self.top,
            self.mirror,
            roots=present or ("",),
            changes=changes,
            website=self.layout.website.strip("/"),
            bwlimit=self.bwlimit,
            module=self.layout.module,
        )

    def refresh_file_lists(self, paths: Iterable[str]) -> bool:
        """Bring the downstream file lists up to date for ``paths`` the mirror changed outside any sync (the
        EOL's moves of whole trees to the archive: a path gone drops everything under it), under the lock.
        Whether a list was rewritten. Idempotent: a second call rewrites nothing."""
        sync = MirrorSync(
            self.top, self.mirror, changes=Changeset(), website=None, module=self.layout.module, refreshed=list(paths)
        )
        with self.locked():
            return bool(sync.sync().filelists)

    def ostree_changes(self, refs: Iterable[str]) -> Changeset:
        """What the sync must carry for the released OSTree repository's ``refs``: the files the promotions
        wrote, found without walking the repository (its ``objects/`` holds every file of every release).

        For each ref, the objects reachable from the staging head and not from the head the MASTER MIRROR's
        ref names (:meth:`OSTreeRepo.release_files`: one ``ostree ls -R`` of each commit, and one read of the
        mirror's ref file) — not the head before the promotion: so a promotion whose sync failed, or one
        made by an earlier push, is carried too. The head's detached metadata, static deltas and delta index,
        every ref file (``refs/``: a few files), ``summary``, ``summary.sig`` and ``config`` go along
        (rsync skips what is already there). Since every ref file and the summary go, so do the new objects of
        EVERY ref of the repository whose head the mirror lacks, not only of ``refs``: another push may have
        promoted its ref without having synced yet, and the summary published here names that head. A mirror
        ref missing, or naming a commit staging no longer has, means every object of the head. Read-only.
        """
        repo, root = self.ostree_repo, self.ostree_root
        if not repo.exists():
            return Changeset()
        fs = self.mirror.fs()
        written: set[str] = set()
        top = repo.path
        heads = top / "refs" / "heads"
        every = [p.relative_to(heads).as_posix() for p in heads.rglob("*") if p.is_file()] if heads.is_dir() else []
        for ref in dict.fromkeys([*refs, *sorted(every)]):
            head = repo.rev_parse(ref)
            if head is None:
                continue
            mirrored = None
            if fs.exists(f"{root}/refs/heads/{ref}"):
                mirrored = fs.read(f"{root}/refs/heads/{ref}").decode(errors="replace").strip() or None
            if mirrored != head:
                written.update(repo.release_files(head, mirrored))
        # every ref (a few files) and the refs/ skeleton the ostree tools expect (an empty refs/remotes …)
        written.update(str(p.relative_to(top)) for p in (top / "refs").iterdir() if p.is_dir())
        written.update(str(p.relative_to(top)) for p in (top / "refs").rglob("*") if p.is_file() or p.is_symlink())
        written.update(name for name in ("summary", "summary.sig", "config") if (top / name).is_file())
        return Changeset.of(f"{root}/{p}" for p in written)
