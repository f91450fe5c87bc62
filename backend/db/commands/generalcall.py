"""``general-call``: Megatest's named statements (``db:queries``, db L3768-3904),
every one of them, by name, each with its parameter list checked.

Request: run-id in the request (it picks the run db), params
``[statement-name, p1, p2, ...]`` with ``p1...`` exactly Megatest's statement
parameters in Megatest's order (Megatest's own params also carried a run-id
after the name, which its dispatcher dropped; ours is the request's). A run-id
among the statement parameters must be the request's run-id, a test-id must
name a test of that run (several runs share a db file), a testname given
several times must be the same each time; else ``bad_request``. An unknown
name or a wrong parameter count is ``bad_request`` (Megatest's process exited,
bug B17). Result: ``true``, as Megatest.

Fixes (docs/api.md, "general-call"): ``set-test-status`` sets the status
(Megatest set the state, B1); ``delete-tests-in-state``,
``update-pass-fail-counts`` and ``top-test-set-per-pf-counts`` touch this run
only (Megatest: every run, B5); a state/status change of an item rolls up into
its parent, as every other state change does here.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from backend.db.commands.base import (
    CallContext,
    arity,
    bad,
    command,
    want_int,
    want_number,
    want_str,
)
from backend.db.commands.rollup import roll_up
from backend.db.commands.scope import require_run
from backend.db.commands.tests import test_row, want_item_path, want_testname

Kind = str  # s: string, n: number, t: test-id, r: run-id, N: testname, I: item path
Run = Callable[[sqlite3.Connection, int, list[Any]], None]
NOW = "strftime('%s','now')"


def _set(cols: str) -> Run:
    """UPDATE tests SET <cols> = ?... WHERE id = <last param: test-id>."""
    names = cols.split()

    def run(conn: sqlite3.Connection, run_id: int, v: list[Any]) -> None:
        sets = ", ".join(f"{c} = ?" for c in names)
        conn.execute(f"UPDATE tests SET {sets} WHERE id = ?", [*v[:-1], v[-1]["id"]])
        if {"state", "status"} & set(names) and v[-1]["item_path"]:
            roll_up(conn, run_id, v[-1]["testname"])

    return run


def _register(conn: sqlite3.Connection, run_id: int, v: list[Any]) -> None:
    insert = ("INSERT OR IGNORE INTO tests(run_id, testname, item_path, state, status, "
              f"event_time) VALUES (?, ?, ?, 'NOT_STARTED', 'n/a', {NOW})")
    _, name, item = v
    if item:
        conn.execute(insert, (run_id, name, ""))  # the parent, as register-test
    if conn.execute(insert, (run_id, name, item)).rowcount and item:
        roll_up(conn, run_id, name)


def _start_time(conn: sqlite3.Connection, run_id: int, v: list[Any]) -> None:
    conn.execute(f"UPDATE tests SET event_time = {NOW} WHERE id = ?", (v[0]["id"],))


def _pf_rollup(conn: sqlite3.Connection, run_id: int, v: list[Any]) -> None:
    conn.execute(
        "UPDATE tests SET status = CASE WHEN fail_count > 0 THEN 'FAIL' "
        "WHEN pass_count > 0 AND status NOT IN ('WARN', 'FAIL') THEN 'PASS' ELSE status END "
        "WHERE id = ?", (v[0]["id"],))


def _rundir(conn: sqlite3.Connection, run_id: int, v: list[Any]) -> None:
    conn.execute("UPDATE tests SET rundir = ?, shortdir = ? WHERE testname = ? AND item_path = ? "
                 "AND run_id = ?", v)


def _delete_in_state(conn: sqlite3.Connection, run_id: int, v: list[Any]) -> None:
    conn.execute("UPDATE tests SET state = 'DELETED' WHERE state = ? AND run_id = ?",
                 (v[0], run_id))


def _toplog(conn: sqlite3.Connection, run_id: int, v: list[Any]) -> None:
    conn.execute("UPDATE tests SET final_logf = ? WHERE run_id = ? AND testname = ? "
                 "AND item_path = ''", v)


def _rundat(conn: sqlite3.Connection, run_id: int, v: list[Any]) -> None:
    conn.execute("INSERT INTO test_rundat(test_id, update_time, cpuload, diskfree, diskusage, "
                 "run_duration) VALUES (?, ?, ?, ?, ?, ?)", [v[0]["id"], *v[1:]])


def _update_test(col: str, op: str) -> Run:
    """update-test-state/-status: the run's rows of the test whose ``col`` is (or
    matches) the old value, except the top-level row when the test has items."""

    def run(conn: sqlite3.Connection, run_id: int, v: list[Any]) -> None:
        new, old, _, name, _ = v
        conn.execute(
            f"UPDATE tests SET {col} = ? WHERE {col} {op} ? AND run_id = ? AND testname = ? "
            "AND NOT (item_path = '' AND EXISTS (SELECT 1 FROM tests i WHERE i.run_id = ? "
            "AND i.testname = ? AND i.item_path != ''))", (new, old, run_id, name, run_id, name))
        roll_up(conn, run_id, name)

    return run


def _pass_fail_counts(conn: sqlite3.Connection, run_id: int, v: list[Any]) -> None:
    name = v[0]
    conn.execute(
        "UPDATE tests SET fail_count = (SELECT count(*) FROM tests i WHERE i.run_id = ?1 "
        "AND i.testname = ?2 AND i.item_path != '' AND i.status IN "
        "('FAIL', 'CHECK', 'INCOMPLETE', 'ABORT')), pass_count = (SELECT count(*) FROM tests i "
        "WHERE i.run_id = ?1 AND i.testname = ?2 AND i.item_path != '' AND i.status IN "
        "('PASS', 'WARN', 'WAIVED')) WHERE run_id = ?1 AND testname = ?2 AND item_path = ''",
        (run_id, name))


def _top_running(conn: sqlite3.Connection, run_id: int, v: list[Any]) -> None:
    conn.execute("UPDATE tests SET state = 'RUNNING' WHERE run_id = ? AND testname = ? "
                 "AND item_path = ''", (run_id, v[0]))


def _per_pf_counts(conn: sqlite3.Connection, run_id: int, v: list[Any]) -> None:
    roll_up(conn, run_id, v[0])  # our roll-up rule (docs/api.md, "Item roll-up")


def _child_status(table: str) -> Run:
    def run(conn: sqlite3.Connection, run_id: int, v: list[Any]) -> None:
        conn.execute(f"UPDATE {table} SET status = 'DELETED' WHERE test_id = ?", (v[0]["id"],))

    return run


STATEMENTS: dict[str, tuple[str, Run]] = {
    "update-run-duration": ("nt", _set("run_duration")),
    "register-test": ("rNI", _register),
    "set-test-state": ("st", _set("state")),
    "set-test-status": ("st", _set("status")),
    "state-status": ("sst", _set("state status")),
    "state-status-msg": ("ssst", _set("state status comment")),
    "set-test-comment": ("st", _set("comment")),
    "set-test-start-time": ("t", _start_time),
    "pass-fail-counts": ("nnt", _set("pass_count fail_count")),
    "test_data-pf-rollup": ("tttt", _pf_rollup),
    "test-set-log": ("st", _set("final_logf")),
    "test-set-rundir-shortdir": ("ssNIr", _rundir),
    "delete-tests-in-state": ("s", _delete_in_state),
    "tests:test-set-toplog": ("srN", _toplog),
    "update-cpuload-diskfree": ("nnt", _set("cpuload diskfree")),
    "update-uname-host": ("sst", _set("uname host")),
    "update-test-rundat": ("tnnnnn", _rundat),
    "update-test-state": ("ssrNN", _update_test("state", "=")),
    "update-test-status": ("ssrNN", _update_test("status", "LIKE")),
    "update-pass-fail-counts": ("NNNr", _pass_fail_counts),
    "top-test-set-running": ("Nr", _top_running),
    "top-test-set-per-pf-counts": ("N" * 17, _per_pf_counts),
    "delete-test-step-records": ("t", _child_status("test_steps")),
    "delete-test-data-records": ("t", _child_status("test_data")),
}


def check_params(conn: sqlite3.Connection, run_id: int, kinds: str, raw: list[Any]) -> list[Any]:
    out: list[Any] = []
    names: set[str] = set()
    tests: set[int] = set()
    for i, (kind, value) in enumerate(zip(kinds, raw, strict=True), 1):
        what = f"statement param {i}"
        if kind == "s":
            out.append(want_str(value, what))
        elif kind == "n":
            out.append(want_number(value, what))
        elif kind == "t":
            out.append(test_row(conn, run_id, value))
            tests.add(out[-1]["id"])
        elif kind == "r":
            if want_int(value, f"{what} (run-id)") != run_id:
                raise bad(f"{what}: run-id {value} is not the request's run-id {run_id}")
            out.append(run_id)
        elif kind == "N":
            out.append(want_testname(value))
            names.add(out[-1])
        else:
            out.append(want_item_path(value))
    if len(names) > 1 or len(tests) > 1:
        raise bad("a repeated testname or test-id must be the same each time")
    return out


@command("general-call", write=True)
def general_call(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
    """[statement-name, p1, ...] -> True (see the module docstring)."""
    run_id = require_run(ctx, "general-call")
    arity(params, 1, 18)
    name = want_str(params[0], "statement name")
    if name not in STATEMENTS:
        raise bad(f"unknown general-call statement {name[:64]!r}")
    kinds, run = STATEMENTS[name]
    if len(params) - 1 != len(kinds):
        raise bad(f"{name} takes {len(kinds)} params, got {len(params) - 1}")
    run(conn, run_id, check_params(conn, run_id, kinds, params[1:]))
    return True
