"""api.scm's read-only MISC group, the read-only TESTMETA, TASKS and ARCHIVES
look-ups, and the dispatch names that cannot apply. (The read/write MISC
group, sync-inmem->db and mark-incomplete, is misc.py.)

``ping`` is not here: the server answers it itself, before authentication
(SPEC §3; Megatest's ping answered the server's pid, ours the server-id with
the pid in meta). ``general-call`` has its own module (generalcall.py).

``unsupported`` is the error for a name of api.scm's dispatch that has no
behaviour to reproduce; the message says why (docs/api.md, "Mapping").
"""

from __future__ import annotations

import os
import sqlite3
import time
from typing import Any

from backend.db.commands.base import (
    CallContext,
    arity,
    command,
    param,
    want_int,
    want_number,
    want_str,
)
from backend.db.commands.crossdb import select
from backend.db.commands.misc import DEFAULT_DEADTIME, LAUNCH_DEADTIME
from backend.db.commands.patterns import to_glob
from backend.db.commands.scope import require_main, require_run
from backend.db.commands.tests import LEAF
from backend.errors import CommandError

CHANGED_TABLES = ("runs", "tests", "test_steps", "test_data", "run_stats")


UNSUPPORTED: dict[str, str] = {}


def unsupported(name: str, reason: str) -> None:
    UNSUPPORTED[name] = reason

    def handler(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
        raise CommandError("unsupported", f"{name}: {reason}")

    command(name, write=False)(handler)


unsupported("sdb-qry", "Megatest v1.65 disabled its string database (sdb:qry is #f) and we "
            "keep no strings table: strings are stored as text")
unsupported("synchash-get", "broken in Megatest v1.65 (bug B12) and deprecated; poll with "
            "last_update (get-tests-for-run, get-changed-record-ids) instead")


@command("login", write=False)
def login(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
    """[area_path?, version?, signature?] -> [true, "successful login"].

    The handshake itself is the SPEC's HMAC authentication: a connection that
    reaches this command is already authenticated. An area path, when given,
    must be this server's area (Megatest's path check, with its answer); the
    version is not compared (ours is not Megatest's)."""
    arity(params, 0, 3)
    area = param(params, 0)
    if area is not None:
        given = want_str(area, "area path")
        here = ctx.db_dir.parent
        # A string comparison, as Megatest's: the given path is never looked up
        # on disk (it names no file we open).
        if os.path.normpath(given) not in {str(here), str(here.resolve())}:
            return [False, "Login failed due to mismatch paths: ", given, ", ", str(here)]
    return [True, "successful login"]


@command("get-latest-host-load", write=False)
def get_latest_host_load(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
    """[hostname] -> {cpuload, update_time} of the newest test_rundat row (cpuload
    != -1) of a test of this run db that ran on the host (short name: from the
    first '.' on is ignored); {cpuload: -1, update_time: 0} when there is none."""
    arity(params, 1)
    host = want_str(params[0], "hostname").split(".", 1)[0]
    rows = select(
        conn, ctx, ctx.dbfname,
        "SELECT r.cpuload, r.update_time FROM test_rundat r JOIN tests t ON t.id = r.test_id "
        "WHERE t.host = ? AND r.cpuload != -1 ORDER BY r.update_time DESC, r.id DESC LIMIT 1",
        [host])
    return rows[0] if rows else {"cpuload": -1, "update_time": 0}


@command("have-incompletes?", write=False)
def have_incompletes(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
    """[ovr_deadtime?] -> whether mark-incomplete would mark a test of the run now:
    the same search (RUNNING/REMOTEHOSTSTART silent for longer than run_duration
    + deadtime, LAUNCHED for more than a day, parents of items skipped) and the
    same default dead time, 7200 s. (Megatest's copy of the search defaulted to
    72000 s, bug B26.)"""
    run_id = require_run(ctx, "have-incompletes?")
    arity(params, 0, 1)
    deadtime = want_number(param(params, 0, DEFAULT_DEADTIME), "ovr_deadtime")
    row = conn.execute(
        f"SELECT 1 FROM tests t WHERE run_id = ?1 AND {LEAF} AND ("
        "(state IN ('RUNNING', 'REMOTEHOSTSTART') AND ?2 - event_time > run_duration + ?3) "
        "OR (state = 'LAUNCHED' AND ?2 - event_time > ?4)) LIMIT 1",
        (run_id, time.time(), deadtime, LAUNCH_DEADTIME)).fetchone()
    return row is not None


@command("get-changed-record-ids", write=False)
def get_changed_record_ids(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
    """[since_time] -> {runs, tests, test_steps, test_data, run_stats}: the ids of
    each table's rows with last_update > since_time, newest id first, in the db
    the run-id picks (main.db: runs, run_stats; a run db: tests, steps, data)."""
    arity(params, 1)
    since = want_number(params[0], "since_time")
    return {
        table: [r["id"] for r in select(
            conn, ctx, ctx.dbfname,
            f"SELECT id FROM {table} WHERE last_update > ? ORDER BY id DESC", [since])]
        for table in CHANGED_TABLES
    }


@command("testmeta-get-record", write=False)
def testmeta_get_record(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
    """[testname] -> the test_meta row {id, testname, author, owner, description,
    reviewed, iterated, avg_runtime, avg_disk, tags, jobgroup}, or None."""
    require_main(ctx, "testmeta-get-record")
    arity(params, 1)
    rows = select(
        conn, ctx, ctx.dbfname,
        "SELECT id, testname, author, owner, description, reviewed, iterated, avg_runtime, "
        "avg_disk, tags, jobgroup FROM test_meta WHERE testname = ?",
        [want_str(params[0], "testname")])
    return rows[0] if rows else None


@command("test-get-archive-block-info", write=False)
def test_get_archive_block_info(
    conn: sqlite3.Connection, ctx: CallContext, params: list[Any]
) -> Any:
    """[archive_block_id] -> the archive_blocks row {id, archive_disk_id, disk_path,
    last_du, last_du_time, creation_time}, or None."""
    require_main(ctx, "test-get-archive-block-info")
    arity(params, 1)
    rows = select(
        conn, ctx, ctx.dbfname,
        "SELECT id, archive_disk_id, disk_path, last_du, last_du_time, creation_time "
        "FROM archive_blocks WHERE id = ?", [want_int(params[0], "archive-block-id")])
    return rows[0] if rows else None


@command("find-task-queue-records", write=False)
def find_task_queue_records(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
    """[target, run_name, test_patt, state_patt, action_patt] -> tasks_queue rows
    {id, action, owner, state, target, name, testpatt, keylock, params} with that
    target and run name and matching patterns, newest id first."""
    require_main(ctx, "find-task-queue-records")
    arity(params, 5)
    target = want_str(params[0], "target")
    name = want_str(params[1], "run_name")
    pats = [to_glob(want_str(p, what)) for p, what in
            zip(params[2:], ("test pattern", "state pattern", "action pattern"), strict=True)]
    return select(
        conn, ctx, ctx.dbfname,
        "SELECT id, action, owner, state, target, name, testpatt, keylock, params "
        "FROM tasks_queue WHERE target = ? AND name = ? AND ifnull(testpatt, '') GLOB ? "
        "AND ifnull(state, '') GLOB ? AND ifnull(action, '') GLOB ? ORDER BY id DESC",
        [target, name, *pats])
