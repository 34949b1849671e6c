"""The sandbox Koji hub driven by the real koji client (ClientSession, multicall) and the real koji CLI."""

from __future__ import annotations

import base64
import http.client
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import koji
import pytest

from relengotron.tools import rpmsign
from relengotron.tools.livepxe import pxe_tarball_from_live_iso
from relengotron_sandbox.imagebuild.openers import open_image
from relengotron_sandbox.koji import KojiHub
from relengotron_sandbox.service import SandboxContext

pytestmark = pytest.mark.integration

KOJI_CLI = Path(sys.executable).with_name("koji")
UNSIGNED = "bash-4.3.42-6.fc24"  # the world leaves it unsigned, in f24-signing-pending
TESTING = "kernel-4.6.4-301.fc24"  # in f24-updates-testing


@dataclass
class Hub:
    ctx: SandboxContext
    service: KojiHub
    url: str
    topurl: str
    home: Path
    # Logged-in sessions, logged out before the hub stops: a ClientSession's __del__ logs out, and a garbage
    # collection that runs it on a hub thread holding the store lock would deadlock the in-process hub.
    logged_in: list[koji.ClientSession] = field(default_factory=list)

    def session(self, user: str | None = None) -> koji.ClientSession:
        """A ClientSession, logged in with a password when ``user`` is given."""
        opts = {"user": user, "password": "sandbox"} if user else {}
        session = koji.ClientSession(self.url, opts=opts)
        if user:
            session.login()
            self.logged_in.append(session)
        return session

    def cli(self, *args: str, user: str | None = None) -> subprocess.CompletedProcess[str]:
        """The real koji CLI with a config file of its own (never ~/.koji): -c FILE, profile [koji]."""
        config = self.home / "koji.conf"
        if not config.exists():
            config.write_text(
                f"[koji]\nserver = {self.url}\ntopurl = {self.topurl}\nauthtype = password\npoll_interval = 1\n"
            )
        auth = ["--user", user, "--password", "sandbox"] if user else ["--noauth"]
        env = {**os.environ, "HOME": str(self.home)}
        return subprocess.run(
            [str(KOJI_CLI), "-c", str(config), *auth, *args], capture_output=True, text=True, env=env, timeout=60
        )

    def get(self, url: str) -> bytes:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.read()


def published(ctx: SandboxContext, topic: str) -> list[dict[str, Any]]:
    """Bodies published on ``buildsys.<topic>`` (switch here to read the real bus instead of the recorder)."""
    assert ctx.publisher is not None
    return [body for modname, t, body in ctx.publisher.messages if modname == "buildsys" and t == topic]  # type: ignore[attr-defined]


@pytest.fixture
def hub(recording_ctx: SandboxContext, tmp_path: Path) -> Iterator[Hub]:
    service = KojiHub(recording_ctx)
    endpoints = service.start()
    assert endpoints["hub"].startswith("http://127.0.0.1:") and endpoints["hub"].endswith("/kojihub")
    assert endpoints["topurl"] == endpoints["hub"].replace("/kojihub", "/kojifiles")
    home = tmp_path / "home"
    home.mkdir()
    hub = Hub(recording_ctx, service, endpoints["hub"], endpoints["topurl"], home)
    yield hub
    for session in hub.logged_in:
        session.logout()
    service.stop()


def wait_task(session: koji.ClientSession, task_id: int, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while not session.taskFinished(task_id):
        assert time.monotonic() < deadline, f"task {task_id} did not finish"
        time.sleep(0.02)
    return session.getTaskInfo(task_id, request=True)


def tags_of(session: koji.ClientSession, nvr: str) -> set[str]:
    return {t["name"] for t in session.listTags(build=nvr)}


# --- reads ------------------------------------------------------------------------------------------------


def test_tags_targets_and_inheritance_follow_the_world(hub: Hub) -> None:
    s = hub.session()
    world = hub.ctx.world
    assert s.getAPIVersion() == koji.API_VERSION and s.getKojiVersion() == koji.__version__
    assert s.hello() == "Hello World"
    expected = [name for rel in world.releases.values() for name in rel.tags.values()]
    tags = sorted(s.listTags(), key=lambda t: t["id"])
    assert [t["name"] for t in tags] == expected and [t["id"] for t in tags] == list(range(1, len(expected) + 1))
    f24 = s.getTag("f24")
    assert f24["arches"] == "x86_64" and f24["locked"] is False and f24["perm"] is None
    assert s.getTag(f24["id"]) == f24
    assert s.getBuildConfig("f24-updates-testing")["arches"] == "x86_64"

    def chain(tag: str) -> list[str]:
        return [link["name"] for link in s.getFullInheritance(tag)]

    assert chain("f24-signing-pending") == ["f24-updates-candidate", "f24-updates", "f24"]
    assert chain("f24-updates-testing") == ["f24-updates", "f24"]
    assert chain("rawhide-pending") == ["rawhide"] and chain("rawhide-badnewsbears") == []
    assert {d["name"] for d in s.getFullInheritance("f24", reverse=True)} == {
        "f24-updates",
        "f24-updates-candidate",
        "f24-signing-pending",
        "f24-updates-testing",
        "f24-updates-testing-pending",
        "f24-updates-pending",
    }
    assert s.getInheritanceData("f24-updates")[0]["parent_id"] == f24["id"]

    targets = {t["name"]: t for t in s.getBuildTargets()}
    assert set(targets) == {"f23-candidate", "f24-candidate", "rawhide-candidate"}
    assert (targets["f24-candidate"]["build_tag_name"], targets["f24-candidate"]["dest_tag_name"]) == (
        "f24",
        "f24-updates-candidate",
    )
    assert targets["rawhide-candidate"]["dest_tag_name"] == "rawhide-pending"
    assert s.getBuildTarget("f24-candidate") == targets["f24-candidate"]
    assert s.getBuildTargets(destTagID="rawhide-pending") == [targets["rawhide-candidate"]]


def test_builds_rpms_and_tagged_listings(hub: Hub) -> None:
    s = hub.session()
    world, built = hub.ctx.world, hub.ctx.built
    builds = world.builds()
    first = s.getBuild(builds[0].nvr)
    assert first["id"] == 1 and first["nvr"] == builds[0].nvr and first["state"] == koji.BUILD_STATES["COMPLETE"]
    bash = s.getBuild("bash-4.3.42-5.fc24")
    assert bash["owner_name"] == "kdudka" and bash["volume_name"] == "DEFAULT"
    assert s.getBuild(bash["id"]) == bash == s.getBuild({"name": "bash", "version": "4.3.42", "release": "5.fc24"})
    assert s.getBuild("nosuch-1-1") is None
    rpms = s.listRPMs(buildID=bash["id"])
    assert [(r["arch"], r["payloadhash"]) for r in rpms] == [
        (r.arch, r.payloadhash) for r in built.rpms["bash-4.3.42-5.fc24"]
    ]
    assert [r["arch"] for r in s.listRPMs(buildID=bash["id"], arches=["noarch"])] == ["noarch"]
    assert s.getRPM("bash-4.3.42-5.fc24.noarch")["id"] == rpms[1]["id"]
    assert s.listBuildRPMs("bash-4.3.42-5.fc24") == rpms
    assert [b["nvr"] for b in s.listBuilds(packageID="curl")] == [b.nvr for b in builds if b.package == "curl"]

    in_f24 = {b.nvr for b in builds if "f24" in b.tags}
    assert {b["nvr"] for b in s.listTagged("f24")} == in_f24
    # rawhide-pending holds newer coreutils/etcd/python3-requests; with inheritance the rest comes from rawhide
    latest = {b["name"]: b for b in s.listTagged("rawhide-pending", inherit=True, latest=True)}
    assert (
        latest["coreutils"]["nvr"] == "coreutils-8.25-15.fc26" and latest["coreutils"]["tag_name"] == "rawhide-pending"
    )
    assert latest["bash"]["nvr"] == "bash-4.4.5-1.fc26" and latest["bash"]["tag_name"] == "rawhide"
    assert "atomic-1.14-1.fc26" not in {b["nvr"] for b in latest.values()}  # quarantined, not inherited
    assert [b["nvr"] for b in s.listTagged("rawhide-pending", package="etcd")] == ["etcd-3.0.15-1.fc26"]
    assert [b["nvr"] for b in s.listTagged("f24", prefix="ker")] == ["kernel-4.5.7-300.fc24"]
    rpm_list, build_list = s.listTaggedRPMS("f24-updates", latest=True, arch="noarch")
    assert {b["nvr"] for b in build_list} == {b.nvr for b in builds if "f24-updates" in b.tags}
    assert {r["build_id"] for r in rpm_list} == {b["id"] for b in build_list}
    assert all(r["arch"] == "noarch" for r in rpm_list)
    sigs = s.queryRPMSigs(rpm_id=rpms[1]["id"])
    assert {x["sigkey"] for x in sigs} == {"", built.key_id}


def test_faults_reach_the_client_as_koji_exceptions(hub: Hub) -> None:
    s = hub.session()
    with pytest.raises(koji.GenericError, match=r"^No such build: 'nosuch-1-1'$"):
        s.getBuild("nosuch-1-1", strict=True)
    with pytest.raises(koji.GenericError, match=r"^No such tagInfo: 'nosuch'$"):
        s.getTag("nosuch", strict=True)
    with pytest.raises(koji.GenericError, match="No such entry in table tag: nosuch"):
        s.getInheritanceData("nosuch")
    with pytest.raises(koji.GenericError, match="Invalid method: noSuchCall"):
        s.noSuchCall()
    with pytest.raises(koji.ParameterError):
        s.getTag()
    with pytest.raises(koji.ActionNotAllowed, match="you must be logged in"):
        s.tagBuild("f24-updates", "bash-4.3.42-5.fc24")
    with pytest.raises(koji.AuthError, match="invalid username or password"):
        koji.ClientSession(hub.url, opts={"user": "nobody", "password": "x"}).login()
    forged = koji.ClientSession(hub.url, sinfo={"session-id": 999, "session-key": "999-x", "header-auth": True})
    with pytest.raises(koji.AuthError, match="Invalid session or bad credentials"):
        forged.getTag("f24")
    owner = hub.session("kdudka")
    with pytest.raises(koji.ActionNotAllowed, match="tag permission required"):
        owner.tagBuildBypass("f24-updates", "bash-4.3.42-5.fc24")
    with pytest.raises(koji.ActionNotAllowed, match="sign permission required"):
        owner.writeSignedRPM("bash-4.3.42-5.fc24.noarch", hub.ctx.built.key_id)

    with s.multicall() as m:
        ok = m.getTag("f24")
        bad = m.getBuild("nosuch-1-1", strict=True)
        ver = m.getAPIVersion()
    assert ok.result["name"] == "f24" and ver.result == koji.API_VERSION
    with pytest.raises(koji.GenericError, match="No such build"):
        _ = bad.result
    with pytest.raises(koji.GenericError, match="No such tagInfo"), s.multicall(strict=True) as m:
        m.getTag("nosuch", strict=True)
    s.multicall = True  # the legacy multicall API
    s.getTag("f23")
    s.getBuild("nosuch-2-2", strict=True)
    legacy = s.multiCall()
    assert legacy[0][0]["name"] == "f23" and legacy[1]["faultCode"] == koji.GenericError.faultCode


# --- writes through the client ----------------------------------------------------------------------------


def test_tag_move_untag_with_messages_and_errors(hub: Hub) -> None:
    bodhi = hub.session("bodhi")
    assert bodhi.getLoggedInUser()["name"] == "bodhi"
    build = bodhi.getBuild(TESTING)

    task_id = bodhi.moveBuild("f24-updates-testing", "f24-updates", TESTING)
    info = wait_task(bodhi, task_id)
    assert info["state"] == koji.TASK_STATES["CLOSED"] and info["method"] == "tagBuild"
    assert bodhi.getTaskResult(task_id) is None
    assert tags_of(bodhi, TESTING) == {"f24-updates"}
    expected = {
        "build_id": build["id"],
        "name": "kernel",
        "version": "4.6.4",
        "release": "301.fc24",
        "user": "bodhi",
        "owner": "jforbes",
        "instance": "primary",
    }
    untag_tag = bodhi.getTag("f24-updates-testing")
    assert published(hub.ctx, "untag") == [{**expected, "tag": untag_tag["name"], "tag_id": untag_tag["id"]}]
    updates = bodhi.getTag("f24-updates")
    assert published(hub.ctx, "tag") == [{**expected, "tag": "f24-updates", "tag_id": updates["id"]}]

    again = bodhi.tagBuild("f24-updates", TESTING)
    assert wait_task(bodhi, again)["state"] == koji.TASK_STATES["FAILED"]
    with pytest.raises(koji.TagError, match=rf"^build {TESTING} already tagged \(f24-updates\)$"):
        bodhi.getTaskResult(again)
    assert bodhi.getTaskResult(again, raise_fault=False)["faultCode"] == koji.TagError.faultCode
    assert len(published(hub.ctx, "tag")) == 1

    with pytest.raises(koji.TagError, match=f"build {TESTING} not in tag f24-updates-testing"):
        bodhi.untagBuild("f24-updates-testing", TESTING)
    bodhi.untagBuild("f24-updates-testing", TESTING, strict=False)
    bodhi.untagBuild("f24-updates", TESTING)
    assert tags_of(bodhi, TESTING) == set()
    assert [m["tag"] for m in published(hub.ctx, "untag")] == ["f24-updates-testing", "f24-updates"]
    history = bodhi.queryHistory(tables=["tag_listing"], build=TESTING)["tag_listing"]
    assert [(h["tag.name"], h["active"]) for h in history] == [
        ("f24-updates-testing", None),
        ("f24-updates", None),
    ]

    releng = hub.session("releng")
    releng.editTag2("f24-updates", locked=True)
    assert bodhi.getTag("f24-updates")["locked"] is True
    with pytest.raises(koji.ActionNotAllowed, match="tag is locked"):
        bodhi.tagBuild("f24-updates", TESTING)
    forced = releng.tagBuild("f24-updates", TESTING, force=True)  # an admin may force past the lock
    assert wait_task(releng, forced)["state"] == koji.TASK_STATES["CLOSED"]
    assert tags_of(bodhi, TESTING) == {"f24-updates"}
    bodhi.logout()
    with pytest.raises(koji.ActionNotAllowed):
        bodhi.untagBuild("f24-updates", TESTING)


def test_targets_and_tag_edits_need_permissions(hub: Hub) -> None:
    bodhi, owner = hub.session("bodhi"), hub.session("ralph")
    with pytest.raises(koji.ActionNotAllowed, match="target permission required"):
        owner.createBuildTarget("f24-side", "f24", "f24-updates-candidate")
    bodhi.createBuildTarget("f24-side", "f24", "f24-updates-candidate")
    assert bodhi.getBuildTarget("f24-side")["dest_tag_name"] == "f24-updates-candidate"
    with pytest.raises(koji.GenericError, match="already exists"):
        bodhi.createBuildTarget("f24-side", "f24", "f24-updates-candidate")
    bodhi.deleteBuildTarget("f24-side")
    assert bodhi.getBuildTarget("f24-side") is None
    with pytest.raises(koji.GenericError, match="No such build target: f24-side"):
        bodhi.deleteBuildTarget("f24-side")
    bodhi.editTag2("f24-updates-testing", extra={"mock.package_manager": "dnf"}, perm="sign")
    assert bodhi.getTag("f24-updates-testing")["perm"] == "sign"
    assert bodhi.getBuildConfig("f24-updates-testing")["extra"] == {"mock.package_manager": "dnf"}
    with pytest.raises(koji.ActionNotAllowed, match="tag requires sign permission"):
        owner.tagBuild("f24-updates-testing", "curl-7.47.1-5.fc24")


# --- the CLI ----------------------------------------------------------------------------------------------


def test_cli_read_commands(hub: Hub) -> None:
    out = hub.cli("list-tags")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == sorted(n for rel in hub.ctx.world.releases.values() for n in rel.tags.values())
    out = hub.cli("list-tags", "f24-*", "--show-id")
    testing_id = hub.session().getTag("f24-updates-testing")["id"]
    assert f"f24-updates-testing [{testing_id}]" in out.stdout.splitlines()

    out = hub.cli("taginfo", "f24-updates-testing")
    assert out.returncode == 0, out.stderr
    assert f"Tag: f24-updates-testing [{testing_id}]" in out.stdout and "Arches: x86_64" in out.stdout
    assert f"f24-updates [{hub.session().getTag('f24-updates')['id']}]" in out.stdout
    assert "f24-candidate (f24, no active repo)" in hub.cli("taginfo", "f24-updates-candidate").stdout

    out = hub.cli("buildinfo", "bash-4.3.42-5.fc24")
    assert out.returncode == 0, out.stderr
    assert "BUILD: bash-4.3.42-5.fc24" in out.stdout and "State: COMPLETE" in out.stdout
    assert "Tags: f24" in out.stdout and f"Signatures: {hub.ctx.built.key_id}" in out.stdout
    missing = hub.cli("buildinfo", "nosuch-1-1")
    assert missing.returncode == 1 and "No such build: nosuch-1-1" in missing.stderr

    out = hub.cli("list-tagged", "--latest", "--inherit", "--quiet", "rawhide-pending")
    rows = {line.split()[0]: line.split()[1] for line in out.stdout.splitlines()}
    assert rows["coreutils-8.25-15.fc26"] == "rawhide-pending" and rows["bash-4.4.5-1.fc26"] == "rawhide"
    assert "coreutils-8.25-14.fc26" not in rows
    out = hub.cli("list-tagged", "--quiet", "rawhide-pending")
    assert {line.split()[0] for line in out.stdout.splitlines()} == {
        "coreutils-8.25-15.fc26",
        "python3-requests-2.12.1-1.fc26",
        "etcd-3.0.15-1.fc26",
    }
    assert "No such tag: nosuch" in hub.cli("list-tagged", "nosuch").stderr

    out = hub.cli("list-targets", "--quiet")
    assert [line.split() for line in out.stdout.splitlines()] == [
        ["f23-candidate", "f23", "f23-updates-candidate"],
        ["f24-candidate", "f24", "f24-updates-candidate"],
        ["rawhide-candidate", "rawhide", "rawhide-pending"],
    ]
    out = hub.cli("call", "--json-output", "getBuildTarget", "rawhide-candidate")
    assert '"dest_tag_name": "rawhide-pending"' in out.stdout


def test_cli_tag_move_untag(hub: Hub) -> None:
    s = hub.session()
    out = hub.cli("tag-build", "--wait", "f24-updates-testing", "curl-7.47.1-5.fc24", user="bodhi")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "completed successfully" in out.stdout
    assert tags_of(s, "curl-7.47.1-5.fc24") == {"f24-updates", "f24-updates-testing"}

    out = hub.cli("tag-build", "--wait", "f24-updates-testing", "curl-7.47.1-5.fc24", user="bodhi")
    assert out.returncode == 1
    assert "TagError: build curl-7.47.1-5.fc24 already tagged (f24-updates-testing)" in out.stdout

    out = hub.cli("move-build", "--wait", "f24-signing-pending", "f24-updates-testing", UNSIGNED, user="autosign")
    assert out.returncode == 0, out.stdout + out.stderr
    assert tags_of(s, UNSIGNED) == {"f24-updates-testing"}

    out = hub.cli("untag-build", "f24-updates-testing", UNSIGNED, user="bodhi")
    assert out.returncode == 0, out.stderr
    assert tags_of(s, UNSIGNED) == set()
    out = hub.cli("untag-build", "f24-updates-testing", UNSIGNED, user="bodhi")
    assert out.returncode == 1 and f"Build {UNSIGNED} not in tag f24-updates-testing" in out.stderr

    denied = hub.cli("tag-build", "--wait", "f24-updates", "curl-7.47.1-5.fc24")
    assert denied.returncode != 0 and "you must be logged in" in denied.stderr
    tags = [(m["tag"], m["name"], m["user"]) for m in published(hub.ctx, "tag")]
    assert tags == [("f24-updates-testing", "curl", "bodhi"), ("f24-updates-testing", "bash", "autosign")]
    untags = [(m["tag"], m["user"]) for m in published(hub.ctx, "untag")]
    assert untags == [("f24-signing-pending", "autosign"), ("f24-updates-testing", "bodhi")]


# --- signing, files and images ----------------------------------------------------------------------------


def test_sign_an_rpm_and_serve_the_signed_copy(hub: Hub, tmp_path: Path) -> None:
    built = hub.ctx.built
    autosign = hub.session("autosign")
    rinfo = autosign.getRPM(f"{UNSIGNED}.noarch")
    binfo = autosign.getBuild(rinfo["build_id"])
    assert [x["sigkey"] for x in autosign.queryRPMSigs(rpm_id=rinfo["id"])] == [""]
    paths = koji.PathInfo(topdir=hub.topurl)
    unsigned = tmp_path / "unsigned.rpm"
    unsigned.write_bytes(hub.get(f"{paths.build(binfo)}/{paths.rpm(rinfo)}"))
    assert (
        unsigned.read_bytes()
        == (built.topdir / f"packages/bash/4.3.42/6.fc24/noarch/{UNSIGNED}.noarch.rpm").read_bytes()
    )

    signed_local = tmp_path / "signed-local.rpm"
    shutil.copy(unsigned, signed_local)
    rpmsign.sign_rpms([signed_local], built.gnupghome, built.fingerprint)  # in a private copy of the home
    sighdr = koji.rip_rpm_sighdr(str(signed_local))

    with pytest.raises(koji.GenericError, match="No cached signature"):
        autosign.writeSignedRPM(rinfo["id"], built.key_id)
    autosign.addRPMSig(rinfo["id"], base64.b64encode(sighdr).decode())
    with pytest.raises(koji.GenericError, match="Signature already exists"):
        autosign.addRPMSig(rinfo["id"], base64.b64encode(sighdr).decode())
    other = autosign.getRPM("bash-4.3.42-5.fc24.noarch")
    with pytest.raises(koji.GenericError, match="wrong md5"):
        autosign.addRPMSig(other["id"], base64.b64encode(sighdr).decode())
    assert autosign.queryRPMSigs(rpm_id=rinfo["id"], sigkey=built.key_id)[0]["sigkey"] == built.key_id
    autosign.writeSignedRPM(rinfo["id"], built.key_id)
    autosign.writeSignedRPM(rinfo["id"], built.key_id)  # idempotent

    signed = tmp_path / "signed.rpm"
    signed.write_bytes(hub.get(f"{paths.build(binfo)}/{paths.signed(rinfo, built.key_id)}"))
    db = tmp_path / "rpmdb"
    db.mkdir()
    subprocess.run(["rpmkeys", "--dbpath", str(db), "--import", str(built.public_key)], check=True, timeout=60)
    check = subprocess.run(["rpmkeys", "--dbpath", str(db), "-K", str(signed)], capture_output=True, text=True)
    assert check.returncode == 0 and "signatures OK" in check.stdout, check.stdout + check.stderr
    plain = subprocess.run(["rpmkeys", "--dbpath", str(db), "-K", str(unsigned)], capture_output=True, text=True)
    assert "signatures" not in plain.stdout
    [message] = published(hub.ctx, "rpm.sign")
    assert message["sigkey"] == built.key_id and message["rpm"]["id"] == rinfo["id"]
    assert message["build"]["nvr"] == UNSIGNED and message["instance"] == "primary"


def test_kojifiles_serves_the_topdir_only(hub: Hub) -> None:
    built = hub.ctx.built
    rpm = built.rpms["bash-4.3.42-5.fc24"][1]
    assert hub.get(f"{hub.topurl}/{rpm.relpath}") == (built.topdir / rpm.relpath).read_bytes()
    assert hub.get(f"{hub.topurl}/{rpm.signed_relpath}") == (built.topdir / rpm.signed_relpath).read_bytes()
    for missing in ("packages/bash/none.rpm", "packages/bash", ""):
        with pytest.raises(urllib.error.HTTPError) as caught:
            hub.get(f"{hub.topurl}/{missing}")
        assert caught.value.code == 404
    url = urlsplit(hub.topurl)
    for raw in ("/kojifiles/../koji.sqlite", "/kojifiles/%2e%2e/koji.sqlite", "/kojifiles/packages/../../koji.sqlite"):
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
        conn.request("GET", raw)
        response = conn.getresponse()
        response.read()
        conn.close()
        assert response.status == 404, raw


WORLD_KICKSTARTS = Path(__file__).parents[2] / "sandbox/relengotron_sandbox/worlds/kickstarts"


def _dist_repo(hub: Hub, tag: str) -> str:
    """``koji dist-repo`` (the real CLI) of ``tag`` with the world's key: the x86_64 repository's URL."""
    done = hub.cli("dist-repo", tag, hub.ctx.built.key_id, "--arch", "x86_64", "--wait", user="releng")
    assert done.returncode == 0, done.stderr
    releng = hub.session("releng")
    [task] = releng.listTasks(opts={"method": "distRepo", "decode": True}, queryOpts={"order": "-id", "limit": 1})
    tag_name, repo_id = task["request"][:2]
    return f"{koji.PathInfo(topdir=hub.topurl).distrepo(repo_id, tag_name)}/x86_64/"


def sh(*args: str | Path) -> str:
    """A stock tool's stdout; the test fails with its stderr when it exits non-zero."""
    proc = subprocess.run([str(a) for a in args], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"{args[0]} exited {proc.returncode}: {proc.stderr}"
    return proc.stdout


def nvras(rpmlist: list[dict[str, Any]]) -> frozenset[str]:
    return frozenset(f"{r['name']}-{r['version']}-{r['release']}.{r['arch']}" for r in rpmlist)


def download_image(hub: Hub, build: dict[str, Any], filename: str, dest: Path) -> Path:
    path = dest / filename
    path.write_bytes(hub.get(f"{koji.PathInfo(topdir=hub.topurl).imagebuild(build)}/{filename}"))
    return path


def test_image_build_requested_as_the_koji_cli_does_installs_the_kickstart_from_the_signed_repo(
    hub: Hub, tmp_path: Path
) -> None:
    """``koji image-build --kickstart`` (the real CLI: upload, then buildImageOz with its options) against a
    dist repo of the tag's signed copies: the images are real disks — stock tools identify each format — whose
    root holds the kickstart's %packages and their dependencies, exactly the task's rpmlist."""
    releng = hub.session("releng")
    with pytest.raises(koji.ActionNotAllowed, match="image permission required"):
        hub.session("bodhi").buildImageOz("Fedora-Cloud-Base", "24", ["x86_64"], "f24-candidate", "http://x")
    repo = _dist_repo(hub, "f24")
    primary = hub.get(f"{repo}repodata/repomd.xml")
    assert b"primary" in primary
    kickstart = tmp_path / "cloud.ks"
    kickstart.write_text("lang en_US.UTF-8\nrootpw --lock --iscrypted locked\n%packages\ncloud-init\n-kernel\n%end\n")
    args = ["image-build", "Fedora-Cloud-Base", "24", "f24-candidate", repo, "x86_64", "--kickstart", str(kickstart)]
    args += ["--ksversion", "F24", "--distro", "Fedora-24", "--repo", repo, "--release", "20161201.0"]
    args += ["--format", "raw-xz", "--format", "qcow2", "--format", "tar-gz"]
    done = hub.cli(*args, "--wait", user="releng")
    assert done.returncode == 0, done.stdout + done.stderr
    [task] = releng.listTasks(opts={"method": "image", "decode": True}, queryOpts={"order": "-id", "limit": 1})
    name, version, arches, target, inst_tree, opts = task["request"]
    assert (name, version, arches, target, inst_tree) == ("Fedora-Cloud-Base", "24", ["x86_64"], "f24-candidate", repo)
    assert opts["kickstart"].startswith("work/cli-image/") and opts["kickstart"].endswith("/cloud.ks")
    assert {k: v for k, v in opts.items() if k != "kickstart"} == {
        "ksversion": "F24", "distro": "Fedora-24", "format": ["raw-xz", "qcow2", "tar-gz"], "repo": [repo],
        "release": "20161201.0", "disk_size": 10, "optional_arches": "",
    }  # fmt: skip
    children = {c["method"]: c for c in releng.getTaskChildren(task["id"], request=True)}
    assert set(children) == {"createImage", "tagBuild"}
    result = releng.getTaskResult(children["createImage"]["id"])
    base = "Fedora-Cloud-Base-24-20161201.0.x86_64"
    assert result["files"] == [f"{base}.raw.xz", f"{base}.qcow2", f"{base}.tar.gz"]
    assert result["logs"] == ["oz-x86_64.log", "cloud.ks"]
    installed = nvras(result["rpmlist"])
    assert "cloud-init" in {r["name"] for r in result["rpmlist"]} and len(installed) > 1  # with its dependencies
    assert "kernel" not in {r["name"] for r in result["rpmlist"]}
    build = releng.getBuild("Fedora-Cloud-Base-24-20161201.0")
    assert build["state"] == koji.BUILD_STATES["COMPLETE"]
    archives = {a["filename"]: a for a in releng.listArchives(buildID=build["id"], type="image")}
    assert {a["type_name"] for a in archives.values()} == {"raw-xz", "qcow2", "tar"}
    assert all(len(releng.listRPMs(imageID=a["id"])) == len(installed) for a in archives.values())
    # each format as stock tools see it: a DOS/MBR disk inside the xz, a qcow2, GCE's tarball of disk.raw only
    raw_xz, qcow2, gce = (download_image(hub, build, f, tmp_path) for f in result["files"])
    sh("xz", "-dk", raw_xz)
    assert "DOS/MBR boot sector" in sh("file", "-b", raw_xz.with_suffix(""))
    assert json.loads(sh("qemu-img", "info", "--output=json", qcow2))["format"] == "qcow2"
    assert sh("tar", "-tzf", gce).split() == ["disk.raw"]
    # the root inside each holds exactly the task's rpmlist (its rpmdb, read back from the image)
    for path, fmt in ((raw_xz, "raw-xz"), (qcow2, "qcow2"), (gce, "tar-gz")):
        opened = open_image(path, fmt)
        assert opened.well_formed, opened.message
        assert opened.packages == installed, fmt
    # what it installed are the copies signed with the world's key: the dist repo holds nothing else
    local = hub.service.topdir / repo.split("/kojifiles/", 1)[1]
    rpm = next((local / "Packages/c").glob("cloud-init-*.rpm"))
    sig = subprocess.run(["rpm", "-qp", "--qf", "%{RSAHEADER:pgpsig}", str(rpm)], capture_output=True, text=True)
    assert hub.ctx.built.key_id in sig.stdout.lower(), sig.stdout + sig.stderr


def test_image_requests_koji_would_not_build_fail_naming_the_problem(hub: Hub, tmp_path: Path) -> None:
    releng = hub.session("releng")
    with pytest.raises(koji.ParameterError, match="unknown image option\\(s\\) packages"):
        releng.buildImageOz("Fedora-Cloud-Base", "24", ["x86_64"], "f24-candidate", "http://x", {"packages": ["bash"]})
    with pytest.raises(koji.GenericError, match="Unrecognized image type: pxe"):
        releng.buildImage("X", "24", ["x86_64"], "f24-candidate", "x.ks", "pxe", {})
    bad = tmp_path / "bad.ks"
    bad.write_text("lang en_US.UTF-8\nbogus --foo\n%packages\nbash\n%end\n")
    serverdir = "cli-image/test"
    releng.uploadWrapper(str(bad), serverdir)
    assert releng.checkUpload(serverdir, "bad.ks")["size"] == bad.stat().st_size
    opts = {"kickstart": f"work/{serverdir}/bad.ks", "ksversion": "F24", "distro": "Fedora-24", "repo": ["http://x"]}
    task_id = releng.buildImageOz("Fedora-Cloud-Base", "24", ["x86_64"], "f24-candidate", "http://x", opts)
    assert wait_task(releng, task_id)["state"] == koji.TASK_STATES["FAILED"]
    with pytest.raises(koji.BuildError, match=r"(?s)Failed to parse kickstart file .*line 2.*Unknown command: bogus"):
        releng.getTaskResult(task_id)
    assert releng.getBuild("Fedora-Cloud-Base-24-1")["state"] == koji.BUILD_STATES["FAILED"]
    # a repository of unsigned RPMs: the root's install checks signatures and refuses, naming the package
    unsigned = hub.service.topdir / "work" / "unsigned-repo"
    unsigned.mkdir(parents=True)
    [rpm] = [r for r in hub.ctx.built.rpms["filesystem-3.2-37.fc24"] if r.arch == "noarch"]
    shutil.copy(hub.ctx.built.topdir / rpm.relpath, unsigned / rpm.filename)
    subprocess.run(["createrepo_c", "--quiet", str(unsigned)], check=True)
    good = tmp_path / "good.ks"
    good.write_text("lang en_US.UTF-8\nrootpw --lock --iscrypted locked\n%packages\nfilesystem\n%end\n")
    releng.uploadWrapper(str(good), serverdir)
    opts = {**opts, "kickstart": f"work/{serverdir}/good.ks", "repo": [f"{hub.topurl}/work/unsigned-repo/"]}
    task_id = releng.buildImageOz("Fedora-Cloud-Base", "24", ["x86_64"], "f24-candidate", "http://x", opts)
    assert wait_task(releng, task_id, timeout=60)["state"] == koji.TASK_STATES["FAILED"]
    with pytest.raises(koji.BuildError, match=r"createImage task \d+ \(Fedora-Cloud-Base-24-2\): package filesystem-"):
        releng.getTaskResult(task_id)
    with pytest.raises(koji.BuildError, match="not signed"):
        releng.getTaskResult(task_id)
    assert releng.getBuild("Fedora-Cloud-Base-24-2")["state"] == koji.BUILD_STATES["FAILED"]
    assert not releng.listArchives(buildID=releng.getBuild("Fedora-Cloud-Base-24-2")["id"])
    bad = releng.buildImageOz("Fedora-Cloud-Base", "24", ["x86_64"], "nosuch-target", "http://x")
    assert wait_task(releng, bad)["state"] == koji.TASK_STATES["FAILED"]
    with pytest.raises(koji.GenericError, match="No such build target: nosuch-target"):
        releng.getTaskResult(bad)
    unlisted = releng.buildImageOz("Not-Listed", "24", ["x86_64"], "f24-candidate", "http://x")
    wait_task(releng, unlisted)
    with pytest.raises(
        koji.BuildError, match="package \\(image\\) Not-Listed not in list for tag f24-updates-candidate"
    ):
        releng.getTaskResult(unlisted)


def test_livemedia_installs_the_worlds_kickstarts_and_a_dist_repo_refuses_unsigned_builds(
    hub: Hub, tmp_path: Path
) -> None:
    """``koji spin-livemedia`` (the real CLI) of the world's kickstarts: with ``--squashfs-only`` the live ISO the
    pxe2live is made of (its PXE tarball derived by the product), without it the installer ISO; each an ``.iso``
    archive as kojid's LiveMediaTask uploads, opened with stock tools, its packages those the task's log says it
    installed (its rpmlist is empty, as real kojid's LiveMediaTask leaves it)."""
    releng = hub.session("releng")
    repo = _dist_repo(hub, "f24")
    common = ["--ksversion", "F24", "--repo", repo, "--install-tree-url", repo, "--skip-tag", "--wait"]
    made: dict[str, tuple[Path, frozenset[str]]] = {}
    archives: dict[str, list[dict[str, Any]]] = {}
    for name, kickstart, extra in (
        ("Fedora-Atomic-pxe2live", "fedora-cloud-atomic-pxetolive.ks", ["--squashfs-only"]),
        ("Fedora-Server-dvd", "fedora-install-server.ks", []),
    ):
        args = ["spin-livemedia", name, "24", "f24-candidate", "x86_64", str(WORLD_KICKSTARTS / kickstart)]
        done = hub.cli(*args, *common, *extra, user="releng")
        assert done.returncode == 0, done.stdout + done.stderr
        [task] = releng.listTasks(opts={"method": "livemedia", "decode": True}, queryOpts={"order": "-id", "limit": 1})
        assert task["request"][5].get("squashfs_only", False) == bool(extra)
        [child] = [c for c in releng.getTaskChildren(task["id"]) if c["method"] == "createLiveMedia"]
        result = releng.getTaskResult(child["id"])
        [filename] = result["files"]
        assert result["rpmlist"] == []  # kojid: "TODO - generate list of rpms in image"
        build = releng.getBuild(f"{name}-24-{result['release']}")
        log = hub.get(f"{koji.PathInfo(topdir=hub.topurl).task(child['id'])}/livemedia-out.log").decode()
        installed = frozenset(line.split()[1] for line in log.splitlines() if line.startswith("installed "))
        made[name] = (download_image(hub, build, filename, tmp_path), installed)
        archives[name] = releng.listArchives(buildID=build["id"])

    live, pxe_packages = made["Fedora-Atomic-pxe2live"]
    assert live.name.startswith("Fedora-Atomic-pxe2live-x86_64-24-") and live.name.endswith(".iso")
    assert [(a["filename"], a["type_name"]) for a in archives["Fedora-Atomic-pxe2live"]] == [(live.name, "iso")]
    described = sh("file", live)
    assert "ISO 9660 CD-ROM filesystem data" in described and "'Fedora-AH-pxe2live-24-" in described  # kojid's volid
    listing = sh("xorriso", "-indev", live, "-find", "/", "-type", "f").split()
    assert {"'/LiveOS/squashfs.img'", "'/images/pxeboot/vmlinuz'", "'/images/pxeboot/initrd.img'"} <= set(listing)
    assert {"kernel", "ostree", "rpm-ostree", "dracut"} <= {n.rsplit("-", 2)[0] for n in pxe_packages}
    pxe = pxe_tarball_from_live_iso(live, tmp_path / "Fedora-Atomic-pxe2live-x86_64-24.tar.gz", item="pxe2live")
    assert sorted(sh("tar", "-tzf", pxe).split()) == ["PXE_CONFIG", "initrd.img", "live-rootfs.squashfs.img", "vmlinuz"]
    opened = open_image(pxe, "pxe2live")
    assert opened.well_formed, opened.message
    assert opened.packages == pxe_packages

    iso, iso_packages = made["Fedora-Server-dvd"]
    assert iso.name.startswith("Fedora-Server-dvd-x86_64-24-") and iso.name.endswith(".iso")
    listing = sh("xorriso", "-indev", iso, "-find", "/repodata", "-name", "repomd.xml")
    assert "'/repodata/repomd.xml'" in listing.split()
    opened = open_image(iso, "iso", gpg_key=hub.ctx.built.public_key)
    assert opened.well_formed, opened.message
    assert opened.facts["volume-id"] == "Fedora-S-dvd-x86_64-24"  # Pungi's volume id of the name
    assert opened.packages == iso_packages and {"anaconda", "lorax", "kernel"} <= {
        n.rsplit("-", 2)[0] for n in iso_packages
    }

    # f24-signing-pending holds a build the world left unsigned: Koji refuses to make a dist repo of it
    done = hub.cli(
        "dist-repo", "f24-signing-pending", hub.ctx.built.key_id, "--arch", "x86_64", "--wait", user="releng"
    )
    assert done.returncode != 0 and "Unsigned packages found" in done.stdout + done.stderr


def test_concurrent_clients(hub: Hub) -> None:
    """Readers and writers in parallel threads (the server is threaded; every call is one transaction)."""
    nvrs = [b.nvr for b in hub.ctx.world.builds() if b.tags == ("f24",)][:8]
    errors: list[BaseException] = []

    def work(nvr: str) -> None:
        try:
            session = hub.session("bodhi")
            for _ in range(5):
                assert session.getBuild(nvr)["nvr"] == nvr
                session.listTagged("f24-updates-testing", inherit=True, latest=True)
            session.tagBuildBypass("f24-updates-testing", nvr)
            session.untagBuild("f24-updates-testing", nvr)
            session.tagBuildBypass("f24-updates-testing", nvr)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(nvr,)) for nvr in nvrs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    tagged = {b["nvr"] for b in hub.session().listTagged("f24-updates-testing")}
    assert set(nvrs) <= tagged
    assert len(published(hub.ctx, "tag")) == 2 * len(nvrs) and len(published(hub.ctx, "untag")) == len(nvrs)


def test_restart_keeps_state(hub: Hub) -> None:
    bodhi = hub.session("bodhi")
    bodhi.tagBuildBypass("f24-updates-testing", "curl-7.47.1-5.fc24")
    build_id = bodhi.getBuild("curl-7.47.1-5.fc24")["id"]
    bodhi.logout()
    hub.logged_in.remove(bodhi)
    hub.service.stop()
    endpoints = hub.service.start()
    again = koji.ClientSession(endpoints["hub"], opts={"user": "bodhi", "password": "sandbox"})
    assert tags_of(again, "curl-7.47.1-5.fc24") == {"f24-updates", "f24-updates-testing"}
    assert again.getBuild("curl-7.47.1-5.fc24")["id"] == build_id
    again.login()
    hub.logged_in.append(again)
    again.untagBuild("f24-updates-testing", "curl-7.47.1-5.fc24")
    assert tags_of(again, "curl-7.47.1-5.fc24") == {"f24-updates"}
