"""A corpus of malformed and hostile bus messages, each with the reason the listener must give for it.

Frames as they would come off the wire (the relay passes anything on), envelopes with missing or mistyped
fields, bad or missing signatures (fedmsg's gpg scheme: the signature covers ``fedmsg.encoding.dumps(msg)``),
bodies breaking the routed topics' schemas (the publishers' schema packages: Koji's TagV1, Bodhi's
ComposeComposingV1; the rules file's field checks of Bodhi 2's masher.start), a rule's
template failing on a body, and confs the DAG's Params refuse (Airflow answers 400).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from listener_samples import envelope, koji_tag

from relengotron.tools.gpg import generate_key

PREFIX = "org.fedoraproject.dev"
TAG_TOPIC = f"{PREFIX}.buildsys.tag"


def listening_rule() -> dict[str, Any]:
    """A rule listening on the corpus's Bodhi topics that routes nothing (no agent is called so): a topic no rule
    listens on is dropped unjudged, so the corpus's rules must listen for its bodies to be judged."""
    return {
        "name": "s5-bodhi",
        "topics": ["*.bodhi.compose.composing", "*.bodhi.masher.start"],
        "match": {"agent": "s5-nobody"},
        "dag_id": "updates_push",
        "conf": {"agent": "{{ msg.agent }}"},
    }


@dataclass(frozen=True)
class Case:
    name: str
    frames: list[bytes]
    reason: str  # a substring of the dead letter's reason
    msg_id: str | None = None  # set when the dead letter can be found by it


@dataclass(frozen=True)
class Signer:
    """A GnuPG home (short path: gpg's agent socket must fit) with one key that signs fedmsg envelopes."""

    home: Path
    fingerprint: str

    def sign(self, message: dict[str, Any]) -> dict[str, Any]:
        import fedmsg.crypto.gpg
        import fedmsg.encoding

        signed = fedmsg.crypto.gpg.sign(dict(message), gpg_home=str(self.home), gpg_signing_key=self.fingerprint)
        signature = signed["signature"]
        signed["signature"] = signature.decode() if isinstance(signature, bytes) else signature
        assert fedmsg.encoding.dumps(signed["msg"]) == fedmsg.encoding.dumps(message["msg"])
        return signed


@contextmanager
def signer(name: str) -> Iterator[Signer]:
    home = Path(tempfile.mkdtemp(prefix="rl-gpg-", dir="/tmp"))
    try:
        key = generate_key(home, name, f"{name.lower()}@example.test")
        yield Signer(home, key.fingerprint)
    finally:
        env = {**os.environ, "GNUPGHOME": str(home)}
        subprocess.run(["gpgconf", "--kill", "all"], env=env, capture_output=True, check=False)
        subprocess.run(["rm", "-rf", str(home)], check=False)


def good(nvr: str, *, i: int | None = None, username: str = "koji") -> dict[str, Any]:
    return envelope("buildsys.tag", koji_tag("rawhide-pending", nvr), i=i or 1, username=username, prefix=PREFIX)


def _frames(message: Any, topic: str | None = None) -> list[bytes]:
    topic = topic if topic is not None else (message.get("topic") if isinstance(message, dict) else TAG_TOPIC)
    return [str(topic).encode(), json.dumps(message).encode()]


def corpus(trusted: Signer, stranger: Signer, scenario: str = "s5") -> list[Case]:
    """At least 50 cases; every one must become a dead letter with (part of) its reason."""
    cases: list[Case] = []

    def add(name: str, frames: list[bytes], reason: str, msg_id: str | None = None) -> None:
        cases.append(Case(name, frames, reason, msg_id))

    serial = iter(range(1000))

    def fresh(**changes: Any) -> dict[str, Any]:
        message = good(f"{scenario}-bad{next(serial)}-1.0-1.fc26")
        message.pop("i")
        message.update(changes)
        return message

    # --- frames and bytes
    add("one frame", [TAG_TOPIC.encode()], "expected 2 frames")
    add("three frames", [TAG_TOPIC.encode(), b"{}", b"{}"], "expected 2 frames")
    add("not JSON", [TAG_TOPIC.encode(), b"{not json"], "not JSON")
    add("truncated JSON", [TAG_TOPIC.encode(), json.dumps(fresh()).encode()[:-7]], "not JSON")
    add("empty body", [TAG_TOPIC.encode(), b""], "not JSON")
    add("body not UTF-8", [TAG_TOPIC.encode(), b'{"topic": "\xff\xfe"}'], "not UTF-8")
    add("topic frame not UTF-8", [b"org.\xff.tag", json.dumps(fresh()).encode()], "topic frame is not UTF-8")
    add("JSON array", _frames([1, 2, 3], TAG_TOPIC), "must be a JSON object")
    add("JSON string", _frames("hello", TAG_TOPIC), "must be a JSON object")
    add("JSON null", _frames(None, TAG_TOPIC), "must be a JSON object")
    add("NaN", [TAG_TOPIC.encode(), b'{"topic": "a.b", "timestamp": NaN}'], "NaN is not JSON")
    add("Infinity", [TAG_TOPIC.encode(), b'{"topic": "a.b", "timestamp": Infinity}'], "Infinity is not JSON")
    add("nested 100000 deep", [TAG_TOPIC.encode(), b"[" * 100000 + b"]" * 100000], "oversize")
    bomb = b'{"msg": ' + b"[" * 20000 + b"]" * 20000 + b"}"
    add("nested 20000 deep", [TAG_TOPIC.encode(), bomb], "nests deeper")
    deep = fresh()
    for _ in range(80):
        deep["msg"] = {"inner": deep["msg"]}
    add("nested 80 mappings", _frames(deep), "nests deeper", deep["msg_id"])
    big = fresh()
    big["msg"]["notes"] = "x" * 100_000
    add("oversize", _frames(big), "oversize")
    mismatch = fresh()
    add(
        "topic frame differs", _frames(mismatch, f"{PREFIX}.bodhi.update.request.stable"), "differs", mismatch["msg_id"]
    )

    # --- envelope fields
    for name in ("topic", "msg", "msg_id", "timestamp"):
        message = fresh()
        del message[name]
        add(f"missing {name}", _frames(message, TAG_TOPIC), f"missing field '{name}'", message.get("msg_id"))
    for name, value, reason in [
        ("topic", 42, "'topic' must be a string"),
        ("topic", "buildsys", "not a dotted topic"),
        ("topic", "org.fedoraproject dev.buildsys.tag", "not a dotted topic"),
        ("msg", [1, 2], "'msg' must be a mapping"),
        ("msg", "a string", "'msg' must be a mapping"),
        ("msg", None, "'msg' must be a mapping"),
        ("msg_id", 2016, "'msg_id' must be a string"),
        ("msg_id", "2016 with spaces", "is not an id"),
        ("msg_id", "../../etc/passwd", "is not an id"),
        ("msg_id", "2016-" + "a" * 500, "is not an id"),
        ("timestamp", "yesterday", "'timestamp' must be a number"),
        ("timestamp", True, "'timestamp' must be a number"),
        ("timestamp", -5, "not a plausible epoch"),
        ("timestamp", 32503680000, "not a plausible epoch"),
        ("i", -1, "'i' must be a non-negative integer"),
        ("i", "7", "'i' must be a non-negative integer"),
        ("i", True, "'i' must be a non-negative integer"),
        ("username", 1000, "'username' must be a string"),
        ("signature", 12345, "'signature' must be a string"),
    ]:
        message = fresh(**{name: value})
        topic = message["topic"] if isinstance(message.get("topic"), str) else TAG_TOPIC
        known = message["msg_id"] if name != "msg_id" else None
        add(f"{name}={value!r}"[:60], _frames(message, topic), reason, known)

    # --- signatures (validation is on)
    unsigned = fresh()
    add("unsigned", _frames(unsigned), "unsigned", unsigned["msg_id"])
    garbage = fresh(signature="!!! not base64 !!!", crypto="gpg")
    add("signature not base64", _frames(garbage), "bad signature", garbage["msg_id"])
    noise = fresh(signature=base64.b64encode(os.urandom(300)).decode(), crypto="gpg")
    add("signature random bytes", _frames(noise), "bad signature", noise["msg_id"])
    other = trusted.sign(fresh())
    borrowed = fresh(signature=other["signature"], crypto="gpg")
    add("signature of another message", _frames(borrowed), "bad signature", borrowed["msg_id"])
    foreign = stranger.sign(fresh())
    add("signed by an unknown key", _frames(foreign), "bad signature", foreign["msg_id"])
    tampered = trusted.sign(fresh())
    tampered["msg"]["tag"] = "f24-updates"
    add("tampered after signing", _frames(tampered), "bad signature", tampered["msg_id"])
    unknown_backend = fresh(signature="abc", crypto="rot13")
    add("unknown crypto backend", _frames(unknown_backend), "bad signature", unknown_backend["msg_id"])

    # --- well-formed and signed, but the body breaks the topic's schema or a rule
    def signed_body(topic: str, body: dict[str, Any]) -> dict[str, Any]:
        message = envelope(topic, body, prefix=PREFIX, username="s5-bad")
        message.pop("i")
        return trusted.sign(message)

    body = koji_tag("rawhide-pending", f"{scenario}-schema-1.0-1.fc26")
    for name, change, reason in [
        ("tag body with a null name", {"name": None}, "field 'name': None is not of type 'string'"),
        ("build_id a string", {"build_id": "785412"}, "field 'build_id': '785412' is not of type 'integer'"),
        ("tag an integer", {"tag": 1123}, "field 'tag': 1123 is not of type 'string', 'null'"),
        ("release a list", {"release": ["1.fc26"]}, "field 'release': ['1.fc26'] is not of type 'string'"),
        ("owner a mapping", {"owner": {"name": "x"}}, "TagV1 (koji-fedoramessaging-messages "),
    ]:
        broken = {k: v for k, v in {**body, **change}.items() if v is not ...}
        message = signed_body("buildsys.tag", broken)
        add(name, _frames(message), reason, message["msg_id"])
    compose = {"agent": "bowlofeggs", "repo": "f24-updates", "ctype": "rpm", "updates": [f"{scenario}-c-1-1.fc24"]}
    for name, change, reason in [
        ("compose without repo", {"repo": ...}, "ComposeComposingV1 (bodhi-messages"),
        ("compose agent a number", {"agent": 5}, "field 'agent': 5 is not of type 'string'"),
    ]:
        broken = {k: v for k, v in {**compose, **change}.items() if v is not ...}
        message = signed_body("bodhi.compose.composing", broken)
        add(name, _frames(message), reason, message["msg_id"])
    for name, masher, reason in [
        ("masher.start updates not a list", {"updates": "a-1-1.fc24", "resume": False}, "'updates' must be a list"),
        ("masher.start resume a string", {"updates": ["a-1-1.fc24"], "resume": "no"}, "'resume' must be a boolean"),
    ]:
        message = signed_body("bodhi.masher.start", masher)
        add(name, _frames(message), reason, message["msg_id"])
    no_version = {
        k: v for k, v in koji_tag("rawhide-pending", f"{scenario}-nover-1.0-1.fc26").items() if k != "version"
    }
    message = signed_body("buildsys.tag", no_version)
    add(
        "tag body without version: the rule's conf fails", _frames(message), "no attribute 'version'", message["msg_id"]
    )
    no_user = {k: v for k, v in koji_tag("rawhide-pending", f"{scenario}-nouser-1.0-1.fc26").items() if k != "user"}
    message = signed_body("buildsys.tag", no_user)
    add("rule's when needs a missing field", _frames(message), "has no attribute 'user'", message["msg_id"])

    # --- routed, but the DAG's Params refuse the conf: Airflow answers 400
    for name, nvr in [
        ("NVR with a space", f"{scenario}-sp-1 0-1.fc26"),
        ("NVR with a slash", f"{scenario}-a/b-1-1.fc26"),
    ]:
        message = signed_body("buildsys.tag", koji_tag("rawhide-pending", nvr))
        add(name, _frames(message), "HTTP 400", message["msg_id"])
    return cases


def unknown_topics(trusted: Signer, count: int) -> Iterator[dict[str, Any]]:
    """Signed, well-formed messages on topics no rule knows: counted and dropped, never dead-lettered."""
    for n in range(count):
        message = envelope("fas.user.update", {"agent": f"user{n}", "fields": ["ircnick"]}, prefix=PREFIX)
        message.pop("i")
        message["msg_id"] = f"2016-{uuid.uuid4()}"
        message["timestamp"] = time.time()
        yield trusted.sign(message)


def send_all(send: Callable[[list[bytes]], None], frames: list[list[bytes]]) -> None:
    for one in frames:
        send(one)
