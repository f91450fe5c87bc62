"""api.scm's read-only RUNS group (main.db, run-id None): listing runs, their
names, status and neighbours; plus ``set-run-status``, which api.scm places in
this group although it writes.

As for ``get-run-info``, a run asked about is a param: runs live in main.db.
Run-name and target patterns are our patterns (docs/api.md: ``%``/``*`` any
run of characters, case-sensitive, comma = alternatives), bound as parameters
(Megatest interpolated them into the SQL, bug B7). Runs in state ``deleted``
are left out everywhere except ``get-run-ids-matching-target``, as Megatest.
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
    want_opt_str,
    want_str,
    want_str_list,
)
from backend.db.commands.keys import key_values
from backend.db.commands.patterns import name_clause, to_glob
from backend.db.commands.runs import get_key_names, quote_ident
from backend.db.commands.scope import require_main

RUN_FIELDS = ("id", "runname", "state", "status", "owner", "event_time")
LIVE = "state != 'deleted'"


def _one_run(ctx: CallContext, params: list[Any], name: str) -> int:
    require_main(ctx, name)
    arity(params, 1)
    return want_int(params[0], "run-id")


def _limit(value: Any, what: str) -> int:
    return -1 if value is None else want_int(value, what)


def target_expr(keys: list[str]) -> str:
    """SQL for the run's target: key values joined with '/'."""
    if not keys:
        raise bad("the area has no keys yet (no run registered)")
    return " || '/' || ".join(f"ifnull({quote_ident(k)}, '')" for k in keys)


@command("get-run-status", write=False)
def get_run_status(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
    """[run-id] -> the run's status; "n/a" for an unknown run (Megatest)."""
    row = conn.execute(
        "SELECT status FROM runs WHERE id = ?", (_one_run(ctx, params, "get-run-status"),)
    ).fetchone()
    return "n/a" if row is None else row[0]


@command("set-run-status", write=True)
def set_run_status(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
    """[run-id, status, msg?] -> True; msg, when given, becomes the run's comment."""
    require_main(ctx, "set-run-status")
    arity(params, 2, 3)
    run_id = want_int(params[0], "run-id")
    status = want_str(params[1], "status")
    msg = want_opt_str(param(params, 2), "msg")
    sql, args = "UPDATE runs SET status = ?", [status]
    if msg is not None:
        sql, args = sql + ", comment = ?", [*args, msg]
    if conn.execute(sql + " WHERE id = ?", [*args, run_id]).rowcount == 0:
        raise bad(f"unknown run-id {run_id}")
    return True


@command("get-run-name-from-id", write=False)
def get_run_name_from_id(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
    """[run-id] -> the runname, or None."""
    row = conn.execute(
        "SELECT runname FROM runs WHERE id = ?", (_one_run(ctx, params, "get-run-name-from-id"),)
    ).fetchone()
    return None if row is None else row[0]


@command("get-num-runs", write=False)
def get_num_runs(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
    """[runpatt] -> the number of runs (not deleted) whose name matches."""
    require_main(ctx, "get-num-runs")
    arity(params, 1)
    where, args = name_clause("runname", want_str(params[0], "runname pattern"))
    return conn.execute(f"SELECT count(*) FROM runs WHERE {where} AND {LIVE}", args).fetchone()[0]


@command("get-all-run-ids", write=False)
def get_all_run_ids(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
    """[] -> ids of the runs not deleted, newest event_time first."""
    require_main(ctx, "get-all-run-ids")
    arity(params, 0)
    return [r[0] for r in conn.execute(
        f"SELECT id FROM runs WHERE {LIVE} ORDER BY event_time DESC, id DESC")]


@command("get-prev-run-ids", write=False)
def get_prev_run_ids(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
    """[run-id] -> ids of the other runs (not deleted) with the same target, newest id first."""
    run_id = _one_run(ctx, params, "get-prev-run-ids")
    return same_target_runs(conn, run_id, include_deleted=False)


def same_target_runs(conn: sqlite3.Connection, run_id: int, *, include_deleted: bool) -> list[int]:
    vals = key_values(conn, run_id)
    if not vals:
        return []
    where = " AND ".join(f"ifnull({quote_ident(k)}, '') = ?" for k in vals)
    live = "" if include_deleted else f" AND {LIVE}"
    return [r[0] for r in conn.execute(
        f"SELECT id FROM runs WHERE {where} AND id != ?{live} ORDER BY id DESC",
        [*vals.values(), run_id])]


def _keypatts(keys: list[str], value: Any) -> tuple[str, list[Any]]:
    """Megatest's keypatts ``[[key, pattern], ...]`` (or a map) -> SQL; each
    key's alternatives parenthesised (Megatest's were not, bug B23)."""
    if value is None:
        return "1", []
    pairs = list(value.items()) if isinstance(value, dict) else value
    if not isinstance(pairs, list) or not all(isinstance(p, (list, tuple)) and len(p) == 2
                                              for p in pairs):
        raise bad("keypatts must be a list of [key, pattern] pairs or a map")
    sql, args = ["1"], []
    for key, patt in pairs:
        if key not in keys:
            raise bad(f"unknown key {str(key)[:64]!r} in keypatts")
        clause, cargs = name_clause(quote_ident(key), want_str(patt, f"pattern for key {key}"))
        sql.append(clause)
        args += cargs
    return " AND ".join(sql), args


@command("get-runs", write=False)
def get_runs(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
    """[runpatt, count?, offset?, keypatts?] -> {"header": [...], "rows": [...]}:
    the newest ``count`` matching runs, listed oldest first (Megatest's order)."""
    require_main(ctx, "get-runs")
    arity(params, 1, 4)
    keys = get_key_names(conn)
    name_sql, name_args = name_clause("runname", want_str(params[0], "runname pattern"))
    count = _limit(param(params, 1), "count")
    offset = want_int(param(params, 2, 0), "offset")
    key_sql, key_args = _keypatts(keys, param(params, 3))
    header = [*keys, *RUN_FIELDS]
    cols = ", ".join(quote_ident(c) for c in header)
    rows = rows_as_dicts(conn.execute(
        f"SELECT {cols} FROM runs WHERE {name_sql} AND {key_sql} AND {LIVE} "
        "ORDER BY event_time DESC, id DESC LIMIT ? OFFSET ?",
        [*name_args, *key_args, count, offset]))
    return {"header": header, "rows": rows[::-1]}


@command("simple-get-runs", write=False)
def simple_get_runs(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
    """[runpatt, count?, offset?, target?] -> [{target, id, runname, state, status,
    owner, event_time}], the newest ``count`` matching runs, oldest first."""
    require_main(ctx, "simple-get-runs")
    arity(params, 1, 4)
    keys = get_key_names(conn)
    if not keys:
        return []
    name_sql, name_args = name_clause("runname", want_str(params[0], "runname pattern"))
    count = _limit(param(params, 1), "count")
    offset = want_int(param(params, 2, 0), "offset")
    target = want_str(param(params, 3, "%"), "target pattern")
    rows = rows_as_dicts(conn.execute(
        f"SELECT {target_expr(keys)} AS target, {', '.join(RUN_FIELDS)} FROM runs "
        f"WHERE {name_sql} AND ({target_expr(keys)}) GLOB ? AND {LIVE} "
        "ORDER BY event_time DESC, id DESC LIMIT ? OFFSET ?",
        [*name_args, to_glob(target), count, offset]))
    return rows[::-1]


@command("get-run-ids-matching-target", write=False)
def get_run_ids_matching_target(
    conn: sqlite3.Connection, ctx: CallContext, params: list[Any]
) -> Any:
    """[keynames, target, res?, runname?, testpatt?, statepatt?, statuspatt?] -> run
    ids, newest id first. Only keynames, target and runname are used (as Megatest);
    deleted runs are included (as Megatest)."""
    require_main(ctx, "get-run-ids-matching-target")
    arity(params, 2, 7)
    keys = get_key_names(conn)
    keynames = want_str_list(params[0], "keynames")
    for k in keynames:
        if k not in keys:
            raise bad(f"unknown key {k[:64]!r} in keynames")
    parts = want_str(params[1], "target").split("/")
    runname = want_str(param(params, 3, "%"), "runname pattern")
    sql = ["runname GLOB ?"]
    args: list[Any] = [to_glob(runname)]
    for key, part in zip(keynames, parts, strict=False):
        sql.append(f"ifnull({quote_ident(key)}, '') GLOB ?")
        args.append(to_glob(part))
    return [r[0] for r in conn.execute(
        f"SELECT id FROM runs WHERE {' AND '.join(sql)} ORDER BY id DESC", args)]
