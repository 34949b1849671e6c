"""`relengotron-sandbox up/down` as a user runs them: loopback only, every service answers, nothing left behind."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import koji
import psutil
import pytest
import requests
from pdc_client import PDCClient

from relengotron.artifacts import load_release_config
from relengotron_sandbox.testing import session_processes

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / "var" / "cache" / "world"


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "relengotron_sandbox.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
    )


def listening_addresses(pids: list[int]) -> set[tuple[str, int]]:
    found = set()
    for pid in pids:
        try:
            connections = psutil.Process(pid).net_connections(kind="inet")
        except psutil.NoSuchProcess:
            continue
        found.update((c.laddr.ip, c.laddr.port) for c in connections if c.status == psutil.CONN_LISTEN)
    return found


def test_up_serves_on_loopback_only_and_down_leaves_nothing(tmp_path: Path, built_world) -> None:
    state = tmp_path / "state"
    started = time.monotonic()
    result = cli("up", "--state", str(state), "--cache", str(CACHE))
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr + result.stdout
    print(f"sandbox up on a built world took {elapsed:.1f} s")  # reported, not asserted: no timed tests
    endpoints = json.loads((state / "endpoints.json").read_text())
    pid = endpoints["sandbox"]["pid"]
    try:
        processes = session_processes(pid)
        assert pid in processes
        listening = listening_addresses(processes)
        assert listening, "the sandbox listens on nothing"
        assert {ip for ip, _ in listening} == {"127.0.0.1"}, listening
        # every endpoint in the file is one of those sockets
        urls = [
            endpoints["koji"]["hub"],
            endpoints["pdc"]["url"],
            endpoints["resultsdb"]["url"],
            endpoints["bugzilla"]["url"],
            endpoints["bus"]["datagrepper"],
            endpoints["bus"]["relay_inbound"],
            endpoints["bus"]["relay_outbound"],
        ]
        ports = {int(url.split(":")[2].split("/")[0]) for url in urls}
        assert ports <= {port for _, port in listening}

        # the release configuration the pipeline will use, rendered for this world's key
        config = load_release_config(endpoints["releng"]["config"])
        assert {r.signing_key for r in config.releases.values()} == {endpoints["signing"]["key_id"]}
        assert config.ostree.repo.is_relative_to(state)

        # each answers through its real client
        session = koji.ClientSession(endpoints["koji"]["hub"])
        assert session.getTag("f24")["name"] == "f24"
        pdc = PDCClient(server=endpoints["pdc"]["url"], develop=True)
        assert {r["release_id"] for r in pdc["releases"].results()} >= {"fedora-23", "fedora-24"}
        assert requests.get(endpoints["bus"]["datagrepper"] + "raw", timeout=5).status_code == 200

        # up again while up: idempotent, same daemon
        again = cli("up", "--state", str(state), "--cache", str(CACHE))
        assert again.returncode == 0, again.stderr
        assert json.loads((state / "endpoints.json").read_text())["sandbox"]["pid"] == pid
    finally:
        down = cli("down", "--state", str(state))
    assert down.returncode == 0, down.stderr
    assert "sandbox stopped" in down.stdout
    assert session_processes(pid) == []
    assert not (state / "endpoints.json").exists()
    # down again: nothing to do, still success
    assert "no sandbox was running" in cli("down", "--state", str(state)).stdout


def test_up_with_a_bad_world_names_the_file_and_item_and_starts_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "signing_key: {name: K, email: k@example.test}\n"
        "releases:\n"
        "  f24: {name: Fedora 24, version: 24, state: active, dist: fc24, tags: {build: f24}}\n"
        "packages:\n"
        "  - name: bash\n"
        "    owner: kdudka\n"
        "    summary: shell\n"
        "    builds:\n"
        "      - {version: '1', release: 1.fc24, tags: [f24], requires: ['glibc >== 2']}\n"
    )
    state = tmp_path / "state"
    result = cli("up", "--world", str(bad), "--state", str(state), "--cache", str(tmp_path / "cache"))
    assert result.returncode != 0
    assert str(bad) in result.stderr
    assert "packages[0].builds[0].requires[0]" in result.stderr
    assert ">==" in result.stderr
    assert not (state / "sandbox.pid").exists()
    assert not list((tmp_path / "cache").glob("*/manifest.json"))
