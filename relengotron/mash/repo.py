"""The mash's I/O: fetch RPMs from Koji's topurl, check them, write the yum repository, swap it into place.

Everything is written into a staging directory beside the destination (same filesystem) and the finished
repository replaces the destination in one atomic step (``renameat2(RENAME_EXCHANGE)``), so a client never
sees a half-written repository. Staging directories are named ``.<dest>.mash-*``; one left by a killed mash
is removed by the next mash of the same destination.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

import requests

from relengotron.mash.errors import MashError, MashTransientError
from relengotron.mash.plan import PlannedRPM
from relengotron.mash.updateinfo import PackageEntry, UpdateinfoError, parse_updateinfo
from relengotron.sync.repodata import RepodataError, decompress, parse_repomd
from relengotron.tools import rpmsign
from relengotron.tools.run import run
from relengotron.updates import Update

RECORD = ".mash.json"
CREATEREPO = "createrepo_c"
MODIFYREPO = "modifyrepo_c"
RPM = "rpm"
_CHUNK = 1 << 20
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
_QF = "%{NAME}\\t%{EPOCHNUM}\\t%{VERSION}\\t%{RELEASE}\\t%{SOURCERPM}\\t%{SIGMD5}\\t%{SOURCEPACKAGE}\\n"


@dataclass(frozen=True)
class Fetched:
    planned: PlannedRPM
    path: Path
    sha256: str
    size: int


@dataclass(frozen=True)
class Reused:
    """An RPM of the previous compose, hard-linked into the new one: its updateinfo entry, from the record."""

    entry: PackageEntry
    size: int


# --- the previous compose -----------------------------------------------------------------------------------


def previous_advisories(dest: Path) -> tuple[Update, ...]:
    """The advisories of the repository in ``dest`` (its published updateinfo); () when there is none.

    Read-only. An updateinfo that cannot be read is a :class:`MashError` naming it: carrying nothing would
    silently drop every earlier advisory.
    """
    repomd = dest / "repodata" / "repomd.xml"
    if not repomd.is_file():
        return ()
    try:
        entries = [d for d in parse_repomd(repomd.read_bytes()) if d.type == "updateinfo"]
        if not entries:
            return ()
        path = dest / entries[0].href
        return parse_updateinfo(decompress(path.name, path.read_bytes()), item=str(path))
    except (OSError, RepodataError, UpdateinfoError) as exc:
        raise MashError(str(dest), f"the previous compose's updateinfo cannot be read: {exc}") from exc


def comps_digest(path: Path) -> str:
    """The sha256 of a release's comps file; :class:`MashError` naming it when it is missing or not comps."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise MashError(str(path), f"the release's comps file cannot be read: {exc.strerror}") from None
    try:
        root = ET.fromstring(data).tag
    except ET.ParseError as exc:
        raise MashError(str(path), f"the release's comps file is not XML: {exc}") from None
    if root != "comps":
        raise MashError(str(path), f"the release's comps file is not a comps document (<{root}>, not <comps>)")
    return hashlib.sha256(data).hexdigest()


def reusable(planned: Sequence[PlannedRPM], record: dict | None) -> dict[str, dict]:
    """Which planned RPMs the compose of ``record`` holds as the same file: same place, build, Koji payload
    hash and signature. File name → the record's entry. Pure (a record of plan 1 has no signatures: nothing).
    """
    if record is None or record.get("digest") is None:
        return {}
    known = {e.get("relpath"): e for e in record.get("rpms", []) if isinstance(e, dict) and "sighash" in e}
    out: dict[str, dict] = {}
    for item in planned:
        entry = known.get(item.relpath)
        if entry is not None and (entry["nvr"], entry["payloadhash"], entry["sighash"]) == (
            item.build.nvr,
            item.rpm.payloadhash,
            item.sighash,
        ):
            out[item.rpm.filename] = entry
    return out


def reuse_rpms(planned: Sequence[PlannedRPM], previous: Path, record: dict | None, repo_dir: Path) -> dict[str, Reused]:
    """Hard-link into ``repo_dir`` every planned RPM the previous compose in ``previous`` (whose record is
    ``record``) holds as the same file (:func:`reusable`, and the size recorded); a copy where a link cannot
    be made. File name → what was reused. Changes nothing in ``previous``.
    """
    same = reusable(planned, record)
    out: dict[str, Reused] = {}
    made: set[str] = set()
    source, target_top = str(previous), str(repo_dir)  # plain strings: thousands of files, pathlib is slow here
    for item in planned:
        entry = same.get(item.rpm.filename)
        if entry is None:
            continue
        relpath = item.relpath
        old, target = f"{source}/{relpath}", f"{target_top}/{relpath}"
        try:
            if os.stat(old).st_size != entry["size"]:
                continue
            parent = os.path.dirname(target)
            if parent not in made:
                os.makedirs(parent, exist_ok=True)
                made.add(parent)
            try:
                os.link(old, target)
            except OSError:
                shutil.copy2(old, target)
        except OSError:
            continue  # gone or unreadable: fetched instead
        out[item.rpm.filename] = Reused(PackageEntry(**entry["entry"]), entry["size"])
    return out


def record_entry(item: PlannedRPM, entry: PackageEntry, size: int) -> dict:
    """What the record keeps of one RPM: enough to reuse it (and its updateinfo entry) in the next compose."""
    return {
        "filename": item.rpm.filename,
        "relpath": item.relpath,
        "nvr": item.build.nvr,
        "payloadhash": item.rpm.payloadhash,
        "sighash": item.sighash,
        "sha256": entry.sha256,
        "size": size,
        "entry": dict(vars(entry)),
    }


# --- fetching -----------------------------------------------------------------------------------------------


def fetch_rpms(
    planned: Sequence[PlannedRPM], repo_dir: Path, *, workers: int = 4, timeout: float = 300.0, attempts: int = 3
) -> list[Fetched]:
    """Download every planned RPM to ``repo_dir/<relpath>`` with a small thread pool.

    Each file's mtime is set to its build time, so the repository metadata does not depend on when it was
    fetched. HTTP 404 is permanent (:class:`MashError` naming the RPM and URL); connection errors and 5xx
    are retried ``attempts`` times, then :class:`MashTransientError`.
    """
    local = threading.local()

    def one(item: PlannedRPM) -> Fetched:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        path = repo_dir / item.relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        digest, size = _download(session, item, path, timeout, attempts)
        if item.sigkey is None and item.rpm.size and size != item.rpm.size:
            raise MashError(item.rpm.filename, f"{item.url} has {size} bytes, Koji says {item.rpm.size}")
        if item.rpm.buildtime:
            os.utime(path, (item.rpm.buildtime, item.rpm.buildtime))
        return Fetched(item, path, digest, size)

    if not planned:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(planned))), thread_name_prefix="mash-fetch") as pool:
        futures = [pool.submit(one, item) for item in planned]
        results: list[Fetched] = []
        failure: BaseException | None = None
        for future in futures:
            try:
                results.append(future.result())
            except BaseException as exc:
                failure = failure or exc
                for other in futures:
                    other.cancel()
        if failure is not None:
            raise failure
    return results


def _download(
    session: requests.Session, item: PlannedRPM, path: Path, timeout: float, attempts: int
) -> tuple[str, int]:
    name, url = item.rpm.filename, item.url
    if url.startswith("file://"):
        source = Path(unquote(urlparse(url).path))
        if not source.is_file():
            raise MashError(name, f"{url} does not exist")
        with open(source, "rb") as src, open(path, "wb") as out:
            return _copy(src.read, out)
    for attempt in range(attempts):
        try:
            with session.get(url, stream=True, timeout=timeout) as answer:
                if answer.status_code == 404:
                    raise MashError(name, f"{url} does not exist (HTTP 404)")
                if answer.status_code >= 500 and attempt < attempts - 1:
                    raise requests.HTTPError(f"HTTP {answer.status_code}", response=answer)
                if answer.status_code >= 500:
                    raise MashTransientError(name, f"{url} answered HTTP {answer.status_code}")
                if answer.status_code != 200:
                    raise MashError(name, f"{url} answered HTTP {answer.status_code}")
                encoded = answer.headers.get("Content-Encoding")
                expected = None if encoded else answer.headers.get("Content-Length")
                with open(path, "wb") as out:
                    digest, size = _copy(lambda n: answer.raw.read(n, decode_content=True), out)
                if expected is not None and int(expected) != size:
                    raise requests.exceptions.ChunkedEncodingError(f"got {size} of {expected} bytes")
                return digest, size
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
            if attempt == attempts - 1:
                raise MashTransientError(name, f"cannot fetch {url}: {exc}") from exc
        except requests.HTTPError:
            pass
        time.sleep(0.5 * 2**attempt)
    raise MashTransientError(name, f"cannot fetch {url}")


def _copy(read, out) -> tuple[str, int]:  # type: ignore[no-untyped-def]
    digest = hashlib.sha256()
    size = 0
    while chunk := read(_CHUNK):
        digest.update(chunk)
        out.write(chunk)
        size += len(chunk)
    out.flush()
    os.fsync(out.fileno())
    return digest.hexdigest(), size


# --- checking -----------------------------------------------------------------------------------------------


def check_rpms(fetched: Sequence[Fetched], public_keys: Iterable[str | Path] = ()) -> dict[str, PackageEntry]:
    """Check every fetched file against Koji's record and the key it must be signed with.

    The signature actually in each header must be the planned key (not only Koji's word); the header+payload
    md5 must be Koji's ``payloadhash``; name/version/release must match. With ``public_keys`` every signature
    is also verified cryptographically (``rpmkeys -K``). Raises :class:`MashError` naming the first RPM that
    fails, and for a signature the key expected and found. Returns file name → its updateinfo entry.
    """
    if not fetched:
        return {}
    paths = [f.path for f in fetched]
    try:
        key_ids = rpmsign.signing_key_ids(paths)
    except rpmsign.RpmSignError as exc:
        raise MashError(exc.path.name, f"not a readable RPM: {exc}") from exc
    for item in fetched:
        wanted = item.planned.sigkey
        found = key_ids[item.path]
        if wanted is not None and found != wanted:
            raise MashError(
                item.planned.rpm.filename,
                f"not signed with the release key {wanted} (found: {found or 'no signature'}; from {item.planned.url})",
            )
    proc = run([RPM, "-qp", "--nosignature", "--nodigest", "--qf", _QF, *map(str, paths)], item="fetched RPMs")
    lines = proc.stdout.decode(errors="replace").splitlines()
    if len(lines) != len(fetched):
        raise MashError("fetched RPMs", f"rpm -qp gave {len(lines)} answers for {len(fetched)} files")
    entries: dict[str, PackageEntry] = {}
    for item, line in zip(fetched, lines, strict=True):
        rpm = item.planned.rpm
        name, epoch, version, release, sourcerpm, sigmd5, is_source = line.split("\t")
        if (name, version, release) != (rpm.name, rpm.version, rpm.release):
            raise MashError(rpm.filename, f"the file holds {name}-{version}-{release}, not {rpm.nvr}")
        if rpm.payloadhash and sigmd5.lower() != rpm.payloadhash.lower():
            raise MashError(rpm.filename, f"header+payload md5 {sigmd5} differs from Koji's {rpm.payloadhash}")
        source = rpm.filename if is_source == "1" or rpm.arch == "src" else sourcerpm
        entries[rpm.filename] = PackageEntry(
            name=rpm.name,
            epoch=int(epoch or 0),
            version=rpm.version,
            release=rpm.release,
            arch=rpm.arch,
            filename=rpm.filename,
            src=source,
            sha256=item.sha256,
        )
    keys = list(public_keys)
    if keys:
        try:
            rpmsign.verify_rpms(paths, keys)
        except rpmsign.RpmVerifyError as exc:
            raise MashError(exc.path.name, f"signature does not verify: {exc}") from exc
    return entries


# --- repository metadata ------------------------------------------------------------------------------------


def createrepo(
    repo_dir: Path,
    revision: int,
    *,
    item: str,
    previous: Path | None = None,
    exclude: Sequence[str] = (),
    groupfile: Path | None = None,
) -> None:
    """createrepo_c with every timestamp pinned to ``revision``: the same files give the same metadata.

    With ``previous`` (a repository whose RPMs were hard-linked in), its metadata is reused for every file
    of the same name, size and time (createrepo_c's update mode): only the new RPMs' headers are read.
    ``exclude``: path patterns (relative to ``repo_dir``) of what is not this repository's (``debug/*``).
    ``groupfile``: the comps file the repository carries (``group`` metadata, as dnf's group commands read).
    """
    update = ["--update", f"--update-md-path={previous}"] if previous is not None else []
    update += [f"--excludes={pattern}" for pattern in exclude]
    update += [f"--groupfile={groupfile}"] if groupfile is not None else []
    run(
        [
            CREATEREPO,
            "--quiet",
            "--no-database",
            "--checksum=sha256",
            f"--revision={revision}",
            "--set-timestamp-to-revision",
            "--workers=2",
            *update,
            str(repo_dir),
        ],
        item=item,
    )


def add_updateinfo(repo_dir: Path, updateinfo: bytes, revision: int, work_dir: Path, *, item: str) -> None:
    """Add updateinfo.xml with modifyrepo_c, then pin its repomd timestamp (modifyrepo_c writes "now")."""
    source = work_dir / "updateinfo.xml"
    source.write_bytes(updateinfo)
    os.utime(source, (revision, revision))
    run([MODIFYREPO, "--mdtype=updateinfo", "--checksum=sha256", str(source), str(repo_dir / "repodata")], item=item)
    repomd = repo_dir / "repodata" / "repomd.xml"
    text = repomd.read_text(encoding="utf-8")
    block = re.compile(r'(<data type="updateinfo">.*?<timestamp>)\d+(</timestamp>.*?</data>)', re.DOTALL)
    fixed, count = block.subn(rf"\g<1>{revision}\g<2>", text)
    if count != 1:
        raise MashError(item, f"modifyrepo_c left {count} updateinfo records in repomd.xml")
    repomd.write_text(fixed, encoding="utf-8")
    for path in (repo_dir / "repodata").iterdir():
        os.utime(path, (revision, revision))


def metadata_files(repo_dir: Path, repos: Sequence[str]) -> list[str]:
    """The metadata files of the repositories ``repos`` ("" and ``debug``) under ``repo_dir``, relative to it."""
    found = []
    for sub in repos:
        base = repo_dir / sub if sub else repo_dir
        found += [p.relative_to(repo_dir).as_posix() for p in (base / "repodata").iterdir()]
    return sorted(found)


def _metadata_paths(record: dict) -> set[str]:
    """The record's metadata files, relative to the repository (a record of plan 1 named them in repodata/)."""
    return {n if "/" in n else f"repodata/{n}" for n in record.get("repodata", [])}


def repomd_checksums(repo_dir: Path) -> dict[str, str]:
    """Metadata type → its checksum, from repodata/repomd.xml (read-only)."""
    text = (repo_dir / "repodata" / "repomd.xml").read_text(encoding="utf-8")
    found = re.findall(r'<data type="([^"]+)">\s*<checksum type="[^"]+">([0-9a-f]+)</checksum>', text)
    return dict(found)


# --- the record and the swap --------------------------------------------------------------------------------


def write_record(repo_dir: Path, record: dict) -> None:
    """The mash's record beside the repository (compact: it names every RPM, thousands in an updates repo)."""
    path = repo_dir / RECORD
    path.write_text(json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n", encoding="utf-8")


def record_changes(old: dict | None, new: dict) -> tuple[list[str], list[str]]:
    """What turns the repository of record ``old`` into that of ``new`` (paths relative to the repository,
    sorted): the RPMs new or different, the metadata files new, every repomd.xml and the record itself; and
    what ``old`` names that ``new`` does not. ``old`` None: everything ``new`` names. Pure."""
    old = old or {}
    sums_old = {e["relpath"]: e.get("sha256") for e in old.get("rpms", [])}
    sums_new = {e["relpath"]: e.get("sha256") for e in new.get("rpms", [])}
    meta_old, meta_new = _metadata_paths(old), _metadata_paths(new)
    written = {p for p, digest in sums_new.items() if sums_old.get(p) != digest} | (meta_new - meta_old)
    written |= {p for p in meta_new if p.endswith("/repomd.xml")} | {RECORD}
    return sorted(written), sorted((set(sums_old) - set(sums_new)) | (meta_old - meta_new))


def parse_record(data: bytes) -> dict | None:
    """A mash record from its bytes (as :func:`read_record` reads it from a directory); None if unreadable."""
    try:
        parsed = json.loads(data)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def read_record(dest: Path) -> dict | None:
    try:
        return parse_record((dest / RECORD).read_bytes())
    except OSError:
        return None


def is_current(dest: Path, digest: str, record: dict | None) -> bool:
    """Does ``dest``, whose record is ``record``, hold the complete result of the plan ``digest``? (repomd
    and every RPM and metadata file the record names present). Read-only."""
    if record is None or record.get("digest") != digest:
        return False
    if not (dest / "repodata" / "repomd.xml").is_file():
        return False
    for entry in record.get("rpms", []):
        path = dest / entry["relpath"]
        if not path.is_file() or path.stat().st_size != entry["size"]:
            return False
    return all((dest / path).is_file() for path in _metadata_paths(record))


@contextmanager
def locked(directory: Path) -> Iterator[None]:
    """Hold an exclusive flock on ``directory`` itself (no lock file is left behind)."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def staging_prefix(dest: Path) -> str:
    return f".{dest.name}.mash-"


def remove_leftovers(dest: Path) -> list[Path]:
    """Remove staging directories a killed mash of ``dest`` left beside it (call under :func:`locked`)."""
    removed = []
    for leftover in sorted(dest.parent.glob(staging_prefix(dest) + "*")):
        shutil.rmtree(leftover, ignore_errors=True)
        removed.append(leftover)
    return removed


def new_staging(dest: Path) -> Path:
    return Path(tempfile.mkdtemp(prefix=staging_prefix(dest), dir=dest.parent))


def swap_into_place(new: Path, dest: Path) -> None:
    """Make ``new`` the content of ``dest`` in one atomic step; the old content ends up at ``new``.

    Both must be on one filesystem. Where the kernel or filesystem cannot exchange (e.g. NFS), the old
    directory is renamed away and the new one renamed in: ``dest`` is then missing for an instant, but never
    half-written.
    """
    if not dest.exists():
        os.rename(new, dest)
        return
    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is not None:
        renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
        if renameat2(_AT_FDCWD, os.fsencode(new), _AT_FDCWD, os.fsencode(dest), _RENAME_EXCHANGE) == 0:
            return
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
            raise OSError(err, f"cannot exchange {new} and {dest}: {os.strerror(err)}")
    aside = new.with_name(new.name + ".old")
    os.rename(dest, aside)
    os.rename(new, dest)
    os.rename(aside, new)
