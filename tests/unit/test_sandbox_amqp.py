"""The sandbox on AMQP without a broker: which class a topic is published as, the archive's row of an AMQP
message, one archived message per id across both buses, and the fedmsg envelope carrying the AMQP id."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
from bodhi.messages.schemas.compose import ComposeComposingV1
from bodhi.messages.schemas.update import UpdateCommentV1, UpdateReadyForTestingV3, UpdateRequestStableV1
from fedora_messaging.message import Message
from koji_fedoramessaging_messages.rpm import SignV1
from koji_fedoramessaging_messages.tag import TagV1, UntagV1

from relengotron.messaging import _with_msg_id
from relengotron_sandbox.amqp import archived, make_message, message_class
from relengotron_sandbox.bus import Archive


@pytest.mark.parametrize(
    ("topic", "cls"),
    [
        ("bodhi.update.request.stable", UpdateRequestStableV1),
        ("bodhi.update.comment", UpdateCommentV1),
        ("bodhi.compose.composing", ComposeComposingV1),
        # three versions share this topic: Bodhi publishes the newest
        ("bodhi.update.status.testing.koji-build-group.build.complete", UpdateReadyForTestingV3),
        ("buildsys.tag", TagV1),
        ("buildsys.untag", UntagV1),
        ("buildsys.rpm.sign", SignV1),
        # no class: Bodhi 2's fedmsg-only message, a Koji event without one, other publishers
        ("bodhi.masher.start", Message),
        ("buildsys.build.unknown", Message),
        ("pdc.compose", Message),
        ("resultsdb.result.new", Message),
        ("bugzilla.bug.update", Message),
    ],
)
def test_the_class_a_topic_is_published_as(topic: str, cls: type) -> None:
    assert message_class(topic) is cls


def test_a_body_its_class_refuses_is_an_error_naming_the_field() -> None:
    with pytest.raises(jsonschema.ValidationError, match="'agent' is a required property"):
        make_message("bodhi.compose.start", {})
    assert make_message("bodhi.compose.start", {"agent": "releng"}).body == {"agent": "releng"}
    # a topic without a class takes any body
    assert make_message("pdc.compose", {"anything": [1]}).topic == "pdc.compose"


def amqp_copy(topic: str, body: dict) -> Message:
    """A message as a consumer gets it: the routing key (prefix included) as its topic."""
    message = make_message(topic, body)
    message.topic = f"org.fedoraproject.dev.{topic}"
    return message


def test_the_archive_row_of_an_amqp_message_is_datanommer_s() -> None:
    message = amqp_copy("bodhi.compose.start", {"agent": "releng"})
    row = archived(message)
    assert row["msg_id"] == message.id
    assert row["topic"] == "org.fedoraproject.dev.bodhi.compose.start"
    assert row["msg"] == {"agent": "releng"}
    assert row["headers"]["fedora_messaging_schema"] == "bodhi.compose.start.v1"
    assert row["headers"]["sent-at"].startswith("20")
    assert isinstance(row["timestamp"], float)
    assert {k: row[k] for k in ("certificate", "signature", "username", "crypto")} == dict.fromkeys(
        ("certificate", "signature", "username", "crypto")
    )


@pytest.mark.parametrize("amqp_first", [True, False])
def test_one_message_on_both_buses_is_one_archived_message(tmp_path: Path, amqp_first: bool) -> None:
    message = amqp_copy("bodhi.compose.start", {"agent": "releng"})
    from_amqp = archived(message)
    from_fedmsg = {
        "topic": message.topic,
        "msg": message.body,
        "msg_id": message.id,
        "timestamp": 1700000000,
        "i": 3,
        "username": "bodhi",
    }
    archive = Archive(tmp_path / "archive.sqlite")
    try:
        copies = [from_amqp, from_fedmsg] if amqp_first else [from_fedmsg, from_amqp]
        assert [archive.add(c) for c in copies] == [True, False]
        total, rows = archive.query(start=None, end=None, topics=[], page=1, rows=10, descending=False)
        assert total == 1
        row = archive.by_id(message.id)
        assert rows == [row]
        # each copy filled in what the other lacked
        assert row["headers"]["fedora_messaging_schema"] == "bodhi.compose.start.v1"
        assert row["username"] == "bodhi"
        assert row["msg"] == {"agent": "releng"}
    finally:
        archive.close()


def test_the_fedmsg_envelope_takes_the_amqp_id() -> None:
    envelope = {"topic": "t", "msg": {}, "msg_id": "2026-fedmsg-own", "i": 1, "username": "u", "timestamp": 1}
    _with_msg_id("5b1a-amqp-id", {})(envelope)
    assert envelope["msg_id"] == "5b1a-amqp-id"
    assert "signature" not in envelope
