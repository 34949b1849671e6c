"""The CI-sized chaos run (``make chaos WORKLOAD=short``): the demo's stack plays the autosign burst, the gating
batch and the first push (two composes) while the controller kills a worker in the middle of a compose, stops
Koji and kills the listener; the run must end as designed with every invariant held — read from the report it
writes (the same one ``make chaos`` writes) — and leave no process behind.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from relengotron_sandbox.demo.processes import read_record
from relengotron_sandbox.testing import child_env, session_processes

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[2]
TARGETS = ("worker mid-compose", "koji", "listener")


def test_a_short_seeded_chaos_run_keeps_every_promise(tmp_path: Path, built_world) -> None:
    state = tmp_path / "chaos"
    argv = [sys.executable, "-m", "relengotron_sandbox.cli", "chaos", "--state", str(state), "--seed", "18"]
    argv += ["--faults", str(len(TARGETS)), "--targets", ",".join(TARGETS), "--workload", "short"]
    try:
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=840,
            cwd=REPO,
            env={**child_env(("AIRFLOW",)), "COLUMNS": "200"},
            check=False,
        )
        report = json.loads((state / "logs" / "chaos-report.json").read_text())
        assert done.returncode == 0 and report["passed"], done.stdout[-8000:] + done.stderr[-3000:]
        assert report["seed"] == 18 and report["replay"].startswith("make chaos SEED=18 FAULTS=3")
        # every fault struck something and its component came back, each told with its time
        assert report["faults_struck"] == report["faults_survived"] == 3, report["timeline"]
        assert sorted(row["target"] for row in report["timeline"]) == sorted(TARGETS)
        assert all(row["hit"] and row["recovered_after"] is not None for row in report["timeline"])
        assert set(report["recovery"]) == {"worker", "koji", "listener"}
        # every invariant held, and each checked something
        held = {row["name"]: row for row in report["invariants"]}
        assert len(held) == 8 and all(row["held"] for row in held.values()), held
        assert report["pushes"] == 2 and report["work_lost"] == 0
        assert held["every push requested finished (or failed saying why)"]["count"] == "2 pushes, 3 updates"
        looks = held["the mirror never served metadata naming a missing file"]["count"]
        assert int(looks.split()[0]) > 10, looks
        assert "Faults: what died, when, and how long recovery took" in done.stdout
        assert "chaos passed: 3 faults survived, every invariant held" in done.stdout
    finally:
        recorded = read_record(state)
        subprocess.run(
            [sys.executable, "-m", "relengotron_sandbox.cli", "demo-stop", "--state", str(state)], check=False
        )
        for process in recorded:
            assert session_processes(process.pid) == [], process
