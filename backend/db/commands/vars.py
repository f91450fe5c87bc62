"""The metadat key/value table (every database has one): get-var, set-var, del-var."""

from __future__ import annotations

import sqlite3
from typing import Any

from backend.db.commands.base import CallContext, arity, bad, command, want_str

# Written by the schema migrations (store.py); a client must not change it.
RESERVED = frozenset({"SCHEMA_VERSION"})


def want_var(value: Any, *, writing: bool) -> str:
    var = want_str(value, "var")
    if writing and var in RESERVED:
        raise bad(f"{var} is reserved")
    return var


@command("get-var", write=False)
def get_var(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
    arity(params, 1)
    var = want_var(params[0], writing=False)
    row = conn.execute("SELECT val FROM metadat WHERE var = ?", (var,)).fetchone()
    return None if row is None else row[0]


@command("set-var", write=True)
def set_var(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
    arity(params, 2)
    var = want_var(params[0], writing=True)
    val = params[1]
    if isinstance(val, bool):
        # `backend call set-var debug true` parses true as JSON; a var holds
        # text, so it is stored as that JSON text (Megatest would store "#t").
        val = "true" if val else "false"
    if val is not None and not isinstance(val, (str, int, float)):
        raise bad("val must be a string or a number")
    conn.execute(
        "INSERT INTO metadat(var, val, last_update) VALUES (?, ?, strftime('%s','now')) "
        "ON CONFLICT(var) DO UPDATE SET val = excluded.val, last_update = excluded.last_update",
        (var, None if val is None else str(val)),
    )
    return True


@command("del-var", write=True)
def del_var(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
    arity(params, 1)
    var = want_var(params[0], writing=True)
    cur = conn.execute("DELETE FROM metadat WHERE var = ?", (var,))
    return cur.rowcount > 0
