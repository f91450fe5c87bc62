"""api.scm's read/write TESTS group, beyond tests.py: state changes without and
with roll-up, the top-process pid, the archive block, soft and hard deletes.

Run databases only: the run-id is the request's, and a test id must belong to
that run (``tests.test_row``), as everywhere. Megatest's trigger processing
(running ``[triggers]`` commands of testconfig) is a harness side effect
outside the database and is not done here.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from backend.db.commands.base import (
    CallContext,
    arity,
    bad,
    command,
    param,
    want_int,
    want_opt_str,
)
from backend.db.commands.rollup import roll_up
from backend.db.commands.scope import require_run
from backend.db.commands.tests import set_state_status_and_roll_up, test_row, want_item_path, want_testname

DELETED_KEEP_SECONDS = 30 * 86400  # Megatest's delete-old-deleted-test-records cut-off


@command("test-set-state-status", write=True)
def test_set_state_status(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
    """[test-id, state, status, comment?] -> True. Sets the given fields (None =
    leave), nothing else: no start time, no roll-up (Megatest's plain setter)."""
    run_id = require_run(ctx, "test-set-state-status")
    arity(params, 3, 4)
    test = test_row(conn, run_id, params[0])
    values = {
        "state": want_opt_str(params[1], "state"),
        "status": want_opt_str(params[2], "status"),
        "comment": want_opt_str(param(params, 3), "comment"),
    }
    given = {k: v for k, v in values.items() if v is not None}
    if given:
        sets = ", ".join(f"{k} = ?" for k in given)
        conn.execute(f"UPDATE tests SET {sets} WHERE id = ?", [*given.values(), test["id"]])
    return True


@command("set-state-status-and-roll-up-items", write=True)
def set_state_status_and_roll_up_items(
    conn: sqlite3.Connection, ctx: CallContext, params: list[Any]
) -> Any:
    """[test-name-or-id, item-path, state, status, comment?] -> True. A test id
    (an integer) names the row itself and item-path is ignored; else the row
    (test-name, item-path) must exist. Then exactly test-set-state-status-by-id."""
    run_id = require_run(ctx, "set-state-status-and-roll-up-items")
    arity(params, 4, 5)
    name_or_id = params[0]
    if isinstance(name_or_id, int) and not isinstance(name_or_id, bool):
        test = test_row(conn, run_id, name_or_id)
    else:
        testname = want_testname(name_or_id)
        item_path = want_item_path(param(params, 1, ""))
        row = conn.execute(
            "SELECT id FROM tests WHERE run_id = ? AND testname = ? AND item_path = ?",
            (run_id, testname, item_path),
        ).fetchone()
        if row is None:
            raise bad(f"no test {testname!r} with item_path {item_path!r} in run {run_id}")
        test = test_row(conn, run_id, row[0])
    state = want_opt_str(params[2], "state")
    status = want_opt_str(params[3], "status")
    comment = want_opt_str(param(params, 4), "comment")
    set_state_status_and_roll_up(conn, run_id, test, state, status, comment)
    return True


@command("top-test-set-per-pf-counts", write=True)
def top_test_set_per_pf_counts(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
    """[test-name] -> True. Recomputes the parent row of test-name in THIS run
    from its items (the one roll-up rule, docs/api.md "Item roll-up"); Megatest
    updated every run's parent from every run's items (bug B5). A test without
    items is left alone."""
    run_id = require_run(ctx, "top-test-set-per-pf-counts")
    arity(params, 1)
    roll_up(conn, run_id, want_testname(params[0]))
    return True


@command("test-set-top-process-pid", write=True)
def test_set_top_process_pid(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
    """[test-id, pid] -> True. Stored in attemptnum, as Megatest does."""
    run_id = require_run(ctx, "test-set-top-process-pid")
    arity(params, 2)
    test = test_row(conn, run_id, params[0])
    pid = want_int(params[1], "pid")
    conn.execute("UPDATE tests SET attemptnum = ? WHERE id = ?", (pid, test["id"]))
    return True


@command("test-set-archive-block-id", write=True)
def test_set_archive_block_id(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
    """[test-id, archive-block-id] -> True (tests.archived; 0 = not archived)."""
    run_id = require_run(ctx, "test-set-archive-block-id")
    arity(params, 2)
    test = test_row(conn, run_id, params[0])
    block = want_int(params[1], "archive-block-id")
    conn.execute("UPDATE tests SET archived = ? WHERE id = ?", (block, test["id"]))
    return True


@command("delete-test-records", write=True)
def delete_test_records(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
    """[test-id] -> whether a test of this run was marked. Soft delete: the
    test becomes DELETED/n/a with an empty comment, its steps and data rows get
    status DELETED. An unknown test-id changes nothing and is not an error
    (Megatest's all-rmt test deletes a test that does not exist)."""
    run_id = require_run(ctx, "delete-test-records")
    arity(params, 1)
    tid = want_int(params[0], "test-id")
    row = conn.execute(
        "SELECT testname, item_path FROM tests WHERE id = ? AND run_id = ?", (tid, run_id)
    ).fetchone()
    if row is None:
        return False
    conn.execute("UPDATE test_steps SET status = 'DELETED' WHERE test_id = ?", (tid,))
    conn.execute("UPDATE test_data SET status = 'DELETED' WHERE test_id = ?", (tid,))
    conn.execute(
        "UPDATE tests SET state = 'DELETED', status = 'n/a', comment = '' WHERE id = ?", (tid,)
    )
    if row[1]:
        roll_up(conn, run_id, row[0])
    return True


@command("delete-old-deleted-test-records", write=True)
def delete_old_deleted_test_records(
    conn: sqlite3.Connection, ctx: CallContext, params: list[Any]
) -> Any:
    """[] -> the number of tests removed: tests of this run in state DELETED
    whose event_time is over 30 days old go, with their steps and data."""
    run_id = require_run(ctx, "delete-old-deleted-test-records")
    arity(params, 0)
    old = (
        "SELECT id FROM tests WHERE run_id = ? AND state = 'DELETED' AND event_time < ?"
    )
    args = (run_id, time.time() - DELETED_KEEP_SECONDS)
    conn.execute(f"DELETE FROM test_steps WHERE test_id IN ({old})", args)
    conn.execute(f"DELETE FROM test_data WHERE test_id IN ({old})", args)
    return conn.execute(f"DELETE FROM tests WHERE id IN ({old})", args).rowcount
