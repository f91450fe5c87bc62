"""Tests of a run (run databases): registering, reading, state changes, counts.

All commands here take the run-id from the request (``run_id``), not from
params; the run must exist in main.db (``scope.require_run``) and a test id
must belong to that run.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from backend.db.commands.base import (
    CallContext,
    arity,
    bad,
    command,
    param,
    row_as_dict,
    rows_as_dicts,
    want_int,
    want_number,
    want_opt_str,
    want_str,
    want_str_list,
)
from backend.db.commands.patterns import test_clause
from backend.db.commands.rollup import RUNNING_STATES, data_rollup, roll_up
from backend.db.commands.scope import require_run

MAX_NAME = 1024
TEST_COLUMNS = (
    "id", "run_id", "testname", "host", "cpuload", "diskfree", "uname", "rundir", "shortdir",
    "item_path", "state", "status", "attemptnum", "final_logf", "logdat", "run_duration",
    "comment", "event_time", "fail_count", "pass_count", "archived", "last_update",
)
SORT_COLUMNS = frozenset(TEST_COLUMNS)
# Megatest's qryvals 'shortlist (its 15-field short record has these real values).
SHORTLIST = ("id", "run_id", "testname", "item_path", "state", "status")
# A parent row that has items is a summary, not a job: Megatest's counts skip it.
LEAF = (
    "NOT (t.item_path = '' AND EXISTS (SELECT 1 FROM tests i WHERE i.run_id = t.run_id "
    "AND i.testname = t.testname AND i.item_path != ''))"
)
RUNNING_IN = "t.state IN (" + ", ".join(f"'{s}'" for s in RUNNING_STATES) + ")"


def want_testname(value: Any) -> str:
    name = want_str(value, "testname")
    if not name or "/" in name or len(name) > MAX_NAME:
        raise bad("testname must be non-empty, without '/', at most 1024 characters")
    return name


def want_item_path(value: Any) -> str:
    item = want_str(value, "item_path")
    if len(item) > MAX_NAME:
        raise bad("item_path is longer than 1024 characters")
    return item


def test_row(conn: sqlite3.Connection, run_id: int, test_id: Any) -> dict[str, Any]:
    """The tests row of ``test_id`` in ``run_id``; bad_request if there is none."""
    tid = want_int(test_id, "test-id")
    row = row_as_dict(
        conn.execute("SELECT * FROM tests WHERE id = ? AND run_id = ?", (tid, run_id))
    )
    if row is None:
        raise bad(f"unknown test-id {tid} in run {run_id}")
    return row


@command("register-test", write=True)
def register_test(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
    """[testname, item_path?] -> test-id. INSERT OR IGNORE: idempotent. An item
    also creates its parent row (item_path '') so the roll-up has a target."""
    run_id = require_run(ctx, "register-test")
    arity(params, 1, 2)
    testname = want_testname(params[0])
    item_path = want_item_path(param(params, 1, ""))
    insert = (
        "INSERT OR IGNORE INTO tests(run_id, testname, item_path, state, status, event_time) "
        "VALUES (?, ?, ?, 'NOT_STARTED', 'n/a', strftime('%s','now'))"
    )
    if item_path:
        conn.execute(insert, (run_id, testname, ""))
    cur = conn.execute(insert, (run_id, testname, item_path))
    if item_path and cur.rowcount:
        roll_up(conn, run_id, testname)
    row = conn.execute(
        "SELECT id FROM tests WHERE run_id = ? AND testname = ? AND item_path = ?",
        (run_id, testname, item_path),
    ).fetchone()
    return row[0]


@command("get-test-id", write=False)
def get_test_id(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
    """[testname, item_path?] -> test-id, or None if not registered."""
    run_id = require_run(ctx, "get-test-id")
    arity(params, 1, 2)
    row = conn.execute(
        "SELECT id FROM tests WHERE run_id = ? AND testname = ? AND item_path = ?",
        (run_id, want_str(params[0], "testname"), want_item_path(param(params, 1, ""))),
    ).fetchone()
    return None if row is None else row[0]


@command("get-test-info-by-id", write=False)
def get_test_info_by_id(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
    """[test-id] -> the tests row as a map."""
    run_id = require_run(ctx, "get-test-info-by-id")
    arity(params, 1)
    return test_row(conn, run_id, params[0])


@command("get-tests-for-run", write=False)
def get_tests_for_run(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
    """[testpatt?, states?, statuses?, offset?, limit?, not_in?, sort_by?, sort_order?,
    qryvals?, last_update?, mode?] -> tests rows (Megatest's positions, minus run-id)."""
    run_id = require_run(ctx, "get-tests-for-run")
    arity(params, 0, 11)
    testpatt = want_str(param(params, 0, "%"), "test pattern")
    states = want_str_list(param(params, 1, []), "states")
    statuses = want_str_list(param(params, 2, []), "statuses")
    offset = want_int(param(params, 3, 0), "offset")
    limit = want_int(param(params, 4, -1), "limit", minimum=-1)
    not_in = param(params, 5, False)
    if not isinstance(not_in, bool):
        raise bad("not_in must be true or false")
    sort_by = want_str_list(param(params, 6, ["testname", "item_path"]), "sort_by")
    sort_order = want_str(param(params, 7, "asc"), "sort_order").upper()
    qryvals = param(params, 8, list(TEST_COLUMNS))
    qryvals = list(SHORTLIST) if qryvals == "shortlist" else want_str_list(qryvals, "qryvals")
    since = param(params, 9, None)
    mode = want_str(param(params, 10, "normal"), "mode")
    for col in [*sort_by, *qryvals]:
        if col not in SORT_COLUMNS:
            raise bad(f"unknown tests column {col[:64]!r}")
    if sort_order not in ("ASC", "DESC"):
        raise bad("sort_order must be asc or desc")
    if not qryvals:
        raise bad("qryvals must name at least one column")
    where, args = test_clause(testpatt)
    sql_where = ["run_id = ?", where]
    args = [run_id, *args]
    filt, fargs = state_status_clause(states, statuses, not_in, dashboard=mode == "dashboard")
    sql_where.append(filt)
    args += fargs
    if since is not None:
        sql_where.append("last_update > ?")
        args.append(want_number(since, "last_update"))
    order = ", ".join(f"{c} {sort_order}" for c in [*sort_by, "id"])
    sql = (
        f"SELECT {', '.join(qryvals)} FROM tests WHERE {' AND '.join(sql_where)} "
        f"ORDER BY {order} LIMIT ? OFFSET ?"
    )
    return rows_as_dicts(conn.execute(sql, [*args, limit, offset]))


def state_status_clause(
    states: list[str], statuses: list[str], not_in: bool, *, dashboard: bool
) -> tuple[str, list[Any]]:
    """The state/status filter of get-tests-for-run, parenthesised as a whole.

    Normal mode: ``state IN S AND status IN T`` (NOT IN for both with not_in).
    Dashboard mode with both lists (Megatest's, db L2647-2668): a COMPLETED test
    is judged by its status, any other by its state, i.e. ``(state='COMPLETED'
    AND status IN T) OR (state NOT IN ('COMPLETED','DELETED') AND state IN S)``,
    and with not_in ``(state='COMPLETED' AND status NOT IN T) OR
    (state != 'COMPLETED' AND state NOT IN S)``. Megatest appended that OR
    without parentheses, so one branch escaped the run and pattern filters and
    rows of other runs leaked in (bug B2); ours is one parenthesised term."""
    s_marks = ", ".join("?" for _ in states)
    t_marks = ", ".join("?" for _ in statuses)
    neg = "NOT IN" if not_in else "IN"
    if dashboard and states and statuses:
        if not_in:
            sql = (f"((state = 'COMPLETED' AND status NOT IN ({t_marks})) OR "
                   f"(state != 'COMPLETED' AND state NOT IN ({s_marks})))")
        else:
            sql = (f"((state = 'COMPLETED' AND status IN ({t_marks})) OR "
                   f"(state NOT IN ('COMPLETED', 'DELETED') AND state IN ({s_marks})))")
        return sql, [*statuses, *states]
    parts: list[str] = []
    args: list[Any] = []
    for col, values, marks in (("state", states, s_marks), ("status", statuses, t_marks)):
        if values:
            parts.append(f"{col} {neg} ({marks})")
            args += values
    return "(" + (" AND ".join(parts) or "1") + ")", args


@command("test-set-state-status-by-id", write=True)
def test_set_state_status_by_id(
    conn: sqlite3.Connection, ctx: CallContext, params: list[Any]
) -> Any:
    """[test-id, state, status, comment?] -> True. None leaves a field as it is.
    An item's change is rolled up into its parent in the same transaction."""
    run_id = require_run(ctx, "test-set-state-status-by-id")
    arity(params, 3, 4)
    test = test_row(conn, run_id, params[0])
    state = want_opt_str(params[1], "state")
    status = want_opt_str(params[2], "status")
    comment = want_opt_str(param(params, 3), "comment")
    set_state_status_and_roll_up(conn, run_id, test, state, status, comment)
    return True


def set_state_status_and_roll_up(
    conn: sqlite3.Connection,
    run_id: int,
    test: dict[str, Any],
    state: str | None,
    status: str | None,
    comment: str | None,
) -> None:
    """Megatest's set-state-status-and-roll-up-items on a known row: set the
    given fields (None = leave), stamp start/duration, status AUTO from the
    test's data, roll an item up."""
    sets: list[str] = []
    args: list[Any] = []
    for col, val in (("state", state), ("status", status), ("comment", comment)):
        if val is not None:
            sets.append(f"{col} = ?")
            args.append(val)
    if state in ("LAUNCHED", "REMOTEHOSTSTART"):
        sets.append("event_time = strftime('%s','now')")  # Megatest's set-test-start-time
    if state == "COMPLETED" and test["state"] != "COMPLETED":
        sets.append("run_duration = max(0, strftime('%s','now') - event_time)")
    if sets:
        conn.execute(f"UPDATE tests SET {', '.join(sets)} WHERE id = ?", [*args, test["id"]])
    if status == "AUTO":
        # Megatest: status AUTO means "take it from the test's data" (test-data-rollup).
        data_rollup(conn, test["id"])
    if test["item_path"]:
        roll_up(conn, run_id, test["testname"])


def _count(conn: sqlite3.Connection, where: str, args: list[Any]) -> int:
    row = conn.execute(f"SELECT count(*) FROM tests t WHERE {where}", args).fetchone()
    return int(row[0])


@command("get-count-tests-running", write=False)
def get_count_tests_running(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
    """[] -> running jobs (leaf tests in RUNNING/LAUNCHED/REMOTEHOSTSTART) of every
    run stored in this run database, as Megatest counts per db file."""
    require_run(ctx, "get-count-tests-running")
    arity(params, 0)
    return _count(conn, f"{RUNNING_IN} AND {LEAF}", [])


@command("get-count-tests-running-for-run-id", write=False)
def get_count_tests_running_for_run_id(
    conn: sqlite3.Connection, ctx: CallContext, params: list[Any]
) -> Any:
    """[] -> all tests of this run in a running state (parents included, as Megatest)."""
    run_id = require_run(ctx, "get-count-tests-running-for-run-id")
    arity(params, 0)
    return _count(conn, f"{RUNNING_IN} AND t.run_id = ?", [run_id])


@command("get-count-tests-running-for-testname", write=False)
def get_count_tests_running_for_testname(
    conn: sqlite3.Connection, ctx: CallContext, params: list[Any]
) -> Any:
    """[testname] -> running jobs (leaf tests) of that test in this run."""
    run_id = require_run(ctx, "get-count-tests-running-for-testname")
    arity(params, 1)
    testname = want_str(params[0], "testname")
    return _count(
        conn, f"{RUNNING_IN} AND t.run_id = ? AND t.testname = ? AND {LEAF}", [run_id, testname]
    )
