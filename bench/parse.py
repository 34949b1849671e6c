"""Figure 6 — DAG parse time: each DAG file's import time, and its own share beyond importing Airflow.

Each sample is a fresh interpreter (as the dag-processor's parsing processes are): it imports ``airflow`` and
``airflow.sdk`` (the baseline: what every DAG file pays), then executes the DAG file with ``plugins/`` on
sys.path, timing both. The DAG file's own share is the second part: its operators, sensors, the relengotron
modules they import at module level, and building the DAG object. Medians over the repeats; a private
AIRFLOW_HOME for every sample. A DAG file must do no I/O at parse time, so its share should stay small.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bench.core import REPO, RunContext
from bench.stats import Figure, median, timed_metric

PROBE = r"""
import importlib.util, json, sys, time
t0 = time.perf_counter()
import airflow, airflow.sdk
t1 = time.perf_counter()
sys.path.insert(0, sys.argv[2])
spec = importlib.util.spec_from_file_location("bench_dag_file", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
t2 = time.perf_counter()
dags = [name for name, value in vars(module).items() if type(value).__name__ == "DAG"]
print(json.dumps({"airflow": t1 - t0, "dag": t2 - t1, "dags": dags}))
"""


def probe(dag_file: Path, home: Path) -> dict[str, float]:
    """One fresh interpreter's timings of importing Airflow and then ``dag_file``."""
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
    }
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(dag_file), str(REPO / "plugins")],
        capture_output=True,
        text=True,
        env=env,
        cwd=home,
        timeout=300,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{dag_file.name}: importing it failed: {out.stderr.strip().splitlines()[-3:]}")
    data = json.loads(out.stdout.strip().splitlines()[-1])
    if not data["dags"]:
        raise RuntimeError(f"{dag_file.name}: defines no DAG")
    return data


def measure(ctx: RunContext) -> Figure:
    repeats = ctx.reps(5, 1)
    files = sorted(p for p in (REPO / "dags").glob("*.py") if p.name != "__init__.py")  # the package marker
    fig = Figure("6", "parse", "DAG parse time")
    fig.params = {"repeats": repeats, "dag_files": [f.name for f in files]}
    home = ctx.scratch("parse-airflow-home")
    samples: dict[str, list[dict[str, float]]] = {f.name: [] for f in files}
    for round_ in range(repeats):
        for dag_file in files:  # interleaved, so drifting machine load hits every file alike
            samples[dag_file.name].append(probe(dag_file, home))
        ctx.log(f"parse: round {round_ + 1}/{repeats} done")
    airflow_all = [s["airflow"] for found in samples.values() for s in found]
    for name, found in samples.items():
        own = [s["dag"] for s in found]
        total = [s["airflow"] + s["dag"] for s in found]
        base = [s["airflow"] for s in found]
        fig.add(
            timed_metric(
                f"{name}: import (Airflow + own)",
                total,
                "importing Airflow alone",
                base,
                kind="reference",
                note=f"own share {median(own) * 1e3:.0f} ms ({median(own) / median(total):.0%})",
            )
        )
    fig.notes.append(
        f"Airflow alone (airflow + airflow.sdk): median {median(airflow_all):.2f} s over {len(airflow_all)} imports; "
        "the ratio is (Airflow + DAG file) / Airflow: 1.00 would be a DAG file that costs nothing."
    )
    return fig
