"""Helpers for tests/central: build areas, read the central tables back."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import psycopg

from backend.area import Area
from backend.central.sync import SyncResult, sync_area
from backend.ops.demoload import LocalCaller, run_demo_load
from tests.helpers import make_area

TABLES = ("areas", "ttype", "runs", "tests", "test_steps", "test_data", "tags", "area_tags")


def demo_area(path: Path, *, tests: int = 4, items: int = 2, seed: int = 1, runname: str | None = None) -> Path:
    """An area with one demo run written in this process (no server)."""
    root = path if (path / "megatest.config").exists() else make_area(path)
    with LocalCaller(root / ".mtdb") as call:
        run_demo_load(call, tests=tests, items=items, seed=seed, log=lambda _m: None, runname=runname)
    return root


def sync(root: Path, url: str, **kw: Any) -> SyncResult:
    return sync_area(Area.open(root), url, **kw)


def rows(url: str, query: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(query, args).fetchall()


def counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}  # type: ignore[index]


def dump(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every synced table, ordered (areas without the watermark)."""
    out = {}
    with psycopg.connect(url) as conn:
        for t in TABLES:
            cols = "id, area_name, area_path" if t == "areas" else "*"
            out[t] = conn.execute(f"SELECT {cols} FROM {t} ORDER BY id").fetchall()
    return out


def local(root: Path, dbfile: str, query: str, *args: Any) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(root / ".mtdb" / dbfile)
    try:
        return conn.execute(query, args).fetchall()
    finally:
        conn.close()


def local_write(root: Path, dbfile: str, query: str, *args: Any) -> None:
    """Write an area db directly, as a server would (tests only, no server running)."""
    conn = sqlite3.connect(root / ".mtdb" / dbfile, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(query, args)
        conn.execute("COMMIT")
    finally:
        conn.close()
