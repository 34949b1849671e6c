"""The Airflow seam's own pieces: which connections an operator names, clients built on first use and closed
after, the signer factory, what a task reads from its run, and the DAGs' parameter schemas checked against
what the library accepts."""

from __future__ import annotations

import copy
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from relengotron.airflow.arguments import run_time, xcom_list, xcom_lists
from relengotron.airflow.connections import Connections, Lazy, TaskClients, release_signer
from relengotron.airflow.dag_defaults import BODHI_UPDATE
from relengotron.artifacts import load_release_config
from relengotron.push import PushError

REPO = Path(__file__).resolve().parents[2]


def test_an_operator_names_its_connections_the_provider_way() -> None:
    op = SimpleNamespace(koji_conn_id="koji_staging", mirror_ssh_conn_id="mirror_eu", pdc_conn_id=None)
    assert Connections.of(op) == Connections(koji="koji_staging", mirror_ssh="mirror_eu")
    assert Connections.of(object()) == Connections()


class _Client:
    def __init__(self, name: str, log: list[str]) -> None:
        self.name, self.log = name, log

    def close(self) -> None:
        self.log.append(f"closed {self.name}")


def test_clients_are_built_on_first_use_and_only_those_are_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    log: list[str] = []

    def hook(name: str) -> type:
        class Hook:
            def __init__(self, conn_id: str) -> None:
                log.append(f"{name} from {conn_id}")

            @property
            def client(self) -> _Client:
                return _Client(name, log)

        return Hook

    monkeypatch.setattr("relengotron.airflow.hooks.KojiHook", hook("koji"))
    monkeypatch.setattr("relengotron.airflow.hooks.PDCHook", hook("pdc"))
    with ExitStack() as stack:
        clients = TaskClients(Connections(koji="koji_staging"), stack)
        assert log == []  # nothing is read before a client is used
        assert clients.koji is clients.koji and clients.pdc.name == "pdc"
        lazy = clients.lazy("resultsdb")
        assert isinstance(lazy, Lazy) and not lazy.built  # never used: never built, never closed
    assert log == ["koji from koji_staging", "pdc from pdc_default", "closed pdc", "closed koji"]


def test_the_signer_is_the_release_keys_and_reads_its_connection_only_when_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = load_release_config(REPO / "config" / "fedora.yaml")
    made: list[str] = []
    monkeypatch.setattr("relengotron.airflow.hooks.SigningHook.signer", lambda self, key: made.append(key) or key)
    signer = release_signer(config, "f24", Connections())
    assert made == [] and isinstance(signer, Lazy)
    assert signer.upper() == config.release("f24").signing_key.upper()  # first use builds it
    assert made == [config.release("f24").signing_key]
    unsigned = {r.id for r in config.releases.values() if r.signing_key is None}
    assert all(release_signer(config, r, Connections()) is None for r in unsigned)


def test_the_run_time_is_the_runs_and_mapped_results_come_as_lists() -> None:
    when = datetime(2016, 6, 14, 12, 0)
    assert run_time({"dag_run": SimpleNamespace(run_after=when)}) == when.replace(tzinfo=UTC)
    assert run_time({}).tzinfo is UTC
    assert xcom_list(None) == [] and xcom_list({"a": 1}) == [{"a": 1}] and xcom_list([1, None, 2]) == [1, 2]
    assert xcom_lists([[{"t": 1}, None], None, {"t": 2}]) == [{"t": 1}, {"t": 2}]


def _valid(schema: dict[str, Any], value: Any) -> bool:
    from airflow.sdk import Param
    from airflow.sdk.exceptions import ParamValidationError

    try:
        Param(copy.deepcopy(value), **schema).resolve()
    except ParamValidationError:
        return False
    return True


def test_a_bodhi_update_the_form_accepts_is_one_the_library_accepts() -> None:
    from relengotron.push import parse_entries

    for good in ("glibc-2.23.1-8.fc24", "curl-7.47.1-6.fc24 libcurl-7.47.1-6.fc24"):
        assert _valid(BODHI_UPDATE, good) and parse_entries([good])
    for bad in ("glibc", "a-1-1  b-1-1", " a-1-1", "a-1-1 ", "a/b-1-1"):
        assert not _valid(BODHI_UPDATE, bad), bad
        with pytest.raises(PushError):
            parse_entries([bad])
