"""releng-o-tron publishing on AMQP, against a real RabbitMQ (the sandbox's, on 127.0.0.1): the bus connection
with ``"transport": "amqp"`` sends a message as its relengotron-messages class, persistent, confirmed by the
broker, under the configured topic prefix; a consumer with fedora-messaging and the schema package reads it as
that class; a broker that is down is a transient error after the publish timeout, a refused body is never sent.

Each publish runs in a process of its own, as an Airflow task does: fedora-messaging keeps one configuration and
one connection per process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pika
import pytest
from fedora_messaging.message import get_message

from relengotron_sandbox.broker import Broker, running

pytestmark = pytest.mark.integration

PREFIX = "org.fedoraproject.stg"
EOL = {"release": "f21", "name": "Fedora 21", "version": "21", "pdc_release": "fedora-21", "eol_date": "2015-12-01"}
TASK = """
import json, sys
from airflow.sdk.exceptions import AirflowFailException
from operators.bus_publish import BusPublishOperator
from relengotron.messaging import PublishTransientError
topic, body = sys.argv[1], json.loads(sys.argv[2])
op = BusPublishOperator(task_id="publish", topic=topic, body=body)
try:
    print("RESULT", json.dumps(op.execute({})))
except AirflowFailException as exc:
    print("RESULT", json.dumps({"failed": str(exc)}))
except PublishTransientError as exc:
    print("RESULT", json.dumps({"retry": str(exc)}))
"""


def _config(broker: Broker, directory: Path) -> Path:
    path = directory / "fedora-messaging.toml"
    path.write_text(f'amqp_url = "{broker.url}"\ntopic_prefix = "{PREFIX}"\npublish_exchange = "amq.topic"\n')
    return path


def _task(config: Path, topic: str, body: dict) -> dict:
    """Run the BusPublishOperator in a fresh process with the bus connection on AMQP (a publish waits 5 s at
    most for the broker's confirm); what it returned."""
    extra = {"transport": "amqp", "config": str(config), "timeout": 5}
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "plugins"),
        "AIRFLOW_CONN_BUS_DEFAULT": json.dumps({"conn_type": "generic", "extra": extra}),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    done = subprocess.run(
        [sys.executable, "-c", TASK, topic, json.dumps(body)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    [result] = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    return json.loads(result.removeprefix("RESULT "))


def test_a_message_is_confirmed_persistent_and_read_back_as_its_class(tmp_path: Path) -> None:
    with running(tmp_path / "broker") as broker:
        connection = pika.BlockingConnection(pika.URLParameters(broker.url))
        try:
            channel = connection.channel()
            queue = channel.queue_declare("test-relengotron", durable=True).method.queue
            channel.queue_bind(queue, "amq.topic", routing_key=f"{PREFIX}.relengotron.#")
            config = _config(broker, tmp_path)
            assert _task(config, "release.eol", EOL) == {"modname": "relengotron", "topic": "release.eol"}
            refused = _task(config, "release.eol", {"release": "f21"})  # its schema requires more
            assert "does not follow ReleaseEolV1's schema" in refused["failed"]
            method, properties, body = channel.basic_get(queue, auto_ack=True)
            assert method is not None and channel.basic_get(queue)[0] is None  # one message: the refused never left
        finally:
            connection.close()
    assert method.routing_key == f"{PREFIX}.relengotron.release.eol"
    assert properties.delivery_mode == 2  # persistent: it survives a broker restart in a durable queue
    assert properties.headers["fedora_messaging_schema"] == "relengotron.release.eol.v1"
    got = get_message(method.routing_key, properties, body)  # what a consumer's fedora-messaging hands over
    assert type(got).__name__ == "ReleaseEolV1" and got.body == EOL
    assert str(got) == "releng-o-tron ended the life of Fedora 21 on 2015-12-01"


def test_a_broker_that_is_down_is_worth_a_retry(tmp_path: Path) -> None:
    with running(tmp_path / "broker") as broker:
        config = _config(broker, tmp_path)
        broker.stop()
        found = _task(config, "release.eol", EOL)
    assert "the broker did not confirm the message" in found["retry"], found
