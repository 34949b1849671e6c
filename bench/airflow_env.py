"""A private Airflow for a figure: its own AIRFLOW_HOME (SQLite), this repository's DAGs and plugins, the
sandbox's connections; migrated once. Airflow runs in subprocesses only, so the bench process never imports
it with someone else's settings.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.core import REPO
from relengotron_sandbox.demo.processes import child_env

BIN = Path(sys.executable).parent


def environment(home: Path, endpoints: dict[str, Any] | None = None, **extra: str) -> dict[str, str]:
    """The environment of an Airflow process living in ``home`` (and pointed at the sandbox's ``endpoints``)."""
    env = {
        **child_env(),
        "PATH": f"{BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        **extra,
    }
    if endpoints is not None:
        from relengotron_sandbox.connections import airflow_environment

        env.update(airflow_environment(endpoints))
    return env


def migrate(env: dict[str, str]) -> None:
    """``airflow db migrate`` in the environment's AIRFLOW_HOME; RuntimeError with its output if it fails."""
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    out = subprocess.run(
        [str(BIN / "airflow"), "db", "migrate"], env=env, capture_output=True, text=True, timeout=600, check=False
    )
    if out.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed: {(out.stdout + out.stderr)[-2000:]}")
