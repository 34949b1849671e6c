"""What the OSTree code asks of a signer: sign a commit or a summary with one key, and tell whether one is signed
already. :class:`relengotron.signing.base.Signer` (local GPG or sigul) is one; the OSTree code names only this
protocol, so that signing builds on the OSTree repository primitives and not the other way round."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol


class SignedAction(Protocol):
    """The result of one signing: ``action`` is "signed" when a signature was written, else why not."""

    action: str


class OSTreeSigner(Protocol):
    key_id: str

    def check(self) -> None:
        """Raise, naming the key, when the key cannot sign (before anything is written)."""

    def sign_ostree_commit(self, repo: Path, rev: str) -> SignedAction:
        """Sign ``rev``'s commit in ``repo``; idempotent (a commit this key signed is left alone)."""
        ...

    def sign_ostree_summary(self, repo: Path) -> SignedAction:
        """Regenerate (when not current) and sign ``repo``'s summary; idempotent."""
        ...

    def commit_signed(self, repo: Path, commit: str) -> bool:
        """Whether ``commit`` carries a good signature by this key (read-only)."""
        ...

    def summary_signed(self, repo: Path) -> bool:
        """Whether the summary carries a good signature by this key (read-only)."""
        ...
