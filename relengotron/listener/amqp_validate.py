"""Checking a message off the AMQP bus: the same :class:`Envelope` (or :class:`Rejected`) as a fedmsg frame pair.

A fedora-messaging message is an AMQP delivery: the routing key (``org.fedoraproject.prod.bodhi.update.request
.stable``: the ``topic_prefix`` and the class's topic), the ``message_id`` property (a UUID; datanommer and
datagrepper key the archive by it, as fedmsg's ``msg_id``), the body (JSON, ``content_encoding`` utf-8) and
the headers fedora-messaging writes (``Message._build_properties``, fedora-messaging 3.9.1):
``fedora_messaging_schema`` (the entry point name of the message class), ``fedora_messaging_schema_package``,
``fedora_messaging_severity``, ``sent-at`` (ISO 8601, UTC, whole seconds) and the filter headers
``fedora_messaging_user_<name>`` ….

Judged as fedora-messaging's consumer judges it (``fedora_messaging.message.get_message``): the class named by
``fedora_messaging_schema`` (``fedora_messaging.message.get_class``; an unknown name falls back to the base
``Message``, as there) validates the headers and the body (``Message.validate``). Where fedora-messaging then
nacks the message without requeueing it — lost, with a log line — here it is a :class:`Rejected` with the
schema's reason: a dead letter of the inbox. The envelope's fields: ``msg_id`` the message id, ``topic`` the
routing key, ``timestamp`` from ``sent-at`` (datanommer's source for it; the arrival time when the header is
absent, as datanommer does), ``username`` the AMQP ``user_id`` property (RabbitMQ refuses a message whose
``user_id`` is not the publisher's authenticated user: "validated user-ID", rabbitmq.com/docs/validated-user-id).
Pure and thread-safe; AMQP has no sequence number (``i`` is None: gaps are not seen, the durable queue and the
replays on reconnect cover them).
"""

from __future__ import annotations

import base64
import datetime
import json
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from relengotron.listener.validate import (
    FUTURE_SLACK,
    MAX_DEPTH,
    MAX_TOPIC,
    MSG_ID,
    RAW_KEPT,
    TOPIC,
    Envelope,
    Rejected,
    _depth_exceeds,
    _reject_constant,
    _type_name,
)

if TYPE_CHECKING:
    from relengotron.listener.validate import Validator

REASON_MAX = 400


@dataclass(frozen=True)
class Delivery:
    """One AMQP delivery as the broker handed it over (pika's method frame and properties, unjudged)."""

    routing_key: str
    body: bytes
    message_id: Any = None
    headers: Any = None
    content_type: Any = None
    content_encoding: Any = None
    user_id: Any = None
    extra: dict[str, Any] = field(default_factory=dict)

    def raw(self) -> bytes:
        """What a dead letter keeps: enough to judge the delivery again (``from_raw``), at most RAW_KEPT of body."""
        document = {
            "routing_key": self.routing_key,
            "message_id": self.message_id,
            "headers": _json_safe(self.headers),
            "content_type": self.content_type,
            "content_encoding": self.content_encoding,
            "user_id": self.user_id,
            "body_base64": base64.b64encode(self.body[:RAW_KEPT]).decode(),
        }
        return json.dumps(_json_safe(document), sort_keys=True).encode()

    @classmethod
    def from_raw(cls, raw: bytes) -> Delivery:
        """The delivery a dead letter kept (ValueError if ``raw`` is not one)."""
        document = json.loads(raw)
        if not isinstance(document, dict) or not isinstance(document.get("routing_key"), str):
            raise ValueError("not an AMQP delivery kept by the listener")
        return cls(
            routing_key=document["routing_key"],
            body=base64.b64decode(document.get("body_base64") or ""),
            message_id=document.get("message_id"),
            headers=document.get("headers"),
            content_type=document.get("content_type"),
            content_encoding=document.get("content_encoding"),
            user_id=document.get("user_id"),
        )


def _json_safe(value: Any) -> Any:
    """pika decodes AMQP tables into str, bytes, int, Decimal, datetime, lists and dicts: JSON for the inbox."""
    return json.loads(json.dumps(value, default=str))


def _sent_at(value: Any) -> float | str:
    """The epoch of a ``sent-at`` header, or why it is not one."""
    if not isinstance(value, str):
        return f"header 'sent-at' must be an ISO 8601 string, not {_type_name(value)}"
    try:
        moment = datetime.datetime.fromisoformat(value)
    except ValueError:
        return f"header 'sent-at' is not an ISO 8601 time: {value[:60]!r}"
    if moment.tzinfo is None:  # fedora-messaging writes UTC with its offset; a naive time is read as UTC
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.timestamp()


def check(validator: Validator, delivery: Delivery, now: float | None = None) -> Envelope | Rejected:
    """``delivery`` judged: an Envelope, or a Rejected naming the first problem found."""
    topic = delivery.routing_key if isinstance(delivery.routing_key, str) else ""
    shown = topic[:MAX_TOPIC]
    message_id = delivery.message_id if isinstance(delivery.message_id, str) else None
    good_id = message_id if message_id is not None and MSG_ID.match(message_id) else None

    def reject(reason: str) -> Rejected:
        return Rejected(reason[:REASON_MAX], delivery.raw(), msg_id=good_id, topic=shown or None)

    size = len(delivery.body) + len(topic.encode())
    if size > validator.max_body_bytes:
        return reject(f"oversize: {size} bytes, more than the {validator.max_body_bytes} allowed")
    if len(topic) > MAX_TOPIC or not TOPIC.match(topic):
        return reject(f"the routing key is not a dotted topic: {topic[:100]!r}")
    if delivery.message_id is None:
        return reject("no message_id property (fedora-messaging sets one on every message)")
    if message_id is None or good_id is None:
        return reject(f"the message_id property is not an id ({MSG_ID.pattern}): {str(delivery.message_id)[:100]!r}")
    headers = delivery.headers if delivery.headers is not None else {}
    if not isinstance(headers, Mapping):
        return reject(f"the headers must be a table, not {_type_name(headers)}")
    encoding = delivery.content_encoding or "utf-8"  # fedora-messaging's default when the property is absent
    try:
        text = delivery.body.decode(str(encoding))
    except LookupError:
        return reject(f"content_encoding {str(encoding)[:40]!r} is not a text encoding")
    except UnicodeDecodeError as exc:
        return reject(f"the body is not {encoding} ({exc.reason} at byte {exc.start})")
    try:
        body = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        return reject(f"the body nests deeper than {MAX_DEPTH} levels")
    except ValueError as exc:
        return reject(f"the body is not JSON ({exc})")
    if not isinstance(body, dict):
        return reject(f"the body must be a JSON object, not {_type_name(body)}")
    if _depth_exceeds(body, MAX_DEPTH - 1):
        return reject(f"the body nests deeper than {MAX_DEPTH} levels")
    if "sent-at" in headers:
        stamp = _sent_at(headers["sent-at"])
        if isinstance(stamp, str):
            return reject(stamp)
    else:
        stamp = time.time() if now is None else now
    if not math.isfinite(stamp) or stamp <= 0 or stamp > time.time() + FUTURE_SLACK:
        return reject(f"header 'sent-at' is not a plausible time: {headers.get('sent-at')!r}")
    problem = schema_problem(topic, body, headers, message_id)
    if problem is not None:
        return reject(problem)
    if delivery.user_id is not None and not isinstance(delivery.user_id, str):
        return reject(f"the user_id property must be a string, not {_type_name(delivery.user_id)}")
    username = delivery.user_id
    safe_headers = _json_safe(dict(headers))
    data = {
        "msg_id": message_id,
        "topic": topic,
        "timestamp": stamp,
        "msg": body,
        "headers": safe_headers,
        "username": username,
    }
    return Envelope(
        topic=topic,
        body=body,
        msg_id=message_id,
        timestamp=float(stamp),
        i=None,
        username=username,
        publisher=f"amqp:{username or safe_headers.get('fedora_messaging_schema_package') or 'unknown'}",
        data=data,
    )


def schema_problem(topic: str, body: dict[str, Any], headers: Mapping[str, Any], message_id: str) -> str | None:
    """What the message class named by ``fedora_messaging_schema`` (or the base ``Message``) refuses in the
    headers or the body, as ``fedora_messaging.message.get_message`` validates them; None when it accepts.

    The same schemas, in the same order, and the same error as ``Message.validate`` (which subclasses must not
    override): it calls ``jsonschema.validate`` on each, which checks the *schema* against its metaschema on every
    call — 95% of the time a message took here (2.6 ms of 2.7). The validators are compiled once per schema
    (:func:`_validator`), their schemas checked then, and the error is ``best_match`` of their errors, which is
    what ``jsonschema.validate`` raises."""
    import pika
    from fedora_messaging.message import Message, get_class
    from jsonschema.exceptions import SchemaError, best_match

    from relengotron.listener.schemas import _json_path

    name = headers.get("fedora_messaging_schema")
    if name is not None and not isinstance(name, str):
        return f"header 'fedora_messaging_schema' must be a string, not {_type_name(name)}"
    cls = get_class(name) if name else Message  # an unknown name: the base Message, and fedora-messaging warns
    label = f"schema {name}" if name and cls is not Message else "fedora-messaging's base Message schema"
    try:
        for schema in (cls.headers_schema, Message.headers_schema):  # what Message.validate checks first
            error = best_match(_validator(cls, schema).iter_errors(dict(headers)))
            if error is not None:
                where = _json_path(error.absolute_path)
                return f"{label} refuses the headers: " + (
                    f"header {where!r}: {error.message}" if where else error.message
                )
        message = cls(
            body=body, topic=topic, properties=pika.BasicProperties(headers=dict(headers), message_id=message_id)
        )
        for schema in (cls.body_schema, Message.body_schema):  # then the body, as Message.validate
            error = best_match(_validator(cls, schema).iter_errors(message.body))
            if error is not None:
                where = _json_path(error.absolute_path)
                return f"{label} refuses the body: " + (f"field {where!r}: {error.message}" if where else error.message)
    except SchemaError as exc:
        return f"{label} has a broken schema ({exc.message}): no message of it can be read"
    except Exception as exc:  # a class whose properties choke on a hostile body: still the message's fault
        return f"{label} cannot read the message ({type(exc).__name__}: {exc})"
    return None


_VALIDATORS: dict[tuple[type, int], Any] = {}


def _validator(cls: type, schema: dict[str, Any]) -> Any:
    """The jsonschema validator of ``schema`` (an attribute of ``cls`` or of the base Message: fixed for the
    process), its schema checked once — what ``jsonschema.validate`` builds and checks on every call. Kept per
    (class, schema object) for the process; a schema that fails its check raises SchemaError every time."""
    import jsonschema

    key = (cls, id(schema))  # the schema is kept beside its validator: its id is never reused meanwhile
    found = _VALIDATORS.get(key)
    if found is None:
        validator_class = jsonschema.validators.validator_for(schema)
        validator_class.check_schema(schema)
        found = _VALIDATORS[key] = (schema, validator_class(schema))
    return found[1]
