"""The sandbox Bodhi on 127.0.0.1 with the real bus, Koji hub and Bugzilla: read by the unmodified bodhi client
library and ``bodhi`` CLI, its requests tagging through Koji, its pushes announced on the bus, and the end of a
push on ``relengotron.push.complete`` (docs/bodhi-handshake.md), done once."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bugzilla
import koji
import pytest
import requests
from bodhi.client.bindings import BodhiClient, BodhiClientException
from bodhicli import run_bodhi
from conftest import bus_messages

from relengotron.messaging import FedmsgPublisher, load_fedmsg_config
from relengotron_sandbox.bodhi import BodhiService
from relengotron_sandbox.bodhi.api import SandboxBodhi
from relengotron_sandbox.service import SandboxContext
from relengotron_sandbox.testing import wait_for

pytestmark = pytest.mark.integration

PREFIX = "org.fedoraproject.dev."
GLIBC, CURL, ANACONDA, DOCKER = (
    "FEDORA-2016-1d1d97e08f",
    "FEDORA-2016-3529251174",
    "FEDORA-2016-d9f90dc905",
    "FEDORA-2016-110e4b3ae2",
)
KERNEL, OPENSSH, BASH = "FEDORA-2016-e26aae6802", "FEDORA-2016-87932e2a7b", "FEDORA-2016-64219a5b28"
SUDO, VIM = "FEDORA-2016-f976b705cc", "FEDORA-2016-ae02ecfbd5"
F24_STABLE = ["glibc-2.23.1-8.fc24", "curl-7.47.1-5.fc24", "anaconda-24.13.8-1.fc24", "docker-1.10.3-26.fc24"]


@dataclass
class Setup:
    ctx: SandboxContext
    service: BodhiService
    endpoint: dict[str, Any]
    home: Path
    sessions: list[koji.ClientSession] = field(default_factory=list)

    def koji(self) -> koji.ClientSession:
        """A release engineer's Koji session (logged out after the test)."""
        session = koji.ClientSession(self.ctx.endpoints["koji"]["hub"], opts={"user": "releng", "password": "x"})
        session.login()
        self.sessions.append(session)
        return session

    def bodhi(self, user: str | None = None) -> SandboxBodhi:
        if user is None:
            return SandboxBodhi(self.endpoint)
        return SandboxBodhi.as_user(self.endpoint, user, self.home)

    def messages(self, topic: str) -> list[dict[str, Any]]:
        """The bodies archived on the bus under ``<modname>.<topic>``, oldest first."""
        return [m["msg"] for m in bus_messages(self.ctx, PREFIX + topic)]

    def bodhi_messages(self) -> list[str]:
        return [m["topic"] for m in bus_messages(self.ctx) if m["topic"].startswith(PREFIX + "bodhi.")]

    def push_complete(self, body: dict[str, Any]) -> None:
        """Publish ``relengotron.push.complete`` on the bus as updates_push does, and wait until Bodhi took it."""
        before = self.service.consumer.handled + self.service.consumer.refused  # type: ignore[union-attr]
        publisher = FedmsgPublisher(load_fedmsg_config(self.ctx.endpoints["bus"]["fedmsg_config"]))
        try:
            publisher.publish("relengotron", "push.complete", body)
        finally:
            publisher.close()
        consumer = self.service.consumer
        assert consumer is not None
        wait_for("Bodhi to take push.complete", lambda: consumer.handled + consumer.refused > before, 30)

    def move(self, nvr: str, source: str, target: str) -> None:
        session = self.koji()
        task = session.moveBuild(source, target, nvr)
        wait_for(f"moving {nvr}", lambda: session.taskFinished(task), 30, every=0.05)


@pytest.fixture
def bodhi(services: SandboxContext, tmp_path: Path) -> Iterator[Setup]:
    service = BodhiService(services)
    services.endpoints["bodhi"] = endpoint = service.start()
    assert endpoint["url"].startswith("http://127.0.0.1:") and endpoint["id_provider"].startswith("http://127.0.0.1:")
    assert service.consumer is not None
    wait_for("the Bodhi consumer's subscription", service.consumer.caught_up.is_set, 30, every=0.05)
    setup = Setup(services, service, endpoint, tmp_path / "home")
    try:
        yield setup
    finally:
        for session in setup.sessions:
            session.logout()
        service.stop()


def client(setup: Setup) -> BodhiClient:
    endpoint = setup.endpoint
    return BodhiClient(
        base_url=endpoint["url"], id_provider=endpoint["id_provider"], oidc_storage_path=endpoint["oidc_storage"]
    )


def cli(setup: Setup, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real ``bodhi`` command, its URL and provider from the environment, its tokens under ``home``."""
    environment = {"BODHI_URL": setup.endpoint["url"], "BODHI_OPENID_PROVIDER": setup.endpoint["id_provider"]}
    return run_bodhi(home, environment, *args)


def test_the_client_and_the_cli_read_what_the_world_holds(bodhi: Setup, tmp_path: Path) -> None:
    bc = client(bodhi)
    assert [r["name"] for r in bc.get_releases()["releases"]] == ["F23", "F24"]
    [kernel] = bc.query(builds="kernel-4.6.4-301.fc24")["updates"]
    assert kernel["alias"] == KERNEL and kernel["release"]["name"] == "F24" and kernel["status"] == "testing"
    assert kernel["bugs"][0]["bug_id"] == 1300106 and kernel["user"]["name"] == "jforbes"
    page = bc.query(releases="f24", request="stable", rows_per_page=3)
    assert (page["total"], page["pages"], page["page"], len(page["updates"])) == (4, 2, 1, 3)
    assert {u["alias"] for u in bc.query(releases="F24", request="stable", page=2, rows_per_page=3)["updates"]} <= {
        GLIBC,
        CURL,
        ANACONDA,
        DOCKER,
    }
    assert [u["alias"] for u in bc.query(updateid=OPENSSH)["updates"]] == [OPENSSH]
    assert bc.send_request(f"updates/{GLIBC}", verb="GET")["update"]["title"] == "glibc-2.23.1-8.fc24"
    with pytest.raises(BodhiClientException, match="Invalid releases specified: f99"):
        bc.query(releases="f99")
    with pytest.raises(BodhiClientException):
        bc.send_request("updates/FEDORA-2016-0000000000", verb="GET")
    assert bc.list_composes()["composes"] == []

    home = tmp_path / "reader"
    listing = cli(bodhi, home, "updates", "query", "--releases", "f24", "--request", "stable")
    assert listing.returncode == 0, listing.stderr
    assert "4 updates found (4 shown)" in listing.stdout
    assert all(nvr in listing.stdout for nvr in F24_STABLE)
    detail = cli(bodhi, home, "updates", "query", "--builds", "kernel-4.6.4-301.fc24")
    assert detail.returncode == 0, detail.stderr
    assert f"Update ID: {KERNEL}" in detail.stdout and "1300106 - kernel: CVE-2016-5696" in detail.stdout
    assert "Submitter: jforbes" in detail.stdout and "Release: Fedora 24" in detail.stdout
    release = cli(bodhi, home, "releases", "info", "F24")
    assert release.returncode == 0 and "Pending Stable Tag:       f24-updates-pending" in release.stdout


def test_the_cli_comments_as_the_logged_in_user(bodhi: Setup, tmp_path: Path) -> None:
    with_token = tmp_path / "with-token"
    (with_token / ".config" / "bodhi").mkdir(parents=True)
    shutil.copy(bodhi.endpoint["oidc_storage"], with_token / ".config" / "bodhi" / "client.json")
    done = cli(bodhi, with_token, "updates", "comment", GLIBC, "Works for me.")
    assert done.returncode == 0, done.stderr
    assert f"The following comment was added to {GLIBC}\nWorks for me." in done.stdout
    assert "Login successful" not in done.stdout  # the sandbox's token was used
    fresh = cli(bodhi, tmp_path / "fresh", "updates", "comment", GLIBC, "Me too.", "--karma", "1")
    assert fresh.returncode == 0, fresh.stderr
    assert "Login successful!" in fresh.stdout  # the provider logged it in without a browser
    assert (tmp_path / "fresh" / ".config" / "bodhi" / "client.json").exists()

    comments = client(bodhi).send_request(f"updates/{GLIBC}", verb="GET")["update"]["comments"]
    assert [(c["user"]["name"], c["text"], c["karma"]) for c in comments[-2:]] == [
        ("releng", "Works for me.", 0),
        ("releng", "Me too.", 1),
    ]
    wait_for("bodhi.update.comment x2", lambda: len(bodhi.messages("bodhi.update.comment")) == 2, 15)
    [first, _] = bodhi.messages("bodhi.update.comment")
    assert first["agent"] == "releng" and first["comment"]["update"]["alias"] == GLIBC

    url = bodhi.endpoint["url"]
    anonymous = requests.post(f"{url}comments/", data={"update": GLIBC, "text": "x", "csrf_token": "x"}, timeout=10)
    assert anonymous.status_code == 400 and anonymous.json()["errors"][0]["name"] == "csrf_token"
    session = requests.Session()
    token = session.get(f"{url}csrf", timeout=10).json()["csrf_token"]
    refused = session.post(f"{url}comments/", data={"update": GLIBC, "text": "x", "csrf_token": token}, timeout=10)
    assert refused.status_code == 403 and refused.json()["errors"][0]["description"] == "You must provide an author"


def test_requests_tag_the_builds_in_koji_and_are_announced(bodhi: Setup) -> None:
    jforbes = bodhi.bodhi("jforbes")
    update = jforbes.request(KERNEL, "stable")
    assert (update["status"], update["request"]) == ("testing", "stable")
    koji_session = bodhi.koji()
    assert "f24-updates-pending" in {t["name"] for t in koji_session.listTags(build="kernel-4.6.4-301.fc24")}
    wait_for("bodhi.update.request.stable", lambda: bodhi.messages("bodhi.update.request.stable"), 15)
    [tagged] = [m for m in bodhi.messages("buildsys.tag") if m["tag"] == "f24-updates-pending"]
    assert (tagged["name"], tagged["version"], tagged["user"]) == ("kernel", "4.6.4", "bodhi")
    [requested] = bodhi.messages("bodhi.update.request.stable")
    assert requested["agent"] == "jforbes" and requested["update"]["alias"] == KERNEL
    assert requested["update"]["request"] == "stable" and requested["update"]["user"]["name"] == "jforbes"
    assert jforbes.update(KERNEL)["comments"][-1]["text"] == "This update has been submitted for stable by jforbes. "
    count = len(bus_messages(bodhi.ctx))
    assert jforbes.request(KERNEL, "stable")["request"] == "stable"  # already requested: nothing happens
    time.sleep(0.5)
    assert len(bus_messages(bodhi.ctx)) == count

    # a packager's new update: its build in the candidate tag, requested for testing (the pending-signing tag)
    nvr = "cloud-init-0.7.6-8.fc24"
    task = koji_session.tagBuild("f24-updates-candidate", nvr)
    wait_for("tagging cloud-init", lambda: koji_session.taskFinished(task), 30, every=0.05)
    created = bodhi.bodhi("gholms").new_update([nvr], type="enhancement", severity="low", notes="Newer cloud-init.")
    assert re.fullmatch(r"FEDORA-\d{4}-[0-9a-f]{10}", created["alias"])
    assert (created["status"], created["request"], created["user"]["name"]) == ("pending", "testing", "gholms")
    assert "f24-signing-pending" in {t["name"] for t in koji_session.listTags(build=nvr)}
    wait_for("bodhi.update.request.testing", lambda: bodhi.messages("bodhi.update.request.testing"), 15)
    [ready] = bodhi.messages("bodhi.update.status.testing.koji-build-group.build.complete")
    assert ready["artifact"]["builds"][0]["nvr"] == nvr and ready["update"]["alias"] == created["alias"]
    with pytest.raises(BodhiClientException, match=f"Update for {nvr} already exists"):
        bodhi.bodhi("gholms").new_update([nvr])


def test_a_push_requests_composes_and_announces_them(bodhi: Setup, tmp_path: Path) -> None:
    bodhi.move("openssh-7.2p2-10.fc24", "f24-signing-pending", "f24-updates-testing-pending")  # autosign's job
    result = bodhi.bodhi().push(agent="bowlofeggs", releases=["f24"])
    assert not result["resumed"] and result["unsigned"] == ["bash-4.3.42-6.fc24"]
    composes = [(c["release"]["name"], c["request"], c["state"], c["security"]) for c in result["composes"]]
    assert composes == [("F24", "stable", "punging", True), ("F24", "testing", "punging", True)]
    wait_for("two compose.composing", lambda: len(bodhi.messages("bodhi.compose.composing")) == 2, 15)
    assert bodhi.messages("bodhi.compose.start") == [{"agent": "bowlofeggs"}]
    assert bodhi.messages("bodhi.compose.composing") == [
        {"repo": "f24-updates", "updates": F24_STABLE, "agent": "bowlofeggs", "ctype": "rpm"},
        {"repo": "f24-updates-testing", "updates": ["openssh-7.2p2-10.fc24"], "agent": "bowlofeggs", "ctype": "rpm"},
    ]
    reader = client(bodhi)
    assert all(u["locked"] for u in reader.query(releases="f24", request="stable")["updates"])
    assert not reader.query(updateid=BASH)["updates"][0]["locked"]
    listing = cli(bodhi, tmp_path / "cli", "composes", "list")
    assert listing.returncode == 0, listing.stderr
    lines = [" ".join(line.split()) for line in listing.stdout.splitlines()]
    assert lines == ["*F24-stable : 4 updates (punging)", "*F24-testing : 1 updates (punging)"]
    info = cli(bodhi, tmp_path / "cli", "composes", "info", "F24", "testing")
    assert info.returncode == 0 and f"{OPENSSH}: openssh-7.2p2-10.fc24" in info.stdout

    again = bodhi.bodhi().push(agent="bowlofeggs", releases=["f23"])  # existing composes are resumed, as bodhi-push
    assert again["resumed"] and [c["request"] for c in again["composes"]] == ["stable", "testing"]
    wait_for("the composes announced again", lambda: len(bodhi.messages("bodhi.compose.composing")) == 4, 15)


def test_a_bodhi2_push_publishes_masher_start(bodhi: Setup) -> None:
    result = bodhi.bodhi().push(agent="bowlofeggs", releases=["f23"], requests_=["stable"], bodhi2=True)
    assert [(c["release"]["name"], c["request"]) for c in result["composes"]] == [("F23", "stable")]
    wait_for("bodhi.masher.start", lambda: bodhi.messages("bodhi.masher.start"), 15)
    assert bodhi.messages("bodhi.masher.start") == [
        {"updates": ["sudo-1.8.15-2.fc23", "vim-minimal-7.4.1989-2.fc23"], "resume": False, "agent": "bowlofeggs"}
    ]
    assert bodhi.messages("bodhi.compose.composing") == [] and bodhi.messages("bodhi.compose.start") == []


def report(repo: str, request: str, status: str, updates: list[dict[str, Any]]) -> dict[str, Any]:
    """A ``relengotron.push.complete`` body (docs/bodhi-handshake.md §4)."""
    release = repo.split("-")[0]
    return {
        "push_id": f"push-{repo}",
        "run_id": f"run-{repo}",
        "repo": repo,
        "release": release,
        "request": request,
        "agent": "bowlofeggs",
        "status": status,
        "synced": status != "failed",
        "repos": [f"linux/updates/{release[1:]}/x86_64"],
        "updates": [
            {"builds": [], "status": "pushed", "artifacts": [], "held_back": [], "reason": None, **u} for u in updates
        ],
        "artifacts": {"released": [], "unchanged": [], "held_back": [], "failed": []},
    }


def test_push_complete_finishes_the_push_once(bodhi: Setup) -> None:
    bodhi.bodhi("jforbes").request(KERNEL, "stable")
    bodhi.move("openssh-7.2p2-10.fc24", "f24-signing-pending", "f24-updates-testing-pending")
    bodhi.bodhi().push(agent="bowlofeggs", releases=["f24"])
    cloud = {"label": "Fedora-Cloud-Base-24.x86_64.raw.xz", "reason": "its tests failed"}
    stable = report(
        "f24-updates",
        "stable",
        "held-back",
        [
            {"alias": GLIBC, "artifacts": ["fedora/24/x86_64/atomic-host"]},
            {"alias": CURL, "status": "held-back", "held_back": [cloud]},
            {"alias": ANACONDA},
            {"alias": DOCKER},
            {"alias": KERNEL},
        ],
    )
    bodhi.push_complete(stable)
    bodhi.push_complete(report("f24-updates-testing", "testing", "complete", [{"alias": OPENSSH}]))

    reader = client(bodhi)
    for alias in (GLIBC, CURL, ANACONDA, DOCKER, KERNEL):
        update = reader.query(updateid=alias)["updates"][0]
        assert (update["status"], update["request"], update["locked"], update["pushed"]) == (
            "stable",
            None,
            False,
            True,
        )
        assert update["date_stable"] and update["comments"][-1]["user"]["name"] == "bodhi"
    curl = reader.query(updateid=CURL)["updates"][0]
    assert curl["comments"][-1]["text"] == (
        "This update has been pushed to stable.\n\n"
        "Held back (not released with this push): Fedora-Cloud-Base-24.x86_64.raw.xz (its tests failed)."
    )
    glibc = reader.query(updateid=GLIBC)["updates"][0]
    assert glibc["comments"][-1]["text"].endswith("Released in: fedora/24/x86_64/atomic-host.")
    openssh = reader.query(updateid=OPENSSH)["updates"][0]
    assert (openssh["status"], openssh["request"], openssh["pushed"]) == ("testing", None, True)
    assert reader.list_composes()["composes"] == []

    bz = bugzilla.Bugzilla(bodhi.ctx.endpoints["bugzilla"]["url"], force_rest=True, use_creds=False)
    closed = bz.getbug(1300106)
    assert (closed.status, closed.resolution, closed.cf_fixed_in) == ("CLOSED", "ERRATA", "kernel-4.6.4-301.fc24")
    assert closed.getcomments()[-1]["text"].startswith(
        f"{KERNEL} (kernel-4.6.4-301.fc24) has been pushed to the Fedora 24"
    )
    on_qa = bz.getbug(1300105)
    assert (
        on_qa.status == "ON_QA"
        and f"{OPENSSH} has been pushed to the Fedora 24 testing" in on_qa.getcomments()[-1]["text"]
    )

    wait_for("two compose.complete", lambda: len(bodhi.messages("bodhi.compose.complete")) == 2, 15)
    completed = bodhi.messages("bodhi.update.complete.stable")
    assert sorted(m["update"]["alias"] for m in completed) == sorted([GLIBC, CURL, ANACONDA, DOCKER, KERNEL])
    assert all(m["update"]["status"] == "stable" for m in completed)
    assert [m["update"]["alias"] for m in bodhi.messages("bodhi.update.complete.testing")] == [OPENSSH]
    assert bodhi.messages("bodhi.compose.complete") == [
        {"success": True, "repo": "f24-updates", "agent": "bowlofeggs", "ctype": "rpm"},
        {"success": True, "repo": "f24-updates-testing", "agent": "bowlofeggs", "ctype": "rpm"},
    ]

    # the same report again (a resumed run publishes it again): nothing changes, nothing is published
    before = (bodhi.bodhi_messages(), reader.query(updateid=CURL)["updates"][0], len(bz.getbug(1300106).getcomments()))
    bodhi.push_complete(stable)
    time.sleep(0.5)
    after = (bodhi.bodhi_messages(), reader.query(updateid=CURL)["updates"][0], len(bz.getbug(1300106).getcomments()))
    assert after == before


def test_a_failed_push_keeps_the_requests_until_the_next_one(bodhi: Setup) -> None:
    bodhi.bodhi().push(agent="bowlofeggs", releases=["f23"], requests_=["stable"])
    why = "the sync to the master mirror failed"
    failed = report(
        "f23-updates", "stable", "failed", [{"alias": a, "status": "failed", "reason": why} for a in (SUDO, VIM)]
    )
    bodhi.push_complete(failed)
    reader = client(bodhi)
    sudo = reader.query(updateid=SUDO)["updates"][0]
    assert (sudo["status"], sudo["request"], sudo["locked"]) == ("testing", "stable", True)
    assert sudo["comments"][-1]["text"].startswith(f"This update could not be pushed to stable: {why}")
    [compose] = reader.list_composes()["composes"]
    assert (compose["state"], compose["error_message"]) == ("failed", why)
    wait_for("compose.complete", lambda: bodhi.messages("bodhi.compose.complete"), 15)
    assert bodhi.messages("bodhi.compose.complete") == [
        {"success": False, "repo": "f23-updates", "agent": "bowlofeggs", "ctype": "rpm"}
    ]
    count = len(bodhi.bodhi_messages())
    bodhi.push_complete(failed)  # the same failure again: commented once
    time.sleep(0.5)
    assert len(bodhi.bodhi_messages()) == count

    resumed = bodhi.bodhi().push(agent="bowlofeggs")  # the next push resumes the failed compose
    assert resumed["resumed"] and [c["state"] for c in resumed["composes"]] == ["punging"]
    bodhi.push_complete(report("f23-updates", "stable", "complete", [{"alias": SUDO}, {"alias": VIM}]))
    assert [reader.query(updateid=a)["updates"][0]["status"] for a in (SUDO, VIM)] == ["stable", "stable"]
    assert reader.list_composes()["composes"] == []


def test_the_sandbox_serves_bodhi_and_its_push_verb(sandbox: dict[str, Any], tmp_path: Path) -> None:
    """The whole sandbox (its daemon): Bodhi's endpoints entry, its Airflow connection, and
    ``relengotron-sandbox bodhi push`` announcing the composes on the bus."""
    from relengotron_sandbox.connections import airflow_connections

    entry = sandbox["bodhi"]
    assert set(entry) == {"url", "id_provider", "client_id", "oidc_storage", "user"}
    assert airflow_connections(sandbox)["bodhi_default"]["host"] == entry["url"]
    state = Path(sandbox["sandbox"]["state_dir"])
    command = Path(sys.executable).with_name("relengotron-sandbox")
    pushed = subprocess.run(
        [str(command), "bodhi", "push", "--state", str(state), "--releases", "f23", "--request", "stable"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert pushed.returncode == 0, pushed.stderr
    assert "===== <Compose: F23 stable> =====" in pushed.stdout and f"{SUDO}: sudo-1.8.15-2.fc23" in pushed.stdout

    def composing() -> list[dict[str, Any]]:
        answer = requests.get(
            sandbox["bus"]["datagrepper"] + "raw",
            params={"topic": PREFIX + "bodhi.compose.composing", "order": "asc"},
            timeout=10,
        ).json()
        return [m["msg"] for m in answer["raw_messages"]]

    found = wait_for("bodhi.compose.composing in datagrepper", composing, 30)
    assert found == [
        {
            "repo": "f23-updates",
            "updates": ["sudo-1.8.15-2.fc23", "vim-minimal-7.4.1989-2.fc23"],
            "agent": "releng",
            "ctype": "rpm",
        }
    ]
