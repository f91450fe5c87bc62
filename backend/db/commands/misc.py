"""api.scm's read/write MISC group: sync-inmem->db and mark-incomplete."""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from backend.db.commands.base import CallContext, arity, bad, command, param, want_number
from backend.db.commands.rollup import roll_up
from backend.db.commands.scope import require_run
from backend.db.commands.tests import LEAF

DEFAULT_DEADTIME = 7200.0  # Megatest's default when [setup] deadtime is not set
LAUNCH_DEADTIME = 86400.0  # LAUNCHED for a day: the launch is taken as lost
DEAD_COMMENT = "Test failed to complete"


@command("sync-inmem->db", write=False)
def sync_inmem_to_db(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
    """[] -> True, doing nothing. Megatest copies its /tmp working copy back to
    megatest.db here; we write through to the one durable file, and a write is
    acknowledged only after its COMMIT, so there is nothing to flush."""
    arity(params, 0)
    return True


@command("mark-incomplete", write=True)
def mark_incomplete(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
    """[ovr-deadtime?] -> the ids of the tests marked, ascending.

    Tests of this run that stopped reporting: RUNNING or REMOTEHOSTSTART longer
    than run_duration + deadtime seconds since event_time (deadtime =
    ovr-deadtime, default 7200), or LAUNCHED for over a day, become
    COMPLETED/DEAD with comment "Test failed to complete". Parent rows of
    iterated tests never run themselves and are skipped (Megatest skipped rows
    with uname 'n/a' and item_path '', but no command here sets uname, so that
    test would skip every plain test); their items are rolled up into them
    (Megatest did not roll up, bug B26)."""
    run_id = require_run(ctx, "mark-incomplete")
    arity(params, 0, 1)
    deadtime = want_number(param(params, 0, DEFAULT_DEADTIME), "ovr-deadtime")
    if not 0 <= deadtime < 1e12:
        raise bad("ovr-deadtime must be a number of seconds >= 0")
    now = time.time()
    rows = conn.execute(
        f"SELECT id, testname, item_path FROM tests t WHERE run_id = ?1 AND {LEAF} AND ("
        "(state IN ('RUNNING', 'REMOTEHOSTSTART') AND ?2 - event_time > run_duration + ?3) "
        "OR (state = 'LAUNCHED' AND ?2 - event_time > ?4)) ORDER BY id",
        (run_id, now, deadtime, LAUNCH_DEADTIME),
    ).fetchall()
    for tid, _, _ in rows:
        conn.execute(
            "UPDATE tests SET state = 'COMPLETED', status = 'DEAD', comment = ? WHERE id = ?",
            (DEAD_COMMENT, tid),
        )
    for testname in dict.fromkeys(name for _, name, item in rows if item):
        roll_up(conn, run_id, testname)
    return [tid for tid, _, _ in rows]
