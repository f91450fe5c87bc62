"""Helpers shared by the unit tests of the read-only section of the API."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from backend.errors import RemoteError
from backend.ops.demoload import LocalCaller

KEYS = {"SYSTEM": "ubuntu", "RELEASE": "v1"}


def refused(lc: LocalCaller, cmd: str, *params: Any, run_id: int | None = None,
            code: str = "bad_request") -> str:
    """The call fails with ``code``; returns the message."""
    with pytest.raises(RemoteError) as info:
        lc.call(cmd, *params, run_id=run_id)
    assert info.value.code == code, info.value
    return info.value.message


def execute(path: Path, sql: str, *args: Any) -> None:
    """Write fixture rows straight into a db file (tables whose writers live
    in another command group)."""
    conn = sqlite3.connect(path)
    try:
        conn.execute(sql, args)
        conn.commit()
    finally:
        conn.close()
