"""Fixtures: fast test areas, and no process left behind.

Every process a test starts names its area (a unique tmp path) on its command
line, or is a child of one that does; after each test those are killed and
reaped, and the session fails if any survive.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import area_processes, kill_area_processes, make_area


@pytest.fixture
def area(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for var in [v for v in __import__("os").environ if v.startswith("MTSERVE_")]:
        monkeypatch.delenv(var)
    root = make_area(tmp_path / "area")
    yield root
    kill_area_processes(root)


@pytest.fixture(scope="session", autouse=True)
def no_leftover_processes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    base = tmp_path_factory.getbasetemp()
    yield
    left = area_processes(base)
    kill_area_processes(base)
    assert not left, f"processes left behind: {[p.pid for p in left]}"
