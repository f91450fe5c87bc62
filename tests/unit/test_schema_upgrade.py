"""Schema version 3: a db written by the previous release (version 2) upgrades in place.

The fixtures under tests/fixtures/ are sqlite dumps of a main.db and a run db
made by the version-2 code (before the version-3 tables existed); they are
loaded into fresh files, opened with today's code, and must come out at the
current version with every row intact and the new tables usable.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from backend.db.schema import MIGRATIONS, SCHEMA_VERSION, schema_version
from backend.db.store import Store
from backend.ops.demoload import LocalCaller
from tests.unit.conftest import q

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
V3_TABLES = {
    "run_stats", "test_meta", "tasks_queue", "archive_disks", "archive_blocks",
    "archive_allocations", "extradat", "access_log", "test_rundat", "archives",
    "no_sync_metadat",
}


def load_v2(db_dir: Path) -> None:
    db_dir.mkdir(parents=True, exist_ok=True)
    for dump, dbfname in (("schema_v2_main.sql", "main.db"), ("schema_v2_1.sql", "1.db")):
        conn = sqlite3.connect(db_dir / dbfname, isolation_level=None)
        conn.executescript((FIXTURES / dump).read_text())
        conn.close()


def tables(path: Path) -> set[str]:
    return {r[0] for r in q(path, "SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_fixture_is_a_version_2_db(tmp_path: Path) -> None:
    load_v2(tmp_path)
    for dbfname in ("main.db", "1.db"):
        conn = sqlite3.connect(tmp_path / dbfname)
        try:
            assert schema_version(conn) == 2
        finally:
            conn.close()
        assert not tables(tmp_path / dbfname) & V3_TABLES


@pytest.mark.parametrize("dbfname", ["main.db", "1.db"])
def test_version_2_db_upgrades_in_place_keeping_rows(tmp_path: Path, dbfname: str) -> None:
    load_v2(tmp_path)
    path = tmp_path / dbfname
    before = {t: q(path, f'SELECT * FROM "{t}" ORDER BY 1') for t in tables(path) - {"metadat"}}
    Store(path).close()
    assert SCHEMA_VERSION == len(MIGRATIONS) == 3
    assert q(path, "SELECT val FROM metadat WHERE var = 'SCHEMA_VERSION'") == [("3",)]
    assert V3_TABLES <= tables(path)
    for table, rows in before.items():
        assert q(path, f'SELECT * FROM "{table}" ORDER BY 1') == rows, table
    triggers = {r[0] for r in q(path, "SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    assert {"run_stats_touch_insert", "run_stats_touch_update", "tests_touch_update"} <= triggers


def test_upgraded_area_serves_old_and_new_commands(tmp_path: Path) -> None:
    load_v2(tmp_path)
    with LocalCaller(tmp_path) as lc:
        assert lc.call("get-keys") == ["SYSTEM", "RELEASE"]
        assert lc.call("get-var", "color") == "blue"
        assert lc.call("get-var", "shade", run_id=1) == "dark"
        info = lc.call("get-test-info-by-id", 2, run_id=1)
        assert (info["testname"], info["item_path"], info["status"]) == ("sim", "item/1", "PASS")
        assert lc.call("register-run", {"SYSTEM": "ubuntu", "RELEASE": "v1.2"}, "nightly") == 1
    conn = sqlite3.connect(tmp_path / "main.db", isolation_level=None)
    try:
        conn.execute("INSERT INTO run_stats(run_id, state, status, count) VALUES (1, 'COMPLETED', 'PASS', 1)")
        conn.execute("INSERT INTO archive_disks(archive_area_name, disk_path) VALUES ('a', '/d')")
        stamp, created = conn.execute(
            "SELECT r.last_update, d.creation_time FROM run_stats r, archive_disks d"
        ).fetchone()
    finally:
        conn.close()
    assert stamp > 0  # the insert trigger stamped it
    assert isinstance(created, int) and created > 0  # Megatest's broken default gave NULL


def test_new_db_matches_upgraded_db(tmp_path: Path) -> None:
    """A db created fresh and one upgraded from version 2 end with the same tables and columns."""
    load_v2(tmp_path / "old")
    Store(tmp_path / "old" / "1.db").close()
    (tmp_path / "new").mkdir()
    Store(tmp_path / "new" / "1.db").close()

    def columns(path: Path) -> dict[str, list[tuple[object, ...]]]:
        return {
            t: q(path, f'SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info("{t}")')
            for t in tables(path)
        }

    assert columns(tmp_path / "old" / "1.db") == columns(tmp_path / "new" / "1.db")
