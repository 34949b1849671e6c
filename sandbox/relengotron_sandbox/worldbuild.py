"""Build a world: real tiny RPMs with rpmbuild, signed with a key generated at build time — noarch, or x86_64
with the -debuginfo and -debugsource subpackages rpm makes of an arch build.

``build_world(world, cache_dir)`` returns a :class:`BuiltWorld`, building it only when
``cache_dir/<world.digest>`` holds no complete build. A build happens in a temporary directory next to its
final place and is renamed into place only once everything succeeded, with ``manifest.json`` written last:
a directory without a valid manifest is never taken for a built world.

The layout under the world's root::

    manifest.json                 every RPM, the key, the builder version (written last)
    gnupg/                        GNUPGHOME holding the world's secret signing key (no passphrase)
    RPM-GPG-KEY-sandbox           the armored public key
    topdir/packages/<n>/<v>/<r>/<arch>/<file>                          as built (unsigned)
    topdir/packages/<n>/<v>/<r>/data/signed/<key_id>/<arch>/<file>     signed copy (signed builds only)
    topdir/packages/<n>/<v>/<r>/data/sigcache/<key_id>/<arch>/<file>.sig   its signature header
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import koji

from relengotron.tools import gpg, rpmsign
from relengotron_sandbox.world import Build, World

BUILDER_VERSION = 3  # bump when the layout or the RPM content changes: cached worlds are then rebuilt
MANIFEST = "manifest.json"
PUBLIC_KEY = "RPM-GPG-KEY-sandbox"
RPMBUILD = "rpmbuild"
RPM = "rpm"
_STDERR_LINES = 40  # how much of a failing tool's stderr goes into the error


class WorldBuildError(RuntimeError):
    """Building (or loading) a world failed; the message names the world file and the build."""


@dataclass(frozen=True)
class BuiltRPM:
    build: str  # NVR of the build this RPM belongs to
    name: str
    version: str
    release: str
    epoch: int | None
    arch: str  # "noarch" or "src"
    filename: str  # e.g. bash-4.3.42-5.fc24.noarch.rpm
    relpath: str  # relative to topdir, Koji layout: packages/<n>/<v>/<r>/<arch>/<filename>
    size: int
    payloadhash: str  # hex SIGMD5 of the header+payload, as Koji records it
    buildtime: int
    requires: tuple[str, ...]
    provides: tuple[str, ...]
    signed_relpath: str | None  # packages/<n>/<v>/<r>/data/signed/<key_id>/<arch>/<filename>, if signed

    @property
    def nvra(self) -> str:
        return f"{self.name}-{self.version}-{self.release}.{self.arch}"


@dataclass(frozen=True)
class BuiltWorld:
    root: Path  # cache_dir/<digest>
    digest: str  # the world file's digest
    topdir: Path  # Koji topdir layout: packages/... (unsigned RPMs, signed copies, sigcache)
    gnupghome: Path  # holds the world's secret signing key (no passphrase)
    key_id: str  # 8 lowercase hex digits: Koji's sigkey
    fingerprint: str  # 40 hex digits
    public_key: Path  # ASCII-armored public key
    rpms: dict[str, tuple[BuiltRPM, ...]]  # build NVR → its RPMs (src first)


def build_world(world: World, cache_dir: Path, *, jobs: int = 2) -> BuiltWorld:
    """The built ``world`` under ``cache_dir/<world.digest>``, building it first if no complete build is there.

    Idempotent: a complete build is loaded, not rebuilt. Safe for concurrent callers (other processes too):
    builders of one world take turns on a lock file, and a loser of the race loads the winner's build.
    Raises :class:`WorldBuildError` naming the world file and the failing build; nothing is left behind then.
    """
    cache_dir = Path(cache_dir).absolute()
    root = cache_dir / world.digest
    try:
        return load_built(root)
    except WorldBuildError:
        pass
    cache_dir.mkdir(parents=True, exist_ok=True)
    with _locked(cache_dir / f".{world.digest}.lock"):
        try:
            return load_built(root)  # another process built it while we waited
        except WorldBuildError:
            pass
        for leftover in cache_dir.glob(f".{world.digest[:16]}.*.building"):  # from a builder that was killed
            shutil.rmtree(leftover, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{world.digest[:16]}.", suffix=".building", dir=cache_dir))
        try:
            tmp.chmod(0o755)  # mkdtemp makes it private; the world is readable, only gnupg/ stays 0700
            _build_into(world, tmp, max(1, jobs))
            if root.exists():  # an incomplete or outdated build: move it aside, then drop it
                stale = Path(tempfile.mkdtemp(prefix=f".{world.digest[:16]}.", suffix=".stale", dir=cache_dir))
                os.replace(root, stale / "old")
                shutil.rmtree(stale, ignore_errors=True)
            os.replace(tmp, root)
        except BaseException as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            if isinstance(exc, WorldBuildError) or not isinstance(exc, Exception):
                raise
            raise WorldBuildError(f"{world.path}: building the world failed: {exc}") from exc
    return load_built(root)


def load_built(root: Path) -> BuiltWorld:
    """Load a complete build from ``root`` (read-only); :class:`WorldBuildError` if it is not one.

    Complete means: a manifest of this builder version for the world named by the directory, and every file
    it lists present.
    """
    root = Path(root)
    try:
        data = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise WorldBuildError(f"{root}: not a built world (no readable {MANIFEST}: {exc})") from exc
    if not isinstance(data, dict) or data.get("builder") != BUILDER_VERSION or data.get("digest") != root.name:
        raise WorldBuildError(f"{root}: {MANIFEST} is from another builder version or another world")
    topdir = root / "topdir"
    rpms: dict[str, tuple[BuiltRPM, ...]] = {}
    try:
        for nvr, entries in data["rpms"].items():
            rpms[nvr] = tuple(
                BuiltRPM(**{**e, "requires": tuple(e["requires"]), "provides": tuple(e["provides"])}) for e in entries
            )
        built = BuiltWorld(
            root=root,
            digest=data["digest"],
            topdir=topdir,
            gnupghome=root / data["gnupghome"],
            key_id=data["key_id"],
            fingerprint=data["fingerprint"],
            public_key=root / data["public_key"],
            rpms=rpms,
        )
    except (KeyError, TypeError) as exc:
        raise WorldBuildError(f"{root}: {MANIFEST} is malformed: {exc!r}") from exc
    needed = [built.public_key, built.gnupghome]
    for rpm in (r for group in rpms.values() for r in group):
        needed.append(topdir / rpm.relpath)
        if rpm.signed_relpath:
            needed.append(topdir / rpm.signed_relpath)
            needed.append(topdir / _sigcache_relpath(rpm, built.key_id))
    for path in needed:
        if not path.exists():
            raise WorldBuildError(f"{root}: incomplete build, {path.relative_to(root)} is missing")
    return built


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if needed); released on exit, or when the process dies."""
    with open(path, "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _build_into(world: World, out: Path, jobs: int) -> None:
    """Build every RPM of ``world``, sign, record, and write the manifest last, all inside ``out``."""
    builds = world.builds()
    dirs = payload_dirs(world)
    for build in builds:
        _check_paths(world, build)
    topdir, work = out / "topdir", out / "work"
    gnupghome = out / "gnupg"
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        key_job = pool.submit(gpg.generate_key, gnupghome, world.key_name, world.key_email)
        jobs_by_build: dict[Future[list[tuple[str, str, str]]], Build] = {
            pool.submit(_rpmbuild, world, build, spec_text(build, dirs), work, topdir): build for build in builds
        }
        done, _ = wait([key_job, *jobs_by_build], return_when=FIRST_EXCEPTION)
        failed = [f for f in done if f.exception() is not None]
        if failed:
            for future in jobs_by_build:
                future.cancel()
            raise failed[0].exception()  # type: ignore[misc]
    key = key_job.result()
    public_key = gpg.export_public_key(gnupghome, key.fingerprint, out / PUBLIC_KEY)
    relpaths = {build.nvr: future.result() for future, build in jobs_by_build.items()}
    headers = _query_headers(world, topdir, [(b, n, arch, rel) for b in builds for n, arch, rel in relpaths[b.nvr]])
    signed = _sign(world, [b for b in builds if b.signed], relpaths, topdir, gnupghome, key, jobs)

    rpms: dict[str, list[dict]] = {}
    for build in builds:
        entries = []
        for name, arch, rel in relpaths[build.nvr]:
            head = headers[rel]
            rpm = BuiltRPM(
                build=build.nvr,
                name=name,
                version=build.version,
                release=build.release,
                epoch=None,
                arch=arch,
                filename=Path(rel).name,
                relpath=rel,
                size=(topdir / rel).stat().st_size,
                payloadhash=head["payloadhash"],
                buildtime=head["buildtime"],
                requires=tuple(head["requires"]),
                provides=tuple(head["provides"]),
                signed_relpath=signed.get(rel),
            )
            entries.append(asdict(rpm))
        rpms[build.nvr] = entries
    shutil.rmtree(work)
    manifest = {
        "builder": BUILDER_VERSION,
        "digest": world.digest,
        "world": str(world.path),
        "key_id": key.key_id,
        "fingerprint": key.fingerprint,
        "public_key": public_key.name,
        "gnupghome": gnupghome.name,
        "rpms": rpms,
    }
    tmp = out / f".{MANIFEST}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, indent=1)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, out / MANIFEST)


def payload_dirs(world: World) -> frozenset[str]:
    """Provided absolute paths that must be directories: some other payload path lies under them.

    ``filesystem`` provides /usr/bin while ``dnf`` provides /usr/bin/dnf; in a composed tree /usr/bin has to
    be a directory, so every package that provides it ships it as one.
    """
    provided = {d.name for b in world.builds() for d in b.provides if d.name.startswith("/")}
    paths = provided | {f"/usr/share/{name}/README" for name in world.packages}
    return frozenset(p for p in provided if any(q.startswith(p.rstrip("/") + "/") for q in paths))


def _check_paths(world: World, build: Build) -> None:
    for dep in build.provides:
        if dep.name.startswith("/"):
            parts = dep.name.split("/")[1:]
            if dep.op is not None or any(part in ("", ".", "..") for part in parts):
                raise WorldBuildError(
                    f"{world.path}: build {build.nvr}: provide {str(dep)!r} is not a plain normalized path"
                )


def spec_text(build: Build, dirs: frozenset[str]) -> str:
    """The spec of one build: exactly its Requires/Provides, a README and a small file per provided path."""
    summary = " ".join(build.summary.split()).replace("%", "%%")
    lines = [
        f"Name: {build.package}",
        f"Version: {build.version}",
        f"Release: {build.release}",
        f"Summary: {summary}",
        "License: MIT",
        *(["BuildArch: noarch"] if build.arch == "noarch" else []),
        "AutoReqProv: no",
    ]
    lines += [f"Requires: {dep}" for dep in build.requires]
    lines += [f"Provides: {dep}" for dep in build.provides]
    share = f"/usr/share/{build.package}"
    install = [f"mkdir -p '%{{buildroot}}{share}'", f"echo '{build.nvr}' > '%{{buildroot}}{share}/README'"]
    files = ["%defattr(-,root,root,-)", f'%dir "{share}"', f'"{share}/README"']
    for dep in build.provides:
        path = dep.name
        if not path.startswith("/") or path in (share, f"{share}/README"):
            continue
        if path in dirs:
            install.append(f"mkdir -p '%{{buildroot}}{path}'")
            files.append(f'%dir "{path}"')
            continue
        parent = path.rsplit("/", 1)[0] or "/"
        install.append(f"mkdir -p '%{{buildroot}}{parent}'")
        executable = "/bin/" in path or "/sbin/" in path
        body = f"#!/bin/sh\\necho '{build.nvr} {path}'\\n" if executable else f"{build.nvr} {path}\\n"
        install.append(f"printf \"{body}\" > '%{{buildroot}}{path}'")
        files.append(f'%attr({"0755" if executable else "0644"},root,root) "{path}"')
    if build.kernel_image:
        boot_install, boot_files = _kernel_image(build)
        install += boot_install
        files += boot_files
    description = f"{summary}.\n\nA sandbox build of {build.nvr} for releng-o-tron: small real files only."
    debug = _debug_subpackages(build) if build.arch != "noarch" else ([], [], [])
    return "\n".join(
        [
            *lines,
            "",
            "%description",
            description,
            "",
            *debug[0],
            "%prep",
            "%build",
            "%install",
            *install,
            *debug[1],
            "",
            "%files",
            *files,
            "",
            *debug[2],
        ]
    )


def _kernel_image(build: Build) -> tuple[list[str], list[str]]:
    """What a kernel install leaves in /boot, as spec lines (install, files): ``/boot/vmlinuz-<kver>`` and
    ``/boot/initramfs-<kver>.img``, kver = kernel.spec's ``KVERREL`` (``<version>-<release>.<arch>``), the
    names lorax's findkernels looks for.

    Fedora's kernel package owns the initramfs only as ``%ghost`` (kernel.spec: ``%ghost
    /boot/initramfs-%{KVERREL}.img``): dracut writes it from the kernel's ``%posttrans`` (``kernel-install add``).
    The world's packages run no scriptlets, so — a deliberate sandbox simplification — the kernel package
    carries the initramfs itself: a gzip'd newc cpio archive (the format dracut writes) holding a small
    ``/init``. The kernel image is a small text file (the world's rule: small real files only), not a bzImage.
    """
    kver = build.kver
    tree = "%{_builddir}/initramfs-" + kver
    install = [
        "mkdir -p '%{buildroot}/boot'",
        f"echo 'sandbox kernel image of {build.nvr} ({kver})' > '%{{buildroot}}/boot/vmlinuz-{kver}'",
        f"rm -rf '{tree}' && mkdir -p '{tree}'",
        f"echo '#!/bin/sh' > '{tree}/init' && echo 'echo sandbox initramfs of {kver}' >> '{tree}/init'",
        f"chmod 0755 '{tree}/init'",
        f"(cd '{tree}' && find . | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) | gzip -n -9 "
        f"> '%{{buildroot}}/boot/initramfs-{kver}.img'",
    ]
    files = [
        "%dir /boot",
        f'%attr(0755,root,root) "/boot/vmlinuz-{kver}"',
        f'%attr(0600,root,root) "/boot/initramfs-{kver}.img"',
    ]
    return install, files


def _debug_subpackages(build: Build) -> tuple[list[str], list[str], list[str]]:
    """What rpm's ``%debug_package`` adds to an arch build — ``-debuginfo`` and ``-debugsource``, with rpm's own
    summaries and descriptions — written out (the sandbox's files are not ELF: find-debuginfo has nothing to
    split): (preamble, install lines, files sections)."""
    name = build.package
    info, sources = f"/usr/lib/debug/usr/share/{name}/README.debug", f"/usr/src/debug/{build.nvr}/README"
    preamble = [
        "%package debuginfo",
        f"Summary: Debug information for package {name}",
        "AutoReqProv: no",
        "%description debuginfo",
        f"This package provides debug information for package {name}.",
        "",
        "%package debugsource",
        f"Summary: Debug sources for package {name}",
        "AutoReqProv: no",
        "%description debugsource",
        f"This package provides debug sources for package {name}.",
        "",
    ]
    install = [
        f"mkdir -p '%{{buildroot}}{info.rsplit('/', 1)[0]}' '%{{buildroot}}{sources.rsplit('/', 1)[0]}'",
        f"echo '{build.nvr} debuginfo' > '%{{buildroot}}{info}'",
        f"echo '{build.nvr} sources' > '%{{buildroot}}{sources}'",
    ]
    files = ["%files debuginfo", f'"{info}"', "", "%files debugsource", f'"{sources}"', ""]
    return preamble, install, files


def _rpmbuild(world: World, build: Build, spec: str, work: Path, topdir: Path) -> list[tuple[str, str, str]]:
    """rpmbuild -ba one build in its own _topdir; move the results into Koji's layout. (name, arch, relpath) of
    the source RPM and each binary RPM."""
    top = work / build.nvr
    (top / "tmp").mkdir(parents=True)
    spec_path = top / f"{build.package}.spec"
    spec_path.write_text(spec, encoding="utf-8")
    proc = subprocess.run(
        [
            RPMBUILD,
            "-ba",
            "--quiet",
            "--define",
            f"_topdir {top}",
            "--define",
            f"_tmppath {top / 'tmp'}",
            "--define",
            "__os_install_post %{nil}",
            "--define",
            "debug_package %{nil}",
            *(["--target", build.arch] if build.arch != "noarch" else []),
            str(spec_path),
        ],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=False,
    )
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.decode(errors="replace").splitlines()[-_STDERR_LINES:])
        raise WorldBuildError(f"{world.path}: build {build.nvr} failed: rpmbuild exited {proc.returncode}:\n{tail}")
    out: list[tuple[str, str, str]] = []
    made = [(build.package, "src", top / "SRPMS")] + [
        (n, build.arch, top / "RPMS" / build.arch) for n in build.rpm_names
    ]
    for name, arch, built in made:
        filename = f"{name}-{build.version}-{build.release}.{arch}.rpm"
        if not (built / filename).is_file():
            raise WorldBuildError(f"{world.path}: build {build.nvr} failed: rpmbuild made no {filename}")
        rel = f"packages/{build.package}/{build.version}/{build.release}/{arch}/{filename}"
        (topdir / rel).parent.mkdir(parents=True, exist_ok=True)
        os.replace(built / filename, topdir / rel)
        out.append((name, arch, rel))
    return out


_QF = (
    "@@%{NAME}\\t%{VERSION}\\t%{RELEASE}\\t%{SOURCEPACKAGE}\\t%{SIGMD5}\\t%{BUILDTIME}\\n"
    "[R\\t%{REQUIRENEVRS}\\n][P\\t%{PROVIDENEVRS}\\n]"
)


def _query_headers(world: World, topdir: Path, files: list[tuple[Build, str, str, str]]) -> dict[str, dict]:
    """One ``rpm -qp`` for all files: payloadhash, buildtime, requires (no rpmlib()) and provides, by relpath."""
    proc = subprocess.run(
        [RPM, "-qp", "--nosignature", "--nodigest", "--qf", _QF, *(str(topdir / rel) for *_, rel in files)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=False,
    )
    records: list[dict] = []
    for line in proc.stdout.decode(errors="replace").splitlines():
        if line.startswith("@@"):
            name, version, release, source, sigmd5, buildtime = line[2:].split("\t")
            records.append(
                {
                    "nvr": f"{name}-{version}-{release}",
                    "src": source == "1",
                    "payloadhash": sigmd5,
                    "buildtime": int(buildtime),
                    "requires": [],
                    "provides": [],
                }
            )
        elif line.startswith(("R\t", "P\t")) and records:
            kind, dep = line.split("\t", 1)
            if kind == "P":
                records[-1]["provides"].append(dep)
            elif not dep.startswith("rpmlib("):
                records[-1]["requires"].append(dep)
    out: dict[str, dict] = {}
    for index, (build, name, arch, rel) in enumerate(files):
        record = records[index] if index < len(records) and proc.returncode == 0 else None
        nvr = f"{name}-{build.version}-{build.release}"
        if record is None or record["nvr"] != nvr or record["src"] != (arch == "src"):
            err = proc.stderr.decode(errors="replace").strip()
            raise WorldBuildError(f"{world.path}: build {build.nvr}: rpm -qp cannot read {rel}: {err}")
        out[rel] = record
    return out


def _sigcache_relpath(rpm: BuiltRPM, key_id: str) -> str:
    base = rpm.relpath.rsplit("/", 2)[0]
    return f"{base}/data/sigcache/{key_id}/{rpm.arch}/{rpm.filename}.sig"


def _sign(
    world: World,
    builds: list[Build],
    relpaths: dict[str, list[tuple[str, str, str]]],
    topdir: Path,
    gnupghome: Path,
    key: gpg.GpgKey,
    jobs: int,
) -> dict[str, str]:
    """Signed copies under data/signed/<key_id>/ plus Koji's sigcache headers. Unsigned relpath → signed."""
    signed: dict[str, str] = {}
    owner: dict[Path, str] = {}
    for build in builds:
        for _, arch, rel in relpaths[build.nvr]:
            base = rel.rsplit("/", 2)[0]
            filename = Path(rel).name
            signed_rel = f"{base}/data/signed/{key.key_id}/{arch}/{filename}"
            (topdir / signed_rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(topdir / rel, topdir / signed_rel)
            signed[rel] = signed_rel
            owner[topdir / signed_rel] = build.nvr
    files = list(owner)
    chunks = [files[i::jobs] for i in range(jobs) if files[i::jobs]]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(rpmsign.sign_rpms, chunk, gnupghome, key.fingerprint) for chunk in chunks]
        for future in futures:
            try:
                future.result()
            except rpmsign.RpmSignError as exc:
                nvr = owner.get(exc.path, "?")
                raise WorldBuildError(f"{world.path}: build {nvr}: signing failed: {exc}") from exc
    for path, nvr in owner.items():
        rel = path.relative_to(topdir).as_posix()
        arch, filename = rel.split("/")[-2:]
        base = rel.split("/data/signed/")[0]
        sig = topdir / f"{base}/data/sigcache/{key.key_id}/{arch}/{filename}.sig"
        sig.parent.mkdir(parents=True, exist_ok=True)
        try:
            sig.write_bytes(koji.rip_rpm_sighdr(str(path)))
        except (OSError, koji.GenericError) as exc:
            raise WorldBuildError(f"{world.path}: build {nvr}: cannot read the signature header: {exc}") from exc
    return signed
