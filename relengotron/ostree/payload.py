"""RPM payloads into an OSTree commit: check the files, match them to the manifest, commit their contents.

The tree is assembled without installing anything: each RPM's payload is unpacked with ``rpm2cpio`` into a
cpio archive and ``ostree commit --tree=tar=...`` imports the archives in order (libarchive reads cpio), so
no file is ever written through a symlink of a half-built root and nothing needs root. Files are owned by
root in the commit; scriptlets do not run (what ``rpm-ostree`` does on a compose host is the remote backend).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from relengotron.manifest import Manifest
from relengotron.ostree.repo import OSTreeRepo
from relengotron.tools import rpmsign
from relengotron.tools.run import ToolError, run

RPMKEYS = "rpmkeys"
RPM2CPIO = "rpm2cpio"


class PayloadError(RuntimeError):
    """An RPM cannot go into the tree (missing, damaged, unsigned, not in the manifest); names it."""


@dataclass(frozen=True)
class RpmFile:
    path: Path
    name: str
    version: str
    release: str
    arch: str

    @property
    def nvr(self) -> str:
        return f"{self.name}-{self.version}-{self.release}"


def read_rpms(paths: Sequence[str | Path]) -> list[RpmFile]:
    """Check that every file is an intact binary RPM and read its NVR (read-only).

    Digests are verified (``rpmkeys -K --nosignature``: a damaged payload is caught here, not half-way into
    a commit). Raises :class:`PayloadError` naming the first missing, damaged or source RPM.
    """
    files = [Path(p).absolute() for p in paths]
    for path in files:
        if not path.is_file():
            raise PayloadError(f"{path}: no such RPM file")
    if not files:
        return []
    check = run([RPMKEYS, "-K", "--nosignature", *map(str, files)], item="payload RPMs", check=False)
    verdicts: dict[str, str] = {}
    for line in check.stdout.decode(errors="replace").splitlines():
        path, sep, verdict = line.rpartition(": ")
        if sep:
            verdicts[path] = verdict.strip()
    for path in files:
        if verdicts.get(str(path)) != "digests OK":
            detail = verdicts.get(str(path)) or _last_error(check.stderr, path)
            raise PayloadError(f"{path}: damaged RPM ({detail})")
    try:
        lines = rpmsign.query_headers(files, "%{NAME}\\t%{VERSION}\\t%{RELEASE}\\t%{ARCH}\\t%{SOURCERPM}")
    except rpmsign.RpmSignError as exc:
        raise PayloadError(str(exc)) from exc
    rpms: list[RpmFile] = []
    for path, line in zip(files, lines, strict=True):
        name, version, release, arch, source = line.split("\t")
        if source == "(none)":
            raise PayloadError(f"{path}: is a source RPM, not a payload")
        rpms.append(RpmFile(path=path, name=name, version=version, release=release, arch=arch))
    return rpms


def match_manifest(manifest: Manifest, rpms: Sequence[RpmFile]) -> list[RpmFile]:
    """The RPMs in payload order (by NVR, then arch), checked against the manifest (pure).

    Every NVR of the manifest needs at least one RPM, and every RPM must be in the manifest; otherwise
    :class:`PayloadError` names the NVR or the file.
    """
    wanted = set(manifest.nvrs)
    have: dict[str, list[RpmFile]] = {}
    for rpm in rpms:
        if rpm.nvr not in wanted:
            raise PayloadError(f"{rpm.path}: {rpm.nvr} is not in the manifest")
        have.setdefault(rpm.nvr, []).append(rpm)
    missing = [nvr for nvr in manifest.nvrs if nvr not in have]
    if missing:
        raise PayloadError(f"{missing[0]}: in the manifest but no RPM was given for it" + _more(missing))
    return sorted(rpms, key=lambda r: (r.nvr, r.arch, str(r.path)))


def verify_signatures(rpms: Sequence[RpmFile], public_keys: Sequence[str | Path]) -> None:
    """Refuse any RPM not signed by one of ``public_keys`` (read-only; the error names the RPM)."""
    try:
        rpmsign.verify_rpms([r.path for r in rpms], public_keys)
    except rpmsign.RpmSignError as exc:
        raise PayloadError(str(exc)) from exc


def commit_rpms(
    repo: OSTreeRepo, rpms: Sequence[RpmFile], *, workdir: Path, subject: str, branch: str | None = None
) -> str:
    """Commit the union of the RPMs' payloads (later ones win on a shared path) into ``repo``; the checksum.

    The cpio archives go to a temporary directory under ``workdir`` that is removed afterwards. Equal RPMs
    in equal order give a commit with an equal content checksum. Not idempotent by itself (see
    :meth:`OSTreeRepo.commit`); a ToolError names the RPM rpm2cpio could not unpack.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".payload-", dir=workdir))
    try:
        trees: list[str] = []
        for index, rpm in enumerate(rpms):
            archive = tmp / f"{index:05d}.cpio"
            try:
                run(["sh", "-c", 'exec "$0" "$1" > "$2"', RPM2CPIO, str(rpm.path), str(archive)], item=str(rpm.path))
            except ToolError as exc:  # name rpm2cpio, not the shell that redirected its output
                raise ToolError(str(rpm.path), [RPM2CPIO, str(rpm.path)], exc.returncode, exc.stderr) from exc
            trees.append(f"tar={archive}")
        if not trees:
            empty = tmp / "empty"
            empty.mkdir()
            trees.append(f"dir={empty}")
        return repo.commit(
            trees=trees,
            subject=subject,
            branch=branch,
            tar_autocreate_parents=True,
            item=f"{branch or subject}: committing {len(rpms)} RPM payloads into {repo.path}",
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _last_error(stderr: bytes, path: Path) -> str:
    lines = [line for line in stderr.decode(errors="replace").splitlines() if str(path) in line]
    return lines[-1].split(": ", 2)[-1] if lines else "rpmkeys cannot read it"


def _more(items: Sequence[str]) -> str:
    return f" (and {len(items) - 1} more: {', '.join(items[1:4])})" if len(items) > 1 else ""
