"""Sync the staging tree to the master mirror so that no client ever sees metadata naming missing content.

One rsync per pass, each waiting for the previous one:

1. **content** — RPMs, images, OSTree objects and deltas (``rsync -a``, nothing deleted);
2. **metadata** — repodata data files, delta indexes, JSON descriptions (``--delay-updates``);
3. **index** — repomd.xml(.asc), OSTree refs, summary(.sig), config, CHECKSUM files, website (``--delay-updates``);
4. **links** — each symlink ("latest") switched atomically: a new link under a temporary name, renamed over;
5. **delete** — files no longer in staging are removed (``--delete --existing --ignore-existing``: it
   deletes and transfers nothing), only now that no published metadata names them;

then the mirror is verified (:func:`relengotron.sync.verify.verify_tree`). The classification of paths is
:mod:`relengotron.sync.classify`. ``dry_run()`` lists what would change (``rsync --dry-run
--itemize-changes``) and changes nothing.

Directory and symlink times are not synced (``--omit-dir-times --omit-link-times``): links are switched
here, which touches them and their directory on the mirror.
Idempotency: a second sync transfers and deletes nothing. A sync killed half-way leaves the mirror's old
metadata naming old content that is still there (nothing is deleted before the last pass); the next sync
copies what is missing and finishes.
"""

from __future__ import annotations

import os
import posixpath
import shlex
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from relengotron.sync.classify import PASSES, Classification, Kind, PathClass, classify, classify_tree
from relengotron.sync.itemize import Change, SyncPlan, parse_itemized, plan
from relengotron.sync.mirrorfs import MirrorFS
from relengotron.sync.verify import VerifyReport, verify_tree
from relengotron.tools.remote import CommandRunner, LocalRunner, SSHRunner

RSYNC = "rsync"
Observer = Callable[[str, "subprocess.Popen[bytes]"], None]


class SyncError(RuntimeError):
    """An rsync pass failed or was killed, or the mirror did not verify; the message names the pass/item."""

    def __init__(self, message: str, report: VerifyReport | None = None) -> None:
        self.report = report
        super().__init__(message)


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


@dataclass
class MirrorSync:
    """Sync ``roots`` (directories relative to the staging top; "" is all of it) of ``staging`` to ``mirror``.

    ``website`` is the website tree's path relative to the top (an index: published last). ``bwlimit``
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
    _classification: Classification | None = field(default=None, init=False, repr=False)

    def classification(self) -> Classification:
        """The staging tree's files and symlinks under ``roots``, classified (read from disk once)."""
        if self._classification is None:
            entries: list[tuple[str, Kind]] = []
            for root in self._roots():
                top = self.staging / root if root else self.staging
                if not top.is_dir():
                    raise SyncError(f"{top}: no such staging directory")
                for dirpath, dirnames, filenames in os.walk(top):
                    base = Path(dirpath)
                    for name in [*filenames, *dirnames]:
                        path = base / name
                        kind: Kind = "link" if path.is_symlink() else "dir" if name in dirnames else "file"
                        entries.append((path.relative_to(self.staging).as_posix(), kind))
            self._classification = classify_tree(entries, website=self.website)
        return self._classification

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
        done, _ = self._passes(fs, dry_run=True)
        return plan([change for changes in done.values() for change in changes], self._classify)

    def sync(self) -> SyncResult:
        """Check the staging tree, run the passes, then verify the mirror.

        Raises :class:`SyncError` naming the pass or the problems; when the staging tree's own metadata names
        missing content, before anything is copied.
        """
        self.classification()
        staged = verify_tree(MirrorFS(str(self.staging)), self._roots())
        if not staged.ok:
            problems = "; ".join(str(p) for p in staged.problems[:10])
            raise SyncError(f"staging {self.staging} does not verify, nothing was synced: {problems}", staged)
        fs = self.mirror.fs()
        for root in self._roots():
            fs.makedirs(root)
        done, switched = self._passes(fs, dry_run=False)
        report = verify_tree(fs, self._roots(), ostree_fsck=self.ostree_fsck)
        if not report.ok:
            problems = "; ".join(str(p) for p in report.problems[:10])
            raise SyncError(f"{fs.where('')}: the mirror does not verify after sync: {problems}", report)
        return SyncResult(changes=done, links=switched, report=report)

    def _passes(self, fs: MirrorFS, *, dry_run: bool) -> tuple[dict[str, tuple[Change, ...]], tuple[str, ...]]:
        """Run (or, with ``dry_run``, rehearse) the passes; returns pass → itemized changes, and switched links.

        The content pass uses rsync's quick check (size and time: content files are named by version); the
        metadata and index passes compare checksums, as a ref or repomd.xml may change without changing size
        within the same second.
        """
        classes = self.classification()
        dry = ["--dry-run"] if dry_run else []
        quiet_times = ["--omit-dir-times", "--omit-link-times"]
        done: dict[str, tuple[Change, ...]] = {}
        with tempfile.TemporaryDirectory(prefix="sync-") as tmp:
            for name in PASSES:
                files = classes.of(name)
                if not files:
                    done[name] = ()
                    continue
                args = ["-a", "-i", *quiet_times, *dry, "--from0", "--files-from=-"]
                if name != "content":
                    args += ["--checksum", "--delay-updates"]
                out = self._rsync(name, args, str(self.staging) + "/", "", Path(tmp), "\0".join(files).encode())
                done[name] = tuple(parse_itemized(out))
            links: list[Change] = []
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
            for root in self._roots():
                if dry_run and not fs.exists(root):
                    continue
                args = ["-a", "-i", *quiet_times, *dry, "--delete", "--existing", "--ignore-existing"]
                out = self._rsync(
                    "delete", [*args, *self._excludes(root, classes)], self._source(root), root, Path(tmp)
                )
                deleted += parse_itemized(out, prefix=root)
            done["delete"] = tuple(c for c in deleted if c.action == "delete")
        return done, tuple(c.path for c in links)

    def verify(self) -> VerifyReport:
        """Check the mirror as it is now (read-only)."""
        return verify_tree(self.mirror.fs(), self._roots(), ostree_fsck=self.ostree_fsck)

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
            raise SyncError(f"{name} pass to {self.mirror.rsync_dest(root)}: rsync timed out") from exc
        if process.returncode != 0:
            how = (
                f"was killed by signal {-process.returncode}"
                if process.returncode < 0
                else f"failed (exit {process.returncode})"
            )
            detail = err.decode(errors="replace").strip().splitlines()[-3:]
            raise SyncError(f"{name} pass to {self.mirror.rsync_dest(root)}: rsync {how}: {' | '.join(detail)}")
        return out.decode(errors="surrogateescape")


def _under(path: str, root: str) -> bool:
    return not root or path == root or path.startswith(root.rstrip("/") + "/")
