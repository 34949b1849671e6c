"""Hooks turn Airflow Connections into the library's adapters: the same code reaches the sandbox or Fedora."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from relengotron.airflow.hooks import (
    BugzillaHook,
    BusHook,
    KojiHook,
    PDCHook,
    ResultsDBHook,
    SigningHook,
    release_config,
)
from relengotron.messaging import PublishError

pytestmark = pytest.mark.integration


def test_each_hook_reaches_its_sandbox_service(airflow_connections: dict[str, Any]) -> None:
    endpoints = airflow_connections
    koji = KojiHook().client
    try:
        assert {b.nvr for b in koji.latest_tagged("f24-signing-pending")} == {
            "bash-4.3.42-6.fc24",
            "openssh-7.2p2-10.fc24",
        }
    finally:
        koji.close()
    assert PDCHook().client.release("fedora-24")["active"] is True
    assert ResultsDBHook().client.latest(["coreutils-8.25-15.fc26"], type="koji_build") == []
    assert [b.id for b in BugzillaHook().client.open_bugs("Fedora", "23")] == [1300101, 1300102, 1300103]

    config = release_config()
    assert config.release("f24").signing_key == endpoints["signing"]["key_id"]
    signer = SigningHook().signer(config.release("f24").signing_key)
    assert signer.fingerprint == endpoints["signing"]["fingerprint"]

    eol = {"release": "f21", "name": "Fedora 21", "version": "21", "pdc_release": "fedora-21", "eol_date": "2015-12-01"}
    publisher = BusHook().publisher
    with pytest.raises(PublishError, match=r"relengotron\.hooks\.test.: releng-o-tron publishes no message"):
        publisher.publish("relengotron", "hooks.test", {"hello": "bus"})  # only what has a schema is sent
    publisher.publish("relengotron", "release.eol", eol)
    publisher.close()
    url = endpoints["bus"]["datagrepper"] + "raw"
    topic = "org.fedoraproject.dev.relengotron.release.eol"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = requests.get(url, params={"topic": topic}, timeout=5).json()["raw_messages"]
        if found:
            break
        time.sleep(0.05)
    assert [m["msg"] for m in found] == [eol]


def test_a_connection_with_an_unknown_field_is_refused_naming_it(
    airflow_connections: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_PDC_BROKEN", '{"conn_type": "generic", "host": "http://x/", "extra": {"colour": 1}}'
    )
    with pytest.raises(ValueError, match="pdc connection: unknown field\\(s\\) colour"):
        PDCHook("pdc_broken").client  # noqa: B018 — building the client is what is tested
