"""api.scm's read/write TESTS group beyond test-set-state-status-by-id:
test-set-state-status, set-state-status-and-roll-up-items,
top-test-set-per-pf-counts, test-set-top-process-pid, test-set-archive-block-id,
delete-test-records, delete-old-deleted-test-records; and test-data-rollup."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from backend.ops.demoload import LocalCaller
from tests.unit.conftest import q
from tests.unit.test_api_tests import KEYS, bad_request


@pytest.fixture
def run(lc: LocalCaller) -> int:
    return int(lc.call("register-run", KEYS, "run1"))


def row(tmp_path: Path, run: int, tid: int, cols: str = "state, status, comment") -> tuple[Any, ...]:
    return q(tmp_path / f"{run % 10}.db", f"SELECT {cols} FROM tests WHERE id = ?", tid)[0]


def test_test_set_state_status_sets_fields_without_roll_up(
    lc: LocalCaller, run: int, tmp_path: Path
) -> None:
    item = lc.call("register-test", "sim", "a", run_id=run)
    parent = lc.call("get-test-id", "sim", run_id=run)
    before = row(tmp_path, run, item, "event_time")
    assert lc.call("test-set-state-status", item, "LAUNCHED", None, "go", run_id=run) is True
    assert row(tmp_path, run, item) == ("LAUNCHED", "n/a", "go")
    assert row(tmp_path, run, item, "event_time") == before  # no start-time stamp
    assert row(tmp_path, run, parent) == ("NOT_STARTED", "n/a", "")  # no roll-up
    assert lc.call("test-set-state-status", item, None, "PASS", run_id=run) is True
    assert row(tmp_path, run, item) == ("LAUNCHED", "PASS", "go")


def test_test_set_state_status_bad_input(lc: LocalCaller, run: int) -> None:
    tid = lc.call("register-test", "sim", run_id=run)
    assert "unknown test-id" in bad_request(lc, "test-set-state-status", 999, "A", "B", run_id=run)
    assert "state must be" in bad_request(lc, "test-set-state-status", tid, 1, "B", run_id=run)
    assert "expected 3..4" in bad_request(lc, "test-set-state-status", tid, run_id=run)
    assert "needs a run-id" in bad_request(lc, "test-set-state-status", tid, "A", "B")


def test_set_state_status_and_roll_up_items_by_name_and_by_id(
    lc: LocalCaller, run: int, tmp_path: Path
) -> None:
    a = lc.call("register-test", "sim", "a", run_id=run)
    lc.call("register-test", "sim", "b", run_id=run)
    parent = lc.call("get-test-id", "sim", run_id=run)
    call = "set-state-status-and-roll-up-items"
    assert lc.call(call, "sim", "a", "COMPLETED", "PASS", "ok", run_id=run) is True
    assert row(tmp_path, run, a) == ("COMPLETED", "PASS", "ok")
    assert row(tmp_path, run, parent)[:2] == ("NOT_STARTED", "STARTED")  # b still NOT_STARTED
    b = lc.call("get-test-id", "sim", "b", run_id=run)
    # a test id: item-path is ignored, the row is the id's
    assert lc.call(call, b, "ignored", "COMPLETED", "FAIL", run_id=run) is True
    assert row(tmp_path, run, parent)[:2] == ("COMPLETED", "FAIL")
    assert row(tmp_path, run, parent, "pass_count, fail_count") == (1, 1)


def test_set_state_status_and_roll_up_items_auto_takes_status_from_data(
    lc: LocalCaller, run: int, tmp_path: Path
) -> None:
    a = lc.call("register-test", "sim", "a", run_id=run)
    lc.call("csv->test-data", a, "perf,x,1,1,0\nperf,y,5,1,0", run_id=run)  # pass, fail
    call = "set-state-status-and-roll-up-items"
    assert lc.call(call, "sim", "a", "COMPLETED", "AUTO", run_id=run) is True
    assert row(tmp_path, run, a, "status, pass_count, fail_count") == ("FAIL", 1, 1)
    parent = lc.call("get-test-id", "sim", run_id=run)
    assert row(tmp_path, run, parent, "state, status") == ("COMPLETED", "FAIL")


def test_test_set_state_status_by_id_auto_too(lc: LocalCaller, run: int, tmp_path: Path) -> None:
    tid = lc.call("register-test", "solo", run_id=run)
    lc.call("csv->test-data", tid, "perf,x,1,1,0", run_id=run)
    assert lc.call("test-set-state-status-by-id", tid, "COMPLETED", "AUTO", run_id=run) is True
    assert row(tmp_path, run, tid, "status, pass_count") == ("PASS", 1)


def test_set_state_status_and_roll_up_items_bad_input(lc: LocalCaller, run: int) -> None:
    call = "set-state-status-and-roll-up-items"
    assert "no test 'nope'" in bad_request(lc, call, "nope", "", "A", "B", run_id=run)
    assert "unknown test-id" in bad_request(lc, call, 77, "", "A", "B", run_id=run)
    assert "testname" in bad_request(lc, call, ["x"], "", "A", "B", run_id=run)
    assert "testname" in bad_request(lc, call, True, "", "A", "B", run_id=run)
    assert "expected 4..5" in bad_request(lc, call, "sim", run_id=run)


def test_top_test_set_per_pf_counts_recomputes_this_runs_parent_only(
    lc: LocalCaller, run: int, tmp_path: Path
) -> None:
    other = lc.call("register-run", KEYS, "run11")
    for r in (run, other):
        i = lc.call("register-test", "sim", "a", run_id=r)
        lc.call("test-set-state-status", i, "COMPLETED", "PASS", run_id=r)  # no roll-up
    p, po = lc.call("get-test-id", "sim", run_id=run), lc.call("get-test-id", "sim", run_id=other)
    assert lc.call("top-test-set-per-pf-counts", "sim", run_id=run) is True
    assert row(tmp_path, run, p, "state, status, pass_count") == ("COMPLETED", "PASS", 1)
    assert row(tmp_path, other, po, "state, status, pass_count") == ("NOT_STARTED", "n/a", 0)
    assert lc.call("top-test-set-per-pf-counts", "nosuch", run_id=run) is True
    assert "testname" in bad_request(lc, "top-test-set-per-pf-counts", 3, run_id=run)


def test_top_process_pid_and_archive_block_id(lc: LocalCaller, run: int, tmp_path: Path) -> None:
    tid = lc.call("register-test", "sim", run_id=run)
    assert lc.call("test-set-top-process-pid", tid, 123, run_id=run) is True
    assert lc.call("test-set-archive-block-id", tid, 7, run_id=run) is True
    assert row(tmp_path, run, tid, "attemptnum, archived") == (123, 7)
    assert "pid must be" in bad_request(lc, "test-set-top-process-pid", tid, "x", run_id=run)
    assert ">= 0" in bad_request(lc, "test-set-top-process-pid", tid, -5, run_id=run)
    assert "archive-block-id" in bad_request(lc, "test-set-archive-block-id", tid, None, run_id=run)
    assert "unknown test-id" in bad_request(lc, "test-set-archive-block-id", 99, 1, run_id=run)


def test_delete_test_records_is_a_soft_delete(lc: LocalCaller, run: int, tmp_path: Path) -> None:
    a = lc.call("register-test", "sim", "a", run_id=run)
    b = lc.call("register-test", "sim", "b", run_id=run)
    lc.call("test-set-state-status-by-id", a, "COMPLETED", "FAIL", "bad", run_id=run)
    lc.call("test-set-state-status-by-id", b, "COMPLETED", "PASS", run_id=run)
    lc.call("teststep-set-status!", a, "build", "end", "FAIL", run_id=run)
    lc.call("csv->test-data", a, "perf,x,1,2,0", run_id=run)
    parent = lc.call("get-test-id", "sim", run_id=run)
    assert row(tmp_path, run, parent)[:2] == ("COMPLETED", "FAIL")
    assert lc.call("delete-test-records", a, run_id=run) is True
    db = tmp_path / f"{run % 10}.db"
    assert row(tmp_path, run, a) == ("DELETED", "n/a", "")
    assert q(db, "SELECT status FROM test_steps WHERE test_id = ?", a) == [("DELETED",)]
    assert q(db, "SELECT status FROM test_data WHERE test_id = ?", a) == [("DELETED",)]
    assert row(tmp_path, run, parent)[:2] == ("COMPLETED", "PASS")  # the deleted item has no say
    # Megatest's all-rmt L63 deletes a test that does not exist: not an error
    assert lc.call("delete-test-records", 999, run_id=run) is False
    assert "test-id must be" in bad_request(lc, "delete-test-records", "a", run_id=run)


def test_delete_old_deleted_test_records(lc: LocalCaller, run: int, tmp_path: Path) -> None:
    old, recent, alive = (lc.call("register-test", n, run_id=run) for n in ("old", "recent", "alive"))
    for tid in (old, recent):
        lc.call("teststep-set-status!", tid, "s", "end", "PASS", run_id=run)
        lc.call("delete-test-records", tid, run_id=run)
    db = tmp_path / f"{run % 10}.db"
    import sqlite3

    conn = sqlite3.connect(db)
    conn.execute("UPDATE tests SET event_time = ? WHERE id = ?", (time.time() - 31 * 86400, old))
    conn.commit()
    conn.close()
    assert lc.call("delete-old-deleted-test-records", run_id=run) == 1
    assert {r[0] for r in q(db, "SELECT id FROM tests")} == {recent, alive}
    assert q(db, "SELECT test_id FROM test_steps") == [(recent,)]
    assert lc.call("delete-old-deleted-test-records", run_id=run) == 0
    assert "expected 0" in bad_request(lc, "delete-old-deleted-test-records", 1, run_id=run)
    assert "needs a run-id" in bad_request(lc, "delete-old-deleted-test-records")


def test_test_data_rollup(lc: LocalCaller, run: int, tmp_path: Path) -> None:
    tid = lc.call("register-test", "sim", run_id=run)
    lc.call("test-set-state-status-by-id", tid, "COMPLETED", "WARN", run_id=run)
    lc.call("csv->test-data", tid, "p,a,1,1,0\np,b,2,2,0,,,PASS", run_id=run)
    assert lc.call("test-data-rollup", tid, "ignored", run_id=run) is True
    assert row(tmp_path, run, tid, "status, pass_count, fail_count") == ("WARN", 2, 0)  # WARN kept
    lc.call("csv->test-data", tid, "p,c,9,1,0", run_id=run)
    assert lc.call("test-data-rollup", tid, run_id=run) is True
    assert row(tmp_path, run, tid, "status, pass_count, fail_count") == ("FAIL", 2, 1)
    assert "unknown test-id" in bad_request(lc, "test-data-rollup", 99, run_id=run)
    assert "status must be" in bad_request(lc, "test-data-rollup", tid, 5, run_id=run)


@pytest.mark.parametrize(
    ("items", "parent"),
    [
        # the worked examples of megatest-api.md §3.2 (other item first, incoming last)
        ([("COMPLETED", "PASS"), ("RUNNING", "n/a")], ("RUNNING", "PASS")),
        ([("COMPLETED", "PASS"), ("COMPLETED", "FAIL")], ("COMPLETED", "FAIL")),
        ([("COMPLETED", "PASS"), ("COMPLETED", "WARN")], ("COMPLETED", "WARN")),
        ([("NOT_STARTED", "n/a"), ("COMPLETED", "PASS")], ("NOT_STARTED", "STARTED")),
        ([("NOT_STARTED", "PREQ_FAIL"), ("COMPLETED", "PASS")], ("NOT_STARTED", "PREQ_FAIL")),
        ([("NOT_STARTED", "PREQ_DISCARDED"), ("COMPLETED", "PASS")], ("COMPLETED", "STARTED")),
        ([("DELETED", "n/a"), ("DELETED", "n/a")], ("DELETED", "n/a")),
        # B29 fixed: a deleted item has no say while others are left
        ([("DELETED", "n/a"), ("COMPLETED", "PASS")], ("COMPLETED", "PASS")),
        # freshly registered items only
        ([("NOT_STARTED", "n/a"), ("NOT_STARTED", "n/a")], ("NOT_STARTED", "n/a")),
    ],
)
def test_roll_up_rule_matches_megatest_examples(
    items: list[tuple[str, str]], parent: tuple[str, str]
) -> None:
    from backend.db.commands.rollup import parent_state_status

    assert parent_state_status(items) == parent
