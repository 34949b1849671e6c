"""``python -m bench --quick --only planner`` runs end to end in seconds, so the bench's code cannot rot unseen.

The planner figure starts the sandbox PDC in the bench's process on 127.0.0.1 and stops it before exiting.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_a_quick_planner_run_prints_its_table_and_writes_its_json(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--only", "planner", "--out", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "PDC requests per plan" in out.stdout
    [written] = list(tmp_path.glob("*-quick.json"))
    assert not (tmp_path / "latest.json").exists()  # a quick run does not replace the last full one
    data = json.loads(written.read_text())
    assert data["run"]["quick"] is True and data["run"]["figures"] == ["planner"]
    [figure] = data["figures"]
    assert (figure["id"], figure["error"]) == ("5", None)
    metrics = {m["name"]: m for m in figure["metrics"]}
    requests = metrics["PDC requests per plan"]
    assert requests["value"] == 1 and requests["baseline_value"] == 200 * 30  # one page vs one per pair
    assert requests["ok"] is True
    timing = metrics["planning time (PDC + plan)"]
    assert timing["value"] > 0 and timing["ratio"] < 1  # a naive planner cannot be faster than one page
