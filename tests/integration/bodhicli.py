"""The real ``bodhi`` command (bodhi-client 8.2.0's CLI, which ``make install`` puts beside the venv: 26.4's
needs Python 3.12), shared by the sandbox Bodhi's tests and the demo's. No tests here."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

BODHI_CLI = Path(sys.executable).parents[1] / "bodhi-cli"


def run_bodhi(home: Path, environment: Mapping[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``bodhi ARGS`` with ``environment`` (BODHI_URL, BODHI_OPENID_PROVIDER) and its tokens under ``home``;
    a failed test, not a skipped one, when the CLI is not installed (``make install`` installs it)."""
    if not (BODHI_CLI / "bodhi" / "client" / "cli.py").exists():
        pytest.fail(f"the bodhi CLI is not installed in {BODHI_CLI} (make install)")
    env = {**os.environ, **environment, "HOME": str(home), "PYTHONPATH": str(BODHI_CLI)}
    return subprocess.run(
        [sys.executable, "-m", "bodhi.client.cli", *args], capture_output=True, text=True, env=env, timeout=120
    )
