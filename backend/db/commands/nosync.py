"""api.scm's NO SYNC DB group: a key/value store with a lock primitive.

Megatest keeps it in its own file (no-sync.db) that its sync never copies;
here it is the ``no_sync_metadat`` table of main.db (a dbfname is main or a
number), written through group commit like every write: an acknowledged
set or lock is durable. Values are stored as text, as in Megatest.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from backend.db.commands.base import CallContext, arity, bad, command, want_str
from backend.db.commands.data import as_number
from backend.db.commands.scope import require_main

MAX_VAL = 64 * 1024


def want_var(value: Any) -> str:
    var = want_str(value, "var")
    if not var or len(var) > 1024:
        raise bad("var must be non-empty, at most 1024 characters")
    return var


def as_text(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise bad("val must be a string or a number")
    text = str(value)
    if len(text) > MAX_VAL:
        raise bad("val is longer than 64 KiB")
    return text


@command("no-sync-set", write=True)
def no_sync_set(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
    """[var, val] -> True. Insert or replace; numbers are stored as their text."""
    require_main(ctx, "no-sync-set")
    arity(params, 2)
    conn.execute(
        "INSERT INTO no_sync_metadat(var, val) VALUES (?, ?) "
        "ON CONFLICT(var) DO UPDATE SET val = excluded.val",
        (want_var(params[0]), as_text(params[1])),
    )
    return True


@command("no-sync-get/default", write=False)
def no_sync_get_default(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
    """[var, default?] -> the stored value (a number when its text is one),
    else ``default`` (nil when not given)."""
    require_main(ctx, "no-sync-get/default")
    arity(params, 1, 2)
    var = want_var(params[0])
    row = conn.execute("SELECT val FROM no_sync_metadat WHERE var = ?", (var,)).fetchone()
    if row is None:
        return params[1] if len(params) > 1 else None
    return as_number(row[0]) if isinstance(row[0], str) and row[0] else row[0]


@command("no-sync-del!", write=True)
def no_sync_del(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
    """[var] -> whether it existed. Also how a no-sync-get-lock lock is released."""
    require_main(ctx, "no-sync-del!")
    arity(params, 1)
    cur = conn.execute("DELETE FROM no_sync_metadat WHERE var = ?", (want_var(params[0]),))
    return cur.rowcount > 0


@command("no-sync-get-lock", write=True)
def no_sync_get_lock(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
    """[keyname] -> [granted, time]. Atomic (one transaction under the write
    lock): if nobody holds keyname, it is taken now -> [true, now]; else
    [false, <the holder's lock time>]. Times are epoch seconds (numbers in both
    cases; Megatest returned the holder's as text). Release: no-sync-del!."""
    require_main(ctx, "no-sync-get-lock")
    arity(params, 1)
    key = want_var(params[0])
    row = conn.execute("SELECT val FROM no_sync_metadat WHERE var = ?", (key,)).fetchone()
    if row is not None:
        held = as_number(row[0]) if isinstance(row[0], str) else row[0]
        return [False, held]
    now = time.time()
    conn.execute("INSERT INTO no_sync_metadat(var, val) VALUES (?, ?)", (key, repr(now)))
    return [True, now]
