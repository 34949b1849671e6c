"""Every message the sandbox publishes on a topic its publisher's schema package defines validates against that
package's message class: Bodhi's topics against bodhi-messages, Koji's ``buildsys.*`` against
koji-fedoramessaging-messages. The topics come from the packages' ``fedora.messages`` entry points, so a topic
is not forgotten; a scenario makes the sandbox's Koji hub, Bugzilla and Bodhi publish each one they publish."""

from __future__ import annotations

import base64
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import koji
import pytest
from jsonschema.validators import validator_for

from relengotron.tools import rpmsign
from relengotron_sandbox import amqp
from relengotron_sandbox.bodhi import BodhiService
from relengotron_sandbox.bodhi.api import SandboxBodhi
from relengotron_sandbox.bugzilla import BugzillaService
from relengotron_sandbox.koji import KojiHub
from relengotron_sandbox.service import SandboxContext

pytestmark = pytest.mark.integration

SCHEMA_PACKAGES = ("bodhi-messages", "koji-fedoramessaging-messages")
# What the sandbox publishes on the topics those packages define (the scenario below publishes each once at least).
SCHEMA_TOPICS = {
    "buildsys.tag",
    "buildsys.untag",
    "buildsys.rpm.sign",
    "bodhi.update.status.testing.koji-build-group.build.complete",
    "bodhi.update.request.testing",
    "bodhi.update.request.stable",
    "bodhi.update.request.revoke",
    "bodhi.update.comment",
    "bodhi.compose.start",
    "bodhi.compose.composing",
    "bodhi.update.complete.stable",
    "bodhi.update.complete.testing",
    "bodhi.compose.complete",
}
# What it publishes on topics no schema package defines: Bodhi 2's fedmsg-only message, bugzilla2fedmsg's.
NO_SCHEMA_TOPICS = {"bodhi.masher.start", "bugzilla.bug.update"}


def schema_classes() -> dict[str, type]:
    """Topic → the newest message class the schema packages define for it (Bodhi publishes its newest): the
    sandbox's own choice when it publishes on AMQP."""
    return {topic: cls for package in SCHEMA_PACKAGES for topic, cls in amqp.schema_classes(package).items()}


@pytest.fixture
def sandbox_services(recording_ctx: SandboxContext) -> Iterator[tuple[SandboxContext, BodhiService]]:
    started: list[Any] = []
    try:
        for kind in (KojiHub, BugzillaService, BodhiService):
            service = kind(recording_ctx)
            recording_ctx.endpoints[service.name] = service.start()
            started.append(service)
        yield recording_ctx, started[-1]
    finally:
        for service in reversed(started):
            service.stop()


def sign_one_rpm(ctx: SandboxContext, session: koji.ClientSession, nvr: str, tmp_path: Path) -> None:
    """What autosign does for one RPM: a signature header made with the world's key, added to Koji."""
    rinfo = session.getRPM(f"{nvr}.noarch")
    built = ctx.built
    local = tmp_path / "signed.rpm"
    shutil.copy(
        built.topdir / f"packages/{rinfo['name']}/{rinfo['version']}/{rinfo['release']}/noarch/{nvr}.noarch.rpm", local
    )
    rpmsign.sign_rpms([local], built.gnupghome, built.fingerprint)
    session.addRPMSig(rinfo["id"], base64.b64encode(koji.rip_rpm_sighdr(str(local))).decode())


def push_complete(repo: str, request: str, aliases: list[str]) -> dict[str, Any]:
    updates = [{"alias": a, "builds": [], "status": "pushed", "artifacts": [], "held_back": []} for a in aliases]
    return {"repo": repo, "request": request, "status": "complete", "synced": True, "updates": updates}


def test_every_message_on_a_schema_topic_validates(
    sandbox_services: tuple[SandboxContext, BodhiService], tmp_path: Path
) -> None:
    classes = schema_classes()
    assert {"bodhi.compose.composing", "bodhi.update.complete.stable", "buildsys.tag", "buildsys.rpm.sign"} <= set(
        classes
    )
    ctx, bodhi = sandbox_services
    hub = ctx.endpoints["koji"]["hub"]
    releng = koji.ClientSession(hub, opts={"user": "releng", "password": "x"})
    autosign = koji.ClientSession(hub, opts={"user": "autosign", "password": "x"})
    releng.login()
    autosign.login()
    try:
        # Koji: a signature, a move (untag + tag), as autosign does
        sign_one_rpm(ctx, autosign, "openssh-7.2p2-10.fc24", tmp_path)
        task = releng.moveBuild("f24-signing-pending", "f24-updates-testing-pending", "openssh-7.2p2-10.fc24")
        while not releng.taskFinished(task):
            pass
        endpoint = ctx.endpoints["bodhi"]
        # Bodhi: a new update, requests (testing, stable, revoke), a comment
        task = releng.tagBuild("f24-updates-candidate", "cloud-init-0.7.6-8.fc24")
        while not releng.taskFinished(task):
            pass
        gholms = SandboxBodhi.as_user(endpoint, "gholms", tmp_path)
        gholms.new_update(["cloud-init-0.7.6-8.fc24"], type="bugfix", severity="low")
        SandboxBodhi.as_user(endpoint, "kdudka", tmp_path).request("FEDORA-2016-64219a5b28", "revoke")
        # the same through the in-process API
        assert bodhi.request("FEDORA-2016-e26aae6802", "stable", "jforbes")["request"] == "stable"
        bodhi.comment("FEDORA-2016-e26aae6802", "Boots on my T460s.", "kparal", 1)
        # a push, its end, and a Bodhi 2 push
        assert len(bodhi.push(agent="releng", releases=["f24"]).composes) == 2
        bodhi.finish(push_complete("f24-updates", "stable", ["FEDORA-2016-e26aae6802", "FEDORA-2016-1d1d97e08f"]))
        bodhi.finish(push_complete("f24-updates-testing", "testing", ["FEDORA-2016-87932e2a7b"]))
        assert bodhi.update("FEDORA-2016-e26aae6802")["status"] == "stable"
        SandboxBodhi(endpoint).push(agent="releng", releases=["f23"], requests_=["stable"], bodhi2=True)
    finally:
        releng.logout()
        autosign.logout()

    published = [(f"{modname}.{topic}", body) for modname, topic, body in ctx.publisher.messages]  # type: ignore[union-attr]
    seen = {topic for topic, _ in published}
    assert seen - set(classes) == NO_SCHEMA_TOPICS
    assert seen & set(classes) == SCHEMA_TOPICS
    errors = []
    for topic, body in published:
        if topic in classes:
            schema = classes[topic].body_schema
            for error in validator_for(schema)(schema).iter_errors(body):
                errors.append(f"{topic} {'/'.join(map(str, error.absolute_path))}: {error.message}")
    assert errors == [], "\n".join(errors)
    for topic, body in published:
        if topic in classes:
            classes[topic](body=body).validate()  # the message as fedora-messaging checks it (headers too)
