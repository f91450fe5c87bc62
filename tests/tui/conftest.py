"""Fixtures for monitor tests (the fakes live in tests/tui/fakes.py)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def quiet_area(area: Path) -> Path:
    """The test area, with ``.servinfo/`` and ``logs/`` ready."""
    (area / ".servinfo").mkdir(exist_ok=True)
    (area / "logs").mkdir(exist_ok=True)
    return area
