"""Who signs OSTree commits and summaries: a small seam with a local GnuPG implementation.

The shared repository's commits and its summary are signed by the release's key. :class:`OSTreeSigner` is
what the repository code needs from a signing backend; :class:`GpgSigner` does it with ``ostree gpg-sign``
and ``ostree summary --gpg-sign`` from a private GNUPGHOME (relengotron.tools.gpg keeps the agent's socket
path short and stops the agent afterwards). :class:`BackendSigner` adapts the release-signing interface
(:mod:`relengotron.signing`: local GPG or sigul over SSH) to the same protocol.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Protocol

from relengotron.tools import gpg
from relengotron.tools.run import run

OSTREE = "ostree"


class OSTreeSigner(Protocol):
    """Signs commits and the summary of a repository with one key."""

    def key_ids(self) -> frozenset[str]:
        """The 16-hex-digit (upper case) ids of the key and its subkeys: a signature by any of them counts."""
        ...

    def check(self) -> None:
        """Raise now, before anything is written, when this signer cannot sign (read-only)."""
        ...

    def sign_commit(self, repo: Path, commit: str) -> None:
        """Add this key's detached signature to ``commit`` in ``repo`` (callers check first: not idempotent)."""
        ...

    def update_summary(self, repo: Path) -> None:
        """Regenerate ``repo``'s summary and write its signature (``summary.sig``)."""
        ...


@dataclass(frozen=True)
class GpgSigner:
    """Sign with the secret key ``key`` (fingerprint or key id) of ``gnupghome``."""

    gnupghome: Path
    key: str

    def key_ids(self) -> frozenset[str]:
        """Long ids of the key and its subkeys (read once from ``gpg --list-keys``; read-only).

        Raises :class:`relengotron.tools.run.ToolError` naming the key when the home does not hold it.
        """
        return self._key_ids

    @cached_property
    def _key_ids(self) -> frozenset[str]:
        out = run(
            ["gpg", "--batch", "--no-tty", "--with-colons", "--list-keys", self.key],
            item=f"gpg key {self.key}",
            env={"GNUPGHOME": str(self.gnupghome), "LC_ALL": "C"},
        ).stdout.decode(errors="replace")
        ids = frozenset(line.split(":")[9][-16:].upper() for line in out.splitlines() if line.startswith("fpr:"))
        if not ids:
            raise gpg.GpgError(f"{self.gnupghome}: no key {self.key!r}")
        return ids

    def check(self) -> None:
        """Fail now, before anything is written, when the secret key is not there (read-only)."""
        gpg.find_key(self.gnupghome, self.key)
        self.key_ids()

    def sign_commit(self, repo: Path, commit: str) -> None:
        with gpg.agent_home(self.gnupghome) as home:
            run(
                [OSTREE, "gpg-sign", f"--repo={repo}", f"--gpg-homedir={home}", commit, self.key],
                item=f"commit {commit} in {repo}",
            )

    def update_summary(self, repo: Path) -> None:
        with gpg.agent_home(self.gnupghome) as home:
            run(
                [OSTREE, "summary", f"--repo={repo}", "-u", f"--gpg-sign={self.key}", f"--gpg-homedir={home}"],
                item=f"summary of {repo}",
            )


class SigningBackend(Protocol):
    """The OSTree operations of a :class:`relengotron.signing.base.Signer` (local GPG or sigul)."""

    @property
    def fingerprint(self) -> str: ...

    def sign_ostree_commit(self, repo: Path, rev: str) -> object: ...

    def sign_ostree_summary(self, repo: Path) -> object: ...


@dataclass(frozen=True)
class BackendSigner:
    """An :class:`OSTreeSigner` over the release-signing interface, so merges, prunes and EOL carve-outs sign
    with whichever backend (local GPG, sigul over SSH) the signing connection configures.

    The backend's operations are idempotent themselves (a commit already signed by the key is left alone, a
    current signed summary is not rewritten).
    """

    backend: SigningBackend

    def key_ids(self) -> frozenset[str]:
        return frozenset({self.backend.fingerprint[-16:].upper()})

    def check(self) -> None:
        self.backend.fingerprint  # noqa: B018 - fetching the public key checks that the key is there

    def sign_commit(self, repo: Path, commit: str) -> None:
        self.backend.sign_ostree_commit(repo, commit)

    def update_summary(self, repo: Path) -> None:
        self.backend.sign_ostree_summary(repo)
