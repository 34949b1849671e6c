"""An AMQP delivery judged as fedora-messaging's consumer would judge it, into the same Envelope as a fedmsg frame
pair; refusals are dead letters whose kept delivery can be judged again."""

from __future__ import annotations

import datetime
import json
import uuid

from listener_samples import koji_tag

from relengotron.listener.amqp_validate import Delivery, check
from relengotron.listener.validate import Envelope, Rejected, Validator

TOPIC = "org.fedoraproject.prod.buildsys.tag"
HEADERS = {
    "fedora_messaging_schema": "koji_fedoramessaging.tag.TagV1",
    "fedora_messaging_schema_package": "koji-fedoramessaging-messages",
    "sent-at": "2026-12-01T10:00:00+00:00",
    "fedora_messaging_severity": 20,
    "priority": 0,
}


def delivery(body: object, **changes: object) -> Delivery:
    values = {
        "routing_key": TOPIC,
        "body": json.dumps(body).encode(),
        "message_id": str(uuid.uuid4()),
        "headers": dict(HEADERS),
        "content_type": "application/json",
        "content_encoding": "utf-8",
        "user_id": None,
    }
    values.update(changes)
    return Delivery(**values)  # type: ignore[arg-type]


def test_a_well_formed_message_is_the_envelope_fedmsg_would_give() -> None:
    one = delivery(koji_tag("rawhide-pending", "a-1-1.fc26"), user_id="koji")
    envelope = check(Validator(max_body_bytes=65536), one)
    assert isinstance(envelope, Envelope)
    assert envelope.msg_id == one.message_id and envelope.topic == TOPIC and envelope.username == "koji"
    assert envelope.timestamp == datetime.datetime(2026, 12, 1, 10, tzinfo=datetime.UTC).timestamp()
    assert envelope.body["tag"] == "rawhide-pending" and envelope.i is None
    # what the inbox keeps validates again as an envelope (dead-letter retries read it so)
    again = Validator(max_body_bytes=65536).envelope(json.loads(envelope.json()))
    assert isinstance(again, Envelope) and again.msg_id == envelope.msg_id


def test_refusals_name_the_reason_and_keep_the_delivery() -> None:
    validator = Validator(max_body_bytes=65536)
    bad = delivery({**koji_tag("rawhide-pending", "a-1-1.fc26"), "build_id": "7"})
    rejected = check(validator, bad)
    assert isinstance(rejected, Rejected) and rejected.msg_id == bad.message_id
    assert "schema koji_fedoramessaging.tag.TagV1 refuses the body: field 'build_id'" in rejected.reason
    kept = Delivery.from_raw(rejected.raw)
    assert kept.body == bad.body and kept.headers == bad.headers and kept.message_id == bad.message_id
    assert check(validator, kept).reason == rejected.reason  # type: ignore[union-attr]
    crash = check(validator, delivery({"tag": 5}))  # TagV1's constructor raises TypeError on it
    assert isinstance(crash, Rejected) and "cannot read the message (TypeError" in crash.reason
    codec = check(validator, delivery({}, content_encoding="rot13"))
    assert isinstance(codec, Rejected) and "is not a text encoding" in codec.reason
