"""Airflow Connections (and the config Variable) that point the pipeline at a running sandbox.

The same production code reaches the sandbox or Fedora only through these: the demo exports them as
``AIRFLOW_CONN_*`` / ``AIRFLOW_VAR_*`` environment variables for ``airflow standalone``; tests set them the same
way. Built from the sandbox's ``endpoints.json``; pure.
"""

from __future__ import annotations

import json
from typing import Any

# Any known user may log in to the sandbox hub with any non-empty password.
KOJI_USER = "releng"
KOJI_PASSWORD = "sandbox"
BUGZILLA_API_KEY = "sandbox-api-key"


TRANSPORTS = ("fedmsg", "amqp")  # the sandbox's services publish on both: the pipeline may use either


def bus_connection(endpoints: dict[str, Any], transport: str = "fedmsg") -> dict[str, Any]:
    """The ``bus_default`` connection on the sandbox's fedmsg relay or its RabbitMQ (pure)."""
    if transport not in TRANSPORTS:
        raise ValueError(f"bus transport {transport!r} is not one of {', '.join(TRANSPORTS)}")
    bus = endpoints["bus"]
    if transport == "amqp":
        if "fedora_messaging_config" not in bus:
            raise ValueError("the sandbox runs no broker: its bus has no fedora_messaging_config")
        return {"conn_type": "generic", "extra": {"transport": "amqp", "config": bus["fedora_messaging_config"]}}
    return {"conn_type": "generic", "extra": {"transport": "fedmsg", "config": bus["fedmsg_config"]}}


def listener_connection(url: str) -> dict[str, Any]:
    """The ``listener_default`` HTTP connection: the listener's /healthz port, which the dashboard asks how the
    listener is (``relengotron.dashboard.probes``). Pure."""
    return {"conn_type": "http", "host": url}


def airflow_connections(
    endpoints: dict[str, Any], *, transport: str = "fedmsg", listener_url: str | None = None
) -> dict[str, dict[str, Any]]:
    """Connection id → Airflow's JSON connection form (conn_type, host, login, password, extra); the pipeline
    publishes on the bus ``transport``; ``listener_url``: where the listener's HTTP port is (the dashboard
    reads its health there), when one runs."""
    listener = {"listener_default": listener_connection(listener_url)} if listener_url else {}
    return {
        **listener,
        "koji_default": {
            "conn_type": "generic",
            "host": endpoints["koji"]["hub"],
            "login": KOJI_USER,
            "password": KOJI_PASSWORD,
            "extra": {"topurl": endpoints["koji"]["topurl"], "poll_interval": 0.2, "retry_interval": 1},
        },
        "pdc_default": {"conn_type": "generic", "host": endpoints["pdc"]["url"], "extra": {"develop": True}},
        "resultsdb_default": {"conn_type": "generic", "host": endpoints["resultsdb"]["url"]},
        "bugzilla_default": {
            "conn_type": "generic",
            "host": endpoints["bugzilla"]["url"],
            "password": BUGZILLA_API_KEY,
        },
        "bus_default": bus_connection(endpoints, transport),
        # Read-only (no login); BodhiClient fetches its provider's metadata when built: the sandbox's provider.
        "bodhi_default": {
            "conn_type": "generic",
            "host": endpoints["bodhi"]["url"],
            "extra": {"id_provider": endpoints["bodhi"]["id_provider"], "client_id": endpoints["bodhi"]["client_id"]},
        },
        "signing_default": {
            "conn_type": "generic",
            "extra": {"backend": "gpg", "gnupghome": endpoints["signing"]["gnupghome"]},
        },
    }


def airflow_environment(
    endpoints: dict[str, Any], *, transport: str = "fedmsg", listener_url: str | None = None
) -> dict[str, str]:
    """``AIRFLOW_CONN_<ID>`` for each connection and ``AIRFLOW_VAR_RELENGOTRON_CONFIG`` for the release config."""
    connections = airflow_connections(endpoints, transport=transport, listener_url=listener_url)
    env = {f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(conn) for conn_id, conn in connections.items()}
    env["AIRFLOW_VAR_RELENGOTRON_CONFIG"] = endpoints["releng"]["config"]
    return env
