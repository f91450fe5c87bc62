"""``--direct``: run a READ command against a db file without any server.

For an operator when no server can be reached (or to compare): wait on the
rollback journal (``journal.wait_on_journal``), open the file read-only through
sqlite (``mode=ro`` URI: sqlite's locking still applies; never ``open()``), run
the handler in one read transaction, close. Writes are refused: only a server
writes, so every write goes through its group commit and idempotency.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from backend.area import Area, dbfname_for_run_id
from backend.config import Settings
from backend.db.api import CallContext, lookup
from backend.db.commands.scope import ro_uri
from backend.db.journal import wait_on_journal
from backend.db.store import sqlite_error
from backend.errors import CommandError, ConfigError, StoreError


def call_direct(
    area: Area, settings: Settings, cmd: str, run_id: int | None, params: list[Any]
) -> Any:
    """The result of read command ``cmd``; CommandError on bad input, StoreError
    ("<code>: <message>") when the file is missing or sqlite fails."""
    command = lookup(cmd)
    if command.write:
        raise CommandError("bad_request", "--direct only serves read commands")
    if not isinstance(params, list):
        raise CommandError("bad_request", "params must be a list")
    try:
        dbfname = dbfname_for_run_id(run_id, settings.num_run_dbs)
    except ConfigError as exc:
        raise CommandError("bad_request", str(exc)) from None
    path = area.db_path(dbfname)
    if not path.exists():
        raise StoreError(f"db_error: {path} does not exist (no server has created it yet)")
    wait_on_journal(path)
    ctx = CallContext(run_id, dbfname, settings.num_run_dbs, area.db_dir)
    try:
        conn = sqlite3.connect(
            ro_uri(path), uri=True, timeout=settings.db_busy_timeout, isolation_level=None
        )
    except sqlite3.Error as exc:
        code, msg = sqlite_error(exc)
        raise StoreError(f"{code}: cannot open {path}: {msg}") from exc
    try:
        conn.execute("BEGIN")
        return command.handler(conn, ctx, params)
    except sqlite3.Error as exc:
        code, msg = sqlite_error(exc)
        raise StoreError(f"{code}: {msg}") from exc
    finally:
        try:
            if conn.in_transaction:
                conn.execute("ROLLBACK")  # read-only: nothing to keep
        finally:
            conn.close()
