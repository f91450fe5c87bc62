"""api.scm's read-only STEPS and TEST DATA groups, beyond get-steps-for-test and
read-test-data (steps.py, data.py): step and data rows by id, the 7-field
step listing and the two-pattern data read. Run db, run-id in the request;
a step or data id names a row of a test of this run only.
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
from backend.db.commands.patterns import name_clause
from backend.db.commands.scope import require_run
from backend.db.commands.tests import test_row

STEP_DATA = "s.id, s.test_id, s.stepname, s.state, s.status, s.event_time, s.logfile"
STEP_INFO = STEP_DATA + ", s.comment"
DATA_INFO = ("d.id, d.test_id, d.category, d.variable, d.value, d.expected, d.tol, d.units, "
             "d.comment, d.status, d.type")


@command("get-steps-data", write=False)
def get_steps_data(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
    """[test-id] -> [{id, test_id, stepname, state, status, event_time, logfile}],
    steps with status DELETED left out, oldest first."""
    run_id = require_run(ctx, "get-steps-data")
    arity(params, 1)
    test = test_row(conn, run_id, params[0])
    return rows_as_dicts(conn.execute(
        f"SELECT {STEP_DATA} FROM test_steps s WHERE s.test_id = ? AND s.status != 'DELETED' "
        "ORDER BY s.id", (test["id"],)))


@command("get-steps-info-by-id", write=False)
def get_steps_info_by_id(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
    """[step-id] -> the step row (8 fields, comment included), or None."""
    run_id = require_run(ctx, "get-steps-info-by-id")
    arity(params, 1)
    return row_as_dict(conn.execute(
        f"SELECT {STEP_INFO} FROM test_steps s JOIN tests t ON t.id = s.test_id "
        "WHERE s.id = ? AND t.run_id = ?", (want_int(params[0], "step-id"), run_id)))


@command("read-test-data*", write=False)
def read_test_data_star(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
    """[test-id, categorypatt?, varpatt?] -> test_data rows ordered by category, variable."""
    run_id = require_run(ctx, "read-test-data*")
    arity(params, 1, 3)
    test = test_row(conn, run_id, params[0])
    cat_sql, cat_args = name_clause("category", want_str(param(params, 1, "%"), "category pattern"))
    var_sql, var_args = name_clause("variable", want_str(param(params, 2, "%"), "variable pattern"))
    return rows_as_dicts(conn.execute(
        f"SELECT * FROM test_data WHERE test_id = ? AND {cat_sql} AND {var_sql} "
        "ORDER BY category, variable", [test["id"], *cat_args, *var_args]))


@command("get-data-info-by-id", write=False)
def get_data_info_by_id(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
    """[test-data-id] -> the test_data row (11 fields), or None."""
    run_id = require_run(ctx, "get-data-info-by-id")
    arity(params, 1)
    return row_as_dict(conn.execute(
        f"SELECT {DATA_INFO} FROM test_data d JOIN tests t ON t.id = d.test_id "
        "WHERE d.id = ? AND t.run_id = ?", (want_int(params[0], "test-data-id"), run_id)))
