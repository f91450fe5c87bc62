"""Shared fixtures of the unit tests of the database API (no server processes)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backend.ops.demoload import LocalCaller


def q(path: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` read straight from the db file, as a user would check it."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


@pytest.fixture
def lc(tmp_path: Path) -> Iterator[LocalCaller]:
    """Commands run in-process on sqlite files in tmp_path (no server)."""
    with LocalCaller(tmp_path) as caller:
        yield caller
