"""api.scm's read/write RUNS group beyond register-run: set-tests-state-status,
delete-run (both halves), lock/unlock-run, update-run-event_time,
update-run-stats; and register-run reviving a deleted run."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from backend.ops.demoload import LocalCaller
from tests.unit.conftest import q
from tests.unit.test_api_tests import KEYS, bad_request


@pytest.fixture
def run(lc: LocalCaller) -> int:
    return int(lc.call("register-run", KEYS, "run1", "new", "JUSTFINE", "bob"))


def test_set_tests_state_status(lc: LocalCaller, run: int, tmp_path: Path) -> None:
    foo = lc.call("register-test", "foo", run_id=run)
    lc.call("register-test", "bar", "i1", run_id=run)
    bar = lc.call("get-test-id", "bar", run_id=run)
    db = tmp_path / f"{run % 10}.db"
    # all-rmt L58-59: curr COMPLETED/PASS matches nothing, the top-level id still comes back
    assert lc.call("set-tests-state-status", ["foo"], "COMPLETED", "PASS", "A", "B", run_id=run) == [foo]
    assert q(db, "SELECT state, status FROM tests WHERE id = ?", foo) == [("NOT_STARTED", "n/a")]
    # every row of the name, items too; ids in reverse order of the names
    got = lc.call("set-tests-state-status", ["foo", "bar", "nosuch"], None, None, "KILLED", None, run_id=run)
    assert got == [bar, foo]
    assert {r for r in q(db, "SELECT state, status FROM tests")} == {("KILLED", "UNKNOWN")}
    # status falls back to currstatus (Megatest fell back to currstate, B4)
    lc.call("set-tests-state-status", "b%", "KILLED", "UNKNOWN", "COMPLETED", None, run_id=run)
    assert q(db, "SELECT DISTINCT state, status FROM tests WHERE testname = 'bar'") == [
        ("COMPLETED", "UNKNOWN")
    ]


def test_set_tests_state_status_bad_input(lc: LocalCaller, run: int) -> None:
    call = "set-tests-state-status"
    assert "testnames" in bad_request(lc, call, [1], None, None, "A", "B", run_id=run)
    assert "newstate" in bad_request(lc, call, ["x"], None, None, 5, "B", run_id=run)
    assert "expected 5" in bad_request(lc, call, ["x"], run_id=run)
    assert "unknown run-id" in bad_request(lc, call, ["x"], None, None, "A", "B", run_id=12)


def test_delete_run_halves_and_revival(lc: LocalCaller, run: int, tmp_path: Path) -> None:
    tid = lc.call("register-test", "foo", run_id=run)
    lc.call("test-set-state-status-by-id", tid, "COMPLETED", "PASS", "c", run_id=run)
    lc.call("teststep-set-status!", tid, "s", "end", "PASS", run_id=run)
    lc.call("csv->test-data", tid, "p,x,1,1,0", run_id=run)
    db = tmp_path / f"{run % 10}.db"
    assert lc.call("delete-run", run_id=run) == 1
    assert q(db, "SELECT state, status, comment FROM tests") == [("DELETED", "PASS", "")]
    assert q(db, "SELECT count(*) FROM test_steps") == [(0,)]
    assert q(db, "SELECT count(*) FROM test_data") == [(0,)]
    main = tmp_path / "main.db"
    assert lc.call("delete-run", run) is True
    assert q(main, "SELECT state, comment FROM runs WHERE id = ?", run) == [("deleted", "")]
    assert lc.call("delete-run", 999) is False  # all-rmt L89: no such run, no error
    # register-run of the same run revives it with the given state/status
    assert lc.call("register-run", KEYS, "run1", "new", "n/a") == run
    assert q(main, "SELECT state, status FROM runs WHERE id = ?", run) == [("new", "n/a")]
    # a live run is not changed by registering again
    assert lc.call("register-run", KEYS, "run1", "other", "x") == run
    assert q(main, "SELECT state, status FROM runs WHERE id = ?", run) == [("new", "n/a")]


def test_delete_run_bad_input(lc: LocalCaller, run: int) -> None:
    assert "expected 0" in bad_request(lc, "delete-run", run, run_id=run)
    assert "expected 1" in bad_request(lc, "delete-run")
    assert "run-id must be" in bad_request(lc, "delete-run", "x")
    assert "unknown run-id" in bad_request(lc, "delete-run", run_id=13)


def test_lock_unlock_run_sets_state_and_logs(lc: LocalCaller, run: int, tmp_path: Path) -> None:
    main = tmp_path / "main.db"
    assert lc.call("lock/unlock-run", run, True, False, "bob") == "locked"
    # all-rmt L95-96: state locked, status unchanged
    assert q(main, "SELECT state, status FROM runs WHERE id = ?", run) == [("locked", "JUSTFINE")]
    assert lc.call("lock/unlock-run", run, False, True, "ann") == "unlocked"
    assert lc.call("lock/unlock-run", run, None, None, "cy") == "locked"
    assert q(main, "SELECT user, args FROM access_log ORDER BY id") == [
        ("bob", f"locked {run}"), ("ann", f"unlocked {run}"), ("cy", f"locked {run}")
    ]
    assert all(r[0] > 0 for r in q(main, "SELECT accessed FROM access_log"))
    assert "unknown run-id" in bad_request(lc, "lock/unlock-run", 99, True, False, "bob")
    assert "lock and unlock" in bad_request(lc, "lock/unlock-run", run, "yes", False, "bob")
    assert "main.db command" in bad_request(lc, "lock/unlock-run", run, True, False, "b", run_id=run)


def test_update_run_event_time(lc: LocalCaller, run: int, tmp_path: Path) -> None:
    main = tmp_path / "main.db"
    conn = sqlite3.connect(main)
    conn.execute("UPDATE runs SET event_time = 5 WHERE id = ?", (run,))
    conn.commit()
    conn.close()
    assert lc.call("update-run-event_time", run) is True
    assert q(main, "SELECT event_time FROM runs WHERE id = ?", run)[0][0] > 5
    assert "unknown run-id" in bad_request(lc, "update-run-event_time", 42)
    assert "expected 1" in bad_request(lc, "update-run-event_time")


def test_update_run_stats_replaces_named_groups(lc: LocalCaller, run: int, tmp_path: Path) -> None:
    main = tmp_path / "main.db"
    assert lc.call("update-run-stats", run, []) == 0  # all-rmt L90
    assert lc.call("update-run-stats", run, [["COMPLETED", "PASS", 3], ["RUNNING", "n/a", 1]]) == 2
    assert lc.call("update-run-stats", run, [["COMPLETED", "PASS", 4]]) == 1
    assert q(main, "SELECT run_id, state, status, count FROM run_stats ORDER BY state") == [
        (run, "COMPLETED", "PASS", 4), (run, "RUNNING", "n/a", 1)
    ]
    assert all(r[0] > 0 for r in q(main, "SELECT last_update FROM run_stats"))
    assert "stats[0]" in bad_request(lc, "update-run-stats", run, [["A", "B"]])
    assert "count must be" in bad_request(lc, "update-run-stats", run, [["A", "B", "3"]])
    assert "stats must be" in bad_request(lc, "update-run-stats", run, "x")
    assert "unknown run-id" in bad_request(lc, "update-run-stats", 77, [])
    # a bad triple anywhere writes nothing
    bad_request(lc, "update-run-stats", run, [["X", "Y", 1], ["A", None, 2]])
    assert q(main, "SELECT count(*) FROM run_stats WHERE state = 'X'") == [(0,)]
