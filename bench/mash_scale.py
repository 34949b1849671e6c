"""Figure 9 — incremental mash: a push of 10 updates into an updates repository of N packages (N = 5,000),
against a full mash of the same repository from nothing.

The repository's RPMs are real (noarch packages made by rpmbuild, many subpackages per spec, so that 5,000
take a few minutes to build), each carrying :data:`PAYLOAD` bytes of incompressible data: Fedora's binary
packages average about 1 MB (Florian Festi's "Fedora in Numbers", 2011, counts packages and gigabytes at
about one to one, and xz-compressed payloads do not compress further); with a few hundred bytes each the
"full mash" would be a mash of nothing. Generated once (5 GB) and cached under ``var/cache/bench-mash``; a
pool of another :data:`POOL_VERSION` is removed. Koji's
answers for the tag are given by :class:`PoolKoji` — the few calls a mash makes (the latest builds of the tag,
their RPMs) answered from the pool's manifest — and the RPMs are read from the pool's directory laid out as
Koji's volume (``file://`` topurl: a compose host with Koji's volume mounted). The release is unsigned here:
signature checks are timed with the world's signed RPMs in the integration tests, not at this scale.

- measured: :func:`relengotron.mash.mash` of the tag after the push (10 packages with a new build) into the
  repository as the previous push left it (a hard-linked copy of it, made untimed before each repeat);
- baseline (``naive``): the same mash into an empty destination — every RPM fetched, every header read;
- bytes fetched: what the incremental mash copied from Koji's volume against the 10 new RPMs' sizes (the
  goal: equal).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.core import REPO, RunContext
from bench.stats import Figure, Metric, timed_metric

CACHE = REPO / "var" / "cache" / "bench-mash"
POOL_VERSION = 3  # bump when the generated RPMs change
PAYLOAD = 1 << 20  # bytes of random data in each package: Fedora's mean RPM size (see above)
PER_SPEC = 1000  # subpackages per rpmbuild
PUSHED = 10  # updates in the push
TAG = "f24-updates"
ISSUED = datetime(2016, 7, 1, tzinfo=UTC)


@dataclass(frozen=True)
class PoolRPM:
    name: str
    release: str  # 1.fc24 in the pool, 2.fc24 for the push's new builds
    filename: str
    relpath: str  # under the pool's topdir, as Koji lays its volume out
    size: int
    payloadhash: str
    buildtime: int


def package(index: int) -> str:
    return f"pool{index:05d}"


def spec_text(names: Sequence[str], release: str) -> str:
    """One spec making ``names`` as noarch subpackages of version 1.0 (no main package)."""
    lines = ["Name: benchpool", "Version: 1.0", f"Release: {release}", "Summary: bench pool", "License: MIT"]
    lines += ["BuildArch: noarch", "AutoReqProv: no", "", "%description", "Packages for the mash bench.", ""]
    for name in names:
        lines += [f"%package -n {name}", f"Summary: {name}", f"%description -n {name}", f"{name} {release}.", ""]
    lines += ["%prep", "%build", "%install", "mkdir -p %{buildroot}/usr/share/benchpool"]
    lines += [f"head -c {PAYLOAD} /dev/urandom > %{{buildroot}}/usr/share/benchpool/{name}" for name in names]
    lines.append("")
    for name in names:
        lines += [f"%files -n {name}", f"/usr/share/benchpool/{name}", ""]
    return "\n".join(lines)


def _rpmbuild(work: Path, topdir: Path, names: Sequence[str], release: str) -> list[PoolRPM]:
    spec = work / "benchpool.spec"
    work.mkdir(parents=True)
    spec.write_text(spec_text(names, release))
    defines = ["--define", f"_topdir {work}", "--define", "__os_install_post %{nil}"]
    defines += ["--define", "_binary_payload w0.ufdio"]  # random data does not compress: do not try
    subprocess.run(["rpmbuild", "-bb", "--quiet", *defines, str(spec)], check=True, capture_output=True)
    built = sorted((work / "RPMS" / "noarch").glob("*.rpm"))
    qf = "%{NAME}\\t%{SIGMD5}\\t%{BUILDTIME}\\n"
    query = subprocess.run(
        ["rpm", "-qp", "--nosignature", "--qf", qf, *map(str, built)], check=True, capture_output=True
    )
    out = []
    for path, line in zip(built, query.stdout.decode().splitlines(), strict=True):
        name, sigmd5, buildtime = line.split("\t")
        rel = f"packages/{name}/1.0/{release}/noarch/{path.name}"
        (topdir / rel).parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, topdir / rel)
        out.append(PoolRPM(name, release, path.name, rel, (topdir / rel).stat().st_size, sigmd5, int(buildtime)))
    return out


def pool(size: int) -> tuple[Path, list[PoolRPM]]:
    """The cached pool of ``size`` packages (release 1) and the push's new builds of the first
    :data:`PUSHED` (release 2): (topdir, every RPM). Built once; a directory without manifest is rebuilt."""
    root = CACHE / f"v{POOL_VERSION}-{size}"
    manifest = root / "manifest.json"
    if manifest.is_file():
        return root / "topdir", [PoolRPM(**r) for r in json.loads(manifest.read_text())]
    for stale in CACHE.glob(f"v*-{size}"):  # this pool half-built, or another version's
        shutil.rmtree(stale, ignore_errors=True)
    work, topdir = root / "work", root / "topdir"
    names = [package(i) for i in range(size)]
    chunks = [(names[i : i + PER_SPEC], "1.fc24") for i in range(0, size, PER_SPEC)] + [(names[:PUSHED], "2.fc24")]
    with ThreadPoolExecutor(max_workers=2) as threads:
        done = threads.map(lambda c: _rpmbuild(work / f"{c[1]}-{c[0][0]}", topdir, *c), chunks)
        rpms = [r for chunk in done for r in chunk]
    shutil.rmtree(work)
    manifest.write_text(json.dumps([r.__dict__ for r in rpms]))
    return topdir, rpms


class PoolKoji:
    """Koji's answers for the pool's tag, before (``pushed`` False) or after the push — the calls
    :func:`relengotron.mash.mash` makes, from the manifest; ``topurl`` is the pool's topdir (file://)."""

    def __init__(self, topdir: Path, rpms: Sequence[PoolRPM], *, pushed: bool) -> None:
        from relengotron.kojiclient import KojiBuild, KojiRPM

        self.topurl = topdir.as_uri()
        latest: dict[str, PoolRPM] = {}
        for rpm in rpms:
            if rpm.release == "1.fc24" or pushed:
                latest[rpm.name] = max(latest.get(rpm.name, rpm), rpm, key=lambda r: r.release)
        self._builds = [
            KojiBuild(id=i, nvr=f"{r.name}-1.0-{r.release}", name=r.name, version="1.0", release=r.release, epoch=None)
            for i, r in enumerate(sorted(latest.values(), key=lambda r: r.name), start=1)
        ]
        by_name = {r.name: r for r in latest.values()}
        self._rpms = {
            b.id: [KojiRPM(b.id, b.id, b.name, "1.0", b.release, None, "noarch", r.size, r.payloadhash, r.buildtime)]
            for b in self._builds
            for r in [by_name[b.name]]
        }

    def tag_info(self, tag: str) -> dict[str, Any]:
        return {"name": tag}

    def latest_tagged(self, tag: str, *, inherit: bool = False) -> list[Any]:
        return list(self._builds)

    def builds(self, nvrs: Any) -> list[Any]:
        known = {b.nvr: b for b in self._builds}
        return [known[n] for n in nvrs]

    def rpms_of(self, builds: Sequence[Any]) -> dict[int, list[Any]]:
        return {b.id: self._rpms[b.id] for b in builds}


def updates() -> list[dict[str, Any]]:
    """The push: one bugfix update per new build."""
    return [
        {"alias": f"FEDORA-2016-b{i:04d}", "builds": [f"{package(i)}-1.0-2.fc24"], "type": "bugfix"}
        for i in range(PUSHED)
    ]


def measure(ctx: RunContext) -> Figure:
    from relengotron.mash import mash
    from relengotron_sandbox import testing

    size = ctx.size(5000, 300)
    fig = Figure("9", "mash", f"Incremental mash: a push of {PUSHED} updates into a repository of {size} packages")
    repeats = ctx.reps(3, 1)
    fig.params = {"packages": size, "updates": PUSHED, "repeats": repeats}
    started = time.perf_counter()
    topdir, rpms = pool(size)
    ctx.log(f"pool of {size} packages ready in {time.perf_counter() - started:.1f} s ({topdir})")
    release = testing.release("f24", signing_key=None, tags={"build": "f24", "stable": TAG})
    before, after = PoolKoji(topdir, rpms, pushed=False), PoolKoji(topdir, rpms, pushed=True)
    work = ctx.scratch("mash")
    previous = work / "previous" / "x86_64"
    mash(before, release, TAG, previous, arch="x86_64", issued=ISSUED)  # the repository before the push
    new_bytes = sum(r.size for r in rpms if r.release == "2.fc24")
    incremental, full, fetched = [], [], []
    for index in range(repeats):
        dest = work / f"inc-{index}" / "x86_64"
        dest.parent.mkdir()
        subprocess.run(["cp", "-al", str(previous), str(dest)], check=True)  # untimed: the repository as it was
        start = time.perf_counter()
        result = mash(after, release, TAG, dest, updates(), arch="x86_64", issued=ISSUED)
        incremental.append(time.perf_counter() - start)
        fetched.append(result.fetched)
        assert result.reused == size - PUSHED and len(result.updates) == PUSHED, result
        start = time.perf_counter()
        scratch = mash(after, release, TAG, work / f"full-{index}" / "x86_64", updates(), arch="x86_64", issued=ISSUED)
        full.append(time.perf_counter() - start)
        assert scratch.checksums == result.checksums, "the incremental mash differs from a mash from nothing"
        shutil.rmtree(scratch.dest.parent)  # untimed: 5 GB per repeat
        shutil.rmtree(dest.parent)
    fig.add(
        timed_metric(
            f"mash of a push of {PUSHED} updates into {size} packages",
            incremental,
            "the same mash from nothing",
            full,
            kind="naive",
            ok=sum(incremental) <= 0.1 * sum(full),
            note="goal: ≤ 0.1x the mash from nothing; the same repodata (checked)",
        )
    )
    fig.add(
        Metric(
            "bytes fetched from Koji",
            float(max(fetched)),
            "B",
            baseline="the new RPMs' sizes",
            baseline_value=float(new_bytes),
            kind="limit",
            ok=max(fetched) == new_bytes,
            note="goal: exactly the new RPMs",
        )
    )
    return fig


def sync(ctx: RunContext) -> Figure:
    """Figure 11 — the mirror sync of that push: files examined and transferred by the sync of the push's
    changes (the repository's difference with the mirror's copy, as ``updates_push`` syncs it) against a
    whole-tree sync of the same repository (every file of the tree listed and compared)."""
    from relengotron.mash import mash
    from relengotron.push_run import repository_changes
    from relengotron.sync import Mirror, MirrorSync
    from relengotron_sandbox import testing

    size = ctx.size(5000, 300)
    fig = Figure("11", "sync", f"Mirror sync of a push of {PUSHED} updates into a repository of {size} packages")
    fig.params = {"packages": size, "updates": PUSHED}
    topdir, rpms = pool(size)
    release = testing.release("f24", signing_key=None, tags={"build": "f24", "stable": TAG})
    work = ctx.scratch("sync")
    staging, rel = work / "staging", "updates/24/x86_64"
    mash(PoolKoji(topdir, rpms, pushed=False), release, TAG, staging / rel, arch="x86_64", issued=ISSUED)
    first = work / "mirror"
    MirrorSync(staging, Mirror(str(first)), roots=[rel]).sync()  # the mirror before the push (untimed)
    mash(PoolKoji(topdir, rpms, pushed=True), release, TAG, staging / rel, updates(), arch="x86_64", issued=ISSUED)
    whole = work / "mirror-whole"
    # the same mirror for the baseline, hard-linked: rsync replaces a file by renaming a new one over it
    subprocess.run(["cp", "-al", str(first), str(whole)], check=True)
    mirror = Mirror(str(first))
    changes = repository_changes(staging, mirror.fs(), rel, item=rel)
    start = time.perf_counter()
    pushed = MirrorSync(staging, mirror, changes=changes).sync()
    pushed_s = time.perf_counter() - start
    start = time.perf_counter()
    walked = MirrorSync(staging, Mirror(str(whole)), roots=[rel]).sync()
    walked_s = time.perf_counter() - start
    assert sorted(pushed.transferred_paths) == sorted(walked.transferred_paths), "the two syncs differ"
    fig.add(
        Metric(
            "files examined by the sync of the push",
            float(pushed.examined),
            "files",
            baseline="a whole-tree sync of the repository",
            baseline_value=float(walked.examined),
            kind="naive",
            ok=pushed.examined <= 4 * len(changes.paths),
            note=f"goal: proportional to the push ({len(changes.paths)} paths changed), not the tree",
        )
    )
    fig.add(
        Metric(
            "files transferred",
            float(len(pushed.transferred_paths)),
            "files",
            baseline="changed paths",
            baseline_value=float(len(changes.written)),
            kind="limit",
            ok=len(pushed.transferred_paths) <= len(changes.written),
        )
    )
    fig.add(Metric("sync time", pushed_s, "s", baseline="whole-tree sync", baseline_value=walked_s, kind="naive"))
    return fig
