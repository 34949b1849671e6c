"""Sync the staging tree to the master mirror so that no client ever sees metadata naming missing content.

One rsync per pass, each waiting for the previous one:

1. **content** — RPMs, images, OSTree objects and deltas (``rsync -a``, nothing deleted);
2. **metadata** — repodata data files, delta indexes, JSON descriptions (``--delay-updates``);
3. **index** — repomd.xml(.asc), OSTree refs, summary(.sig), config, CHECKSUM files, website (``--delay-updates``);
4. **links** — each symlink ("latest") switched atomically: a new link under a temporary name, renamed over;
5. **delete** — files no longer in staging are removed (``--delete --existing --ignore-existing``: it
   deletes and transfers nothing), only now that no published metadata names them;

6. **file lists** — with a ``module``, Fedora's downstream-mirror lists ``fullfiletimelist-<module>`` and
   ``imagelist-<module>`` (:mod:`relengotron.sync.filelist`), updated in staging from their previous state and
   what this sync changed on the mirror, then copied: last, so they never name a file not yet there nor a
   deleted one;

then the mirror is verified. The classification of paths is :mod:`relengotron.sync.classify`. ``dry_run()``
lists what would change (``rsync --dry-run --itemize-changes``) and changes nothing.

What is synced is either some **roots** (directories walked whole, in staging and on the mirror: the EOL
carve-out and OSTree upkeep) or a push's **changes** (:class:`relengotron.sync.changeset.Changeset`: the paths
it wrote and removed). With changes, rsync is handed those paths only, only the removed ones are deleted, the
file lists are updated from the paths' entries on the mirror, and verification reads the metadata the changes
touched (:func:`relengotron.sync.verify.verify_paths`): the cost follows the push, not the mirror.

Directory and symlink times are not synced (``--omit-dir-times --omit-link-times``): links are switched
here, which touches them and their directory on the mirror.
Idempotency: a second sync (of the same roots or changes) transfers and deletes nothing. A sync killed
half-way leaves the mirror's old metadata naming old content that is still there (nothing is deleted before
the last pass); the next sync copies what is missing and finishes.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import shlex
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from relengotron.sync import filelist
from relengotron.sync.changeset import Changeset, ancestors
from relengotron.sync.classify import PASSES, Classification, Kind, PathClass, classify, classify_tree
from relengotron.sync.itemize import Change, SyncPlan, examined, parse_itemized, plan
from relengotron.sync.mirrorfs import MirrorFS, Stat
from relengotron.sync.verify import VerifyReport, is_checksum_file, is_repomd, verify_paths, verify_tree
from relengotron.tools.remote import CommandRunner, LocalRunner, SSHRunner

RSYNC = "rsync"
Observer = Callable[[str, "subprocess.Popen[bytes]"], None]


class SyncError(RuntimeError):
    """An rsync pass failed or was killed, or the mirror did not verify; the message names the pass/item."""

    def __init__(self, message: str, report: VerifyReport | None = None) -> None:
        self.report = report
        super().__init__(message)


class SyncInterrupted(SyncError):
    """An rsync pass was killed, timed out or lost its connection: transient — what it wrote is not published
    (the indexes that name content go last, deletions after them), so the same sync succeeds later."""


# rsync(1) EXIT VALUES of an interruption, not of what it was asked to do: 10 socket I/O, 12 the protocol data
# stream, 20 SIGUSR1 or SIGINT received, 30 timeout in data send/receive, 35 timeout waiting for the daemon;
# 255: ssh(1)'s, the connection to the mirror failed. Any other status (23, a file in the way; 11, the disk
# full; 1, usage) is permanent.
RSYNC_INTERRUPTED = frozenset({10, 12, 20, 30, 35, 255})


def rsync_failure(name: str, dest: str, returncode: int, stderr: bytes) -> SyncError:
    """The error of an rsync pass that ended with ``returncode`` (negative: killed by that signal); pure."""
    how = f"was killed by signal {-returncode}" if returncode < 0 else f"failed (exit {returncode})"
    detail = stderr.decode(errors="replace").strip().splitlines()[-3:]
    message = f"{name} pass to {dest}: rsync {how}: {' | '.join(detail)}"
    return SyncInterrupted(message) if returncode < 0 or returncode in RSYNC_INTERRUPTED else SyncError(message)


@dataclass(frozen=True)
class Mirror:
    """Where the master mirror is: a local directory, or ``path`` on the host an :class:`SSHRunner` reaches."""

    path: str
    ssh: SSHRunner | None = None

    @classmethod
    def from_location(cls, location: str, ssh: SSHRunner | None = None) -> Mirror:
        """``/srv/pub`` or ``host:/srv/pub`` (as in the release configuration); a remote one needs ``ssh``."""
        if ":" in location and not location.startswith("/"):
            host, path = location.split(":", 1)
            if ssh is None:
                raise ValueError(f"mirror {location}: a remote mirror needs an SSH connection")
            if host.split("@")[-1] != ssh.host:
                raise ValueError(f"mirror {location}: the SSH connection goes to {ssh.host}, not {host}")
            return cls(path=path, ssh=ssh)
        return cls(path=str(Path(location).absolute()))

    @property
    def runner(self) -> CommandRunner:
        return self.ssh if self.ssh is not None else LocalRunner()

    def fs(self) -> MirrorFS:
        return MirrorFS(self.path, self.runner)

    def rsync_dest(self, rel: str) -> str:
        path = posixpath.join(self.path, rel.strip("/")) if rel.strip("/") not in ("", ".") else self.path
        path = path.rstrip("/") + "/"
        if self.ssh is None:
            return path
        return f"{self.ssh.username}@{self.ssh.host}:{path}"

    def rsync_shell(self, known_hosts: Path) -> list[str]:
        """``-e`` options for rsync over SSH with the pinned host key; [] for a local mirror."""
        if self.ssh is None:
            return []
        entry = self.ssh.host if self.ssh.port == 22 else f"[{self.ssh.host}]:{self.ssh.port}"
        known_hosts.write_text(f"{entry} {self.ssh.host_key}\n")
        ssh = ["ssh", "-p", str(self.ssh.port), "-o", f"UserKnownHostsFile={known_hosts}"]
        ssh += ["-o", "GlobalKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes"]
        if self.ssh.key_file:
            ssh += ["-o", "IdentitiesOnly=yes", "-i", self.ssh.key_file]
        return ["-e", shlex.join(ssh)]


@dataclass(frozen=True)
class SyncResult:
    changes: dict[str, tuple[Change, ...]]  # pass name → what it changed (as rsync itemized it)
    links: tuple[str, ...]  # symlinks switched
    report: VerifyReport
    examined: int = 0  # files and symlinks the sync looked at: rsync's count per pass, links read, paths removed
    filelists: tuple[str, ...] = ()  # the downstream file lists (re)written, published last

    @property
    def transferred_paths(self) -> tuple[str, ...]:
        """Files and symlinks created or replaced on the mirror, in the order of the passes."""
        return tuple(
            c.path
            for name, found in self.changes.items()
            if name != "delete"
            for c in found
            if c.action in ("create", "update") and c.file_type in ("file", "link")
        )

    @property
    def transferred(self) -> int:
        return len(self.transferred_paths)

    @property
    def deleted(self) -> int:
        return len(self.changes.get("delete", ()))


@dataclass
class MirrorSync:
    """Sync ``changes`` (a push's changeset), or else ``roots`` (directories relative to the staging top; ""
    is all of it), of ``staging`` to ``mirror``.

    ``website`` is the website tree's path relative to the top (an index: published last). ``module``: keep
    the downstream file lists of that rsync module (e.g. "fedora") at the top; None: none. ``bwlimit``
    (KiB/s) is passed to rsync. ``observer(pass_name, process)`` is called as each rsync starts.
    """

    staging: Path
    mirror: Mirror
    roots: Sequence[str] = ("",)
    website: str | None = "website"
    bwlimit: int | None = None
    ostree_fsck: bool = False
    observer: Observer | None = None
    timeout: float | None = None
    changes: Changeset | None = None
    module: str | None = None
    refreshed: Sequence[str] = ()  # paths the mirror changed outside any sync (EOL moves): lists refreshed
    _classification: Classification | None = field(default=None, init=False, repr=False)

    def classification(self) -> Classification:
        """The files and symlinks to sync, classified (read from disk once): those under ``roots``, or the
        changes' written paths (a directory stands for everything under it).

        Raises :class:`SyncError` naming a written path missing from staging, or a removed one still there.
        """
        if self._classification is None:
            if self.changes is None:
                entries: list[tuple[str, Kind]] = []
                for root in self._roots():
                    top = self.staging / root if root else self.staging
                    if not top.is_dir():
                        raise SyncError(f"{top}: no such staging directory")
                    entries += _walk(self.staging, top)
                self._classification = classify_tree(entries, website=self.website)
            else:
                entries = self._changed_entries(self.changes)
                roots = self._ostree_roots_of([p for p, _ in entries] + list(self.changes.removed))
                self._classification = classify_tree(entries, website=self.website, roots=roots)
        return self._classification

    def _changed_entries(self, changes: Changeset) -> list[tuple[str, Kind]]:
        missing = [p for p in changes.written if not os.path.lexists(self.staging / p)]
        if missing:
            more = f" (and {len(missing) - 10} more)" if len(missing) > 10 else ""
            raise SyncError(
                f"staging {self.staging}: the changes name paths that are not there, nothing was synced: "
                f"{', '.join(missing[:10])}{more}"
            )
        kept = [p for p in changes.removed if os.path.lexists(self.staging / p)]
        if kept:
            raise SyncError(
                f"staging {self.staging}: the changes remove paths that are still there, nothing was synced: "
                f"{', '.join(kept[:10])}"
            )
        entries: dict[str, Kind] = {}
        for rel in changes.written:
            path = self.staging / rel
            if path.is_symlink():
                entries[rel] = "link"
            elif path.is_dir():
                entries[rel] = "dir"
                entries.update(_walk(self.staging, path))
            else:
                entries[rel] = "file"
        return sorted(entries.items())

    def _ostree_roots_of(self, paths: Sequence[str]) -> frozenset[str]:
        """The OSTree repositories (in staging) that hold any of ``paths``: a directory with a ``config`` file
        and an ``objects/`` directory, looked up among the paths' ancestors only."""
        seen: dict[str, bool] = {}
        for path in paths:
            for parent in ["", *ancestors(path)]:
                if parent not in seen:
                    top = self.staging / parent
                    seen[parent] = (top / "config").is_file() and (top / "objects").is_dir()
        return frozenset(p for p, is_repo in seen.items() if is_repo)

    def dry_run(self) -> SyncPlan:
        """What a sync would change, pass by pass, deletions last: the same rsync passes with ``--dry-run``.

        Changes nothing, here or on the mirror.
        """
        classes = self.classification()
        fs = self.mirror.fs()
        if not fs.exists(""):
            return plan(
                [
                    Change(path=p, action="create", file_type=classes.kinds[p], target=self._link_target(p))
                    for p, c in sorted(classes.classes.items())
                    if c != "skip"
                ],
                self._classify,
            )
        done, _, _ = self._passes(fs, dry_run=True)
        return plan([change for changes in done.values() for change in changes], self._classify)

    def sync(self) -> SyncResult:
        """Check the staging tree, run the passes (file lists last, with a ``module``), then verify the mirror.

        Raises :class:`SyncError` naming the pass or the problems; before anything is copied when the staging
        tree's own metadata names missing content, or the changes name a path staging does not have.
        Idempotent: the same sync again transfers and deletes nothing.
        """
        self.classification()
        self._check_staging()
        fs = self.mirror.fs()
        for root in self._roots() if self.changes is None else [""]:
            fs.makedirs(root)
        done, switched, count = self._passes(fs, dry_run=False)
        lists: tuple[str, ...] = ()
        if self.module:
            lists, published, listed = self._publish_lists(fs, done)
            done["filelists"] = published
            count += listed
        report = self.verify()
        if not report.ok:
            problems = "; ".join(str(p) for p in report.problems[:10])
            raise SyncError(f"{fs.where('')}: the mirror does not verify after sync: {problems}", report)
        return SyncResult(changes=done, links=switched, report=report, examined=count, filelists=lists)

    def _check_staging(self) -> None:
        """The staging tree's own metadata (what this sync carries) names only content that is there."""
        staged = self._verify(MirrorFS(str(self.staging)), fsck=False)
        if not staged.ok:
            problems = "; ".join(str(p) for p in staged.problems[:10])
            raise SyncError(f"staging {self.staging} does not verify, nothing was synced: {problems}", staged)

    def _passes(self, fs: MirrorFS, *, dry_run: bool) -> tuple[dict[str, tuple[Change, ...]], tuple[str, ...], int]:
        """Run (or, with ``dry_run``, rehearse) the passes; returns pass → itemized changes, the switched
        links, and how many files and links were examined.

        The content pass uses rsync's quick check (size and time: content files are named by version); the
        metadata and index passes compare checksums, as a ref or repomd.xml may change without changing size
        within the same second.
        """
        classes = self.classification()
        dry = ["--dry-run"] if dry_run else []
        done: dict[str, tuple[Change, ...]] = {}
        count = 0
        with tempfile.TemporaryDirectory(prefix="sync-") as tmp:
            for name in PASSES:
                files = classes.of(name)
                if not files:
                    done[name] = ()
                    continue
                done[name], seen = self._copy(name, files, Path(tmp), checksum=name != "content", dry_run=dry_run)
                count += seen
            links: list[Change] = []
            count += len(classes.of("link"))
            for link in classes.of("link"):
                target = self._link_target(link)
                current = fs.readlink(link)
                if current == target:
                    continue
                links.append(Change(link, "create" if current is None else "update", "link", target))
                if not dry_run:
                    self._switch(fs, link, target)
            done["link"] = tuple(links)
            deleted: list[Change] = []
            if self.changes is not None:
                gone = [p for p in self.changes.removed if self._classify(p, "file") != "skip"]
                count += len(gone)
                there = sorted(fs.stat(gone)) if dry_run else fs.remove(gone)
                deleted = [Change(path=p, action="delete", file_type="file") for p in there]
            for root in self._roots() if self.changes is None else []:
                if dry_run and not fs.exists(root):
                    continue
                args = ["-a", "-i", "--stats", *_QUIET_TIMES, *dry, "--delete", "--existing", "--ignore-existing"]
                out = self._rsync(
                    "delete", [*args, *self._excludes(root, classes)], self._source(root), root, Path(tmp)
                )
                count += examined(out)
                deleted += parse_itemized(out, prefix=root)
            done["delete"] = tuple(c for c in deleted if c.action == "delete")
        return done, tuple(c.path for c in links), count

    def _copy(
        self, name: str, files: Sequence[str], tmp: Path, *, checksum: bool, dry_run: bool = False
    ) -> tuple[tuple[Change, ...], int]:
        """One rsync of ``files`` (relative to the top); its itemized changes and how many files it examined."""
        args = ["-a", "-i", "--stats", *_QUIET_TIMES, "--from0", "--files-from=-"]
        args += ["--dry-run"] if dry_run else []
        args += ["--checksum", "--delay-updates"] if checksum else []
        out = self._rsync(name, args, str(self.staging) + "/", "", tmp, "\0".join(files).encode())
        return tuple(parse_itemized(out)), examined(out)

    # --- the downstream file lists -------------------------------------------------------------------------

    def _publish_lists(
        self, fs: MirrorFS, done: dict[str, tuple[Change, ...]]
    ) -> tuple[tuple[str, ...], tuple[Change, ...], int]:
        """Update the file lists in staging from the mirror's entries of what this sync touched, then copy them.

        With changes: the changed paths and the directories above them are stat'ed on the mirror (one
        ``stat`` per 200 paths). With roots: the roots are listed on the mirror (as costly as they are big).
        When staging has no previous list (the first sync, or one that cannot be read), the list is built once
        from a listing of the whole mirror. Idempotent: an unchanged list is not rewritten, and not copied.
        Returns the lists rewritten, the copy's itemized changes, and the files examined.
        """
        assert self.module
        names = (filelist.timelist_name(self.module), filelist.imagelist_name(self.module))
        previous = self._previous_list(names[0])
        if previous is None:
            stats, replace = fs.walk(""), [""]
        elif self.changes is not None:
            touched = {c.path for found in done.values() for c in found}
            touched |= {p for p in self.classification().classes} | set(self.changes.removed) | set(self.refreshed)
            touched |= {a for p in list(touched) for a in ancestors(p)}
            stats, replace = fs.stat(touched), []
            stats = {**{p: None for p in touched}, **stats}
        else:
            replace = self._roots()
            tops = {a for r in replace for a in [*ancestors(r), r] if a}
            extra = {p: None for p in self.refreshed}
            stats = {
                **extra,
                **fs.stat([*tops, *self.refreshed]),
                **{p: s for r in replace for p, s in fs.walk(r).items()},
            }
        changes = {p: _entry(p, s) for p, s in stats.items() if filelist.listed(p, self.module)}
        sums = {p: _digests(fs.read(p)) for p, e in changes.items() if e is not None and filelist.needs_checksum(p)}
        new = filelist.updated(previous or filelist.FileList(), changes, checksums=sums, replace_under=replace)
        texts = {names[0]: filelist.render(new), names[1]: filelist.render_images(new)}
        written = tuple(name for name, text in texts.items() if _write_if_changed(self.staging / name, text))
        with tempfile.TemporaryDirectory(prefix="sync-") as tmp:
            copied, seen = self._copy("filelists", names, Path(tmp), checksum=True)
        return written, copied, seen + len(stats)

    def _previous_list(self, name: str) -> filelist.FileList | None:
        path = self.staging / name
        try:
            return filelist.parse(path.read_text(errors="surrogateescape"))
        except FileNotFoundError:
            return None
        except filelist.FileListError:
            return None  # rebuilt from the mirror (see _publish_lists)

    # --- verification ----------------------------------------------------------------------------------------

    def verify(self) -> VerifyReport:
        """Check the mirror as it is now (read-only): the roots, or the metadata the changes touched."""
        return self._verify(self.mirror.fs(), fsck=self.ostree_fsck)

    def _verify(self, fs: MirrorFS, *, fsck: bool) -> VerifyReport:
        if self.changes is None:
            return verify_tree(fs, self._roots(), ostree_fsck=fsck)
        classes = self.classification()
        return verify_paths(
            fs, self._touched_metadata(), ostree_repos=classes.ostree_roots, links=classes.of("link"), ostree_fsck=fsck
        )

    def _touched_metadata(self) -> list[str]:
        """The repomd.xml of every repository holding a changed path, and the CHECKSUM files beside one (read
        from staging: the directories of the changes only)."""
        assert self.changes is not None
        paths = [*self.classification().classes, *self.changes.removed]
        found: set[str] = set()
        dirs = {posixpath.dirname(p) for p in paths}
        for directory in {a for p in paths for a in ["", *ancestors(p)]}:
            repomd = posixpath.join(directory, "repodata/repomd.xml") if directory else "repodata/repomd.xml"
            if (self.staging / repomd).is_file():
                found.add(repomd)
        for directory in dirs:
            top = self.staging / directory
            if top.is_dir():
                found.update(
                    posixpath.join(directory, p.name) if directory else p.name
                    for p in top.glob("*CHECKSUM")
                    if p.is_file()
                )
        found.update(p for p in paths if is_repomd(p) or is_checksum_file(p))
        return sorted(found)

    # --- helpers -------------------------------------------------------------------------------------------

    def _roots(self) -> list[str]:
        roots = sorted({r.strip("/") if r.strip("/") != "." else "" for r in self.roots})
        return [""] if "" in roots else roots

    def _source(self, root: str) -> str:
        return str(self.staging / root if root else self.staging).rstrip("/") + "/"

    def _classify(self, path: str, kind: Kind) -> PathClass:
        known = self.classification()
        return known.classes.get(path) or classify(path, kind=kind, roots=known.ostree_roots, website=self.website)

    def _link_target(self, path: str) -> str | None:
        full = self.staging / path
        return os.readlink(full) if full.is_symlink() else None

    def _switch(self, fs: MirrorFS, link: str, target: str | None) -> bool:
        assert target is not None
        try:
            return fs.switch_symlink(link, target)
        except Exception as exc:
            raise SyncError(f"links pass: cannot switch {fs.where(link)} to {target}: {exc}") from exc

    @staticmethod
    def _excludes(root: str, classes: Classification) -> list[str]:
        """rsync filters keeping OSTree scratch directories out (and, on the mirror, out of deletion's reach)."""
        out: list[str] = []
        for repo in sorted(classes.ostree_roots):
            if not _under(repo, root) and repo != root:
                continue
            rel = repo[len(root) :].strip("/") if root else repo
            prefix = f"/{rel}/" if rel else "/"
            out += [f"--exclude={prefix}tmp/", f"--exclude={prefix}state/", f"--exclude={prefix}.lock"]
        return out

    def _rsync(self, name: str, args: list[str], source: str, root: str, tmp: Path, stdin: bytes = b"") -> str:
        argv = [RSYNC, *args, *self.mirror.rsync_shell(tmp / "known_hosts")]
        if self.bwlimit:
            argv.append(f"--bwlimit={self.bwlimit}")
        argv += [source, self.mirror.rsync_dest(root)]
        process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if self.observer is not None:
            self.observer(name, process)
        try:
            out, err = process.communicate(stdin, timeout=self.timeout)
        except subprocess.TimeoutExpired as exc:
            process.kill()
            process.communicate()
            raise SyncInterrupted(f"{name} pass to {self.mirror.rsync_dest(root)}: rsync timed out") from exc
        if process.returncode != 0:
            raise rsync_failure(name, self.mirror.rsync_dest(root), process.returncode, err)
        return out.decode(errors="surrogateescape")


def _under(path: str, root: str) -> bool:
    return not root or path == root or path.startswith(root.rstrip("/") + "/")


_QUIET_TIMES = ["--omit-dir-times", "--omit-link-times"]


def _walk(staging: Path, top: Path) -> list[tuple[str, Kind]]:
    """(path relative to ``staging``, kind) of everything under ``top``."""
    entries: list[tuple[str, Kind]] = []
    for dirpath, dirnames, filenames in os.walk(top):
        base = Path(dirpath)
        for name in [*filenames, *dirnames]:
            path = base / name
            kind: Kind = "link" if path.is_symlink() else "dir" if name in dirnames else "file"
            entries.append((path.relative_to(staging).as_posix(), kind))
    return entries


def _entry(path: str, found: Stat | None) -> filelist.FileEntry | None:
    if found is None or found.kind == "o":
        return None
    return filelist.entry_of(
        path, mtime=found.mtime, ctime=found.ctime, size=found.size, kind=found.kind, mode=found.mode
    )


def _digests(data: bytes) -> dict[str, str]:
    """The checksums a file list gives a file (repomd.xml: small, read from the mirror)."""
    return {algo: hashlib.new(algo.lower(), data).hexdigest() for algo in filelist.CHECKSUM_ALGORITHMS}


def _write_if_changed(path: Path, text: str) -> bool:
    """Replace ``path`` whole (write beside, rename) unless it holds ``text`` already; whether it was written."""
    data = text.encode(errors="surrogateescape")
    if path.is_file() and path.read_bytes() == data:
        return False
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    return True
