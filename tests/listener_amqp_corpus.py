"""A corpus of malformed and hostile AMQP deliveries, each with the reason the listener must give for it.

What a rogue or broken publisher can put on Fedora's broker: bodies that are not JSON or not in their
``content_encoding``, JSON that is not an object, nesting bombs, oversize bodies, missing or bad ``message_id``
properties, headers fedora-messaging's base schema refuses (``fedora_messaging_severity``, ``sent-at``…), a
``fedora_messaging_schema`` whose class refuses the body (Koji's TagV1, Bodhi's ComposeComposingV1), bodies
breaking the routed topics' schemas or the rules file's field checks, a rule's template failing on a body, and
confs the DAG's Params refuse (Airflow answers 400). fedora-messaging's own consumer would drop most of these
unseen (nack without requeue) or stop consuming on one of them (a ``content_encoding`` naming no codec).
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from listener_samples import koji_tag

from relengotron.listener.validate import MSG_ID

PREFIX = "org.fedoraproject.dev"
TAG = f"{PREFIX}.buildsys.tag"
TAG_SCHEMA = {
    "fedora_messaging_schema": "koji_fedoramessaging.tag.TagV1",
    "fedora_messaging_schema_package": "koji-fedoramessaging-messages",
}
COMPOSE_SCHEMA = {
    "fedora_messaging_schema": "bodhi.compose.composing.v1",
    "fedora_messaging_schema_package": "bodhi-messages",
}


def headers(**changes: Any) -> dict[str, Any]:
    """fedora-messaging 3.9.1's headers (Message._build_properties) of a Koji tag message."""
    base = {
        **TAG_SCHEMA,
        "sent-at": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
        "fedora_messaging_severity": 20,
        "priority": 0,
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not ...}


@dataclass(frozen=True)
class Delivery:
    name: str
    body: bytes
    reason: str  # a substring of the dead letter's reason
    routing_key: str = TAG
    properties: dict[str, Any] = field(default_factory=dict)  # pika.BasicProperties keywords

    @property
    def msg_id(self) -> str | None:
        """The id its dead letter can be found by (a message_id the listener accepts as an id)."""
        value = self.properties.get("message_id")
        return value if isinstance(value, str) and MSG_ID.match(value) else None


def properties(**changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "content_type": "application/json",
        "content_encoding": "utf-8",
        "delivery_mode": 2,
        "headers": headers(),
        "message_id": str(uuid.uuid4()),
    }
    values.update(changes)
    return {k: v for k, v in values.items() if v is not ...}


def good(nvr: str) -> tuple[bytes, dict[str, Any]]:
    return json.dumps(koji_tag("rawhide-pending", nvr)).encode(), properties()


def corpus(scenario: str = "s5") -> list[Delivery]:
    """At least 50 deliveries; every one must become a dead letter with (part of) its reason."""
    cases: list[Delivery] = []
    serial = iter(range(1000))

    def body(**changes: Any) -> bytes:
        tag = koji_tag("rawhide-pending", f"{scenario}-bad{next(serial)}-1.0-1.fc26")
        tag.update(changes)
        return json.dumps({k: v for k, v in tag.items() if v is not ...}).encode()

    def add(name: str, data: bytes, reason: str, routing_key: str = TAG, **props: Any) -> None:
        cases.append(Delivery(name, data, reason, routing_key, properties(**props)))

    # --- the body's bytes
    add("not JSON", b"{not json", "the body is not JSON")
    add("truncated JSON", body()[:-7], "the body is not JSON")
    add("empty body", b"", "the body is not JSON")
    add("body not UTF-8", b'{"name": "\xff\xfe"}', "the body is not utf-8")
    add("body not latin-1 declared", "{}".encode("utf-16"), "the body is not utf-8")
    add("content_encoding rot13", b"{}", "is not a text encoding", content_encoding="rot13")
    add("content_encoding nonsense", b"{}", "is not a text encoding", content_encoding="x-klingon")
    add("JSON array", b"[1, 2, 3]", "must be a JSON object")
    add("JSON string", b'"hello"', "must be a JSON object")
    add("JSON null", b"null", "must be a JSON object")
    add("JSON number", b"42", "must be a JSON object")
    add("NaN", b'{"build_id": NaN}', "NaN is not JSON")
    add("Infinity", b'{"build_id": Infinity}', "Infinity is not JSON")
    add("nested 100000 deep", b"[" * 100000 + b"]" * 100000, "oversize")
    add("nested 20000 deep", b'{"a": ' + b"[" * 20000 + b"]" * 20000 + b"}", "nests deeper")
    deep: Any = koji_tag("rawhide-pending", f"{scenario}-deep-1-1.fc26")
    for _ in range(80):
        deep = {"inner": deep}
    add("nested 80 mappings", json.dumps(deep).encode(), "nests deeper")
    add("oversize", body(notes="x" * 100_000), "oversize")

    # --- properties
    add("no message_id", body(), "no message_id property", message_id=...)
    add("message_id with spaces", body(), "is not an id", message_id="2016 with spaces")
    add("message_id a path", body(), "is not an id", message_id="../../etc/passwd")
    add("message_id too long", body(), "is not an id", message_id="a" * 200)  # a shortstr: at most 255 bytes
    add("routing key with an empty word", body(), "not a dotted topic", routing_key=f"{PREFIX}..buildsys.tag")

    # --- headers fedora-messaging's base schema refuses
    for name, change, reason in [
        ("severity a word", {"fedora_messaging_severity": "loud"}, "header 'fedora_messaging_severity'"),
        ("severity out of range", {"fedora_messaging_severity": 7}, "header 'fedora_messaging_severity'"),
        ("schema name a number", {"fedora_messaging_schema": 5}, "'fedora_messaging_schema' must be a string"),
        ("schema package a number", {"fedora_messaging_schema_package": 5}, "'fedora_messaging_schema_package'"),
        ("sent-at a number", {"sent-at": 5}, "'sent-at' must be an ISO 8601 string"),
        ("sent-at a word", {"sent-at": "yesterday"}, "'sent-at' is not an ISO 8601 time"),
        ("sent-at far future", {"sent-at": "3000-01-01T00:00:00+00:00"}, "not a plausible time"),
        ("sent-at before 1970", {"sent-at": "1900-01-01T00:00:00+00:00"}, "not a plausible time"),
    ]:
        add(name, body(), reason, headers=headers(**change))

    # --- the class the schema header names refuses the body (Koji's TagV1, Bodhi's ComposeComposingV1)
    for name, change, reason in [
        ("tag name null", {"name": None}, "refuses the body: field 'name'"),
        ("tag build_id a string", {"build_id": "785412"}, "refuses the body: field 'build_id'"),
        ("tag an integer", {"tag": 1123}, "cannot read the message (TypeError"),  # TagV1's properties crash
        ("tag release a list", {"release": ["1.fc26"]}, "refuses the body: field 'release'"),
        ("tag owner a mapping", {"owner": {"name": "x"}}, "refuses the body: field 'owner'"),
        ("tag version a number", {"version": 1}, "refuses the body: field 'version'"),
    ]:
        add(name, body(**change), f"schema koji_fedoramessaging.tag.TagV1 {reason}")
    compose = {"agent": "bowlofeggs", "repo": "f24-updates", "ctype": "rpm", "updates": [f"{scenario}-c-1-1.fc24"]}
    compose_key = f"{PREFIX}.bodhi.compose.composing"
    for name, change, reason in [
        ("compose without repo", {"repo": ...}, "'repo' is a required property"),
        ("compose agent a number", {"agent": 5}, "field 'agent'"),
    ]:
        data = json.dumps({k: v for k, v in {**compose, **change}.items() if v is not ...}).encode()
        add(name, data, reason, compose_key, headers=headers(**COMPOSE_SCHEMA))
    # the schema header names no class (or the base one): the topic's schema package still judges the body
    add(
        "TagV1 body under no schema",
        body(build_id="x"),
        "TagV1 (koji-fedoramessaging-messages",
        headers=headers(fedora_messaging_schema=..., fedora_messaging_schema_package=...),
    )
    add(
        "TagV1 body under an unknown schema",
        body(build_id="x"),
        "TagV1 (koji-fedoramessaging-messages",
        headers=headers(fedora_messaging_schema="nobody.Knows", fedora_messaging_schema_package=...),
    )
    add(
        "TagV1 body under the base schema",
        body(tag=["x"]),
        "TagV1 (koji-fedoramessaging-messages",
        headers=headers(fedora_messaging_schema="base.message", fedora_messaging_schema_package=...),
    )

    # --- the rules file's field checks (Bodhi 2's masher.start: no schema package)
    masher_key = f"{PREFIX}.bodhi.masher.start"
    for name, masher, reason in [
        ("masher.start updates not a list", {"updates": "a-1-1.fc24", "resume": False}, "'updates' must be a list"),
        ("masher.start resume a string", {"updates": ["a-1-1.fc24"], "resume": "no"}, "'resume' must be a boolean"),
        ("masher.start without updates", {"resume": False}, "updates"),
    ]:
        add(
            name,
            json.dumps(masher).encode(),
            reason,
            masher_key,
            headers=headers(fedora_messaging_schema="base.message", fedora_messaging_schema_package=...),
        )

    # --- well-formed, but a rule cannot route it
    no_version = {
        k: v for k, v in koji_tag("rawhide-pending", f"{scenario}-nover-1.0-1.fc26").items() if k != "version"
    }
    add("tag body without version: the rule's conf fails", json.dumps(no_version).encode(), "no attribute 'version'")
    no_user = {k: v for k, v in koji_tag("rawhide-pending", f"{scenario}-nouser-1.0-1.fc26").items() if k != "user"}
    add("rule's when needs a missing field", json.dumps(no_user).encode(), "has no attribute 'user'")

    # --- routed, but the DAG's Params refuse the conf: Airflow answers 400
    for name, nvr in [
        ("NVR with a space", f"{scenario}-sp-1 0-1.fc26"),
        ("NVR with a slash", f"{scenario}-a/b-1-1.fc26"),
    ]:
        add(name, json.dumps(koji_tag("rawhide-pending", nvr)).encode(), "HTTP 400")

    # --- more of the same kinds, to show none is special (bytes that are no UTF-8, ids, severities)
    for n in range(6):
        add(f"random bytes {n}", bytes([0xFF, 0xFE, n, 0x80]) * 4, "the body is not utf-8")
    for n, bad in enumerate(["", " ", "a b", "x" * 129]):
        add(f"bad message_id {n}", body(), "message_id", message_id=bad)
    return cases
