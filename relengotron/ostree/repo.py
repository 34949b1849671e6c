"""One OSTree repository, driven through the ``ostree`` command line.

Every method runs one or a few ``ostree`` commands and turns their output into data. A failing command raises
:class:`relengotron.tools.run.ToolError` naming the repository and the ref or commit; a logical problem (not
an archive repository, a tag that would move) raises :class:`RepoError`. Read-only methods say so; each
method that changes the repository states what a second call does.

Ref naming (see :mod:`relengotron.ostree`): ``fedora/<version>/<arch>[/<stream>]/<name>`` for the shared refs;
``tags/<ref>/<version>`` for tags.

This is the one place that knows a repository's layout (:func:`commit_object`, :func:`delta_superblock`,
``refs/heads``, ``summary``, ``summary.sig``): the signers (:mod:`relengotron.signing`) and the mirror check
(:mod:`relengotron.sync.verify`) read repositories through it.
"""

from __future__ import annotations

import base64
import fcntl
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from relengotron.ostree import gvariant_binary, gvariant_text
from relengotron.ostree.signer import OSTreeSigner
from relengotron.tools.run import run

OSTREE = "ostree"
TAG_PREFIX = "tags/"
_CHECKSUM = re.compile(r"^[0-9a-f]{64}$")
_REF = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._\-]*(/[A-Za-z0-9_][A-Za-z0-9._\-]*)*$")
_KEY_ID = re.compile(r"key ID ([0-9A-Fa-f]{16})")
_DELTA = re.compile(r"^(?:[0-9a-f]{64}-)?[0-9a-f]{64}$")  # "FROM-TO", or "TO" for a delta from nothing


class RepoError(RuntimeError):
    """The repository is not what the operation needs; the message names the repository and the item."""


def is_checksum(text: str) -> bool:
    return bool(_CHECKSUM.match(text))


def check_ref(ref: str) -> str:
    """``ref`` if it is a valid ref name, else :class:`ValueError` naming it."""
    if not _REF.match(ref) or ".." in ref:
        raise ValueError(f"{ref!r} is not a valid ostree ref name")
    return ref


def commit_object(commit: str) -> str:
    """``objects/xx/yyy.commit``: where a repository keeps the commit ``commit`` (a full checksum), relative to it."""
    if not is_checksum(commit):
        raise ValueError(f"{commit!r} is not a full 64-digit commit checksum")
    return f"objects/{commit[:2]}/{commit[2:]}.commit"


def delta_superblock(name: str) -> str:
    """``deltas/XX/REST[-TO]/superblock`` for the static delta ``[FROM-]TO`` (hex), in OSTree's modified base64."""

    def b64(checksum: str) -> str:
        return base64.b64encode(bytes.fromhex(checksum)).decode().rstrip("=").replace("/", "_")

    parts = [b64(p) for p in name.split("-")]
    return f"deltas/{parts[0][:2]}/{parts[0][2:]}{''.join('-' + p for p in parts[1:])}/superblock"


def tag_ref(ref: str, version: str) -> str:
    """The tag naming release ``version`` of ``ref``: ``tags/fedora/24/x86_64/atomic-host/24.20160614.0``."""
    return check_ref(f"{TAG_PREFIX}{ref}/{version}")


@dataclass(frozen=True)
class CommitInfo:
    checksum: str
    parent: str | None
    content_checksum: str  # of the tree alone: equal trees have equal content checksums
    timestamp: int  # seconds since the epoch
    subject: str
    metadata: dict[str, Any]
    signatures: tuple[str, ...]  # 16-hex-digit ids (upper case) of the keys of the detached GPG signatures


@dataclass(frozen=True)
class LogEntry:
    checksum: str
    parent: str | None
    timestamp: int


@dataclass(frozen=True)
class SummaryView:
    refs: dict[str, str]  # ref → commit, as the summary file lists them
    deltas: frozenset[str]  # "FROM-TO" (or "TO") names of the static deltas it lists
    signed: bool  # summary.sig is there


class OSTreeRepo:
    """The repository at ``path`` (which need not exist yet: see :meth:`init`)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).absolute()

    def __repr__(self) -> str:
        return f"OSTreeRepo({str(self.path)!r})"

    # --- running ostree -------------------------------------------------------------------------------------
    def _ostree(self, *args: str, item: str, timeout: float | None = None) -> str:
        result = run([OSTREE, args[0], f"--repo={self.path}", *args[1:]], item=item, timeout=timeout)
        return result.stdout.decode(errors="replace")

    def _item(self, what: str) -> str:
        return f"{what} in {self.path}"

    # --- the repository -------------------------------------------------------------------------------------
    def exists(self) -> bool:
        return (self.path / "config").is_file() and (self.path / "objects").is_dir()

    def mode(self) -> str:
        """``core.mode`` from the repository's config (read-only); RepoError if it is not a repository."""
        if not self.exists():
            raise RepoError(f"{self.path}: not an ostree repository")
        for line in (self.path / "config").read_text(encoding="utf-8").splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "mode":
                return value.strip()
        return "bare"

    def init(self, mode: str = "archive") -> OSTreeRepo:
        """Create the repository in ``mode`` unless it exists.

        Idempotent: an existing repository of that mode is left untouched; one of another mode is a
        :class:`RepoError` (``archive`` and its old name ``archive-z2`` are the same mode).
        """
        if self.exists():
            have = self.mode()
            if {have, mode} <= {"archive", "archive-z2"} or have == mode:
                return self
            raise RepoError(f"{self.path}: repository mode is {have}, not {mode}")
        self.path.mkdir(parents=True, exist_ok=True)
        run([OSTREE, "init", f"--repo={self.path}", f"--mode={mode}"], item=f"init {self.path}")
        return self

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold an exclusive advisory lock on the repository directory (no file is created).

        Serialises releng-o-tron's multi-step writers (merge, prune, EOL, tagging) on this host: prune must
        never run between a merge's object pull and its ref move, or it would delete the objects of the commit
        about to appear. Not re-entrant: do not take it again while holding it.
        """
        fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def object_count(self) -> int:
        """How many objects (files under ``objects/``) the repository holds (read-only)."""
        return sum(len(files) for _, _, files in os.walk(self.path / "objects"))

    def fsck(self) -> None:
        """``ostree fsck``: every object is checked; a ToolError names the repository on corruption."""
        self._ostree("fsck", "--quiet", item=self._item("fsck"))

    # --- refs and commits -----------------------------------------------------------------------------------
    def refs(self, prefix: str | None = None) -> dict[str, str]:
        """Local refs → commit checksum (read-only), optionally only those under ``prefix``."""
        heads = self.path / "refs" / "heads"
        out: dict[str, str] = {}
        for dirpath, _, files in os.walk(heads):
            for name in files:
                path = Path(dirpath) / name
                ref = path.relative_to(heads).as_posix()
                if prefix and not (ref == prefix or ref.startswith(prefix.rstrip("/") + "/")):
                    continue
                value = path.read_text(encoding="ascii").strip()
                if is_checksum(value):
                    out[ref] = value
        return dict(sorted(out.items()))

    def rev_parse(self, rev: str) -> str | None:
        """The commit a ref (or ``ref^``, or a checksum) names; None when there is no such ref (read-only)."""
        result = run([OSTREE, "rev-parse", f"--repo={self.path}", rev], item=self._item(rev), check=False)
        if result.returncode != 0:
            return None
        value = result.stdout.decode().strip()
        return value if is_checksum(value) else None

    def commit_path(self, commit: str) -> Path:
        """The commit object's file (ValueError unless ``commit`` is a full checksum)."""
        return self.path / commit_object(commit)

    def commitmeta_path(self, commit: str) -> Path:
        """The commit's detached metadata (its GPG signatures): ``objects/xx/yyy.commitmeta``."""
        return self.commit_path(commit).with_suffix(".commitmeta")

    def has_commit(self, checksum: str) -> bool:
        """Whether the commit object is present (read-only)."""
        return is_checksum(checksum) and self.commit_path(checksum).is_file()

    def reachable_objects(self, commit: str) -> set[str]:
        """The object files (relative to the repository) of ``commit`` in an archive repository: the commit,
        and every dirtree, dirmeta and file object of its tree (``ostree ls -R -C``). Read-only."""
        text = self._ostree("ls", "-R", "-C", commit, item=self._item(f"commit {commit}"))
        found = {commit_object(commit)}
        for line in text.splitlines():
            fields = line.split()
            if len(fields) < 5 or not fields[0]:
                continue
            if fields[0].startswith("d") and len(fields) >= 6:
                found |= {_object(fields[4], "dirtree"), _object(fields[5], "dirmeta")}
            elif is_checksum(fields[4]):
                found.add(_object(fields[4], "filez"))
        return found

    def release_files(self, commit: str, since: str | None) -> list[str]:
        """The files (relative to the repository) that a copy of it holding everything of commit ``since``
        (None: nothing) lacks to serve ``commit``: the objects reachable from ``commit`` and not from
        ``since``, the detached metadata, the static deltas to ``commit`` and its delta index.

        Read-only; the cost is one ``ostree ls -R`` of each commit (their trees), never the whole repository.
        """
        objects = self.reachable_objects(commit)
        if since and since != commit and self.has_commit(since):
            objects -= self.reachable_objects(since)
        elif since == commit:
            objects = {commit_object(commit)}
        files = set(objects)
        if self.commitmeta_path(commit).is_file():
            files.add(str(self.commitmeta_path(commit).relative_to(self.path)))
        for name in self.static_deltas():
            if name.split("-")[-1] == commit:
                folder = self.path / delta_superblock(name).rsplit("/", 1)[0]
                files |= {str(p.relative_to(self.path)) for p in folder.iterdir() if p.is_file()}
        head = delta_superblock(commit).split("/")  # deltas/XX/REST/superblock: XX/REST is the commit in base64
        index = f"delta-indexes/{head[1]}/{head[2]}.index"
        if (self.path / index).is_file():
            files.add(index)
        return sorted(files)

    def show(self, rev: str) -> CommitInfo:
        """Everything about one commit (read-only); RepoError naming ``rev`` when it does not exist."""
        checksum = rev if is_checksum(rev) else self.rev_parse(rev)
        if checksum is None or not self.has_commit(checksum):
            raise RepoError(f"{self.path}: no commit {rev}")
        text = self._ostree("show", checksum, item=self._item(f"commit {checksum}"))
        content = re.search(r"^ContentChecksum:\s+([0-9a-f]{64})$", text, re.MULTILINE)
        if not content:
            raise RepoError(f"{self.path}: ostree show printed no ContentChecksum for {checksum}")
        raw_text = self._ostree("show", "--raw", checksum, item=self._item(f"commit {checksum}"))
        # "commit <checksum>", then the variant on one line (newlines in strings are escaped), then signatures
        lines = raw_text.splitlines()
        raw = gvariant_text.parse(lines[1] if lines and lines[0].startswith("commit ") else lines[0])
        metadata, parent, _related, subject, _body, timestamp = raw[:6]
        return CommitInfo(
            checksum=checksum,
            parent=bytes(parent).hex() if parent else None,
            content_checksum=content.group(1),
            timestamp=int(timestamp),
            subject=subject,
            metadata=dict(metadata),
            signatures=tuple(dict.fromkeys(m.upper() for m in _KEY_ID.findall(text))),
        )

    def log(self, rev: str) -> list[LogEntry]:
        """The history from ``rev`` back to the first commit that is present, newest first (read-only)."""
        text = self._ostree("log", rev, item=self._item(f"log of {rev}"))
        entries: list[LogEntry] = []
        checksum: str | None = None
        parent: str | None = None
        for line in text.splitlines():
            if line.startswith("commit "):
                checksum, parent = line.split()[1], None
            elif line.startswith("Parent:") and checksum:
                parent = line.split()[1]
            elif line.startswith("Date:") and checksum:
                entries.append(LogEntry(checksum, parent, _parse_date(line.split(":", 1)[1].strip())))
                checksum = None
        return entries

    def commit(
        self,
        *,
        trees: Sequence[str],
        subject: str,
        body: str | None = None,
        branch: str | None = None,
        parent: str | None = None,
        metadata: Mapping[str, str | Sequence[str] | Sequence[Sequence[str]]] | None = None,
        keep_metadata: Sequence[str] = (),
        timestamp: int | None = None,
        tar_autocreate_parents: bool = False,
        item: str | None = None,
    ) -> str:
        """Write a commit of ``trees`` (``dir=PATH``, ``tar=FILE``, ``ref=COMMIT``, overlaid in order).

        Without ``branch`` the commit is an orphan (no ref moves). Every file is owned by root and extended
        attributes are not imported, so equal inputs give equal content checksums on any host. Metadata
        values are strings, string arrays or arrays of string tuples (all of one width).
        Not idempotent by itself (a commit has a timestamp): callers
        compare content checksums first.
        """
        args = ["commit", f"--subject={subject}", "--owner-uid=0", "--owner-gid=0", "--no-xattrs"]
        # No ref bindings: a client pulling a tag would reject a commit bound to the branch it was made on.
        args.append(f"--branch={check_ref(branch)}" if branch else "--orphan")
        args.append("--no-bindings")
        if body:
            args.append(f"--body={body}")
        if parent:
            args.append(f"--parent={parent}")
        if timestamp is not None:
            args.append(f"--timestamp=@{timestamp}")
        if tar_autocreate_parents:
            args.append("--tar-autocreate-parents")
        for key, value in (metadata or {}).items():
            if isinstance(value, str):
                args.append(f"--add-metadata-string={key}={value}")
            elif value and not isinstance(value[0], str):  # string tuples: rpm-ostree's a(sssss) package list
                tuples = [tuple(v) for v in value]
                args.append(f"--add-metadata={key}={gvariant_text.encode_string_tuples(tuples, len(tuples[0]))}")
            else:
                args.append(f"--add-metadata={key}={gvariant_text.encode_strings(list(value))}")
        args += [f"--keep-metadata={key}" for key in keep_metadata]
        args += [f"--tree={tree}" for tree in trees]
        out = self._ostree(*args, item=item or self._item(f"commit {branch or subject}")).strip()
        if not is_checksum(out):
            raise RepoError(f"{self.path}: ostree commit printed {out!r}, not a checksum")
        return out

    def set_ref(self, ref: str, commit: str) -> None:
        """Point ``ref`` at ``commit`` (created or moved; the ref file is replaced atomically).

        Idempotent: pointing it where it already points changes nothing.
        """
        if self.refs(ref).get(ref) == commit:
            return
        if not self.has_commit(commit):
            raise RepoError(f"{self.path}: cannot point {ref} at {commit}: no such commit")
        self._ostree("refs", f"--create={check_ref(ref)}", "--force", commit, item=self._item(ref))

    def create_tag(self, ref: str, version: str, commit: str) -> str:
        """Create the tag ``tags/<ref>/<version>`` on ``commit``; returns the tag's name.

        Idempotent: an existing tag on the same commit is left alone. Tags never move: an existing tag on
        another commit is a :class:`RepoError` naming it.
        """
        tag = tag_ref(ref, version)
        existing = self.refs(tag).get(tag)
        if existing == commit:
            return tag
        if existing is not None:
            raise RepoError(f"{self.path}: tag {tag} already names commit {existing}, not {commit}")
        self.set_ref(tag, commit)
        return tag

    # --- moving objects between repositories ----------------------------------------------------------------
    def pull_local(self, source: str | Path, revs: Sequence[str], *, depth: int = 0) -> None:
        """Copy ``revs`` (commits or refs of ``source``) with their objects and signatures into this repository.

        With refs, the same refs are created or moved here. Idempotent: objects already present are not copied
        again. Every object's checksum is verified (``--untrusted``).
        """
        self._ostree(
            "pull-local",
            "--untrusted",
            f"--depth={depth}",
            str(source),
            *revs,
            item=f"pull-local {' '.join(revs)} from {source} into {self.path}",
        )

    def pull_url(self, remote: str, url: str, revs: Sequence[str], *, timeout: float | None = None) -> None:
        """Pull ``revs`` from ``url`` through a remote named ``remote`` (added without GPG checks if missing).

        Meant for exact commit checksums learned over an authenticated channel: the pull verifies every object
        against the commit's checksum, so the transport needs no signature. Idempotent like :meth:`pull_local`.
        """
        self._ostree("remote", "add", "--if-not-exists", "--no-gpg-verify", remote, url, item=self._item(remote))
        self._ostree("pull", remote, *revs, item=f"pull {' '.join(revs)} from {url}", timeout=timeout)

    # --- deltas and the summary ---------------------------------------------------------------------------
    def static_deltas(self) -> frozenset[str]:
        """Names of the static deltas present: ``FROM-TO`` (read-only)."""
        text = self._ostree("static-delta", "list", item=self._item("static deltas"))
        return frozenset(line.strip() for line in text.splitlines() if _DELTA.match(line.strip()))

    def generate_static_delta(self, from_commit: str, to_commit: str) -> bool:
        """Generate the static delta ``from_commit`` → ``to_commit``; returns whether one was generated.

        Idempotent: an existing delta is kept.
        """
        if f"{from_commit}-{to_commit}" in self.static_deltas():
            return False
        self._ostree(
            "static-delta",
            "generate",
            f"--from={from_commit}",
            f"--to={to_commit}",
            item=self._item(f"static delta {from_commit[:12]}→{to_commit[:12]}"),
        )
        return True

    def delete_static_delta(self, name: str) -> None:
        """Remove one static delta. Idempotent: a missing delta is not an error."""
        if name in self.static_deltas():
            self._ostree("static-delta", "delete", name, item=self._item(f"static delta {name}"))

    def summary(self) -> SummaryView | None:
        """What the summary file lists (read-only); None when there is no summary.

        Read from the file itself (:mod:`.gvariant_binary`); an unreadable one raises its GVariantError.
        """
        path = self.path / "summary"
        if not path.is_file():
            return None
        data = path.read_bytes()
        return SummaryView(
            refs=gvariant_binary.summary_refs(data),
            deltas=gvariant_binary.summary_deltas(data),
            signed=(self.path / "summary.sig").is_file(),
        )

    def summary_current(self) -> bool:
        """Whether the summary lists exactly the present refs, their commits and the static deltas (read-only).

        A missing or unreadable summary is not current.
        """
        try:
            view = self.summary()
        except gvariant_binary.GVariantError:
            return False
        return view is not None and view.refs == self.refs() and view.deltas == self.static_deltas()

    def update_summary(self, signer: OSTreeSigner | None) -> bool:
        """Regenerate the summary, signed by ``signer`` when given; returns whether it was rewritten.

        Idempotent: a summary that already lists the current refs and deltas (and, with a signer, carries a
        good signature by its key) is not rewritten.
        """
        if signer is not None:
            return signer.sign_ostree_summary(self.path).action == "signed"
        if self.summary_current():
            return False
        self._ostree("summary", "-u", item=self._item("summary"))
        return True

    # --- pruning --------------------------------------------------------------------------------------------
    def delete_commit(self, commit: str) -> int:
        """Delete one commit object and everything no ref reaches any more (``prune --refs-only``).

        Returns how many objects were deleted. Idempotent: a commit that is already gone is skipped (0).
        ostree refuses to delete a commit a ref points at.
        """
        if not self.has_commit(commit):
            return 0
        out = self._ostree("prune", "--refs-only", f"--delete-commit={commit}", item=self._item(f"commit {commit}"))
        return _deleted(out)

    def prune_unreachable(self) -> int:
        """Delete every object no ref reaches (``prune --refs-only``); how many. Idempotent."""
        return _deleted(self._ostree("prune", "--refs-only", item=self._item("prune")))


def _object(checksum: str, kind: str) -> str:
    return f"objects/{checksum[:2]}/{checksum[2:]}.{kind}"


def _deleted(output: str) -> int:
    match = re.search(r"Deleted (\d+) objects", output)
    return int(match.group(1)) if match else 0


def _parse_date(text: str) -> int:
    """``2016-06-14 12:00:00 +0000`` (ostree log's format) → seconds since the epoch."""
    try:
        return int(datetime.strptime(text, "%Y-%m-%d %H:%M:%S %z").timestamp())
    except ValueError as exc:
        raise RepoError(f"ostree log printed an unreadable date {text!r}") from exc
