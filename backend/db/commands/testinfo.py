"""api.scm's read-only TESTS group, per-test lookups (run db, run-id in the
request): a test's directory, logs, pid, items, short record, and the
jobgroup running count.

Unknown tests are not errors here: Megatest answers ``#f`` (None) and so do we,
once the params are well-formed. A test-id names a row of this run only
(several runs share a db file).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from backend.db.commands.base import (
    CallContext,
    arity,
    command,
    param,
    row_as_dict,
    rows_as_dicts,
    want_int,
    want_str,
)
from backend.db.commands.crossdb import select_main
from backend.db.commands.scope import require_run
from backend.db.commands.tests import LEAF, RUNNING_IN, want_testname

SHORT_COLUMNS = ("id", "run_id", "testname", "state", "status", "item_path")
NAMES_PER_QUERY = 500
INDEX_COLUMNS = ("id", "item_path", "state", "status", "run_duration", "final_logf", "comment")


def find_test(
    conn: sqlite3.Connection, run_id: int, test_id: Any, cols: str = "*"
) -> dict[str, Any] | None:
    tid = want_int(test_id, "test-id")
    return row_as_dict(
        conn.execute(f"SELECT {cols} FROM tests WHERE id = ? AND run_id = ?", (tid, run_id))
    )


def _test_column(ctx: CallContext, params: list[Any], name: str, col: str,
                 conn: sqlite3.Connection) -> Any:
    run_id = require_run(ctx, name)
    arity(params, 1)
    row = find_test(conn, run_id, params[0], col)
    return None if row is None else row[col]


@command("test-get-rundir-from-test-id", write=False)
def test_get_rundir_from_test_id(
    conn: sqlite3.Connection, ctx: CallContext, params: list[Any]
) -> Any:
    """[test-id] -> the test's rundir, or None."""
    return _test_column(ctx, params, "test-get-rundir-from-test-id", "rundir", conn)


@command("test-get-top-process-pid", write=False)
def test_get_top_process_pid(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
    """[test-id] -> the stored pid (Megatest keeps it in attemptnum), or None."""
    return _test_column(ctx, params, "test-get-top-process-pid", "attemptnum", conn)


@command("get-testinfo-state-status", write=False)
def get_testinfo_state_status(
    conn: sqlite3.Connection, ctx: CallContext, params: list[Any]
) -> Any:
    """[test-id] -> {id, run_id, testname, state, status, item_path}, or None.
    (Megatest's 15-field short record carries only these six real values.)"""
    run_id = require_run(ctx, "get-testinfo-state-status")
    arity(params, 1)
    return find_test(conn, run_id, params[0], ", ".join(SHORT_COLUMNS))


@command("test-toplevel-num-items", write=False)
def test_toplevel_num_items(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
    """[testname] -> the number of the test's items in this run not in state DELETED."""
    run_id = require_run(ctx, "test-toplevel-num-items")
    arity(params, 1)
    return conn.execute(
        "SELECT count(*) FROM tests WHERE run_id = ? AND testname = ? AND item_path != '' "
        "AND state != 'DELETED'", (run_id, want_testname(params[0]))).fetchone()[0]


@command("test-get-logfile-info", write=False)
def test_get_logfile_info(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
    """[testname] -> {rundir, final_logf} of the test's top-level row, or None."""
    run_id = require_run(ctx, "test-get-logfile-info")
    arity(params, 1)
    return row_as_dict(conn.execute(
        "SELECT rundir, final_logf FROM tests WHERE run_id = ? AND testname = ? "
        "AND item_path = ''", (run_id, want_testname(params[0]))))


@command("test-get-records-for-index-file", write=False)
def test_get_records_for_index_file(
    conn: sqlite3.Connection, ctx: CallContext, params: list[Any]
) -> Any:
    """[testname] -> [{id, item_path, state, status, run_duration, final_logf,
    comment}] of every item of the test (deleted ones too), newest id first."""
    run_id = require_run(ctx, "test-get-records-for-index-file")
    arity(params, 1)
    return rows_as_dicts(conn.execute(
        f"SELECT {', '.join(INDEX_COLUMNS)} FROM tests WHERE run_id = ? AND testname = ? "
        "AND item_path != '' ORDER BY id DESC", (run_id, want_testname(params[0]))))


@command("get-count-tests-running-in-jobgroup", write=False)
def get_count_tests_running_in_jobgroup(
    conn: sqlite3.Connection, ctx: CallContext, params: list[Any]
) -> Any:
    """[jobgroup] -> running jobs of the tests whose test_meta jobgroup is
    ``jobgroup``, counted like get-count-tests-running (every run of this run
    db, parents with items left out); 0 for a None or unknown jobgroup."""
    require_run(ctx, "get-count-tests-running-in-jobgroup")
    arity(params, 1)
    jobgroup = param(params, 0)
    if jobgroup is None:
        return 0
    names = [r["testname"] for r in select_main(
        conn, ctx, "SELECT testname FROM test_meta WHERE jobgroup = ?",
        [want_str(jobgroup, "jobgroup")])]
    if not names:
        return 0
    total = 0
    for i in range(0, len(names), NAMES_PER_QUERY):  # under sqlite's bound-variable limit
        chunk = names[i:i + NAMES_PER_QUERY]
        marks = ", ".join("?" for _ in chunk)
        total += conn.execute(
            f"SELECT count(*) FROM tests t WHERE {RUNNING_IN} AND {LEAF} "
            f"AND t.testname IN ({marks})", chunk).fetchone()[0]
    return total
