"""The I/O around dist.depcheck: list a build's RPMs and its target repo in Koji, read their headers.

Koji is asked through the real ``koji.ClientSession``: ``getBuild`` and ``listRPMs`` for the build under test,
``listTaggedRPMS(tag, latest=True, inherit=True)`` for the target repo. RPMs are downloaded from Koji's
``topurl`` (its ``packages/<n>/<v>/<r>/<arch>/`` layout) and their headers read with ONE ``rpm -qp`` per
batch. Headers are cached on disk by payloadhash (the hex SIGMD5 Koji records, which signing does not
change), so each RPM is downloaded and read once per sandbox.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import koji
import requests

from relengotron_sandbox.taskotron.depcheck import RpmHeader, Verdict, depcheck
from relengotron_sandbox.taskotron.outcome import CheckError

log = logging.getLogger(__name__)

RPM = "rpm"
TOOL_TIMEOUT = 300
_QF = (
    "@@%{SIGMD5}\\t%{NAME}\\t%{EPOCHNUM}\\t%{VERSION}\\t%{RELEASE}\\t%{ARCH}\\n"
    "[R\\t%{REQUIRENEVRS}\\n][P\\t%{PROVIDENEVRS}\\n][F\\t%{FILENAMES}\\n]"
)


@dataclass(frozen=True)
class RpmRef:
    """One RPM as Koji lists it: where to download it and what its header must hash to."""

    url: str
    payloadhash: str
    package: str  # the build's package name: the candidates replace the repo's RPMs of the same package
    nvra: str


def parse_queryformat(text: str) -> dict[str, dict[str, Any]]:
    """Parse the output of ``rpm -qp --qf _QF`` into header records keyed by SIGMD5."""
    records: dict[str, dict[str, Any]] = {}
    current: dict[str, Any] | None = None
    for line in text.splitlines():
        if line.startswith("@@"):
            sigmd5, name, epoch, version, release, arch = line[2:].split("\t")
            current = {
                "name": name,
                "epoch": int(epoch) or None,
                "version": version,
                "release": release,
                "arch": arch,
                "requires": [],
                "provides": [],
                "files": [],
            }
            records[sigmd5] = current
        elif current is not None and line[:2] in ("R\t", "P\t", "F\t"):
            field = {"R": "requires", "P": "provides", "F": "files"}[line[0]]
            current[field].append(line[2:])
    return records


class HeaderReader:
    """Headers of Koji's RPMs, cached as JSON files named by payloadhash under ``cache_dir``."""

    def __init__(self, cache_dir: Path, *, timeout: float = 60.0) -> None:
        self.cache_dir = cache_dir
        self.timeout = timeout
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self._http = requests.Session()

    def _cached(self, payloadhash: str) -> dict[str, Any] | None:
        path = self.cache_dir / f"{payloadhash}.json"
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return None

    def _store(self, payloadhash: str, record: dict[str, Any]) -> None:
        """Write one cache entry atomically; idempotent (same payloadhash, same content)."""
        path = self.cache_dir / f"{payloadhash}.json"
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(record))
        os.replace(tmp, path)

    def headers(self, refs: Sequence[RpmRef]) -> list[RpmHeader]:
        """The headers of ``refs`` (in order): cached ones from disk, the rest downloaded and read at once."""
        records = {r.payloadhash: self._cached(r.payloadhash) for r in refs}
        missing = [r for r in refs if records[r.payloadhash] is None]
        if missing:
            records.update(self._read(missing))
        return [
            RpmHeader(
                name=rec["name"],
                version=rec["version"],
                release=rec["release"],
                arch=rec["arch"],
                epoch=rec["epoch"],
                requires=tuple(rec["requires"]),
                provides=tuple(rec["provides"]),
                files=tuple(rec["files"]),
                package=ref.package,
            )
            for ref in refs
            for rec in [records[ref.payloadhash]]
            if rec is not None
        ]

    def _read(self, refs: Sequence[RpmRef]) -> dict[str, dict[str, Any]]:
        with tempfile.TemporaryDirectory(dir=self.cache_dir, prefix="download-") as tmp:
            paths = [self._download(ref, Path(tmp) / f"{i}.rpm") for i, ref in enumerate(refs)]
            try:
                proc = subprocess.run(
                    [RPM, "-qp", "--nosignature", "--nodigest", "--qf", _QF, *map(str, paths)],
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    text=True,
                    timeout=TOOL_TIMEOUT,
                    check=False,
                )
            except FileNotFoundError:
                raise CheckError(f"{RPM} is not installed") from None
            except subprocess.TimeoutExpired:
                raise CheckError(f"rpm -qp of {len(paths)} RPMs did not finish in {TOOL_TIMEOUT} s") from None
        parsed = parse_queryformat(proc.stdout)
        out: dict[str, dict[str, Any]] = {}
        for ref in refs:
            record = parsed.get(ref.payloadhash)
            if record is None:
                detail = proc.stderr.strip().splitlines()[-1:] or ["no header with that SIGMD5"]
                raise CheckError(
                    f"cannot read the header of {ref.nvra} ({ref.payloadhash}) from {ref.url}: {detail[0]}"
                )
            self._store(ref.payloadhash, record)
            out[ref.payloadhash] = record
        return out

    def _download(self, ref: RpmRef, dest: Path) -> Path:
        parts = urlsplit(ref.url)
        if parts.scheme in ("", "file"):
            try:
                shutil.copyfile(parts.path if parts.scheme else ref.url, dest)
            except OSError as exc:
                raise CheckError(f"cannot read {ref.url}: {exc}") from None
            return dest
        try:
            with self._http.get(ref.url, stream=True, timeout=self.timeout) as answer:
                if answer.status_code != 200:
                    raise CheckError(f"GET {ref.url} answered HTTP {answer.status_code}")
                with dest.open("wb") as handle:
                    for chunk in answer.iter_content(1 << 20):
                        handle.write(chunk)
        except requests.RequestException as exc:
            raise CheckError(f"cannot download {ref.url}: {exc}") from None
        return dest


class KojiRepo:
    """A build and its target repo as the sandbox Koji hub lists them."""

    def __init__(self, hub: str, topurl: str, reader: HeaderReader, arches: Sequence[str] = ("noarch", "x86_64")):
        # anonymous calls, no retries: a hub that does not answer is a CheckError now, not in ten minutes
        self.session = koji.ClientSession(hub, opts={"anon_retry": False, "timeout": 60})
        self.pathinfo = koji.PathInfo(topdir=topurl.rstrip("/"))
        self.reader = reader
        self.arches = tuple(arches)

    def _ref(self, build: dict[str, Any], rpm: dict[str, Any]) -> RpmRef:
        url = f"{self.pathinfo.build(build)}/{self.pathinfo.rpm(rpm)}"
        nvra = f"{rpm['name']}-{rpm['version']}-{rpm['release']}.{rpm['arch']}"
        package = build.get("package_name") or build["name"]
        return RpmRef(url=url, payloadhash=rpm["payloadhash"], package=package, nvra=nvra)

    def build_rpms(self, nvr: str) -> list[RpmRef]:
        """The binary RPMs of build ``nvr`` (of the configured arches)."""
        try:
            build = self.session.getBuild(nvr)
            if not build:
                raise CheckError(f"Koji has no build {nvr}")
            rpms = self.session.listRPMs(buildID=build["id"])
        except (koji.GenericError, OSError, requests.RequestException) as exc:
            raise CheckError(f"Koji: cannot list the RPMs of {nvr}: {exc}") from None
        refs = [self._ref(build, r) for r in rpms if r["arch"] in self.arches]
        if not refs:
            raise CheckError(f"build {nvr} has no binary RPMs for {', '.join(self.arches)}")
        return refs

    def tag_rpms(self, tag: str) -> list[RpmRef]:
        """The binary RPMs of the latest builds in ``tag``, with inheritance: the repo a build would join."""
        try:
            rpms, builds = self.session.listTaggedRPMS(tag, latest=True, inherit=True, arch=list(self.arches))
        except (koji.GenericError, OSError, requests.RequestException) as exc:
            raise CheckError(f"Koji: cannot list the RPMs of tag {tag}: {exc}") from None
        by_id = {b.get("build_id", b.get("id")): b for b in builds}
        return [self._ref(by_id[r["build_id"]], r) for r in rpms if r["arch"] in self.arches]

    def depcheck(self, nvr: str, target_tag: str) -> Verdict:
        """Run dist.depcheck for build ``nvr`` against ``target_tag``'s latest builds."""
        candidates = self.reader.headers(self.build_rpms(nvr))
        repo = self.reader.headers(self.tag_rpms(target_tag))
        verdict = depcheck(candidates, repo)
        log.info("depcheck %s against %s: %s", nvr, target_tag, verdict.note())
        return verdict
