"""`relengotron demo`: the sandbox comes up and the tour's event chain really happens."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from resultsdb_api import ResultsDBapi

from relengotron.sandbox.control import down, session_processes

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def test_demo_tour_runs_the_gating_checks_and_leaves_the_sandbox_up(tmp_path: Path, built_world) -> None:
    state = tmp_path / "state"
    result = subprocess.run(
        [sys.executable, "-m", "relengotron.cli", "demo", "--state", str(state)],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=REPO,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr + result.stdout
    endpoints = json.loads((state / "endpoints.json").read_text())
    pid = endpoints["sandbox"]["pid"]
    try:
        assert session_processes(pid), "the sandbox should stay up after the demo"
        resultsdb = ResultsDBapi(endpoints["resultsdb"]["url"])
        outcomes = {
            nvr: resultsdb.get_results(item=nvr, testcases="dist.depcheck")["data"][0]["outcome"]
            for nvr in ("coreutils-8.25-15.fc26", "python3-requests-2.12.1-1.fc26")
        }
        assert outcomes == {"coreutils-8.25-15.fc26": "PASSED", "python3-requests-2.12.1-1.fc26": "FAILED"}
        for shown in ("dist.depcheck", "PASSED", "FAILED", "python3-urllib3 >= 1.19", "make demo-stop"):
            assert shown in result.stdout
    finally:
        assert down(state)
    assert session_processes(pid) == []
