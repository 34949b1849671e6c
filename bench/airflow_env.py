"""A private Airflow for a figure: its own AIRFLOW_HOME (SQLite), this repository's DAGs and plugins, the
sandbox's connections; migrated once. Airflow runs in subprocesses only, so the bench process never imports
it with someone else's settings.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.core import REPO
from relengotron_sandbox import testing

BIN = Path(sys.executable).parent


def environment(
    home: Path, endpoints: dict[str, Any] | None = None, *, api_port: int | None = None, **extra: str
) -> dict[str, str]:
    """The environment of an Airflow process living in ``home`` (:func:`relengotron_sandbox.testing.airflow_env`;
    pointed at the sandbox's ``endpoints``, serving the API on ``api_port``); ``extra`` settings on top."""
    env = testing.airflow_env(
        home, base=testing.child_env(), repo=REPO, venv_bin=BIN, api_port=api_port, settings=extra
    )
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
