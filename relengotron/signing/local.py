"""The local GPG backend: the secret key sits in a GNUPGHOME on this machine.

In production the GNUPGHOME and key id come from the signing Airflow connection; tests generate a throwaway
key (:func:`relengotron.tools.gpg.generate_key`). The key must sign without prompting (no passphrase).
RPMs go through rpmsign, OSTree through the ``ostree`` CLI, the rest through gpg — each in a private copy
of the GNUPGHOME with its own gpg-agent (:func:`relengotron.tools.gpg.private_home`), so any number of
signers may use one GNUPGHOME at once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from relengotron.signing.base import Signer, SigningError
from relengotron.tools import gpg, rpmsign
from relengotron.tools.run import ToolError, run

OSTREE = "ostree"
T = TypeVar("T")


class LocalGpgSigner(Signer):
    """Signs with the secret key ``key_id`` (8 hex digits, or a longer id/fingerprint) of ``gnupghome``."""

    def __init__(self, gnupghome: str | Path, key_id: str) -> None:
        super().__init__()
        self.gnupghome = Path(gnupghome)
        self.name = f"gpg:{self.gnupghome}"
        self.key = self._gpg(lambda: gpg.find_key(self.gnupghome, key_id))
        self.key_id = self.key.key_id

    def public_key(self) -> str:
        return self._gpg(lambda: gpg.public_key(self.gnupghome, self.key.fingerprint)).decode()

    def check(self) -> None:
        """The key is the configured one and its secret half is still in the GNUPGHOME (read-only)."""
        super().check()
        self._gpg(lambda: gpg.find_key(self.gnupghome, self.key.fingerprint))

    def _sign_rpm_files(self, paths: Sequence[Path]) -> None:
        try:
            rpmsign.sign_rpms(paths, self.gnupghome, self.key.fingerprint)
        except rpmsign.RpmSignError as exc:
            raise SigningError(str(exc)) from exc

    def _detach_sign(self, path: Path, *, armor: bool) -> bytes:
        return self._gpg(lambda: gpg.detach_sign(self.gnupghome, self.key.fingerprint, path, armor=armor))

    def _clearsign(self, path: Path) -> bytes:
        return self._gpg(lambda: gpg.clearsign(self.gnupghome, self.key.fingerprint, path))

    def _sign_commit(self, repo: Path, commit: str) -> None:
        self._ostree(["gpg-sign", f"--repo={repo}", commit, self.key.fingerprint], item=f"{repo}@{commit}")

    def _sign_summary(self, repo: Path, *, regenerate: bool) -> None:
        # ostree signs a summary only while writing it: regenerating one that is current changes nothing but
        # its last-modified stamp.
        del regenerate
        self._ostree(["summary", "-u", f"--repo={repo}", f"--gpg-sign={self.key.fingerprint}"], item=f"{repo}/summary")

    def _ostree(self, args: list[str], *, item: str) -> None:
        """Run an ``ostree`` command that signs, with ``--gpg-homedir`` a private copy of the GNUPGHOME."""
        try:
            with gpg.private_home(self.gnupghome) as home:
                run([OSTREE, *args, f"--gpg-homedir={home}"], item=item)
        except gpg.GpgError as exc:
            raise SigningError(f"{self.name}: {exc}") from exc
        except ToolError as exc:
            raise SigningError(str(exc)) from exc

    def _gpg(self, call: Callable[[], T]) -> T:
        try:
            return call()
        except gpg.GpgError as exc:
            raise SigningError(f"{self.name}: {exc}") from exc
