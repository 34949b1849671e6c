"""Checking what arrives from the bus before anything is done with it: bad input becomes a dead letter, never a crash.

A fedmsg message is two ZeroMQ frames: the topic and the JSON envelope (``topic``, ``msg``, ``msg_id``,
``timestamp``, ``i``, ``username``, and ``signature``/``certificate``/``crypto`` when signed). Anything else —
extra frames, oversize bodies, bytes that are not UTF-8 or not JSON, NaN, absurd nesting, missing or mistyped
fields, a topic frame that disagrees with the envelope, a missing or bad signature when validation is on — is
a :class:`Rejected` with a reason that says which. Signatures are checked as fedmsg checks them: x509 (what
Fedora's fedmsg used) by :mod:`relengotron.fedmsg_x509` — fedmsg's own x509_ng checks, with the reason — and
gpg by ``fedmsg.crypto.validate``.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

MSG_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.~:+\-]{0,127}$")
TOPIC = re.compile(r"^[A-Za-z0-9_\-]+(?:\.[A-Za-z0-9_\-]+)+$")
MAX_TOPIC = 255
MAX_DEPTH = 64
RAW_KEPT = 64 * 1024  # bytes of a rejected message kept for the dead letter
FUTURE_SLACK = 86400.0  # a timestamp further in the future than this is not a clock skew but a lie


@dataclass(frozen=True)
class Envelope:
    """A well-formed message: what rules route and the inbox stores."""

    topic: str
    body: dict[str, Any]
    msg_id: str
    timestamp: float
    i: int | None
    username: str | None
    publisher: str  # whose sequence number ``i`` is (fedmsg envelopes name no process: the user, + the cert)
    data: dict[str, Any] = field(repr=False)  # the whole envelope, as received

    def json(self) -> str:
        return json.dumps(self.data, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class Rejected:
    """Input that is not a usable message, and why."""

    reason: str
    raw: bytes
    msg_id: str | None = None
    topic: str | None = None

    @property
    def dedupe(self) -> str:
        """One dead letter per hostile message, however often it is replayed."""
        if self.msg_id:
            return f"{self.msg_id}:{self.reason}"
        return "sha256:" + hashlib.sha256(self.raw).hexdigest()


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _depth_exceeds(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return False


def _type_name(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), f"a {type(value).__name__}"
    )


class SignatureChecker:
    """fedmsg's signature validation with the configured backends (``crypto_validate_backends``, fedmsg's
    default ``[x509]``): x509 by :class:`relengotron.fedmsg_x509.X509Validator` (fedmsg's x509_ng checks, with
    the reason), gpg by ``fedmsg.crypto.validate``. Which backend a message needs is fedmsg's rule: its
    ``crypto`` field, else ``certificate`` means x509 and a bare ``signature`` gpg. Thread-safe."""

    def __init__(self, crypto: Mapping[str, Any]) -> None:
        """Loads the x509 CA and CRL now: a ValueError (naming the location) if they cannot be read."""
        import fedmsg.crypto

        from relengotron.fedmsg_x509 import FEDORA_CA, FEDORA_CRL, X509Validator

        self.config = dict(crypto)
        self.backends = tuple(self.config.setdefault("crypto_validate_backends", ["x509"]))
        for name in self.backends:
            if name not in ("x509", "gpg"):
                raise ValueError(f"crypto_validate_backends: {name!r} is not a fedmsg crypto backend (x509, gpg)")
        self._x509 = None
        if "x509" in self.backends:
            self._x509 = X509Validator(
                ca_cert_location=self.config.get("ca_cert_location", FEDORA_CA),
                crl_location=self.config.get("crl_location", FEDORA_CRL),
                routing_policy=self.config.get("routing_policy"),
                routing_nitpicky=bool(self.config.get("routing_nitpicky", False)),
            )
        if "gpg" in self.backends:
            fedmsg.crypto.init(**self.config)
        self._validate = fedmsg.crypto.validate

    def problem(self, envelope: dict[str, Any], *, from_datagrepper: bool = False) -> str | None:
        if envelope.get("signature") is None:
            return "unsigned (signature validation is on)"
        candidate = dict(envelope)
        if from_datagrepper:
            from fedmsg.crypto.utils import fix_datagrepper_message

            candidate = fix_datagrepper_message(candidate)
        backend = candidate.get("crypto") or ("x509" if "certificate" in candidate else "gpg")
        if backend not in ("x509", "gpg"):
            return f"bad signature: unknown crypto backend {str(backend)[:40]!r} (fedmsg knows x509 and gpg)"
        if backend not in self.backends:
            accepted = ", ".join(self.backends)
            return f"bad signature: signed with {backend}, which crypto_validate_backends ({accepted}) refuses"
        if backend == "x509":
            assert self._x509 is not None
            return self._x509.problem(candidate)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # fedmsg's log.warn
                valid = self._validate(candidate, **self.config)
        except Exception as exc:  # fedmsg raises whatever its backend raises on garbage
            return f"gpg: bad signature ({type(exc).__name__}: {exc})"
        return None if valid else "gpg: bad signature (fedmsg.crypto.validate refused it)"


class Validator:
    """Frames or datagrepper envelopes → :class:`Envelope` or :class:`Rejected`. Thread-safe (no state)."""

    def __init__(self, *, max_body_bytes: int, signatures: SignatureChecker | None = None) -> None:
        self.max_body_bytes = max_body_bytes
        self.signatures = signatures

    def frames(self, frames: list[bytes]) -> Envelope | Rejected:
        """A message as it came off the ZeroMQ socket."""
        if len(frames) != 2:
            raw = b"\x00".join(frames)[:RAW_KEPT]
            return Rejected(f"expected 2 frames (topic, envelope), got {len(frames)}", raw)
        topic_frame, raw = frames
        shown_topic = topic_frame[:MAX_TOPIC].decode("utf-8", "replace")
        size = len(topic_frame) + len(raw)
        if size > self.max_body_bytes:
            reason = f"oversize: {size} bytes, more than the {self.max_body_bytes} allowed"
            return Rejected(reason, raw[:RAW_KEPT], topic=shown_topic)
        try:
            topic = topic_frame.decode("utf-8")
        except UnicodeDecodeError:
            return Rejected("the topic frame is not UTF-8", raw[:RAW_KEPT], topic=shown_topic)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            return Rejected(f"the envelope is not UTF-8 ({exc.reason} at byte {exc.start})", raw, topic=shown_topic)
        try:
            data = json.loads(text, parse_constant=_reject_constant)
        except RecursionError:
            return Rejected(f"the envelope nests deeper than {MAX_DEPTH} levels", raw, topic=shown_topic)
        except ValueError as exc:
            return Rejected(f"the envelope is not JSON ({exc})", raw, topic=shown_topic)
        if isinstance(data, dict) and isinstance(data.get("topic"), str) and data["topic"] != topic:
            msg_id = data.get("msg_id")
            return Rejected(
                f"the topic frame {topic[:100]!r} differs from the envelope's topic {data['topic'][:100]!r}",
                raw,
                msg_id=msg_id if isinstance(msg_id, str) and MSG_ID.match(msg_id) else None,
                topic=shown_topic,
            )
        result = self.envelope(data, raw=raw)
        if isinstance(result, Rejected) and result.topic is None:
            return Rejected(result.reason, result.raw, msg_id=result.msg_id, topic=shown_topic)
        return result

    def envelope(self, data: Any, *, raw: bytes | None = None, from_datagrepper: bool = False) -> Envelope | Rejected:
        """An envelope already parsed (from datagrepper, or from :meth:`frames`)."""
        if raw is None:
            try:
                raw = json.dumps(data, sort_keys=True).encode()
            except (TypeError, ValueError, RecursionError):
                raw = repr(data)[:RAW_KEPT].encode()
            if len(raw) > self.max_body_bytes:
                reason = f"oversize: {len(raw)} bytes, more than the {self.max_body_bytes} allowed"
                return Rejected(reason, raw[:RAW_KEPT])
        if not isinstance(data, dict):
            return Rejected(f"the envelope must be a JSON object, not {_type_name(data)}", raw)
        msg_id = data.get("msg_id")
        good_id = msg_id if isinstance(msg_id, str) and MSG_ID.match(msg_id) else None
        topic = data.get("topic") if isinstance(data.get("topic"), str) else None
        problem = self._problem(data)
        if problem is None and _depth_exceeds(data, MAX_DEPTH):
            problem = f"the envelope nests deeper than {MAX_DEPTH} levels"
        if problem is None and self.signatures is not None:
            problem = self.signatures.problem(data, from_datagrepper=from_datagrepper)
        if problem is not None:
            return Rejected(problem, raw[:RAW_KEPT], msg_id=good_id, topic=topic[:MAX_TOPIC] if topic else None)
        username = data.get("username")
        publisher = username or "unknown"
        if isinstance(data.get("certificate"), str):
            publisher += "@" + hashlib.sha1(data["certificate"].encode()).hexdigest()[:12]
        return Envelope(
            topic=data["topic"],
            body=data["msg"],
            msg_id=msg_id,
            timestamp=float(data["timestamp"]),
            i=data.get("i"),
            username=username,
            publisher=publisher,
            data=data,
        )

    @staticmethod
    def _problem(data: dict[str, Any]) -> str | None:
        for name in ("topic", "msg", "msg_id", "timestamp"):
            if name not in data:
                return f"missing field {name!r}"
        topic = data["topic"]
        if not isinstance(topic, str):
            return f"field 'topic' must be a string, not {_type_name(topic)}"
        if len(topic) > MAX_TOPIC or not TOPIC.match(topic):
            return f"field 'topic' is not a dotted topic: {topic[:100]!r}"
        if not isinstance(data["msg"], dict):
            return f"field 'msg' must be a mapping, not {_type_name(data['msg'])}"
        msg_id = data["msg_id"]
        if not isinstance(msg_id, str):
            return f"field 'msg_id' must be a string, not {_type_name(msg_id)}"
        if not MSG_ID.match(msg_id):
            return f"field 'msg_id' is not an id ({MSG_ID.pattern}): {msg_id[:100]!r}"
        stamp = data["timestamp"]
        if isinstance(stamp, bool) or not isinstance(stamp, int | float):
            return f"field 'timestamp' must be a number, not {_type_name(stamp)}"
        if not math.isfinite(stamp) or stamp <= 0 or stamp > time.time() + FUTURE_SLACK:
            return f"field 'timestamp' is not a plausible epoch: {stamp!r}"
        i = data.get("i")
        if i is not None and (isinstance(i, bool) or not isinstance(i, int) or i < 0):
            return f"field 'i' must be a non-negative integer, not {i!r}"[:200]
        username = data.get("username")
        if username is not None and not isinstance(username, str):
            return f"field 'username' must be a string, not {_type_name(username)}"
        for name in ("signature", "certificate", "crypto"):  # null in datagrepper's rows of AMQP messages
            if data.get(name) is not None and not isinstance(data[name], str):
                return f"field {name!r} must be a string, not {_type_name(data[name])}"
        return None
