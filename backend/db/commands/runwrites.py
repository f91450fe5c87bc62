"""api.scm's read/write RUNS group, beyond register-run (runs.py) and the vars.

Run rows live in main.db and tests in the run databases, so the run-level
commands (lock/unlock-run, update-run-event_time, update-run-stats and the
run-row half of delete-run) are main.db commands: run-id None in the request
and the run-id they act on as their first param, as Megatest routed them
(with ``#f``) and as get-run-info does. set-tests-state-status and the tests
half of delete-run touch tests: they take the run-id in the request.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from backend.db.commands.base import (
    CallContext,
    arity,
    bad,
    command,
    want_int,
    want_opt_str,
    want_str,
    want_str_list,
)
from backend.db.commands.patterns import to_glob
from backend.db.commands.scope import MAIN_DB, require_main, require_run

MAX_STATS = 10_000


def want_run(conn: sqlite3.Connection, value: Any) -> int:
    """A run-id param of a main.db command, checked to exist."""
    run_id = want_int(value, "run-id")
    if conn.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone() is None:
        raise bad(f"unknown run-id {run_id}")
    return run_id


@command("set-tests-state-status", write=True)
def set_tests_state_status(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
    """[testnames, currstate, currstatus, newstate, newstatus] -> the ids of the
    top-level rows of the named tests, in reverse order of testnames (Megatest's).

    Every row (parent and items) of each name pattern in this run, and in
    currstate/currstatus when given, gets state = newstate or currstate or
    NOT_STARTED and status = newstatus or currstatus or UNKNOWN (Megatest fell
    back to currstate for the status, bug B4)."""
    run_id = require_run(ctx, "set-tests-state-status")
    arity(params, 5)
    names = want_str_list(params[0], "testnames")
    currstate, currstatus, newstate, newstatus = (
        want_opt_str(params[i], what)
        for i, what in enumerate(("currstate", "currstatus", "newstate", "newstatus"), 1)
    )
    state = newstate or currstate or "NOT_STARTED"
    status = newstatus or currstatus or "UNKNOWN"
    found: list[int] = []
    for name in names:
        where = ["run_id = ?", "testname GLOB ?"]
        args: list[Any] = [run_id, to_glob(name)]
        for col, cur in (("state", currstate), ("status", currstatus)):
            if cur is not None:
                where.append(f"{col} = ?")
                args.append(cur)
        conn.execute(
            f"UPDATE tests SET state = ?, status = ? WHERE {' AND '.join(where)}",
            [state, status, *args],
        )
        row = conn.execute(
            "SELECT id FROM tests WHERE run_id = ? AND testname = ? AND item_path = ''",
            (run_id, name),
        ).fetchone()
        if row is not None:
            found.insert(0, row[0])
    return found


@command("delete-run", write=True)
def delete_run(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
    """Two halves, picked by where the request goes (the data is in two files):

    * run-id N in the request, params []: the run's steps and data rows are
      removed and its tests become DELETED with an empty comment (status kept);
      -> the number of tests marked.
    * run-id None, params [run-id]: the run row becomes state ``deleted`` with an
      empty comment (register-run revives it); -> whether the run exists
      (an unknown run is not an error, as in Megatest).
    """
    if ctx.run_id is None and ctx.dbfname == MAIN_DB:
        arity(params, 1)
        run_id = want_int(params[0], "run-id")
        cur = conn.execute("UPDATE runs SET state = 'deleted', comment = '' WHERE id = ?", (run_id,))
        return cur.rowcount > 0
    run_id = require_run(ctx, "delete-run")
    arity(params, 0)
    tests = "SELECT id FROM tests WHERE run_id = ?"
    conn.execute(f"DELETE FROM test_steps WHERE test_id IN ({tests})", (run_id,))
    conn.execute(f"DELETE FROM test_data WHERE test_id IN ({tests})", (run_id,))
    cur = conn.execute("UPDATE tests SET state = 'DELETED', comment = '' WHERE run_id = ?", (run_id,))
    return cur.rowcount


@command("lock/unlock-run", write=True)
def lock_unlock_run(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
    """[run-id, lock, unlock, user] -> the new state: ``locked`` if lock, else
    ``unlocked`` if unlock, else ``locked``. Written to runs.state (Megatest's
    column) and logged in access_log (user, time, "<state> <run-id>")."""
    require_main(ctx, "lock/unlock-run")
    arity(params, 4)
    run_id = want_run(conn, params[0])
    lock, unlock = params[1], params[2]
    if not all(v is None or isinstance(v, bool) for v in (lock, unlock)):
        raise bad("lock and unlock must be true, false or nil")
    user = want_str(params[3], "user")
    new = "locked" if lock or not unlock else "unlocked"
    conn.execute("UPDATE runs SET state = ? WHERE id = ?", (new, run_id))
    conn.execute(
        "INSERT INTO access_log(user, accessed, args) VALUES (?, strftime('%s','now'), ?)",
        (user, f"{new} {run_id}"),
    )
    return new


@command("update-run-event_time", write=True)
def update_run_event_time(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
    """[run-id] -> True: the run's event_time becomes now."""
    require_main(ctx, "update-run-event_time")
    arity(params, 1)
    run_id = want_run(conn, params[0])
    conn.execute("UPDATE runs SET event_time = strftime('%s','now') WHERE id = ?", (run_id,))
    return True


@command("update-run-stats", write=True)
def update_run_stats(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
    """[run-id, stats] -> the number of groups written. ``stats`` is a list of
    [state, status, count]; each replaces the run_stats row of that (state,
    status); groups not named are left alone (Megatest's rule)."""
    require_main(ctx, "update-run-stats")
    arity(params, 2)
    run_id = want_run(conn, params[0])
    stats = params[1]
    if not isinstance(stats, list) or len(stats) > MAX_STATS:
        raise bad(f"stats must be a list of at most {MAX_STATS} [state, status, count]")
    triples: list[tuple[str, str, int]] = []
    for i, t in enumerate(stats):
        if not isinstance(t, list) or len(t) != 3:
            raise bad(f"stats[{i}] must be [state, status, count]")
        triples.append((want_str(t[0], "state"), want_str(t[1], "status"), want_int(t[2], "count")))
    for state, status, count in triples:
        conn.execute(
            "DELETE FROM run_stats WHERE run_id = ? AND state = ? AND status = ?",
            (run_id, state, status),
        )
        conn.execute(
            "INSERT INTO run_stats(run_id, state, status, count) VALUES (?, ?, ?, ?)",
            (run_id, state, status, count),
        )
    return len(triples)


