"""Check signatures against one public key with ``gpgv``: which key made each signature, and is it good.

Signing is idempotent only if "is this already signed by our key?" can be answered before signing. Both
backends answer it the same way, from the armored public key alone (sigul never hands out the secret key):
the key is de-armored into a throwaway keyring and ``gpgv --status-fd`` reports each signature as good, bad,
or made by a key we do not have (with that key's id, so a conflict can name it). The key's fingerprint and
user id are read with :func:`relengotron.tools.gpg.show_key`. Nothing here writes outside a temporary
directory.
"""

from __future__ import annotations

import base64
import binascii
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from relengotron.tools.gpg import GpgError, show_key

GPGV = "gpgv"


class PublicKeyError(ValueError):
    """An armored public key that cannot be read."""


@dataclass(frozen=True)
class SignatureCheck:
    """What gpgv said about the signatures over one piece of data."""

    good: tuple[str, ...]  # primary-key fingerprints (40 hex, upper case) of valid signatures
    bad: tuple[str, ...]  # key ids of signatures by a known key that do not match the data
    unknown: tuple[str, ...]  # key ids (16 hex, upper case) of signatures by keys not in the keyring

    def good_by(self, fingerprint: str) -> bool:
        return fingerprint.upper() in self.good


def dearmor(armored: str) -> bytes:
    """The binary OpenPGP data inside an ASCII-armored block (the CRC line is dropped)."""
    lines = [line.strip() for line in armored.strip().splitlines()]
    try:
        begin = next(i for i, line in enumerate(lines) if line.startswith("-----BEGIN PGP"))
        end = next(i for i in range(begin + 1, len(lines)) if lines[i].startswith("-----END PGP"))
    except StopIteration as exc:
        raise PublicKeyError("not an ASCII-armored OpenPGP block") from exc
    body = lines[begin + 1 : end]
    if "" in body:  # armor headers ("Version: ...") end at the first empty line
        body = body[body.index("") + 1 :]
    if body and body[-1].startswith("=") and len(body[-1]) == 5:
        body = body[:-1]
    try:
        data = base64.b64decode("".join(body), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise PublicKeyError(f"bad base64 in the armored block: {exc}") from exc
    if not data:
        raise PublicKeyError("empty armored block")
    return data


def parse_status(text: str) -> SignatureCheck:
    """Fold ``gpgv --status-fd`` lines into a :class:`SignatureCheck`."""
    good: list[str] = []
    bad: list[str] = []
    unknown: list[str] = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 3 or fields[0] != "[GNUPG:]":
            continue
        tag = fields[1]
        if tag == "VALIDSIG":
            good.append(fields[-1].upper())  # the last field is the primary key's fingerprint
        elif tag == "BADSIG":
            bad.append(fields[2].upper())
        elif tag == "ERRSIG":
            unknown.append(fields[2].upper())
    return SignatureCheck(good=tuple(good), bad=tuple(bad), unknown=tuple(unknown))


class Keyring:
    """One public key, ready to check signatures with gpgv."""

    def __init__(self, armored: str) -> None:
        self.armored = armored
        self.binary = dearmor(armored)
        try:
            self.info = show_key(armored)
        except GpgError as exc:
            raise PublicKeyError(f"gpg cannot read the public key: {exc}") from exc
        self.fingerprint, self.uid = self.info.fingerprint, self.info.uid

    def check_detached(self, signature: bytes, data: Path) -> SignatureCheck:
        """Check a detached signature (binary or armored) over the file ``data``."""
        with tempfile.TemporaryDirectory(prefix="gpgv-") as tmp:
            sig = Path(tmp) / "data.sig"
            sig.write_bytes(signature)
            return self._gpgv(tmp, [str(sig), str(Path(data).absolute())])

    def check_clearsigned(self, path: Path) -> SignatureCheck:
        """Check the signature of a clear-signed file."""
        with tempfile.TemporaryDirectory(prefix="gpgv-") as tmp:
            return self._gpgv(tmp, [str(Path(path).absolute())])

    def _gpgv(self, tmp: str, args: list[str]) -> SignatureCheck:
        keyring = Path(tmp) / "keyring.gpg"
        keyring.write_bytes(self.binary)
        proc = subprocess.run(
            [GPGV, "--homedir", tmp, "--status-fd", "1", "--keyring", str(keyring), *args],
            capture_output=True,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        return parse_status(proc.stdout.decode(errors="replace"))
