"""What an ``updates_push`` run must leave behind, shared by the runs on SQLite with dag.test()
(test_dag_updates_push.py) and on PostgreSQL/Redis with the CeleryExecutor (test_celery_executor.py), so both
executors are held to one end state. No tests here.

Task instances are compared as :class:`TaskRun` records, built from the ORM's task instances or from the REST
API's rows, so the same assertions read either.
"""

from __future__ import annotations

import functools
import hashlib
import subprocess
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests

from relengotron.artifacts import load_release_config
from relengotron.config import ReleaseConfig
from relengotron.manifest import KEY_MANIFEST
from relengotron.messaging import FedmsgPublisher, load_fedmsg_config
from relengotron.ostree.metadata import KEY_PKGLIST
from relengotron.ostree.repo import OSTreeRepo
from relengotron.tools.rootfs import read_rpmdb
from relengotron.website import iter_image_paths, read_images_json

TOPIC = "org.fedoraproject.dev.relengotron."
SENTINEL = "org.fedoraproject.dev.test.sentinel"
ATOMIC = "fedora/24/x86_64/atomic-host"
AMI = "Fedora-Cloud-Base-24.x86_64.raw.xz"
F24_IMAGES = {
    "installer-iso": "linux/releases/24/installer-iso/x86_64/Fedora-Server-dvd-x86_64-24.iso",
    "pxe2live": "linux/releases/24/pxe2live/x86_64/Fedora-Atomic-pxe2live-x86_64-24.tar.gz",
    "cloud-base-gce": "linux/releases/24/gce/x86_64/Fedora-Cloud-Base-GCE-24.x86_64.tar.gz",
}
# The sandbox Bodhi's f24 glibc update (worlds/fedora.yaml), requested for stable: a compose names it by its build.
GLIBC = {"alias": "FEDORA-2016-1d1d97e08f", "builds": ["glibc-2.23.1-8.fc24"]}
GLIBC_PUSH = ["glibc-2.23.1-8.fc24"]  # the compose's updates, as bodhi.compose.composing names them
HELD_BACK_PUSH_ID = "2016-06-14.0"


def conf(push_id: str, repo: str, updates: list[str], **extra: Any) -> dict[str, Any]:
    """An ``updates_push`` conf as the listener makes it of Bodhi's ``bodhi.compose.composing`` (the compose's
    repo and each update's NVRs joined by spaces), polling the sandbox fast."""
    return {"push_id": push_id, "repo": repo, "updates": updates, "agent": "releng", "poll_interval": 0.2, **extra}


@dataclass
class PushWorld:
    """The sandbox a push runs against: its endpoints, its release configuration, a publisher for sentinels."""

    endpoints: dict[str, Any]
    config: ReleaseConfig
    publisher: FedmsgPublisher

    @property
    def staging(self) -> Path:
        return Path(self.config.mirror.staging)

    @property
    def master(self) -> Path:
        return Path(self.config.mirror.master)


@contextmanager
def open_push_world(endpoints: dict[str, Any]) -> Iterator[PushWorld]:
    """A :class:`PushWorld` over a running sandbox's endpoints; its publisher closed after."""
    publisher = FedmsgPublisher(load_fedmsg_config(endpoints["bus"]["fedmsg_config"]))
    try:
        yield PushWorld(endpoints, load_release_config(endpoints["releng"]["config"]), publisher)
    finally:
        publisher.close()


# --- task instances ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskRun:
    """One task instance as both executors' tests see it (``state`` as ``str(state)``: "None" when unset)."""

    task_id: str
    map_index: int
    state: str
    rendered_map_index: str | None
    hostname: str | None


def group_runs(runs: Iterable[TaskRun]) -> dict[str, list[TaskRun]]:
    """Task id → its instances in map index order."""
    grouped: dict[str, list[TaskRun]] = {}
    for run in sorted(runs, key=lambda r: (r.task_id, r.map_index)):
        grouped.setdefault(run.task_id, []).append(run)
    return grouped


def runs_of_dag_run(dag_run: Any) -> dict[str, list[TaskRun]]:
    """The task instances of an ORM DagRun (dag.test()'s result)."""
    return group_runs(
        TaskRun(ti.task_id, ti.map_index, str(ti.state), ti.rendered_map_index, ti.hostname)
        for ti in dag_run.get_task_instances()
    )


def runs_of_api_rows(rows: Iterable[Mapping[str, Any]]) -> dict[str, list[TaskRun]]:
    """The task instances listed by ``GET /api/v2/dags/{dag}/dagRuns/{run}/taskInstances``."""
    return group_runs(
        TaskRun(row["task_id"], row["map_index"], str(row["state"]), row.get("rendered_map_index"), row["hostname"])
        for row in rows
    )


def states(tis: dict[str, list[TaskRun]]) -> dict[str, list[str]]:
    return {task: [ti.state for ti in found] for task, found in tis.items()}


IMAGE_KINDS = ("ami", "gce", "installer-iso", "pxe2live")  # each a task group of updates_push, as "ostree"


def by_label(tis: dict[str, list[TaskRun]], groups: str | tuple[str, ...], step: str) -> dict[str, str]:
    """The step's states in the kinds' task groups ``groups``, by artifact label (the compose task's rendered map
    index of the same index)."""
    out: dict[str, str] = {}
    for group in (groups,) if isinstance(groups, str) else groups:
        names = {ti.map_index: ti.rendered_map_index for ti in tis.get(f"{group}.compose", [])}
        out.update({names[ti.map_index]: ti.state for ti in tis.get(f"{group}.{step}", [])})
    return out


# --- the world -----------------------------------------------------------------------------------------------


def bus(world: Any) -> list[dict[str, Any]]:
    """Every archived message but the sentinels, once a fresh sentinel came through (earlier ones are in by then).
    ``world``: anything with the sandbox's ``endpoints`` and a ``publisher`` on its bus."""
    marker = time.monotonic_ns()
    world.publisher.publish("test", "sentinel", {"n": marker})
    url = world.endpoints["bus"]["datagrepper"] + "raw"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        messages: list[dict[str, Any]] = []
        page = 1
        while True:
            answer = requests.get(url, params={"order": "asc", "rows_per_page": 100, "page": page}, timeout=10).json()
            messages += answer["raw_messages"]
            if page >= answer["pages"]:
                break
            page += 1
        if any(m["topic"] == SENTINEL and m["msg"].get("n") == marker for m in messages):
            return [m for m in messages if m["topic"] != SENTINEL]
        time.sleep(0.05)
    raise AssertionError("the sentinel message never reached the bus archive")


def tree(top: Path) -> dict[str, str]:
    """Every file under ``top`` with its SHA256 (directories as "dir")."""
    if not top.exists():
        return {}
    return {
        p.relative_to(top).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        for p in sorted(top.rglob("*"))
        if not p.is_symlink()
    }


def snapshot(world: PushWorld) -> dict[str, Any]:
    return {"staging": tree(world.staging), "master": tree(world.master)}


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def pull_over_http(repo_dir: Path, ref: str, public_key: Path, work: Path) -> str:
    """Pull ``ref`` from the repository served over HTTP on 127.0.0.1, GPG-verifying commit and summary;
    the commit pulled."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(repo_dir)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = work / "client"

        def ostree(*args: str) -> str:
            out = subprocess.run(["ostree", *args, f"--repo={client}"], capture_output=True, text=True, check=False)
            assert out.returncode == 0, out.stderr
            return out.stdout

        ostree("init", "--mode=bare-user")
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        ostree("remote", "add", "--set=gpg-verify=true", "--set=gpg-verify-summary=true", "fedora", url)
        ostree("remote", "gpg-import", "-k", str(public_key), "fedora")
        ostree("pull", "fedora", ref)
        return ostree("rev-parse", f"fedora:{ref}").strip()
    finally:
        server.shutdown()
        server.server_close()


def pull_and_read_manifest(repo_dir: Path, ref: str, public_key: Path, work: Path) -> str:
    """:func:`pull_over_http`, then what the client pulled must hold the compose's resolved manifest (the commit's
    ``relengotron.manifest``): its rpmdb (rpm-ostree's usr/share/rpm) by build, and the package list rpm-ostree
    records in the commit (``rpmostree.rpmdb.pkglist``) by name. The commit pulled."""
    commit = pull_over_http(repo_dir, ref, public_key, work)
    checkout = work / "checkout"
    ostree_args = ["checkout", "--user-mode", "--subpath=/usr/share/rpm", commit, str(checkout)]
    subprocess.run(["ostree", f"--repo={work / 'client'}", *ostree_args], check=True)
    installed = read_rpmdb(checkout, item=f"{ref} as pulled")
    metadata = OSTreeRepo(work / "client").show(commit).metadata
    assert sorted({p.build for p in installed}) == sorted(metadata[KEY_MANIFEST])
    assert sorted(entry[0] for entry in metadata[KEY_PKGLIST]) == sorted(p.name for p in installed)
    return commit


# --- the end state of the f24 glibc push whose AMI fails its tests --------------------------------------------


def assert_held_back_push(
    world: PushWorld, run_state: str, tis: dict[str, list[TaskRun]], image_tasks: list[Any], work: Path
) -> None:
    """The end state of ``conf(HELD_BACK_PUSH_ID, "f24-updates", GLIBC_PUSH)`` on a fresh sandbox: every f24 artifact
    composed, tested, signed and released — except the AMI, whose tests fail: held back, never synced, named
    in the push-complete message — with the run red, the mirror pullable with verification, the website listing
    only what was released, and one Koji image task per image target (``image_tasks``). ``work``: a scratch
    directory for the verifying pull."""
    got = states(tis)
    assert run_state == "failed", got  # the check names what was held back
    for task in ("wait_turn", "updates", "tag_updates", "mash", "plan", "sync", "report", "publish_complete"):
        assert got[task] == ["success"], (task, got)
    assert got["website"] == got["end_turn"] == ["success"] and got["check"] == ["failed"]
    assert by_label(tis, "ostree", "promote") == {ATOMIC: "success"}
    assert by_label(tis, IMAGE_KINDS, "compose") == dict.fromkeys(
        [AMI, *(Path(p).name for p in F24_IMAGES.values())], "success"
    )
    assert by_label(tis, IMAGE_KINDS, "tests")[AMI] == "failed"
    assert by_label(tis, IMAGE_KINDS, "promote") == {
        **{Path(p).name: "success" for p in F24_IMAGES.values()},
        AMI: "upstream_failed",
    }
    # one Koji image task per image target, none submitted twice: image-build (AMI, GCE) and live media
    # (installer ISO, pxe2live)
    assert sorted(t["method"] for t in image_tasks) == ["image", "image", "livemedia", "livemedia"]

    # the mirror: the updates repository, the Atomic Host ref, three images — and nothing of the AMI
    master = tree(world.master)
    assert "linux/updates/24/x86_64/repodata/repomd.xml.asc" in master
    assert "linux/updates/24/x86_64/Packages/g/glibc-2.23.1-8.fc24.noarch.rpm" in master
    for path in F24_IMAGES.values():
        assert {path, f"{path}-CHECKSUM", f"{path}.manifest.json"} <= set(master)
    assert not [p for p in master if AMI in p or ".relengotron" in p]
    assert (world.staging / ".relengotron/candidates/linux/releases/24/ami/x86_64" / AMI).is_file()  # held back here
    mirror_repo = OSTreeRepo(world.master / "linux/atomic/repo")
    commit = mirror_repo.rev_parse(ATOMIC)
    assert commit is not None
    assert not (world.staging / ".relengotron/locks/updates_push-f24-stable.json").exists()  # the turn given back
    key = Path(world.endpoints["signing"]["public_key"])
    assert pull_and_read_manifest(world.master / "linux/atomic/repo", ATOMIC, key, work) == commit

    # the bus: five composed, four released (not the AMI), one push-complete naming the held-back update
    messages = bus(world)
    composed = [m["msg"]["label"] for m in messages if m["topic"] == TOPIC + "artifact.composed"]
    assert sorted(composed) == sorted([ATOMIC, AMI, *(Path(p).name for p in F24_IMAGES.values())])
    released = {m["msg"]["label"]: m["msg"] for m in messages if m["topic"] == TOPIC + "artifact.released"}
    assert set(released) == {ATOMIC, *(Path(p).name for p in F24_IMAGES.values())}
    assert released[ATOMIC]["identity"] == commit and released[ATOMIC]["updates"] == [GLIBC["alias"]]
    [complete] = [m["msg"] for m in messages if m["topic"] == TOPIC + "push.complete"]
    assert (complete["push_id"], complete["status"], complete["synced"]) == (HELD_BACK_PUSH_ID, "held-back", True)
    [update] = complete["updates"]
    assert (update["alias"], update["status"]) == (GLIBC["alias"], "held-back")
    assert update["held_back"] == [{"label": AMI, "reason": "its tests failed"}]
    assert sorted(update["artifacts"]) == sorted(released)
    assert complete["artifacts"]["held_back"] == [{"label": AMI, "reason": "its tests failed"}]
    assert complete["repos"] == [
        "linux/updates/24/x86_64",
        "linux/updates/24/SRPMS",
    ]  # the arch (with debug/), the sources

    # the website: productmd images.json and the page, from what was released only
    images = read_images_json(world.master / "website/24/images.json")
    assert sorted(iter_image_paths(images)) == sorted(F24_IMAGES.values())
    page = (world.master / "website/24/index.html").read_text()
    assert ATOMIC in page and commit in page and AMI not in page
    assert "website/index.html" in master


def koji_image_tasks(session: Any) -> list[Any]:
    """The image tasks a Koji holds: image-build (``image``) and live media (``livemedia``) parents."""
    return [task for method in IMAGE_METHODS for task in session.listTasks(opts={"method": method})]


IMAGE_METHODS = ("image", "livemedia")
