"""Sign RPMs with rpmsign, verify them with rpmkeys, read which key signed them and what their headers say.

The signing key lives in its own GNUPGHOME; rpmsign signs in a private copy of it
(:func:`relengotron.tools.gpg.private_home`), so concurrent signers never share a gpg-agent. Verification
imports public keys into a private rpm database, never the system one. Many files go to one tool call:
signing a whole compose's worth of RPMs must not start one process per file.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from relengotron.tools.gpg import private_home

RPM = "rpm"
RPMSIGN = "rpmsign"
RPMKEYS = "rpmkeys"
# Debian's rpm sets %__gpg to /usr/bin/gpg2, which does not exist there; name the real binary.
GPG_BINARY = "/usr/bin/gpg"

_SIG_TAGS = ("RSAHEADER", "DSAHEADER", "SIGGPG", "SIGPGP")
_KEY_ID = re.compile(r"key ID ([0-9a-f]+)", re.IGNORECASE)


class RpmSignError(RuntimeError):
    """Signing or reading an RPM failed; ``path`` is the file, the message carries the tool's stderr."""

    def __init__(self, path: str | Path, message: str) -> None:
        self.path = Path(path)
        super().__init__(f"{path}: {message}")


class RpmVerifyError(RpmSignError):
    """An RPM is unsigned, signed by a key that is not trusted here, or damaged."""


def sign_rpms(paths: Sequence[str | Path], gnupghome: str | Path, key_id: str) -> None:
    """Sign every RPM in ``paths`` in place with the secret key ``key_id`` of ``gnupghome``.

    Idempotent: a file already signed by this key is left byte-for-byte unchanged (rpmsign skips an identical
    signature); a file signed by another key carries this key's signature afterwards instead.
    Raises :class:`RpmSignError` naming the first file that did not end up signed by ``key_id``.
    """
    files = [Path(p) for p in paths]
    if not files:
        return
    for path in files:
        if not path.is_file():
            raise RpmSignError(path, "no such RPM file")
    with private_home(gnupghome) as home:
        proc = subprocess.run(
            [
                RPMSIGN,
                "--addsign",
                "--define",
                f"__gpg {GPG_BINARY}",
                "--define",
                f"_gpg_name {key_id}",
                "--define",
                f"_gpg_path {home}",
                *map(str, files),
            ],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            check=False,
        )
    stderr = _errors(proc.stderr)
    wanted = key_id.lower()[-8:]
    try:
        found = signing_key_ids(files)
    except RpmSignError as exc:
        raise RpmSignError(exc.path, f"rpmsign with key {key_id} broke the file: {stderr or exc}") from exc
    for path in files:
        if found[path] != wanted:
            raise RpmSignError(path, f"rpmsign with key {key_id} failed: {stderr or 'the file is not signed'}")


def signing_key_ids(paths: Sequence[str | Path]) -> dict[Path, str]:
    """Which key signed each RPM: 8 lowercase hex digits (Koji's sigkey), "" when unsigned. Read-only.

    One ``rpm -qp`` for all files; raises :class:`RpmSignError` naming a file rpm cannot read.
    """
    files = [Path(p) for p in paths]
    lines = query_headers(files, "|".join(f"%{{{tag}:pgpsig}}" for tag in _SIG_TAGS))
    out: dict[Path, str] = {}
    for path, line in zip(files, lines, strict=True):
        out[path] = ""
        for value in line.split("|"):
            match = _KEY_ID.search(value)
            if match:
                out[path] = match.group(1).lower()[-8:]
                break
    return out


def query_headers(paths: Sequence[str | Path], fmt: str) -> list[str]:
    """Each RPM's header formatted by the query format ``fmt`` (rpm's ``--qf``, one line per file), in order.

    Read-only; signatures and digests are not checked. One ``rpm -qp`` for all files; raises
    :class:`RpmSignError` naming a file rpm cannot read.
    """
    files = [Path(p) for p in paths]
    if not files:
        return []
    fmt = f"{fmt}\\n"
    proc = _query(files, fmt)
    lines = proc.stdout.decode(errors="replace").splitlines()
    if proc.returncode != 0 or len(lines) != len(files):
        for path in files:  # error path only: find the file rpm could not read
            single = _query([path], fmt)
            if single.returncode != 0:
                raise RpmSignError(path, f"rpm cannot read it: {_errors(single.stderr)}")
        raise RpmSignError(files[0], f"rpm -qp gave {len(lines)} answers for {len(files)} files")
    return lines


def signing_key_id(path: str | Path) -> str:
    """The key id that signed one RPM ("" when unsigned). Read-only."""
    return signing_key_ids([path])[Path(path)]


def verify_rpms(
    paths: Sequence[str | Path], public_keys: Iterable[str | Path], *, dbpath: str | Path | None = None
) -> dict[Path, str]:
    """Check that every RPM carries a signature valid under one of ``public_keys`` (armored files).

    Returns file → signing key id. The keys are imported into a private rpm database (``dbpath``, or a
    temporary one), never the system's; the RPMs are not changed. Raises :class:`RpmVerifyError` naming the
    first file that is unsigned, signed by an unknown key, or whose signature or digests do not verify.
    """
    files = [Path(p) for p in paths]
    if not files:
        return {}
    with tempfile.TemporaryDirectory(prefix="rpmdb-") as tmp:
        db = Path(dbpath) if dbpath is not None else Path(tmp)
        db.mkdir(parents=True, exist_ok=True)
        for key in public_keys:
            proc = _rpmkeys(db, ["--import", str(key)])
            if proc.returncode != 0:
                raise RpmVerifyError(key, f"rpmkeys cannot import the key: {_errors(proc.stderr)}")
        proc = _rpmkeys(db, ["-Kv", *map(str, files)])
    blocks = _verify_blocks(proc.stdout.decode(errors="replace"))
    result: dict[Path, str] = {}
    for path in files:
        lines = blocks.get(str(path))
        if lines is None:
            raise RpmVerifyError(path, f"rpmkeys cannot read it: {_errors(proc.stderr)}")
        signatures = [line for line in lines if "Signature, key ID" in line]
        if not signatures:
            raise RpmVerifyError(path, "not signed")
        for line in lines:
            if not line.endswith(": OK"):
                raise RpmVerifyError(path, f"verification failed: {line}")
        match = _KEY_ID.search(signatures[0])
        result[path] = match.group(1).lower()[-8:] if match else ""
    if proc.returncode != 0:
        raise RpmVerifyError(files[0], f"rpmkeys -K failed: {_errors(proc.stderr)}")
    return result


def _verify_blocks(text: str) -> dict[str, list[str]]:
    """``rpmkeys -Kv`` output: "path:" then indented result lines, per file."""
    blocks: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line and not line[0].isspace() and line.endswith(":"):
            current = blocks.setdefault(line[:-1], [])
        elif current is not None and line.strip():
            current.append(line.strip())
    return blocks


def _query(files: Sequence[Path], fmt: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [RPM, "-qp", "--nosignature", "--nodigest", "--qf", fmt, *map(str, files)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=False,
    )


def _rpmkeys(db: Path, args: Sequence[str]) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [RPMKEYS, "--dbpath", str(db.absolute()), *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=False,
    )


def _errors(stderr: bytes) -> str:
    """The tool's stderr without rpmsign's harmless GPG_TTY chatter."""
    lines = stderr.decode(errors="replace").splitlines()
    return "\n".join(line for line in lines if "GPG_TTY" not in line and line.strip()).strip()
