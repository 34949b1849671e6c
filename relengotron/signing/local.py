"""The local GPG backend: the secret key sits in a GNUPGHOME on this machine.

In production the GNUPGHOME and key id come from the signing Airflow connection; tests generate a throwaway
key (:func:`relengotron.tools.gpg.generate_key`). The key must sign without prompting (no passphrase, or one
preset in the agent). RPMs go through rpmsign, OSTree through the ``ostree`` CLI, the rest through gpg.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from relengotron.signing.base import Signer, SigningError
from relengotron.tools import gpg, rpmsign
from relengotron.tools.gpg import agent_home
from relengotron.tools.run import ToolError, run

OSTREE = "ostree"
T = TypeVar("T")


class LocalGpgSigner(Signer):
    """Signs with the secret key ``key_id`` (8 hex digits, or a longer id/fingerprint) of ``gnupghome``."""

    def __init__(self, gnupghome: str | Path, key_id: str) -> None:
        super().__init__()
        self.gnupghome = Path(gnupghome)
        try:
            self.key = gpg.find_key(self.gnupghome, key_id)
        except gpg.GpgError as exc:
            raise SigningError(f"gpg:{self.gnupghome}: {exc}") from exc
        self.key_id = self.key.key_id
        self.name = f"gpg:{self.gnupghome}"

    def public_key(self) -> str:
        with tempfile.TemporaryDirectory(prefix="pubkey-") as tmp:
            dest = Path(tmp) / "key.asc"
            self._gpg(lambda: gpg.export_public_key(self.gnupghome, self.key.fingerprint, dest))
            return dest.read_text()

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
        with agent_home(self.gnupghome) as home:
            self._ostree(
                ["gpg-sign", f"--repo={repo}", f"--gpg-homedir={home}", commit, self.key.fingerprint],
                item=f"{repo}@{commit}",
            )

    def _sign_summary(self, repo: Path, *, regenerate: bool) -> None:
        # ostree signs a summary only while writing it: regenerating one that is current changes nothing but
        # its last-modified stamp.
        del regenerate
        with agent_home(self.gnupghome) as home:
            self._ostree(
                ["summary", "-u", f"--repo={repo}", f"--gpg-sign={self.key.fingerprint}", f"--gpg-homedir={home}"],
                item=f"{repo}/summary",
            )

    def _ostree(self, args: list[str], *, item: str) -> None:
        try:
            run([OSTREE, *args], item=item)
        except ToolError as exc:
            raise SigningError(str(exc)) from exc

    @staticmethod
    def _gpg(call: Callable[[], T]) -> T:
        try:
            return call()
        except gpg.GpgError as exc:
            raise SigningError(str(exc)) from exc
