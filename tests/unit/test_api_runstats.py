"""Run statistics and times: get-raw-run-stats, get-main-run-stats, get-run-stats,
get-run-times, get-test-times (the last four read the run dbs from main.db)."""

from __future__ import annotations

from pathlib import Path

from backend.ops.demoload import LocalCaller
from tests.unit.api_helpers import KEYS, execute, refused


def _set(lc: LocalCaller, run: int, tid: int, state: str, status: str) -> None:
    lc.call("test-set-state-status-by-id", tid, state, status, run_id=run)


def test_raw_run_stats_leave_out_parents_with_items(lc: LocalCaller) -> None:
    run = lc.call("register-run", KEYS, "r1")
    a = lc.call("register-test", "a", run_id=run)
    items = [lc.call("register-test", "b", f"i{n}", run_id=run) for n in range(2)]
    _set(lc, run, a, "COMPLETED", "PASS")
    _set(lc, run, items[0], "COMPLETED", "PASS")
    # b's parent (rolled up to RUNNING) is a summary, not a job: not counted.
    assert lc.call("get-raw-run-stats", run_id=run) == [
        {"state": "NOT_STARTED", "status": "n/a", "count": 1},
        {"state": "COMPLETED", "status": "PASS", "count": 2},
    ]
    refused(lc, "get-raw-run-stats", 1, run_id=run)
    refused(lc, "get-raw-run-stats")


def test_main_run_stats_from_run_stats(lc: LocalCaller, tmp_path: Path) -> None:
    run = lc.call("register-run", KEYS, "r1")
    for st, n in (("PASS", 3), ("FAIL", 1)):
        execute(tmp_path / "main.db", "INSERT INTO run_stats(run_id, state, status, count) "
                "VALUES (?, 'COMPLETED', ?, ?)", run, st, n)
    assert lc.call("get-main-run-stats", run) == [
        {"state": "COMPLETED", "status": "FAIL", "count": 1},
        {"state": "COMPLETED", "status": "PASS", "count": 3},
    ]
    execute(tmp_path / "main.db", "UPDATE runs SET state = 'deleted' WHERE id = ?", run)
    assert lc.call("get-main-run-stats", run) == []
    assert lc.call("get-main-run-stats", 99) == []
    refused(lc, "get-main-run-stats", "x")


def test_run_stats_totals_then_newest_run_first(lc: LocalCaller, tmp_path: Path) -> None:
    r1 = lc.call("register-run", KEYS, "r1")
    r2 = lc.call("register-run", KEYS, "r2")
    execute(tmp_path / "main.db", "UPDATE runs SET event_time = id * 100")
    t1 = lc.call("register-test", "a", run_id=r1)
    lc.call("register-test", "b", run_id=r1)
    t2 = lc.call("register-test", "a", run_id=r2)
    _set(lc, r1, t1, "COMPLETED", "FAIL")
    _set(lc, r2, t2, "RUNNING", "n/a")
    assert lc.call("get-run-stats") == [
        {"runname": "Totals", "netstate": "FAIL", "count": 1},
        {"runname": "Totals", "netstate": "NOT_STARTED", "count": 1},
        {"runname": "Totals", "netstate": "RUNNING", "count": 1},
        {"runname": "r2", "netstate": "RUNNING", "count": 1},
        {"runname": "r1", "netstate": "FAIL", "count": 1},
        {"runname": "r1", "netstate": "NOT_STARTED", "count": 1},
    ]
    refused(lc, "get-run-stats", 1)


def test_run_and_test_times(lc: LocalCaller, tmp_path: Path) -> None:
    r1 = lc.call("register-run", KEYS, "r1")
    r2 = lc.call("register-run", {"SYSTEM": "rhel", "RELEASE": "v2"}, "r1")
    a = lc.call("register-test", "a", run_id=r1)
    b = lc.call("register-test", "b", "x", run_id=r1)
    db = tmp_path / f"{r1}.db"
    execute(db, "UPDATE tests SET event_time = 1000, run_duration = 60 WHERE id = ?", a)
    execute(db, "UPDATE tests SET event_time = 1100, run_duration = 200 WHERE id = ?", b)
    execute(db, "UPDATE tests SET event_time = 1000 WHERE item_path = '' AND testname = 'b'")
    # (1100 + 200 - 1000) // 60 = 5 minutes; r2 has no tests and no row.
    assert lc.call("get-run-times", "r%", "ubuntu/%") == [
        {"runname": "r1", "minutes": 5, "target": "ubuntu/v1"}]
    assert lc.call("get-run-times", "%", "rhel/%") == []
    assert lc.call("get-test-times", "r1", "ubuntu/v1") == [
        {"testname": "b", "item_path": "x", "run_duration": 200},
        {"testname": "b", "item_path": "", "run_duration": 0},
        {"testname": "a", "item_path": "", "run_duration": 60},
    ]
    assert lc.call("get-test-times", "r1", "ubuntu/%") == []  # exact target, not a pattern
    assert r2 != r1
    refused(lc, "get-run-times", "%")
    refused(lc, "get-test-times", "r1", 5)


def test_many_run_ids_in_one_call(lc: LocalCaller) -> None:
    runs = [lc.call("register-run", KEYS, f"r{i}") for i in range(3)]
    lc.call("register-test", "a", run_id=runs[1])
    # More ids than sqlite binds in one statement: still one answer, no error.
    ids = [runs[1], *range(10_000, 45_000)]
    got = lc.call("get-tests-for-runs-mindata", ids, "a")
    assert [g["run_id"] for g in got] == [runs[1]]
