"""The command registry and the parameter checks every handler uses.

This module imports nothing from the command modules, and they import only
from here, so ``backend.db.api`` can import them all without an import cycle.
``backend.db.api`` re-exports these names: they are the public interface.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backend.errors import CommandError


@dataclass(slots=True)  # not frozen: one per request, and a frozen __init__ costs a call per field
class CallContext:
    run_id: int | None
    dbfname: str
    num_run_dbs: int
    db_dir: Path


Handler = Callable[[sqlite3.Connection, CallContext, list[Any]], Any]


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    handler: Handler
    write: bool


COMMANDS: dict[str, Command] = {}


def command(name: str, *, write: bool) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        COMMANDS[name] = Command(name, fn, write)
        return fn

    return register


def lookup(name: str) -> Command:
    try:
        return COMMANDS[name]
    except (KeyError, TypeError):
        raise CommandError("unknown_command", f"unknown command {str(name)[:64]!r}") from None


def is_write(name: str) -> bool:
    """Unknown commands count as writes (the safe side for retries)."""
    cmd = COMMANDS.get(name)
    return True if cmd is None else cmd.write


# -- parameter checks ------------------------------------------------------------
# Each raises CommandError('bad_request', ...) naming the parameter, so a caller
# sees what was wrong without a traceback.


def bad(message: str) -> CommandError:
    return CommandError("bad_request", message)


def arity(params: list[Any], low: int, high: int | None = None) -> None:
    high = low if high is None else high
    if not isinstance(params, list):
        raise bad("params must be a list")
    if not low <= len(params) <= high:
        want = str(low) if low == high else f"{low}..{high}"
        raise bad(f"expected {want} params, got {len(params)}")


def param(params: list[Any], i: int, default: Any = None) -> Any:
    """Positional param ``i``; ``default`` when absent or None (Megatest's #f)."""
    return params[i] if i < len(params) and params[i] is not None else default


def want_str(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise bad(f"{what} must be a string")
    return value


def want_opt_str(value: Any, what: str) -> str | None:
    return None if value is None else want_str(value, what)


def want_int(value: Any, what: str, *, minimum: int = 0) -> int:
    # bool is an int subclass; True as a test id is a client bug, not 1.
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad(f"{what} must be an integer")
    if value < minimum:
        raise bad(f"{what} must be >= {minimum}")
    if value > 2**63 - 1:
        raise bad(f"{what} is too large")
    return value


def want_number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise bad(f"{what} must be a number")
    return float(value)


def want_str_list(value: Any, what: str) -> list[str]:
    """A list of strings; a lone string counts as a one-element list."""
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise bad(f"{what} must be a list of strings")
    return list(value)


def rows_as_dicts(cur: sqlite3.Cursor) -> list[dict[str, Any]]:
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def row_as_dict(cur: sqlite3.Cursor) -> dict[str, Any] | None:
    row = cur.fetchone()
    if row is None:
        return None
    return dict(zip([d[0] for d in cur.description], row, strict=True))
