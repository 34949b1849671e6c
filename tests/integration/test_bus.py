"""The sandbox bus, driven by the real fedmsg library: relay, archive, datagrepper /raw and /id."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import fedmsg.core
import pytest
import requests

from relengotron.messaging import FedmsgPublisher, load_fedmsg_config
from relengotron_sandbox.bus import BusService
from relengotron_sandbox.service import SandboxContext
from relengotron_sandbox.testing import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def bus(tmp_path: Path, world) -> Iterator[tuple[BusService, dict]]:
    ctx = SandboxContext(state_dir=tmp_path, world=world, built=None)
    service = BusService(ctx)
    endpoints = service.start()
    yield service, endpoints
    service.stop()


class Tail(threading.Thread):
    """A consumer: fedmsg's own tail_messages on the generated config, collecting bodies of one topic."""

    def __init__(self, config: dict, topic_suffix: str) -> None:
        super().__init__(daemon=True)
        self.config = dict(config, mute=True)
        self.suffix = topic_suffix
        self.seen: list[dict] = []
        self.any = threading.Event()
        self.stop_flag = threading.Event()

    def run(self) -> None:
        context = fedmsg.core.FedMsgContext(**self.config)
        for _name, _endpoint, topic, envelope in context.tail_messages():
            self.any.set()
            if topic.endswith(self.suffix):
                self.seen.append(envelope)
            if self.stop_flag.is_set():
                break


def test_publish_relay_tail_archive_and_raw_paging(bus) -> None:
    _service, endpoints = bus
    assert endpoints["relay_inbound"].startswith("tcp://127.0.0.1:")
    assert endpoints["relay_outbound"].startswith("tcp://127.0.0.1:")
    assert endpoints["datagrepper"].startswith("http://127.0.0.1:")
    config = load_fedmsg_config(endpoints["fedmsg_config"])
    tail = Tail(config, "test.counted")
    tail.start()
    publisher = FedmsgPublisher(config)
    # the consumer's subscription needs a moment to reach the relay: warm up until it hears something
    deadline = time.monotonic() + 10
    while not tail.any.is_set() and time.monotonic() < deadline:
        publisher.publish("test", "warmup", {})
        time.sleep(0.05)
    assert tail.any.is_set(), "the consumer never heard the relay"

    sent = 250
    for n in range(sent):
        publisher.publish("test", "counted", {"n": n})
    wait_for("every message tailed", lambda: len(tail.seen) >= sent, 10, every=0.02)
    tail.stop_flag.set()
    publisher.publish("test", "warmup", {})
    publisher.close()
    topic = "org.fedoraproject.dev.test.counted"
    assert [m["msg"]["n"] for m in tail.seen] == list(range(sent))
    assert all(m["topic"] == topic for m in tail.seen)

    url = endpoints["datagrepper"] + "raw"
    pages = []
    for page in (1, 2, 3):
        answer = requests.get(
            url, params={"topic": topic, "rows_per_page": 100, "page": page, "order": "asc"}, timeout=10
        ).json()
        assert answer["total"] == sent and answer["pages"] == 3
        assert answer["count"] == len(answer["raw_messages"])
        pages.append(answer)
    assert [p["count"] for p in pages] == [100, 100, 50]
    archived = [m for p in pages for m in p["raw_messages"]]
    assert [m["msg"]["n"] for m in archived] == list(range(sent))
    assert [m["msg_id"] for m in archived] == [m["msg_id"] for m in tail.seen]

    newest_first = requests.get(url, params={"topic": topic, "rows_per_page": 10}, timeout=10).json()
    assert [m["msg"]["n"] for m in newest_first["raw_messages"]] == list(range(sent - 1, sent - 11, -1))

    one = archived[42]
    found = requests.get(endpoints["datagrepper"] + "id", params={"id": one["msg_id"]}, timeout=10)
    assert found.status_code == 200 and found.json() == one


def test_a_new_publisher_s_first_message_reaches_the_relay(bus) -> None:
    # what a publishing task does: build a publisher, publish once, close. A PUB socket drops messages until
    # the relay's subscription has reached it; the publisher waits for that subscription (no fixed sleep)
    _service, endpoints = bus
    config = load_fedmsg_config(endpoints["fedmsg_config"])
    for n in range(20):
        publisher = FedmsgPublisher(config)
        publisher.publish("test", "first", {"n": n})
        publisher.close()
    url = endpoints["datagrepper"] + "raw"
    topic = "org.fedoraproject.dev.test.first"

    def archived() -> list[int] | None:
        answer = requests.get(url, params={"topic": topic, "rows_per_page": 100, "order": "asc"}, timeout=10)
        found = [m["msg"]["n"] for m in answer.json()["raw_messages"]]
        return found if len(found) >= 20 else None

    assert wait_for("the 20 first messages archived", archived, 10) == list(range(20))


def test_raw_time_window_and_topic_filters(bus) -> None:
    _service, endpoints = bus
    config = load_fedmsg_config(endpoints["fedmsg_config"])
    publisher = FedmsgPublisher(config)
    publisher.publish("buildsys", "tag", {"n": 1})
    # fedmsg stamps whole seconds: let a second boundary pass between the first message and the others
    first_second = int(time.time())
    while int(time.time()) == first_second:
        time.sleep(0.02)
    middle = int(time.time())
    publisher.publish("buildsys", "untag", {"n": 2})
    publisher.publish("bodhi", "update.request.stable", {"n": 3})
    publisher.close()
    url = endpoints["datagrepper"] + "raw"
    wait_for("three archived", lambda: requests.get(url, timeout=5).json()["total"] >= 3, 10, every=0.02)

    after = requests.get(url, params={"start": middle, "order": "asc"}, timeout=5).json()
    assert [m["msg"]["n"] for m in after["raw_messages"]] == [2, 3]
    before = requests.get(url, params={"end": middle - 0.5}, timeout=5).json()
    assert [m["msg"]["n"] for m in before["raw_messages"]] == [1]
    recent = requests.get(url, params={"delta": 60, "order": "asc"}, timeout=5).json()
    assert [m["msg"]["n"] for m in recent["raw_messages"]] == [1, 2, 3]
    two_topics = requests.get(
        url,
        params={
            "topic": [
                "org.fedoraproject.dev.buildsys.tag",
                "org.fedoraproject.dev.bodhi.update.request.stable",
            ]
        },
        timeout=5,
    ).json()
    assert sorted(m["msg"]["n"] for m in two_topics["raw_messages"]) == [1, 3]


@pytest.mark.parametrize(
    ("params", "word"),
    [
        ({"page": "0"}, "page"),
        ({"page": "x"}, "page"),
        ({"rows_per_page": "1000"}, "rows_per_page"),
        ({"start": "yesterday"}, "start"),
        ({"order": "sideways"}, "order"),
    ],
)
def test_raw_rejects_bad_arguments_naming_them(bus, params: dict, word: str) -> None:
    _service, endpoints = bus
    answer = requests.get(endpoints["datagrepper"] + "raw", params=params, timeout=5)
    assert answer.status_code == 400
    assert word in answer.json()["detail"]


def test_id_unknown_is_404(bus) -> None:
    _service, endpoints = bus
    answer = requests.get(endpoints["datagrepper"] + "id", params={"id": "2026-nope"}, timeout=5)
    assert answer.status_code == 404


def test_services_publish_through_the_context(bus, tmp_path: Path) -> None:
    service, endpoints = bus
    service.ctx.publish("buildsys", "tag", {"name": "bash"})
    url = endpoints["datagrepper"] + "raw"
    wait_for("one archived", lambda: requests.get(url, timeout=5).json()["total"] == 1, 10, every=0.02)
    message = requests.get(url, timeout=5).json()["raw_messages"][0]
    assert message["topic"] == "org.fedoraproject.dev.buildsys.tag"
    assert message["msg"] == {"name": "bash"}
    assert message["msg_id"] and message["i"] == 1 and message["timestamp"]


def test_hostile_messages_do_not_stop_the_relay(bus) -> None:
    """Frames a hostile publisher may send — JSON nested far too deep, a non-numeric or infinite timestamp, a
    non-text topic — are relayed as they are but not archived; the relay goes on archiving good messages."""
    import json

    import zmq

    service, endpoints = bus
    push = zmq.Context.instance().socket(zmq.PUB)
    push.connect(endpoints["relay_inbound"])
    try:
        hostile = [
            b"[" * 100_000 + b"]" * 100_000,
            json.dumps({"msg_id": "2016-bad-ts", "topic": "t", "timestamp": "yesterday", "msg": {}}).encode(),
            json.dumps({"msg_id": "2016-inf-ts", "topic": "t", "timestamp": "1e999", "msg": {}}).encode(),
            json.dumps({"msg_id": "2016-bad-topic", "topic": ["t"], "msg": {}}).encode(),
        ]
        good = {"msg_id": "2016-good", "topic": "org.fedoraproject.dev.test.good", "timestamp": 1.0, "msg": {}}
        url = endpoints["datagrepper"] + "id"
        deadline = time.monotonic() + 15
        while requests.get(url, params={"id": "2016-good"}, timeout=10).status_code != 200:
            assert time.monotonic() < deadline, "the good message never reached the archive"
            for frame in hostile:  # again each round: the first ones may go before the relay hears us
                push.send_multipart([b"org.fedoraproject.dev.test.hostile", frame])
            push.send_multipart([good["topic"].encode(), json.dumps(good).encode()])
            time.sleep(0.1)
    finally:
        push.close(linger=0)
    assert service.malformed >= len(hostile)
    for msg_id in ("2016-bad-ts", "2016-inf-ts", "2016-bad-topic"):
        assert requests.get(url, params={"id": msg_id}, timeout=10).status_code == 404
