"""Reading another db file of the area from inside a command.

Runs live in main.db and the tests of run N in ``N % num_run_dbs``.db, so a
few Megatest commands (previous runs of a target, run statistics, run times)
need rows of files the serving process does not own. They are read through
separate read-only sqlite connections (``mode=ro``, sqlite's own locking, as
``scope.run_exists`` does), each in its own read transaction: a cross-file
answer is a set of per-file snapshots, not one snapshot. The file the command
runs on is always read through the command's own connection. A file that does
not exist yet, or has no such table yet, simply has no rows.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from backend.db.commands.base import CallContext, rows_as_dicts
from backend.db.commands.scope import MAIN_DB, RO_BUSY_TIMEOUT, ro_uri

IDS_PER_QUERY = 500


def run_dbfname(ctx: CallContext, run_id: int) -> str:
    return f"{run_id % ctx.num_run_dbs}.db"


@contextmanager
def open_db(
    conn: sqlite3.Connection, ctx: CallContext, dbfname: str
) -> Iterator[sqlite3.Connection | None]:
    """The command's own connection for its own file, else a read-only one
    (None when the file does not exist)."""
    if dbfname == ctx.dbfname:
        yield conn
        return
    path = ctx.db_dir / dbfname
    if not path.exists():
        yield None
        return
    other = sqlite3.connect(ro_uri(path), uri=True, timeout=RO_BUSY_TIMEOUT, isolation_level=None)
    try:
        other.execute("BEGIN")
        yield other
    finally:
        other.close()


def select(
    conn: sqlite3.Connection, ctx: CallContext, dbfname: str, sql: str, args: list[Any]
) -> list[dict[str, Any]]:
    """Rows of ``sql`` in ``dbfname`` as maps; [] when the file or table is missing."""
    with open_db(conn, ctx, dbfname) as db:
        if db is None:
            return []
        try:
            return rows_as_dicts(db.execute(sql, args))
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return []
            raise


def select_main(
    conn: sqlite3.Connection, ctx: CallContext, sql: str, args: list[Any]
) -> list[dict[str, Any]]:
    return select(conn, ctx, MAIN_DB, sql, args)


def select_run_tests(
    conn: sqlite3.Connection, ctx: CallContext, run_ids: list[int], sql: str, args: list[Any]
) -> list[dict[str, Any]]:
    """``sql`` (which must filter on ``run_id IN (<ids>)`` via the ``{ids}``
    placeholder) once per run db file holding some of ``run_ids``; rows of all
    files concatenated in file order (and, per file, in chunks of run ids)."""
    by_file: dict[str, list[int]] = {}
    for rid in run_ids:
        by_file.setdefault(run_dbfname(ctx, rid), []).append(rid)
    out: list[dict[str, Any]] = []
    for dbfname, ids in by_file.items():
        for i in range(0, len(ids), IDS_PER_QUERY):  # under sqlite's bound-variable limit
            chunk = ids[i:i + IDS_PER_QUERY]
            marks = ", ".join("?" for _ in chunk)
            out += select(conn, ctx, dbfname, sql.format(ids=marks), [*chunk, *args])
    return out
