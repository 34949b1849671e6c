"""Fixtures shared by unit and integration tests."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from relengotron_sandbox.world import DEFAULT_WORLD, World, load_world

REPO = Path(__file__).resolve().parents[1]

# Airflow reads its settings when first imported: give every test session a private, empty AIRFLOW_HOME
# (never ~/airflow) and point it at this repository's DAGs and plugins.
os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="relengotron-airflow-")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO / "dags")
os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(REPO / "plugins")


@pytest.fixture(scope="session")
def world() -> World:
    """The default sandbox world, as loaded (not built)."""
    return load_world(DEFAULT_WORLD)


@pytest.fixture(scope="session", autouse=True)
def _private_airflow_home():
    """Remove the session's AIRFLOW_HOME when the session ends."""
    yield
    shutil.rmtree(os.environ["AIRFLOW_HOME"], ignore_errors=True)
