"""The listener as the demo runs it: ``relengotron listener run`` on the sandbox's bus, triggering runs in the
embedded Airflow as the ``releng-listener`` user, with the SHIPPED rules (config/listener-rules.yaml) at demo
pace.

Demo pace is the only difference from the shipped rules, and it changes no decision: every batch window is
shortened (a push batch waits 300 s in production; a demo cannot), and the confs of the DAGs that poll Koji and
ResultsDB ask for a 1 s poll instead of their production default. Which messages match, which DAG runs, with
which updates, builds and keys — all as shipped.
"""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import requests
import yaml

from relengotron.tools.files import write_atomic
from relengotron_sandbox import testing

SHIPPED_RULES = testing.REPO / "config" / "listener-rules.yaml"
DEMO_WINDOW = 2.0  # seconds a batch collects messages in the demo (an act publishes within milliseconds)
DEMO_POLL = 1.0  # seconds between looks at Koji/ResultsDB in the demo's runs
# The conf key each polling DAG reads its poll interval from.
POLL_KEYS = {"updates_push": "poll_interval", "rawhide_gating": "checks_poll_interval"}
START_TIMEOUT = 60.0


class ListenerEmbedError(testing.ProcessError):
    """The demo's listener could not be configured or did not come up."""


def demo_rules(shipped: Mapping[str, Any], *, window: float = DEMO_WINDOW, poll: float = DEMO_POLL) -> dict[str, Any]:
    """The shipped rules at demo pace (pure): batch windows at most ``window`` seconds, and ``poll`` added to
    the conf of the DAGs in :data:`POLL_KEYS`. Everything else is left as it is."""
    rules = copy.deepcopy(dict(shipped))
    for rule in rules.get("rules") or []:
        batch = rule.get("batch")
        if isinstance(batch, dict) and "window_seconds" in batch:
            batch["window_seconds"] = min(float(batch["window_seconds"]), window)
        key = POLL_KEYS.get(rule.get("dag_id", ""))
        if key and isinstance(rule.get("conf"), dict):
            rule["conf"][key] = poll
    return rules


DEMO_QUEUE = "relengotron-demo-listener"  # the demo listener's durable queue on the sandbox's RabbitMQ


def listener_config(
    endpoints: Mapping[str, Any],
    airflow_url: str,
    username: str,
    *,
    password_file: str,
    rules_file: str,
    amqp: Mapping[str, Any] | None = None,
    http_port: int = 0,
) -> dict[str, Any]:
    """The listener's config for the sandbox bus and the embedded Airflow (pure; paths relative to the file): on
    the fedmsg relay, or with ``amqp`` (its ``bus.amqp`` block, :func:`relengotron_sandbox.broker.listener_amqp`)
    on the sandbox's RabbitMQ. ``http_port``: its /healthz port on 127.0.0.1 (0: any free one)."""
    bus = endpoints["bus"]
    if amqp is None:
        bus_config: dict[str, Any] = {"fedmsg_config": bus["fedmsg_config"], "subscribe": "", "settle_seconds": 0.5}
    else:
        bus_config = {"transport": "amqp", "settle_seconds": 0.5, "amqp": dict(amqp)}
    return {
        "bus": bus_config,
        "datagrepper": {"url": bus["datagrepper"], "initial_replay_seconds": 5},
        "airflow": {
            "url": airflow_url,
            "username": username,
            "password_file": password_file,
            "timeout_seconds": 30,
            "retry": {"initial_seconds": 0.5, "max_seconds": 5},
        },
        "inbox": {"path": "inbox.sqlite", "synchronous": "NORMAL"},
        "rules": rules_file,
        "release_config": endpoints["releng"]["config"],  # the sandbox's releases and tags, for the rules' helpers
        "http": {"host": "127.0.0.1", "port": http_port},
        # The sandbox's publishers do not sign (its bus config has no sign_messages), so signature validation is
        # off here; production turns it on (config/listener.yaml). tests/integration/test_listener_x509.py runs
        # the listener with it on against signing publishers (relengotron_sandbox.pki's CA).
        "validation": {"signatures": False},
        "logging": {"level": "INFO"},
    }


def write_files(
    directory: Path,
    endpoints: Mapping[str, Any],
    airflow_url: str,
    username: str,
    password: str,
    *,
    transport: str = "fedmsg",
    http_port: int = 0,
) -> Path:
    """Write the demo's rules, the listener's config and its password files into ``directory``; the config's
    path. The listener consumes from the bus ``transport`` (fedmsg, or amqp: the sandbox's RabbitMQ, a durable
    queue of its own). Idempotent: the same inputs write the same files. A rules file the listener would refuse
    is an error naming the file, line and rule."""
    from relengotron.listener.config import load_config
    from relengotron.yamlfile import FileError

    shipped = yaml.safe_load(SHIPPED_RULES.read_text())
    header = (
        f"# The shipped rules ({SHIPPED_RULES}) at demo pace: see sandbox/relengotron_sandbox/demo/listener_embed.py.\n"
    )
    write_atomic(directory / "rules.yaml", (header + yaml.safe_dump(demo_rules(shipped), sort_keys=False)).encode())
    write_atomic(directory / "airflow.password", password.encode(), mode=0o600)
    amqp = None
    if transport == "amqp":
        from relengotron_sandbox.broker import listener_amqp

        amqp = listener_amqp(endpoints["bus"]["amqp_url"], directory, queue=DEMO_QUEUE)
    elif transport != "fedmsg":
        raise ListenerEmbedError(f"bus transport {transport!r} is not fedmsg or amqp")
    config = listener_config(
        endpoints,
        airflow_url,
        username,
        password_file="airflow.password",
        rules_file="rules.yaml",
        amqp=amqp,
        http_port=http_port,
    )
    config_path = write_atomic(directory / "listener.yaml", yaml.safe_dump(config, sort_keys=False).encode())
    try:
        load_config(config_path).load_rules()  # the rules with the release configuration they read
    except FileError as exc:
        raise ListenerEmbedError(str(exc)) from None
    return config_path


def dag_ids(rules_path: Path) -> list[str]:
    """The DAGs the rules trigger (these must be unpaused for the scenario to run); the rules were checked when
    written (:func:`write_files`)."""
    rules = yaml.safe_load(rules_path.read_text())["rules"]
    return sorted({rule["dag_id"] for rule in rules})


def start(config_path: Path, log: Path) -> testing.Process:
    """Start ``relengotron listener run --config CONFIG``; not idempotent (record it, stop it)."""
    argv = [sys.executable, "-m", "relengotron.cli", "listener", "run", "--config", str(config_path)]
    marker = f"listener run --config {config_path}"
    return testing.start("listener", argv, log=log, env=testing.child_env(), cwd=config_path.parent, marker=marker)


def runtime_file(config_path: Path) -> Path:
    """Where the running listener writes its pid and HTTP address (the inbox's runtime file)."""
    from relengotron.listener.config import load_config

    return load_config(config_path).runtime_path


def wait_ready(config_path: Path, process: testing.Process, timeout: float = START_TIMEOUT) -> str:
    """Wait until the listener is subscribed (``/healthz`` ready); its HTTP address. A
    :class:`relengotron_sandbox.testing.ProcessError` if it exits or is not ready in time."""
    runtime = runtime_file(config_path)

    def ready() -> str:
        url = json.loads(runtime.read_text())["http"]
        answer = requests.get(f"{url}/healthz", timeout=5)
        if answer.status_code != 200:
            raise ValueError("; ".join(answer.json().get("problems") or []) or f"HTTP {answer.status_code}")
        return str(url)

    return testing.wait_for("the listener ready (/healthz)", ready, timeout, watch=[process])


def health(url: str) -> dict[str, Any]:
    """The listener's ``/healthz`` answer (``pending``: messages not yet acknowledged by Airflow)."""
    return dict(requests.get(f"{url}/healthz", timeout=5).json())
