"""Store: schema and migrations, pragmas, group commit, idempotency, db_busy, disk full."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from backend.db.api import CallContext, Command, lookup
from backend.db.schema import MIGRATIONS, SCHEMA_VERSION, schema_version
from backend.db.store import Call, Store
from backend.errors import StoreError
from tests.unit.conftest import q


def main_call(tmp_path: Path, cmd: str, *params: Any, idem: str | None = None) -> Call:
    return Call(lookup(cmd), CallContext(None, "main.db", 10, tmp_path), list(params), idem)


@pytest.fixture
def store(tmp_path: Path):
    s = Store(tmp_path / "main.db", busy_timeout=0.3)
    yield s
    s.close()


def test_new_db_has_full_schema_and_version(store: Store, tmp_path: Path) -> None:
    tables = {
        r[0] for r in q(tmp_path / "main.db", "SELECT name FROM sqlite_master WHERE type='table'")
    }
    assert {
        "keys",
        "runs",
        "tests",
        "test_steps",
        "test_data",
        "metadat",
        "mt_idempotency",
    } <= tables
    assert q(tmp_path / "main.db", "SELECT val FROM metadat WHERE var='SCHEMA_VERSION'") == [
        (str(SCHEMA_VERSION),)
    ]
    triggers = {
        r[0] for r in q(tmp_path / "main.db", "SELECT name FROM sqlite_master WHERE type='trigger'")
    }
    assert {"tests_touch_update", "runs_touch_update", "test_data_touch_update"} <= triggers


def test_pragmas_wal_and_synchronous_full(store: Store) -> None:
    assert store.journal_mode == "wal"  # tmp_path is a local filesystem
    assert store.conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL, never OFF


def test_journal_mode_override(tmp_path: Path) -> None:
    s = Store(tmp_path / "1.db", journal_mode="delete")
    try:
        assert s.journal_mode == "delete"
    finally:
        s.close()


def test_upgrade_v1_database_keeps_data(tmp_path: Path) -> None:
    path = tmp_path / "main.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for stmt in MIGRATIONS[0]:
        conn.execute(stmt)
    conn.execute("INSERT INTO metadat(var, val) VALUES ('SCHEMA_VERSION', '1'), ('color', 'blue')")
    conn.close()
    s = Store(path)
    try:
        assert schema_version(s.conn) == SCHEMA_VERSION
        ok, got = s.run([main_call(tmp_path, "get-var", "color")])[0]
        assert (ok, got) == (True, "blue")
        assert s.run([main_call(tmp_path, "get-keys")]) == [(True, [])]
    finally:
        s.close()


def test_reopen_is_noop_and_newer_schema_refused(tmp_path: Path) -> None:
    path = tmp_path / "main.db"
    Store(path).close()
    Store(path).close()  # second open: nothing to migrate
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("UPDATE metadat SET val = '99' WHERE var = 'SCHEMA_VERSION'")
    conn.close()
    with pytest.raises(StoreError, match="newer"):
        Store(path)


def test_group_commit_one_failure_keeps_the_others(store: Store, tmp_path: Path) -> None:
    out = store.run(
        [
            main_call(tmp_path, "set-var", "a", "1"),
            main_call(tmp_path, "set-var", "b", ["not", "a", "string"]),
            main_call(tmp_path, "set-var", "c", 3),
            main_call(tmp_path, "get-var", "a"),
        ]
    )
    assert out[0] == (True, True)
    assert out[1][0] is False and out[1][1][0] == "bad_request"
    assert out[2] == (True, True)
    assert out[3] == (True, "1")  # reads see earlier writes of the same batch
    rows = dict(q(tmp_path / "main.db", "SELECT var, val FROM metadat WHERE var IN ('a','b','c')"))
    assert rows == {"a": "1", "c": "3"}


def test_idempotency_key_applies_once(store: Store, tmp_path: Path) -> None:
    first = store.run([main_call(tmp_path, "set-var", "x", "1", idem="k1")])
    again = store.run([main_call(tmp_path, "set-var", "x", "2", idem="k1")])
    assert first == again == [(True, True)]
    assert q(tmp_path / "main.db", "SELECT val FROM metadat WHERE var='x'") == [("1",)]
    assert q(tmp_path / "main.db", "SELECT count(*) FROM mt_idempotency") == [(1,)]
    # register-run with an idem key returns the first run-id on a retry.
    r1 = store.run([main_call(tmp_path, "register-run", {"K": "a"}, "r", idem="k2")])
    r2 = store.run([main_call(tmp_path, "register-run", {"K": "a"}, "r", idem="k2")])
    assert r1 == r2 == [(True, 1)]


def test_failed_write_does_not_consume_idem_key(store: Store, tmp_path: Path) -> None:
    bad = store.run([main_call(tmp_path, "set-var", "x", [1], idem="k")])
    assert bad[0][0] is False
    assert store.run([main_call(tmp_path, "set-var", "x", "ok", idem="k")]) == [(True, True)]
    assert q(tmp_path / "main.db", "SELECT val FROM metadat WHERE var='x'") == [("ok",)]


def test_lock_held_too_long_gives_db_busy(store: Store, tmp_path: Path) -> None:
    other = sqlite3.connect(tmp_path / "main.db", isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        t0 = time.monotonic()
        out = store.run([main_call(tmp_path, "set-var", "x", "1")])
        took = time.monotonic() - t0
        assert out[0][0] is False and out[0][1][0] == "db_busy"
        assert 0.25 <= took < 2.0
        # WAL: reads are not blocked by the writer.
        assert store.run([main_call(tmp_path, "get-var", "x")]) == [(True, None)]
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert store.run([main_call(tmp_path, "set-var", "x", "1")]) == [(True, True)]


def test_disk_full_is_db_error_and_reads_keep_working(store: Store, tmp_path: Path) -> None:
    store.run([main_call(tmp_path, "set-var", "keep", "me")])
    pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
    store.conn.execute(f"PRAGMA max_page_count = {pages}")
    big = "x" * 200_000
    out = store.run([main_call(tmp_path, "set-var", "big", big)])
    assert out == [(False, ("db_error", "database or disk is full"))]
    assert store.run([main_call(tmp_path, "get-var", "keep")]) == [(True, "me")]


def test_handler_bug_is_one_line_error_not_a_traceback(store: Store, tmp_path: Path) -> None:
    def boom(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
        conn.execute("INSERT INTO metadat(var, val) VALUES ('half', 'done')")
        raise ZeroDivisionError("oops")

    ctx = CallContext(None, "main.db", 10, tmp_path)
    out = store.run(
        [
            Call(Command("boom", boom, True), ctx, []),
            main_call(tmp_path, "set-var", "after", "1"),
        ]
    )
    assert out[0][0] is False and out[0][1][0] == "db_error" and "ZeroDivisionError" in out[0][1][1]
    assert out[1] == (True, True)
    assert q(tmp_path / "main.db", "SELECT count(*) FROM metadat WHERE var='half'") == [(0,)]


def test_transaction_lost_mid_batch_fails_every_write(store: Store, tmp_path: Path) -> None:
    def rollback_all(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
        conn.execute("ROLLBACK")  # stands in for sqlite's own rollback on SQLITE_FULL/IOERR
        raise sqlite3.OperationalError("disk I/O error")

    ctx = CallContext(None, "main.db", 10, tmp_path)
    out = store.run(
        [
            main_call(tmp_path, "set-var", "a", "1"),
            Call(Command("rb", rollback_all, True), ctx, []),
            main_call(tmp_path, "set-var", "b", "1"),
        ]
    )
    assert [o[0] for o in out] == [False, False, False]
    assert q(tmp_path / "main.db", "SELECT count(*) FROM metadat WHERE var IN ('a','b')") == [(0,)]
    assert store.run([main_call(tmp_path, "set-var", "a", "1")]) == [(True, True)]


def test_last_update_strictly_increases(tmp_path: Path) -> None:
    s = Store(tmp_path / "1.db")
    try:
        s.conn.execute("INSERT INTO tests(run_id, testname) VALUES (1, 't')")
        stamps = []
        for i in range(50):
            s.conn.execute("UPDATE tests SET comment = ? WHERE id = 1", (str(i),))
            stamps.append(
                s.conn.execute("SELECT last_update FROM tests WHERE id = 1").fetchone()[0]
            )
        assert all(b > a for a, b in zip(stamps, stamps[1:], strict=False))
        assert abs(stamps[-1] - time.time()) < 5
    finally:
        s.close()


def test_a_failure_in_a_batch_reruns_it_without_applying_anything_twice(
    store: Store, tmp_path: Path
) -> None:
    # The first pass runs without savepoints; the failing call makes it roll back
    # and run again with one savepoint per call.
    out = store.run(
        [
            main_call(tmp_path, "register-run", {"K": "a"}, "r1"),
            main_call(tmp_path, "set-var", "bad", {"not": "text"}),
            main_call(tmp_path, "register-run", {"K": "b"}, "r2"),
        ]
    )
    assert out[0] == (True, 1) and out[2] == (True, 2)
    assert out[1][0] is False and out[1][1][0] == "bad_request"
    assert q(tmp_path / "main.db", "SELECT id, runname FROM runs ORDER BY id") == [(1, "r1"), (2, "r2")]


def test_run_nowait_leaves_a_locked_database_alone(tmp_path: Path) -> None:
    store = Store(tmp_path / "main.db", busy_timeout=10.0)
    other = sqlite3.connect(tmp_path / "main.db", isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        t0 = time.monotonic()
        assert store.run_nowait([main_call(tmp_path, "set-var", "x", "1")]) is None
        assert store.run_nowait([main_call(tmp_path, "set-var", "x", "1"),
                                 main_call(tmp_path, "get-var", "x")]) is None
        assert time.monotonic() - t0 < 5.0  # did not wait out the 10 s busy timeout
        assert not store.conn.in_transaction
        other.execute("ROLLBACK")
        assert store.run_nowait([main_call(tmp_path, "set-var", "x", "1")]) == [(True, True)]
        # A batch with a failing call: run again with savepoints, the rest kept.
        out = store.run_nowait([main_call(tmp_path, "set-var", "y", "2"),
                                main_call(tmp_path, "set-var", "bad", ["no"]),
                                main_call(tmp_path, "get-var", "y")])
        assert out is not None and out[0] == (True, True) and out[2] == (True, "2")
        assert out[1][0] is False and out[1][1][0] == "bad_request"
        # A batch waits for a lock again (up to the configured busy timeout).
        assert store.run([main_call(tmp_path, "get-var", "x")]) == [(True, "1")]
        assert store.conn.execute("PRAGMA busy_timeout").fetchone() == (10000,)
    finally:
        other.close()
        store.close()
