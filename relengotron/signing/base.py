"""The signing interface: one set of operations, with "check before signing" done once for every backend.

A :class:`Signer` signs RPMs, OSTree commits and summaries, image CHECKSUM files and yum ``repomd.xml`` with
one key. Every operation first looks at what is already there: content already signed by this key is left
untouched ("already-signed"), content signed by another key is an error naming the item and both keys (an
RPM is never silently re-signed). Backends (:mod:`.local` with a GNUPGHOME, :mod:`.sigul` over SSH) only
supply the raw signing primitives; the checks, the verification of what came back and the atomic
replacement of files live here. OSTree repositories are read through :class:`relengotron.ostree.repo.OSTreeRepo`
(their layout, refs and summary) and the OSTree code signs through this interface directly.
"""

from __future__ import annotations

import hashlib
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from relengotron.ostree import gvariant_binary
from relengotron.ostree.repo import OSTreeRepo
from relengotron.signing.checksum import ChecksumEntry, is_clearsigned, render_checksums, signed_body
from relengotron.signing.verify import Keyring, SignatureCheck
from relengotron.tools import rpmsign
from relengotron.tools.files import write_atomic

Action = Literal["signed", "already-signed"]


class SigningError(RuntimeError):
    """Signing failed or produced something that does not verify; the message names the item."""


class SignatureConflict(SigningError):
    """The item already carries a signature by another key; it is never replaced silently."""

    def __init__(self, item: str | Path, existing: str, wanted: str) -> None:
        self.item = str(item)
        self.existing = existing
        self.wanted = wanted
        super().__init__(
            f"{item}: already signed with key {existing}, not with {wanted}; refusing to replace the signature"
        )


@dataclass(frozen=True)
class SignResult:
    item: str  # the file path, or "repo@commit" for an OSTree commit
    action: Action


class Signer(ABC):
    """Sign release content with one key. ``key_id`` is the 8-hex-digit id (Koji's sigkey)."""

    key_id: str
    name: str  # where the key lives, for messages: "gpg:/path/to/gnupg", "sigul:fedora-24@bridge"

    def __init__(self) -> None:
        self._keyring: Keyring | None = None

    # --- what a backend provides -------------------------------------------------------------------------

    @abstractmethod
    def public_key(self) -> str:
        """The ASCII-armored public key of the signing key (read-only)."""

    @abstractmethod
    def _sign_rpm_files(self, paths: Sequence[Path]) -> None:
        """Sign these unsigned RPMs in place (each replaced whole)."""

    @abstractmethod
    def _detach_sign(self, path: Path, *, armor: bool) -> bytes:
        """A detached signature over the file ``path``."""

    @abstractmethod
    def _clearsign(self, path: Path) -> bytes:
        """The clear-signed form of the text file ``path``."""

    @abstractmethod
    def _sign_commit(self, repo: Path, commit: str) -> None:
        """Add this key's signature to the commit's detached metadata."""

    @abstractmethod
    def _sign_summary(self, repo: Path, *, regenerate: bool) -> None:
        """(Regenerate the summary when asked, then) leave a summary.sig holding this key's signature."""

    # --- the operations ----------------------------------------------------------------------------------

    @property
    def keyring(self) -> Keyring:
        """The public key, checked once to be the key ``key_id`` names."""
        if self._keyring is None:
            keyring = Keyring(self.public_key())
            if not keyring.fingerprint.endswith(self.key_id.upper()):
                raise SigningError(
                    f"{self.name}: the signing key is {keyring.fingerprint[-8:].lower()} "
                    f"({keyring.fingerprint}), not the configured key {self.key_id}"
                )
            self._keyring = keyring
        return self._keyring

    @property
    def fingerprint(self) -> str:
        return self.keyring.fingerprint

    def check(self) -> None:
        """Raise :class:`SigningError` now, before anything is written, when this signer cannot sign (read-only).

        Checks that the signing key is the configured one; backends add what they can check cheaply.
        """
        self._check_key()

    def export_public_key(self, dest: Path) -> Path:
        """Write the armored public key to ``dest``. Idempotent: same bytes every time, replaced atomically."""
        return write_atomic(dest, self.keyring.armored.encode())

    def sign_rpms(self, paths: Iterable[str | Path]) -> list[SignResult]:
        """Sign every RPM in ``paths`` in place with this key.

        Idempotent: RPMs already signed by this key are not touched; only unsigned ones are signed, so a run
        after a crash half-way signs the rest. An RPM signed by another key raises :class:`SignatureConflict`
        naming it and both keys before anything is signed. Afterwards every signature is verified against
        the public key (:class:`SigningError` naming the RPM if one does not verify).
        """
        files = [Path(p) for p in paths]
        if not files:
            return []
        keyring = self._check_key()
        found = rpmsign.signing_key_ids(files)
        for path in files:
            if found[path] and found[path] != self.key_id:
                raise SignatureConflict(path, found[path], self.key_id)
        todo = [path for path in files if not found[path]]
        if todo:
            self._sign_rpm_files(todo)
        with tempfile.TemporaryDirectory(prefix="signkey-") as tmp:
            key_file = Path(tmp) / "key.asc"
            key_file.write_text(keyring.armored)
            try:
                signed = rpmsign.verify_rpms(files, [key_file])
            except rpmsign.RpmVerifyError as exc:
                raise SigningError(f"{exc.path}: after signing with {self.key_id}: {exc}") from exc
        for path in files:
            if signed[path] != self.key_id:
                raise SigningError(f"{path}: signed with {signed[path] or 'no key'}, expected {self.key_id}")
        todo_set = set(todo)
        return [SignResult(str(p), "signed" if p in todo_set else "already-signed") for p in files]

    def sign_ostree_commit(self, repo: Path, rev: str) -> SignResult:
        """Sign the commit ``rev`` (a ref or checksum) of ``repo`` with this key.

        Idempotent: a commit that already carries a good signature by this key is left untouched (so a second
        run adds no second signature). Signatures by other keys are kept: an OSTree commit may carry several.
        """
        ostree = self._ostree_repo(repo)
        self._check_key()
        commit = ostree.rev_parse(rev)
        if commit is None or not ostree.has_commit(commit):
            raise SigningError(f"{ostree.path}@{rev}: no such commit")
        item = f"{ostree.path}@{commit}"
        if self.commit_signed(ostree.path, commit):
            return SignResult(item, "already-signed")
        self._sign_commit(ostree.path, commit)
        if not self.commit_signed(ostree.path, commit):
            raise SigningError(f"{item}: no good signature by {self.key_id} after signing")
        return SignResult(item, "signed")

    def sign_ostree_summary(self, repo: Path) -> SignResult:
        """Make ``repo``'s summary list its current refs and carry a good signature by this key.

        Idempotent: a current summary already signed by this key is left untouched; a stale or missing one is
        regenerated (``summary -u``) and signed. Regenerating drops signatures by other keys, which were over
        the old summary.
        """
        ostree = self._ostree_repo(repo)
        self._check_key()
        summary = ostree.path / "summary"
        current = ostree.summary_current()
        if current and self.summary_signed(ostree.path):
            return SignResult(str(summary), "already-signed")
        self._sign_summary(ostree.path, regenerate=not current)
        if not ostree.summary_current() or not self.summary_signed(ostree.path):
            raise SigningError(f"{summary}: not current and signed by {self.key_id} after signing")
        return SignResult(str(summary), "signed")

    def commit_signed(self, repo: Path, commit: str) -> bool:
        """Whether the commit (a full checksum) of ``repo`` carries a good signature by this key (read-only)."""
        ostree = OSTreeRepo(repo)
        meta = ostree.commitmeta_path(commit)
        data = meta.read_bytes() if meta.is_file() else None
        return self._any_good(gvariant_binary.gpg_signatures(data), ostree.commit_path(commit))

    def summary_signed(self, repo: Path) -> bool:
        """Whether ``repo``'s summary.sig holds a good signature by this key over its summary (read-only)."""
        sig = Path(repo) / "summary.sig"
        data = sig.read_bytes() if sig.is_file() else None
        return self._any_good(gvariant_binary.gpg_signatures(data), Path(repo) / "summary")

    def clearsign_checksum(self, path: Path) -> SignResult:
        """Replace the plain CHECKSUM file ``path`` by its clear-signed form (atomically).

        Idempotent: a file already clear-signed by this key is left untouched. A file clear-signed by another
        key raises :class:`SignatureConflict`; one whose signature does not verify raises
        :class:`SigningError` (its text was changed after signing).
        """
        path = Path(path)
        if not path.is_file():
            raise SigningError(f"{path}: no such CHECKSUM file")
        self._check_key()
        text = path.read_text()
        if is_clearsigned(text):
            self._expect_ours(path, self.keyring.check_clearsigned(path))
            return SignResult(str(path), "already-signed")
        signed = self._clearsign(path)
        if signed_body(signed.decode()) != text:
            raise SigningError(f"{path}: the clear-signed text differs from the file")
        with tempfile.TemporaryDirectory(prefix="clearsign-") as tmp:
            candidate = Path(tmp) / path.name
            candidate.write_bytes(signed)
            self._expect_ours(path, self.keyring.check_clearsigned(candidate))
        write_atomic(path, signed)
        return SignResult(str(path), "signed")

    def sign_repomd(self, repo: Path) -> SignResult:
        """Write ``repodata/repomd.xml.asc``, an armored detached signature of ``repomd.xml``, in yum repo ``repo``.

        Idempotent: an .asc holding a good signature by this key over the current repomd.xml is left
        untouched; a stale one (repomd.xml was regenerated since) is replaced. An .asc by another key raises
        :class:`SignatureConflict`.
        """
        repomd = Path(repo) / "repodata" / "repomd.xml"
        if not repomd.is_file():
            raise SigningError(f"{repomd}: no such file (not a yum repository?)")
        self._check_key()
        asc = repomd.with_name("repomd.xml.asc")
        if asc.is_file():
            check = self.keyring.check_detached(asc.read_bytes(), repomd)
            if check.good_by(self.fingerprint):
                return SignResult(str(asc), "already-signed")
            if check.good or check.unknown:
                raise SignatureConflict(asc, _other_key(check, self.fingerprint), self.key_id)
        signature = self._detach_sign(repomd, armor=True)
        self._expect_ours(asc, self.keyring.check_detached(signature, repomd))
        write_atomic(asc, signature)
        return SignResult(str(asc), "signed")

    def sign_images(self, directory: Path, images: Iterable[str], checksum_name: str) -> SignResult:
        """Write ``directory/checksum_name`` listing the SHA256 and size of ``images`` (files in ``directory``)
        and clear-sign it, as Fedora's ``*-CHECKSUM`` files.

        Idempotent: when the existing file already lists exactly these images with these digests and is
        signed by this key, nothing is written; after a crash half-way (plain file written, not signed) the
        next run signs it. A changed image set is written anew and signed.
        """
        directory = Path(directory)
        entries = []
        for name in images:
            path = directory / name
            if not path.is_file():
                raise SigningError(f"{path}: no such image")
            entries.append(ChecksumEntry(name=name, algo="SHA256", digest=sha256_file(path), size=path.stat().st_size))
        text = render_checksums(entries)
        dest = directory / checksum_name
        if not dest.is_file() or signed_body(dest.read_text()) != text:
            write_atomic(dest, text.encode())
        return self.clearsign_checksum(dest)

    # --- helpers -------------------------------------------------------------------------------------------

    def _check_key(self) -> Keyring:
        """The public key, after checking it is the configured key: done before anything is signed."""
        return self.keyring

    @staticmethod
    def _ostree_repo(repo: Path) -> OSTreeRepo:
        ostree = OSTreeRepo(repo)
        if not ostree.exists():
            raise SigningError(f"{ostree.path}: not an OSTree repository")
        return ostree

    def _any_good(self, signatures: list[bytes], data: Path) -> bool:
        return any(self.keyring.check_detached(sig, data).good_by(self.fingerprint) for sig in signatures)

    def _expect_ours(self, item: Path, check: SignatureCheck) -> None:
        if check.good_by(self.fingerprint):
            return
        if check.good or check.unknown:
            raise SignatureConflict(item, _other_key(check, self.fingerprint), self.key_id)
        raise SigningError(f"{item}: its signature does not verify with key {self.key_id}")


def _other_key(check: SignatureCheck, ours: str) -> str:
    """The id of the first signing key in ``check`` that is not ours (8 hex digits, lower case)."""
    for key in (*check.good, *check.unknown):
        if key != ours.upper():
            return key[-8:].lower()
    return "unknown"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
