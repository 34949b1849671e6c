"""releng-o-tron's message schemas (the relengotron-messages package): the class of each topic, what a schema
refuses and how the refusal is named, and a consumer that has the schema package and fedora-messaging but not
releng-o-tron reading a message as fedora-messaging hands it over."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from fedora_messaging import message as fm_message
from relengotron_messages import TOPICS, UnknownTopic, message_class

from relengotron.messaging import PublishError, SchemaCheckedPublisher, schema_message

EOL = {"release": "f24", "name": "Fedora 24", "version": "24", "pdc_release": "fedora-24", "eol_date": "2017-08-08"}


@pytest.mark.parametrize(
    ("topic", "cls"),
    [
        ("relengotron.artifact.composed", "ArtifactComposedV1"),
        ("org.fedoraproject.prod.relengotron.artifact.released", "ArtifactReleasedV1"),
        ("relengotron.push.complete", "PushCompleteV1"),
        ("relengotron.rawhide.gating.quarantined", "GatingDecisionV1"),
        ("org.fedoraproject.stg.relengotron.f24.autosign.signed", "AutosignSignedV1"),
        ("relengotron.release.eol", "ReleaseEolV1"),
    ],
)
def test_each_topic_has_its_class(topic: str, cls: str) -> None:
    assert message_class(topic).__name__ == cls


def test_every_class_is_an_entry_point_fedora_messaging_finds() -> None:
    """A consumer's fedora-messaging picks the class from the message's ``fedora_messaging_schema`` header."""
    for _pattern, cls in TOPICS:
        name = fm_message.get_name(cls)
        assert name.startswith("relengotron.") and fm_message.get_class(name) is cls


@pytest.mark.parametrize(
    "topic", ["relengotron.push.started", "bodhi.update.request.stable", "relengotron.rawhide.gating.held", "x"]
)
def test_a_topic_releng_o_tron_does_not_publish_on_has_no_class(topic: str) -> None:
    with pytest.raises(UnknownTopic, match="publishes no message on this topic"):
        message_class(topic)
    modname, _, rest = topic.partition(".")
    with pytest.raises(PublishError, match="publishes no message on this topic"):
        schema_message(modname, rest or "x", {})


def test_a_body_its_schema_refuses_is_named_and_never_sent() -> None:
    sent: list[tuple[str, str, dict]] = []

    class Recorder:
        def publish(self, modname: str, topic: str, msg: dict) -> None:
            sent.append((modname, topic, msg))

        def close(self) -> None:
            pass

    publisher = SchemaCheckedPublisher(Recorder())
    publisher.publish("relengotron", "release.eol", EOL)
    with pytest.raises(PublishError, match=r"^relengotron\.release\.eol: the body does not follow ReleaseEolV1"):
        publisher.publish("relengotron", "release.eol", {k: v for k, v in EOL.items() if k != "eol_date"})
    with pytest.raises(PublishError, match=r"^relengotron\.f24\.autosign\.signed: rpms_signed does not follow"):
        publisher.publish(
            "relengotron",
            "f24.autosign.signed",
            {"release": "f24", "nvr": "bash-4.3-1.fc24", "key": "81b46521", "from_tag": "a", "to_tag": "b",
             "rpms_signed": -1, "packages": ["bash"], "usernames": []},
        )  # fmt: skip
    assert sent == [("relengotron", "release.eol", EOL)]


def test_a_consumer_with_the_schema_package_alone_reads_the_message() -> None:
    """What a consumer's fedora-messaging does with a message off the wire (``get_message``: the class from the
    schema header, then validate), in a process where releng-o-tron cannot be imported."""
    message = schema_message("relengotron", "release.eol", EOL)
    wire = {"topic": message.topic, "headers": message._headers, "body": message.body, "id": message.id}
    consumer = """
import json, sys
sys.modules["relengotron"] = None  # releng-o-tron is not installed here
import pika
from fedora_messaging import message
wire = json.loads(sys.stdin.read())
props = pika.BasicProperties(headers=wire["headers"], message_id=wire["id"], content_encoding="utf-8")
got = message.get_message("org.fedoraproject.prod." + wire["topic"], props, json.dumps(wire["body"]).encode())
print(json.dumps([type(got).__name__, got.summary, str(got), got.app_name]))
"""
    done = subprocess.run(
        [sys.executable, "-c", consumer], input=json.dumps(wire), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    summary = "releng-o-tron ended the life of Fedora 24 on 2017-08-08"
    assert json.loads(done.stdout) == ["ReleaseEolV1", summary, summary, "relengotron"]
