"""BusPublishOperator at the publisher seam: what reaches the bus, skips, bad input, bad configuration."""

from __future__ import annotations

import json
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException
from operators.bus_publish import BusPublishOperator

from relengotron.airflow.hooks import BusHook


class FakeBus:
    def __init__(self) -> None:
        self.messages: list[tuple[str, str, dict[str, Any]]] = []
        self.publishers = 0
        self.closed = 0
        self.down = False

    def publisher(self) -> Any:
        bus = self
        bus.publishers += 1

        class Publisher:
            def publish(self, modname: str, topic: str, msg: dict[str, Any]) -> None:
                if bus.down:
                    raise ConnectionError("relay unreachable")
                bus.messages.append((modname, topic, msg))

            def close(self) -> None:
                bus.closed += 1

        return Publisher()


@pytest.fixture
def bus(monkeypatch: pytest.MonkeyPatch) -> FakeBus:
    fake = FakeBus()
    monkeypatch.setattr(BusHook, "publisher", property(lambda self: fake.publisher()))
    return fake


BODY = {"release": "rawhide", "packages": ["python3-requests"], "usernames": ["ralph"]}


def publish(**kwargs: Any) -> Any:
    return BusPublishOperator(task_id="p", **{"topic": "rawhide.gating.quarantined", "body": BODY, **kwargs}).execute(
        {}
    )


def test_the_body_is_published_on_the_topic(bus: FakeBus) -> None:
    assert publish() == {"modname": "relengotron", "topic": "rawhide.gating.quarantined"}
    assert bus.messages == [("relengotron", "rawhide.gating.quarantined", BODY)]
    assert bus.closed == 1


def test_each_run_publishes_once_at_least_once_delivery(bus: FakeBus) -> None:
    publish()
    publish(modname="bodhi", topic="update.push")
    assert [m[:2] for m in bus.messages] == [("relengotron", "rawhide.gating.quarantined"), ("bodhi", "update.push")]


@pytest.mark.parametrize("body", [None, {}])
def test_nothing_to_publish_is_skipped_without_a_publisher(bus: FakeBus, body: Any) -> None:
    with pytest.raises(AirflowSkipException, match="nothing to publish"):
        publish(body=body)
    assert bus.publishers == 0 and bus.messages == []


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"topic": ""}, "topic"),
        ({"topic": "a topic"}, "topic"),
        ({"modname": None}, "modname"),
        ({"body": ["not", "a", "mapping"]}, "expected a mapping"),
        ({"body": {"when": object()}}, "not JSON-able"),
    ],
)
def test_bad_input_fails_at_once(bus: FakeBus, kwargs: dict[str, Any], error: str) -> None:
    with pytest.raises(AirflowFailException, match=error):
        publish(**kwargs)
    assert bus.messages == []


def test_an_unreachable_bus_is_raised_for_a_retry_and_the_publisher_closed(bus: FakeBus) -> None:
    bus.down = True
    with pytest.raises(ConnectionError):
        publish()
    assert bus.closed == 1 and bus.messages == []


def test_a_connection_without_fedmsg_config_fails_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(BusHook, "fields", property(lambda self: {}))
    with pytest.raises(AirflowFailException, match="extra 'config'"):
        publish()


def test_a_missing_connection_fails_at_once_naming_it() -> None:
    with pytest.raises(AirflowFailException, match="no_such_bus"):
        publish(bus_conn_id="no_such_bus")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"transport": "stomp", "config": "/x"}, "extra 'transport' is 'stomp', not one of fedmsg, amqp"),
        ({"transport": "amqp"}, "extra 'config' \\(the amqp config file\\) is required"),
        ({"transport": "amqp", "config": "/x", "timeout": "soon"}, "extra 'timeout' is not a number of seconds"),
        ({"config": "/x", "timeout": 5}, "extra 'timeout' is for the amqp transport only"),
        ({"config": "/x", "colour": 1}, "unknown field\\(s\\) colour"),
    ],
)
def test_a_bus_connection_says_what_is_wrong_with_it(
    monkeypatch: pytest.MonkeyPatch, extra: dict, message: str
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_BUS_BROKEN", json.dumps({"conn_type": "generic", "extra": extra}))
    with pytest.raises(ValueError, match=f"connection 'bus_broken': {message}"):
        BusHook("bus_broken").publisher  # noqa: B018 — building the publisher is what is tested


def test_the_amqp_transport_is_a_fedora_messaging_publisher(monkeypatch: pytest.MonkeyPatch) -> None:
    from relengotron.amqp import AmqpPublisher

    extra = {"transport": "amqp", "config": "/etc/fedora-messaging/relengotron.toml", "timeout": 7}
    monkeypatch.setenv("AIRFLOW_CONN_BUS_AMQP", json.dumps({"conn_type": "generic", "extra": extra}))
    publisher = BusHook("bus_amqp").publisher
    assert isinstance(publisher, AmqpPublisher) and (str(publisher.config), publisher.timeout) == (extra["config"], 7)
