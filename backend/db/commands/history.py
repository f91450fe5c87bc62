"""api.scm's read-only TESTS/RUNS commands that look at a test across runs, or
at several runs at once: previous records of a test, the min-data listings and
the rundirs matching a pattern.

Runs are in main.db and tests in the run databases, so these read other files
through ``crossdb`` (read-only connections). Two of them are undefined on
Megatest's server (bug B11: ``get-previous-test-run-record`` and
``get-tests-for-runs-mindata`` dispatch to functions that do not exist;
Megatest's client composed them); we serve the composite on the server.
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
    rows_as_dicts,
    want_int,
    want_str,
    want_str_list,
)
from backend.db.commands.crossdb import run_dbfname, select, select_main, select_run_tests
from backend.db.commands.patterns import test_clause, to_glob
from backend.db.commands.scope import require_main, require_run
from backend.db.commands.tests import want_item_path, want_testname

MINDATA = "id, run_id, testname, state, status, event_time, item_path"


def _other_runs(conn: sqlite3.Connection, ctx: CallContext, run_id: int) -> list[int]:
    """Ids of the other runs (not deleted) with the same target as ``run_id``,
    newest id first; [] when the run has no keys. (Megatest's matching-records
    query also took deleted runs, bug B41; we leave them out in both.)"""
    keys = [r["fieldname"] for r in select_main(conn, ctx, 'SELECT fieldname FROM "keys" '
                                                "ORDER BY id", [])]
    if not keys:
        return []
    cols = ", ".join(f'ifnull("{k}", \'\') AS "{k}"' for k in keys)
    me = select_main(conn, ctx, f"SELECT {cols} FROM runs WHERE id = ?", [run_id])
    if not me:
        return []
    where = " AND ".join(f'ifnull("{k}", \'\') = ?' for k in keys)
    return [r["id"] for r in select_main(
        conn, ctx, f"SELECT id FROM runs WHERE {where} AND id != ? AND state != 'deleted' "
        "ORDER BY id DESC", [*me[0].values(), run_id])]


def _records(conn: sqlite3.Connection, ctx: CallContext, run_id: int, testpatt: str,
             cols: str = "*", extra: str = "", args: list[Any] | None = None
             ) -> list[dict[str, Any]]:
    where, pargs = test_clause(testpatt)
    return select(conn, ctx, run_dbfname(ctx, run_id),
                  f"SELECT {cols} FROM tests WHERE run_id = ? AND {where}{extra} "
                  "ORDER BY id DESC", [run_id, *pargs, *(args or [])])


def _name_item(params: list[Any]) -> str:
    return f"{want_testname(params[0])}/{want_item_path(param(params, 1, ''))}"


@command("get-previous-test-run-record", write=False)
def get_previous_test_run_record(
    conn: sqlite3.Connection, ctx: CallContext, params: list[Any]
) -> Any:
    """[testname, item_path?] -> the test's record in the newest other run with the
    same target that has it (not DELETED), or None. Megatest's client composite."""
    run_id = require_run(ctx, "get-previous-test-run-record")
    arity(params, 1, 2)
    patt = _name_item(params)
    for other in _other_runs(conn, ctx, run_id):
        found = _records(conn, ctx, other, patt, extra=" AND state != 'DELETED'")
        if found:
            return found[0]
    return None


@command("get-matching-previous-test-run-records", write=False)
def get_matching_previous_test_run_records(
    conn: sqlite3.Connection, ctx: CallContext, params: list[Any]
) -> Any:
    """[testname, item_path?] (patterns) -> per testname/item_path, the newest
    (event_time) record among the other runs with the same target; not DELETED."""
    run_id = require_run(ctx, "get-matching-previous-test-run-records")
    arity(params, 1, 2)
    testname = want_str(params[0], "testname pattern")
    patt = f"{testname}/{want_item_path(param(params, 1, ''))}"
    best: dict[tuple[str, str], dict[str, Any]] = {}
    for other in _other_runs(conn, ctx, run_id):
        for rec in _records(conn, ctx, other, patt, extra=" AND state != 'DELETED'"):
            key = (rec["testname"], rec["item_path"])
            if key not in best or rec["event_time"] > best[key]["event_time"]:
                best[key] = rec
    return list(best.values())


def _state_status_filter(params: list[Any], at: int) -> tuple[str, list[Any]]:
    states = want_str_list(param(params, at, []), "states")
    statuses = want_str_list(param(params, at + 1, []), "statuses")
    not_in = param(params, at + 2, False)
    if not isinstance(not_in, bool):
        raise bad("not_in must be true or false")
    neg = "NOT IN" if not_in else "IN"
    sql, args = "", []
    for col, values in (("state", states), ("status", statuses)):
        if values:
            sql += f" AND {col} {neg} ({', '.join('?' for _ in values)})"
            args += values
    return sql, args


@command("get-tests-for-run-mindata", write=False)
def get_tests_for_run_mindata(
    conn: sqlite3.Connection, ctx: CallContext, params: list[Any]
) -> Any:
    """[testpatt?, states?, statuses?, not_in?] -> [{id, run_id, testname, state,
    status, event_time, item_path}], deleted rows included, newest id first."""
    run_id = require_run(ctx, "get-tests-for-run-mindata")
    arity(params, 0, 4)
    extra, args = _state_status_filter(params, 1)
    patt = want_str(param(params, 0, "%"), "test pattern")
    return _records(conn, ctx, run_id, patt, MINDATA, extra, args)


@command("get-tests-for-runs-mindata", write=False)
def get_tests_for_runs_mindata(
    conn: sqlite3.Connection, ctx: CallContext, params: list[Any]
) -> Any:
    """[run_ids?, testpatt?, states?, statuses?, not_in?] -> the min-data rows of
    each run in turn (run_ids None = every run not deleted, newest first)."""
    require_main(ctx, "get-tests-for-runs-mindata")
    arity(params, 0, 5)
    run_ids = param(params, 0)
    if run_ids is None:
        run_ids = [r[0] for r in conn.execute(
            "SELECT id FROM runs WHERE state != 'deleted' ORDER BY event_time DESC, id DESC")]
    elif not isinstance(run_ids, list):
        raise bad("run_ids must be a list of run-ids")
    ids = [want_int(r, "run-id") for r in run_ids]
    extra, args = _state_status_filter(params, 2)
    patt = want_str(param(params, 1, "%"), "test pattern")
    order = {rid: i for i, rid in enumerate(dict.fromkeys(ids))}
    where, pargs = test_clause(patt)
    # One query per run db file (not per run), then each run's rows in turn.
    rows = select_run_tests(
        conn, ctx, list(order),
        f"SELECT {MINDATA} FROM tests WHERE run_id IN ({{ids}}) AND {where}{extra} "
        "ORDER BY id DESC", [*pargs, *args])
    return sorted(rows, key=lambda r: order[r["run_id"]])


@command("test-get-paths-matching-keynames-target-new", write=False)
def test_get_paths_matching_keynames_target_new(
    conn: sqlite3.Connection, ctx: CallContext, params: list[Any]
) -> Any:
    """[keynames, target, res, testpatt, statepatt, statuspatt, runname] -> the
    rundirs of this run's tests matching testpatt/statepatt/statuspatt, newest
    event_time first, followed by ``res`` (a list; None = []). keynames, target
    and runname are unused, as in Megatest."""
    run_id = require_run(ctx, "test-get-paths-matching-keynames-target-new")
    arity(params, 4, 7)
    res = param(params, 2, [])
    if not isinstance(res, list):
        raise bad("res must be a list")
    where, args = test_clause(want_str(params[3], "test pattern"))
    state = to_glob(want_str(param(params, 4, "%"), "state pattern"))
    status = to_glob(want_str(param(params, 5, "%"), "status pattern"))
    rows = rows_as_dicts(conn.execute(
        f"SELECT rundir FROM tests WHERE run_id = ? AND {where} AND state GLOB ? "
        "AND status GLOB ? ORDER BY event_time DESC, id DESC",
        [run_id, *args, state, status]))
    return [r["rundir"] for r in rows] + res
