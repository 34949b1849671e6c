"""Syncing a real staging tree (signed RPMs + repodata, an OSTree repo, images + CHECKSUM, website, a "latest"
symlink) to a mirror directory with rsync: killed half-way, resumed, dry run, delete order, link switching."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sshd import SshServer, sshd

from relengotron.ostree.repo import OSTreeRepo
from relengotron.signing import LocalGpgSigner
from relengotron.sync import Mirror, MirrorFS, MirrorSync, SyncError, verify_tree
from relengotron.tools import gpg, rpmsign
from relengotron.tools.remote import LocalRunner, SSHRunner

pytestmark = pytest.mark.integration

REF = "fedora/24/x86_64/atomic-host"
UPDATES = "updates/24/x86_64"
BIG = "Fedora-Atomic-24-2.x86_64.qcow2"


@pytest.fixture(scope="module")
def signer(tmp_path_factory: pytest.TempPathFactory) -> LocalGpgSigner:
    home = tmp_path_factory.mktemp("k") / "g"
    key = gpg.generate_key(home, "Fedora 24", "f24@example.test")
    return LocalGpgSigner(home, key.key_id)


@pytest.fixture(scope="module")
def rpm_pool(built_world, signer: LocalGpgSigner, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Four noarch RPMs of the built world, signed with the test key."""
    pool = tmp_path_factory.mktemp("pool")
    rpms = [rpm for rpms in built_world.rpms.values() for rpm in rpms if rpm.arch == "noarch"][:4]
    copies = [Path(shutil.copy(built_world.topdir / rpm.relpath, pool / rpm.filename)) for rpm in rpms]
    signer.sign_rpms(copies)
    return copies


def stage(staging: Path, version: int, signer: LocalGpgSigner, pool: list[Path], big: int = 0) -> None:
    """Make ``staging`` look like push ``version``: v1 has RPMs 0-2, v2 drops 0 and adds 3."""
    updates = staging / UPDATES
    updates.mkdir(parents=True, exist_ok=True)
    wanted = {p.name for p in (pool[:3] if version == 1 else pool[1:])}
    for path in updates.glob("*.rpm"):
        if path.name not in wanted:
            path.unlink()
    for path in pool:
        if path.name in wanted and not (updates / path.name).exists():
            shutil.copy(path, updates)
    subprocess.run(["createrepo_c", "--quiet", "--update", str(updates)], check=True)
    signer.sign_repomd(updates)

    repo = staging / "atomic" / "repo"
    if not repo.exists():
        repo.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["ostree", "init", f"--repo={repo}", "--mode=archive"], check=True)
    tree = staging.parent / f"tree{version}"
    (tree / "usr" / "share").mkdir(parents=True, exist_ok=True)
    (tree / "usr" / "share" / "version").write_text(f"{version}\n")
    subprocess.run(
        ["ostree", "commit", f"--repo={repo}", "-b", REF, f"--tree=dir={tree}", "-s", f"v{version}"],
        check=True,
        capture_output=True,
    )
    signer.sign_ostree_commit(repo, REF)
    if version > 1:
        subprocess.run(["ostree", "static-delta", "generate", f"--repo={repo}", REF], check=True, capture_output=True)
    signer.sign_ostree_summary(repo)

    releases = staging / "releases"
    for old in releases.glob("24-*"):
        shutil.rmtree(old)
    images = releases / f"24-{version}" / "Atomic" / "x86_64"
    images.mkdir(parents=True)
    names = [f"Fedora-Atomic-24-{version}.x86_64.raw.xz"]
    (images / names[0]).write_bytes(f"image {version}".encode() * 1000)
    if big:
        (images / BIG).write_bytes(os.urandom(big))
        names.append(BIG)
    signer.sign_images(images, names, f"Fedora-Atomic-24-{version}-x86_64-CHECKSUM")
    link = releases / "latest"
    link.unlink(missing_ok=True)
    os.symlink(f"24-{version}", link)
    (staging / "website").mkdir(exist_ok=True)
    (staging / "website" / "index.html").write_text(f"<p>Fedora 24 push {version}</p>\n")


def snapshot(top: Path) -> dict[str, str]:
    """Every file (content digest) and link (target) under ``top``."""
    out: dict[str, str] = {}
    for path in sorted(top.rglob("*")):
        rel = path.relative_to(top).as_posix()
        if path.is_symlink():
            out[rel] = "-> " + os.readlink(path)
        elif path.is_file():
            out[rel] = subprocess.run(["sha256sum", str(path)], capture_output=True, text=True).stdout.split()[0]
    return out


def published(staging: Path) -> dict[str, str]:
    """What the mirror should hold after a complete sync: staging without OSTree's scratch files."""
    return {k: v for k, v in snapshot(staging).items() if "/tmp/" not in k and not k.endswith("/.lock")}


def metadata_names_only_present_content(mirror: Path) -> None:
    """The acceptance invariant, checked without the code under test: every repomd data file and every package
    primary lists, every ref's and summary's commit, and every CHECKSUM entry exists on the mirror."""
    ns = {"r": "http://linux.duke.edu/metadata/repo", "c": "http://linux.duke.edu/metadata/common"}
    for repomd in mirror.rglob("repodata/repomd.xml"):
        top = repomd.parent.parent
        for data in ET.parse(repomd).getroot().findall("r:data", ns):
            href = data.find("r:location", ns).get("href")
            assert (top / href).is_file(), f"{repomd} names missing {href}"
            if data.get("type") == "primary":
                import gzip

                primary = ET.fromstring(gzip.decompress((top / href).read_bytes()))
                for package in primary.findall("c:package", ns):
                    location = package.find("c:location", ns).get("href")
                    assert (top / location).is_file(), f"{href} names missing package {location}"
    repo = OSTreeRepo(mirror / "atomic" / "repo")
    if repo.path.exists():
        for ref, commit in repo.refs().items():
            assert repo.commit_path(commit).is_file(), f"ref {ref} names missing commit {commit}"
        summary = repo.summary()
        for ref, commit in (summary.refs if summary is not None else {}).items():
            assert repo.commit_path(commit).is_file(), f"summary names missing {ref} commit {commit}"
    for checksum in mirror.rglob("*CHECKSUM"):
        for line in checksum.read_text().splitlines():
            if line.startswith("SHA256 ("):
                name = line[len("SHA256 (") : line.index(")")]
                assert (checksum.parent / name).is_file(), f"{checksum} names missing {name}"


@pytest.fixture
def trees(tmp_path: Path, signer, rpm_pool) -> tuple[Path, Path]:
    staging, mirror = tmp_path / "staging", tmp_path / "mirror"
    stage(staging, 1, signer, rpm_pool)
    return staging, mirror


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def test_first_sync_publishes_everything_verifiable_and_a_second_changes_nothing(
    trees, signer: LocalGpgSigner, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    staging, mirror = trees
    result = MirrorSync(staging, Mirror(str(mirror)), ostree_fsck=True).sync()
    assert result.report.ok and result.report.checked > 10
    assert result.links == ("releases/latest",)
    assert os.readlink(mirror / "releases" / "latest") == "24-1"
    rpms = sorted((mirror / UPDATES).glob("*.rpm"))
    key = signer.export_public_key(tmp_path / "key.asc")
    assert len(rpms) == 3 and set(rpmsign.verify_rpms(rpms, [key]).values()) == {signer.key_id}
    db = tmp_path / "rpmdb"
    subprocess.run(["rpmkeys", "--dbpath", str(db), "--import", str(key)], check=True)
    checked = subprocess.run(["rpmkeys", "--dbpath", str(db), "-K", *map(str, rpms)], capture_output=True, text=True)
    assert checked.returncode == 0 and checked.stdout.count("digests signatures OK") == 3, checked.stdout
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(mirror)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    request.addfinalizer(lambda: (server.shutdown(), server.server_close()))
    mirror_url = f"http://127.0.0.1:{server.server_address[1]}"
    client = tmp_path / "client"
    subprocess.run(["ostree", "init", f"--repo={client}", "--mode=archive"], check=True)
    subprocess.run(
        [
            "ostree",
            "remote",
            "add",
            f"--repo={client}",
            "--set=gpg-verify-summary=true",
            "--set=gpg-verify=true",
            "m",
            f"{mirror_url}/atomic/repo",
        ],
        check=True,
    )
    subprocess.run(["ostree", "remote", "gpg-import", f"--repo={client}", "-k", str(key), "m"], check=True)
    # clients pull the mirror over HTTP, checking the summary's and the commit's signatures
    pulled = subprocess.run(["ostree", "pull", f"--repo={client}", "m", REF], capture_output=True, text=True)
    assert pulled.returncode == 0, pulled.stderr
    assert snapshot(mirror) == published(staging)

    before = snapshot(mirror)
    again = MirrorSync(staging, Mirror(str(mirror))).sync()
    assert all(not changes for changes in again.changes.values()) and again.links == ()
    assert snapshot(mirror) == before


def test_sync_killed_in_the_content_pass_leaves_consistent_metadata_and_the_next_sync_finishes(
    trees, signer, rpm_pool
) -> None:
    staging, mirror = trees
    MirrorSync(staging, Mirror(str(mirror))).sync()
    v1 = snapshot(mirror)
    stage(staging, 2, signer, rpm_pool, big=3_000_000)
    partial_dir = mirror / "releases" / "24-2" / "Atomic" / "x86_64"
    passes: list[str] = []

    def kill_mid_transfer(name: str, process: subprocess.Popen) -> None:
        passes.append(name)
        if name != "content":
            return

        def killer() -> None:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and process.poll() is None:
                if partial_dir.is_dir() and any(n.startswith(f".{BIG}.") for n in os.listdir(partial_dir)):
                    process.kill()
                    return
                time.sleep(0.01)

        threading.Thread(target=killer, daemon=True).start()

    sync = MirrorSync(staging, Mirror(str(mirror)), bwlimit=1000, observer=kill_mid_transfer)
    with pytest.raises(SyncError, match=r"content pass .* killed by signal 9"):
        sync.sync()
    assert passes == ["content"]
    after_kill = snapshot(mirror)
    assert not (partial_dir / BIG).exists()  # the big image really was cut off half-way
    for path, digest in v1.items():  # no old file was deleted or replaced: old metadata names old content
        assert after_kill[path] == digest
    metadata_names_only_present_content(mirror)
    assert verify_tree(MirrorFS(str(mirror))).ok

    result = MirrorSync(staging, Mirror(str(mirror)), ostree_fsck=True).sync()
    assert result.report.ok
    metadata_names_only_present_content(mirror)
    assert snapshot(mirror) == published(staging)
    assert os.readlink(mirror / "releases" / "latest") == "24-2"
    assert not (mirror / UPDATES / rpm_pool[0].name).exists()
    superblocks = list((mirror / "atomic" / "repo" / "deltas").rglob("superblock"))
    assert len(superblocks) == 1
    superblocks[0].unlink()  # the summary names this delta: verification must notice it is gone
    problems = [str(p) for p in verify_tree(MirrorFS(str(mirror))).problems]
    assert len(problems) == 1 and "atomic/repo/summary: names static delta" in problems[0]


def test_dry_run_lists_the_changes_and_changes_nothing(trees, signer, rpm_pool) -> None:
    staging, mirror = trees
    fresh = MirrorSync(staging, Mirror(str(mirror))).dry_run()
    assert not mirror.exists()  # nothing created, not even the top directory
    assert f"{UPDATES}/repodata/repomd.xml" in {c.path for c in fresh.of("index")}
    MirrorSync(staging, Mirror(str(mirror))).sync()
    stage(staging, 2, signer, rpm_pool)
    before = snapshot(mirror)
    plan = MirrorSync(staging, Mirror(str(mirror))).dry_run()
    assert snapshot(mirror) == before
    content = {c.path: c.action for c in plan.of("content")}
    assert content[f"{UPDATES}/{rpm_pool[3].name}"] == "create"
    assert content["releases/24-2/Atomic/x86_64/Fedora-Atomic-24-2.x86_64.raw.xz"] == "create"
    assert {c.path: c.action for c in plan.of("index")}[f"{UPDATES}/repodata/repomd.xml"] == "update"
    assert {c.path for c in plan.of("index")} >= {f"atomic/repo/refs/heads/{REF}", "atomic/repo/summary"}
    assert [(c.path, c.target) for c in plan.of("link")] == [("releases/latest", "24-2")]
    deleted = {c.path for c in plan.deletions}
    assert f"{UPDATES}/{rpm_pool[0].name}" in deleted and "releases/24-1" in deleted
    lines = plan.lines()
    assert lines.index(next(line for line in lines if "repomd.xml" in line)) > lines.index(
        next(line for line in lines if rpm_pool[3].name in line)
    )
    assert lines[-1].startswith("delete")
    result = MirrorSync(staging, Mirror(str(mirror))).sync()
    assert {c.path for c in result.changes["delete"]} == deleted


def test_deletion_happens_only_after_the_metadata_and_links(trees, signer, rpm_pool) -> None:
    staging, mirror = trees
    MirrorSync(staging, Mirror(str(mirror))).sync()
    stage(staging, 2, signer, rpm_pool)
    old_rpm = mirror / UPDATES / rpm_pool[0].name
    repomd = staging / UPDATES / "repodata" / "repomd.xml"
    seen: dict[str, tuple[bool, bool, str]] = {}

    def observe(name: str, process: subprocess.Popen) -> None:
        mirrored = (mirror / UPDATES / "repodata" / "repomd.xml").read_bytes() == repomd.read_bytes()
        seen[name] = (old_rpm.exists(), mirrored, os.readlink(mirror / "releases" / "latest"))

    MirrorSync(staging, Mirror(str(mirror)), observer=observe).sync()
    assert seen["content"] == (True, False, "24-1")
    assert seen["index"] == (True, False, "24-1")
    assert seen["delete"] == (True, True, "24-2")  # metadata and link switched, old content still there
    assert not old_rpm.exists() and not (mirror / "releases" / "24-1").exists()


def test_latest_symlink_switch_is_atomic(tmp_path: Path) -> None:
    fs = MirrorFS(str(tmp_path))
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    assert fs.switch_symlink("latest", "a") is True
    assert fs.switch_symlink("latest", "a") is False
    missing: list[BaseException] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            try:
                os.readlink(tmp_path / "latest")
            except OSError as exc:
                missing.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(60):
            fs.switch_symlink("latest", "ab"[i % 2])
    finally:
        stop.set()
        thread.join()
    assert missing == []
    assert os.readlink(tmp_path / "latest") == "b"
    assert sorted(os.listdir(tmp_path)) == ["a", "b", "latest"]  # no temporary link left behind


def test_verify_names_metadata_whose_content_is_missing_or_changed(trees) -> None:
    staging, mirror = trees
    MirrorSync(staging, Mirror(str(mirror))).sync()
    fs = MirrorFS(str(mirror))
    primary = next((mirror / UPDATES / "repodata").glob("*-primary.xml.gz"))
    primary.write_bytes(primary.read_bytes() + b"\0")
    rpm = next((mirror / UPDATES).glob("*.rpm"))
    rpm.unlink()
    atomic = OSTreeRepo(mirror / "atomic" / "repo")
    commit = atomic.refs()[REF]
    atomic.commit_path(commit).unlink()
    image = mirror / "releases" / "24-1" / "Atomic" / "x86_64" / "Fedora-Atomic-24-1.x86_64.raw.xz"
    image.write_bytes(b"tampered")
    os.symlink("nowhere", mirror / "releases" / "dangling")
    problems = [str(p) for p in verify_tree(fs).problems]
    text = "\n".join(problems)
    assert f"{UPDATES}/repodata/repomd.xml: {UPDATES}/repodata/{primary.name} has SHA256" in text
    assert f"names package {UPDATES}/{rpm.name}" in text
    assert f"atomic/repo/refs/heads/{REF}: names commit {commit}" in text
    assert f"atomic/repo/summary: names commit {commit}" in text
    assert f"Fedora-Atomic-24-1-x86_64-CHECKSUM: releases/24-1/Atomic/x86_64/{image.name} has SHA256" in text
    assert "releases/dangling: symlink to 'nowhere' does not resolve" in text
    assert len(problems) == 6, text


def test_a_staging_tree_whose_metadata_names_missing_content_is_not_synced(trees, signer, rpm_pool) -> None:
    staging, mirror = trees
    MirrorSync(staging, Mirror(str(mirror))).sync()
    before = snapshot(mirror)
    stage(staging, 2, signer, rpm_pool)
    victim = staging / UPDATES / rpm_pool[3].name
    victim.unlink()
    with pytest.raises(SyncError, match=f"staging .* names package {UPDATES}/{victim.name}") as info:
        MirrorSync(staging, Mirror(str(mirror))).sync()
    assert "nothing was synced" in str(info.value)
    assert snapshot(mirror) == before


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    with sshd(tmp_path_factory.mktemp("sshd")) as running:
        yield running


def test_sync_over_ssh_to_a_remote_mirror(trees, server: SshServer, tmp_path: Path) -> None:
    staging, mirror = trees
    with SSHRunner(server.host, server.port, server.user, server.client_key, server.host_key) as ssh:
        remote = Mirror.from_location(f"{server.host}:{mirror}", ssh)
        plan = MirrorSync(staging, remote).dry_run()
        assert not mirror.exists() and plan.of("index")
        result = MirrorSync(staging, remote, ostree_fsck=True).sync()
        assert result.report.ok and result.links == ("releases/latest",)
    local = verify_tree(MirrorFS(str(mirror), LocalRunner()))
    assert local.ok and local.checked == result.report.checked
    assert snapshot(mirror) == published(staging)
