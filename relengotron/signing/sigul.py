"""The sigul backend: the same operations as sigul client command lines, run on the signing bridge host.

Fedora's keys never leave the sigul server; the ``sigul`` client (configured with its NSS certificates on a
host that can reach the bridge) asks for signatures. This backend copies the files to sign into a temporary
directory on that host (SFTP), runs the client there through a :class:`~relengotron.tools.remote.CommandRunner`
and copies the results back, checking each one against the key's public half before it replaces anything.
The command lines follow the sigul client (``sigul [--batch] [-c CONF] [-u USER] [-f PASSFILE] COMMAND ...``):

- ``sign-rpms --output DIR [--v3-signature] KEY RPM...``
- ``sign-ostree --output COMMITMETA KEY CHECKSUM COMMIT_FILE`` (the server returns the detached metadata)
- ``sign-data [--armor] --output SIG KEY FILE`` (summary.sig payload, repomd.xml.asc)
- ``sign-text --output SIGNED KEY FILE`` (clear-signed CHECKSUM)
- ``get-public-key KEY``

With ``--batch`` the key passphrase is read from standard input, terminated by a NUL byte.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from relengotron.ostree import gvariant_binary
from relengotron.ostree.repo import OSTreeRepo
from relengotron.signing.base import Signer, SigningError
from relengotron.tools import rpmsign
from relengotron.tools.files import write_atomic
from relengotron.tools.remote import CommandRunner, RemoteError, remote_tempdir, run_checked
from relengotron.tools.run import ToolError


@dataclass(frozen=True)
class SigulCommands:
    """Builds sigul client argv (pure). ``client`` is the client command on the bridge host."""

    client: tuple[str, ...] = ("sigul",)
    config_file: str | None = None  # -c: the client.conf on the bridge host
    user: str | None = None  # -u: the sigul user name
    passphrase_file: str | None = None  # -f: a bound passphrase file on the bridge host
    v3_signature: bool = True  # RSA keys need v3 RPM signatures on Fedora's sigul

    def base(self) -> list[str]:
        argv = [*self.client, "--batch"]
        if self.config_file:
            argv += ["--config-file", self.config_file]
        if self.user:
            argv += ["--user-name", self.user]
        if self.passphrase_file:
            argv += ["--passphrase-file", self.passphrase_file]
        return argv

    def sign_rpms(self, key: str, rpms: Sequence[str], output_dir: str) -> list[str]:
        if not rpms:
            raise ValueError("sign-rpms needs at least one RPM")
        v3 = ["--v3-signature"] if self.v3_signature else []
        return [*self.base(), "sign-rpms", "--output", output_dir, *v3, "--", key, *rpms]

    def sign_ostree(self, key: str, commit: str, commit_file: str, output: str) -> list[str]:
        return [*self.base(), "sign-ostree", "--output", output, "--", key, commit, commit_file]

    def sign_data(self, key: str, input_file: str, output: str, *, armor: bool) -> list[str]:
        return [*self.base(), "sign-data", *(["--armor"] if armor else []), "--output", output, "--", key, input_file]

    def sign_text(self, key: str, input_file: str, output: str) -> list[str]:
        return [*self.base(), "sign-text", "--output", output, "--", key, input_file]

    def get_public_key(self, key: str) -> list[str]:
        return [*self.base(), "get-public-key", "--", key]


def rpm_batches(paths: Sequence[Path], size: int) -> list[list[Path]]:
    """Split ``paths`` into batches of at most ``size`` with distinct file names (``--output DIR`` is flat)."""
    batches: list[list[Path]] = []
    for path in paths:
        for batch in batches:
            if len(batch) < size and all(p.name != path.name for p in batch):
                batch.append(path)
                break
        else:
            batches.append([path])
    return batches


class SigulSigner(Signer):
    """Signs with the sigul key ``sigul_key`` (whose id is ``key_id``) through ``runner``'s host.

    ``passphrase`` (the key passphrase, from the signing connection) is sent on the client's standard input;
    leave it None when ``commands.passphrase_file`` names a bound passphrase on the host.
    """

    def __init__(
        self,
        runner: CommandRunner,
        sigul_key: str,
        key_id: str,
        *,
        commands: SigulCommands | None = None,
        passphrase: str | None = None,
        batch_size: int = 50,
        timeout: float = 1800.0,
    ) -> None:
        super().__init__()
        self.runner = runner
        self.sigul_key = sigul_key
        self.key_id = key_id.lower()[-8:]
        self.commands = commands or SigulCommands()
        self.passphrase = passphrase
        self.batch_size = batch_size
        self.timeout = timeout
        self.name = f"sigul:{sigul_key}@{runner.name}"
        self._public_key: str | None = None

    def public_key(self) -> str:
        if self._public_key is None:
            out = self._sigul(self.commands.get_public_key(self.sigul_key), item=f"{self.name}: public key")
            self._public_key = out.decode()
        return self._public_key

    def _sign_rpm_files(self, paths: Sequence[Path]) -> None:
        with remote_tempdir(self.runner, "sigul") as tmp, tempfile.TemporaryDirectory(prefix="sigul-") as keydir:
            key_file = Path(keydir) / "key.asc"
            key_file.write_text(self.keyring.armored)
            for number, batch in enumerate(rpm_batches(list(paths), self.batch_size)):
                indir, outdir = f"{tmp}/in{number}", f"{tmp}/out{number}"
                self._sigul(["mkdir", "-p", indir], item=indir, raw=True)
                for path in batch:
                    self._transfer(self.runner.put, path, f"{indir}/{path.name}")
                argv = self.commands.sign_rpms(self.sigul_key, [f"{indir}/{p.name}" for p in batch], outdir)
                self._sigul(argv, item=", ".join(str(p) for p in batch))
                for path in batch:
                    self._fetch_signed_rpm(path, f"{outdir}/{path.name}", key_file)

    def _fetch_signed_rpm(self, path: Path, remote: str, key_file: Path) -> None:
        """Bring back one signed RPM; it replaces ``path`` only if it is the same package, signed by our key."""
        part = path.with_name(f".{path.name}.sigul{os.getpid()}")
        try:
            self._transfer(self.runner.get, remote, part)
            try:
                signer = rpmsign.verify_rpms([part], [key_file])[part]
            except rpmsign.RpmVerifyError as exc:
                raise SigningError(f"{path}: the RPM sigul returned does not verify: {exc}") from exc
            if signer != self.key_id:
                raise SigningError(f"{path}: sigul returned it signed with {signer}, not {self.key_id}")
            if _sigmd5(part) != _sigmd5(path):
                raise SigningError(f"{path}: sigul returned a different package (header+payload digest differs)")
            os.chmod(part, path.stat().st_mode & 0o777)
            part.replace(path)
        finally:
            part.unlink(missing_ok=True)

    def _detach_sign(self, path: Path, *, armor: bool) -> bytes:
        return self._round_trip(
            path,
            lambda remote_in, remote_out: self.commands.sign_data(self.sigul_key, remote_in, remote_out, armor=armor),
        )

    def _clearsign(self, path: Path) -> bytes:
        return self._round_trip(
            path, lambda remote_in, remote_out: self.commands.sign_text(self.sigul_key, remote_in, remote_out)
        )

    def _sign_commit(self, repo: Path, commit: str) -> None:
        ostree = OSTreeRepo(repo)
        commit_file = ostree.commit_path(commit)
        returned = self._round_trip(
            commit_file,
            lambda remote_in, remote_out: self.commands.sign_ostree(self.sigul_key, commit, remote_in, remote_out),
        )
        try:
            new = [s for s in gvariant_binary.gpg_signatures(returned) if self._any_good([s], commit_file)]
        except gvariant_binary.GVariantError as exc:
            raise SigningError(f"{repo}@{commit}: sigul returned unreadable detached metadata: {exc}") from exc
        if not new:
            raise SigningError(f"{repo}@{commit}: sigul returned no good signature by {self.key_id}")
        meta = ostree.commitmeta_path(commit)
        merged = meta.read_bytes() if meta.is_file() else None
        for signature in new:
            merged = gvariant_binary.add_gpg_signature(merged, signature)
        assert merged is not None
        write_atomic(meta, merged)

    def _sign_summary(self, repo: Path, *, regenerate: bool) -> None:
        sig_path = repo / "summary.sig"
        if regenerate:
            try:
                OSTreeRepo(repo).update_summary(None)
            except ToolError as exc:
                raise SigningError(str(exc)) from exc
            sig_path.unlink(missing_ok=True)  # signatures over the old summary
        signature = self._detach_sign(repo / "summary", armor=False)
        if not self.keyring.check_detached(signature, repo / "summary").good_by(self.fingerprint):
            raise SigningError(f"{repo}/summary: sigul returned no good signature by {self.key_id}")
        existing = sig_path.read_bytes() if sig_path.is_file() else None
        write_atomic(sig_path, gvariant_binary.add_gpg_signature(existing, signature))

    def _round_trip(self, path: Path, argv_for: Callable[[str, str], list[str]]) -> bytes:
        """Put ``path`` on the host, run the command ``argv_for(remote_in, remote_out)``, return remote_out."""
        with remote_tempdir(self.runner, "sigul") as tmp, tempfile.TemporaryDirectory(prefix="sigul-") as local:
            remote_in, remote_out = f"{tmp}/{path.name}", f"{tmp}/{path.name}.out"
            self._transfer(self.runner.put, path, remote_in)
            self._sigul(argv_for(remote_in, remote_out), item=str(path))
            result = Path(local) / "out"
            self._transfer(self.runner.get, remote_out, result)
            return result.read_bytes()

    def _sigul(self, argv: list[str], *, item: str, raw: bool = False) -> bytes:
        stdin = None
        if not raw and self.passphrase is not None:
            stdin = self.passphrase.encode() + b"\0"
        try:
            return run_checked(self.runner, argv, item=item, input=stdin, timeout=self.timeout)
        except (ToolError, RemoteError) as exc:
            raise SigningError(f"{self.name}: {exc}") from exc

    def _transfer(self, move: Callable[[Any, Any], None], source: Path | str, dest: Path | str) -> None:
        try:
            move(source, dest)
        except (RemoteError, OSError) as exc:
            raise SigningError(f"{self.name}: cannot copy {source} to {dest}: {exc}") from exc


def _sigmd5(path: Path) -> str:
    try:
        return rpmsign.query_headers([path], "%{SIGMD5}")[0].strip()
    except rpmsign.RpmSignError as exc:
        raise SigningError(str(exc)) from exc
