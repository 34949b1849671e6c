"""GnuPG keys in a private GNUPGHOME: generate a signing key, look it up, export it, sign with it.

Release engineering signs RPMs and OSTree commits with keys that live in their own GNUPGHOME, never in the
user's keyring. Everything here takes that directory explicitly.

Every gpg operation — and every other tool that signs with the key (rpmsign, ``ostree gpg-sign``) — runs in
a :func:`private_home`: a short-path copy of the keyring under /tmp with its own gpg-agent, stopped and
removed afterwards. So any number of threads and processes can sign with one GNUPGHOME at once: none of
them shares an agent another one could stop in the middle of its work ("signing failed: Incomplete line
passed to IPC"), and no agent socket path outgrows the 107 bytes a Unix socket allows. Only
:func:`generate_key` writes to the real home, holding an exclusive lock on it; copies are taken under a
shared lock, so a copy never catches a half-written keyring.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from relengotron.tools.files import copy_atomic, write_atomic

GPG = "gpg"
GPGCONF = "gpgconf"
# Where private homes are made: a short path, so that gpg-agent's sockets fit in a Unix socket path.
PRIVATE_ROOT = "/tmp"
# What a private home copies: the keyrings, the trust database, the secret keys and gpg's own settings.
KEYRING_FILES = ("pubring.kbx", "pubring.gpg", "trustdb.gpg", "gpg.conf", "gpg-agent.conf", "common.conf")
KEYRING_DIRS = ("private-keys-v1.d", "public-keys.d")
# What key generation adds besides: the revocation certificate of the new key.
GENERATED_DIRS = ("openpgp-revocs.d",)


class GpgError(RuntimeError):
    """gpg failed or a key is not there; the message names the GNUPGHOME or key and carries gpg's stderr."""


@dataclass(frozen=True)
class GpgKey:
    fingerprint: str  # 40 uppercase hex digits, as gpg prints it
    uid: str  # "Name <email>", the first user id ("" when the key has none)
    subkeys: tuple[str, ...] = ()  # the subkeys' fingerprints

    @property
    def key_id(self) -> str:
        """The short key id, 8 lowercase hex digits: what Koji calls the sigkey."""
        return self.fingerprint[-8:].lower()

    @property
    def long_id(self) -> str:
        """The 16-hex-digit key id rpm prints ("Key ID ...")."""
        return self.fingerprint[-16:].lower()


@contextmanager
def private_home(gnupghome: str | Path) -> Iterator[Path]:
    """Yield a private copy of ``gnupghome`` to run gpg (or rpmsign, ostree) in, for work that only reads keys.

    The copy is a fresh 0700 directory under :data:`PRIVATE_ROOT` holding the keyrings, trust database,
    secret keys and gpg settings (:data:`KEYRING_FILES`, :data:`KEYRING_DIRS`). Whatever agent gpg starts
    there is this caller's alone; on exit it is stopped and the copy removed. Nothing in ``gnupghome``
    changes, and a passphrase preset in another agent is not seen: the key must sign without a prompt.
    """
    source = _existing(gnupghome)
    with _fresh_home() as home:
        with _locked(source, fcntl.LOCK_SH):
            _copy_keyring(source, home, KEYRING_FILES, KEYRING_DIRS)
        yield home


def generate_key(gnupghome: str | Path, name: str, email: str, *, algo: str = "rsa2048") -> GpgKey:
    """Make a passphrase-less signing key "name <email>" in ``gnupghome`` (created 0700 if missing).

    Idempotent: when the home already holds a secret key with exactly this user id, that key is returned and
    nothing is written. The key is made in a private copy and written back into ``gnupghome`` (each file
    replaced whole) under an exclusive lock, so concurrent generators of one home make one key and readers
    never copy a half-written keyring.
    """
    uid = f"{name} <{email}>"
    gnupghome = Path(gnupghome).absolute()
    gnupghome.mkdir(mode=0o700, parents=True, exist_ok=True)
    gnupghome.chmod(0o700)
    with _locked(gnupghome, fcntl.LOCK_EX), _fresh_home() as home:
        _copy_keyring(gnupghome, home, KEYRING_FILES, KEYRING_DIRS)
        for key in _list_secret(home, gnupghome):
            if key.uid == uid:
                return key
        _gpg(home, ["--passphrase", "", "--quick-gen-key", uid, algo, "sign", "never"], origin=gnupghome, what=uid)
        for key in _list_secret(home, gnupghome):
            if key.uid == uid:
                _copy_keyring(home, gnupghome, KEYRING_FILES, KEYRING_DIRS + GENERATED_DIRS)
                return key
    raise GpgError(f"{gnupghome}: gpg generated no key for {uid!r}")


def secret_keys(gnupghome: str | Path) -> list[GpgKey]:
    """Every secret key in ``gnupghome`` (read-only)."""
    with private_home(gnupghome) as home:
        return _list_secret(home, Path(gnupghome))


def find_key(gnupghome: str | Path, key: str) -> GpgKey:
    """The secret key named by fingerprint, long or short key id (any case) or exact user id (read-only)."""
    wanted = key.strip().upper()
    for candidate in secret_keys(gnupghome):
        if candidate.uid == key or (len(wanted) >= 8 and candidate.fingerprint.endswith(wanted)):
            return candidate
    raise GpgError(f"{gnupghome}: no secret key {key!r}")


def public_key(gnupghome: str | Path, key: str) -> bytes:
    """The ASCII-armored public key ``key`` (fingerprint or key id) of ``gnupghome`` (read-only)."""
    with private_home(gnupghome) as home:
        out = _gpg(home, ["--armor", "--export", key], origin=Path(gnupghome), what=key)
    if b"BEGIN PGP PUBLIC KEY BLOCK" not in out:
        raise GpgError(f"{gnupghome}: no public key {key!r} to export")
    return out


def export_public_key(gnupghome: str | Path, key: str, dest: Path) -> Path:
    """Write the ASCII-armored public key ``key`` (fingerprint or key id) to ``dest``.

    Idempotent: ``dest`` is replaced atomically with the same content on every call.
    """
    return write_atomic(dest, public_key(gnupghome, key))


def show_key(armored: str | bytes) -> GpgKey:
    """The single public key in an armored block (read in an empty throwaway home); GpgError otherwise."""
    data = armored.encode() if isinstance(armored, str) else armored
    with _fresh_home() as home:
        key_file = home / "key.asc"
        key_file.write_bytes(data)
        out = _gpg(home, ["--with-colons", "--show-keys", str(key_file)], origin=home, what="the public key")
    keys = parse_key_listing(out.decode(errors="replace"))
    if len(keys) != 1:
        raise GpgError(f"expected exactly one public key, found {len(keys)}")
    return keys[0]


def clearsign(gnupghome: str | Path, key: str, path: Path) -> bytes:
    """The clear-signed (SHA256, armored) form of the text file ``path`` by ``key``. Writes nothing."""
    with private_home(gnupghome) as home:
        args = ["--local-user", key, "--digest-algo", "SHA256", "--clearsign", "--output", "-", str(path)]
        return _gpg(home, args, origin=Path(gnupghome), what=f"{path} with key {key}")


def detach_sign(gnupghome: str | Path, key: str, path: Path, *, armor: bool) -> bytes:
    """A detached signature over ``path`` by ``key`` (ASCII-armored when ``armor``). Writes nothing."""
    with private_home(gnupghome) as home:
        args = ["--local-user", key, "--digest-algo", "SHA256", *(["--armor"] if armor else [])]
        args += ["--detach-sign", "--output", "-", str(path)]
        return _gpg(home, args, origin=Path(gnupghome), what=f"{path} with key {key}")


def parse_key_listing(colons: str) -> list[GpgKey]:
    """The keys in ``gpg --with-colons`` output (``--list-secret-keys``, ``--list-keys``, ``--show-keys``). Pure.

    A key starts at its ``pub``/``sec`` record; the ``fpr`` record after it is its fingerprint, one after a
    ``sub``/``ssb`` record a subkey's, and its first ``uid`` record its user id.
    """
    keys: list[GpgKey] = []
    fingerprint: str | None = None
    uid: str | None = None
    subkeys: list[str] = []
    want: str | None = None  # which fingerprint the next fpr record gives: "key" or "sub"

    def flush() -> None:
        if fingerprint is not None:
            keys.append(GpgKey(fingerprint=fingerprint, uid=uid or "", subkeys=tuple(subkeys)))

    for line in colons.splitlines():
        fields = line.split(":")
        record = fields[0]
        if record in ("pub", "sec"):
            flush()
            fingerprint, uid, subkeys, want = None, None, [], "key"
        elif record in ("sub", "ssb"):
            want = "sub"
        elif record == "fpr" and want is not None and len(fields) > 9:
            if want == "key":
                fingerprint = fields[9].upper()
            else:
                subkeys.append(fields[9].upper())
            want = None
        elif record == "uid" and uid is None and len(fields) > 9:
            uid = _unescape(fields[9])
    flush()
    return keys


def _list_secret(home: Path, origin: Path) -> list[GpgKey]:
    out = _gpg(home, ["--with-colons", "--list-secret-keys"], origin=origin, what="secret keys").decode()
    return parse_key_listing(out)


def _unescape(text: str) -> str:
    """gpg's colon format escapes ':' and other bytes as \\xNN."""
    return text.encode().decode("unicode_escape").encode("latin-1").decode("utf-8", "replace")


def _existing(gnupghome: str | Path) -> Path:
    path = Path(gnupghome).absolute()
    if not path.is_dir():
        raise GpgError(f"{path}: GNUPGHOME does not exist")
    return path


@contextmanager
def _fresh_home() -> Iterator[Path]:
    """An empty 0700 directory under PRIVATE_ROOT; its agent (if gpg started one) is stopped, then it is removed."""
    root = PRIVATE_ROOT if os.path.isdir(PRIVATE_ROOT) else None
    home = Path(tempfile.mkdtemp(prefix="gpg-", dir=root))
    try:
        yield home
    finally:
        _stop_agent(home)
        shutil.rmtree(home, ignore_errors=True)


@contextmanager
def _locked(gnupghome: Path, mode: int) -> Iterator[None]:
    """Hold an flock on the GNUPGHOME directory itself: shared to copy it, exclusive to write it.

    Locking the directory (not a file in it) needs no write access, so a read-only home can be copied too.
    """
    fd = os.open(gnupghome, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, mode)
        yield
    finally:
        os.close(fd)


def _copy_keyring(source: Path, dest: Path, files: Sequence[str], dirs: Sequence[str]) -> None:
    """Copy the named files and directories that exist in ``source`` into ``dest``, each file replaced whole."""
    for name in files:
        if (source / name).is_file():
            copy_atomic(source / name, dest / name, mode=0o600)
    for name in dirs:
        if not (source / name).is_dir():
            continue
        (dest / name).mkdir(mode=0o700, exist_ok=True)
        for entry in sorted((source / name).iterdir()):
            if entry.is_file() and not entry.name.endswith(".lock") and not entry.name.startswith(".#"):
                copy_atomic(entry, dest / name / entry.name, mode=0o600)


def _stop_agent(home: Path) -> None:
    """Stop every daemon gpg started for ``home`` (its sockets may be in the home or under /run/user)."""
    subprocess.run(
        [GPGCONF, "--kill", "all"], env=_env(home), stdin=subprocess.DEVNULL, capture_output=True, check=False
    )
    deadline = time.monotonic() + 2
    while (home / "S.gpg-agent").exists() and time.monotonic() < deadline:
        time.sleep(0.01)


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
