"""`relengotron-sandbox demo` end to end, as `make demo` runs it: the sandbox, an embedded Airflow and the listener
come up, the scenario is played on Koji and the sandbox Bodhi (bodhi-push, the handshake of docs/bodhi-handshake.md),
and the world afterwards is the one the story tells — read back from Airflow's REST API, Koji, the master mirror,
the bus archive, Bodhi (with the `bodhi` CLI, logged in through the sandbox's provider) and Bugzilla
(python-bugzilla), not from the demo's own summary — although its parts were killed along the way, the CI-sized
chaos run (`make chaos` is the full one): its scheduler (SIGKILL) while the first push runs, then, one at a time,
the listener and the API server (relengotron_sandbox.chaos). The embedded
Airflow's supervisor and the demo's bring them back, the demo says so, the world is the same, and the chaos
run's invariants hold. Then `demo-stop` leaves no process behind. Everything is stopped even when the demo fails
or hangs.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from bodhicli import run_bodhi
from dnfcheck import advisories, dnf
from pushcheck import pull_and_read_manifest

from relengotron_sandbox.demo.processes import read_record
from relengotron_sandbox.testing import ProcessError, child_env, session_processes, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[2]
DEMO_TIMEOUT = 600  # seconds for the whole `relengotron-sandbox demo` (its parts killed three times)
# the controller's faults, in this order, after the scheduler (a worker killed mid-compose costs a minute of
# heartbeat timeout: `make chaos` has it, CI has not the time)
CHAOS = ("listener", "api-server")
ATOMIC_23, ATOMIC_24 = "fedora/23/x86_64/atomic-host", "fedora/24/x86_64/atomic-host"
ISO_24 = "linux/releases/24/installer-iso/x86_64/Fedora-Server-dvd-x86_64-24.iso"
AMI_24 = "Fedora-Cloud-Base-24.x86_64.raw.xz"


def cli(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {**child_env(("AIRFLOW",)), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "relengotron_sandbox.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env=env,
    )


@dataclass
class Run:
    """The demo as it ended, and the chaos the test put it through."""

    state: Path
    result: subprocess.CompletedProcess[str]
    killed: int  # the scheduler's pid, killed mid-push
    outcomes: list[Any]  # relengotron_sandbox.chaos.plan.Outcome of the controller's faults
    held: list[Any]  # relengotron_sandbox.chaos.invariants.Invariant, checked at the end


@pytest.fixture
def demo(tmp_path: Path, built_world) -> Iterator[Run]:
    """Run the demo on a state dir of its own — the CI-sized chaos run: its scheduler killed (SIGKILL) while the
    first push runs, then the chaos controller kills the listener and the API server, one at a time, while the
    mirror is watched; the invariants are checked once it has ended.
    Stop everything afterwards, whatever happened."""
    from relengotron_sandbox.chaos import invariants
    from relengotron_sandbox.chaos.faults import Hurt
    from relengotron_sandbox.chaos.plan import Fault, targets_for
    from relengotron_sandbox.chaos.run import Controller, stage_of, world_of
    from relengotron_sandbox.chaos.watch import MirrorWatch
    from relengotron_sandbox.demo.scenario import EXPECTED, SCENARIO

    state = tmp_path / "demo"
    out, err = tmp_path / "demo.out", tmp_path / "demo.err"
    try:
        began = time.time()
        with out.open("w") as stdout, err.open("w") as stderr:
            process = subprocess.Popen(
                [sys.executable, "-m", "relengotron_sandbox.cli", "demo", "--state", str(state)],
                stdout=stdout,
                stderr=stderr,
                text=True,
                cwd=REPO,
                env={**child_env(("AIRFLOW",)), "COLUMNS": "200"},
            )
            try:
                stack = wait_for("the demo up", lambda: attach_while(process, state), 300)
                stage = stage_of(stack, listener=lambda: {p.name: p for p in read_record(state)}["listener"])
                watch = MirrorWatch(stage.master).start()
                killed = kill_the_scheduler_mid_push(state, process)
                stopping = threading.Event()
                faults = [Fault(i, t, 0.0) for i, t in enumerate(targets_for("local", CHAOS), start=1)]
                controller = Controller(faults, Hurt(stage, stopping), say=lambda line: None).start()
                process.wait(timeout=DEMO_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                pytest.fail(f"the demo did not finish within {DEMO_TIMEOUT} s:\n{out.read_text()}\n{err.read_text()}")
        stopping.set()
        outcomes = controller.finish()
        held = invariants.check(world_of(stack, began, SCENARIO, EXPECTED, watch.stop()))
        result = subprocess.CompletedProcess(process.args, process.returncode, out.read_text(), err.read_text())
        yield Run(state, result, killed, outcomes, held)
    finally:
        recorded = read_record(state)
        sandbox_pid = _sandbox_pid(state)
        stopped = cli("demo-stop", "--state", str(state), timeout=120)
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        for process in recorded:
            assert session_processes(process.pid) == [], process
        if sandbox_pid is not None:
            assert session_processes(sandbox_pid) == []


def attach_while(demo: subprocess.Popen[str], state: Path) -> Any:
    """The running demo's stack (relengotron_sandbox.demo.run.attach), once it is up; the demo's end is an error."""
    from relengotron_sandbox.demo.run import attach

    if demo.poll() is not None:
        raise ProcessError(f"the demo ended (exit {demo.returncode}) before it was up")
    return attach(state)


def kill_the_scheduler_mid_push(state: Path, demo: subprocess.Popen[str]) -> int:
    """Once an ``updates_push`` run is running, SIGKILL the embedded Airflow's scheduler (as the OOM killer
    would); its pid."""
    from relengotron_sandbox.chaos.faults import kill
    from relengotron_sandbox.demo.airflow_local import JOURNAL
    from relengotron_sandbox.supervise import current_pid

    def pushing() -> int | None:
        if demo.poll() is not None:
            raise ProcessError(f"the demo ended (exit {demo.returncode}) before any push ran")
        airflow = Airflow(state)
        if not airflow.get("/api/v2/dags/updates_push/dagRuns", state="running")["dag_runs"]:
            return None
        return current_pid(state / "airflow" / JOURNAL, "airflow scheduler")

    pid = wait_for("an updates_push run running", pushing, DEMO_TIMEOUT, every=1.0)
    kill(pid)
    return pid


def _sandbox_pid(state: Path) -> int | None:
    try:
        return int((state / "sandbox" / "sandbox.pid").read_text())
    except (OSError, ValueError):
        return None


class Airflow:
    def __init__(self, state: Path) -> None:
        info = json.loads((state / "demo.json").read_text())
        self.url = info["airflow"]["url"]
        password = json.loads(Path(info["airflow"]["passwords"]).read_text())["admin"]
        answer = requests.post(f"{self.url}/auth/token", json={"username": "admin", "password": password}, timeout=30)
        answer.raise_for_status()
        self.headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}
        self.password = password

    def get(self, path: str, **params: Any) -> Any:
        answer = requests.get(f"{self.url}{path}", params=params, headers=self.headers, timeout=30)
        answer.raise_for_status()
        return answer.json()

    def tasks(self, dag_id: str, run_id: str) -> dict[tuple[str, str | None], str]:
        """(task id, rendered map index) → state."""
        rows = self.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances", limit=1000)["task_instances"]
        return {(r["task_id"], r.get("rendered_map_index")): str(r["state"]) for r in rows}


class BodhiCLI:
    """The real ``bodhi`` command against the demo's sandbox Bodhi: its URL and OpenID Connect provider from
    what ``relengotron-sandbox bodhi login`` prints, its token where the CLI reads it (``HOME``)."""

    def __init__(self, state: Path, home: Path) -> None:
        self.home = home
        storage = home / ".config" / "bodhi" / "client.json"
        login = cli("bodhi", "login", "--state", str(state / "sandbox"), "--storage", str(storage), timeout=60)
        assert login.returncode == 0, login.stdout + login.stderr
        [export] = [line for line in login.stdout.splitlines() if line.startswith("export ")]
        self.env = dict(kv.split("=", 1) for kv in export.split()[1:])
        assert set(self.env) == {"BODHI_URL", "BODHI_OPENID_PROVIDER"} and storage.is_file()

    def __call__(self, *args: str) -> str:
        done = run_bodhi(self.home, self.env, *args)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout


IMAGE_SUFFIXES = (".iso", ".raw.xz", ".qcow2", ".tar.gz")


def sh(*args: str | Path) -> str:
    proc = subprocess.run([str(a) for a in args], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"{args[0]} exited {proc.returncode}: {proc.stderr}"
    return proc.stdout


def check_released_image(image: Path, gpg_key: Path, scratch: Path) -> None:
    """``image`` (``linux/releases/<version>/<kind>/<arch>/<file>`` on the mirror) read as its kind's real format
    with stock tools — file, qemu-img, tar, xorriso, unsquashfs — then opened (its rpmdb; the ISO's repository
    installed with dnf) and compared with the manifest JSON beside it."""
    from relengotron.manifest import Manifest
    from relengotron_sandbox.imagebuild.openers import open_image

    kind = image.parent.parent.name
    work = scratch / image.name
    work.mkdir(parents=True)
    if kind == "installer-iso":
        assert "'/repodata/repomd.xml'" in sh("xorriso", "-indev", image, "-find", "/repodata").split(), image
        fmt = "iso"
    elif kind == "ami":
        sh("xz", "-t", image)
        raw = work / "disk.raw"
        raw.write_bytes(subprocess.run(["xz", "-dc", str(image)], capture_output=True, check=True).stdout)
        assert "DOS/MBR boot sector" in sh("file", "-b", raw), image
        assert json.loads(sh("qemu-img", "info", "--output=json", raw))["format"] == "raw"
        fmt = "raw-xz"
    elif kind == "gce":
        assert sh("tar", "-tzf", image).split() == ["disk.raw"], image
        fmt = "tar-gz"
    elif kind == "pxe2live":  # the PXE tarball derived from Koji's live ISO (relengotron.tools.livepxe)
        members = sorted(sh("tar", "-tzf", image).split())
        assert members == ["PXE_CONFIG", "initrd.img", "live-rootfs.squashfs.img", "vmlinuz"], members
        sh("tar", "-xzf", image, "-C", work, "live-rootfs.squashfs.img")
        listing = sh("unsquashfs", "-l", work / "live-rootfs.squashfs.img").split()
        # squashfs-only: unsquashfs lists the pxe2live root itself (its rpmdb), no LiveOS/rootfs.img
        assert "squashfs-root/usr" in listing and "squashfs-root/var/lib/rpm" in listing, listing[:20]
        assert not any("LiveOS" in p for p in listing), image
        fmt = "pxe2live"
    else:
        raise AssertionError(f"{image}: an image of an unknown kind {kind!r}")
    if image.name.endswith(".qcow2"):
        assert json.loads(sh("qemu-img", "info", "--output=json", image))["format"] == "qcow2"
        fmt = "qcow2"
    opened = open_image(image, fmt, gpg_key=gpg_key if fmt == "iso" else None)
    assert opened.well_formed, opened.message
    manifest = Manifest.from_json(Path(f"{image}.manifest.json").read_text(), source=f"{image}.manifest.json")
    assert opened.packages is not None
    assert {nvra.rsplit(".", 1)[0] for nvra in opened.packages} == set(manifest.nvrs), image


def flat(text: str) -> str:
    """The CLI's wrapped output on one line (words split at a hyphen joined again)."""
    return re.sub(r"\s*\n\s*", " ", re.sub(r"-\n\s+", "-", text))


def test_the_demo_plays_the_scenario_and_leaves_the_world_as_the_story_says(demo, tmp_path: Path) -> None:
    from relengotron.artifacts import load_release_config
    from relengotron.kojiclient import KojiConnection, connect
    from relengotron.listener.replay import Datagrepper, Window
    from relengotron.ostree.repo import OSTreeRepo
    from relengotron_sandbox.demo.scenario import ANACONDA, CURL, DOCKER, GLIBC, SUDO, VIM

    state, result = demo.state, demo.result
    out = result.stdout
    assert result.returncode == 0, out[-6000:] + result.stderr[-3000:]
    # the scheduler killed mid-push came back (the embedded Airflow's supervisor), and the demo said so
    assert f"airflow scheduler (pid {demo.killed}) died (exit status -9)" in out, out[-6000:]
    assert "Airflow: airflow scheduler restarted (pid " in out
    # the chaos controller's faults each struck and recovered (the listener restarted by the demo itself)
    assert [o.fault.target.name for o in demo.outcomes] == list(CHAOS)
    for outcome in demo.outcomes:
        assert outcome.hit and outcome.recovered is not None, outcome
    assert "listener restarted (pid " in out and "Airflow: airflow api-server restarted (pid " in out
    # and every promise held, each having checked something
    assert [i.name for i in demo.held if not i.held] == [], [i for i in demo.held if not i.held]
    assert len(demo.held) == 8 and all(i.count and not i.count.startswith("0 ") for i in demo.held[:4]), demo.held
    airflow = Airflow(state)
    for shown in ("Airflow UI", airflow.url, airflow.password, "make demo-stop", "held back", "quarantined"):
        assert shown in out, shown
    # the release dashboard's addresses, printed beside the UI's, answer (the embedded Airflow loads the plugin)
    dashboard = json.loads((state / "demo.json").read_text())["dashboard"]
    assert f"Release dashboard: {dashboard['dashboard']}" in out and dashboard["nav"] in out
    gate = requests.get(f"{dashboard['dashboard']}api/gate", headers=airflow.headers, timeout=60)
    assert gate.status_code == 200 and gate.json()["builds"] > 0, gate.text[:500]
    # Bodhi's side of each push, told as it happens
    for shown in ("bodhi: compose.composing f24-updates", "bodhi: masher.start (Bodhi 2)", f"{DOCKER.alias} ("):
        assert shown in out, shown

    # Airflow: the runs the listener triggered, and how they ended
    runs = airflow.get("/api/v2/dags/~/dagRuns", limit=1000, order_by="run_after")["dag_runs"]
    by_dag: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        by_dag.setdefault(run["dag_id"], []).append(run)
    assert [r["state"] for r in by_dag["autosign"]] == ["success", "success"]
    assert len(by_dag["rawhide_gating"]) >= 3 and {r["state"] for r in by_dag["rawhide_gating"]} == {"success"}
    pushes = [(r["conf"]["repo"].split("-")[0], r["state"], r) for r in by_dag["updates_push"]]  # f24-updates
    assert [(release, s) for release, s, _ in pushes if release == "f23"] == [("f23", "success")] * 2
    # every f24 push ends red: the AMI's boot test fails, it is held back and `check` says so
    assert [(release, s) for release, s, _ in pushes if release == "f24"] == [("f24", "failed")] * 3
    f24 = [r for release, _, r in pushes if release == "f24"]
    for run in f24:
        tasks = airflow.tasks("updates_push", run["dag_run_id"])
        assert tasks[("ami.tests", AMI_24)] == "failed" and tasks[("check", None)] == "failed"
        assert tasks[("sync", None)] == "success" and tasks[("publish_complete", None)] == "success"
    anaconda_push = airflow.tasks("updates_push", f24[1]["dag_run_id"])
    assert anaconda_push[("installer-iso.compose", "Fedora-Server-dvd-x86_64-24.iso")] == "success"
    assert anaconda_push[("ostree.compose", ATOMIC_24)] == "skipped"  # unchanged by anaconda
    # the Bodhi 2 push: one masher_start run, which triggered docker's f24 push
    [masher] = by_dag["masher_start"]
    assert masher["state"] == "success" and masher["dag_run_id"].startswith("bodhi2-masher__")
    assert masher["conf"]["updates"] == list(DOCKER.builds)
    assert f24[2]["dag_run_id"] == f"{masher['dag_run_id']}__f24-updates"
    assert all(r["dag_run_id"].startswith("bodhi-compose__") for r in by_dag["updates_push"][:4])
    refresh = airflow.tasks("updates_push", f24[2]["dag_run_id"])
    assert refresh[("ostree.promote", ATOMIC_24)] == "success"
    assert refresh[("installer-iso.compose", "Fedora-Server-dvd-x86_64-24.iso")] == "skipped"

    # Koji: gated, quarantined, signed, and the pushed builds in the stable tags
    endpoints = json.loads((state / "sandbox" / "endpoints.json").read_text())
    koji = connect(KojiConnection(hub=endpoints["koji"]["hub"], topurl=endpoints["koji"]["topurl"]))
    try:
        tags = {
            nvr: koji.tags_of(nvr)
            for nvr in (
                "coreutils-8.25-15.fc26",
                "etcd-3.0.15-1.fc26",
                "python3-requests-2.12.1-1.fc26",
                "bash-4.3.42-6.fc24",
                "curl-7.43.0-8.fc23",
                *VIM.builds,
                *ANACONDA.builds,
                *DOCKER.builds,
            )
        }
    finally:
        koji.close()
    assert tags["coreutils-8.25-15.fc26"] == tags["etcd-3.0.15-1.fc26"] == {"rawhide"}
    assert tags["python3-requests-2.12.1-1.fc26"] == {"rawhide-badnewsbears"}
    assert tags["bash-4.3.42-6.fc24"] == {"f24-updates-testing-pending"}
    assert tags["curl-7.43.0-8.fc23"] == {"f23-updates-testing-pending"}
    assert "f23-updates" in tags[VIM.builds[0]] and "f24-updates" in tags[DOCKER.builds[0]]

    # the master mirror: both Atomic Hosts (f24's with docker), the installer ISO, never the AMI
    master = Path(load_release_config(endpoints["releng"]["config"]).mirror.master)
    repo = OSTreeRepo(master / "linux/atomic/repo")
    assert repo.rev_parse(ATOMIC_23) and repo.rev_parse(ATOMIC_24)
    for ref in (ATOMIC_23, ATOMIC_24):  # pulled as a client does (GPG), each holds its resolved manifest
        work = tmp_path / "pull" / ref.replace("/", "_")
        work.mkdir(parents=True)
        key = Path(endpoints["signing"]["public_key"])
        assert pull_and_read_manifest(master / "linux/atomic/repo", ref, key, work) == repo.rev_parse(ref)
    assert (master / ISO_24).is_file()
    assert not [p for p in master.rglob("*") if AMI_24 in p.name]
    # every image on it is its real format as stock tools read it, and holds its manifest's packages
    images = sorted(p for p in (master / "linux/releases").glob("*/*/x86_64/*") if p.name.endswith(IMAGE_SUFFIXES))
    assert master / ISO_24 in images
    assert {image.parent.parent.name for image in images} == {"installer-iso", "pxe2live", "ami", "gce"}
    for image in images:
        check_released_image(image, Path(endpoints["signing"]["public_key"]), tmp_path / "images")
    # its updates repositories as dnf reads them: every update pushed into each is in its updateinfo (the
    # earlier pushes' advisories carried); the debug repository beside each holds the pushed arch builds'
    # debuginfo and debugsource (sudo's, in f23), the sources repository the pushed builds
    for version, pushed_here in {"23": (SUDO, VIM), "24": (GLIBC, CURL, ANACONDA, DOCKER)}.items():
        top = master / "linux/updates" / version
        found = advisories(top / "x86_64", tmp_path / f"dnf-{version}")
        assert set(found) == {u.alias for u in pushed_here}, found
        debug = dnf(top / "x86_64" / "debug", tmp_path / f"dnf-{version}-debug", "repoquery", "--qf", "%{name}")
        assert sorted(debug.split()) == (["sudo-debuginfo", "sudo-debugsource"] if version == "23" else [])
        sources = dnf(
            top / "SRPMS", tmp_path / f"dnf-{version}-src", "repoquery", "--qf", "%{name}-%{version}-%{release}"
        )
        assert {b for u in pushed_here for b in u.builds} <= set(sources.split()), sources

    # the bus: what each push said, and the pipeline's other messages
    prefix = f"{endpoints['bus']['topic_prefix']}.{endpoints['bus']['environment']}."
    grepper = Datagrepper(endpoints["bus"]["datagrepper"])
    try:
        messages = list(grepper.messages(Window(0, None, "test")))
    finally:
        grepper.close()
    complete = [m["msg"] for m in messages if m["topic"] == prefix + "relengotron.push.complete"]
    assert len(complete) == 5
    first_f23, first_f24, vim, anaconda, docker = (
        next(c for c in complete if {u["alias"] for u in c["updates"]} & aliases)
        for aliases in (
            {SUDO.alias},
            {GLIBC.alias, CURL.alias},
            {VIM.alias},
            {ANACONDA.alias},
            {DOCKER.alias},
        )
    )
    assert first_f23["artifacts"]["unchanged"] == [] and len(first_f23["artifacts"]["released"]) == 5
    assert [h["label"] for h in first_f24["artifacts"]["held_back"]] == [AMI_24]
    assert vim["artifacts"]["released"] == [ATOMIC_23] and len(vim["artifacts"]["unchanged"]) == 4
    assert anaconda["artifacts"]["released"] == ["Fedora-Server-dvd-x86_64-24.iso"]
    assert len(anaconda["artifacts"]["unchanged"]) == 3 and anaconda["status"] == "held-back"
    assert docker["artifacts"]["released"] == [ATOMIC_24] and len(docker["artifacts"]["unchanged"]) == 3
    topics = {m["topic"].removeprefix(prefix) for m in messages}
    assert {
        "relengotron.rawhide.gating.promoted",
        "relengotron.rawhide.gating.quarantined",
        "relengotron.f24.autosign.signed",
        "relengotron.f23.autosign.signed",
    } <= topics

    def bodies(topic: str) -> list[dict[str, Any]]:
        return [m["msg"] for m in messages if m["topic"] == prefix + topic]

    # Bodhi announced two pushes with compose.composing, one compose per release each, and one as Bodhi 2
    assert len(bodies("bodhi.compose.start")) == 2
    composing = sorted((b["repo"], tuple(sorted(b["updates"]))) for b in bodies("bodhi.compose.composing"))
    assert composing == sorted(
        [
            ("f23-updates", SUDO.builds),
            ("f24-updates", tuple(sorted((*GLIBC.builds, *CURL.builds)))),
            ("f23-updates", VIM.builds),
            ("f24-updates", ANACONDA.builds),
        ]
    )
    assert bodies("bodhi.masher.start") == [{"updates": list(DOCKER.builds), "resume": False, "agent": "releng"}]
    # ... and finished every one once: six updates complete, five composes complete, all successful
    finished = sorted(b["update"]["alias"] for b in bodies("bodhi.update.complete.stable"))
    assert finished == sorted(u.alias for u in (SUDO, GLIBC, CURL, VIM, ANACONDA, DOCKER))
    assert [b["success"] for b in bodies("bodhi.compose.complete")] == [True] * 5

    # Bodhi, as the bodhi CLI shows it: every update pushed to stable, no request left, Bodhi's comment naming
    # the AMI held back from the updates it carries (glibc and curl) and no other; docker's bug
    bodhi = BodhiCLI(state, tmp_path / "home")
    pushed = (SUDO, GLIBC, CURL, VIM, ANACONDA, DOCKER)
    aliases = ",".join(u.alias for u in pushed)
    listing = bodhi("updates", "query", "--updateid", aliases, "--pushed", "--status", "stable", "--rows", "100")
    assert "6 updates found (6 shown)" in listing and all(u.builds[0] in listing for u in pushed)
    assert "0 updates found" in bodhi("updates", "query", "--updateid", aliases, "--request", "stable")
    for update in pushed:
        shown = flat(bodhi("updates", "query", "--builds", ",".join(update.builds)))
        assert f"Update ID: {update.alias}" in shown and "Status: stable" in shown, shown
        assert "Request:" not in shown, shown
        assert "This update has been pushed to stable." in shown, shown
        held = f"Held back (not released with this push): {AMI_24} (its tests failed)."
        assert (held in shown) == (update in (GLIBC, CURL)), shown
    docker = flat(bodhi("updates", "query", "--updateid", DOCKER.alias))
    assert "Bugs: 1300103 - docker: daemon leaks mounts" in docker and f"Released in: {ATOMIC_24}." in docker
    assert bodhi("composes", "list").strip() == ""  # no compose left

    # Bugzilla: docker's bug closed by Bodhi, with the build that fixes it
    import bugzilla

    reader = bugzilla.Bugzilla(endpoints["bugzilla"]["url"], force_rest=True, use_creds=False)
    bug = reader.getbug(1300103)
    assert (bug.status, bug.resolution, bug.cf_fixed_in) == ("CLOSED", "ERRATA", DOCKER.builds[0])
    assert bug.getcomments()[-1]["text"].startswith(
        f"{DOCKER.alias} ({DOCKER.builds[0]}) has been pushed to the Fedora 24 stable repository."
    )
