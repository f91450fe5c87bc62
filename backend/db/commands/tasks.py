"""api.scm's TASKS group (read/write part): the tasks_queue table of main.db.

A task is a request for the harness to do something to a run (``action``,
e.g. run or remove, for ``target``/``name`` and a test pattern); Megatest's
task runner picks them up by state. We store and return them; nothing here
executes a task.
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
    row_as_dict,
    want_str,
)
from backend.db.commands.patterns import to_glob
from backend.db.commands.scope import require_main

MAX_TEXT = 64 * 1024
TASK_COLUMNS = (
    "id, action, owner, state, target, name, testpatt, keylock, params, creation_time, "
    "execution_time"
)


def want_text(value: Any, what: str) -> str:
    text = want_str(value, what)
    if len(text) > MAX_TEXT:
        raise bad(f"{what} is longer than 64 KiB")
    return text


@command("tasks-add", write=True)
def tasks_add(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
    """[action, owner, target, runname, testpatt, params?] -> the new task's id
    (Megatest returned nothing useful). State ``new``, creation_time now,
    execution_time 0."""
    require_main(ctx, "tasks-add")
    arity(params, 5, 6)
    action, owner, target, runname, testpatt = (
        want_text(params[i], what)
        for i, what in enumerate(("action", "owner", "target", "runname", "testpatt"))
    )
    extra = want_text(param(params, 5, ""), "params")
    cur = conn.execute(
        "INSERT INTO tasks_queue(action, owner, state, target, name, testpatt, params, "
        "creation_time, execution_time) "
        "VALUES (?, ?, 'new', ?, ?, ?, ?, strftime('%s','now'), 0)",
        (action, owner, target, runname, testpatt, extra),
    )
    return cur.lastrowid


@command("tasks-set-state-given-param-key", write=True)
def tasks_set_state_given_param_key(
    conn: sqlite3.Connection, ctx: CallContext, params: list[Any]
) -> Any:
    """[param-key, new-state] -> the number of tasks changed: every task whose
    params match param-key (our pattern rules: ``%``/``*`` any run, the rest
    literal; Megatest's LIKE) gets new-state."""
    require_main(ctx, "tasks-set-state-given-param-key")
    arity(params, 2)
    key = want_text(params[0], "param-key")
    state = want_text(params[1], "new-state")
    cur = conn.execute(
        "UPDATE tasks_queue SET state = ? WHERE params GLOB ?", (state, to_glob(key))
    )
    return cur.rowcount


@command("tasks-get-last", write=False)
def tasks_get_last(conn: sqlite3.Connection, ctx: CallContext, params: list[Any]) -> Any:
    """[target, runname] -> the newest task (creation_time, then id) of exactly
    that target and run name, as a map of the 11 task columns; nil if none."""
    require_main(ctx, "tasks-get-last")
    arity(params, 2)
    return row_as_dict(
        conn.execute(
            f"SELECT {TASK_COLUMNS} FROM tasks_queue WHERE target = ? AND name = ? "
            "ORDER BY creation_time DESC, id DESC LIMIT 1",
            (want_str(params[0], "target"), want_str(params[1], "runname")),
        )
    )
