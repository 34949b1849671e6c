"""GnuPG keys in a private GNUPGHOME: generate a signing key, look it up, export its public half.

Release engineering signs RPMs and OSTree commits with keys that live in their own GNUPGHOME, never in the
user's keyring. Everything here takes that directory explicitly and runs ``gpg --batch`` in it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

GPG = "gpg"
GPGCONF = "gpgconf"
# A Unix socket path holds at most 107 bytes; the longest socket gpg-agent makes is S.gpg-agent.browser.
_MAX_HOME = 107 - len("/S.gpg-agent.browser")


class GpgError(RuntimeError):
    """gpg failed or a key is not there; the message names the GNUPGHOME or key and carries gpg's stderr."""


@dataclass(frozen=True)
class GpgKey:
    fingerprint: str  # 40 uppercase hex digits, as gpg prints it
    uid: str  # "Name <email>"

    @property
    def key_id(self) -> str:
        """The short key id, 8 lowercase hex digits: what Koji calls the sigkey."""
        return self.fingerprint[-8:].lower()

    @property
    def long_id(self) -> str:
        """The 16-hex-digit key id rpm prints ("Key ID ...")."""
        return self.fingerprint[-16:].lower()


@contextmanager
def agent_home(gnupghome: Path) -> Iterator[Path]:
    """Yield a path naming ``gnupghome`` that gpg-agent can create its sockets under.

    gpg-agent puts its sockets inside the home directory and a socket path is limited to 107 bytes, so a deep
    home (a build cache under a test's tmp dir) makes every gpg call fail with "No agent running". A deep
    home is reached through a short symlink under /tmp. On exit the agent started through the yielded path is
    stopped (no daemon outlives the work) and the symlink removed. Nothing in ``gnupghome`` changes.
    """
    gnupghome = Path(gnupghome).absolute()
    if not gnupghome.is_dir():
        raise GpgError(f"{gnupghome}: GNUPGHOME does not exist")
    link_dir: str | None = None
    home = gnupghome
    if len(str(gnupghome)) > _MAX_HOME:
        link_dir = tempfile.mkdtemp(prefix="gpg-", dir="/tmp" if os.path.isdir("/tmp") else None)
        home = Path(link_dir) / "h"
        home.symlink_to(gnupghome, target_is_directory=True)
    try:
        yield home
    finally:
        subprocess.run(
            [GPGCONF, "--kill", "gpg-agent"],
            env=_env(home),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            check=False,
        )
        if link_dir is not None:
            shutil.rmtree(link_dir, ignore_errors=True)


def generate_key(gnupghome: Path, name: str, email: str, *, algo: str = "rsa2048") -> GpgKey:
    """Make a passphrase-less signing key "name <email>" in ``gnupghome`` (created 0700 if missing).

    Idempotent: when the home already holds a secret key with exactly this user id, that key is returned and
    nothing is generated.
    """
    uid = f"{name} <{email}>"
    gnupghome = Path(gnupghome)
    gnupghome.mkdir(mode=0o700, parents=True, exist_ok=True)
    gnupghome.chmod(0o700)
    with agent_home(gnupghome) as home:
        for key in _list_secret(home, gnupghome):
            if key.uid == uid:
                return key
        _gpg(home, ["--passphrase", "", "--quick-gen-key", uid, algo, "sign", "never"], origin=gnupghome, what=uid)
        for key in _list_secret(home, gnupghome):
            if key.uid == uid:
                return key
    raise GpgError(f"{gnupghome}: gpg generated no key for {uid!r}")


def secret_keys(gnupghome: Path) -> list[GpgKey]:
    """Every secret key in ``gnupghome`` (read-only)."""
    with agent_home(gnupghome) as home:
        return _list_secret(home, Path(gnupghome))


def find_key(gnupghome: Path, key: str) -> GpgKey:
    """The secret key named by fingerprint, long or short key id (any case) or exact user id (read-only)."""
    wanted = key.strip().upper()
    for candidate in secret_keys(gnupghome):
        if candidate.uid == key or (len(wanted) >= 8 and candidate.fingerprint.endswith(wanted)):
            return candidate
    raise GpgError(f"{gnupghome}: no secret key {key!r}")


def export_public_key(gnupghome: Path, key: str, dest: Path) -> Path:
    """Write the ASCII-armored public key ``key`` (fingerprint or key id) to ``dest``.

    Idempotent: ``dest`` is replaced atomically with the same content on every call.
    """
    dest = Path(dest)
    with agent_home(gnupghome) as home:
        out = _gpg(home, ["--armor", "--export", key], origin=Path(gnupghome), what=key)
    if b"BEGIN PGP PUBLIC KEY BLOCK" not in out:
        raise GpgError(f"{gnupghome}: no public key {key!r} to export")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp{os.getpid()}")
    tmp.write_bytes(out)
    tmp.replace(dest)
    return dest


def clearsign(gnupghome: Path, key: str, path: Path) -> bytes:
    """The clear-signed (SHA256, armored) form of the text file ``path`` by ``key``. Writes nothing."""
    with agent_home(gnupghome) as home:
        args = ["--local-user", key, "--digest-algo", "SHA256", "--clearsign", "--output", "-", str(path)]
        return _gpg(home, args, origin=Path(gnupghome), what=f"{path} with key {key}")


def detach_sign(gnupghome: Path, key: str, path: Path, *, armor: bool) -> bytes:
    """A detached signature over ``path`` by ``key`` (ASCII-armored when ``armor``). Writes nothing."""
    with agent_home(gnupghome) as home:
        args = ["--local-user", key, "--digest-algo", "SHA256", *(["--armor"] if armor else [])]
        args += ["--detach-sign", "--output", "-", str(path)]
        return _gpg(home, args, origin=Path(gnupghome), what=f"{path} with key {key}")


def _list_secret(home: Path, origin: Path) -> list[GpgKey]:
    out = _gpg(home, ["--with-colons", "--list-secret-keys"], origin=origin, what="secret keys").decode()
    keys: list[GpgKey] = []
    fingerprint: str | None = None
    want_fpr = False
    for line in out.splitlines():
        fields = line.split(":")
        if fields[0] == "sec":
            fingerprint, want_fpr = None, True
        elif fields[0] == "fpr" and want_fpr:
            fingerprint, want_fpr = fields[9], False
        elif fields[0] == "uid" and fingerprint:
            keys.append(GpgKey(fingerprint=fingerprint.upper(), uid=_unescape(fields[9])))
            fingerprint = None  # the primary user id is the first one
    return keys


def _unescape(text: str) -> str:
    """gpg's colon format escapes ':' and other bytes as \\xNN."""
    return text.encode().decode("unicode_escape").encode("latin-1").decode("utf-8", "replace")


def _env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["GNUPGHOME"] = str(home)
    env["LC_ALL"] = "C"
    env.pop("GPG_AGENT_INFO", None)
    return env


def _gpg(home: Path, args: Sequence[str], *, origin: Path, what: str) -> bytes:
    proc = subprocess.run(
        [GPG, "--batch", "--no-tty", *args],
        env=_env(home),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=False,
    )
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip()
        raise GpgError(f"{origin}: gpg failed for {what}: {err}")
    return proc.stdout
