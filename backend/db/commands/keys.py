"""api.scm's read-only KEYS group (main.db, run-id None): the key values of a
run and the area's targets. ``get-keys`` itself lives with the runs (runs.py),
where the keys are defined.

The run asked about is a param (``[run-id]``), as for ``get-run-info``: runs
live in main.db, so the request's run-id slot stays None (docs/api.md). An
unknown run is not an error here: Megatest answers an empty result.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from backend.db.commands.base import CallContext, arity, command, want_int
from backend.db.commands.runs import get_key_names, quote_ident
from backend.db.commands.scope import require_main


def key_values(conn: sqlite3.Connection, run_id: int) -> dict[str, str] | None:
    """The run's key values in key order (None/non-text -> ""), or None if no such run."""
    keys = get_key_names(conn)
    cols = ", ".join(quote_ident(k) for k in keys) or "1"
    row = conn.execute(f"SELECT {cols} FROM runs WHERE id = ?", (run_id,)).fetchone()
    if row is None:
        return None
    return {k: (v if isinstance(v, str) else "") for k, v in zip(keys, row, strict=False)}


def _run_param(ctx: CallContext, params: list[Any], name: str) -> int:
    require_main(ctx, name)
    arity(params, 1)
    return want_int(params[0], "run-id")


@command("get-key-val-pairs", write=False)
def get_key_val_pairs(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
    """[run-id] -> {key: value} in key order; {} for an unknown run."""
    return key_values(conn, _run_param(ctx, params, "get-key-val-pairs")) or {}


@command("get-key-vals", write=False)
def get_key_vals(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
    """[run-id] -> the key values in key order; [] for an unknown run."""
    vals = key_values(conn, _run_param(ctx, params, "get-key-vals"))
    return [] if vals is None else list(vals.values())


@command("get-target", write=False)
def get_target(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
    """[run-id] -> the key values joined with '/'; "" for an unknown run."""
    vals = key_values(conn, _run_param(ctx, params, "get-target"))
    return "" if vals is None else "/".join(vals.values())


@command("get-targets", write=False)
def get_targets(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
    """[] -> {"keys": [...], "targets": [{key: value}, ...]}: each distinct target
    of the runs not in state 'deleted', newest first appearance first (Megatest
    returns them in reverse order of first appearance)."""
    require_main(ctx, "get-targets")
    arity(params, 0)
    keys = get_key_names(conn)
    if not keys:
        return {"keys": [], "targets": []}
    cols = ", ".join(quote_ident(k) for k in keys)
    rows = conn.execute(
        f"SELECT {cols} FROM runs WHERE state != 'deleted' GROUP BY {cols} ORDER BY min(id) DESC"
    ).fetchall()
    targets = [
        {k: (v if isinstance(v, str) else "") for k, v in zip(keys, row, strict=True)}
        for row in rows
    ]
    return {"keys": keys, "targets": targets}
