"""Fixtures shared by unit and integration tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from relengotron.sandbox.world import DEFAULT_WORLD, World, load_world

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def world() -> World:
    """The default sandbox world, as loaded (not built)."""
    return load_world(DEFAULT_WORLD)
