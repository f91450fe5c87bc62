"""Keys and runs (main.db): get-keys, register-run, get-run-info, get-runs-by-patt.

Key fields: Megatest configures them per area (``[fields]``) and gives every
run one TEXT column per key. We have no config to read, so the FIRST
register-run of an area defines them: its keyvals, in the order given, become
the ``keys`` rows and ``ALTER TABLE runs ADD COLUMN`` adds their columns plus a
unique index on (keys..., runname). Every later register-run must name exactly
the same keys (any order), else ``bad_request``. This runs under the write
lock (BEGIN IMMEDIATE), so two first registrations cannot both define keys.
"""

from __future__ import annotations

import re
import sqlite3
from typing import Any

from backend.db.commands.base import (
    CallContext,
    arity,
    bad,
    command,
    param,
    row_as_dict,
    rows_as_dicts,
    want_int,
    want_number,
    want_str,
)
from backend.db.commands.patterns import name_clause, to_glob
from backend.db.commands.scope import require_main

KEY_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
RUN_COLUMNS = frozenset(
    {"id", "runname", "contour", "state", "status", "owner", "event_time", "comment",
     "fail_count", "pass_count", "last_update"}
)
MAX_KEYS = 32


def get_key_names(conn: sqlite3.Connection) -> list[str]:
    return [r[0] for r in conn.execute('SELECT fieldname FROM "keys" ORDER BY id')]


def quote_ident(name: str) -> str:
    # Only ever called with names that matched KEY_NAME_RE (no quotes possible).
    return f'"{name}"'


def parse_keyvals(value: Any) -> list[tuple[str, str]]:
    """keyvals as a map ``{"SYSTEM": "ubuntu"}`` or Megatest's alist ``[["SYSTEM", "ubuntu"]]``."""
    if isinstance(value, dict):
        pairs = list(value.items())
    elif isinstance(value, list) and all(isinstance(p, list) and len(p) == 2 for p in value):
        pairs = [(p[0], p[1]) for p in value]
    else:
        raise bad("keyvals must be a map of key name to value")
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for name, val in pairs:
        if not isinstance(name, str) or not KEY_NAME_RE.match(name):
            raise bad(f"bad key name {str(name)[:64]!r}: letters, digits and _ only")
        if name.lower() in RUN_COLUMNS:
            raise bad(f"key name {name!r} clashes with a runs column")
        if name in seen:
            raise bad(f"key {name!r} given twice")
        if not isinstance(val, str):
            raise bad(f"value of key {name!r} must be a string")
        seen.add(name)
        out.append((name, val))
    if not out:
        raise bad("keyvals must name at least one key")
    if len(out) > MAX_KEYS:
        raise bad(f"at most {MAX_KEYS} keys")
    return out


def define_keys(conn: sqlite3.Connection, names: list[str]) -> None:
    for name in names:
        conn.execute('INSERT INTO "keys"(fieldname, fieldtype) VALUES (?, \'TEXT\')', (name,))
        conn.execute(f"ALTER TABLE runs ADD COLUMN {quote_ident(name)} TEXT")
    cols = ", ".join(quote_ident(n) for n in names)
    conn.execute(f"CREATE UNIQUE INDEX IF NOT EXISTS runs_target ON runs({cols}, runname)")


def ordered_values(keys: list[str], given: list[tuple[str, str]]) -> list[str]:
    """The values in key order; bad_request unless ``given`` names exactly ``keys``."""
    by_name = dict(given)
    extra = [n for n in by_name if n not in keys]
    missing = [k for k in keys if k not in by_name]
    if extra or missing:
        raise bad(
            f"keyvals must name exactly the area's keys {', '.join(keys)}"
            + (f"; unknown: {', '.join(extra)}" if extra else "")
            + (f"; missing: {', '.join(missing)}" if missing else "")
        )
    return [by_name[k] for k in keys]


@command("get-keys", write=False)
def get_keys(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
    require_main(ctx, "get-keys")
    arity(params, 0)
    return get_key_names(conn)


@command("register-run", write=True)
def register_run(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
    """[keyvals, runname, state?, status?, user?, contour?] -> run-id (idempotent)."""
    require_main(ctx, "register-run")
    arity(params, 2, 6)
    given = parse_keyvals(params[0])
    runname = want_str(params[1], "runname")
    if not runname:
        raise bad("runname must not be empty")
    state = want_str(param(params, 2, "new"), "state")
    status = want_str(param(params, 3, "n/a"), "status")
    user = want_str(param(params, 4, ""), "user")
    contour = want_str(param(params, 5, ""), "contour")
    keys = get_key_names(conn)
    if not keys:
        keys = [n for n, _ in given]
        define_keys(conn, keys)
    values = ordered_values(keys, given)
    where = " AND ".join(f"{quote_ident(k)} = ?" for k in keys)
    row = conn.execute(
        f"SELECT id FROM runs WHERE runname = ? AND {where}", [runname, *values]
    ).fetchone()
    if row is not None:
        # Megatest's INSERT OR IGNORE: registering again returns the same run
        # and changes nothing, unless delete-run marked it deleted: then it is
        # revived with the given state and status and a new event_time.
        conn.execute(
            "UPDATE runs SET state = ?, status = ?, event_time = strftime('%s','now') "
            "WHERE id = ? AND state = 'deleted'",
            (state, status, row[0]),
        )
        return row[0]
    cols = ", ".join(quote_ident(k) for k in keys)
    marks = ", ".join("?" for _ in keys)
    cur = conn.execute(
        f"INSERT INTO runs(runname, state, status, owner, contour, {cols}) "
        f"VALUES (?, ?, ?, ?, ?, {marks})",
        [runname, state, status, user, contour, *values],
    )
    return cur.lastrowid


@command("get-run-info", write=False)
def get_run_info(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
    """[run-id] -> the runs row as a map (key columns included); an empty map for
    an unknown run (Megatest answers an empty record, not an error)."""
    require_main(ctx, "get-run-info")
    arity(params, 1)
    run_id = want_int(params[0], "run-id")
    info = row_as_dict(conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)))
    return {} if info is None else info


def target_clause(keys: list[str], targpatt: Any) -> tuple[str, list[Any]]:
    """Key patterns: Megatest's target string ``ubuntu/v1.%`` (one part per key,
    in key order, missing trailing parts match anything) or a map key -> pattern."""
    if targpatt is None:
        return "1", []
    if isinstance(targpatt, str):
        parts = targpatt.split("/")
        if len(parts) > len(keys):
            raise bad(f"target pattern has {len(parts)} parts, the area has {len(keys)} keys")
        pats = dict(zip(keys, parts, strict=False))
    elif isinstance(targpatt, dict):
        unknown = [k for k in targpatt if k not in keys]
        if unknown:
            raise bad(f"unknown key {str(unknown[0])[:64]!r} in key patterns")
        pats = {k: want_str(v, f"pattern for key {k}") for k, v in targpatt.items()}
    else:
        raise bad("target pattern must be a string or a map of key to pattern")
    clauses = [f"{quote_ident(k)} GLOB ?" for k in pats]
    return (" AND ".join(clauses) or "1"), [to_glob(p) for p in pats.values()]


@command("get-runs-by-patt", write=False)
def get_runs_by_patt(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
    """[runnamepatt?, targpatt?, offset?, limit?, last_update?] -> runs, newest first.
    Megatest's own form (first param the list of key names) -> megatest_runs_by_patt."""
    require_main(ctx, "get-runs-by-patt")
    if len(params) >= 2 and isinstance(params[0], list):
        return megatest_runs_by_patt(conn, params)
    arity(params, 0, 5)
    runpatt = want_str(param(params, 0, "%"), "runname pattern")
    offset = want_int(param(params, 2, 0), "offset")
    limit = want_int(param(params, 3, -1), "limit", minimum=-1)
    since = param(params, 4, None)
    keys = get_key_names(conn)
    name_sql, name_args = name_clause("runname", runpatt)
    targ_sql, targ_args = target_clause(keys, param(params, 1, None))
    sql = f"SELECT * FROM runs WHERE {name_sql} AND {targ_sql}"
    args: list[Any] = [*name_args, *targ_args]
    if since is not None:
        sql += " AND last_update > ?"
        args.append(want_number(since, "last_update"))
    sql += " ORDER BY event_time DESC, id DESC LIMIT ? OFFSET ?"
    return rows_as_dicts(conn.execute(sql, [*args, limit, offset]))


MT_RUN_FIELDS = ["id", "runname", "state", "status", "owner", "event_time"]


def megatest_runs_by_patt(conn: sqlite3.Connection, params: list[Any]) -> Any:
    """Megatest's [keys, runnamepatt, targpatt?, offset?, limit?, fields?,
    last_update?] (db L2400-2438) -> {"header": keys + fields, "rows": [...]},
    runs not deleted, oldest event_time first (Megatest's order); ``keys``
    must be key names of the area; each ``/`` part of targpatt matches its key
    (a missing part is "": only an empty value; null = no target filter);
    ``last_update >= last_update`` when given."""
    arity(params, 2, 7)
    area_keys = get_key_names(conn)
    keys = params[0]
    if not all(isinstance(k, str) and k in area_keys for k in keys):
        raise bad(f"keys must be key names of the area ({', '.join(area_keys)})")
    runpatt = want_str(params[1], "runname pattern")
    targpatt = param(params, 2)
    offset = want_int(param(params, 3, 0), "offset")
    limit = want_int(param(params, 4, -1), "limit", minimum=-1)
    fields = param(params, 5, MT_RUN_FIELDS)
    if not isinstance(fields, list) or not fields or not all(
            isinstance(f, str) and f in RUN_COLUMNS for f in fields):
        raise bad(f"fields must be a list of runs columns ({', '.join(sorted(RUN_COLUMNS))})")
    since = param(params, 6)
    sql = ["state != 'deleted'", "runname GLOB ?"]
    args: list[Any] = [to_glob(runpatt)]
    if targpatt is not None:
        parts = want_str(targpatt, "target pattern").split("/")
        for key, part in zip(keys, parts + [""] * len(keys), strict=False):
            sql.append(f"ifnull({quote_ident(key)}, '') GLOB ?")
            args.append(to_glob(part))
    if since is not None:
        sql.append("last_update >= ?")
        args.append(want_number(since, "last_update"))
    header = [*keys, *fields]
    cols = ", ".join(quote_ident(c) for c in header)
    rows = rows_as_dicts(conn.execute(
        f"SELECT {cols} FROM runs WHERE {' AND '.join(sql)} "
        "ORDER BY event_time, id LIMIT ? OFFSET ?", [*args, limit, offset]))
    return {"header": header, "rows": rows}
