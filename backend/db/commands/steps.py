"""Test steps: teststep-set-status! and get-steps-for-test."""

from __future__ import annotations

import sqlite3
from typing import Any

from backend.db.commands.base import (
    CallContext,
    arity,
    bad,
    command,
    param,
    rows_as_dicts,
    want_str,
)
from backend.db.commands.scope import require_run
from backend.db.commands.tests import test_row


@command("teststep-set-status!", write=True)
def teststep_set_status(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
    """[test-id, stepname, state, status, comment?, logfile?] -> True.

    One row per (test, step, state), as Megatest's UNIQUE(test_id, stepname,
    state): a step usually records a ``start`` and an ``end`` row; setting the
    same (step, state) again updates that row, so retries are harmless."""
    run_id = require_run(ctx, "teststep-set-status!")
    arity(params, 4, 6)
    test = test_row(conn, run_id, params[0])
    stepname = want_str(params[1], "stepname")
    if not stepname:
        raise bad("stepname must not be empty")
    state = want_str(params[2], "state")
    status = want_str(params[3], "status")
    comment = want_str(param(params, 4, ""), "comment")
    logfile = want_str(param(params, 5, ""), "logfile")
    conn.execute(
        "INSERT INTO test_steps(test_id, stepname, state, status, event_time, comment, logfile) "
        "VALUES (?, ?, ?, ?, strftime('%s','now'), ?, ?) "
        "ON CONFLICT(test_id, stepname, state) DO UPDATE SET status = excluded.status, "
        "event_time = excluded.event_time, comment = excluded.comment, logfile = excluded.logfile",
        (test["id"], stepname, state, status, comment, logfile),
    )
    return True


@command("get-steps-for-test", write=False)
def get_steps_for_test(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
    """[test-id] -> the test's steps, oldest first."""
    run_id = require_run(ctx, "get-steps-for-test")
    arity(params, 1)
    test = test_row(conn, run_id, params[0])
    return rows_as_dicts(
        conn.execute("SELECT * FROM test_steps WHERE test_id = ? ORDER BY id", (test["id"],))
    )
