"""The world builder, checked with the real rpm tools: payloads, deps, signatures, cache, failures."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import koji
import pytest

from relengotron_sandbox import worldbuild
from relengotron_sandbox.world import World, load_world
from relengotron_sandbox.worldbuild import BuiltWorld, WorldBuildError, build_world, load_built

pytestmark = pytest.mark.integration

WORLD_CACHE = Path(__file__).resolve().parents[2] / "var" / "cache" / "world"  # where `built_world` caches

SMALL = """\
signing_key:
  name: Small Sandbox Key
  email: small@sandbox.test
releases:
  f24:
    name: Fedora 24
    version: 24
    state: active
    dist: fc24
    tags:
      build: f24
      signing_pending: f24-signing-pending
packages:
  - name: filesystem
    owner: releng
    summary: The basic directory layout
    provides: [/bin, /usr/bin]
    builds:
      - {version: "3.2", release: "37.fc24", tags: [f24]}
  - name: bash
    owner: kdudka
    summary: The GNU Bourne Again shell (100% real)
    requires: [filesystem]
    provides: [/bin/sh, /usr/bin/bash]
    builds:
      - {version: "4.3.42", release: "5.fc24", tags: [f24]}
      - {version: "4.3.42", release: "6.fc24", tags: [f24-signing-pending], signed: false}
  - name: python3-requests
    owner: ralph
    summary: HTTP library
    requires: ['python(abi) = 3.5', 'python3-urllib3 >= 1.13', /bin/sh]
    provides: ['python3dist(requests) = 2.10.0']
    builds:
      - {version: "2.10.0", release: "1.fc24", tags: [f24]}
"""


def write_world(directory: Path, text: str = SMALL) -> World:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "world.yaml"
    path.write_text(text, encoding="utf-8")
    return load_world(path)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[World, BuiltWorld, Path, float]:
    base = tmp_path_factory.mktemp("small")
    world = write_world(base)
    cache = base / "cache"
    start = time.monotonic()
    built = build_world(world, cache)
    return world, built, cache, time.monotonic() - start


def rpm_query(path: Path, *args: str) -> list[str]:
    out = subprocess.run(["rpm", "-qp", "--nosignature", *args, str(path)], capture_output=True, text=True, check=True)
    return [line for line in out.stdout.splitlines() if line]


def noarch(built: BuiltWorld, nvr: str) -> worldbuild.BuiltRPM:
    return next(r for r in built.rpms[nvr] if r.arch == "noarch")


def test_layout_and_records(small) -> None:
    world, built, cache, elapsed = small
    assert built.root == cache / world.digest
    assert built.digest == world.digest
    assert set(built.rpms) == {b.nvr for b in world.builds()}
    for nvr, rpms in built.rpms.items():
        assert [r.arch for r in rpms] == ["src", "noarch"]
        for rpm in rpms:
            path = built.topdir / rpm.relpath
            n, v, r = rpm.name, rpm.version, rpm.release
            assert rpm.relpath == f"packages/{n}/{v}/{r}/{rpm.arch}/{n}-{v}-{r}.{rpm.arch}.rpm"
            assert rpm.build == nvr and rpm.epoch is None and rpm.filename == path.name
            assert rpm.size == path.stat().st_size
            assert rpm.payloadhash == rpm_query(path, "--qf", "%{SIGMD5}")[0]
            assert rpm.buildtime == int(rpm_query(path, "--qf", "%{BUILDTIME}")[0])
            assert not any(dep.startswith("rpmlib(") for dep in rpm.requires)
    # no work files left behind; nothing but the finished world (and its lock) in the cache
    assert sorted(p.name for p in built.root.iterdir()) == ["RPM-GPG-KEY-sandbox", "gnupg", "manifest.json", "topdir"]
    assert [p.name for p in cache.iterdir() if p.is_dir()] == [world.digest]
    assert elapsed < 10


def test_requires_and_provides_are_exactly_as_declared(small) -> None:
    world, built, _, _ = small
    for build in world.builds():
        rpm = noarch(built, build.nvr)
        path = built.topdir / rpm.relpath
        requires = [d for d in rpm_query(path, "--requires") if not d.startswith("rpmlib(")]
        provides = rpm_query(path, "--provides")
        assert sorted(requires) == sorted(str(d) for d in build.requires)
        assert sorted(provides) == sorted(
            [*(str(d) for d in build.provides), f"{build.package} = {build.version}-{build.release}"]
        )
        assert sorted(rpm.requires) == sorted(requires)
        assert sorted(rpm.provides) == sorted(provides)


def test_payload_has_readme_and_provided_paths(small, tmp_path: Path) -> None:
    _, built, _, _ = small
    bash = built.topdir / noarch(built, "bash-4.3.42-5.fc24").relpath
    listing = {line.split()[-1]: line for line in rpm_query(bash, "-lv")}
    assert set(listing) == {"/usr/share/bash", "/usr/share/bash/README", "/bin/sh", "/usr/bin/bash"}
    assert listing["/bin/sh"].startswith("-rwxr-xr-x")
    # /bin and /usr/bin hold other packages' files, so filesystem ships them as directories
    fs = built.topdir / noarch(built, "filesystem-3.2-37.fc24").relpath
    dirs = {line.split()[-1] for line in rpm_query(fs, "-lv") if line.startswith("d")}
    assert {"/bin", "/usr/bin", "/usr/share/filesystem"} <= dirs
    # the README really holds the NVR
    archive = subprocess.run(["rpm2archive", "-"], stdin=bash.open("rb"), capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(tmp_path, filter="data")
    assert (tmp_path / "usr/share/bash/README").read_text().strip() == "bash-4.3.42-5.fc24"
    assert "bash-4.3.42-5.fc24 /bin/sh" in (tmp_path / "bin/sh").read_text()


def test_signed_copies_verify_and_unsigned_do_not_carry_a_signature(small, tmp_path: Path) -> None:
    world, built, _, _ = small
    assert len(built.key_id) == 8 and built.key_id == built.fingerprint[-8:].lower()
    db = tmp_path / "db"
    db.mkdir()
    subprocess.run(["rpmkeys", "--dbpath", str(db), "--import", str(built.public_key)], check=True)
    signed, unsigned = [], []
    for build in world.builds():
        for rpm in built.rpms[build.nvr]:
            unsigned.append(built.topdir / rpm.relpath)
            if not build.signed:
                assert rpm.signed_relpath is None
                continue
            assert rpm.signed_relpath == (
                f"packages/{rpm.name}/{rpm.version}/{rpm.release}/data/signed/{built.key_id}/{rpm.arch}/{rpm.filename}"
            )
            path = built.topdir / rpm.signed_relpath
            signed.append(path)
            assert rpm.payloadhash == rpm_query(path, "--qf", "%{SIGMD5}")[0]  # signing keeps the payload hash
            # Koji's sigcache: the signature header, which spliced onto the unsigned RPM gives the signed one
            sig = built.topdir / rpm.relpath.rsplit("/", 2)[0] / f"data/sigcache/{built.key_id}/{rpm.arch}"
            sighdr = (sig / f"{rpm.filename}.sig").read_bytes()
            assert koji.get_sighdr_key(sighdr) == built.key_id
            spliced = koji.splice_rpm_sighdr(sighdr, str(built.topdir / rpm.relpath), str(tmp_path / rpm.filename))
            assert Path(spliced).read_bytes() == path.read_bytes()
    assert len(signed) == 6 and len(unsigned) == 8
    checked = subprocess.run(["rpmkeys", "--dbpath", str(db), "-Kv", *map(str, signed)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.count(f"key ID {built.key_id}: OK") == len(signed)
    for path in unsigned:
        assert rpm_query(path, "--qf", "%{RSAHEADER:pgpsig}|%{SIGPGP:pgpsig}") == ["(none)|(none)"]
    unsigned_build = built.topdir / "packages/bash/4.3.42/6.fc24"
    assert not (unsigned_build / "data").exists()


def test_second_call_reuses_the_cache(small) -> None:
    world, built, cache, _ = small
    manifest = built.root / "manifest.json"
    mtime = manifest.stat().st_mtime_ns
    start = time.monotonic()
    again = build_world(world, cache)
    assert time.monotonic() - start < 0.5
    assert again == built
    assert manifest.stat().st_mtime_ns == mtime


def test_incomplete_directory_is_never_taken_for_a_world(small, tmp_path: Path) -> None:
    world, built, _, _ = small
    cache = tmp_path / "cache"
    root = cache / world.digest
    root.mkdir(parents=True)
    (root / "topdir").mkdir()
    with pytest.raises(WorldBuildError, match="not a built world"):
        load_built(root)
    # a manifest whose files are gone is not complete either
    (root / "manifest.json").write_text((built.root / "manifest.json").read_text())
    with pytest.raises(WorldBuildError, match="incomplete build"):
        load_built(root)
    rebuilt = build_world(world, cache)
    assert rebuilt.root == root
    assert rebuilt.key_id != built.key_id  # really rebuilt, with a fresh key
    assert load_built(root) == rebuilt


def test_failing_rpmbuild_names_the_build_and_leaves_nothing(tmp_path: Path, monkeypatch) -> None:
    text = SMALL + (
        "  - name: broken\n    owner: releng\n    summary: Fails to build\n"
        '    builds:\n      - {version: "1", release: "1.fc24", tags: [f24]}\n'
    )
    world = write_world(tmp_path / "w", text)
    wrapper = tmp_path / "rpmbuild-wrapper"
    wrapper.write_text(
        '#!/bin/sh\ncase "$*" in *broken.spec*) echo "error: intentional failure" >&2; exit 1;; esac\n'
        'exec rpmbuild "$@"\n'
    )
    wrapper.chmod(0o755)
    monkeypatch.setattr(worldbuild, "RPMBUILD", str(wrapper))
    cache = tmp_path / "cache"
    with pytest.raises(WorldBuildError) as info:
        build_world(world, cache)
    message = str(info.value)
    assert str(world.path) in message
    assert "broken-1-1.fc24" in message
    assert "intentional failure" in message
    assert [p for p in cache.iterdir() if p.is_dir()] == []
    with pytest.raises(WorldBuildError):
        load_built(cache / world.digest)


def test_unnormalized_provided_path_is_rejected(tmp_path: Path) -> None:
    world = write_world(
        tmp_path / "w", SMALL.replace("provides: [/bin/sh, /usr/bin/bash]", "provides: [/usr/../etc/x]")
    )
    with pytest.raises(WorldBuildError, match=r"build bash-4\.3\.42-5\.fc24: provide '/usr/\.\./etc/x'"):
        build_world(world, tmp_path / "cache")
    assert [p for p in (tmp_path / "cache").iterdir() if p.is_dir()] == []


def test_concurrent_builders_share_one_world(tmp_path: Path) -> None:
    world = write_world(tmp_path / "w")
    cache = tmp_path / "cache"
    code = (
        "import sys\nfrom pathlib import Path\n"
        "from relengotron_sandbox.world import load_world\n"
        "from relengotron_sandbox.worldbuild import build_world\n"
        "b = build_world(load_world(sys.argv[1]), Path(sys.argv[2]))\nprint(b.key_id)\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(world.path), str(cache)], stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    assert outputs[0] == outputs[1] == load_built(cache / world.digest).key_id
    assert [p.name for p in cache.iterdir() if p.is_dir()] == [world.digest]


@pytest.fixture(scope="session")
def default_world_was_cached(world: World) -> tuple[bool, float]:
    """Whether var/cache/world held the default world before `built_world` ran, and when it started."""
    try:
        load_built(WORLD_CACHE / world.digest)
        cached = True
    except WorldBuildError:
        cached = False
    return cached, time.monotonic()


def test_default_world(default_world_was_cached, built_world: BuiltWorld, world: World) -> None:
    cached, start = default_world_was_cached
    elapsed = time.monotonic() - start
    print(f"default world: {'cached' if cached else 'built cold'} in {elapsed:.2f} s")
    assert len(built_world.rpms) == len(world.builds()) == 111
    # a source and a binary RPM per build; sudo and kernel are x86_64 builds: their four builds each also make
    # -debuginfo and -debugsource (what rpm's %debug_package names them), all signed
    assert sum(len(r) for r in built_world.rpms.values()) == 222 + 8 * 2
    sudo = sorted((r.name, r.arch) for r in built_world.rpms["sudo-1.8.15-2.fc23"])
    assert sudo == [("sudo", "src"), ("sudo", "x86_64"), ("sudo-debuginfo", "x86_64"), ("sudo-debugsource", "x86_64")]
    signed = [r for rpms in built_world.rpms.values() for r in rpms if r.signed_relpath]
    assert len(signed) == 2 * 108 + 8 * 2
    assert all((built_world.topdir / r.signed_relpath).is_file() for r in signed)
    dnf = next(r for r in built_world.rpms["dnf-1.1.9-2.fc24"] if r.arch == "noarch")
    assert dnf.requires == ("librpm.so.7", "python(abi) = 3.5")
    assert "/usr/bin/dnf" in dnf.provides
    manifest = json.loads((built_world.root / "manifest.json").read_text())
    assert manifest["digest"] == hashlib.sha256(world.path.read_bytes()).hexdigest()
    if not cached:
        assert elapsed <= 30, f"building the default world took {elapsed:.1f} s"
    assert os.access(built_world.gnupghome, os.R_OK)
