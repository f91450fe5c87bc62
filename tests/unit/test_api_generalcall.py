"""general-call: every statement of Megatest's db:queries, by name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from backend.db.commands.generalcall import STATEMENTS
from backend.db.commands.rollup import parent_state_status
from backend.ops.demoload import LocalCaller
from tests.unit.api_helpers import KEYS, refused
from tests.unit.conftest import q


@pytest.fixture
def run(lc: LocalCaller) -> int:
    return int(lc.call("register-run", KEYS, "r1"))


def gc(lc: LocalCaller, run: int, *params: Any) -> Any:
    return lc.call("general-call", *params, run_id=run)


def row(tmp_path: Path, run: int, tid: int, cols: str) -> tuple[Any, ...]:
    return q(tmp_path / f"{run}.db", f"SELECT {cols} FROM tests WHERE id = ?", tid)[0]


def test_register_test_and_setters(lc: LocalCaller, run: int, tmp_path: Path) -> None:
    assert gc(lc, run, "register-test", run, "foo", "") is True
    assert gc(lc, run, "register-test", run, "foo", "") is True  # ignored if it exists
    t = lc.call("get-test-id", "foo", run_id=run)
    assert row(tmp_path, run, t, "state, status") == ("NOT_STARTED", "n/a")
    gc(lc, run, "set-test-state", "RUNNING", t)
    gc(lc, run, "set-test-status", "WARN", t)  # B1 fixed: sets the status
    assert row(tmp_path, run, t, "state, status") == ("RUNNING", "WARN")
    gc(lc, run, "state-status-msg", "COMPLETED", "PASS", "done", t)
    gc(lc, run, "test-set-log", "/tmp/another/logfile/eh", t)
    gc(lc, run, "update-run-duration", 42, t)
    gc(lc, run, "update-cpuload-diskfree", 1.5, 1000, t)
    gc(lc, run, "update-uname-host", "Linux", "h1", t)
    gc(lc, run, "pass-fail-counts", 3, 1, t)
    gc(lc, run, "test-set-rundir-shortdir", "/r/foo", "foo", "foo", "", run)
    gc(lc, run, "tests:test-set-toplog", "top.log", run, "foo")
    assert row(tmp_path, run, t, "state, status, comment, final_logf, run_duration, cpuload, "
               "diskfree, uname, host, pass_count, fail_count, rundir, shortdir") == (
        "COMPLETED", "PASS", "done", "top.log", 42, 1.5, 1000, "Linux", "h1", 3, 1, "/r/foo",
        "foo")
    gc(lc, run, "test_data-pf-rollup", t, t, t, t)
    assert row(tmp_path, run, t, "status") == ("FAIL",)  # fail_count > 0


def test_item_statements_roll_up(lc: LocalCaller, run: int, tmp_path: Path) -> None:
    gc(lc, run, "register-test", run, "multi", "i1")
    gc(lc, run, "register-test", run, "multi", "i2")
    top = lc.call("get-test-id", "multi", "", run_id=run)
    i1 = lc.call("get-test-id", "multi", "i1", run_id=run)
    gc(lc, run, "state-status", "COMPLETED", "PASS", i1)
    # rolled up by the roll-up rule (rollup.py) from the two items
    assert row(tmp_path, run, top, "state, status") == parent_state_status(
        [("COMPLETED", "PASS"), ("NOT_STARTED", "n/a")])
    gc(lc, run, "update-test-state", "COMPLETED", "NOT_STARTED", run, "multi", "multi")
    gc(lc, run, "update-test-status", "FAIL", "n%", run, "multi", "multi")
    assert row(tmp_path, run, top, "state, status") == ("COMPLETED", "FAIL")
    gc(lc, run, "update-pass-fail-counts", "multi", "multi", "multi", run)
    assert row(tmp_path, run, top, "pass_count, fail_count") == (1, 1)
    gc(lc, run, "top-test-set-running", "multi", run)
    assert row(tmp_path, run, top, "state") == ("RUNNING",)
    gc(lc, run, "top-test-set-per-pf-counts", *["multi"] * 17)
    assert row(tmp_path, run, top, "state") == ("COMPLETED",)  # recomputed from items


def test_deletes_stay_inside_the_run(lc: LocalCaller, run: int, tmp_path: Path) -> None:
    other = [lc.call("register-run", KEYS, f"r{i}") for i in range(2, 12)][-1]
    assert other % 10 == run % 10  # a run sharing the db file
    t = lc.call("register-test", "a", run_id=run)
    u = lc.call("register-test", "a", run_id=other)
    lc.call("teststep-set-status!", t, "s", "end", "PASS", run_id=run)
    lc.call("csv->test-data", t, "c,v,1", run_id=run)
    gc(lc, run, "delete-tests-in-state", "NOT_STARTED")
    assert row(tmp_path, run, t, "state") == ("DELETED",)
    assert row(tmp_path, run, u, "state") == ("NOT_STARTED",)  # Megatest: every run
    gc(lc, run, "delete-test-step-records", t)
    gc(lc, run, "delete-test-data-records", t)
    db = tmp_path / f"{run % 10}.db"
    assert q(db, "SELECT status FROM test_steps") == [("DELETED",)]
    assert q(db, "SELECT status FROM test_data") == [("DELETED",)]
    gc(lc, run, "set-test-start-time", t)
    gc(lc, run, "update-test-rundat", t, 1, 2, 3, 4, 5)
    assert q(db, "SELECT test_id, update_time, cpuload, run_duration FROM test_rundat") == [
        (t, 1, 2, 5)]


def test_bad_statements_are_bad_requests(lc: LocalCaller, run: int) -> None:
    t = lc.call("register-test", "a", run_id=run)
    assert "unknown general-call statement" in refused(lc, "general-call", "drop", run_id=run)
    assert "takes 2 params" in refused(lc, "general-call", "set-test-state", "X", run_id=run)
    assert "not the request's run-id" in refused(
        lc, "general-call", "register-test", run + 1, "b", "", run_id=run)
    assert "unknown test-id" in refused(lc, "general-call", "set-test-state", "X", 999,
                                        run_id=run)
    assert "same each time" in refused(lc, "general-call", "update-pass-fail-counts", "a", "a",
                                       "b", run, run_id=run)
    refused(lc, "general-call", "set-test-state", 5, t, run_id=run)
    refused(lc, "general-call", "register-test", run, "a/b", "", run_id=run)
    refused(lc, "general-call", run_id=run)
    refused(lc, "general-call", "set-test-state", "X", t)  # no run-id


def test_every_statement_of_megatest_is_known() -> None:
    # db:queries, db L3768-3904 (reference section 3.20): 24 statements.
    assert sorted(STATEMENTS) == sorted([
        "update-run-duration", "register-test", "set-test-state", "set-test-status",
        "state-status", "state-status-msg", "set-test-comment", "set-test-start-time",
        "pass-fail-counts", "test_data-pf-rollup", "test-set-log", "test-set-rundir-shortdir",
        "delete-tests-in-state", "tests:test-set-toplog", "update-cpuload-diskfree",
        "update-uname-host", "update-test-rundat", "update-test-state", "update-test-status",
        "update-pass-fail-counts", "top-test-set-running", "top-test-set-per-pf-counts",
        "delete-test-step-records", "delete-test-data-records"])
