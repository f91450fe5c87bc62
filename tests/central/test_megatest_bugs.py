"""Megatest's sync bugs (megatest-pgsync.md §3.14), each shown fixed against a real PostgreSQL."""

from __future__ import annotations

import threading
from pathlib import Path

import psycopg

from tests.central.util import counts, demo_area, dump, local, local_write, rows, sync


def _run_db(root: Path) -> str:
    return next((root / ".mtdb").glob("[0-9]*.db")).name


def test_p1_a_run_changed_alone_is_sent(tmp_path: Path, central_url: str) -> None:
    root = demo_area(tmp_path / "a", tests=1)
    sync(root, central_url)
    local_write(root, "main.db", "UPDATE runs SET state = 'COMPLETED', comment = 'release candidate'")
    res = sync(root, central_url)
    assert rows(central_url, "SELECT state, comment FROM runs") == [("COMPLETED", "release candidate")]
    assert res.tables["runs"].changed == 1 and res.tables["tests"].changed == 0


def test_p1_a_run_without_tests_reaches_the_central_db(tmp_path: Path, central_url: str) -> None:
    root = demo_area(tmp_path / "a", tests=1)
    from backend.ops.demoload import LocalCaller

    with LocalCaller(root / ".mtdb") as call:
        call("register-run", {"SYSTEM": "linux", "RELEASE": "v2"}, "empty_run")
    sync(root, central_url)
    assert ("empty_run",) in rows(central_url, "SELECT run_name FROM runs")


def test_p2_a_step_whose_test_did_not_change_is_sent(tmp_path: Path, central_url: str) -> None:
    root = demo_area(tmp_path / "a", tests=1)
    sync(root, central_url)
    db = _run_db(root)
    (tid, tstamp), = local(root, db, "SELECT id, last_update FROM tests WHERE item_path = 'item/1'")
    local_write(root, db, "INSERT INTO test_steps (test_id, stepname, state, status) "
                "VALUES (?, 'archive', 'start', 'n/a')", tid)
    local_write(root, db, "INSERT INTO test_data (test_id, category, variable, value) "
                "VALUES (?, 'size', 'bytes', 42)", tid)
    assert local(root, db, "SELECT last_update FROM tests WHERE id = ?", tid) == [(tstamp,)]  # test untouched
    res = sync(root, central_url)
    assert rows(central_url, "SELECT s.stepname FROM test_steps s JOIN tests t ON t.id = s.test_id "
                "WHERE t.item_path = 'item/1' AND s.stepname = 'archive'") == [("archive",)]
    assert rows(central_url, "SELECT value FROM test_data WHERE variable = 'bytes'") == [(42.0,)]
    assert res.tables["tests"].changed == 0 and res.tables["tests"].inserted == 0


def test_p3_a_row_stamped_the_same_instant_as_the_watermark_is_not_lost(tmp_path: Path, central_url: str) -> None:
    """Megatest compared ``last_update > last_sync`` with the syncer's clock: a
    row written in the same second as the pass began was never sent. The
    watermark here is the largest stamp read, compared with ``>=``."""
    root = demo_area(tmp_path / "a", tests=1)
    sync(root, central_url)
    db = _run_db(root)
    (mark,), = rows(central_url, "SELECT mark FROM mt_sync_marks WHERE dbfile = %s AND tbl = 'tests'", db)
    (tid, run_id), = local(root, db, "SELECT id, run_id FROM tests WHERE item_path = 'item/0'")
    # A test and a step written in the very instant of the last test the pass
    # read. Our own triggers would stamp a test later still; a writer that
    # stamps rows itself (Megatest, a bulk load) can hit the same instant.
    local_write(root, db, "DROP TRIGGER tests_touch_insert")
    local_write(root, db, "INSERT INTO tests (run_id, testname, item_path, state, status, last_update) "
                "VALUES (?, 'test00', 'item/9', 'COMPLETED', 'PASS', ?)", run_id, mark)
    local_write(root, db, "INSERT INTO test_steps (test_id, stepname, state, last_update) "
                "VALUES (?, 'late', 'end', ?)", tid, mark)
    sync(root, central_url)
    assert rows(central_url, "SELECT state FROM tests WHERE item_path = 'item/9'") == [("COMPLETED",)]
    assert rows(central_url, "SELECT stepname FROM test_steps WHERE stepname = 'late'") == [("late",)]


def test_p4_rows_stamped_zero_are_sent_on_the_first_pass(tmp_path: Path, central_url: str) -> None:
    root = demo_area(tmp_path / "a", tests=1)
    db = _run_db(root)
    local_write(root, db, "DROP TRIGGER test_steps_touch_update")
    local_write(root, db, "UPDATE test_steps SET last_update = 0")
    sync(root, central_url)
    assert counts(central_url)["test_steps"] == local(root, db, "SELECT count(*) FROM test_steps")[0][0] > 0


def test_p5_a_refused_row_is_quarantined_not_fatal_and_retried(tmp_path: Path, central_url: str) -> None:
    root = demo_area(tmp_path / "a", tests=2)
    with psycopg.connect(central_url, autocommit=True) as conn:
        sync(root, central_url)  # creates the schema
        conn.execute("ALTER TABLE test_data ADD CONSTRAINT no_poison CHECK (variable <> 'poison')")
    db = _run_db(root)
    (tid,), = local(root, db, "SELECT id FROM tests WHERE item_path = 'item/0' LIMIT 1")
    add = "INSERT INTO test_data (test_id, category, variable, value) VALUES (?, 'x', ?, ?)"
    local_write(root, db, add, tid, "poison", 1)
    local_write(root, db, add, tid, "fine", 2)
    res = sync(root, central_url)
    assert res.refused == 1
    assert rows(central_url, "SELECT variable FROM test_data WHERE category = 'x'") == [("fine",)]
    (local_id,), = local(root, db, "SELECT id FROM test_data WHERE variable = 'poison'")
    (tbl, lid, err), = rows(central_url, "SELECT tbl, local_id, error FROM mt_sync_rejects")
    assert (tbl, lid) == ("test_data", local_id) and "no_poison" in err
    # Later passes keep working while the row is refused...
    local_write(root, db, add, tid, "later", 3)
    assert sync(root, central_url).refused == 1
    assert ("later",) in rows(central_url, "SELECT variable FROM test_data WHERE category = 'x'")
    # ...and once the central side accepts it, the next pass sends it (no local change needed).
    with psycopg.connect(central_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE test_data DROP CONSTRAINT no_poison")
    assert sync(root, central_url).refused == 0
    assert ("poison",) in rows(central_url, "SELECT variable FROM test_data WHERE category = 'x'")
    assert rows(central_url, "SELECT count(*) FROM mt_sync_rejects") == [(0,)]


def test_p6_comparators_and_text_never_reach_numeric_columns(tmp_path: Path, central_url: str) -> None:
    root = demo_area(tmp_path / "a", tests=1)
    db = _run_db(root)
    (tid,), = local(root, db, "SELECT id FROM tests WHERE item_path = 'item/0'")
    local_write(root, db, "INSERT INTO test_data (test_id, category, variable, value, expected, tol) "
                "VALUES (?, 'c', 'v', 'n/a', NULL, '>=')", tid)
    sync(root, central_url)
    want = [(None, None, None, ">=")]
    assert rows(central_url, "SELECT value, expected, tol, tol_text FROM test_data WHERE variable = 'v'") == want
    # The update path cleans the same way (Megatest's update sent them raw).
    local_write(root, db, "UPDATE test_data SET value = '7.5', expected = 'abc', tol = '<' WHERE variable = 'v'")
    sync(root, central_url)
    assert rows(central_url, "SELECT value, expected, tol, tol_text FROM test_data WHERE variable = 'v'") == [
        (7.5, None, None, "<")]
    # The demo's own "<=" comparator went the same way.
    assert rows(central_url, "SELECT DISTINCT tol_text FROM test_data WHERE variable = 'memory'") == [("<=",)]


def test_p20_large_values_survive(tmp_path: Path, central_url: str) -> None:
    root = demo_area(tmp_path / "a", tests=1)
    db = _run_db(root)
    local_write(root, db, "UPDATE tests SET diskfree = ? WHERE item_path = 'item/0'", 5 * 2**40)
    local_write(root, db, "UPDATE test_data SET value = 123456789.123456 WHERE variable = 'runtime'")
    sync(root, central_url)
    assert rows(central_url, "SELECT DISTINCT diskfree FROM tests WHERE item_path = 'item/0'") == [(5 * 2**40,)]
    assert {r[0] for r in rows(central_url, "SELECT value FROM test_data WHERE variable = 'runtime'")} == {
        123456789.123456}


def test_p18_overlapping_passes_give_the_state_of_one(tmp_path: Path, central_url: str) -> None:
    root = demo_area(tmp_path / "a", tests=4)
    errors: list[BaseException] = []

    def one() -> None:
        try:
            sync(root, central_url)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    after = dump(central_url)
    sync(root, central_url)
    assert dump(central_url) == after
    assert len(after["tests"]) == 4 * 3 and len(after["areas"]) == 2


def test_p5_rows_under_a_refused_test_wait_for_it(tmp_path: Path, central_url: str) -> None:
    root = demo_area(tmp_path / "a", tests=1)
    sync(root, central_url)
    with psycopg.connect(central_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE tests ADD CONSTRAINT no_poison CHECK (test_name <> 'poison')")
    db = _run_db(root)
    (run_id,), = local(root, db, "SELECT DISTINCT run_id FROM tests")
    local_write(root, db, "INSERT INTO tests (run_id, testname, item_path) VALUES (?, 'poison', '')", run_id)
    (tid,), = local(root, db, "SELECT id FROM tests WHERE testname = 'poison'")
    local_write(root, db, "INSERT INTO test_steps (test_id, stepname, state) VALUES (?, 'build', 'end')", tid)
    res = sync(root, central_url)
    assert res.tables["tests"].refused == 1 and res.tables["test_steps"].refused == 1
    assert sorted(r[0] for r in rows(central_url, "SELECT tbl FROM mt_sync_rejects")) == ["test_steps", "tests"]
    # Newer rows move the watermarks past the refused ones: from now on only
    # the quarantine brings them back.
    (stamp,), = local(root, db, "SELECT last_update FROM test_steps WHERE test_id = ?", tid)
    local_write(root, db, "INSERT INTO tests (run_id, testname, item_path) VALUES (?, 'later', '')", run_id)
    (later,), = local(root, db, "SELECT id FROM tests WHERE testname = 'later'")
    local_write(root, db, "INSERT INTO test_steps (test_id, stepname, state, last_update) "
                "VALUES (?, 'build', 'end', ?)", later, stamp + 10)
    assert sync(root, central_url).refused == 2
    with psycopg.connect(central_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE tests DROP CONSTRAINT no_poison")
    assert sync(root, central_url).refused == 0
    assert rows(central_url, "SELECT s.stepname FROM test_steps s JOIN tests t ON t.id = s.test_id "
                "WHERE t.test_name = 'poison'") == [("build",)]
    assert rows(central_url, "SELECT count(*) FROM mt_sync_rejects") == [(0,)]
