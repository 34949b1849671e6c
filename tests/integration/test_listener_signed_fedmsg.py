"""Signed fedmsg end to end: the real listener process with x509 validation on (a CA and CRL the test makes),
a fedmsg publisher that signs (FedMsgContext with ``sign_messages``, the ``koji-<host>`` certificate) and one
that does not, through the sandbox relay. The signed message triggers its run; the unsigned one is a dead
letter whose reason ``relengotron listener status`` shows."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from listener_harness import write_listener
from listener_samples import koji_tag
from listener_scenarios import gate_rule, settle
from test_listener_acceptance import bus, deployment  # noqa: F401 (fixtures)

from relengotron.messaging import FedmsgPublisher, load_fedmsg_config
from relengotron_sandbox.pki import FedmsgCA
from relengotron_sandbox.testing import wait_for

CERTNAME = "koji-koji01.phx2.fedoraproject.org"  # Fedora's <service>-<host> naming (fedora-infra ansible)


@pytest.fixture
def signing(tmp_path, bus) -> Iterator[tuple[FedmsgCA, FedmsgPublisher]]:  # noqa: F811
    """A CA with Koji's certificate, and Koji's fedmsg publisher signing with it as Fedora's did: fedmsg picks
    ``certnames["<cert_prefix>.<host>"]`` from ``ssldir``."""
    ca = FedmsgCA(tmp_path / "pki")
    ca.issue(CERTNAME)
    host = socket.gethostname().split(".", 1)[0]  # fedmsg.core's own hostname
    config = {
        **load_fedmsg_config(bus[1]["fedmsg_config"]),
        "sign_messages": True,
        "crypto_backend": "x509",
        "ssldir": str(ca.ssldir),
        "cert_prefix": "koji",
        "certnames": {f"koji.{host}": CERTNAME},
    }
    publisher = FedmsgPublisher(config)
    try:
        yield ca, publisher
    finally:
        publisher.close()


def test_signed_message_triggers_unsigned_one_is_a_dead_letter(tmp_path, bus, deployment, listeners, signing) -> None:  # noqa: F811
    ca, signed = signing
    fedmsg_config = load_fedmsg_config(bus[1]["fedmsg_config"])
    topic = f"{fedmsg_config['topic_prefix']}.{fedmsg_config['environment']}.buildsys.tag"
    crypto: dict[str, Any] = {
        "crypto_validate_backends": ["x509"],
        "ca_cert_location": str(ca.ca_path),
        "crl_location": str(ca.crl_path),
        "routing_policy": {topic: [CERTNAME]},
        "routing_nitpicky": True,
    }
    listener = write_listener(
        tmp_path / "listener", airflow=deployment, bus=bus[1], rules={"rules": [gate_rule("x5")]}, signatures=crypto
    )
    listeners.append(listener.start())
    unsigned = FedmsgPublisher(fedmsg_config)
    try:
        signed.publish("buildsys", "tag", koji_tag("rawhide-pending", "x5-signed-1.0-1.fc26"))
        unsigned.publish("buildsys", "tag", koji_tag("rawhide-pending", "x5-unsigned-1.0-1.fc26"))
    finally:
        unsigned.close()

    (run,) = settle(listener, deployment, "rawhide_gating", "x5-gate__", 1, 60)
    assert run["conf"]["builds"] == ["x5-signed-1.0-1.fc26"]
    (letter,) = wait_for("the dead letter", lambda: listener.status()["dead_letters"], 30)
    assert (letter["kind"], letter["topic"]) == ("invalid", topic)
    assert letter["reason"] == "unsigned (signature validation is on)"
    assert letter["msg_id"] and run["dag_run_id"] != f"x5-gate__{letter['msg_id']}"
    shown = listener.cli("status")
    assert shown.returncode == 0, shown.stderr
    assert f"{letter['msg_id']} {topic}" in shown.stdout and "unsigned (signature validation is on)" in shown.stdout
    assert listener.alive() and listener.health()["ready"]
